using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Engine.Quantized;
using Microsoft.ML.Recurrent.Engine.Training;
using Microsoft.ML.Recurrent.Model;

namespace Microsoft.ML.Recurrent.Serving;

/// <summary>
/// A decoded model ready to score one sequence at a time from any number of threads: the stored model plus the
/// engine's thread-safe <see cref="SequencePredictor"/>. Inputs are validated per row (length a positive multiple of
/// F, finite values, token ids inside the vocabulary) with errors that name the feature column.
/// </summary>
internal sealed class LoadedModel
{
    [ThreadStatic] private static float[]? t_sequence;

    private readonly SequencePredictor _predictor;
    private readonly QuantizedPredictor? _reduced;   // the model's reduced serving precision, when it has one

    public LoadedModel(RecurrentModel model)
    {
        Model = model;
        _predictor = new SequencePredictor(model.Spec, model.Parameters);
        if (model.ServingPrecision != RecurrentServingPrecision.Float32)
            _reduced = new QuantizedPredictor(model.Spec, model.Parameters, model.ServingPrecision, threads: 0); // all cores, as float32 serving
    }

    public RecurrentModel Model { get; }

    /// <summary>The engine's float32 predictor over <see cref="Model"/>'s parameters (benchmarks time it without the row checks);
    /// rows are scored by <see cref="ReducedPredictor"/> instead when the model has a reduced serving precision.</summary>
    public SequencePredictor Predictor => _predictor;

    /// <summary>The reduced-precision predictor that scores the rows; null for a Float32 model.</summary>
    public QuantizedPredictor? ReducedPredictor => _reduced;

    /// <summary>Head outputs per sequence (1, or K for multiclass).</summary>
    public int OutputSize => Model.Spec.OutputSize;

    /// <summary>Runs the network on a dense feature vector (T·F, time-major) and writes <see cref="OutputSize"/> raw outputs.</summary>
    public void ScoreDense(in VBuffer<float> features, Span<float> output)
    {
        if (Model.UsesTokens)
            throw new InvalidOperationException($"The model was trained on key-typed tokens in column '{Model.FeatureColumnName}' but received a vector of Single.");
        int n = features.Length, f = Model.FeaturesPerStep;
        CheckLength(n, f);
        ReadOnlySpan<float> x;
        if (features.IsDense)
        {
            x = features.GetValues();
        }
        else
        {
            var buffer = Scratch(n);
            features.CopyTo(buffer);
            x = buffer.AsSpan(0, n);
        }

        // Vectorised check (≈ 0.08 µs for 1600 values against ≈ 0.5 µs for a scalar loop); the loop only names the culprit.
        if (!TensorPrimitives.IsFiniteAll(x))
        {
            for (int i = 0; i < x.Length; i++)
            {
                if (!float.IsFinite(x[i]))
                    throw new InvalidOperationException(
                        $"Feature column '{Model.FeatureColumnName}' holds {x[i]} at step {i / f}, feature {i % f}; the recurrent model needs finite values.");
            }
        }

        if (_reduced is not null) _reduced.Predict(x, output);
        else _predictor.Predict(x, output);
    }

    /// <summary>Runs the network on a key vector (token ids, key 0 = padding/unknown).</summary>
    public void ScoreTokens(in VBuffer<uint> tokens, Span<float> output)
    {
        if (!Model.UsesTokens)
            throw new InvalidOperationException($"The model was trained on a vector of Single in column '{Model.FeatureColumnName}' but received keys.");
        int n = tokens.Length;
        CheckLength(n, 1);
        var buffer = Scratch(n);
        buffer.AsSpan(0, n).Clear();
        var values = tokens.GetValues();
        var indices = tokens.IsDense ? default : tokens.GetIndices();
        int vocabulary = Model.Spec.VocabularySize;
        for (int i = 0; i < values.Length; i++)
        {
            uint id = values[i];
            int position = tokens.IsDense ? i : indices[i];
            if (id >= vocabulary)
                throw new InvalidOperationException(
                    $"Feature column '{Model.FeatureColumnName}' holds key {id} at step {position}; the model's vocabulary has keys 0..{vocabulary - 1}.");
            buffer[position] = id;
        }

        if (_reduced is not null) _reduced.Predict(buffer.AsSpan(0, n), output);
        else _predictor.Predict(buffer.AsSpan(0, n), output);
    }

    private void CheckLength(int n, int f)
    {
        if (n == 0)
            throw new InvalidOperationException($"Feature column '{Model.FeatureColumnName}' is empty; the recurrent model needs at least one step.");
        if (n % f != 0)
            throw new InvalidOperationException(
                $"Feature column '{Model.FeatureColumnName}' has {n} values, which is not a multiple of the {f} features per step the model was trained with.");
    }

    private static float[] Scratch(int n)
    {
        var b = t_sequence;
        if (b is null || b.Length < n) t_sequence = b = new float[Math.Max(n, 64)];
        return b;
    }
}

/// <summary>
/// Decodes each payload once per process and keeps it as long as the payload string lives. ML.NET hands the mapping the
/// same string instance for every row (before and after a load), so the table is keyed by that instance; a different
/// model is a different string and can never hit an old entry. Payloads that do not wrap a whole string fall back to
/// a small table keyed by content (hash, then full comparison).
/// </summary>
internal static class ModelCache
{
    private static readonly ConditionalWeakTable<string, Lazy<LoadedModel>> s_byInstance = new();
    private static readonly object s_fallbackLock = new();
    private static readonly List<(string Text, Lazy<LoadedModel> Model)> s_byContent = [];
    private const int FallbackCapacity = 8;

    public static LoadedModel Get(ReadOnlyMemory<char> payload)
    {
        if (MemoryMarshal.TryGetString(payload, out string? text, out int start, out int length) && start == 0 && length == text.Length)
            return s_byInstance.GetValue(text, Create).Value;
        return ByContent(payload.Span).Value;
    }

    private static Lazy<LoadedModel> Create(string text) =>
        new(() => new LoadedModel(ModelPayload.Decode(text)), LazyThreadSafetyMode.ExecutionAndPublication);

    private static Lazy<LoadedModel> ByContent(ReadOnlySpan<char> payload)
    {
        lock (s_fallbackLock)
        {
            foreach (var (text, model) in s_byContent)
            {
                if (payload.SequenceEqual(text)) return model;
            }

            if (s_byContent.Count >= FallbackCapacity) s_byContent.RemoveAt(0);
            string copy = payload.ToString();
            var entry = Create(copy);
            s_byContent.Add((copy, entry));
            return entry;
        }
    }
}
