namespace Microsoft.ML.Recurrent.Engine;

/// <summary>
/// A mini-batch of sequences in the engine's layout: time-major, zero-padded, rows sorted by length
/// (longest first) so that at step t the active sequences are rows [0, ActiveAt(t)).
/// Buffers are sized for a capacity and reused across batches (no allocation in the training loop).
/// </summary>
internal sealed class SequenceBatch
{
    public SequenceBatch(int capacityBatch, int capacityLength, int inputSize, int targetWidth)
    {
        if (capacityBatch < 1) throw new ArgumentOutOfRangeException(nameof(capacityBatch));
        if (capacityLength < 1) throw new ArgumentOutOfRangeException(nameof(capacityLength));
        if (inputSize < 1) throw new ArgumentOutOfRangeException(nameof(inputSize));
        CapacityBatch = capacityBatch;
        CapacityLength = capacityLength;
        InputSize = inputSize;
        TargetWidth = targetWidth;
        Inputs = new float[(long)capacityBatch * capacityLength * inputSize];
        Lengths = new int[capacityBatch];
        Order = new int[capacityBatch];
        Targets = new float[(long)capacityBatch * capacityLength * Math.Max(targetWidth, 1)];
        Weights = new float[capacityBatch];
        _active = new int[capacityLength];
    }

    private readonly int[] _active;

    public int CapacityBatch { get; }
    public int CapacityLength { get; }

    /// <summary>Features per step F (1 for token ids).</summary>
    public int InputSize { get; }

    /// <summary>Target values per row (or per step): O for MSE/BCE, 1 (a class index) for softmax cross-entropy.</summary>
    public int TargetWidth { get; }

    /// <summary>Sequences in this batch, B.</summary>
    public int Count { get; private set; }

    /// <summary>Longest sequence, T = Lengths[0].</summary>
    public int MaxLength { get; private set; }

    /// <summary>(T, B, F) time-major: element [t, b, f] at (t · B + b) · F + f; zero where t ≥ Lengths[b]. Token ids are stored as floats.</summary>
    public float[] Inputs { get; }

    /// <summary>(B), non-increasing, each ≥ 1.</summary>
    public int[] Lengths { get; }

    /// <summary>(B): the caller's index of each row.</summary>
    public int[] Order { get; }

    /// <summary>Many-to-one: (B, TargetWidth). Every-step: (T, B, TargetWidth), time-major like the inputs.</summary>
    public float[] Targets { get; }

    /// <summary>(B): each row's example weight, in row (sorted) order; meaningful only when <see cref="HasWeights"/>.</summary>
    public float[] Weights { get; }

    /// <summary>Whether the last fill carried example weights (otherwise every row weighs 1).</summary>
    public bool HasWeights { get; private set; }

    /// <summary>Optional initial hidden state (L · directions, B, H), PyTorch's h_0; null = zeros.</summary>
    public float[]? InitialHidden { get; set; }

    /// <summary>Optional initial LSTM cell state (L · directions, B, H), PyTorch's c_0; null = zeros.</summary>
    public float[]? InitialCell { get; set; }

    /// <summary>Active rows at step t: the number of sequences longer than t.</summary>
    public int ActiveAt(int t) => _active[t];

    /// <summary>Fills a batch of one sequence (T · F values) without targets: the inference path, no allocation.</summary>
    public void FillSingle(ReadOnlySpan<float> sequence)
    {
        int len = sequence.Length;
        if (len == 0 || len % InputSize != 0)
            throw new ArgumentException($"The sequence has {len} values, which is not a positive multiple of {InputSize} features per step.");
        int steps = len / InputSize;
        if (steps > CapacityLength) throw new ArgumentException($"The sequence has {steps} steps, more than the batch capacity {CapacityLength}.");
        Count = 1;
        HasWeights = false;
        Order[0] = 0;
        Lengths[0] = steps;
        MaxLength = steps;
        sequence.CopyTo(Inputs);
        _active.AsSpan(0, steps).Fill(1);
    }

    /// <summary>
    /// Fills the batch from sequences given in any order. Each source is a flat (T_i · F) time-major array;
    /// targets are (TargetWidth) per sequence, or (T_i · TargetWidth) per sequence when <paramref name="perStepTargets"/>.
    /// Rows are sorted by length (stable, longest first); <see cref="Order"/> records the source index of each row.
    /// </summary>
    public void Fill(int count, Func<int, ReadOnlyMemory<float>> sequence, Func<int, ReadOnlyMemory<float>>? target, bool perStepTargets) =>
        FillCore(count, new DelegateSource(sequence, target), perStepTargets);

    /// <summary>Fills the batch with the dataset's sequences at <paramref name="indices"/> (no allocation).</summary>
    public void Fill(Training.SequenceDataset data, ReadOnlySpan<int> indices) =>
        FillCore(indices.Length, new DatasetSource(data, indices), data.PerStepTargets);

    /// <summary>Fills the batch from any source of sequences, targets and (optionally) example weights.</summary>
    public void Fill<TSource>(int count, TSource source, bool perStepTargets) where TSource : ISource, allows ref struct =>
        FillCore(count, source, perStepTargets);

    /// <summary>Where a fill reads sequence i (T_i · F values), its targets and its example weight.</summary>
    internal interface ISource
    {
        ReadOnlySpan<float> Sequence(int i);
        bool HasTargets { get; }
        ReadOnlySpan<float> Target(int i);
        bool HasWeights { get; }
        float Weight(int i);
    }

    private readonly struct DelegateSource(Func<int, ReadOnlyMemory<float>> sequence, Func<int, ReadOnlyMemory<float>>? target) : ISource
    {
        public ReadOnlySpan<float> Sequence(int i) => sequence(i).Span;
        public bool HasTargets => target is not null;
        public ReadOnlySpan<float> Target(int i) => target!(i).Span;
        public bool HasWeights => false;
        public float Weight(int i) => 1f;
    }

    private readonly ref struct DatasetSource(Training.SequenceDataset data, ReadOnlySpan<int> indices) : ISource
    {
        private readonly ReadOnlySpan<int> _indices = indices;
        public ReadOnlySpan<float> Sequence(int i) => data.Features(_indices[i]);
        public bool HasTargets => true;
        public ReadOnlySpan<float> Target(int i) => data.Target(_indices[i]);
        public bool HasWeights => data.HasWeights;
        public float Weight(int i) => data.Weight(_indices[i]);
    }

    private void FillCore<TSource>(int count, TSource source, bool perStepTargets) where TSource : ISource, allows ref struct
    {
        if (count < 1 || count > CapacityBatch) throw new ArgumentOutOfRangeException(nameof(count), $"Batch size must be in [1, {CapacityBatch}], was {count}.");
        Count = count;
        for (int i = 0; i < count; i++)
        {
            int len = source.Sequence(i).Length;
            if (len == 0 || len % InputSize != 0)
                throw new ArgumentException($"Sequence {i} has {len} values, which is not a positive multiple of {InputSize} features per step.");
            Order[i] = i;
            Lengths[i] = len / InputSize;
            if (Lengths[i] > CapacityLength) throw new ArgumentException($"Sequence {i} has {Lengths[i]} steps, more than the batch capacity {CapacityLength}.");
        }

        // Stable insertion sort by length, longest first (batches are small).
        for (int i = 1; i < count; i++)
        {
            int o = Order[i], l = Lengths[i], j = i - 1;
            while (j >= 0 && Lengths[j] < l) { Order[j + 1] = Order[j]; Lengths[j + 1] = Lengths[j]; j--; }
            Order[j + 1] = o; Lengths[j + 1] = l;
        }

        MaxLength = Lengths[0];
        HasWeights = source.HasWeights;
        if (HasWeights)
        {
            for (int row = 0; row < count; row++) Weights[row] = source.Weight(Order[row]);
        }

        int b = count, f = InputSize, w = TargetWidth;
        Inputs.AsSpan(0, MaxLength * b * f).Clear();
        if (w > 0) Targets.AsSpan(0, (perStepTargets ? MaxLength : 1) * b * w).Clear();
        for (int row = 0; row < count; row++)
        {
            var src = source.Sequence(Order[row]);
            for (int t = 0; t < Lengths[row]; t++)
                src.Slice(t * f, f).CopyTo(Inputs.AsSpan((t * b + row) * f, f));
            if (!source.HasTargets || w == 0) continue;
            var tgt = source.Target(Order[row]);
            if (perStepTargets)
            {
                if (tgt.Length != Lengths[row] * w) throw new ArgumentException($"Sequence {Order[row]} has {tgt.Length} target values, expected {Lengths[row] * w} ({Lengths[row]} steps × {w}).");
                for (int t = 0; t < Lengths[row]; t++)
                    tgt.Slice(t * w, w).CopyTo(Targets.AsSpan((t * b + row) * w, w));
            }
            else
            {
                if (tgt.Length != w) throw new ArgumentException($"Sequence {Order[row]} has {tgt.Length} target values, expected {w}.");
                tgt.CopyTo(Targets.AsSpan(row * w, w));
            }
        }

        int active = count;
        for (int t = 0; t < MaxLength; t++)
        {
            while (active > 0 && Lengths[active - 1] <= t) active--;
            _active[t] = active;
        }
    }
}
