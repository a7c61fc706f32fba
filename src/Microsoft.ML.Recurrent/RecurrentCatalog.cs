using Microsoft.ML.Recurrent;
using Microsoft.ML.Runtime;

// ML.NET's convention: catalog extensions live in the Microsoft.ML namespace, so they need no extra using.
namespace Microsoft.ML;

/// <summary>
/// Recurrent-network trainers for ML.NET's regression, binary and multiclass catalogs:
/// <c>mlContext.Regression.Trainers.Lstm()</c>, <c>.Gru()</c>, <c>.SimpleRnn()</c> and <c>.Recurrent(options)</c>, and the
/// same four on <c>BinaryClassification.Trainers</c> and <c>MulticlassClassification.Trainers</c>.
/// </summary>
/// <remarks>
/// The input is one row per sequence: a vector of <see cref="float"/> with T·F values, time-major (F =
/// featuresPerStep), or a vector of keys (tokens, e.g. from <c>TokenizeIntoWords</c> + <c>MapValueToKey</c>) feeding an
/// embedding. Training and scoring run on this library's engine; the fitted model saves and loads with
/// <c>mlContext.Model.Save</c>/<c>Load</c> like any ML.NET model.
/// </remarks>
public static class RecurrentCatalog
{
    /// <summary>Creates a RecurrentRegressionTrainer that trains an LSTM (long short-term memory) network for regression (a Single label).</summary>
    /// <param name="catalog">The regression trainers catalog.</param>
    /// <param name="labelColumnName">The label column (a Single label).</param>
    /// <param name="featureColumnName">The feature column: a vector of Single (T·F values, time-major) or a vector of keys (tokens).</param>
    /// <param name="featuresPerStep">Features per time step F (1 for tokens).</param>
    /// <param name="hiddenSize">Hidden units per layer.</param>
    /// <param name="numberOfLayers">Stacked recurrent layers.</param>
    /// <param name="maximumNumberOfEpochs">Training epochs.</param>
    /// <returns>The trainer; every other option keeps its <see cref="RecurrentTrainerOptions"/> default.</returns>
    /// <example>
    /// Runnable sample: samples/QuickStart/ForecastWithLstm.cs.
    /// <code>
    /// var pipeline = mlContext.Regression.Trainers.Lstm(featuresPerStep: 2, hiddenSize: 32);
    /// var model = pipeline.Fit(train);
    /// var metrics = mlContext.Regression.Evaluate(model.Transform(test));
    /// </code>
    /// </example>
    public static RecurrentRegressionTrainer Lstm(
        this RegressionCatalog.RegressionTrainers catalog,
        string labelColumnName = RecurrentTrainerOptions.Defaults.LabelColumnName,
        string featureColumnName = RecurrentTrainerOptions.Defaults.FeatureColumnName,
        int featuresPerStep = RecurrentTrainerOptions.Defaults.FeaturesPerStep,
        int hiddenSize = RecurrentTrainerOptions.Defaults.HiddenSize,
        int numberOfLayers = RecurrentTrainerOptions.Defaults.NumberOfLayers,
        int maximumNumberOfEpochs = RecurrentTrainerOptions.Defaults.MaximumNumberOfEpochs)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new RecurrentRegressionTrainer(Simple<RecurrentRegressionTrainer.Options>(RecurrentCellType.Lstm, labelColumnName, featureColumnName,
            featuresPerStep, hiddenSize, numberOfLayers, maximumNumberOfEpochs));
    }

    /// <summary>Creates a RecurrentRegressionTrainer that trains a GRU (gated recurrent unit) network for regression (a Single label).</summary>
    /// <param name="catalog">The regression trainers catalog.</param>
    /// <param name="labelColumnName">The label column (a Single label).</param>
    /// <param name="featureColumnName">The feature column: a vector of Single (T·F values, time-major) or a vector of keys (tokens).</param>
    /// <param name="featuresPerStep">Features per time step F (1 for tokens).</param>
    /// <param name="hiddenSize">Hidden units per layer.</param>
    /// <param name="numberOfLayers">Stacked recurrent layers.</param>
    /// <param name="maximumNumberOfEpochs">Training epochs.</param>
    /// <returns>The trainer; every other option keeps its <see cref="RecurrentTrainerOptions"/> default.</returns>
    /// <example>
    /// Runnable sample: samples/QuickStart/ForecastWithLstm.cs.
    /// <code>
    /// var pipeline = mlContext.Regression.Trainers.Gru(featuresPerStep: 2, hiddenSize: 32);
    /// var model = pipeline.Fit(train);
    /// var metrics = mlContext.Regression.Evaluate(model.Transform(test));
    /// </code>
    /// </example>
    public static RecurrentRegressionTrainer Gru(
        this RegressionCatalog.RegressionTrainers catalog,
        string labelColumnName = RecurrentTrainerOptions.Defaults.LabelColumnName,
        string featureColumnName = RecurrentTrainerOptions.Defaults.FeatureColumnName,
        int featuresPerStep = RecurrentTrainerOptions.Defaults.FeaturesPerStep,
        int hiddenSize = RecurrentTrainerOptions.Defaults.HiddenSize,
        int numberOfLayers = RecurrentTrainerOptions.Defaults.NumberOfLayers,
        int maximumNumberOfEpochs = RecurrentTrainerOptions.Defaults.MaximumNumberOfEpochs)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new RecurrentRegressionTrainer(Simple<RecurrentRegressionTrainer.Options>(RecurrentCellType.Gru, labelColumnName, featureColumnName,
            featuresPerStep, hiddenSize, numberOfLayers, maximumNumberOfEpochs));
    }

    /// <summary>Creates a RecurrentRegressionTrainer that trains a simple (Elman, tanh) recurrent network for regression (a Single label).</summary>
    /// <param name="catalog">The regression trainers catalog.</param>
    /// <param name="labelColumnName">The label column (a Single label).</param>
    /// <param name="featureColumnName">The feature column: a vector of Single (T·F values, time-major) or a vector of keys (tokens).</param>
    /// <param name="featuresPerStep">Features per time step F (1 for tokens).</param>
    /// <param name="hiddenSize">Hidden units per layer.</param>
    /// <param name="numberOfLayers">Stacked recurrent layers.</param>
    /// <param name="maximumNumberOfEpochs">Training epochs.</param>
    /// <returns>The trainer; every other option keeps its <see cref="RecurrentTrainerOptions"/> default.</returns>
    /// <example>
    /// Runnable sample: samples/QuickStart/ForecastWithLstm.cs.
    /// <code>
    /// var pipeline = mlContext.Regression.Trainers.SimpleRnn(featuresPerStep: 2, hiddenSize: 32);
    /// var model = pipeline.Fit(train);
    /// var metrics = mlContext.Regression.Evaluate(model.Transform(test));
    /// </code>
    /// </example>
    public static RecurrentRegressionTrainer SimpleRnn(
        this RegressionCatalog.RegressionTrainers catalog,
        string labelColumnName = RecurrentTrainerOptions.Defaults.LabelColumnName,
        string featureColumnName = RecurrentTrainerOptions.Defaults.FeatureColumnName,
        int featuresPerStep = RecurrentTrainerOptions.Defaults.FeaturesPerStep,
        int hiddenSize = RecurrentTrainerOptions.Defaults.HiddenSize,
        int numberOfLayers = RecurrentTrainerOptions.Defaults.NumberOfLayers,
        int maximumNumberOfEpochs = RecurrentTrainerOptions.Defaults.MaximumNumberOfEpochs)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new RecurrentRegressionTrainer(Simple<RecurrentRegressionTrainer.Options>(RecurrentCellType.SimpleRnn, labelColumnName, featureColumnName,
            featuresPerStep, hiddenSize, numberOfLayers, maximumNumberOfEpochs));
    }

    /// <summary>Creates a RecurrentRegressionTrainer for regression with every option given (cell type, sizes, optimizer, validation, ...).</summary>
    /// <param name="catalog">The regression trainers catalog.</param>
    /// <param name="options">The trainer options; checked here, each invalid option named in the exception.</param>
    /// <returns>The trainer.</returns>
    /// <example>
    /// Runnable sample: samples/QuickStart/ForecastWithLstm.cs.
    /// <code>
    /// var trainer = mlContext.Regression.Trainers.Recurrent(new RecurrentRegressionTrainer.Options
    /// {
    ///     CellType = RecurrentCellType.Gru, HiddenSize = 32, Bidirectional = true, ValidationFraction = 0.1f,
    /// });
    /// </code>
    /// </example>
    public static RecurrentRegressionTrainer Recurrent(this RegressionCatalog.RegressionTrainers catalog, RecurrentRegressionTrainer.Options options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(options);
        return new RecurrentRegressionTrainer(options);
    }

    /// <summary>Creates a RecurrentBinaryTrainer that trains an LSTM (long short-term memory) network for binary classification (a Boolean label).</summary>
    /// <param name="catalog">The binary classification trainers catalog.</param>
    /// <param name="labelColumnName">The label column (a Boolean label).</param>
    /// <param name="featureColumnName">The feature column: a vector of Single (T·F values, time-major) or a vector of keys (tokens).</param>
    /// <param name="featuresPerStep">Features per time step F (1 for tokens).</param>
    /// <param name="hiddenSize">Hidden units per layer.</param>
    /// <param name="numberOfLayers">Stacked recurrent layers.</param>
    /// <param name="maximumNumberOfEpochs">Training epochs.</param>
    /// <returns>The trainer; every other option keeps its <see cref="RecurrentTrainerOptions"/> default.</returns>
    /// <example>
    /// Runnable sample: samples/SentimentLstm/SentimentLstm.cs.
    /// <code>
    /// var pipeline = mlContext.Transforms.Text.TokenizeIntoWords("Tokens", "Text")
    ///     .Append(mlContext.Transforms.Conversion.MapValueToKey("Tokens"))
    ///     .Append(mlContext.BinaryClassification.Trainers.Lstm(featureColumnName: "Tokens"));
    /// var metrics = mlContext.BinaryClassification.Evaluate(pipeline.Fit(train).Transform(test));
    /// </code>
    /// </example>
    public static RecurrentBinaryTrainer Lstm(
        this BinaryClassificationCatalog.BinaryClassificationTrainers catalog,
        string labelColumnName = RecurrentTrainerOptions.Defaults.LabelColumnName,
        string featureColumnName = RecurrentTrainerOptions.Defaults.FeatureColumnName,
        int featuresPerStep = RecurrentTrainerOptions.Defaults.FeaturesPerStep,
        int hiddenSize = RecurrentTrainerOptions.Defaults.HiddenSize,
        int numberOfLayers = RecurrentTrainerOptions.Defaults.NumberOfLayers,
        int maximumNumberOfEpochs = RecurrentTrainerOptions.Defaults.MaximumNumberOfEpochs)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new RecurrentBinaryTrainer(Simple<RecurrentBinaryTrainer.Options>(RecurrentCellType.Lstm, labelColumnName, featureColumnName,
            featuresPerStep, hiddenSize, numberOfLayers, maximumNumberOfEpochs));
    }

    /// <summary>Creates a RecurrentBinaryTrainer that trains a GRU (gated recurrent unit) network for binary classification (a Boolean label).</summary>
    /// <param name="catalog">The binary classification trainers catalog.</param>
    /// <param name="labelColumnName">The label column (a Boolean label).</param>
    /// <param name="featureColumnName">The feature column: a vector of Single (T·F values, time-major) or a vector of keys (tokens).</param>
    /// <param name="featuresPerStep">Features per time step F (1 for tokens).</param>
    /// <param name="hiddenSize">Hidden units per layer.</param>
    /// <param name="numberOfLayers">Stacked recurrent layers.</param>
    /// <param name="maximumNumberOfEpochs">Training epochs.</param>
    /// <returns>The trainer; every other option keeps its <see cref="RecurrentTrainerOptions"/> default.</returns>
    /// <example>
    /// Runnable sample: samples/SentimentLstm/SentimentLstm.cs.
    /// <code>
    /// var pipeline = mlContext.Transforms.Text.TokenizeIntoWords("Tokens", "Text")
    ///     .Append(mlContext.Transforms.Conversion.MapValueToKey("Tokens"))
    ///     .Append(mlContext.BinaryClassification.Trainers.Gru(featureColumnName: "Tokens"));
    /// var metrics = mlContext.BinaryClassification.Evaluate(pipeline.Fit(train).Transform(test));
    /// </code>
    /// </example>
    public static RecurrentBinaryTrainer Gru(
        this BinaryClassificationCatalog.BinaryClassificationTrainers catalog,
        string labelColumnName = RecurrentTrainerOptions.Defaults.LabelColumnName,
        string featureColumnName = RecurrentTrainerOptions.Defaults.FeatureColumnName,
        int featuresPerStep = RecurrentTrainerOptions.Defaults.FeaturesPerStep,
        int hiddenSize = RecurrentTrainerOptions.Defaults.HiddenSize,
        int numberOfLayers = RecurrentTrainerOptions.Defaults.NumberOfLayers,
        int maximumNumberOfEpochs = RecurrentTrainerOptions.Defaults.MaximumNumberOfEpochs)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new RecurrentBinaryTrainer(Simple<RecurrentBinaryTrainer.Options>(RecurrentCellType.Gru, labelColumnName, featureColumnName,
            featuresPerStep, hiddenSize, numberOfLayers, maximumNumberOfEpochs));
    }

    /// <summary>Creates a RecurrentBinaryTrainer that trains a simple (Elman, tanh) recurrent network for binary classification (a Boolean label).</summary>
    /// <param name="catalog">The binary classification trainers catalog.</param>
    /// <param name="labelColumnName">The label column (a Boolean label).</param>
    /// <param name="featureColumnName">The feature column: a vector of Single (T·F values, time-major) or a vector of keys (tokens).</param>
    /// <param name="featuresPerStep">Features per time step F (1 for tokens).</param>
    /// <param name="hiddenSize">Hidden units per layer.</param>
    /// <param name="numberOfLayers">Stacked recurrent layers.</param>
    /// <param name="maximumNumberOfEpochs">Training epochs.</param>
    /// <returns>The trainer; every other option keeps its <see cref="RecurrentTrainerOptions"/> default.</returns>
    /// <example>
    /// Runnable sample: samples/SentimentLstm/SentimentLstm.cs.
    /// <code>
    /// var pipeline = mlContext.Transforms.Text.TokenizeIntoWords("Tokens", "Text")
    ///     .Append(mlContext.Transforms.Conversion.MapValueToKey("Tokens"))
    ///     .Append(mlContext.BinaryClassification.Trainers.SimpleRnn(featureColumnName: "Tokens"));
    /// var metrics = mlContext.BinaryClassification.Evaluate(pipeline.Fit(train).Transform(test));
    /// </code>
    /// </example>
    public static RecurrentBinaryTrainer SimpleRnn(
        this BinaryClassificationCatalog.BinaryClassificationTrainers catalog,
        string labelColumnName = RecurrentTrainerOptions.Defaults.LabelColumnName,
        string featureColumnName = RecurrentTrainerOptions.Defaults.FeatureColumnName,
        int featuresPerStep = RecurrentTrainerOptions.Defaults.FeaturesPerStep,
        int hiddenSize = RecurrentTrainerOptions.Defaults.HiddenSize,
        int numberOfLayers = RecurrentTrainerOptions.Defaults.NumberOfLayers,
        int maximumNumberOfEpochs = RecurrentTrainerOptions.Defaults.MaximumNumberOfEpochs)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new RecurrentBinaryTrainer(Simple<RecurrentBinaryTrainer.Options>(RecurrentCellType.SimpleRnn, labelColumnName, featureColumnName,
            featuresPerStep, hiddenSize, numberOfLayers, maximumNumberOfEpochs));
    }

    /// <summary>Creates a RecurrentBinaryTrainer for binary classification with every option given (cell type, sizes, optimizer, validation, ...).</summary>
    /// <param name="catalog">The binary classification trainers catalog.</param>
    /// <param name="options">The trainer options; checked here, each invalid option named in the exception.</param>
    /// <returns>The trainer.</returns>
    /// <example>
    /// Runnable sample: samples/SentimentLstm/SentimentLstm.cs.
    /// <code>
    /// var trainer = mlContext.BinaryClassification.Trainers.Recurrent(new RecurrentBinaryTrainer.Options
    /// {
    ///     CellType = RecurrentCellType.Gru, HiddenSize = 32, Bidirectional = true, ValidationFraction = 0.1f,
    /// });
    /// </code>
    /// </example>
    public static RecurrentBinaryTrainer Recurrent(this BinaryClassificationCatalog.BinaryClassificationTrainers catalog, RecurrentBinaryTrainer.Options options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(options);
        return new RecurrentBinaryTrainer(options);
    }

    /// <summary>Creates a RecurrentMulticlassTrainer that trains an LSTM (long short-term memory) network for multiclass classification (a key-typed label).</summary>
    /// <param name="catalog">The multiclass classification trainers catalog.</param>
    /// <param name="labelColumnName">The label column (a key-typed label).</param>
    /// <param name="featureColumnName">The feature column: a vector of Single (T·F values, time-major) or a vector of keys (tokens).</param>
    /// <param name="featuresPerStep">Features per time step F (1 for tokens).</param>
    /// <param name="hiddenSize">Hidden units per layer.</param>
    /// <param name="numberOfLayers">Stacked recurrent layers.</param>
    /// <param name="maximumNumberOfEpochs">Training epochs.</param>
    /// <returns>The trainer; every other option keeps its <see cref="RecurrentTrainerOptions"/> default.</returns>
    /// <example>
    /// Runnable sample: samples/QuickStart/ClassifyWavesWithGru.cs.
    /// <code>
    /// var pipeline = mlContext.Transforms.Conversion.MapValueToKey("Label")
    ///     .Append(mlContext.MulticlassClassification.Trainers.Lstm(featuresPerStep: 3));
    /// var metrics = mlContext.MulticlassClassification.Evaluate(pipeline.Fit(train).Transform(test));
    /// </code>
    /// </example>
    public static RecurrentMulticlassTrainer Lstm(
        this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
        string labelColumnName = RecurrentTrainerOptions.Defaults.LabelColumnName,
        string featureColumnName = RecurrentTrainerOptions.Defaults.FeatureColumnName,
        int featuresPerStep = RecurrentTrainerOptions.Defaults.FeaturesPerStep,
        int hiddenSize = RecurrentTrainerOptions.Defaults.HiddenSize,
        int numberOfLayers = RecurrentTrainerOptions.Defaults.NumberOfLayers,
        int maximumNumberOfEpochs = RecurrentTrainerOptions.Defaults.MaximumNumberOfEpochs)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new RecurrentMulticlassTrainer(Simple<RecurrentMulticlassTrainer.Options>(RecurrentCellType.Lstm, labelColumnName, featureColumnName,
            featuresPerStep, hiddenSize, numberOfLayers, maximumNumberOfEpochs));
    }

    /// <summary>Creates a RecurrentMulticlassTrainer that trains a GRU (gated recurrent unit) network for multiclass classification (a key-typed label).</summary>
    /// <param name="catalog">The multiclass classification trainers catalog.</param>
    /// <param name="labelColumnName">The label column (a key-typed label).</param>
    /// <param name="featureColumnName">The feature column: a vector of Single (T·F values, time-major) or a vector of keys (tokens).</param>
    /// <param name="featuresPerStep">Features per time step F (1 for tokens).</param>
    /// <param name="hiddenSize">Hidden units per layer.</param>
    /// <param name="numberOfLayers">Stacked recurrent layers.</param>
    /// <param name="maximumNumberOfEpochs">Training epochs.</param>
    /// <returns>The trainer; every other option keeps its <see cref="RecurrentTrainerOptions"/> default.</returns>
    /// <example>
    /// Runnable sample: samples/QuickStart/ClassifyWavesWithGru.cs.
    /// <code>
    /// var pipeline = mlContext.Transforms.Conversion.MapValueToKey("Label")
    ///     .Append(mlContext.MulticlassClassification.Trainers.Gru(featuresPerStep: 3));
    /// var metrics = mlContext.MulticlassClassification.Evaluate(pipeline.Fit(train).Transform(test));
    /// </code>
    /// </example>
    public static RecurrentMulticlassTrainer Gru(
        this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
        string labelColumnName = RecurrentTrainerOptions.Defaults.LabelColumnName,
        string featureColumnName = RecurrentTrainerOptions.Defaults.FeatureColumnName,
        int featuresPerStep = RecurrentTrainerOptions.Defaults.FeaturesPerStep,
        int hiddenSize = RecurrentTrainerOptions.Defaults.HiddenSize,
        int numberOfLayers = RecurrentTrainerOptions.Defaults.NumberOfLayers,
        int maximumNumberOfEpochs = RecurrentTrainerOptions.Defaults.MaximumNumberOfEpochs)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new RecurrentMulticlassTrainer(Simple<RecurrentMulticlassTrainer.Options>(RecurrentCellType.Gru, labelColumnName, featureColumnName,
            featuresPerStep, hiddenSize, numberOfLayers, maximumNumberOfEpochs));
    }

    /// <summary>Creates a RecurrentMulticlassTrainer that trains a simple (Elman, tanh) recurrent network for multiclass classification (a key-typed label).</summary>
    /// <param name="catalog">The multiclass classification trainers catalog.</param>
    /// <param name="labelColumnName">The label column (a key-typed label).</param>
    /// <param name="featureColumnName">The feature column: a vector of Single (T·F values, time-major) or a vector of keys (tokens).</param>
    /// <param name="featuresPerStep">Features per time step F (1 for tokens).</param>
    /// <param name="hiddenSize">Hidden units per layer.</param>
    /// <param name="numberOfLayers">Stacked recurrent layers.</param>
    /// <param name="maximumNumberOfEpochs">Training epochs.</param>
    /// <returns>The trainer; every other option keeps its <see cref="RecurrentTrainerOptions"/> default.</returns>
    /// <example>
    /// Runnable sample: samples/QuickStart/ClassifyWavesWithGru.cs.
    /// <code>
    /// var pipeline = mlContext.Transforms.Conversion.MapValueToKey("Label")
    ///     .Append(mlContext.MulticlassClassification.Trainers.SimpleRnn(featuresPerStep: 3));
    /// var metrics = mlContext.MulticlassClassification.Evaluate(pipeline.Fit(train).Transform(test));
    /// </code>
    /// </example>
    public static RecurrentMulticlassTrainer SimpleRnn(
        this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
        string labelColumnName = RecurrentTrainerOptions.Defaults.LabelColumnName,
        string featureColumnName = RecurrentTrainerOptions.Defaults.FeatureColumnName,
        int featuresPerStep = RecurrentTrainerOptions.Defaults.FeaturesPerStep,
        int hiddenSize = RecurrentTrainerOptions.Defaults.HiddenSize,
        int numberOfLayers = RecurrentTrainerOptions.Defaults.NumberOfLayers,
        int maximumNumberOfEpochs = RecurrentTrainerOptions.Defaults.MaximumNumberOfEpochs)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new RecurrentMulticlassTrainer(Simple<RecurrentMulticlassTrainer.Options>(RecurrentCellType.SimpleRnn, labelColumnName, featureColumnName,
            featuresPerStep, hiddenSize, numberOfLayers, maximumNumberOfEpochs));
    }

    /// <summary>Creates a RecurrentMulticlassTrainer for multiclass classification with every option given (cell type, sizes, optimizer, validation, ...).</summary>
    /// <param name="catalog">The multiclass classification trainers catalog.</param>
    /// <param name="options">The trainer options; checked here, each invalid option named in the exception.</param>
    /// <returns>The trainer.</returns>
    /// <example>
    /// Runnable sample: samples/QuickStart/ClassifyWavesWithGru.cs.
    /// <code>
    /// var trainer = mlContext.MulticlassClassification.Trainers.Recurrent(new RecurrentMulticlassTrainer.Options
    /// {
    ///     CellType = RecurrentCellType.Gru, HiddenSize = 32, Bidirectional = true, ValidationFraction = 0.1f,
    /// });
    /// </code>
    /// </example>
    public static RecurrentMulticlassTrainer Recurrent(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, RecurrentMulticlassTrainer.Options options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(options);
        return new RecurrentMulticlassTrainer(options);
    }

    /// <summary>
    /// This package's own catalog for <paramref name="mlContext"/>: recurrent trainers beyond regression, binary and multiclass,
    /// evaluators and experiments. Components created from it follow the context's seed when their own seed is left null
    /// and can log to <see cref="MLContext.Log"/>.
    /// </summary>
    /// <param name="mlContext">The context whose seed and log the catalog follows.</param>
    /// <returns>A new catalog object bound to <paramref name="mlContext"/>.</returns>
    public static RecurrentMLCatalog Recurrent(this MLContext mlContext)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        return new RecurrentMLCatalog(mlContext);
    }

    /// <summary>
    /// A progress sink that writes every <see cref="RecurrentEpochReport"/> to <see cref="MLContext.Log"/> (kind Info), for
    /// <see cref="RecurrentTrainerOptions.Progress"/>: one line per epoch (epoch, training loss, validation loss and metric,
    /// sequences per second, estimated time remaining) and nothing else while training runs; ML.NET's one "Channel started"
    /// trace line is written when the sink is created. A catalog does not expose its <see cref="MLContext"/>, so a trainer
    /// created from one cannot reach the log by itself; this bridges it through ML.NET's public host interface.
    /// </summary>
    /// <param name="mlContext">The context whose <c>Log</c> event receives the messages.</param>
    /// <param name="source">The message source shown in <see cref="LoggingEventArgs.Source"/>.</param>
    /// <returns>A sink to assign to <see cref="RecurrentTrainerOptions.Progress"/>.</returns>
    /// <example>
    /// <code>
    /// mlContext.Log += (_, e) =&gt; { if (e.Source == "RecurrentTrainer") Console.WriteLine(e.RawMessage); };
    /// var trainer = mlContext.Regression.Trainers.Recurrent(new RecurrentRegressionTrainer.Options
    /// {
    ///     Progress = mlContext.RecurrentTrainingLog(),
    /// });
    /// </code>
    /// </example>
    public static IProgress<RecurrentEpochReport> RecurrentTrainingLog(this MLContext mlContext, string source = "RecurrentTrainer")
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentException.ThrowIfNullOrWhiteSpace(source);
        return new LogProgress(mlContext, source);
    }

    /// <summary>
    /// Writes each report as one Info line. ML.NET's channels announce their start and end with Trace lines of their own,
    /// so the sink opens its one channel when it is created (before training) and keeps it for its lifetime, as ML.NET's
    /// own AutoML logger does: during training the log receives exactly one line per epoch.
    /// </summary>
    private sealed class LogProgress : IProgress<RecurrentEpochReport>
    {
        private readonly IChannel _channel;
        private readonly object _gate = new();

        public LogProgress(IHostEnvironment environment, string source) => _channel = environment.Start(source);

        public void Report(RecurrentEpochReport value)
        {
            ArgumentNullException.ThrowIfNull(value);
            // MessageSensitivity.None is filtered out by ML.NET's environment: Unknown is what its own components use.
            lock (_gate) _channel.Info(MessageSensitivity.Unknown, value.ToString());
        }
    }

    /// <summary>The options of a simple overload: the given arguments, every other option at its default.</summary>
    private static TOptions Simple<TOptions>(RecurrentCellType cell, string labelColumnName, string featureColumnName,
        int featuresPerStep, int hiddenSize, int numberOfLayers, int maximumNumberOfEpochs)
        where TOptions : RecurrentTrainerOptions, new() => new()
        {
            CellType = cell,
            LabelColumnName = labelColumnName,
            FeatureColumnName = featureColumnName,
            FeaturesPerStep = featuresPerStep,
            HiddenSize = hiddenSize,
            NumberOfLayers = numberOfLayers,
            MaximumNumberOfEpochs = maximumNumberOfEpochs,
        };
}
