using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Training;

namespace Microsoft.ML.Recurrent.Forecasting;

/// <summary>How a series is made stationary before the network sees it (the network learns what the reference misses).</summary>
internal enum StationarizationKind : byte
{
    /// <summary>Inputs z_t − z_{t−1}; reference forecast z_t + j·μ (the drift method).</summary>
    Differencing = 0,
    /// <summary>Inputs z_t − z_{t−m}; reference forecast z_{t+j−m·k} + k·μ, k = ⌈j/m⌉ (seasonal naive with growth).</summary>
    SeasonalDifferencing = 1,
}

/// <summary>One series' scaling and the last rows of its fitted data (where an engine continues from).</summary>
internal sealed class SeriesState
{
    public required string Id { get; init; }
    /// <summary>Mean of the input differences (the drift per lag).</summary>
    public float Mean { get; set; }
    /// <summary>Scale of the input differences (their standard deviation, floored).</summary>
    public float Scale { get; set; } = 1f;
    /// <summary>(C + K) means and standard deviations of the covariates, then of the known covariates.</summary>
    public float[] CovariateMean { get; set; } = [];
    public float[] CovariateScale { get; set; } = [];
    /// <summary>The last rows seen, raw, row-major (rows · (1 + C + K)); at most <see cref="ForecastModel.HistoryLength"/> rows.</summary>
    public float[] Tail { get; set; } = [];
}

/// <summary>
/// A fitted recurrent forecaster: configuration, per-series scaling, the networks (an ensemble whose outputs are
/// averaged), calibration residuals for the bands, and each series' last fitted rows. Thread-safe for forecasting.
/// </summary>
internal sealed class ForecastModel
{
    private SequencePredictor[]? _predictors;

    public required NetworkSpec Spec { get; init; }
    public required float[][] Networks { get; init; }
    public required int WindowSize { get; init; }
    public required int Horizon { get; init; }
    /// <summary>0 when none.</summary>
    public required int SeasonalPeriod { get; init; }
    public required StationarizationKind Stationarization { get; init; }
    public required bool UseLog { get; init; }
    public required float ConfidenceLevel { get; init; }
    public required string InputColumnName { get; init; }
    public required string OutputColumnName { get; init; }
    /// <summary>Empty when the model has no bound columns.</summary>
    public required string LowerBoundColumnName { get; init; }
    public required string UpperBoundColumnName { get; init; }
    /// <summary>Empty when the view holds one series.</summary>
    public required string SeriesIdColumnName { get; init; }
    /// <summary>Whether the series id column is a key with text key values (mapped to its text by the chain) rather than text.</summary>
    public bool SeriesIdIsKey { get; init; }
    public required string[] CovariateColumnNames { get; init; }
    /// <summary>Covariates known ahead: the network also reads their values over the horizon.</summary>
    public required string[] KnownCovariateColumnNames { get; init; }
    /// <summary>(Horizon) sorted absolute calibration residuals per horizon step, in scaled units.</summary>
    public required float[][] Residuals { get; init; }
    public required List<SeriesState> Series { get; init; }

    /// <summary>Values per row: the series value, the covariates and the known covariates.</summary>
    public int RowWidth => 1 + CovariateColumnNames.Length + KnownCovariateColumnNames.Length;

    /// <summary>Known covariates K.</summary>
    public int KnownCount => KnownCovariateColumnNames.Length;

    /// <summary>Network steps per forecast: the window, then (with known covariates) one step per horizon step.</summary>
    public int SequenceLength => WindowSize + (KnownCount > 0 ? Horizon : 0);

    /// <summary>Features per network step: value, covariates, known covariates and (with known covariates) a future flag.</summary>
    public static int FeatureWidthFor(int covariates, int known) => 1 + covariates + known + (known > 0 ? 1 : 0);

    /// <summary>Differencing lag: 1, or the seasonal period.</summary>
    public int Lag => Stationarization == StationarizationKind.SeasonalDifferencing ? SeasonalPeriod : 1;

    /// <summary>Rows a forecast needs: the window plus the differencing lag.</summary>
    public int HistoryLength => WindowSize + Lag;

    public bool HasBounds => LowerBoundColumnName.Length > 0;

    private Dictionary<string, SeriesState>? _byId;

    public SeriesState? FindSeries(string id)
    {
        var map = _byId;
        if (map is null)
        {
            map = Series.ToDictionary(s => s.Id, StringComparer.Ordinal);
            _byId = map;
        }

        return map.TryGetValue(id, out var s) ? s : null;
    }

    /// <summary>
    /// One predictor per network, each running on the calling thread (threads = 1): a forecast is one short sequence, and
    /// splitting its hidden units across cores costs a spin hand-over per step (measured ~8× slower on 2 cores, worse when
    /// the other core is busy). Training threads (<c>NumberOfThreads</c>) are unaffected.
    /// </summary>
    private SequencePredictor[] Predictors => _predictors ??= Networks.Select(p => new SequencePredictor(Spec, p, threads: 1)).ToArray();

    /// <summary>Width of one step of the network input.</summary>
    public int FeatureWidth => Spec.InputSize;

    /// <summary>
    /// Builds the network input for the window ending at the last row of <paramref name="history"/>: per window step the
    /// scaled difference, covariates and known covariates (flag 0); then, with known covariates, one step per horizon step
    /// holding only the scaled known values of that future step (flag 1). <paramref name="future"/> holds Horizon · K raw values.
    /// </summary>
    public void BuildInput(SeriesState s, ReadOnlySpan<float> history, ReadOnlySpan<float> future, Span<float> x, Span<float> z)
    {
        int w = RowWidth, n = history.Length / w, lag = Lag, f = FeatureWidth, c = w - 1, k = KnownCount;
        int first = n - HistoryLength;
        for (int i = 0; i < HistoryLength; i++) z[i] = Level(history[(first + i) * w]);
        float inv = 1f / s.Scale;
        x.Slice(0, SequenceLength * f).Clear();
        for (int t = 0; t < WindowSize; t++)
        {
            int i = lag + t;
            x[t * f] = (z[i] - z[i - lag] - s.Mean) * inv;
            int row = (first + i) * w;
            for (int q = 0; q < c; q++)
                x[t * f + 1 + q] = (history[row + 1 + q] - s.CovariateMean[q]) / s.CovariateScale[q];
        }

        if (k == 0) return;
        int c0 = c - k;
        for (int j = 0; j < Horizon; j++)
        {
            int at = (WindowSize + j) * f;
            for (int q = 0; q < k; q++)
                x[at + 1 + c0 + q] = (future[j * k + q] - s.CovariateMean[c0 + q]) / s.CovariateScale[c0 + q];
            x[at + f - 1] = 1f;
        }
    }

    public float Level(float y) => UseLog ? MathF.Log(y) : y;

    public float Unlevel(float z) => UseLog ? MathF.Exp(z) : z;

    /// <summary>The reference (stationarizing) forecast for step j (1-based) in level units, from the levels <paramref name="z"/>.</summary>
    public float Reference(SeriesState s, ReadOnlySpan<float> z, int j)
    {
        int t = z.Length - 1;
        if (Stationarization == StationarizationKind.Differencing) return z[t] + j * s.Mean;
        int m = SeasonalPeriod, k = (j + m - 1) / m;
        return z[t + j - m * k] + k * s.Mean;
    }

    /// <summary>Averaged network outputs (scaled residuals over the reference) for one window.</summary>
    public void RunNetworks(ReadOnlySpan<float> x, Span<float> output, Span<float> scratch)
    {
        var predictors = Predictors;
        predictors[0].Predict(x, output);
        for (int e = 1; e < predictors.Length; e++)
        {
            predictors[e].Predict(x, scratch);
            for (int j = 0; j < Horizon; j++) output[j] += scratch[j];
        }

        if (predictors.Length > 1)
        {
            float inv = 1f / predictors.Length;
            for (int j = 0; j < Horizon; j++) output[j] *= inv;
        }
    }

    /// <summary>Half-width of the band at step j (0-based) in scaled units for a confidence level (split-conformal quantile).</summary>
    public float BandQuantile(int j, float level)
    {
        var r = Residuals[j];
        if (r.Length == 0) return float.PositiveInfinity;
        int k = (int)Math.Ceiling((r.Length + 1) * (double)level);
        return r[Math.Clamp(k, 1, r.Length) - 1];
    }

    /// <summary>
    /// Forecasts the next <paramref name="horizon"/> values after the last row of <paramref name="history"/> (raw rows,
    /// at least <see cref="HistoryLength"/>), with bands at <paramref name="level"/>.
    /// </summary>
    public void Forecast(SeriesState s, ReadOnlySpan<float> history, ReadOnlySpan<float> future, int horizon, float level,
        Span<float> point, Span<float> lower, Span<float> upper)
    {
        int n = HistoryLength;
        Span<float> z = n <= 512 ? stackalloc float[n] : new float[n];
        int xl = SequenceLength * FeatureWidth;
        Span<float> x = xl <= 2048 ? stackalloc float[xl] : new float[xl];
        Span<float> y = Horizon <= 256 ? stackalloc float[Horizon] : new float[Horizon];
        Span<float> scratch = Horizon <= 256 ? stackalloc float[Horizon] : new float[Horizon];
        BuildInput(s, history, future, x, z);
        RunNetworks(x.Slice(0, xl), y, scratch);
        for (int j = 0; j < horizon; j++)
        {
            float zh = Reference(s, z, j + 1) + s.Scale * y[j];
            point[j] = Unlevel(zh);
            if (!lower.IsEmpty)
            {
                float q = s.Scale * BandQuantile(j, level);
                lower[j] = Unlevel(zh - q);
                upper[j] = Unlevel(zh + q);
            }
        }
    }
}
