using Microsoft.ML.Data;

using Microsoft.ML.Recurrent.Forecasting;

namespace Microsoft.ML.Recurrent;

/// <summary>
/// A fitted recurrent forecaster. <c>Transform</c> adds the forecast and band columns; <c>mlContext.Model.Save</c> stores it as a
/// chain of stock ML.NET transformers (the model travels as text inside the zip), so <c>mlContext.Model.Load</c> in any process
/// returns a chain with the same outputs. Create a stateful engine with <c>CreateForecastingEngine</c>.
/// </summary>
public sealed class RecurrentForecastingTransformer : ITransformer
{
    private readonly ITransformer _chain;

    internal RecurrentForecastingTransformer(ForecastModel model, ForecastFitInfo info, DataViewSchema inputSchema)
    {
        Model = model;
        Info = info;
        _chain = ForecastChain.Build(model, inputSchema);
    }

    internal ForecastModel Model { get; }

    internal ForecastFitInfo Info { get; }

    /// <summary>Time steps the network reads before each forecast.</summary>
    public int WindowSize => Model.WindowSize;

    /// <summary>Values forecast from each row.</summary>
    public int Horizon => Model.Horizon;

    /// <summary>The stationarization <c>Fit</c> used (never <see cref="RecurrentForecastingStationarization.Auto"/>).</summary>
    public RecurrentForecastingStationarization Stationarization =>
        Model.Stationarization == StationarizationKind.SeasonalDifferencing ? RecurrentForecastingStationarization.SeasonalDifferencing : RecurrentForecastingStationarization.Differencing;

    /// <summary>Whether the model works on the logarithm of the series.</summary>
    public bool UsesLogTransform => Model.UseLog;

    /// <summary>What <c>Fit</c> measured to choose the stationarization: the scaled validation error of each candidate's reference
    /// forecast (keys such as "SeasonalDifferencing+Log"), and, when the log transform was a candidate, the variance drift of the
    /// differences without and with it ("VarianceDrift", "VarianceDrift+Log"). Lower is better for both.</summary>
    public IReadOnlyDictionary<string, double> StationarizationErrors => Info.CandidateErrors;

    /// <summary>Every epoch of every training run (the ensemble's first runs, then the refits).</summary>
    public IReadOnlyList<RecurrentEpochReport> TrainingHistory => Info.History;

    /// <summary>The series ids seen in training (one empty id without a series id column).</summary>
    public IReadOnlyList<string> SeriesIds => Model.Series.Select(s => s.Id).ToArray();

    /// <summary>False: the forecast at a row depends on the rows before it.</summary>
    public bool IsRowToRowMapper => false;

    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => _chain.GetOutputSchema(inputSchema);

    /// <summary>Not available: the forecast at a row depends on the rows before it. Use <c>Transform</c> or a forecasting engine.</summary>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) =>
        throw new InvalidOperationException("A recurrent forecaster is not a row-to-row mapper: each forecast depends on the rows before it. Use Transform over the series, or CreateForecastingEngine.");

    /// <summary>Adds the forecast (and band) columns; rows must be in time order.</summary>
    public IDataView Transform(IDataView input) => _chain.Transform(input);

    /// <summary>Saves the stock transformer chain that carries this model.</summary>
    void ICanSaveModel.Save(ModelSaveContext ctx) => _chain.Save(ctx);
}
