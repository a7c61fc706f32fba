using Microsoft.ML.Recurrent.Engine.Optimizers;

namespace Microsoft.ML.Recurrent.Engine.Training;

/// <summary>
/// The whole state of <see cref="SequenceTrainer.Train"/>'s loop between two epochs, kept in memory so that a later call
/// continues the same run instead of restarting it (successive halving trains the best trials longer this way). Pass an
/// empty checkpoint to the first call (<see cref="TrainerSettings.Checkpoint"/>); the loop fills it when it returns, and a
/// later call with the same settings except a larger <see cref="TrainerSettings.Epochs"/> resumes from it. Resuming from
/// epoch k to n gives bit-identical weights to training n epochs in one call: the parameters, the optimizer's moments and
/// step count, the shuffling/dropout random source, the current sequence order, the schedule and the early-stopping
/// bookkeeping all carry over. Not thread-safe: one run uses a checkpoint at a time.
/// </summary>
internal sealed class TrainingCheckpoint
{
    /// <summary>True until a training call has written the state.</summary>
    public bool IsEmpty => Parameters is null;

    /// <summary>Epochs completed so far.</summary>
    public int EpochsDone { get; internal set; }

    /// <summary>True when early stopping ended the run: resuming trains no further epochs.</summary>
    public bool EarlyStopped { get; internal set; }

    /// <summary>Set while a run uses the checkpoint; still set after a run that threw (its state is then half-updated).</summary>
    internal bool Broken;

    internal float[]? Parameters;      // the latest epoch's parameters (not the best epoch's)
    internal Optimizer? Optimizer;
    internal Random? Random;
    internal LearningRateSchedule? Schedule;
    internal int[]? Order;             // the sequence order, shuffled in place every epoch
    internal float[]? Best;            // with validation data: the best epoch's parameters
    internal double BestLoss = double.PositiveInfinity;
    internal int BestEpoch;
    internal int SinceBest;
    internal readonly List<EpochReport> History = [];
}
