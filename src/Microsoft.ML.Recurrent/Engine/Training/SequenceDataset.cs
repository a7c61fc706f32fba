namespace Microsoft.ML.Recurrent.Engine.Training;

/// <summary>
/// Sequences and their targets held in memory for training: each sequence is a flat time-major (T_i · F) array;
/// each target holds <see cref="TargetWidth"/> values, or T_i · TargetWidth values with <see cref="PerStepTargets"/>.
/// </summary>
internal sealed class SequenceDataset
{
    private readonly List<float[]> _features = [];
    private readonly List<float[]> _targets = [];

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
        MaxLength = Math.Max(MaxLength, steps);
    }
}
