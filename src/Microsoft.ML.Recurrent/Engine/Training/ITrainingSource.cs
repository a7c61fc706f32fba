namespace Microsoft.ML.Recurrent.Engine.Training;

/// <summary>
/// Where the training loop gets its sequences: the in-memory <see cref="SequenceDataset"/>, or a source that streams
/// them from storage a window at a time (the ML.NET layer's streaming reader). Either way the loop sees a series of
/// filled mini-batches.
/// </summary>
internal interface ITrainingSource
{
    /// <summary>Features per step F (1 for token ids).</summary>
    int InputSize { get; }

    /// <summary>Target values per row (or per step with <see cref="PerStepTargets"/>).</summary>
    int TargetWidth { get; }

    /// <summary>Whether targets are per step (every-step output) rather than per sequence.</summary>
    bool PerStepTargets { get; }

    /// <summary>Number of sequences.</summary>
    int Count { get; }

    /// <summary>Longest sequence in steps.</summary>
    int MaxLength { get; }

    /// <summary>
    /// One epoch of training batches: each step of the enumeration has filled <paramref name="batch"/> with the next
    /// mini-batch (at most <paramref name="batchSize"/> sequences) and yields its size. Sequences are shuffled (when
    /// <paramref name="shuffle"/>), grouped by length in windows of <paramref name="bucketWindow"/> batches, and the
    /// batches of a window come in random order; every random draw comes from <paramref name="random"/>.
    /// </summary>
    IEnumerable<int> Epoch(SequenceBatch batch, int batchSize, int bucketWindow, Random random, bool shuffle, CancellationToken cancellation);

    /// <summary>Every sequence once, in data order, in batches of the batch's capacity (evaluation).</summary>
    IEnumerable<int> InOrder(SequenceBatch batch, CancellationToken cancellation);
}
