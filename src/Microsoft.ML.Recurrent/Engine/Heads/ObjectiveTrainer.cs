using System.Diagnostics;
using Microsoft.ML.Recurrent.Engine.Optimizers;
using Microsoft.ML.Recurrent.Engine.Training;

namespace Microsoft.ML.Recurrent.Engine.Heads;

/// <summary>
/// What sits on top of a network's forward output during training: a loss (and possibly layers with parameters of
/// their own, held outside the network's flat buffer) that turns the outputs into a mean loss and d(loss)/d(outputs).
/// </summary>
internal interface ISequenceObjective
{
    /// <summary>Parameters the objective owns (CRF transitions, attention query, a pooled head); 0 for none.</summary>
    int ParameterCount { get; }

    /// <summary>Seeded initial values of the objective's parameters.</summary>
    void Initialize(Span<float> parameters, Random random);

    /// <summary>
    /// Mean loss of <paramref name="batch"/> given the network's <paramref name="outputs"/>; writes d(loss)/d(outputs)
    /// into <paramref name="dOutputs"/> (zero on padding) and adds d(loss)/d(parameters) into <paramref name="dParameters"/>.
    /// </summary>
    double Compute(ReadOnlySpan<float> outputs, SequenceBatch batch, ReadOnlySpan<float> parameters, Span<float> dParameters, Span<float> dOutputs);
}

/// <summary>Per-step loss through the network's own every-step head (a tagger without a CRF).</summary>
internal sealed class StepLossObjective(LossKind loss, int outputSize) : ISequenceObjective
{
    public int ParameterCount => 0;

    public void Initialize(Span<float> parameters, Random random)
    {
    }

    public double Compute(ReadOnlySpan<float> outputs, SequenceBatch batch, ReadOnlySpan<float> parameters, Span<float> dParameters, Span<float> dOutputs) =>
        Loss.Compute(loss, outputs, batch, OutputMode.EveryStep, outputSize, dOutputs);
}

/// <summary>CRF negative log-likelihood over the every-step head's emissions, averaged over the valid steps.</summary>
internal sealed class CrfObjective(int classes) : ISequenceObjective
{
    private readonly LinearChainCrf _crf = new(classes);
    private int[] _tags = [];

    public int ParameterCount => _crf.ParameterCount;

    public void Initialize(Span<float> parameters, Random random) => parameters.Clear();

    public double Compute(ReadOnlySpan<float> outputs, SequenceBatch batch, ReadOnlySpan<float> parameters, Span<float> dParameters, Span<float> dOutputs)
    {
        int B = batch.Count, T = batch.MaxLength, K = _crf.Classes;
        dOutputs.Slice(0, T * B * K).Clear();
        long steps = 0;
        for (int r = 0; r < B; r++) steps += batch.Lengths[r];
        double scale = 1.0 / steps, total = 0;
        if (_tags.Length < T) _tags = new int[T];
        for (int r = 0; r < B; r++)
        {
            int len = batch.Lengths[r];
            for (int t = 0; t < len; t++)
            {
                float c = batch.Targets[t * B + r];
                int cls = (int)c;
                if (cls != c || cls < 0 || cls >= K)
                    throw new ArgumentException($"Class index {c} of sequence {batch.Order[r]} at step {t} is outside [0, {K}).");
                _tags[t] = cls;
            }

            total += _crf.NegativeLogLikelihood(outputs, B, r, len, _tags.AsSpan(0, len), parameters, dOutputs, dParameters, scale);
        }

        return total * scale;
    }
}

/// <summary>
/// Pooling (last, mean, max or attention) of the top layer's per-step outputs, then a dense head (O, D) + (O) and a
/// many-to-one loss on it. Parameters: [attention query (D)] then W (O, D), b (O).
/// </summary>
internal sealed class PooledObjective : ISequenceObjective
{
    private readonly SequencePooling _pooling;
    private readonly LossKind _loss;
    private readonly int _width, _outputs;
    private float[] _y = [], _dy = [], _dPooled = [];

    public PooledObjective(PoolingKind pooling, int hidden, int directions, LossKind loss, int outputs)
    {
        _pooling = new SequencePooling(pooling, hidden, directions);
        _loss = loss;
        _width = hidden * directions;
        _outputs = outputs;
    }

    public SequencePooling Pooling => _pooling;

    public int ParameterCount => _pooling.ParameterCount + _outputs * _width + _outputs;

    public void Initialize(Span<float> parameters, Random random)
    {
        parameters.Clear();
        var w = parameters.Slice(_pooling.ParameterCount, _outputs * _width);
        float a = MathF.Sqrt(6f / (_width + _outputs));
        for (int i = 0; i < w.Length; i++) w[i] = (float)((random.NextDouble() * 2 - 1) * a);
    }

    public double Compute(ReadOnlySpan<float> outputs, SequenceBatch batch, ReadOnlySpan<float> parameters, Span<float> dParameters, Span<float> dOutputs)
    {
        int B = batch.Count, T = batch.MaxLength, D = _width, O = _outputs, q = _pooling.ParameterCount;
        var query = parameters.Slice(0, q);
        var w = parameters.Slice(q, O * D);
        var b = parameters.Slice(q + O * D, O);
        var pooled = _pooling.Forward(outputs, B, T, batch.Lengths, query);
        if (_y.Length < B * O) { _y = new float[B * O]; _dy = new float[B * O]; }
        if (_dPooled.Length < B * D) _dPooled = new float[B * D];
        for (int r = 0; r < B; r++)
        {
            for (int o = 0; o < O; o++)
            {
                double s = b[o];
                for (int j = 0; j < D; j++) s += (double)w[o * D + j] * pooled[r * D + j];
                _y[r * O + o] = (float)s;
            }
        }

        double loss = Loss.Compute(_loss, _y.AsSpan(0, B * O), batch, OutputMode.LastHidden, O, _dy);
        var dw = dParameters.Slice(q, O * D);
        var db = dParameters.Slice(q + O * D, O);
        var dPooled = _dPooled.AsSpan(0, B * D);
        dPooled.Clear();
        for (int r = 0; r < B; r++)
        {
            for (int o = 0; o < O; o++)
            {
                float g = _dy[r * O + o];
                db[o] += g;
                for (int j = 0; j < D; j++)
                {
                    dw[o * D + j] += g * pooled[r * D + j];
                    dPooled[r * D + j] += g * w[o * D + j];
                }
            }
        }

        _pooling.Backward(outputs, dPooled, B, T, batch.Lengths, query, dOutputs, dParameters.Slice(0, q));
        return loss;
    }
}

/// <summary>
/// Self-supervised objective for an encoder without a label: the forward direction's state at step t predicts step
/// t + 1, the reverse direction's (when bidirectional) predicts step t − 1 — each direction only ever sees the past of
/// what it predicts. Dense input: the next step's F (standardised) features, mean squared error. Tokens: the next token
/// among the V ids, softmax cross-entropy. Parameters per direction: W (O, H), b (O), O = F or V. The targets are read
/// from <see cref="SequenceBatch.Targets"/>, which must hold the unmasked inputs per step (width F, or 1 id).
/// </summary>
internal sealed class NextStepObjective : ISequenceObjective
{
    private readonly int _hidden, _directions, _outputs;
    private readonly bool _tokens;
    private double[] _y = [];

    public NextStepObjective(int hidden, int directions, int featuresPerStep, int vocabularySize)
    {
        _hidden = hidden;
        _directions = directions;
        _tokens = vocabularySize > 0;
        _outputs = _tokens ? vocabularySize : featuresPerStep;
    }

    public int ParameterCount => _directions * (_outputs * _hidden + _outputs);

    public void Initialize(Span<float> parameters, Random random)
    {
        parameters.Clear();
        float a = MathF.Sqrt(6f / (_hidden + _outputs));
        for (int d = 0; d < _directions; d++)
        {
            var w = parameters.Slice(d * (_outputs * _hidden + _outputs), _outputs * _hidden);
            for (int i = 0; i < w.Length; i++) w[i] = (float)((random.NextDouble() * 2 - 1) * a);
        }
    }

    public double Compute(ReadOnlySpan<float> outputs, SequenceBatch batch, ReadOnlySpan<float> parameters, Span<float> dParameters, Span<float> dOutputs)
    {
        int B = batch.Count, T = batch.MaxLength, H = _hidden, D = H * _directions, O = _outputs;
        int tw = batch.TargetWidth;
        dOutputs.Slice(0, T * B * D).Clear();
        if (_y.Length < O) _y = new double[O];
        long predictions = 0;
        for (int r = 0; r < B; r++) predictions += _directions * (long)(batch.Lengths[r] - 1);
        if (predictions == 0) return 0;
        double scale = 1.0 / (predictions * (_tokens ? 1 : O)), total = 0;
        for (int d = 0; d < _directions; d++)
        {
            int stride = O * H + O;
            var w = parameters.Slice(d * stride, O * H);
            var b = parameters.Slice(d * stride + O * H, O);
            var dw = dParameters.Slice(d * stride, O * H);
            var db = dParameters.Slice(d * stride + O * H, O);
            for (int r = 0; r < B; r++)
            {
                int len = batch.Lengths[r];
                for (int t = 0; t < len; t++)
                {
                    int target = d == 0 ? t + 1 : t - 1;
                    if (target < 0 || target >= len) continue;
                    var h = outputs.Slice((t * B + r) * D + d * H, H);
                    var dh = dOutputs.Slice((t * B + r) * D + d * H, H);
                    var goal = batch.Targets.AsSpan((target * B + r) * tw, tw);
                    for (int o = 0; o < O; o++)
                    {
                        double s = b[o];
                        var wo = w.Slice(o * H, H);
                        for (int j = 0; j < H; j++) s += (double)wo[j] * h[j];
                        _y[o] = s;
                    }

                    if (_tokens)
                    {
                        int cls = (int)goal[0];
                        double max = double.NegativeInfinity;
                        for (int o = 0; o < O; o++) max = Math.Max(max, _y[o]);
                        double sum = 0;
                        for (int o = 0; o < O; o++) sum += Math.Exp(_y[o] - max);
                        double logSum = max + Math.Log(sum);
                        total += logSum - _y[cls];
                        for (int o = 0; o < O; o++) _y[o] = (Math.Exp(_y[o] - logSum) - (o == cls ? 1 : 0)) * scale;
                    }
                    else
                    {
                        for (int o = 0; o < O; o++)
                        {
                            double diff = _y[o] - goal[o];
                            total += diff * diff;
                            _y[o] = 2 * diff * scale;
                        }
                    }

                    for (int o = 0; o < O; o++)
                    {
                        float g = (float)_y[o];
                        if (g == 0f) continue;
                        db[o] += g;
                        var wo = w.Slice(o * H, H);
                        var dwo = dw.Slice(o * H, H);
                        for (int j = 0; j < H; j++)
                        {
                            dwo[j] += g * h[j];
                            dh[j] += g * wo[j];
                        }
                    }
                }
            }
        }

        return total * scale;
    }
}

/// <summary>
/// The training loop for a network topped by an <see cref="ISequenceObjective"/> (same structure as
/// <see cref="SequenceTrainer"/>: seeded initialisation, length-bucketed shuffled batches, forward, loss, backward,
/// joint global-norm clipping of the network's and the objective's gradients, optimizer step, validation with early
/// stopping that keeps the best epoch). Token input: each valid training token is replaced by id 0 (unknown) with
/// probability <c>unknownTokenRate</c>, so the unknown-token embedding (row 0) learns a meaningful vector.
/// </summary>
internal static class ObjectiveTrainer
{
    private const int BucketWindow = 50;

    internal sealed record Result(float[] Parameters, float[] ObjectiveParameters, IReadOnlyList<EpochReport> History, int BestEpoch);

    public static Result Train(TrainerSettings s, ISequenceObjective objective, float unknownTokenRate, SequenceDataset train,
        SequenceDataset? validation, Action<EpochReport>? progress, CancellationToken cancellation)
    {
        var spec = s.Spec;
        spec.Validate();
        if (train.Count == 0) throw new ArgumentException("The training set has no sequences.", nameof(train));
        if (validation is not null && validation.Count == 0) validation = null;
        var layout = new ParameterLayout(spec);
        var parameters = new float[layout.Count];
        Initializer.Initialize(layout, parameters, s.Seed);
        var extra = new float[objective.ParameterCount];
        var dExtra = new float[extra.Length];
        var random = new Random(unchecked(s.Seed * 31 + 17));
        objective.Initialize(extra, new Random(unchecked(s.Seed * 131 + 7)));

        int capB = Math.Min(s.BatchSize, Math.Max(train.Count, validation?.Count ?? 0));
        int capT = Math.Max(train.MaxLength, validation?.MaxLength ?? 0);
        var network = new RecurrentNetwork(layout, parameters, new float[layout.Count], capB, capT) { Threads = s.Threads };
        var batch = new SequenceBatch(capB, capT, spec.InputSize, train.TargetWidth);
        int outWidth = spec.OutputSize == 0 ? spec.OutputWidth : spec.OutputSize;
        var dOut = new float[capT * capB * outWidth];
        var optimizer = Optimizer.Create(s.Optimizer, layout.Count, s.OptimizerSettings);
        var extraOptimizer = extra.Length > 0 ? Optimizer.Create(s.Optimizer, extra.Length, s.OptimizerSettings) : null;
        var schedule = new LearningRateSchedule(new ScheduleSettings { Kind = s.Schedule, BaseRate = s.LearningRate, TotalEpochs = s.Epochs });
        var order = Enumerable.Range(0, train.Count).ToArray();
        var batchStarts = new List<int>();
        bool tokens = spec.VocabularySize > 0 && unknownTokenRate > 0;

        var history = new List<EpochReport>();
        float[]? best = null, bestExtra = null;
        double bestLoss = double.PositiveInfinity;
        int bestEpoch = 0, sinceBest = 0;
        for (int epoch = 0; epoch < s.Epochs; epoch++)
        {
            cancellation.ThrowIfCancellationRequested();
            float lr = schedule.RateForEpoch(epoch);
            var clock = Stopwatch.StartNew();
            PlanEpoch(train, order, s.BatchSize, random, batchStarts);
            double lossSum = 0;
            float lastNorm = 0;
            int seen = 0;
            for (int k = 0; k < batchStarts.Count; k++)
            {
                cancellation.ThrowIfCancellationRequested();
                int start = batchStarts[k];
                int count = Math.Min(s.BatchSize, train.Count - start);
                batch.Fill(train, order.AsSpan(start, count));
                if (tokens) DropTokens(batch, unknownTokenRate, random);
                Array.Clear(network.Gradients);
                Array.Clear(dExtra);
                var y = network.Forward(batch, training: true, dropoutRandom: random);
                double loss = objective.Compute(y, batch, extra, dExtra, dOut);
                if (!double.IsFinite(loss))
                    throw new InvalidOperationException($"Training diverged: the loss became {loss} in epoch {epoch + 1}, batch {k + 1}. Lower the learning rate (now {lr}) or set a gradient clipping norm.");
                network.Backward(dOut.AsSpan(0, y.Length));
                lastNorm = ClipJointly(network.Gradients, dExtra, s.GradientClipNorm);
                if (!float.IsFinite(lastNorm))
                    throw new InvalidOperationException($"Training diverged: the gradient norm became {lastNorm} in epoch {epoch + 1}, batch {k + 1}. Lower the learning rate (now {lr}) or set a gradient clipping norm.");
                optimizer.Step(parameters, network.Gradients, lr);
                extraOptimizer?.Step(extra, dExtra, lr);
                lossSum += loss * count;
                seen += count;
            }

            double seconds = clock.Elapsed.TotalSeconds;
            double? validLoss = validation is null ? null : MeanLoss(network, objective, extra, batch, dOut, validation);
            var report = new EpochReport(epoch + 1, lossSum / seen, validLoss, null, seen / Math.Max(seconds, 1e-9), lr, lastNorm);
            history.Add(report);
            progress?.Invoke(report);
            double monitored = validLoss ?? report.TrainLoss;
            schedule.ReportEpoch(epoch, monitored);
            if (validation is not null)
            {
                if (monitored < bestLoss)
                {
                    bestLoss = monitored;
                    bestEpoch = epoch + 1;
                    sinceBest = 0;
                    best = (float[])parameters.Clone();
                    bestExtra = (float[])extra.Clone();
                }
                else if (s.EarlyStoppingPatience > 0 && ++sinceBest >= s.EarlyStoppingPatience)
                {
                    break;
                }
            }
            else
            {
                bestEpoch = epoch + 1;
            }
        }

        return new Result(best ?? parameters, bestExtra ?? extra, history, bestEpoch);
    }

    /// <summary>Mean loss of a data set (weighted by sequences), without training.</summary>
    internal static double MeanLoss(RecurrentNetwork network, ISequenceObjective objective, float[] extra, SequenceBatch batch, float[] dOut, SequenceDataset data)
    {
        var indices = new int[batch.CapacityBatch];
        var scratch = new float[extra.Length];
        double sum = 0;
        for (int start = 0; start < data.Count; start += batch.CapacityBatch)
        {
            int count = Math.Min(batch.CapacityBatch, data.Count - start);
            for (int i = 0; i < count; i++) indices[i] = start + i;
            batch.Fill(data, indices.AsSpan(0, count));
            var y = network.Forward(batch);
            sum += objective.Compute(y, batch, extra, scratch, dOut) * count;
        }

        return sum / data.Count;
    }

    /// <summary>Replaces each valid token of the batch by 0 (unknown) with probability <paramref name="rate"/>.</summary>
    internal static void DropTokens(SequenceBatch batch, float rate, Random random)
    {
        int B = batch.Count;
        for (int t = 0; t < batch.MaxLength; t++)
        {
            int active = batch.ActiveAt(t);
            for (int r = 0; r < active; r++)
            {
                if (random.NextSingle() < rate) batch.Inputs[t * B + r] = 0f;
            }
        }
    }

    private static float ClipJointly(float[] a, float[] b, float maxNorm)
    {
        double sq = GradientClipping.SumOfSquares(a) + (b.Length > 0 ? GradientClipping.SumOfSquares(b) : 0);
        float norm = (float)Math.Sqrt(sq);
        if (maxNorm > 0 && float.IsFinite(norm) && norm > maxNorm)
        {
            float f = maxNorm / norm;
            System.Numerics.Tensors.TensorPrimitives.Multiply(a, f, a);
            if (b.Length > 0) System.Numerics.Tensors.TensorPrimitives.Multiply(b, f, b);
        }

        return norm;
    }

    private static void PlanEpoch(SequenceDataset data, int[] order, int batchSize, Random random, List<int> batchStarts)
    {
        random.Shuffle(order);
        int window = batchSize * BucketWindow;
        for (int start = 0; start < order.Length; start += window)
        {
            int len = Math.Min(window, order.Length - start);
            Array.Sort(order, start, len, Comparer<int>.Create((a, b) => data.Length(b).CompareTo(data.Length(a)) is var c && c != 0 ? c : a.CompareTo(b)));
        }

        batchStarts.Clear();
        for (int start = 0; start < order.Length; start += batchSize) batchStarts.Add(start);
        var starts = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(batchStarts);
        random.Shuffle(starts);
    }
}
