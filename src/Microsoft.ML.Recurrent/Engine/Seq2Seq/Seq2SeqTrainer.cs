using System.Diagnostics;
using Microsoft.ML.Recurrent.Engine.Optimizers;
using Microsoft.ML.Recurrent.Engine.Training;

namespace Microsoft.ML.Recurrent.Engine.Seq2Seq;

/// <summary>A source–target pair: source (T·F values, or token ids) and target keys 1..K (no start or end token).</summary>
internal readonly record struct Seq2SeqExample(float[] Source, int[] Target);

/// <summary>Engine-level training settings of an encoder–decoder.</summary>
internal sealed class Seq2SeqTrainerSettings
{
    public required Seq2SeqSpec Spec { get; init; }
    public int Epochs { get; init; } = 30;
    public int BatchSize { get; init; } = 32;
    public float LearningRate { get; init; } = 5e-3f;
    public float GradientClipNorm { get; init; } = 5f;
    public int Seed { get; init; }
    public int Threads { get; init; }
}

/// <summary>The trained parameters of an encoder–decoder and its per-epoch history.</summary>
internal sealed record Seq2SeqTrainingResult(float[] Encoder, float[] Decoder, float[] Head, IReadOnlyList<EpochReport> History);

/// <summary>
/// Teacher-forced training of a <see cref="Seq2SeqNetwork"/>: seeded initialisation, shuffled mini-batches (sorted by
/// source length inside windows, like <see cref="SequenceTrainer"/>), mean cross-entropy over target tokens and the end
/// token, global-norm clipping over all three parameter buffers, Adam. Deterministic for a seed, data and thread count.
/// </summary>
internal static class Seq2SeqTrainer
{
    public static Seq2SeqTrainingResult Train(Seq2SeqTrainerSettings s, IReadOnlyList<Seq2SeqExample> data, Action<EpochReport>? progress, CancellationToken cancellation)
    {
        var spec = s.Spec;
        spec.Validate();
        if (data.Count == 0) throw new ArgumentException("The training set has no sequences.", nameof(data));
        var encLayout = new ParameterLayout(spec.Encoder);
        var decLayout = new ParameterLayout(spec.Decoder);
        var enc = new float[encLayout.Count];
        var dec = new float[decLayout.Count];
        Initializer.Initialize(encLayout, enc, s.Seed);
        Initializer.Initialize(decLayout, dec, unchecked(s.Seed * 7 + 1));
        var headLayout = new Seq2SeqHeadLayout(spec);
        var head = new float[headLayout.Count];
        headLayout.Initialize(head, unchecked(s.Seed * 7 + 2));

        int F = spec.Encoder.InputSize;
        int maxSrc = 1, maxTgt = 1;
        var decIn = new float[data.Count][];
        var decOut = new float[data.Count][];
        for (int i = 0; i < data.Count; i++)
        {
            var (src, tgt) = data[i];
            maxSrc = Math.Max(maxSrc, src.Length / F);
            maxTgt = Math.Max(maxTgt, tgt.Length + 1);
            decIn[i] = new float[tgt.Length + 1];
            decOut[i] = new float[tgt.Length + 1];
            decIn[i][0] = spec.StartId;
            for (int k = 0; k < tgt.Length; k++)
            {
                decIn[i][k + 1] = tgt[k];
                decOut[i][k] = tgt[k];
            }
            decOut[i][tgt.Length] = 0; // end of sequence
        }

        int capB = Math.Min(s.BatchSize, data.Count);
        var net = new Seq2SeqNetwork(spec, enc, dec, head, training: true, capB, Math.Max(maxSrc, maxTgt)) { Threads = s.Threads };
        var srcBatch = new SequenceBatch(capB, maxSrc, F, 0);
        var tgtBatch = new SequenceBatch(capB, maxTgt, 1, 1);
        var optEnc = Optimizer.Create(OptimizerKind.Adam, enc.Length, new OptimizerSettings());
        var optDec = Optimizer.Create(OptimizerKind.Adam, dec.Length, new OptimizerSettings());
        var optHead = Optimizer.Create(OptimizerKind.Adam, head.Length, new OptimizerSettings());
        var random = new Random(unchecked(s.Seed * 31 + 17));
        var order = Enumerable.Range(0, data.Count).ToArray();
        var current = new int[capB];
        Func<int, ReadOnlyMemory<float>> source = i => data[current[i]].Source;
        Func<int, ReadOnlyMemory<float>> input = i => decIn[current[i]];
        Func<int, ReadOnlyMemory<float>> output = i => decOut[current[i]];
        var history = new List<EpochReport>();
        for (int epoch = 0; epoch < s.Epochs; epoch++)
        {
            cancellation.ThrowIfCancellationRequested();
            var clock = Stopwatch.StartNew();
            random.Shuffle(order);
            int window = s.BatchSize * 50;
            for (int start = 0; start < order.Length; start += window)
            {
                int len = Math.Min(window, order.Length - start);
                Array.Sort(order, start, len, Comparer<int>.Create((a, b) => data[b].Source.Length.CompareTo(data[a].Source.Length) is var c && c != 0 ? c : a.CompareTo(b)));
            }

            var starts = new int[(order.Length + s.BatchSize - 1) / s.BatchSize];
            for (int k = 0; k < starts.Length; k++) starts[k] = k * s.BatchSize;
            random.Shuffle(starts);
            double lossSum = 0;
            int seen = 0;
            float lastNorm = 0;
            for (int k = 0; k < starts.Length; k++)
            {
                cancellation.ThrowIfCancellationRequested();
                int count = Math.Min(s.BatchSize, order.Length - starts[k]);
                order.AsSpan(starts[k], count).CopyTo(current);
                srcBatch.Fill(count, source, null, false);
                tgtBatch.Fill(count, input, output, true);
                net.ZeroGradients();
                float loss = net.Forward(srcBatch, tgtBatch, training: true, dropoutRandom: random);
                if (!float.IsFinite(loss))
                    throw new InvalidOperationException($"Training diverged: the loss became {loss} in epoch {epoch + 1}, batch {k + 1}. Lower the learning rate (now {s.LearningRate}).");
                net.Backward();
                lastNorm = ClipGlobal(s.GradientClipNorm, net.Encoder.Gradients, net.Decoder.Gradients, net.HeadGradients);
                if (!float.IsFinite(lastNorm))
                    throw new InvalidOperationException($"Training diverged: the gradient norm became {lastNorm} in epoch {epoch + 1}, batch {k + 1}. Lower the learning rate (now {s.LearningRate}).");
                optEnc.Step(enc, net.Encoder.Gradients, s.LearningRate);
                optDec.Step(dec, net.Decoder.Gradients, s.LearningRate);
                optHead.Step(head, net.HeadGradients, s.LearningRate);
                lossSum += (double)loss * count;
                seen += count;
            }

            var report = new EpochReport(epoch + 1, lossSum / seen, null, null, seen / Math.Max(clock.Elapsed.TotalSeconds, 1e-9), s.LearningRate, lastNorm);
            history.Add(report);
            progress?.Invoke(report);
        }

        return new Seq2SeqTrainingResult(enc, dec, head, history);
    }

    /// <summary>Scales all gradient buffers together so their joint L2 norm is at most <paramref name="maxNorm"/> (≤ 0: no clipping); returns the norm before.</summary>
    internal static float ClipGlobal(float maxNorm, params float[][] gradients)
    {
        double sum = 0;
        foreach (var g in gradients) sum += GradientClipping.SumOfSquares(g);
        float norm = (float)Math.Sqrt(sum);
        if (maxNorm > 0 && norm > maxNorm && float.IsFinite(norm))
        {
            float scale = maxNorm / norm;
            foreach (var g in gradients) System.Numerics.Tensors.TensorPrimitives.Multiply(g, scale, g);
        }

        return norm;
    }
}
