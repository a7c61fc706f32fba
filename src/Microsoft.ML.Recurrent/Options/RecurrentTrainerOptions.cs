namespace Microsoft.ML.Recurrent;

/// <summary>
/// Options shared by the recurrent trainers (<see cref="RecurrentRegressionTrainer"/>, <see cref="RecurrentBinaryTrainer"/>,
/// <see cref="RecurrentMulticlassTrainer"/>). The defaults train a sensible model out of the box: one LSTM layer of 64 units,
/// Adam at 2e-3, batches of 32, 30 epochs, gradient clipping at norm 1 and per-feature standardisation of the inputs.
/// </summary>
/// <remarks>
/// <para>Input: one row per sequence. The feature column is either a vector of <see cref="float"/> holding T·F values
/// time-major (step 0's F features, then step 1's, …; fixed or variable length; F = <see cref="FeaturesPerStep"/>), or a
/// vector of keys (token ids, e.g. from <c>TokenizeIntoWords</c> + <c>MapValueToKey</c>) that feeds an embedding layer:
/// key k is token k, key 0 (missing) is padding/unknown.</para>
/// <para>Every option is checked when the trainer is created; an invalid value throws
/// <see cref="ArgumentOutOfRangeException"/> naming the option.</para>
/// </remarks>
public abstract class RecurrentTrainerOptions
{
    private protected RecurrentTrainerOptions()
    {
    }

    /// <summary>The label column. Regression: <see cref="float"/>; binary: <see cref="bool"/>; multiclass: a key. Default "Label".</summary>
    public string LabelColumnName { get; set; } = Defaults.LabelColumnName;

    /// <summary>The feature column: a vector of <see cref="float"/> (T·F values, time-major) or a vector of keys (tokens). Default "Features".</summary>
    public string FeatureColumnName { get; set; } = Defaults.FeatureColumnName;

    /// <summary>Features per time step F; a row of n values is a sequence of n / F steps. Must be 1 for key-typed tokens. Default 1.</summary>
    public int FeaturesPerStep { get; set; } = Defaults.FeaturesPerStep;

    /// <summary>The cell of every layer. Default <see cref="RecurrentCellType.Lstm"/>.</summary>
    public RecurrentCellType CellType { get; set; } = Defaults.CellType;

    /// <summary>Hidden units per layer and direction. Default 64.</summary>
    public int HiddenSize { get; set; } = Defaults.HiddenSize;

    /// <summary>Stacked recurrent layers. Default 1.</summary>
    public int NumberOfLayers { get; set; } = Defaults.NumberOfLayers;

    /// <summary>Whether every layer also reads the sequence backwards (outputs concatenated). Default false.</summary>
    public bool Bidirectional { get; set; }

    /// <summary>Dropout probability between stacked layers, during training only, in [0, 1). Default 0.</summary>
    public float Dropout { get; set; }

    /// <summary>Embedding width for key-typed token input (ignored for <see cref="float"/> features). Default 32.</summary>
    public int EmbeddingSize { get; set; } = Defaults.EmbeddingSize;

    /// <summary>
    /// Token input only: the fraction of training tokens replaced by the unknown token (key 0, a value not seen in training)
    /// in every batch, so that its embedding row learns what an unseen token should look like instead of staying a zero
    /// vector. In [0, 0.5]. Default 0.02.
    /// </summary>
    public float UnknownTokenRate { get; set; } = Defaults.UnknownTokenRate;

    /// <summary>Training epochs (fewer when early stopping ends training). Default 30.</summary>
    public int MaximumNumberOfEpochs { get; set; } = Defaults.MaximumNumberOfEpochs;

    /// <summary>Sequences per mini-batch. Default 32.</summary>
    public int BatchSize { get; set; } = Defaults.BatchSize;

    /// <summary>Learning rate of the optimizer. Default 0.002.</summary>
    public float LearningRate { get; set; } = Defaults.LearningRate;

    /// <summary>The update rule. Default <see cref="RecurrentOptimizer.Adam"/>.</summary>
    public RecurrentOptimizer Optimizer { get; set; } = Defaults.Optimizer;

    /// <summary>How the learning rate changes over the epochs. Default <see cref="RecurrentLearningRateSchedule.Constant"/>.</summary>
    public RecurrentLearningRateSchedule LearningRateSchedule { get; set; } = Defaults.LearningRateSchedule;

    /// <summary>Rescales each batch's gradient to at most this global L2 norm; 0 disables clipping. Default 1.</summary>
    public float GradientClipNorm { get; set; } = Defaults.GradientClipNorm;

    /// <summary>Weight decay (decoupled for Adam, L2 for SGD and RMSProp), ≥ 0. Default 0.</summary>
    public float L2Regularization { get; set; }

    /// <summary>
    /// Rescales every input feature to zero mean and unit variance over the training steps (ignored for tokens). The
    /// statistics are folded into the first layer's weights, so the saved model reads the raw features. Default true.
    /// </summary>
    public bool NormalizeFeatures { get; set; } = true;

    /// <summary>Optional validation data with the same columns as the training data: enables early stopping and the
    /// validation loss in <see cref="RecurrentEpochReport"/>. Takes precedence over <see cref="ValidationFraction"/>.</summary>
    public IDataView? ValidationSet { get; set; }

    /// <summary>Fraction of the training rows held out (seeded) for validation when <see cref="ValidationSet"/> is null,
    /// in [0, 1); 0 (the default) holds out nothing.</summary>
    public float ValidationFraction { get; set; }

    /// <summary>Which rows <see cref="ValidationFraction"/> holds out: <see cref="RecurrentValidationSplit.Random"/> (seeded, the
    /// default) or <see cref="RecurrentValidationSplit.Last"/> (the last rows in data order, for windows of one series).</summary>
    public RecurrentValidationSplit ValidationSplit { get; set; } = Defaults.ValidationSplit;

    /// <summary>
    /// Optional example weight column (<see cref="float"/>, finite, ≥ 0), as ML.NET's SDCA, LightGbm and FastTree take it:
    /// each row's loss counts that many times (weight 2 trains exactly as if the row appeared twice in its batch; 0
    /// ignores the row). Evaluation metrics are unaffected. Null (the default) weighs every row 1.
    /// </summary>
    public string? ExampleWeightColumnName { get; set; }

    /// <summary>
    /// Trains this many networks that differ only in their seed (Seed, Seed + 1, …) on the same data and averages their
    /// outputs: the regression value, or the logits of a classifier (the averaged probabilities are then the normalised
    /// geometric mean of the members'). The members are folded exactly into one wider network (hidden units side by side,
    /// no connections between members), so the ensemble saves, loads, serves and exports as one ordinary model; it costs
    /// NumberOfModels times the training time, and about NumberOfModels² times one member's recurrent work at prediction.
    /// NumberOfModels × HiddenSize (and × EmbeddingSize for tokens) must stay within the model's limits. Default 1.
    /// </summary>
    public int NumberOfModels { get; set; } = Defaults.NumberOfModels;

    /// <summary>With validation data: epochs without improvement of the validation loss before training stops; the
    /// weights of the best epoch are kept. 0 disables early stopping. Default 5.</summary>
    public int EarlyStoppingPatience { get; set; } = Defaults.EarlyStoppingPatience;

    /// <summary>
    /// Seed of the weight initialisation, the shuffling, dropout and the validation split. Null (the default) means 0:
    /// ML.NET keeps the <see cref="MLContext"/>'s seed internal and a catalog does not expose its context, so a trainer
    /// created from a catalog cannot read it. Training is deterministic for a given seed, data and thread count.
    /// </summary>
    public int? Seed { get; set; }

    /// <summary>Worker threads for training and batched evaluation; null (the default) uses every core.</summary>
    public int? NumberOfThreads { get; set; }

    /// <summary>
    /// Receives a <see cref="RecurrentEpochReport"/> after every epoch (training loss, validation loss and accuracy,
    /// sequences per second, estimated time remaining), on the training thread; its <c>ToString()</c> is one log line. A catalog does not expose its <see cref="MLContext"/>, so the trainer
    /// cannot write to <c>MLContext.Log</c> by itself: set this to <c>mlContext.RecurrentTrainingLog()</c>
    /// (<see cref="RecurrentCatalog.RecurrentTrainingLog"/>) to send the reports there, or to any other sink.
    /// </summary>
    public IProgress<RecurrentEpochReport>? Progress { get; set; }

    /// <summary>Cancels training: <see cref="OperationCanceledException"/> is thrown within one mini-batch.</summary>
    public CancellationToken CancellationToken { get; set; }

    // ---- Budget hooks for sweepers (issue 12) ----

    /// <summary>
    /// Wall-clock limit of the training loop (reading the data and building the model are not counted); null (the
    /// default) means no limit. It is checked after every epoch, so training ends after the first epoch that finishes past
    /// the limit (an overrun of at most one epoch) and the model trained so far is returned as usual. With
    /// NumberOfModels     /// the limit (an overrun of at most one epoch) and the model trained so far is returned as usual.gt; 1 the limit covers the whole fit: each later member gets what is left (at least one epoch).
    /// </summary>
    public TimeSpan? MaximumTrainingTime { get; set; }

    /// <summary>
    /// Called on the training thread after every epoch (after <see cref="Progress"/>) with that epoch's report; return
    /// false to end training there, keeping the model trained so far (with validation data, the best epoch's weights).
    /// Lets a sweeper stop unpromising trials early (median stopping, successive halving). Null (the default): never stops.
    /// </summary>
    public Func<RecurrentEpochReport, bool>? EpochCallback { get; set; }

    /// <summary>
    /// The number format the fitted model holds its input and recurrent weights in while it scores: <see cref="RecurrentServingPrecision.Float32"/>
    /// (the default), <see cref="RecurrentServingPrecision.BFloat16"/> or <see cref="RecurrentServingPrecision.Int8"/>. Training always runs in
    /// float32 and the saved model keeps float32 weights; the choice is saved with it and survives <c>mlContext.Model.Load</c>.
    /// A fitted or loaded model can be switched later with <see cref="RecurrentPredictionTransformer.WithServingPrecision"/>.
    /// </summary>
    public RecurrentServingPrecision ServingPrecision { get; set; } = Defaults.ServingPrecision;

    /// <summary>Experiments only: the in-memory state to resume training from and to write back to (not public API).</summary>
    internal Engine.Training.TrainingCheckpoint? Checkpoint { get; set; }

    /// <summary>Checks every option; throws <see cref="ArgumentOutOfRangeException"/> or <see cref="ArgumentNullException"/> naming it.</summary>
    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(LabelColumnName))
            throw new ArgumentNullException(nameof(LabelColumnName), "LabelColumnName must name a column.");
        if (string.IsNullOrWhiteSpace(FeatureColumnName))
            throw new ArgumentNullException(nameof(FeatureColumnName), "FeatureColumnName must name a column.");
        if (FeaturesPerStep < 1)
            throw Range(nameof(FeaturesPerStep), FeaturesPerStep, "must be ≥ 1 (features per time step)");
        if (!Enum.IsDefined(CellType))
            throw Range(nameof(CellType), CellType, "must be SimpleRnn, Lstm or Gru");
        if (HiddenSize < 1 || HiddenSize > Limits.HiddenSize)
            throw Range(nameof(HiddenSize), HiddenSize, $"must be > 0 and ≤ {Limits.HiddenSize}");
        if (NumberOfLayers < 1 || NumberOfLayers > Limits.NumberOfLayers)
            throw Range(nameof(NumberOfLayers), NumberOfLayers, $"must be > 0 and ≤ {Limits.NumberOfLayers}");
        if (!(Dropout >= 0f && Dropout < 1f))
            throw Range(nameof(Dropout), Dropout, "must be in [0, 1)");
        if (EmbeddingSize < 1 || EmbeddingSize > Limits.EmbeddingSize)
            throw Range(nameof(EmbeddingSize), EmbeddingSize, $"must be > 0 and ≤ {Limits.EmbeddingSize}");
        if (!(UnknownTokenRate >= 0f && UnknownTokenRate <= 0.5f))
            throw Range(nameof(UnknownTokenRate), UnknownTokenRate, "must be in [0, 0.5]");
        if (MaximumNumberOfEpochs < 1)
            throw Range(nameof(MaximumNumberOfEpochs), MaximumNumberOfEpochs, "must be > 0");
        if (BatchSize < 1)
            throw Range(nameof(BatchSize), BatchSize, "must be > 0");
        if (!(LearningRate > 0f) || !float.IsFinite(LearningRate))
            throw Range(nameof(LearningRate), LearningRate, "must be a finite number > 0");
        if (!Enum.IsDefined(Optimizer))
            throw Range(nameof(Optimizer), Optimizer, "must be Adam, Sgd or RmsProp");
        if (!Enum.IsDefined(LearningRateSchedule))
            throw Range(nameof(LearningRateSchedule), LearningRateSchedule, "must be Constant, Step, Cosine or ReduceOnPlateau");
        if (!(GradientClipNorm >= 0f) || !float.IsFinite(GradientClipNorm))
            throw Range(nameof(GradientClipNorm), GradientClipNorm, "must be a finite number ≥ 0 (0 disables clipping)");
        if (!(L2Regularization >= 0f) || !float.IsFinite(L2Regularization))
            throw Range(nameof(L2Regularization), L2Regularization, "must be a finite number ≥ 0");
        if (!(ValidationFraction >= 0f && ValidationFraction < 1f))
            throw Range(nameof(ValidationFraction), ValidationFraction, "must be in [0, 1)");
        if (EarlyStoppingPatience < 0)
            throw Range(nameof(EarlyStoppingPatience), EarlyStoppingPatience, "must be ≥ 0 (0 disables early stopping)");
        if (NumberOfThreads is int threads && threads < 1)
            throw Range(nameof(NumberOfThreads), threads, "must be > 0, or null for every core");
        if (!Enum.IsDefined(ValidationSplit))
            throw Range(nameof(ValidationSplit), ValidationSplit, "must be Random or Last");
        if (ExampleWeightColumnName is not null && string.IsNullOrWhiteSpace(ExampleWeightColumnName))
            throw new ArgumentOutOfRangeException(nameof(ExampleWeightColumnName), ExampleWeightColumnName,
                "ExampleWeightColumnName must name a column, or be null for no weights.");
        if (NumberOfModels < 1 || NumberOfModels > Limits.NumberOfModels)
            throw Range(nameof(NumberOfModels), NumberOfModels, $"must be > 0 and ≤ {Limits.NumberOfModels}");
        if ((long)NumberOfModels * HiddenSize > Limits.HiddenSize)
            throw Range(nameof(NumberOfModels), NumberOfModels,
                $"times HiddenSize ({HiddenSize}) must be ≤ {Limits.HiddenSize} (the members sit side by side in one network)");
        if ((long)NumberOfModels * EmbeddingSize > Limits.EmbeddingSize)
            throw Range(nameof(NumberOfModels), NumberOfModels,
                $"times EmbeddingSize ({EmbeddingSize}) must be ≤ {Limits.EmbeddingSize} (the members sit side by side in one network)");

        if (Checkpoint is not null && NumberOfModels > 1)
            throw Range(nameof(NumberOfModels), NumberOfModels, "must be 1 when training resumes from a checkpoint");
        if (MaximumTrainingTime is TimeSpan limit && limit <= TimeSpan.Zero)
            throw Range(nameof(MaximumTrainingTime), limit, "must be > 0, or null for no limit");
        if (!Enum.IsDefined(ServingPrecision))
            throw Range(nameof(ServingPrecision), ServingPrecision, "must be Float32, BFloat16 or Int8");
    }

    private static ArgumentOutOfRangeException Range(string name, object value, string rule) =>
        new(name, value, $"{name} {rule}; it was {value}.");

    /// <summary>The defaults, written once; the catalog's simple overloads point at them.</summary>
    internal static class Defaults
    {
        public const string LabelColumnName = "Label";
        public const string FeatureColumnName = "Features";
        public const int FeaturesPerStep = 1;
        public const RecurrentCellType CellType = RecurrentCellType.Lstm;
        public const int HiddenSize = 64;
        public const int NumberOfLayers = 1;
        public const int EmbeddingSize = 32;
        public const float UnknownTokenRate = 0.02f;
        public const int MaximumNumberOfEpochs = 30;
        public const int BatchSize = 32;
        public const float LearningRate = 2e-3f;
        public const RecurrentOptimizer Optimizer = RecurrentOptimizer.Adam;
        public const RecurrentLearningRateSchedule LearningRateSchedule = RecurrentLearningRateSchedule.Constant;
        public const float GradientClipNorm = 1f;
        public const int EarlyStoppingPatience = 5;
        public const RecurrentValidationSplit ValidationSplit = RecurrentValidationSplit.Random;
        public const int NumberOfModels = 1;
        public const RecurrentServingPrecision ServingPrecision = RecurrentServingPrecision.Float32;
    }

    /// <summary>
    /// Test hook: the most bytes of sequences <c>Fit</c> copies into memory before it streams instead; null means
    /// <see cref="Trainers.RecurrentTrainerCore.InMemoryBudgetBytes"/>.
    /// </summary>
    internal long? InMemoryBudgetBytesOverride { get; set; }

    /// <summary>Test hook: false turns off every shuffle of the training rows and batches (to compare data paths).</summary>
    internal bool ShuffleData { get; set; } = true;

    /// <summary>Upper bounds that keep a model inside the stored format's limits.</summary>
    internal static class Limits
    {
        public const int HiddenSize = Model.RecurrentModelFormat.Limits.HiddenSize;
        public const int NumberOfLayers = Model.RecurrentModelFormat.Limits.NumberOfLayers;
        public const int EmbeddingSize = Model.RecurrentModelFormat.Limits.EmbeddingSize;
        public const int NumberOfModels = 64;
    }
}
