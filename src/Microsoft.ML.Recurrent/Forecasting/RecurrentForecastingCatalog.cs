using Microsoft.ML.Recurrent;
using Microsoft.ML.Recurrent.Forecasting;

namespace Microsoft.ML;

/// <summary>Recurrent forecasting on ML.NET's <c>mlContext.Forecasting</c> catalog.</summary>
public static class RecurrentForecastingCatalog
{
    /// <summary>
    /// Creates a <see cref="RecurrentForecastingEstimator"/>: a recurrent network that forecasts the next
    /// <paramref name="horizon"/> values of <paramref name="inputColumnName"/> at every row, with a calibrated band.
    /// </summary>
    /// <param name="catalog">The forecasting catalog.</param>
    /// <param name="outputColumnName">The forecast column: a vector of <see cref="float"/> of length <paramref name="horizon"/>.</param>
    /// <param name="inputColumnName">The series column (<see cref="float"/>, one row per time step, in time order).</param>
    /// <param name="windowSize">Time steps the network reads before each forecast.</param>
    /// <param name="horizon">Values forecast from each row.</param>
    /// <param name="confidenceLowerBoundColumn">The lower band column, or null for no bounds.</param>
    /// <param name="confidenceUpperBoundColumn">The upper band column, or null for no bounds.</param>
    /// <param name="confidenceLevel">The band's coverage, in (0, 1).</param>
    /// <example>See samples/Forecasting (airline passengers, a 12-month forecast with its 90 % band).</example>
    public static RecurrentForecastingEstimator ForecastByRecurrent(this ForecastingCatalog catalog, string outputColumnName,
        string inputColumnName, int windowSize, int horizon, string? confidenceLowerBoundColumn = null,
        string? confidenceUpperBoundColumn = null, float confidenceLevel = RecurrentForecastingEstimator.Defaults.ConfidenceLevel)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new RecurrentForecastingEstimator(new RecurrentForecastingEstimator.Options
        {
            OutputColumnName = outputColumnName,
            InputColumnName = inputColumnName,
            WindowSize = windowSize,
            Horizon = horizon,
            ConfidenceLowerBoundColumn = confidenceLowerBoundColumn,
            ConfidenceUpperBoundColumn = confidenceUpperBoundColumn,
            ConfidenceLevel = confidenceLevel,
        });
    }

    /// <summary>Creates a <see cref="RecurrentForecastingEstimator"/> from <paramref name="options"/> (covariates, many series,
    /// seasonal period, network and training options).</summary>
    /// <param name="catalog">The forecasting catalog.</param>
    /// <param name="options">The options; checked here, each failure naming the option.</param>
    public static RecurrentForecastingEstimator ForecastByRecurrent(this ForecastingCatalog catalog, RecurrentForecastingEstimator.Options options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new RecurrentForecastingEstimator(options);
    }

    /// <summary>
    /// Scores rolling forecasts (the output of a forecaster's <c>Transform</c>): each row's forecast vector against the actual
    /// values of the rows that follow it in its series.
    /// </summary>
    /// <param name="catalog">The forecasting catalog.</param>
    /// <param name="scored">Rows in time order with the actual values and the forecasts.</param>
    /// <param name="inputColumnName">The actual series values (<see cref="float"/>).</param>
    /// <param name="forecastColumnName">The forecast vectors.</param>
    /// <param name="lowerBoundColumnName">The lower band, for coverage (with <paramref name="upperBoundColumnName"/>).</param>
    /// <param name="upperBoundColumnName">The upper band.</param>
    /// <param name="seasonalPeriod">The season length for MASE (its scale is each series' mean absolute seasonal difference
    /// over the scored rows; give 1 for the one-step naive scale); null: no MASE.</param>
    /// <param name="seriesIdColumnName">The series id column (text or a key) when the view holds many series.</param>
    public static RecurrentForecastingMetrics Evaluate(this ForecastingCatalog catalog, IDataView scored, string inputColumnName,
        string forecastColumnName, string? lowerBoundColumnName = null, string? upperBoundColumnName = null, int? seasonalPeriod = null,
        string? seriesIdColumnName = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return RecurrentForecastingMetrics.Compute(scored, inputColumnName, forecastColumnName, lowerBoundColumnName, upperBoundColumnName,
            seasonalPeriod, seriesIdColumnName);
    }

    /// <summary>
    /// Creates a stateful <see cref="RecurrentForecastingEngine{TSrc, TDst}"/> from a fitted forecaster or from a model loaded with
    /// <c>mlContext.Model.Load</c> (alone or at the end of a pipeline). It continues from the state the model holds: the end of
    /// the fitted data, or a checkpoint's saved state.
    /// </summary>
    /// <param name="model">The fitted or loaded model.</param>
    /// <param name="mlContext">The context (used for checkpoints).</param>
    public static RecurrentForecastingEngine<TSrc, TDst> CreateForecastingEngine<TSrc, TDst>(this ITransformer model, MLContext mlContext)
        where TSrc : class
        where TDst : class, new()
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(mlContext);
        return new RecurrentForecastingEngine<TSrc, TDst>(ForecastEngineFactory.Find(model));
    }
}
