namespace Microsoft.ML.Recurrent.Engine.Optimizers;

/// <summary>How the learning rate changes from epoch to epoch.</summary>
internal enum ScheduleKind : byte
{
    /// <summary>BaseRate every epoch.</summary>
    Constant = 0,
    /// <summary>BaseRate · Gamma^⌊epoch / StepSize⌋ (PyTorch's StepLR), never below MinRate.</summary>
    Step = 1,
    /// <summary>MinRate + (BaseRate − MinRate)·(1 + cos(π·epoch/TotalEpochs))/2, MinRate from TotalEpochs on.</summary>
    Cosine = 2,
    /// <summary>Multiplies the rate by PlateauFactor when the monitored loss stops improving (PyTorch's ReduceLROnPlateau, mode min, relative threshold).</summary>
    ReduceOnPlateau = 3,
}

/// <summary>Settings of a <see cref="LearningRateSchedule"/>; each kind reads only its own fields.</summary>
internal sealed class ScheduleSettings
{
    public ScheduleKind Kind { get; set; }

    /// <summary>The rate at epoch 0 (after warm-up).</summary>
    public float BaseRate { get; set; }

    /// <summary>Step: epochs between two multiplications by <see cref="Gamma"/>.</summary>
    public int StepSize { get; set; } = 10;

    /// <summary>Step: factor applied every <see cref="StepSize"/> epochs.</summary>
    public float Gamma { get; set; } = 0.5f;

    /// <summary>Cosine: the epoch at which the rate reaches <see cref="MinRate"/> (usually the training's epoch count).</summary>
    public int TotalEpochs { get; set; }

    /// <summary>Floor of every schedule but Constant.</summary>
    public float MinRate { get; set; }

    /// <summary>ReduceOnPlateau: epochs without improvement that are tolerated; the next one reduces the rate.</summary>
    public int PlateauPatience { get; set; } = 3;

    /// <summary>ReduceOnPlateau: factor applied on a reduction.</summary>
    public float PlateauFactor { get; set; } = 0.5f;

    /// <summary>ReduceOnPlateau: a loss improves when it is below best · (1 − threshold).</summary>
    public float PlateauThreshold { get; set; } = 1e-4f;

    /// <summary>
    /// Linear warm-up: epoch e &lt; WarmupEpochs runs at the scheduled rate · (e + 1)/(WarmupEpochs + 1);
    /// the full rate starts at epoch WarmupEpochs. 0 = none.
    /// </summary>
    public int WarmupEpochs { get; set; }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first invalid field that the kind reads.</summary>
    public void Validate()
    {
        if (!Enum.IsDefined(Kind)) throw new ArgumentOutOfRangeException(nameof(Kind), Kind, "Unknown schedule kind.");
        if (!(BaseRate > 0f) || !float.IsFinite(BaseRate))
            throw new ArgumentOutOfRangeException(nameof(BaseRate), BaseRate, $"BaseRate must be finite and > 0, was {BaseRate}.");
        if (WarmupEpochs < 0)
            throw new ArgumentOutOfRangeException(nameof(WarmupEpochs), WarmupEpochs, $"WarmupEpochs must be ≥ 0, was {WarmupEpochs}.");
        if (Kind != ScheduleKind.Constant && !(MinRate >= 0f && MinRate <= BaseRate))
            throw new ArgumentOutOfRangeException(nameof(MinRate), MinRate, $"MinRate must be in [0, BaseRate = {BaseRate}], was {MinRate}.");
        switch (Kind)
        {
            case ScheduleKind.Step:
                if (StepSize < 1) throw new ArgumentOutOfRangeException(nameof(StepSize), StepSize, $"StepSize must be ≥ 1, was {StepSize}.");
                if (!(Gamma > 0f && Gamma <= 1f)) throw new ArgumentOutOfRangeException(nameof(Gamma), Gamma, $"Gamma must be in (0, 1], was {Gamma}.");
                break;
            case ScheduleKind.Cosine:
                if (TotalEpochs < 1) throw new ArgumentOutOfRangeException(nameof(TotalEpochs), TotalEpochs, $"TotalEpochs must be ≥ 1 for a cosine schedule, was {TotalEpochs}.");
                break;
            case ScheduleKind.ReduceOnPlateau:
                if (PlateauPatience < 0) throw new ArgumentOutOfRangeException(nameof(PlateauPatience), PlateauPatience, $"PlateauPatience must be ≥ 0, was {PlateauPatience}.");
                if (!(PlateauFactor > 0f && PlateauFactor < 1f)) throw new ArgumentOutOfRangeException(nameof(PlateauFactor), PlateauFactor, $"PlateauFactor must be in (0, 1), was {PlateauFactor}.");
                if (!(PlateauThreshold >= 0f && PlateauThreshold < 1f)) throw new ArgumentOutOfRangeException(nameof(PlateauThreshold), PlateauThreshold, $"PlateauThreshold must be in [0, 1), was {PlateauThreshold}.");
                break;
        }
    }
}
