namespace Microsoft.ML.Recurrent;

/// <summary>What a forecasting experiment optimises (see <see cref="RecurrentExperiment.SetForecastingMetric"/>): a figure of
/// <see cref="RecurrentForecastingMetrics"/> from <c>mlContext.Forecasting.Evaluate</c> on a rolling-origin backtest of the
/// validation rows. Lower is better for every member.</summary>
public enum ForecastingMetric
{
    /// <summary>Mean absolute error in the series' units (lower is better).</summary>
    MeanAbsoluteError,

    /// <summary>Root mean squared error in the series' units (lower is better).</summary>
    RootMeanSquaredError,

    /// <summary>Symmetric mean absolute percentage error, in percent (lower is better).</summary>
    SymmetricMeanAbsolutePercentageError,

    /// <summary>Mean absolute scaled error: the absolute errors over the mean absolute seasonal difference of the validation
    /// rows (the one-step difference without a seasonal period); below 1 beats the in-sample seasonal naive forecast (lower is
    /// better).</summary>
    MeanAbsoluteScaledError,
}
