using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Engine.Heads;
using Microsoft.ML.Recurrent.Engine.Training;

namespace Microsoft.ML.Recurrent.Sequence;

/// <summary>
/// A decoded tagger or featurizer that scores one sequence at a time from any number of threads: the engine's
/// thread-safe <see cref="SequencePredictor"/> plus per-thread CRF and pooling workspaces. Inputs are validated per row
/// with errors that name the feature column.
/// </summary>
internal sealed class LoadedSequenceModel
{
    private readonly SequencePredictor _predictor;
    private readonly ThreadLocal<Workspace> _work;

    public LoadedSequenceModel(SequenceModel model)
    {
        Model = model;
        _predictor = new SequencePredictor(model.Spec, model.Parameters);
        _work = new ThreadLocal<Workspace>(() => new Workspace(model));
    }

    public SequenceModel Model { get; }

    private sealed class Workspace(SequenceModel model)
    {
        public readonly LinearChainCrf? Crf = model.UseCrf ? new LinearChainCrf(model.Spec.OutputSize) : null;
        public readonly SequencePooling? Pooling = model.Task == SequenceTask.Featurize
            ? new SequencePooling(model.Pooling, model.Spec.HiddenSize, model.Spec.Directions) : null;
        public float[] Input = new float[64];
        public float[] Output = new float[256];
        public int[] Tags = new int[64];
        public readonly int[] Length = new int[1];
    }

    /// <summary>Reads a row's Single features (T·F values) into this thread's workspace after checking them; returns the value count.</summary>
    public int Load(in VBuffer<float> features)
    {
        string column = Model.FeatureColumnName;
        if (Model.UsesTokens)
            throw new InvalidOperationException($"The model was trained on key-typed tokens in column '{column}' but received a vector of Single.");
        int n = features.Length, f = Model.Spec.InputSize;
        Check(n, f);
        var x = Input(n);
        features.CopyTo(x);
        if (!TensorPrimitives.IsFiniteAll<float>(x))
        {
            for (int i = 0; i < n; i++)
            {
                if (!float.IsFinite(x[i]))
                    throw new InvalidOperationException($"Feature column '{column}' holds {x[i]} at step {i / f}, feature {i % f}; the recurrent model needs finite values.");
            }
        }

        return n;
    }

    /// <summary>Reads a row's token keys into this thread's workspace; a key beyond the training vocabulary counts as unknown (id 0).</summary>
    public int Load(in VBuffer<uint> tokens)
    {
        if (!Model.UsesTokens)
            throw new InvalidOperationException($"The model was trained on a vector of Single in column '{Model.FeatureColumnName}' but received keys.");
        int n = tokens.Length;
        Check(n, 1);
        var x = Input(n);
        x.Clear();
        var values = tokens.GetValues();
        var indices = tokens.IsDense ? default : tokens.GetIndices();
        int vocabulary = Model.Spec.VocabularySize;
        for (int i = 0; i < values.Length; i++)
        {
            int position = tokens.IsDense ? i : indices[i];
            x[position] = values[i] < vocabulary ? values[i] : 0;
        }

        return n;
    }

    private Span<float> Input(int n)
    {
        var w = _work.Value!;
        if (w.Input.Length < n) w.Input = new float[Math.Max(n, 2 * w.Input.Length)];
        return w.Input.AsSpan(0, n);
    }

    /// <summary>Runs the network on the <paramref name="n"/> values loaded last on this thread.</summary>
    private (int Steps, float[] Outputs, Workspace Work) Run(int n)
    {
        var w = _work.Value!;
        int steps = n / Model.Spec.InputSize;
        int outLength = _predictor.OutputLength(steps);
        if (w.Output.Length < outLength) w.Output = new float[Math.Max(outLength, 2 * w.Output.Length)];
        _predictor.Predict(w.Input.AsSpan(0, n), w.Output);
        return (steps, w.Output, w);
    }

    private void Check(int n, int f)
    {
        if (n == 0)
            throw new InvalidOperationException($"Feature column '{Model.FeatureColumnName}' is empty; the recurrent model needs at least one step.");
        if (n % f != 0)
            throw new InvalidOperationException(
                $"Feature column '{Model.FeatureColumnName}' has {n} values, which is not a multiple of the {f} features per step the model was trained with.");
    }

    /// <summary>Class tagger: T·K per-step probabilities (time-major) and the T predicted class names.</summary>
    public void TagClasses(int n, ref VBuffer<float> scores, ref VBuffer<ReadOnlyMemory<char>> predicted)
    {
        var (steps, y, w) = Run(n);
        int K = Model.Spec.OutputSize;
        var scoreEditor = VBufferEditor.Create(ref scores, steps * K);
        var labelEditor = VBufferEditor.Create(ref predicted, steps);
        var s = scoreEditor.Values;
        if (w.Tags.Length < steps) w.Tags = new int[Math.Max(steps, 2 * w.Tags.Length)];
        var tags = w.Tags.AsSpan(0, steps);
        if (w.Crf is LinearChainCrf crf)
        {
            crf.Decode(y, 1, 0, steps, Model.ExtraParameters, tags);
            crf.Marginals(y, 1, 0, steps, Model.ExtraParameters, s);
        }
        else
        {
            for (int t = 0; t < steps; t++)
            {
                var logits = y.AsSpan(t * K, K);
                TensorPrimitives.SoftMax(logits, s.Slice(t * K, K));
                tags[t] = TensorPrimitives.IndexOfMax(logits);
            }
        }

        for (int t = 0; t < steps; t++) labelEditor.Values[t] = Model.ClassNames[tags[t]].AsMemory();
        scores = scoreEditor.Commit();
        predicted = labelEditor.Commit();
    }

    /// <summary>Value tagger: one predicted value per step.</summary>
    public void TagValues(int n, ref VBuffer<float> scores)
    {
        var (steps, y, _) = Run(n);
        var editor = VBufferEditor.Create(ref scores, steps);
        y.AsSpan(0, steps).CopyTo(editor.Values);
        scores = editor.Commit();
    }

    /// <summary>Featurizer: the pooled vector (D) and the attention weights (T; empty for other poolings).</summary>
    public void Featurize(int n, ref VBuffer<float> pooled, ref VBuffer<float> weights)
    {
        var (steps, y, w) = Run(n);
        int D = Model.OutputWidth;
        w.Length[0] = steps;
        var p = w.Pooling!.Forward(y.AsSpan(0, steps * D), 1, steps, w.Length, Model.ExtraParameters);
        var editor = VBufferEditor.Create(ref pooled, D);
        p.CopyTo(editor.Values);
        pooled = editor.Commit();
        int count = Model.Pooling == PoolingKind.Attention ? steps : 0;
        var we = VBufferEditor.Create(ref weights, count);
        if (count > 0) w.Pooling.Weights.Slice(0, count).CopyTo(we.Values);
        weights = we.Commit();
    }
}

/// <summary>Decodes each sequence-model payload once per process, keyed by the payload string instance (see Serving/ModelCache).</summary>
internal static class SequenceModelCache
{
    private static readonly ConditionalWeakTable<string, Lazy<LoadedSequenceModel>> s_byInstance = new();
    private static readonly object s_lock = new();
    private static readonly List<(string Text, Lazy<LoadedSequenceModel> Model)> s_byContent = [];

    public static LoadedSequenceModel Get(ReadOnlyMemory<char> payload)
    {
        if (MemoryMarshal.TryGetString(payload, out string? text, out int start, out int length) && start == 0 && length == text.Length)
            return s_byInstance.GetValue(text, Create).Value;
        lock (s_lock)
        {
            foreach (var (t, m) in s_byContent)
                if (payload.Span.SequenceEqual(t)) return m.Value;
            if (s_byContent.Count >= 8) s_byContent.RemoveAt(0);
            string copy = payload.ToString();
            var entry = Create(copy);
            s_byContent.Add((copy, entry));
            return entry.Value;
        }
    }

    private static Lazy<LoadedSequenceModel> Create(string text) =>
        new(() => new LoadedSequenceModel(Decode(text)), LazyThreadSafetyMode.ExecutionAndPublication);

    public static string Encode(SequenceModel model) => Convert.ToBase64String(SequenceModelFormat.Write(model));

    public static SequenceModel Decode(ReadOnlySpan<char> text)
    {
        if (text.IsEmpty)
            throw new InvalidDataException("The recurrent sequence model payload is empty: the model text is missing from this ML.NET model.");
        var bytes = new byte[(int)Math.Min(int.MaxValue, (text.Length / 4L + 1) * 3)];
        if (!Convert.TryFromBase64Chars(text, bytes, out int written))
            throw new InvalidDataException($"The recurrent sequence model payload is invalid: its {text.Length} characters are not valid base64.");
        return SequenceModelFormat.Read(bytes.AsSpan(0, written));
    }
}
