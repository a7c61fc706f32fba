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

    /// <summary>One line: epoch, losses, validation metric and throughput.</summary>
    public override string ToString()
    {
        var c = CultureInfo.InvariantCulture;
        string line = string.Format(c, "Epoch {0}/{1}: training {2} {3:G5}", Epoch, MaximumNumberOfEpochs, LossName, TrainingLoss);
        if (ValidationLoss is double v)
        {
            line += string.Format(c, ", validation {0} {1:G5}", LossName, v);
            if (ValidationAccuracy is double a) line += string.Format(c, ", validation accuracy {0:F4}", a);
            else if (LossName == LossNames.MeanSquaredError) line += string.Format(c, ", validation RMSE {0:G5}", Math.Sqrt(v));
        }

        return line + string.Format(c, ", {0:F0} sequences/s", SequencesPerSecond);
    }

    internal static class LossNames
    {
        public const string MeanSquaredError = "mean squared error";
        public const string LogLoss = "log-loss";
        public const string CrossEntropy = "cross-entropy";
    }
}
