using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Engine.Training;
using Microsoft.ML.Recurrent.Model;

namespace Microsoft.ML.Recurrent;

public sealed partial class RecurrentMLCatalog
{
    /// <summary>
    /// Sequence-aware permutation feature importance of a fitted recurrent model: how much the model's loss grows when one
    /// input feature is shuffled across rows at every step at once (<see cref="RecurrentFeatureImportance.Features"/>), and
    /// when all features of a window of consecutive steps are (<see cref="RecurrentFeatureImportance.StepWindows"/>).
    /// </summary>
    /// <remarks>
    /// <para>ML.NET's slot-level <c>PermutationFeatureImportance</c> (which also accepts the model, see the README) permutes
    /// each of the T·F slots alone: slow (T·F passes over the data) and noisy (one step of one feature rarely matters on its
    /// own). This one permutes F features and ⌈T / window⌉ windows, and it scores with the engine directly.</para>
    /// <para>A permutation gives row i the values of row π(i) (π a seeded shuffle): for a feature, its whole trajectory;
    /// for a window, every feature of its steps. Where the donor sequence is shorter, its steps repeat cyclically (step
    /// t reads the donor's step t mod T_donor). Windows count steps from the first step. The loss is the trainer's:
    /// mean squared error (regression, label units), log-loss (binary) or cross-entropy (multiclass), averaged over
    /// rows; importances are the mean increase over <paramref name="permutationCount"/> permutations and its standard
    /// deviation. Token models have one feature (the token id); their windows permute tokens.</para>
    /// </remarks>
    /// <param name="model">A fitted recurrent model (from <c>Fit</c>, a chain's <c>LastTransformer</c>, or
    /// <see cref="RecurrentPredictionTransformer.FromLoadedModel"/>).</param>
    /// <param name="data">Evaluation rows with the model's feature column and <paramref name="labelColumnName"/>.</param>
    /// <param name="labelColumnName">The label: Single (regression), Boolean (binary) or a key with the model's classes (multiclass).</param>
    /// <param name="stepWindowSize">Steps per window (≥ 1). Default 1: one entry per step.</param>
    /// <param name="permutationCount">Permutations per feature and per window (≥ 1). Default 3.</param>
    /// <param name="seed">Seed of the permutations; null draws one from the context's seed.</param>
    /// <returns>The baseline loss and one importance per feature and per step window.</returns>
    public RecurrentFeatureImportance PermutationFeatureImportance(RecurrentPredictionTransformer model, IDataView data,
        string labelColumnName = "Label", int stepWindowSize = 1, int permutationCount = 3, int? seed = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentException.ThrowIfNullOrEmpty(labelColumnName);
        if (stepWindowSize < 1)
            throw new ArgumentOutOfRangeException(nameof(stepWindowSize), stepWindowSize, "stepWindowSize must be ≥ 1.");
        if (permutationCount < 1)
            throw new ArgumentOutOfRangeException(nameof(permutationCount), permutationCount, "permutationCount must be ≥ 1.");
        int resolved = ResolveSeed(seed, nameof(PermutationFeatureImportance));
        return SequenceImportance.Compute(model.StoredModel, data, labelColumnName, stepWindowSize, permutationCount, resolved);
    }
}

/// <summary>The result of <see cref="RecurrentMLCatalog.PermutationFeatureImportance"/>.</summary>
public sealed class RecurrentFeatureImportance
{
    internal RecurrentFeatureImportance(string lossName, double baselineLoss, int rows, RecurrentImportance[] features, RecurrentImportance[] windows)
    {
        LossName = lossName;
        BaselineLoss = baselineLoss;
        RowCount = rows;
        Features = features;
        StepWindows = windows;
    }

    /// <summary>What the loss measures: "mean squared error", "log-loss" or "cross-entropy".</summary>
    public string LossName { get; }

    /// <summary>The model's mean loss on the unpermuted data.</summary>
    public double BaselineLoss { get; }

    /// <summary>Rows evaluated.</summary>
    public int RowCount { get; }

    /// <summary>One entry per input feature (0 … F − 1), each permuted across all steps.</summary>
    public IReadOnlyList<RecurrentImportance> Features { get; }

    /// <summary>One entry per window of consecutive steps (from the first step), all features of the window permuted.</summary>
    public IReadOnlyList<RecurrentImportance> StepWindows { get; }
}

/// <summary>The importance of one feature or one step window.</summary>
public sealed class RecurrentImportance
{
    internal RecurrentImportance(int index, int firstStep, int stepCount, double mean, double standardDeviation)
    {
        Index = index;
        FirstStep = firstStep;
        StepCount = stepCount;
        LossIncrease = mean;
        StandardDeviation = standardDeviation;
    }

    /// <summary>The feature index (0 … F − 1) or the window index.</summary>
    public int Index { get; }

    /// <summary>Windows: the first step covered; features: 0.</summary>
    public int FirstStep { get; }

    /// <summary>Windows: the steps covered (the last window may be shorter than the others' longest sequence allows); features: all (−1).</summary>
    public int StepCount { get; }

    /// <summary>Mean increase of the loss over the permutations (larger = more important; ≈ 0 = unused).</summary>
    public double LossIncrease { get; }

    /// <summary>Standard deviation of the increase over the permutations (0 with one permutation).</summary>
    public double StandardDeviation { get; }

    /// <inheritdoc/>
    public override string ToString() => StepCount < 0
        ? FormattableString.Invariant($"feature {Index}: +{LossIncrease:G4} (± {StandardDeviation:G2})")
        : FormattableString.Invariant($"steps {FirstStep}..{FirstStep + StepCount - 1}: +{LossIncrease:G4} (± {StandardDeviation:G2})");
}

/// <summary>Reads the evaluation rows once, then scores permuted copies with the engine (rows in parallel, losses summed in
/// row order so the result does not depend on the thread count).</summary>
internal static class SequenceImportance
{
    public static RecurrentFeatureImportance Compute(RecurrentModel model, IDataView data, string labelColumnName, int window, int permutations, int seed)
    {
        var (sequences, labels) = Read(model, data, labelColumnName);
        int n = sequences.Length, f = model.FeaturesPerStep;
        if (n < 2) throw new ArgumentException($"Permutation importance needs at least 2 rows; the data has {n}.", nameof(data));
        var predictor = new SequencePredictor(model.Spec, model.Parameters);
        string lossName = model.Kind switch
        {
            PredictionKind.Regression => RecurrentEpochReport.LossNames.MeanSquaredError,
            PredictionKind.BinaryClassification => RecurrentEpochReport.LossNames.LogLoss,
            _ => RecurrentEpochReport.LossNames.CrossEntropy,
        };
        double baseline = MeanLoss(model, predictor, sequences, labels, null);
        int maxSteps = sequences.Max(s => s.Length) / f;
        int windows = (maxSteps + window - 1) / window;
        var rng = new Random(seed);

        RecurrentImportance Measure(int index, int firstStep, int stepCount, Func<int, int, bool> permuted)
        {
            var increases = new double[permutations];
            for (int p = 0; p < permutations; p++)
            {
                var donor = Enumerable.Range(0, n).ToArray();
                rng.Shuffle(donor);
                increases[p] = MeanLoss(model, predictor, sequences, labels, (i, x) =>
                {
                    var from = sequences[donor[i]];
                    int tDonor = from.Length / f;
                    for (int t = 0; t < x.Length / f; t++)
                    {
                        for (int k = 0; k < f; k++)
                        {
                            if (permuted(t, k)) x[t * f + k] = from[(t % tDonor) * f + k];
                        }
                    }
                }) - baseline;
            }

            double mean = increases.Average();
            double sd = permutations > 1 ? Math.Sqrt(increases.Sum(v => (v - mean) * (v - mean)) / (permutations - 1)) : 0;
            return new RecurrentImportance(index, firstStep, stepCount, mean, sd);
        }

        var features = new RecurrentImportance[f];
        for (int k = 0; k < f; k++)
        {
            int feature = k;
            features[k] = Measure(k, 0, -1, (_, j) => j == feature);
        }

        var steps = new RecurrentImportance[windows];
        for (int w = 0; w < windows; w++)
        {
            int first = w * window, count = Math.Min(window, maxSteps - first);
            steps[w] = Measure(w, first, count, (t, _) => t >= first && t < first + count);
        }

        return new RecurrentFeatureImportance(lossName, baseline, n, features, steps);
    }

    private static double MeanLoss(RecurrentModel model, SequencePredictor predictor, float[][] sequences, float[] labels, Action<int, float[]>? permute)
    {
        var losses = new double[sequences.Length];
        int outputs = model.Spec.OutputSize;
        Parallel.For(0, sequences.Length, () => (X: new float[sequences.Max(s => s.Length)], Y: new float[outputs]), (i, _, buffers) =>
        {
            var x = buffers.X.AsSpan(0, sequences[i].Length);
            sequences[i].CopyTo(x);
            if (permute is not null)
            {
                var copy = x.ToArray();
                permute(i, copy);
                copy.CopyTo(x);
            }

            predictor.Predict(x, buffers.Y);
            losses[i] = Loss(model.Kind, buffers.Y, labels[i]);
            return buffers;
        }, _ => { });
        double sum = 0;
        foreach (double l in losses) sum += l;
        return sum / sequences.Length;
    }

    private static double Loss(PredictionKind kind, float[] y, float label)
    {
        switch (kind)
        {
            case PredictionKind.Regression:
                double d = y[0] - label;
                return d * d;
            case PredictionKind.BinaryClassification:
                double z = y[0];
                return Math.Max(z, 0) - z * label + Math.Log(1 + Math.Exp(-Math.Abs(z)));
            default:
                double max = y.Max();
                double sum = 0;
                foreach (float v in y) sum += Math.Exp(v - max);
                return -(y[(int)label] - max - Math.Log(sum));
        }
    }

    /// <summary>Every row's feature values (token ids as floats) and its label (class index for multiclass).</summary>
    private static (float[][] Sequences, float[] Labels) Read(RecurrentModel model, IDataView data, string labelColumnName)
    {
        string featureName = model.FeatureColumnName;
        var fcol = data.Schema.GetColumnOrNull(featureName)
            ?? throw new ArgumentOutOfRangeException(nameof(data), $"Feature column '{featureName}' was not found in the data.");
        var lcol = data.Schema.GetColumnOrNull(labelColumnName)
            ?? throw new ArgumentOutOfRangeException(nameof(data), $"Label column '{labelColumnName}' was not found in the data.");
        bool tokens = model.UsesTokens;
        var itemType = (fcol.Type as VectorDataViewType)?.ItemType;
        if (tokens ? itemType is not KeyDataViewType { RawType: var r } || r != typeof(uint) : itemType != NumberDataViewType.Single)
            throw new ArgumentOutOfRangeException(nameof(data),
                $"Feature column '{featureName}' has the wrong type: expected {(tokens ? "a vector of UInt32 keys" : "a vector of Single")}, found {fcol.Type}.");
        bool labelOk = model.Kind switch
        {
            PredictionKind.Regression => lcol.Type == NumberDataViewType.Single,
            PredictionKind.BinaryClassification => lcol.Type == BooleanDataViewType.Instance,
            _ => lcol.Type is KeyDataViewType key && key.RawType == typeof(uint) && key.Count == (ulong)model.Spec.OutputSize,
        };
        if (!labelOk)
            throw new ArgumentOutOfRangeException(nameof(labelColumnName),
                $"Label column '{labelColumnName}' has the wrong type for this {model.Kind} model: found {lcol.Type}.");

        var sequences = new List<float[]>();
        var labels = new List<float>();
        using var cursor = data.GetRowCursor(new[] { fcol, lcol });
        var denseGetter = tokens ? null : cursor.GetGetter<VBuffer<float>>(fcol);
        var tokenGetter = tokens ? cursor.GetGetter<VBuffer<uint>>(fcol) : null;
        ValueGetter<float>? floatLabel = model.Kind == PredictionKind.Regression ? cursor.GetGetter<float>(lcol) : null;
        ValueGetter<bool>? boolLabel = model.Kind == PredictionKind.BinaryClassification ? cursor.GetGetter<bool>(lcol) : null;
        ValueGetter<uint>? keyLabel = model.Kind == PredictionKind.MulticlassClassification ? cursor.GetGetter<uint>(lcol) : null;
        VBuffer<float> dense = default;
        VBuffer<uint> ids = default;
        int f = model.FeaturesPerStep;
        while (cursor.MoveNext())
        {
            long row = cursor.Position;
            float[] x;
            if (tokens)
            {
                tokenGetter!(ref ids);
                x = new float[ids.Length];
                foreach (var (i, v) in ids.Items())
                {
                    if (v >= model.Spec.VocabularySize)
                        throw new InvalidOperationException($"Row {row}: feature column '{featureName}' holds key {v}, outside the model's vocabulary 0..{model.Spec.VocabularySize - 1}.");
                    x[i] = v;
                }
            }
            else
            {
                denseGetter!(ref dense);
                x = new float[dense.Length];
                dense.CopyTo(x);
                if (!Array.TrueForAll(x, float.IsFinite))
                    throw new InvalidOperationException($"Row {row}: feature column '{featureName}' holds a non-finite value.");
            }

            if (x.Length == 0 || x.Length % f != 0)
                throw new InvalidOperationException($"Row {row}: feature column '{featureName}' has {x.Length} values; expected a positive multiple of {f}.");
            float y = 0;
            if (floatLabel is not null)
            {
                floatLabel(ref y);
                if (!float.IsFinite(y)) throw new InvalidOperationException($"Row {row}: label column '{labelColumnName}' is {y}.");
            }
            else if (boolLabel is not null)
            {
                bool b = false;
                boolLabel(ref b);
                y = b ? 1 : 0;
            }
            else
            {
                uint k = 0;
                keyLabel!(ref k);
                if (k == 0) throw new InvalidOperationException($"Row {row}: label column '{labelColumnName}' is missing (key 0).");
                y = k - 1;
            }

            sequences.Add(x);
            labels.Add(y);
        }

        return (sequences.ToArray(), labels.ToArray());
    }
}
