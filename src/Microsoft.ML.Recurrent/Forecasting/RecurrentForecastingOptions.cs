namespace Microsoft.ML.Recurrent;

/// <summary>How <see cref="RecurrentForecastingEstimator"/> makes a series stationary before the network sees it.</summary>
public enum RecurrentForecastingStationarization
{
    /// <summary>Chosen by measurement at <c>Fit</c>, on the training part of every series: the stationarization whose reference
    /// forecast (the drift method, and seasonal naive with growth when a
    /// <see cref="RecurrentForecastingEstimator.Options.SeasonalPeriod"/> is given) has the lowest scaled error on the held-out
    /// windows; then, when every value is &gt; 0 and <see cref="RecurrentForecastingEstimator.Options.LogTransform"/> is null,
    /// the logarithm when it stabilises the spread of the differences better than the raw values (|ln(sd late / sd early)|
    /// closer to 0). The figures are in <see cref="RecurrentForecastingTransformer.StationarizationErrors"/>.</summary>
    Auto = 0,

    /// <summary>The network reads one-step differences and learns the residual over the drift forecast z_t + j·μ.</summary>
    Differencing = 1,

    /// <summary>The network reads seasonal differences z_t − z_{t−m} and learns the residual over seasonal naive with growth
    /// z_{t+j−m·k} + k·μ (k = ⌈j/m⌉, μ the mean seasonal difference). Needs a seasonal period.</summary>
    SeasonalDifferencing = 2,
}

public sealed partial class RecurrentForecastingEstimator
{
    /// <summary>
    /// Options of <see cref="RecurrentForecastingEstimator"/>. The first seven mirror the simple overload's parameters; the
    /// network and training options carry the recurrent trainers' names and meanings.
    /// </summary>
    public sealed class Options
    {
        /// <summary>The forecast column written by <c>Transform</c>: a vector of <see cref="float"/> of length <see cref="Horizon"/>.</summary>
        public string OutputColumnName { get; set; } = "";

        /// <summary>The series column: <see cref="float"/>, one row per time step, in time order.</summary>
        public string InputColumnName { get; set; } = "";

        /// <summary>Time steps the network reads before each forecast. Default 24.</summary>
        public int WindowSize { get; set; } = Defaults.WindowSize;

        /// <summary>Values forecast from each row (≥ 1). Default 12.</summary>
        public int Horizon { get; set; } = Defaults.Horizon;

        /// <summary>The lower band column (vector of <see cref="float"/>, length <see cref="Horizon"/>); null for no bound columns.
        /// Set both bound columns or neither.</summary>
        public string? ConfidenceLowerBoundColumn { get; set; }

        /// <summary>The upper band column; null for no bound columns.</summary>
        public string? ConfidenceUpperBoundColumn { get; set; }

        /// <summary>Coverage the band aims at, in (0, 1), calibrated split-conformally on held-out windows. Default 0.95.</summary>
        public float ConfidenceLevel { get; set; } = Defaults.ConfidenceLevel;

        /// <summary>Extra <see cref="float"/> columns observed with the series (only their past and present are used). Default none.</summary>
        public string[] CovariateColumnNames { get; set; } = [];

        /// <summary>Extra <see cref="float"/> columns known ahead (calendar, planned prices): the network also reads their values
        /// over the horizon. The engine's <c>Predict</c> then takes the coming rows; <c>Transform</c> cannot see rows after the
        /// current one, so with known covariates its forecast vectors are NaN (backtest with the engine). Default none.</summary>
        public string[] KnownCovariateColumnNames { get; set; } = [];

        /// <summary>A text column (or a key column with text key values, e.g. from <c>MapValueToKey</c>) naming the series of each row when the view holds many series (rows of each series in time
        /// order; series may interleave). One global model is trained, each series scaled on its own. Null: one series.</summary>
        public string? SeriesIdColumnName { get; set; }

        /// <summary>The season length in steps (e.g. 12 for monthly, 7 for daily data), ≥ 2; null when there is none.</summary>
        public int? SeasonalPeriod { get; set; }

        /// <summary>How the series is made stationary. Default <see cref="RecurrentForecastingStationarization.Auto"/>.</summary>
        public RecurrentForecastingStationarization Stationarization { get; set; } = Defaults.Stationarization;

        /// <summary>Whether to model the logarithm of the series (its forecasts and bands are exponentiated back): null (the
        /// default) decides by measurement (see <see cref="RecurrentForecastingStationarization.Auto"/>), considered only when every value is &gt; 0.</summary>
        public bool? LogTransform { get; set; }

        /// <summary>The cell of every layer. Default <see cref="RecurrentCellType.Lstm"/>.</summary>
        public RecurrentCellType CellType { get; set; } = Defaults.CellType;

        /// <summary>Hidden units per layer. Default 32.</summary>
        public int HiddenSize { get; set; } = Defaults.HiddenSize;

        /// <summary>Stacked recurrent layers. Default 1.</summary>
        public int NumberOfLayers { get; set; } = Defaults.NumberOfLayers;

        /// <summary>Dropout between stacked layers during training, in [0, 1). Default 0.</summary>
        public float Dropout { get; set; }

        /// <summary>Training epochs (fewer when early stopping ends training). Default 100.</summary>
        public int MaximumNumberOfEpochs { get; set; } = Defaults.MaximumNumberOfEpochs;

        /// <summary>Windows per mini-batch. Default 32.</summary>
        public int BatchSize { get; set; } = Defaults.BatchSize;

        /// <summary>Adam's learning rate. Default 0.003.</summary>
        public float LearningRate { get; set; } = Defaults.LearningRate;

        /// <summary>Rescales each batch's gradient to at most this global L2 norm; 0 disables clipping. Default 1.</summary>
        public float GradientClipNorm { get; set; } = Defaults.GradientClipNorm;

        /// <summary>Fraction of each series, at its end, held out for validation (early stopping, the choice of
        /// stationarization, and the band calibration), in (0, 1); at least <see cref="Horizon"/> steps are held out. Never
        /// random rows. Default 0.2.</summary>
        public float ValidationFraction { get; set; } = Defaults.ValidationFraction;

        /// <summary>Epochs without improvement of the validation loss before training stops (the best epoch's weights are
        /// kept); 0 disables early stopping. Default 10.</summary>
        public int EarlyStoppingPatience { get; set; } = Defaults.EarlyStoppingPatience;

        /// <summary>After early stopping chose an epoch count, train again on every window (validation part included) for that
        /// many epochs, so the final model has seen the most recent data. The bands stay calibrated on the held-out
        /// residuals of the first run. Default true.</summary>
        public bool RefitOnAllData { get; set; } = Defaults.RefitOnAllData;

        /// <summary>Networks trained from consecutive seeds whose forecasts are averaged (a seed ensemble). Default 3.</summary>
        public int NumberOfModels { get; set; } = Defaults.NumberOfModels;

        /// <summary>Seed of the weight initialisation and shuffling. Null (the default) means 0: ML.NET keeps the
        /// <see cref="MLContext"/>'s seed internal and the forecasting catalog does not expose its context.</summary>
        public int? Seed { get; set; }

        /// <summary>
        /// Worker threads for training; null (the default) uses every core. Forecasting (<c>Transform</c> and the engine) runs
        /// each forecast on the calling thread whatever this says: one window is a batch of one, fastest without a hand-over
        /// between cores.
        /// </summary>
        public int? NumberOfThreads { get; set; }

        /// <summary>Receives a <see cref="RecurrentEpochReport"/> after every epoch (losses in scaled units).</summary>
        public IProgress<RecurrentEpochReport>? Progress { get; set; }

        /// <summary>Cancels <c>Fit</c>: <see cref="OperationCanceledException"/> is thrown within one mini-batch.</summary>
        public CancellationToken CancellationToken { get; set; }

        /// <summary>Checks every option; throws naming the option.</summary>
        internal void Validate()
        {
            if (string.IsNullOrWhiteSpace(OutputColumnName)) throw new ArgumentNullException(nameof(OutputColumnName), "OutputColumnName must name a column.");
            if (string.IsNullOrWhiteSpace(InputColumnName)) throw new ArgumentNullException(nameof(InputColumnName), "InputColumnName must name a column.");
            if (WindowSize < 1) throw Range(nameof(WindowSize), WindowSize, "must be ≥ 1");
            if (Horizon < 1) throw Range(nameof(Horizon), Horizon, "must be ≥ 1 (values forecast from each row)");
            if (Horizon > 4096) throw Range(nameof(Horizon), Horizon, "must be ≤ 4096");
            if (WindowSize > 100_000) throw Range(nameof(WindowSize), WindowSize, "must be ≤ 100000");
            if ((ConfidenceLowerBoundColumn is null) != (ConfidenceUpperBoundColumn is null))
                throw new ArgumentException("Set both ConfidenceLowerBoundColumn and ConfidenceUpperBoundColumn, or neither.", ConfidenceLowerBoundColumn is null ? nameof(ConfidenceLowerBoundColumn) : nameof(ConfidenceUpperBoundColumn));
            if (ConfidenceLowerBoundColumn is not null && (string.IsNullOrWhiteSpace(ConfidenceLowerBoundColumn) || string.IsNullOrWhiteSpace(ConfidenceUpperBoundColumn)))
                throw new ArgumentException("The bound column names must not be empty.", nameof(ConfidenceLowerBoundColumn));
            if (!(ConfidenceLevel > 0f && ConfidenceLevel < 1f)) throw Range(nameof(ConfidenceLevel), ConfidenceLevel, "must be in (0, 1)");
            if (CovariateColumnNames is null) throw new ArgumentNullException(nameof(CovariateColumnNames), "CovariateColumnNames must not be null (use an empty array).");
            foreach (var c in CovariateColumnNames)
                if (string.IsNullOrWhiteSpace(c)) throw new ArgumentException("CovariateColumnNames holds an empty name.", nameof(CovariateColumnNames));
            if (CovariateColumnNames.Distinct().Count() != CovariateColumnNames.Length || CovariateColumnNames.Contains(InputColumnName))
                throw new ArgumentException("CovariateColumnNames must name distinct columns other than InputColumnName.", nameof(CovariateColumnNames));
            if (KnownCovariateColumnNames is null) throw new ArgumentNullException(nameof(KnownCovariateColumnNames), "KnownCovariateColumnNames must not be null (use an empty array).");
            foreach (var c in KnownCovariateColumnNames)
            {
                if (string.IsNullOrWhiteSpace(c) || c == InputColumnName || CovariateColumnNames.Contains(c))
                    throw new ArgumentException($"KnownCovariateColumnNames holds '{c}': each must name a column other than InputColumnName and the CovariateColumnNames.", nameof(KnownCovariateColumnNames));
            }

            if (KnownCovariateColumnNames.Distinct().Count() != KnownCovariateColumnNames.Length)
                throw new ArgumentException("KnownCovariateColumnNames must name distinct columns.", nameof(KnownCovariateColumnNames));
            if (SeasonalPeriod is int m && (m < 2 || m > 100_000)) throw Range(nameof(SeasonalPeriod), m, "must be ≥ 2 and ≤ 100000, or null for none");
            if (!Enum.IsDefined(Stationarization)) throw Range(nameof(Stationarization), Stationarization, "must be Auto, Differencing or SeasonalDifferencing");
            if (Stationarization == RecurrentForecastingStationarization.SeasonalDifferencing && SeasonalPeriod is null)
                throw new ArgumentException("Stationarization SeasonalDifferencing needs a SeasonalPeriod.", nameof(Stationarization));
            if (!Enum.IsDefined(CellType)) throw Range(nameof(CellType), CellType, "must be SimpleRnn, Lstm or Gru");
            if (HiddenSize < 1 || HiddenSize > 4096) throw Range(nameof(HiddenSize), HiddenSize, "must be > 0 and ≤ 4096");
            if (NumberOfLayers < 1 || NumberOfLayers > 16) throw Range(nameof(NumberOfLayers), NumberOfLayers, "must be > 0 and ≤ 16");
            if (!(Dropout >= 0f && Dropout < 1f)) throw Range(nameof(Dropout), Dropout, "must be in [0, 1)");
            if (MaximumNumberOfEpochs < 1) throw Range(nameof(MaximumNumberOfEpochs), MaximumNumberOfEpochs, "must be > 0");
            if (BatchSize < 1) throw Range(nameof(BatchSize), BatchSize, "must be > 0");
            if (!(LearningRate > 0f) || !float.IsFinite(LearningRate)) throw Range(nameof(LearningRate), LearningRate, "must be a finite number > 0");
            if (!(GradientClipNorm >= 0f) || !float.IsFinite(GradientClipNorm)) throw Range(nameof(GradientClipNorm), GradientClipNorm, "must be a finite number ≥ 0 (0 disables clipping)");
            if (!(ValidationFraction > 0f && ValidationFraction < 1f)) throw Range(nameof(ValidationFraction), ValidationFraction, "must be in (0, 1)");
            if (EarlyStoppingPatience < 0) throw Range(nameof(EarlyStoppingPatience), EarlyStoppingPatience, "must be ≥ 0 (0 disables early stopping)");
            if (NumberOfModels < 1 || NumberOfModels > 64) throw Range(nameof(NumberOfModels), NumberOfModels, "must be ≥ 1 and ≤ 64");
            if (NumberOfThreads is int threads && threads < 1) throw Range(nameof(NumberOfThreads), threads, "must be > 0, or null for every core");
        }

        private static ArgumentOutOfRangeException Range(string name, object value, string rule) =>
            new(name, value, $"{name} {rule}; it was {value}.");
    }

    /// <summary>The default values of <see cref="Options"/>, written once.</summary>
    internal static class Defaults
    {
        public const int WindowSize = 24;
        public const int Horizon = 12;
        public const float ConfidenceLevel = 0.95f;
        public const RecurrentForecastingStationarization Stationarization = RecurrentForecastingStationarization.Auto;
        public const RecurrentCellType CellType = RecurrentCellType.Lstm;
        public const int HiddenSize = 32;
        public const int NumberOfLayers = 1;
        public const int MaximumNumberOfEpochs = 100;
        public const int BatchSize = 32;
        public const float LearningRate = 3e-3f;
        public const float GradientClipNorm = 1f;
        public const float ValidationFraction = 0.2f;
        public const int EarlyStoppingPatience = 10;
        public const bool RefitOnAllData = true;
        public const int NumberOfModels = 3;
    }
}
