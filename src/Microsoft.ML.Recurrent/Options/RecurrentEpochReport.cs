using System.Globalization;

namespace Microsoft.ML.Recurrent;

/// <summary>What one training epoch achieved; reported through <see cref="RecurrentTrainerOptions.Progress"/> and kept in
/// <see cref="RecurrentModelInfo.TrainingHistory"/>.</summary>
public sealed class RecurrentEpochReport
{
    internal RecurrentEpochReport(int epoch, int maximumEpochs, string lossName, double trainingLoss, double? validationLoss,
        double? validationAccuracy, double sequencesPerSecond, float learningRate)
    {
        Epoch = epoch;
        MaximumNumberOfEpochs = maximumEpochs;
        LossName = lossName;
        TrainingLoss = trainingLoss;
        ValidationLoss = validationLoss;
        ValidationAccuracy = validationAccuracy;
        SequencesPerSecond = sequencesPerSecond;
        LearningRate = learningRate;
    }

    /// <summary>The epoch number, from 1.</summary>
    public int Epoch { get; }

    /// <summary>The epoch limit of this training run (training can stop earlier on a validation plateau).</summary>
    public int MaximumNumberOfEpochs { get; }

    /// <summary>What the losses measure: "mean squared error" (regression, in label units), "log-loss" (binary) or
    /// "cross-entropy" (multiclass), both in nats.</summary>
    public string LossName { get; }

    /// <summary>Mean loss over the epoch's training batches (computed while the weights changed).</summary>
    public double TrainingLoss { get; }

    /// <summary>Mean loss on the validation set after the epoch; null without a validation set.</summary>
    public double? ValidationLoss { get; }

    /// <summary>Classification only: the fraction of validation sequences predicted correctly; null otherwise.</summary>
    public double? ValidationAccuracy { get; }

    /// <summary>Training throughput of the epoch.</summary>
    public double SequencesPerSecond { get; }

    /// <summary>The learning rate used in the epoch.</summary>
    public float LearningRate { get; }

    /// <summary>With <see cref="RecurrentTrainerOptions.NumberOfModels"/> &gt; 1: which member of the ensemble this epoch
    /// trained, from 1; 1 otherwise.</summary>
    public int Model { get; internal init; } = 1;

    /// <summary>The number of ensemble members being trained (<see cref="RecurrentTrainerOptions.NumberOfModels"/>).</summary>
    public int NumberOfModels { get; internal init; } = 1;

    /// <summary>
    /// Time left if every remaining epoch (of every remaining member) takes as long as the epochs so far did; an upper
    /// estimate when early stopping ends training sooner.
    /// </summary>
    public TimeSpan EstimatedTimeRemaining { get; internal init; }

    /// <summary>One line: epoch, losses, validation metric, throughput and the estimated time remaining.</summary>
    public override string ToString()
    {
        var c = CultureInfo.InvariantCulture;
        string line = NumberOfModels > 1 ? string.Format(c, "Model {0}/{1}, ", Model, NumberOfModels) : "";
        line += string.Format(c, "Epoch {0}/{1}: training {2} {3:G5}", Epoch, MaximumNumberOfEpochs, LossName, TrainingLoss);
        if (ValidationLoss is double v)
        {
            line += string.Format(c, ", validation {0} {1:G5}", LossName, v);
            if (ValidationAccuracy is double a) line += string.Format(c, ", validation accuracy {0:F4}", a);
            else if (LossName == LossNames.MeanSquaredError) line += string.Format(c, ", validation RMSE {0:G5}", Math.Sqrt(v));
        }

        var eta = EstimatedTimeRemaining;
        string left = eta.TotalHours >= 1 ? string.Format(c, "{0}:{1:mm\\:ss}", (int)eta.TotalHours, eta) : eta.ToString("mm\\:ss", c);
        return line + string.Format(c, ", {0:F0} sequences/s, ETA {1}", SequencesPerSecond, left);
    }

    internal static class LossNames
    {
        public const string MeanSquaredError = "mean squared error";
        public const string LogLoss = "log-loss";
        public const string CrossEntropy = "cross-entropy";
    }
}
