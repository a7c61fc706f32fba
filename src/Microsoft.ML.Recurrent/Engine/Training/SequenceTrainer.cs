using System.Diagnostics;
using Microsoft.ML.Recurrent.Engine.Kernels;
using Microsoft.ML.Recurrent.Engine.Optimizers;

namespace Microsoft.ML.Recurrent.Engine.Training;

/// <summary>
/// The engine's training loop: seeded initialisation, length-bucketed shuffled mini-batches, forward, loss,
/// backward, global-norm clipping, optimizer step, per-epoch validation with early stopping that restores
/// the best epoch. Deterministic for a given seed, data and thread count. Buffers are allocated once;
/// the steady-state loop does not allocate.
/// </summary>
internal static class SequenceTrainer
{
    /// <summary>Batches are formed from windows of this many batches sorted by length, to limit padding.</summary>
    internal const int BucketWindow = 50;

    public static TrainingResult Train(TrainerSettings s, ITrainingSource train, ITrainingSource? validation,
        Action<EpochReport>? progress, CancellationToken cancellation)
    {
        s.Validate();
        var spec = s.Spec;
        if (train.Count == 0) throw new ArgumentException("The training set has no sequences.", nameof(train));
        CheckDataset(s, train, nameof(train));
        if (validation is not null && validation.Count > 0) CheckDataset(s, validation, nameof(validation));
        else validation = null;

        var layout = new ParameterLayout(spec);
        var parameters = new float[layout.Count];
        Initializer.Initialize(layout, parameters, s.Seed);
        int capB = Math.Min(s.BatchSize, Math.Max(train.Count, validation?.Count ?? 0));
        int capT = Math.Max(train.MaxLength, validation?.MaxLength ?? 0);
        var network = new RecurrentNetwork(layout, parameters, new float[layout.Count], capB, capT) { Threads = s.Threads };
        bool perStep = spec.Output == OutputMode.EveryStep;
        var batch = new SequenceBatch(capB, capT, spec.InputSize, s.TargetWidth);
        var dOut = new float[(perStep ? capT : 1) * capB * spec.OutputSize];
        var optimizer = Optimizer.Create(s.Optimizer, layout.Count, s.OptimizerSettings);
        var schedule = new LearningRateSchedule(new ScheduleSettings { Kind = s.Schedule, BaseRate = s.LearningRate, TotalEpochs = s.Epochs });
        var random = new Random(unchecked(s.Seed * 31 + 17));
        // Its own stream, so that a rate of 0 leaves shuffling and dropout exactly as they were.
        var tokenRandom = spec.VocabularySize > 0 && s.UnknownTokenRate > 0 ? new Random(unchecked(s.Seed * 53 + 29)) : null;
        var order = train is SequenceDataset ? Enumerable.Range(0, train.Count).ToArray() : [];
        var batchStarts = new List<int>();

        var history = new List<EpochReport>();
        float[]? best = null;
        double bestLoss = double.PositiveInfinity;
        int bestEpoch = 0, sinceBest = 0;

        // Budget hooks and resuming (issue 12): continue a run from its checkpoint instead of the fresh state above.
        int firstEpoch = 0;
        bool earlyStopped = false;
        var checkpoint = s.Checkpoint;
        if (checkpoint is not null)
        {
            if (checkpoint.Broken)
                throw new InvalidOperationException("The training checkpoint is unusable: the run that last used it ended with an exception.");
            if (!checkpoint.IsEmpty)
            {
                CheckCheckpoint(checkpoint, s, layout, order.Length);
                checkpoint.Parameters.AsSpan().CopyTo(parameters);
                network.ParametersChanged(); // the layers' packed weights follow the restored values
                optimizer = checkpoint.Optimizer!;
                schedule = checkpoint.Schedule!;
                random = checkpoint.Random!;
                order = checkpoint.Order!;
                history.AddRange(checkpoint.History);
                best = checkpoint.Best;
                bestLoss = checkpoint.BestLoss;
                bestEpoch = checkpoint.BestEpoch;
                sinceBest = checkpoint.SinceBest;
                firstEpoch = checkpoint.EarlyStopped ? s.Epochs : checkpoint.EpochsDone;
                earlyStopped = checkpoint.EarlyStopped;
            }

            checkpoint.Broken = true; // until this call writes its state back
        }

        var budgetClock = Stopwatch.StartNew();
        int epochsDone = firstEpoch;
        for (int epoch = firstEpoch; epoch < s.Epochs; epoch++)
        {
            cancellation.ThrowIfCancellationRequested();
            float lr = schedule.RateForEpoch(epoch);
            var clock = Stopwatch.StartNew();
            double lossSum = 0, weightSum = 0;
            float lastNorm = 0;
            int seen = 0;
            int k = -1;
            foreach (int count in EpochBatches(s, train, order, batchStarts, batch, random, cancellation))
            {
                k++;
                cancellation.ThrowIfCancellationRequested();
                if (tokenRandom is not null) Heads.ObjectiveTrainer.DropTokens(batch, s.UnknownTokenRate, tokenRandom);
                Array.Clear(network.Gradients);
                var y = network.Forward(batch, training: true, dropoutRandom: random);
                float loss = Loss.Compute(s.Loss, y, batch, spec.Output, spec.OutputSize, dOut);
                if (!float.IsFinite(loss))
                    throw new InvalidOperationException($"Training diverged: the loss became {loss} in epoch {epoch + 1}, batch {k + 1}. Lower the learning rate (now {lr}) or set a gradient clipping norm.");
                network.Backward(dOut.AsSpan(0, y.Length));
                lastNorm = GradientClipping.ClipByGlobalNorm(network.Gradients, s.GradientClipNorm);
                if (!float.IsFinite(lastNorm))
                    throw new InvalidOperationException($"Training diverged: the gradient norm became {lastNorm} in epoch {epoch + 1}, batch {k + 1}. Lower the learning rate (now {lr}) or set a gradient clipping norm.");
                optimizer.Step(parameters, network.Gradients, lr);
                double batchWeight = BatchWeight(batch, spec.Output == OutputMode.EveryStep, count);
                lossSum += (double)loss * batchWeight;
                weightSum += batchWeight;
                seen += count;
            }

            double trainLoss = weightSum > 0 ? lossSum / weightSum : 0;
            double seconds = clock.Elapsed.TotalSeconds;
            double? validLoss = null, validAccuracy = null;
            if (validation is not null)
            {
                (validLoss, validAccuracy) = Evaluate(s, network, batch, dOut, validation);
            }

            var report = new EpochReport(epoch + 1, trainLoss, validLoss, validAccuracy, seen / Math.Max(seconds, 1e-9), lr, lastNorm);
            history.Add(report);
            epochsDone = epoch + 1;
            progress?.Invoke(report);
            double monitored = validLoss ?? trainLoss;
            schedule.ReportEpoch(epoch, monitored);
            if (validation is not null)
            {
                if (monitored < bestLoss)
                {
                    bestLoss = monitored;
                    bestEpoch = epoch + 1;
                    sinceBest = 0;
                    best ??= new float[parameters.Length];
                    parameters.CopyTo(best, 0);
                }
                else if (s.EarlyStoppingPatience > 0 && ++sinceBest >= s.EarlyStoppingPatience)
                {
                    earlyStopped = true;
                    break;
                }
            }
            else
            {
                bestEpoch = epoch + 1;
            }

            if (s.ContinueAfterEpoch is { } keepGoing && !keepGoing(report)) break;
            if (s.MaximumTrainingTime is TimeSpan limit && budgetClock.Elapsed >= limit) break;
        }

        if (checkpoint is not null)
        {
            checkpoint.Parameters = (float[])parameters.Clone();
            checkpoint.Optimizer = optimizer;
            checkpoint.Schedule = schedule;
            checkpoint.Random = random;
            checkpoint.Order = order;
            checkpoint.History.Clear();
            checkpoint.History.AddRange(history);
            checkpoint.Best = best is null ? null : (float[])best.Clone();
            checkpoint.BestLoss = bestLoss;
            checkpoint.BestEpoch = bestEpoch;
            checkpoint.SinceBest = sinceBest;
            checkpoint.EpochsDone = epochsDone;
            checkpoint.EarlyStopped = earlyStopped;
            checkpoint.Broken = false;
        }

        return new TrainingResult(best ?? parameters, history, bestEpoch);
    }

    /// <summary>
    /// The batches of one in-memory epoch (<see cref="PlanEpoch"/>, the shuffled order kept across epochs), or those of
    /// a streaming source; each yield has filled <paramref name="batch"/>.
    /// </summary>
    private static IEnumerable<int> EpochBatches(TrainerSettings s, ITrainingSource train, int[] order, List<int> batchStarts,
        SequenceBatch batch, Random random, CancellationToken cancellation)
    {
        if (train is not SequenceDataset data)
        {
            foreach (int count in train.Epoch(batch, s.BatchSize, BucketWindow, random, s.Shuffle, cancellation)) yield return count;
            yield break;
        }

        PlanEpoch(data, order, s.BatchSize, random, batchStarts, s.Shuffle);
        for (int k = 0; k < batchStarts.Count; k++)
        {
            int start = batchStarts[k];
            int count = Math.Min(s.BatchSize, data.Count - start);
            batch.Fill(data, order.AsSpan(start, count));
            yield return count;
        }
    }

    /// <summary>What a batch's mean loss stands for: its rows (or valid steps), each counted with its example weight.</summary>
    private static double BatchWeight(SequenceBatch batch, bool perStep, int count)
    {
        int T = perStep ? batch.MaxLength : 1;
        double w = 0;
        for (int t = 0; t < T; t++)
        {
            int active = perStep ? batch.ActiveAt(t) : count;
            if (!batch.HasWeights) w += active;
            else for (int r = 0; r < active; r++) w += batch.Weights[r];
        }

        return w;
    }

    /// <summary>Issue 12: a checkpoint must come from a run of the same network, optimizer and training set.</summary>
    private static void CheckCheckpoint(TrainingCheckpoint c, TrainerSettings s, ParameterLayout layout, int trainCount)
    {
        if (c.Parameters!.Length != layout.Count)
            throw new ArgumentException($"The checkpoint holds {c.Parameters.Length} parameters; this network has {layout.Count}.", nameof(s));
        if (c.Optimizer!.Kind != s.Optimizer || c.Optimizer.ParameterCount != layout.Count)
            throw new ArgumentException($"The checkpoint's optimizer is {c.Optimizer.Kind} for {c.Optimizer.ParameterCount} parameters; the settings ask for {s.Optimizer} for {layout.Count}.", nameof(s));
        if (c.Order!.Length != trainCount)
            throw new ArgumentException($"The checkpoint was trained on {c.Order.Length} sequences; this training set has {trainCount}.", nameof(s));
    }

    /// <summary>Mean loss (and accuracy for classification) of a dataset, without training.</summary>
    internal static (double Loss, double? Accuracy) Evaluate(TrainerSettings s, RecurrentNetwork network, SequenceBatch batch, float[] dOut, ITrainingSource data)
    {
        var spec = s.Spec;
        bool perStep = spec.Output == OutputMode.EveryStep;
        double sum = 0, weight = 0;
        long correct = 0, total = 0;
        int O = spec.OutputSize;
        foreach (int count in data.InOrder(batch, CancellationToken.None))
        {
            var y = network.Forward(batch);
            float loss = Loss.Compute(s.Loss, y, batch, spec.Output, O, dOut);
            double w = BatchWeight(batch, perStep, count);
            int T = perStep ? batch.MaxLength : 1;
            sum += loss * w;
            weight += w;
            if (s.Loss == LossKind.MeanSquaredError) continue;
            for (int t = 0; t < T; t++)
            {
                int active = perStep ? batch.ActiveAt(t) : count;
                for (int r = 0; r < active; r++)
                {
                    int row = t * count + r;
                    var yr = y.Slice(row * O, O);
                    if (s.Loss == LossKind.BinaryCrossEntropy)
                    {
                        for (int j = 0; j < O; j++, total++)
                            if ((yr[j] > 0) == (batch.Targets[row * O + j] > 0.5f)) correct++;
                    }
                    else
                    {
                        int arg = 0;
                        for (int j = 1; j < O; j++) if (yr[j] > yr[arg]) arg = j;
                        total++;
                        if (arg == (int)batch.Targets[row]) correct++;
                    }
                }
            }
        }

        return (weight > 0 ? sum / weight : 0, total > 0 ? (double)correct / total : null);
    }

    private static void CheckDataset(TrainerSettings s, ITrainingSource source, string name)
    {
        if (source.InputSize != s.Spec.InputSize)
            throw new ArgumentException($"The {name} set has {source.InputSize} features per step; the network expects {s.Spec.InputSize}.", name);
        if (source.TargetWidth != s.TargetWidth)
            throw new ArgumentException($"The {name} set has {source.TargetWidth} target values per row; the loss {s.Loss} needs {s.TargetWidth}.", name);
        if (source.PerStepTargets != (s.Spec.Output == OutputMode.EveryStep))
            throw new ArgumentException($"The {name} set's targets are {(source.PerStepTargets ? "per step" : "per sequence")}, but the network's output mode is {s.Spec.Output}.", name);
        if (source is not SequenceDataset data) return; // a streaming source checks every row as it reads it
        int V = s.Spec.VocabularySize;
        for (int i = 0; i < data.Count; i++)
        {
            if (V > 0)
            {
                foreach (float id in data.Features(i))
                {
                    if (id != MathF.Floor(id) || id < 0 || id >= V)
                        throw new ArgumentException($"Sequence {i} of the {name} set has token id {id}, outside [0, {V}).", name);
                }
            }

            if (s.Loss == LossKind.SoftmaxCrossEntropy)
            {
                foreach (float c in data.Target(i))
                {
                    if (c != MathF.Floor(c) || c < 0 || c >= s.Spec.OutputSize)
                        throw new ArgumentException($"Sequence {i} of the {name} set has class {c}, outside [0, {s.Spec.OutputSize}).", name);
                }
            }
            else if (s.Loss == LossKind.BinaryCrossEntropy)
            {
                foreach (float c in data.Target(i))
                {
                    if (c < 0 || c > 1) throw new ArgumentException($"Sequence {i} of the {name} set has binary target {c}, outside [0, 1].", name);
                }
            }
        }
    }

    /// <summary>
    /// Shuffles the sequence order, sorts windows of <see cref="BucketWindow"/> batches by length (so each
    /// batch holds similar lengths and little padding), then shuffles the order of the batches.
    /// </summary>
    private static void PlanEpoch(SequenceDataset data, int[] order, int batchSize, Random random, List<int> batchStarts, bool shuffle)
    {
        if (shuffle) random.Shuffle(order);
        int window = batchSize * BucketWindow;
        for (int start = 0; start < order.Length; start += window)
        {
            int len = Math.Min(window, order.Length - start);
            Array.Sort(order, start, len, Comparer<int>.Create((a, b) => data.Length(b).CompareTo(data.Length(a)) is var c && c != 0 ? c : a.CompareTo(b)));
        }

        batchStarts.Clear();
        for (int start = 0; start < order.Length; start += batchSize) batchStarts.Add(start);
        var starts = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(batchStarts);
        if (shuffle) random.Shuffle(starts);
    }
}
