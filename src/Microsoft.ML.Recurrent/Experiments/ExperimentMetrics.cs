namespace Microsoft.ML.Recurrent;

/// <summary>What a regression experiment optimises (the members of ML.NET AutoML's enum of the same name); measured by
/// <c>mlContext.Regression.Evaluate</c> on the validation data.</summary>
public enum RegressionMetric
{
    /// <summary>Mean absolute error (lower is better).</summary>
    MeanAbsoluteError,

    /// <summary>Mean squared error (lower is better).</summary>
    MeanSquaredError,

    /// <summary>Root mean squared error (lower is better).</summary>
    RootMeanSquaredError,

    /// <summary>Coefficient of determination R² (higher is better).</summary>
    RSquared,
}

/// <summary>What a binary-classification experiment optimises (the members of ML.NET AutoML's enum of the same name);
/// measured by <c>mlContext.BinaryClassification.Evaluate</c> on the validation data.</summary>
public enum BinaryClassificationMetric
{
    /// <summary>Accuracy (higher is better).</summary>
    Accuracy,

    /// <summary>Area under the ROC curve (higher is better).</summary>
    AreaUnderRocCurve,

    /// <summary>Area under the precision-recall curve (higher is better).</summary>
    AreaUnderPrecisionRecallCurve,

    /// <summary>F1 score (higher is better).</summary>
    F1Score,

    /// <summary>Precision of the positive class (higher is better).</summary>
    PositivePrecision,

    /// <summary>Recall of the positive class (higher is better).</summary>
    PositiveRecall,

    /// <summary>Precision of the negative class (higher is better).</summary>
    NegativePrecision,

    /// <summary>Recall of the negative class (higher is better).</summary>
    NegativeRecall,
}

/// <summary>What a multiclass experiment optimises (the members of ML.NET AutoML's enum of the same name); measured by
/// <c>mlContext.MulticlassClassification.Evaluate</c> on the validation data.</summary>
public enum MulticlassClassificationMetric
{
    /// <summary>Micro-averaged accuracy: the fraction of rows predicted correctly (higher is better).</summary>
    MicroAccuracy,

    /// <summary>Macro-averaged accuracy: the mean of the per-class accuracies (higher is better).</summary>
    MacroAccuracy,

    /// <summary>Log-loss (lower is better).</summary>
    LogLoss,

    /// <summary>Log-loss reduction relative to the class prior (higher is better).</summary>
    LogLossReduction,

    /// <summary>The fraction of rows whose true class is among the K highest scores, K given to
    /// <see cref="RecurrentExperiment.SetMulticlassClassificationMetric"/> (default 3; higher is better).</summary>
    TopKAccuracy,
}

/// <summary>Why <see cref="RecurrentExperiment"/> stopped.</summary>
public enum RecurrentExperimentStopReason
{
    /// <summary>Every proposed trial ran to its end (a discrete search space was exhausted).</summary>
    SearchSpaceExhausted,

    /// <summary><see cref="RecurrentExperiment.SetMaximumNumberOfTrials"/> trials ran.</summary>
    MaximumNumberOfTrials,

    /// <summary>The training time of <see cref="RecurrentExperiment.SetTrainingTimeInSeconds"/> ran out.</summary>
    TrainingTime,

    /// <summary>The caller's cancellation token was cancelled.</summary>
    Cancellation,
}
