using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Forecasting;

namespace Microsoft.ML.Recurrent;

/// <summary>
/// Forecasts a time series (or many, with a series id column) with a recurrent network: created by
/// <c>mlContext.Forecasting.ForecastByRecurrent(...)</c>.
/// </summary>
/// <remarks>
/// <para>Input: one row per time step, in time order (per series when <see cref="Options.SeriesIdColumnName"/> is set);
/// <see cref="float"/> value and covariate columns; a series id column of text or of a key with text key values.</para>
/// <para><c>Fit</c> learns from every window of every series. By default it does what an expert does by hand: each series is
/// scaled on its own and made stationary (differences or seasonal differences, of the values or of their logarithms, chosen
/// by measurement; see <see cref="RecurrentForecastingStationarization.Auto"/>); the network learns the residual over the
/// matching reference forecast; every transform has an exact inverse, so forecasts come back in the series' own units. The
/// last <see cref="Options.ValidationFraction"/> of each series (never random rows) drives early stopping and calibrates the
/// band (split-conformal, per horizon step); then the networks are refitted on all windows for the chosen epoch count.</para>
/// <para><c>Transform</c> reads the rows in order and writes at each row the forecast of the next <see cref="Options.Horizon"/>
/// values made from the rows up to and including it, and the band. Rows before a series has <c>WindowSize + lag</c> rows
/// (lag = 1, or the seasonal period with seasonal differencing) get NaN vectors. A rolling-origin backtest is therefore one
/// <c>Transform</c> followed by <c>mlContext.Forecasting.Evaluate</c>.</para>
/// </remarks>
public sealed partial class RecurrentForecastingEstimator : IEstimator<RecurrentForecastingTransformer>
{
    private readonly Options _options;

    internal RecurrentForecastingEstimator(Options options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
    }

    /// <summary>Adds the forecast column (and the bound columns) to the input schema: vectors of <see cref="float"/>.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        _options.Validate();
        ForecastSchema.Check(inputSchema, _options, nameof(inputSchema));
        // A SchemaShape.Column has no public constructor: describe the outputs through the stock estimators the chain uses.
        var ml = new MLContext(seed: 0);
        var shape = ml.Transforms.CustomMapping<Serving.NoInput, ForecastOutput>((_, _) => { }, contractName: null).GetOutputSchema(inputSchema);
        shape = ml.Transforms.CopyColumns(_options.OutputColumnName, ForecastColumns.Forecast).GetOutputSchema(shape);
        if (_options.ConfidenceLowerBoundColumn is string lo && _options.ConfidenceUpperBoundColumn is string hi)
        {
            shape = ml.Transforms.CopyColumns(lo, ForecastColumns.Lower).GetOutputSchema(shape);
            shape = ml.Transforms.CopyColumns(hi, ForecastColumns.Upper).GetOutputSchema(shape);
        }

        return ml.Transforms.DropColumns(ForecastColumns.Forecast, ForecastColumns.Lower, ForecastColumns.Upper).GetOutputSchema(shape);
    }

    /// <summary>Trains the forecaster on <paramref name="input"/>.</summary>
    public RecurrentForecastingTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        _options.Validate();
        var (model, info) = ForecastTrainer.Fit(_options, input);
        return new RecurrentForecastingTransformer(model, info, input.Schema);
    }
}

