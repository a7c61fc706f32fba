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

    /// <summary>A copy of every setting with another seed (the members of an ensemble).</summary>
    public TrainerSettings WithSeed(int seed)
    {
        var copy = (TrainerSettings)MemberwiseClone();
        copy._seed = seed;
        return copy;
    }
    /// <summary>Worker threads for the kernels; 0 = all cores.</summary>
    public int Threads { get; init; }

    /// <summary>Whether each epoch shuffles the sequences and the batch order (off only in tests comparing data paths).</summary>
    public bool Shuffle { get; init; } = true;

    public void Validate()
    {
        Spec.Validate();
        if (Epochs < 1) throw new ArgumentOutOfRangeException(nameof(Epochs), Epochs, "Epochs must be ≥ 1.");
        if (BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "BatchSize must be ≥ 1.");
        if (!(LearningRate > 0f) || !float.IsFinite(LearningRate)) throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "LearningRate must be a finite value > 0.");
        if (float.IsNaN(GradientClipNorm)) throw new ArgumentOutOfRangeException(nameof(GradientClipNorm), GradientClipNorm, "GradientClipNorm must be a number (≤ 0 disables clipping).");
        if (EarlyStoppingPatience < 0) throw new ArgumentOutOfRangeException(nameof(EarlyStoppingPatience), EarlyStoppingPatience, "EarlyStoppingPatience must be ≥ 0.");
        if (Threads < 0) throw new ArgumentOutOfRangeException(nameof(Threads), Threads, "Threads must be ≥ 0.");
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
