using Microsoft.ML.Trainers;
using Microsoft.ML.Recurrent.Model;
using Microsoft.ML.Recurrent.Trainers;

namespace Microsoft.ML.Recurrent;

/// <summary>
/// Trains a recurrent network (simple RNN, LSTM or GRU) that predicts a <see cref="float"/> label from a sequence.
/// Output column: Score (Single). Create it with <c>mlContext.Regression.Trainers.Lstm(...)</c>, <c>.Gru</c>,
/// <c>.SimpleRnn</c> or <c>.Recurrent(options)</c>.
/// </summary>
public sealed class RecurrentRegressionTrainer : ITrainerEstimator<RecurrentPredictionTransformer, RecurrentModelParameters>
{
    private readonly RecurrentTrainerCore _core;

    /// <summary>What ML.NET needs to know about this trainer: it standardises its inputs itself (no normalization needed),
    /// reads the data into its own buffers (no caching wanted) and needs no calibration.</summary>
    public TrainerInfo Info => RecurrentTrainerCore.TrainerInfo;

    internal RecurrentRegressionTrainer(Options options) => _core = new RecurrentTrainerCore(options, PredictionKind.Regression);

    /// <summary>Options of <see cref="RecurrentRegressionTrainer"/> (the label column must be Single). Loss: mean squared error.</summary>
    public sealed class Options : RecurrentTrainerOptions
    {
    }

    /// <summary>Reads the data once, trains the network and returns the fitted model.</summary>
    /// <param name="input">One row per sequence with the feature and label columns.</param>
    public RecurrentPredictionTransformer Fit(IDataView input) => _core.Fit(input);

    /// <summary>The input columns plus Score (Single); throws if the feature or label column is missing or has the wrong type.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) => _core.GetOutputSchema(inputSchema);
}

/// <summary>
/// Trains a recurrent network that predicts a <see cref="bool"/> label from a sequence. Output columns: Score (the
/// logit), Probability (its sigmoid) and PredictedLabel (Boolean). Create it with
/// <c>mlContext.BinaryClassification.Trainers.Lstm(...)</c>, <c>.Gru</c>, <c>.SimpleRnn</c> or <c>.Recurrent(options)</c>.
/// </summary>
public sealed class RecurrentBinaryTrainer : ITrainerEstimator<RecurrentPredictionTransformer, RecurrentModelParameters>
{
    private readonly RecurrentTrainerCore _core;

    /// <summary>What ML.NET needs to know about this trainer: it standardises its inputs itself (no normalization needed),
    /// reads the data into its own buffers (no caching wanted) and needs no calibration.</summary>
    public TrainerInfo Info => RecurrentTrainerCore.TrainerInfo;

    internal RecurrentBinaryTrainer(Options options) => _core = new RecurrentTrainerCore(options, PredictionKind.BinaryClassification);

    /// <summary>Options of <see cref="RecurrentBinaryTrainer"/> (the label column must be Boolean). Loss: binary cross-entropy.</summary>
    public sealed class Options : RecurrentTrainerOptions
    {
    }

    /// <summary>Reads the data once, trains the network and returns the fitted model.</summary>
    /// <param name="input">One row per sequence with the feature and label columns.</param>
    public RecurrentPredictionTransformer Fit(IDataView input) => _core.Fit(input);

    /// <summary>The input columns plus Score, Probability (Single) and PredictedLabel (Boolean); throws if the feature or
    /// label column is missing or has the wrong type.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) => _core.GetOutputSchema(inputSchema);
}

/// <summary>
/// Trains a recurrent network that predicts one of K classes (a key-typed label) from a sequence. Output columns: Score
/// (K class probabilities, a known-size vector) and PredictedLabel (a key with the label's key values, so
/// <c>MapKeyToValue</c> recovers the class). Create it with <c>mlContext.MulticlassClassification.Trainers.Lstm(...)</c>,
/// <c>.Gru</c>, <c>.SimpleRnn</c> or <c>.Recurrent(options)</c>.
/// </summary>
public sealed class RecurrentMulticlassTrainer : ITrainerEstimator<RecurrentPredictionTransformer, RecurrentModelParameters>
{
    private readonly RecurrentTrainerCore _core;

    /// <summary>What ML.NET needs to know about this trainer: it standardises its inputs itself (no normalization needed),
    /// reads the data into its own buffers (no caching wanted) and needs no calibration.</summary>
    public TrainerInfo Info => RecurrentTrainerCore.TrainerInfo;

    internal RecurrentMulticlassTrainer(Options options) => _core = new RecurrentTrainerCore(options, PredictionKind.MulticlassClassification);

    /// <summary>Options of <see cref="RecurrentMulticlassTrainer"/> (the label column must be a key). Loss: softmax cross-entropy.</summary>
    public sealed class Options : RecurrentTrainerOptions
    {
    }

    /// <summary>Reads the data once, trains the network and returns the fitted model.</summary>
    /// <param name="input">One row per sequence with the feature and label columns.</param>
    public RecurrentPredictionTransformer Fit(IDataView input) => _core.Fit(input);

    /// <summary>The input columns plus Score (vector of Single) and PredictedLabel (key); throws if the feature or label
    /// column is missing or has the wrong type.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) => _core.GetOutputSchema(inputSchema);
}
