namespace Microsoft.ML.Recurrent.Engine.Training;

/// <summary>
/// Sequences and their targets held in memory for training: each sequence is a flat time-major (T_i · F) array;
/// each target holds <see cref="TargetWidth"/> values, or T_i · TargetWidth values with <see cref="PerStepTargets"/>.
/// </summary>
internal sealed class SequenceDataset : ITrainingSource
{
    private readonly List<float[]> _features = [];
    private readonly List<float[]> _targets = [];
    private List<float>? _weights;

    public SequenceDataset(int inputSize, int targetWidth, bool perStepTargets = false)
    {
        if (inputSize < 1) throw new ArgumentOutOfRangeException(nameof(inputSize), $"Features per step must be ≥ 1, was {inputSize}.");
        if (targetWidth < 0) throw new ArgumentOutOfRangeException(nameof(targetWidth));
        InputSize = inputSize;
        TargetWidth = targetWidth;
        PerStepTargets = perStepTargets;
    }

    public int InputSize { get; }
    public int TargetWidth { get; }
    public bool PerStepTargets { get; }
    public int Count => _features.Count;

    /// <summary>Longest sequence in steps.</summary>
    public int MaxLength { get; private set; }

    public float[] Features(int i) => _features[i];
    public float[] Target(int i) => _targets[i];
    public int Length(int i) => _features[i].Length / InputSize;

    /// <summary>Whether any sequence was added with an example weight.</summary>
    public bool HasWeights => _weights is not null;

    /// <summary>The example weight of sequence <paramref name="i"/> (1 when none was given).</summary>
    public float Weight(int i) => _weights is null ? 1f : _weights[i];

    /// <summary>Adds a sequence with an example weight (finite, ≥ 0): its loss terms count <paramref name="weight"/> times.</summary>
    public void Add(float[] features, float[] target, float weight)
    {
        if (!float.IsFinite(weight) || weight < 0)
            throw new ArgumentException($"Sequence {_features.Count} has example weight {weight}; weights must be finite and ≥ 0.", nameof(weight));
        Add(features, target);
        if (_weights is null)
        {
            _weights = new List<float>(_features.Capacity);
            for (int i = 0; i < _features.Count; i++) _weights.Add(1f);
        }

        _weights[^1] = weight;
    }

    /// <summary>The in-memory epoch plan lives in <see cref="SequenceTrainer"/> (it keeps the shuffled order across epochs).</summary>
    IEnumerable<int> ITrainingSource.Epoch(SequenceBatch batch, int batchSize, int bucketWindow, Random random, bool shuffle, CancellationToken cancellation) =>
        throw new NotSupportedException("SequenceTrainer plans in-memory epochs itself.");

    /// <inheritdoc/>
    public IEnumerable<int> InOrder(SequenceBatch batch, CancellationToken cancellation)
    {
        var indices = new int[batch.CapacityBatch];
        for (int start = 0; start < Count; start += batch.CapacityBatch)
        {
            cancellation.ThrowIfCancellationRequested();
            int count = Math.Min(batch.CapacityBatch, Count - start);
            for (int i = 0; i < count; i++) indices[i] = start + i;
            batch.Fill(this, indices.AsSpan(0, count));
            yield return count;
        }
    }

    /// <summary>Adds a sequence after checking its shape and values (finite, length a positive multiple of F).</summary>
    public void Add(float[] features, float[] target)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(target);
        int index = _features.Count;
        if (features.Length == 0)
            throw new ArgumentException($"Sequence {index} is empty; every sequence needs at least one step.", nameof(features));
        if (features.Length % InputSize != 0)
            throw new ArgumentException($"Sequence {index} has {features.Length} values, which is not a multiple of {InputSize} features per step.", nameof(features));
        for (int j = 0; j < features.Length; j++)
        {
            if (!float.IsFinite(features[j]))
                throw new ArgumentException($"Sequence {index} has a non-finite value ({features[j]}) at step {j / InputSize}, feature {j % InputSize}.", nameof(features));
        }

        int steps = features.Length / InputSize;
        int expected = PerStepTargets ? steps * TargetWidth : TargetWidth;
        if (target.Length != expected)
            throw new ArgumentException($"Sequence {index} has {target.Length} target values, expected {expected}.", nameof(target));
        foreach (float v in target)
        {
            if (!float.IsFinite(v)) throw new ArgumentException($"Sequence {index} has a non-finite target value ({v}).", nameof(target));
        }

        _features.Add(features);
        _targets.Add(target);
        _weights?.Add(1f);
        MaxLength = Math.Max(MaxLength, steps);
    }
}
