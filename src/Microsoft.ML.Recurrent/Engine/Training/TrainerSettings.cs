using Microsoft.ML.Recurrent.Engine.Optimizers;

namespace Microsoft.ML.Recurrent.Engine.Training;

/// <summary>Everything the engine's training loop needs; validated by <see cref="Validate"/>.</summary>
internal sealed class TrainerSettings
{
    public required NetworkSpec Spec { get; init; }
    public LossKind Loss { get; init; } = LossKind.MeanSquaredError;
    public int Epochs { get; init; } = 30;
    public int BatchSize { get; init; } = 32;
    public float LearningRate { get; init; } = 2e-3f;
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Adam;
    public OptimizerSettings OptimizerSettings { get; init; } = new();
    /// <summary>Global-norm clipping threshold; ≤ 0 disables clipping.</summary>
    public float GradientClipNorm { get; init; } = 1f;
    public ScheduleKind Schedule { get; init; } = ScheduleKind.Constant;
    /// <summary>Epochs without validation improvement before stopping; 0 disables early stopping.</summary>
    public int EarlyStoppingPatience { get; init; }
    public int Seed { get => _seed; init => _seed = value; }

    private int _seed;

    /// <summary>A copy of every setting with another seed (the members of an ensemble) and, when given, what is left of
    /// the fit's time budget (at least one epoch runs: a budget already spent becomes one tick).</summary>
    public TrainerSettings WithSeed(int seed, TimeSpan? timeLeft = null)
    {
        var copy = (TrainerSettings)MemberwiseClone();
        copy._seed = seed;
        if (timeLeft is TimeSpan left) copy._maximumTrainingTime = left > TimeSpan.Zero ? left : TimeSpan.FromTicks(1);
        return copy;
    }
    /// <summary>Worker threads for the kernels; 0 = all cores.</summary>
    public int Threads { get; init; }
    /// <summary>Token input: the fraction of valid training tokens replaced by id 0 (the learned unknown-token row) in each
    /// batch, in [0, 0.5]; 0 (the default) replaces none, so existing training is unchanged.</summary>
    public float UnknownTokenRate { get; init; }

    /// <summary>Whether each epoch shuffles the sequences and the batch order (off only in tests comparing data paths).</summary>
    public bool Shuffle { get; init; } = true;

    // ---- Budget hooks and resuming (issue 12: experiments) ----
    /// <summary>Wall-clock limit of this call's training; checked after every epoch (the epoch that passes it is the last). Null: no limit.</summary>
    public TimeSpan? MaximumTrainingTime { get => _maximumTrainingTime; init => _maximumTrainingTime = value; }

    private TimeSpan? _maximumTrainingTime;
    /// <summary>Called after every epoch (after the progress callback); returning false ends training after that epoch.</summary>
    public Func<EpochReport, bool>? ContinueAfterEpoch { get; init; }
    /// <summary>Resume from (when not empty) and write the loop's state back to this checkpoint; null: train from scratch.</summary>
    public TrainingCheckpoint? Checkpoint { get; init; }

    public void Validate()
    {
        Spec.Validate();
        if (Epochs < 1) throw new ArgumentOutOfRangeException(nameof(Epochs), Epochs, "Epochs must be ≥ 1.");
        if (BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "BatchSize must be ≥ 1.");
        if (!(LearningRate > 0f) || !float.IsFinite(LearningRate)) throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "LearningRate must be a finite value > 0.");
        if (float.IsNaN(GradientClipNorm)) throw new ArgumentOutOfRangeException(nameof(GradientClipNorm), GradientClipNorm, "GradientClipNorm must be a number (≤ 0 disables clipping).");
        if (EarlyStoppingPatience < 0) throw new ArgumentOutOfRangeException(nameof(EarlyStoppingPatience), EarlyStoppingPatience, "EarlyStoppingPatience must be ≥ 0.");
        if (Threads < 0) throw new ArgumentOutOfRangeException(nameof(Threads), Threads, "Threads must be ≥ 0.");
        if (MaximumTrainingTime is TimeSpan limit && limit <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(MaximumTrainingTime), limit, "MaximumTrainingTime must be > 0 (null for no limit).");

        if (!(UnknownTokenRate >= 0f && UnknownTokenRate <= 0.5f)) throw new ArgumentOutOfRangeException(nameof(UnknownTokenRate), UnknownTokenRate, "UnknownTokenRate must be in [0, 0.5].");
        OptimizerSettings.Validate(Optimizer);
        int targetWidth = Loss == LossKind.SoftmaxCrossEntropy ? 1 : Spec.OutputSize;
        if (Spec.OutputSize < 1) throw new ArgumentException("Training needs a head (OutputSize ≥ 1).");
        if (Loss == LossKind.SoftmaxCrossEntropy && Spec.OutputSize < 2) throw new ArgumentException($"Softmax cross-entropy needs ≥ 2 classes, was {Spec.OutputSize}.");
        _ = targetWidth;
    }

    /// <summary>Target values per output row expected by the loss.</summary>
    public int TargetWidth => Loss == LossKind.SoftmaxCrossEntropy ? 1 : Spec.OutputSize;
}

/// <summary>Progress after one epoch.</summary>
internal sealed record EpochReport(
    int Epoch, double TrainLoss, double? ValidationLoss, double? ValidationAccuracy, double SequencesPerSecond, float LearningRate, float GradientNorm);

/// <summary>Trained parameters (those of the best epoch when a validation set drove early stopping) and the history.</summary>
internal sealed record TrainingResult(float[] Parameters, IReadOnlyList<EpochReport> History, int BestEpoch);
