using Microsoft.ML.SearchSpace;

namespace Microsoft.ML.Recurrent;

/// <summary>
/// The hyper-parameters of <see cref="RecurrentForecastingEstimator"/> (<c>mlContext.Forecasting.ForecastByRecurrent</c>) as a
/// search space: each property is named like the option it sets; the ones carrying <see cref="RangeAttribute"/>,
/// <see cref="ChoiceAttribute"/> or <see cref="BooleanChoiceAttribute"/> (namespace <c>Microsoft.ML.SearchSpace</c>) are swept,
/// the others are fixed at the instance's values (columns, horizon, seasonal period, covariates, …). Use it with
/// <see cref="RecurrentExperiment.SetForecastingMetric"/>, or with ML.NET AutoML's <c>SearchSpace&lt;T&gt;</c> and
/// <see cref="ToOptions"/> where that package is installed.
/// </summary>
/// <remarks>
/// <para>Documented ranges (the value in brackets is the starting point of the search):</para>
/// <list type="table">
/// <listheader><term>option</term><description>range</description></listheader>
/// <item><term><see cref="WindowSize"/></term><description>6, 12, 24, 36, 48 time steps [24] (cover one or more seasons: for a
/// period other than 12, derive the class and give choices that are multiples of it)</description></item>
/// <item><term><see cref="CellType"/></term><description>SimpleRnn, Lstm, Gru [Lstm]</description></item>
/// <item><term><see cref="HiddenSize"/></term><description>8 … 128 units, log scale [32]</description></item>
/// <item><term><see cref="NumberOfLayers"/></term><description>1 … 2 [1]</description></item>
/// <item><term><see cref="Dropout"/></term><description>0 … 0.5 [0] (acts only between stacked layers)</description></item>
/// <item><term><see cref="LearningRate"/></term><description>3e-4 … 3e-2, log scale [3e-3]</description></item>
/// <item><term><see cref="BatchSize"/></term><description>16, 32, 64 [32]</description></item>
/// <item><term><see cref="MaximumNumberOfEpochs"/></term><description>5 … 45, log scale [15]: the resource of successive halving
/// (a trial starts with the minimum and the best are trained up to the maximum; the forecaster cannot resume from a
/// checkpoint, so a promoted trial is trained again from the start with more epochs)</description></item>
/// </list>
/// <para>The forecaster has no bidirectional option (a forecast reads the past only). Fixed by default for sweeping:
/// <see cref="NumberOfModels"/> 1, <see cref="EarlyStoppingPatience"/> 0 (the epochs are the resource) and
/// <see cref="RefitOnAllData"/> false.</para>
/// </remarks>
public class RecurrentForecastingSearchSpace
{
    /// <summary>Fixed: the forecast column (see <see cref="RecurrentForecastingEstimator.Options.OutputColumnName"/>). Default "Forecast".</summary>
    public string OutputColumnName { get; set; } = "Forecast";

    /// <summary>Fixed: the series column; <see cref="RecurrentExperiment.SetForecastingMetric"/> sets it. Default "Value".</summary>
    public string InputColumnName { get; set; } = "Value";

    /// <summary>Fixed: values forecast from each row; <see cref="RecurrentExperiment.SetForecastingMetric"/> sets it. Default 12.</summary>
    public int Horizon { get; set; } = 12;

    /// <summary>Fixed: the season length in steps, or null (see <see cref="RecurrentForecastingEstimator.Options.SeasonalPeriod"/>).</summary>
    public int? SeasonalPeriod { get; set; }

    /// <summary>Fixed: the series id column when the view holds many series, or null.</summary>
    public string? SeriesIdColumnName { get; set; }

    /// <summary>Fixed: covariate columns observed with the series. Default none.</summary>
    public string[] CovariateColumnNames { get; set; } = [];

    /// <summary>Swept: time steps the network reads before each forecast, one of 6, 12, 24, 36, 48; starts at 24.</summary>
    [Choice(new object[] { 6, 12, 24, 36, 48 }, 24)]
    public int WindowSize { get; set; } = 24;

    /// <summary>Swept: the cell, one of SimpleRnn, Lstm, Gru; starts at Lstm.</summary>
    [Choice(new object[] { RecurrentCellType.SimpleRnn, RecurrentCellType.Lstm, RecurrentCellType.Gru }, RecurrentCellType.Lstm)]
    public RecurrentCellType CellType { get; set; } = RecurrentCellType.Lstm;

    /// <summary>Swept: hidden units per layer, 8 … 128 on a log scale; starts at 32.</summary>
    [Range(8, 128, 32, true)]
    public int HiddenSize { get; set; } = 32;

    /// <summary>Swept: stacked layers, 1 … 2; starts at 1.</summary>
    [Range(1, 2, 1, false)]
    public int NumberOfLayers { get; set; } = 1;

    /// <summary>Swept: dropout between stacked layers, 0 … 0.5; starts at 0.</summary>
    [Range(0f, 0.5f, 0f, false)]
    public float Dropout { get; set; }

    /// <summary>Swept: Adam's learning rate, 3e-4 … 3e-2 on a log scale; starts at 3e-3.</summary>
    [Range(3e-4f, 3e-2f, 3e-3f, true)]
    public float LearningRate { get; set; } = 3e-3f;

    /// <summary>Swept: windows per mini-batch, one of 16, 32, 64; starts at 32.</summary>
    [Choice(new object[] { 16, 32, 64 }, 32)]
    public int BatchSize { get; set; } = 32;

    /// <summary>The resource of successive halving, 5 … 45 epochs (see the remarks).</summary>
    [Range(5, 45, 15, true)]
    public int MaximumNumberOfEpochs { get; set; } = 15;

    /// <summary>Fixed: networks averaged per model (see <see cref="RecurrentForecastingEstimator.Options.NumberOfModels"/>). Default 1.</summary>
    public int NumberOfModels { get; set; } = 1;

    /// <summary>Fixed: early-stopping patience inside a trial; 0 (the default) trains exactly the resource's epochs.</summary>
    public int EarlyStoppingPatience { get; set; }

    /// <summary>Fixed: whether each trial refits on all its training windows (see
    /// <see cref="RecurrentForecastingEstimator.Options.RefitOnAllData"/>). Default false.</summary>
    public bool RefitOnAllData { get; set; }

    /// <summary>Fixed: the training seed; null lets the experiment give every trial its seed (see <see cref="RecurrentExperiment.SetSeed"/>).</summary>
    public int? Seed { get; set; }

    /// <summary>Fixed: worker threads per trial; null lets the experiment share the cores among its parallel trials.</summary>
    public int? NumberOfThreads { get; set; }

    /// <summary>The forecaster options at this instance's values, e.g. for an AutoML sweepable-estimator factory.</summary>
    public RecurrentForecastingEstimator.Options ToOptions() => new()
    {
        OutputColumnName = OutputColumnName,
        InputColumnName = InputColumnName,
        Horizon = Horizon,
        SeasonalPeriod = SeasonalPeriod,
        SeriesIdColumnName = SeriesIdColumnName,
        CovariateColumnNames = CovariateColumnNames,
        WindowSize = WindowSize,
        CellType = CellType,
        HiddenSize = HiddenSize,
        NumberOfLayers = NumberOfLayers,
        Dropout = Dropout,
        LearningRate = LearningRate,
        BatchSize = BatchSize,
        MaximumNumberOfEpochs = MaximumNumberOfEpochs,
        NumberOfModels = NumberOfModels,
        EarlyStoppingPatience = EarlyStoppingPatience,
        RefitOnAllData = RefitOnAllData,
        Seed = Seed,
        NumberOfThreads = NumberOfThreads,
    };
}
