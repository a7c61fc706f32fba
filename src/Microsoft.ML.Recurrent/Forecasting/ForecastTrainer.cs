using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Optimizers;
using Microsoft.ML.Recurrent.Engine.Training;
using Microsoft.ML.Recurrent.Serving;

namespace Microsoft.ML.Recurrent.Forecasting;

/// <summary>The rows of one series as read from the view: raw values, row-major (rows · (1 + C)).</summary>
internal sealed class SeriesRows
{
    public required string Id { get; init; }
    public List<float> Values { get; } = [];
    public int Count(int width) => Values.Count / width;
}

/// <summary>What Fit measured and chose, for <see cref="RecurrentForecastingTransformer"/>'s properties.</summary>
internal sealed record ForecastFitInfo(IReadOnlyList<RecurrentEpochReport> History, IReadOnlyDictionary<string, double> CandidateErrors, int EpochsChosen);

/// <summary>
/// Fit: reads each series in order, chooses the stationarization by measurement, scales each series on its own, cuts
/// every window, trains on the windows whose targets end before the held-out tail of each series, calibrates the band
/// on the tail's windows, then (by default) refits on every window for the chosen epoch count.
/// </summary>
internal static class ForecastTrainer
{
    public static (ForecastModel Model, ForecastFitInfo Info) Fit(RecurrentForecastingEstimator.Options o, IDataView input)
    {
        var cancel = o.CancellationToken;
        bool idIsKey = ForecastSchema.Check(input.Schema, o, nameof(input));
        var series = Read(input, o, idIsKey, cancel);
        int c = o.CovariateColumnNames.Length + o.KnownCovariateColumnNames.Length, w = 1 + c, h = o.Horizon, W = o.WindowSize;

        // Candidates: (stationarization, log). Seasonal needs a period; log needs every value > 0.
        bool positive = series.All(s => { for (int i = 0; i < s.Values.Count; i += w) if (s.Values[i] <= 0) return false; return true; });
        if (o.LogTransform == true && !positive)
            throw new ArgumentException($"LogTransform is true but column '{o.InputColumnName}' holds values ≤ 0.", nameof(o.LogTransform));
        var modes = o.Stationarization switch
        {
            RecurrentForecastingStationarization.Differencing => new[] { StationarizationKind.Differencing },
            RecurrentForecastingStationarization.SeasonalDifferencing => [StationarizationKind.SeasonalDifferencing],
            _ => o.SeasonalPeriod is null ? [StationarizationKind.Differencing] : [StationarizationKind.Differencing, StationarizationKind.SeasonalDifferencing],
        };
        var logs = o.LogTransform is bool l ? new[] { l } : positive ? [false, true] : [false];
        int m = o.SeasonalPeriod ?? 0;

        // Length check with the largest lag among the candidates.
        int maxLag = modes.Contains(StationarizationKind.SeasonalDifferencing) ? m : 1;
        foreach (var s in series)
        {
            int n = s.Count(w);
            int v = HeldOut(n, o);
            int needed = maxLag + W + h + v;
            if (n < needed)
                throw new ArgumentException(
                    $"Series {Describe(s, o)} has {n} rows; the forecaster needs at least {needed}: the differencing lag ({maxLag}) + WindowSize ({W}) + Horizon ({h}) for one training window, plus {v} held out for validation (ValidationFraction {o.ValidationFraction}, at least Horizon). Use a shorter window or horizon, or more data.",
                    nameof(input));
        }

        // Auto: the stationarization whose reference forecast has the lowest scaled validation error; then, among the
        // candidates of that stationarization, the log transform when it stabilises the variance of the differences better.
        var errors = new Dictionary<string, double>();
        (StationarizationKind Mode, bool Log) best = (modes[0], logs[0]);
        double bestError = double.PositiveInfinity;
        foreach (var mode in modes)
        {
            foreach (bool log in logs)
            {
                double e = ReferenceError(series, o, mode, log, m);
                errors[$"{mode}{(log ? "+Log" : "")}"] = e;
                if (e < bestError) { bestError = e; best = (mode, log); }
            }
        }

        if (logs.Length > 1)
        {
            double raw = VarianceDrift(series, o, best.Mode, false, m), logged = VarianceDrift(series, o, best.Mode, true, m);
            errors["VarianceDrift"] = raw;
            errors["VarianceDrift+Log"] = logged;
            best = (best.Mode, logged < raw);
        }

        var draft = NewModel(o, best.Mode, best.Log, m, [], [], new List<SeriesState>());
        foreach (var s in series) draft.Series.Add(Statistics(draft, s, HeldOut(s.Count(w), o)));

        // Windows.
        var spec = draft.Spec;
        var trainSet = new SequenceDataset(spec.InputSize, h);
        var validSet = new SequenceDataset(spec.InputSize, h);
        var allSet = new SequenceDataset(spec.InputSize, h);
        for (int i = 0; i < series.Count; i++)
        {
            var s = series[i];
            var st = draft.Series[i];
            int n = s.Count(w), cut = n - HeldOut(n, o);
            var raw = s.Values.ToArray();
            foreach (var (t, x, y) in Windows(draft, st, raw, n))
            {
                if (t + h <= cut - 1) trainSet.Add(x, y);
                else if (t >= cut - 1) validSet.Add(x, y);
                allSet.Add(x, y);
            }
        }

        var history = new List<RecurrentEpochReport>();
        int seed = o.Seed ?? 0;
        var first = new float[o.NumberOfModels][];
        var bestEpochs = new int[o.NumberOfModels];
        for (int e = 0; e < o.NumberOfModels; e++)
        {
            var r = SequenceTrainer.Train(Settings(o, spec, seed + e, o.MaximumNumberOfEpochs, validation: true), trainSet, validSet, Report(o, history), cancel);
            first[e] = r.Parameters;
            bestEpochs[e] = r.BestEpoch;
        }

        // Split-conformal calibration on the networks trained without the held-out tail: every origin in the tail, for
        // every horizon step whose target is observed (rolling origin: step j gets one residual more per step it is
        // shorter than the horizon than the full validation windows alone give).
        var calibrated = NewModel(o, best.Mode, best.Log, m, first, new float[h][], draft.Series);
        var sorted = Calibrate(calibrated, series, o);

        float[][] final = first;
        int epochs = (int)Math.Round(bestEpochs.Average());
        if (o.RefitOnAllData)
        {
            final = new float[o.NumberOfModels][];
            for (int e = 0; e < o.NumberOfModels; e++)
                final[e] = SequenceTrainer.Train(Settings(o, spec, seed + e, Math.Max(1, bestEpochs[e]), validation: false), allSet, null, Report(o, history), cancel).Parameters;
        }

        // Tails: where an engine continues from.
        for (int i = 0; i < series.Count; i++)
        {
            var s = series[i];
            int n = s.Count(w), keep = Math.Min(n, draft.HistoryLength);
            draft.Series[i].Tail = s.Values.GetRange((n - keep) * w, keep * w).ToArray();
        }

        var model = NewModel(o, best.Mode, best.Log, m, final, sorted, draft.Series, idIsKey);
        return (model, new ForecastFitInfo(history, errors, epochs));
    }

    private static Action<EpochReport> Report(RecurrentForecastingEstimator.Options o, List<RecurrentEpochReport> history) => r =>
    {
        var report = new RecurrentEpochReport(r.Epoch, o.MaximumNumberOfEpochs, RecurrentEpochReport.LossNames.MeanSquaredError,
            r.TrainLoss, r.ValidationLoss, null, r.SequencesPerSecond, r.LearningRate);
        history.Add(report);
        o.Progress?.Report(report);
    };

    private static TrainerSettings Settings(RecurrentForecastingEstimator.Options o, NetworkSpec spec, int seed, int epochs, bool validation) => new()
    {
        Spec = spec,
        Loss = LossKind.MeanSquaredError,
        Epochs = epochs,
        BatchSize = o.BatchSize,
        LearningRate = o.LearningRate,
        Optimizer = OptimizerKind.Adam,
        GradientClipNorm = o.GradientClipNorm,
        EarlyStoppingPatience = validation ? o.EarlyStoppingPatience : 0,
        Seed = seed,
        Threads = o.NumberOfThreads ?? 0,
    };

    /// <summary>Rows held out at the end of a series of <paramref name="n"/> rows.</summary>
    internal static int HeldOut(int n, RecurrentForecastingEstimator.Options o) => Math.Max(o.Horizon, (int)Math.Round(n * (double)o.ValidationFraction));

    internal static ForecastModel NewModel(RecurrentForecastingEstimator.Options o, StationarizationKind mode, bool log, int m,
        float[][] networks, float[][] residuals, List<SeriesState> series, bool idIsKey = false) => new()
    {
        SeriesIdIsKey = idIsKey,
        Spec = new NetworkSpec((CellKind)(int)o.CellType, ForecastModel.FeatureWidthFor(o.CovariateColumnNames.Length, o.KnownCovariateColumnNames.Length), o.HiddenSize, o.NumberOfLayers, false,
            o.Dropout, 0, 0, o.Horizon, OutputMode.LastHidden),
        Networks = networks,
        WindowSize = o.WindowSize,
        Horizon = o.Horizon,
        SeasonalPeriod = m,
        Stationarization = mode,
        UseLog = log,
        ConfidenceLevel = o.ConfidenceLevel,
        InputColumnName = o.InputColumnName,
        OutputColumnName = o.OutputColumnName,
        LowerBoundColumnName = o.ConfidenceLowerBoundColumn ?? "",
        UpperBoundColumnName = o.ConfidenceUpperBoundColumn ?? "",
        SeriesIdColumnName = o.SeriesIdColumnName ?? "",
        CovariateColumnNames = o.CovariateColumnNames.ToArray(),
        KnownCovariateColumnNames = o.KnownCovariateColumnNames.ToArray(),
        Residuals = residuals,
        Series = series,
    };

    /// <summary>Scaling of one series from its first <c>n − heldOut</c> rows.</summary>
    private static SeriesState Statistics(ForecastModel model, SeriesRows s, int heldOut)
    {
        int w = model.RowWidth, n = s.Count(w), cut = n - heldOut, lag = model.Lag, c = w - 1;
        double sum = 0, sq = 0;
        int count = 0;
        for (int t = lag; t < cut; t++)
        {
            double d = model.Level(s.Values[t * w]) - model.Level(s.Values[(t - lag) * w]);
            sum += d;
            sq += d * d;
            count++;
        }

        double mean = sum / count, std = Math.Sqrt(Math.Max(0, sq / count - mean * mean));
        double floor = 1e-6 * Math.Max(1, Math.Abs(model.Level(s.Values[(cut - 1) * w])));
        var cm = new float[c];
        var cs = new float[c];
        for (int k = 0; k < c; k++)
        {
            double a = 0, b = 0;
            for (int t = 0; t < cut; t++) { double v = s.Values[t * w + 1 + k]; a += v; b += v * v; }
            double mu = a / cut, sd = Math.Sqrt(Math.Max(0, b / cut - mu * mu));
            cm[k] = (float)mu;
            cs[k] = sd > 1e-6 * Math.Max(1, Math.Abs(mu)) ? (float)sd : 1f;
        }

        return new SeriesState { Id = s.Id, Mean = (float)mean, Scale = (float)Math.Max(std, floor), CovariateMean = cm, CovariateScale = cs };
    }

    /// <summary>The known covariates of rows t + 1 … t + Horizon (Horizon · K values).</summary>
    private static void Future(ForecastModel model, float[] raw, int t, float[] future)
    {
        int k = model.KnownCount, w = model.RowWidth, c0 = w - k;
        for (int j = 0; j < model.Horizon; j++)
            for (int q = 0; q < k; q++) future[j * k + q] = raw[(t + 1 + j) * w + c0 + q];
    }

    /// <summary>
    /// Absolute scaled residuals of <paramref name="model"/> per horizon step, sorted, over every origin t ≥ cut − 1 of every
    /// series' held-out tail and every step j with t + j inside the series. With known covariates an input needs the
    /// covariates over the whole horizon, so only origins with a full horizon ahead count.
    /// </summary>
    internal static float[][] Calibrate(ForecastModel model, List<SeriesRows> series, RecurrentForecastingEstimator.Options o)
    {
        int w = model.RowWidth, hl = model.HistoryLength, h = model.Horizon;
        var residuals = new List<float>[h];
        for (int j = 0; j < h; j++) residuals[j] = [];
        var z = new float[hl];
        var future = new float[h * model.KnownCount];
        var x = new float[model.SequenceLength * model.FeatureWidth];
        var output = new float[h];
        var scratch = new float[h];
        for (int i = 0; i < series.Count; i++)
        {
            var st = model.Series[i];
            var raw = series[i].Values.ToArray();
            int n = series[i].Count(w), cut = n - HeldOut(n, o);
            int last = model.KnownCount > 0 ? n - 1 - h : n - 2;
            for (int t = Math.Max(cut - 1, hl - 1); t <= last; t++)
            {
                if (model.KnownCount > 0) Future(model, raw, t, future);
                model.BuildInput(st, raw.AsSpan((t + 1 - hl) * w, hl * w), future, x, z);
                model.RunNetworks(x, output, scratch);
                for (int j = 1; j <= h && t + j <= n - 1; j++)
                {
                    float target = (model.Level(raw[(t + j) * w]) - model.Reference(st, z, j)) / st.Scale;
                    residuals[j - 1].Add(MathF.Abs(target - output[j - 1]));
                }
            }
        }

        return residuals.Select(r => { var a = r.ToArray(); Array.Sort(a); return a; }).ToArray();
    }

    /// <summary>Every window of a series: the origin row t, the network input and the scaled target residuals.</summary>
    private static IEnumerable<(int T, float[] X, float[] Y)> Windows(ForecastModel model, SeriesState st, float[] raw, int n)
    {
        int w = model.RowWidth, hl = model.HistoryLength, h = model.Horizon;
        var z = new float[hl];
        var future = new float[h * model.KnownCount];
        for (int t = hl - 1; t + h <= n - 1; t++)
        {
            var x = new float[model.SequenceLength * model.FeatureWidth];
            Future(model, raw, t, future);
            model.BuildInput(st, raw.AsSpan((t + 1 - hl) * w, hl * w), future, x, z);
            var y = new float[h];
            for (int j = 1; j <= h; j++)
                y[j - 1] = (model.Level(raw[(t + j) * w]) - model.Reference(st, z, j)) / st.Scale;
            yield return (t, x, y);
        }
    }

    /// <summary>
    /// Scaled mean absolute error of a candidate's reference forecast over the held-out windows of every series: each
    /// series' error (in its own units, after the inverse transform) divided by its mean absolute one-step change.
    /// </summary>
    private static double ReferenceError(List<SeriesRows> series, RecurrentForecastingEstimator.Options o, StationarizationKind mode, bool log, int m)
    {
        var model = NewModel(o, mode, log, m, [], [], []);
        int w = model.RowWidth, hl = model.HistoryLength, h = o.Horizon;
        double total = 0;
        foreach (var s in series)
        {
            int n = s.Count(w), cut = n - HeldOut(n, o);
            var st = Statistics(model, s, HeldOut(n, o));
            var raw = s.Values.ToArray();
            double scale = 0;
            for (int t = 1; t < cut; t++) scale += Math.Abs(raw[t * w] - raw[(t - 1) * w]);
            scale = Math.Max(scale / Math.Max(1, cut - 1), 1e-9);
            var z = new float[hl];
            var x = new float[model.SequenceLength * model.FeatureWidth];
            var future = new float[h * model.KnownCount];
            double sum = 0;
            int count = 0;
            for (int t = Math.Max(cut - 1, hl - 1); t + h <= n - 1; t++)
            {
                Future(model, raw, t, future);
                model.BuildInput(st, raw.AsSpan((t + 1 - hl) * w, hl * w), future, x, z);
                for (int j = 1; j <= h; j++)
                {
                    sum += Math.Abs(raw[(t + j) * w] - model.Unlevel(model.Reference(st, z, j)));
                    count++;
                }
            }

            total += sum / Math.Max(1, count) / scale;
        }

        return total / series.Count;
    }

    /// <summary>
    /// How much the spread of the differences changes along each series' training part: |ln(sd of the second half /
    /// sd of the first half)|, averaged over the series. A transform that stabilises the variance scores near 0.
    /// </summary>
    private static double VarianceDrift(List<SeriesRows> series, RecurrentForecastingEstimator.Options o, StationarizationKind mode, bool log, int m)
    {
        var model = NewModel(o, mode, log, m, [], [], []);
        int w = model.RowWidth, lag = model.Lag;
        double total = 0;
        foreach (var s in series)
        {
            int n = s.Count(w), cut = n - HeldOut(n, o), half = lag + (cut - lag) / 2;
            double Sd(int from, int to)
            {
                double a = 0, b = 0;
                for (int t = from; t < to; t++)
                {
                    double d = model.Level(s.Values[t * w]) - model.Level(s.Values[(t - lag) * w]);
                    a += d;
                    b += d * d;
                }

                int k = Math.Max(1, to - from);
                return Math.Sqrt(Math.Max(0, b / k - a / k * (a / k))) + 1e-12;
            }

            total += Math.Abs(Math.Log(Sd(half, cut) / Sd(lag, half)));
        }

        return total / series.Count;
    }

    private static string Describe(SeriesRows s, RecurrentForecastingEstimator.Options o) =>
        o.SeriesIdColumnName is null ? $"in column '{o.InputColumnName}'" : $"'{s.Id}' (column '{o.SeriesIdColumnName}')";

    /// <summary>Reads every row in order, grouped by series (first-seen order), rejecting non-finite values by row.</summary>
    private static List<SeriesRows> Read(IDataView input, RecurrentForecastingEstimator.Options o, bool idIsKey, CancellationToken cancel)
    {
        const string keyText = "__RecurrentForecastSeriesText__";
        if (idIsKey)
            input = new MLContext(seed: 0).Transforms.Conversion.MapKeyToValue(keyText, o.SeriesIdColumnName).Fit(input).Transform(input);
        var names = new[] { o.InputColumnName }.Concat(o.CovariateColumnNames).Concat(o.KnownCovariateColumnNames).ToArray();
        var columns = names.Select(n => input.Schema[n]).ToList();
        var idColumn = o.SeriesIdColumnName is null ? (DataViewSchema.Column?)null : input.Schema[idIsKey ? keyText : o.SeriesIdColumnName];
        var needed = idColumn is { } ic ? columns.Append(ic) : columns;
        var bySeries = new Dictionary<string, SeriesRows>(StringComparer.Ordinal);
        var order = new List<SeriesRows>();
        using var cursor = input.GetRowCursor(needed);
        var getters = columns.Select(col => cursor.GetGetter<float>(col)).ToArray();
        var idGetter = idColumn is { } col2 ? cursor.GetGetter<ReadOnlyMemory<char>>(col2) : null;
        ReadOnlyMemory<char> id = default;
        long row = 0;
        while (cursor.MoveNext())
        {
            if ((row & 1023) == 0) cancel.ThrowIfCancellationRequested();
            string key = "";
            if (idGetter is not null)
            {
                idGetter(ref id);
                key = id.ToString();
            }

            if (!bySeries.TryGetValue(key, out var s))
            {
                bySeries[key] = s = new SeriesRows { Id = key };
                order.Add(s);
            }

            for (int k = 0; k < getters.Length; k++)
            {
                float v = 0;
                getters[k](ref v);
                if (!float.IsFinite(v))
                    throw new ArgumentException($"Column '{names[k]}' holds {v} at row {row}; the forecaster needs finite values (remove or fill the missing values first).", nameof(input));
                s.Values.Add(v);
            }

            row++;
        }

        if (row == 0) throw new ArgumentException("The training data has no rows.", nameof(input));
        return order;
    }
}

/// <summary>Schema checks shared by GetOutputSchema and Fit.</summary>
internal static class ForecastSchema
{
    /// <summary>Checks the columns; returns whether the series id is a key (with text key values).</summary>
    public static bool Check(DataViewSchema schema, RecurrentForecastingEstimator.Options o, string parameter)
    {
        foreach (var name in new[] { o.InputColumnName }.Concat(o.CovariateColumnNames).Concat(o.KnownCovariateColumnNames))
        {
            var col = schema.GetColumnOrNull(name) ?? throw new ArgumentOutOfRangeException(parameter, $"Column '{name}' was not found in the input.");
            if (col.Type != NumberDataViewType.Single)
                throw new ArgumentOutOfRangeException(parameter, NotSingle(name, col.Type.ToString() ?? "?"));
        }

        if (o.SeriesIdColumnName is string idName)
        {
            var col = schema.GetColumnOrNull(idName) ?? throw new ArgumentOutOfRangeException(parameter, $"Series id column '{idName}' was not found in the input.");
            if (col.Type is TextDataViewType) return false;
            if (col.Type is KeyDataViewType && col.Annotations.Schema.GetColumnOrNull("KeyValues")?.Type is VectorDataViewType { ItemType: TextDataViewType })
                return true;
            throw new ArgumentOutOfRangeException(parameter, NotText(idName, col.Type.ToString() ?? "?"));
        }

        return false;
    }

    public static void Check(SchemaShape schema, RecurrentForecastingEstimator.Options o, string parameter)
    {
        foreach (var name in new[] { o.InputColumnName }.Concat(o.CovariateColumnNames).Concat(o.KnownCovariateColumnNames))
        {
            if (!Data.SequenceSchema.TryFind(schema, name, out var col)) throw new ArgumentOutOfRangeException(parameter, $"Column '{name}' was not found in the input.");
            if (col.Kind != SchemaShape.Column.VectorKind.Scalar || col.ItemType != NumberDataViewType.Single)
                throw new ArgumentOutOfRangeException(parameter, NotSingle(name, Data.SequenceSchema.Describe(col)));
        }

        if (o.SeriesIdColumnName is string idName)
        {
            if (!Data.SequenceSchema.TryFind(schema, idName, out var col)) throw new ArgumentOutOfRangeException(parameter, $"Series id column '{idName}' was not found in the input.");
            bool keyOfText = col.IsKey && Data.SequenceSchema.TryFind(col.Annotations, "KeyValues", out var kv) && kv.ItemType is TextDataViewType;
            if (col.Kind != SchemaShape.Column.VectorKind.Scalar || (col.ItemType is not TextDataViewType && !keyOfText))
                throw new ArgumentOutOfRangeException(parameter, NotText(idName, Data.SequenceSchema.Describe(col)));
        }
    }

    private static string NotSingle(string name, string found) =>
        $"Column '{name}' must be a scalar Single; found {found}. Convert it first, e.g. mlContext.Transforms.Conversion.ConvertType(\"{name}\", outputKind: DataKind.Single).";

    private static string NotText(string name, string found) =>
        $"Series id column '{name}' must be scalar text or a key with text key values; found {found}. Convert a number with mlContext.Transforms.Conversion.ConvertType(\"{name}\", outputKind: DataKind.String) or MapValueToKey.";
}
