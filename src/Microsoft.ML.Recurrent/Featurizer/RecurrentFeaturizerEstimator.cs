using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Data;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Heads;
using Microsoft.ML.Recurrent.Sequence;
using SequenceColumns = Microsoft.ML.Recurrent.Sequence.SequenceColumns;

namespace Microsoft.ML.Recurrent;

/// <summary>How <see cref="RecurrentFeaturizerEstimator"/> turns the encoder's per-step states into one vector.</summary>
public enum RecurrentPooling
{
    /// <summary>The last state (forward direction at the last step ‖ reverse direction at the first), as the trainers' heads read it.</summary>
    Last = 0,
    /// <summary>The mean of the states of every step.</summary>
    Mean = 1,
    /// <summary>The element-wise maximum over the steps.</summary>
    Max = 2,
    /// <summary>A learned query scores every step's state (e_t = q·h_t / √D); the softmax of the scores weights the states'
    /// sum. The weights can be written to <see cref="RecurrentFeaturizerEstimator.Options.AttentionWeightsColumnName"/>.</summary>
    Attention = 3,
}

/// <summary>
/// Trains a recurrent encoder and outputs one known-size <c>Vector&lt;Single, D&gt;</c> per sequence (D = hidden units ×
/// directions), so any ML.NET trainer can follow it: <c>FeaturizeSequence(...).Append(mlContext.Regression.Trainers.Sdca(...))</c>.
/// Create it with <c>mlContext.Transforms.FeaturizeSequence(...)</c>.
/// </summary>
/// <remarks>
/// <para>With a label (<see cref="float"/> → a regression head, a key → a class head), the encoder and the pooling are
/// trained through a dense head that is then dropped: the features are what that head read. Without a label the encoder
/// is trained self-supervised: the forward direction's state at step t predicts step t + 1 (the next F features,
/// standardised, or the next token), the reverse direction's predicts step t − 1. Attention pooling is only trained with
/// a label; without one its query stays zero, which weights every step equally (the mean).</para>
/// <para>Input: as the recurrent trainers read it (a vector of Single with T·F values, time-major, or a vector of keys with
/// <c>FeaturesPerStep = 1</c>). Key 0 reads a learned unknown-token embedding. Output: the pooled vector, a known-size
/// vector column (reshaped by the package's ONNX shape adapter, as the multiclass trainers' Score is), and optionally the
/// attention weights (a vector of T Single).</para>
/// </remarks>
public sealed class RecurrentFeaturizerEstimator : IEstimator<RecurrentFeaturizerTransformer>
{
    private readonly Options _options;

    internal RecurrentFeaturizerEstimator(Options options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
    }

    /// <summary>Options of <see cref="RecurrentFeaturizerEstimator"/>. Network and training options carry the trainers' names and defaults.</summary>
    public sealed class Options
    {
        /// <summary>The output column: a known-size vector of D = HiddenSize × directions Single values. Required.</summary>
        public string OutputColumnName { get; set; } = "";

        /// <summary>The input column: a vector of Single (T·F values, time-major) or a vector of keys (tokens). Default: <see cref="OutputColumnName"/>'s value when null.</summary>
        public string? InputColumnName { get; set; }

        /// <summary>Features per time step F (1 for key-typed tokens). Default 1.</summary>
        public int FeaturesPerStep { get; set; } = RecurrentTrainerOptions.Defaults.FeaturesPerStep;

        /// <summary>An optional label: <see cref="float"/> (regression head) or a key (class head). Null (the default): self-supervised next-step prediction.</summary>
        public string? LabelColumnName { get; set; }

        /// <summary>How the per-step states become one vector. Default <see cref="RecurrentPooling.Last"/>.</summary>
        public RecurrentPooling Pooling { get; set; } = Defaults.Pooling;

        /// <summary>With <see cref="RecurrentPooling.Attention"/>: a column to receive the attention weights (T values summing to 1). Default null (not written).</summary>
        public string? AttentionWeightsColumnName { get; set; }

        /// <summary>The cell of every layer. Default <see cref="RecurrentCellType.Lstm"/>.</summary>
        public RecurrentCellType CellType { get; set; } = RecurrentTrainerOptions.Defaults.CellType;

        /// <summary>Hidden units per layer and direction. Default 32.</summary>
        public int HiddenSize { get; set; } = Defaults.HiddenSize;

        /// <summary>Stacked recurrent layers. Default 1.</summary>
        public int NumberOfLayers { get; set; } = RecurrentTrainerOptions.Defaults.NumberOfLayers;

        /// <summary>Whether every layer also reads the sequence backwards (D doubles). Default false.</summary>
        public bool Bidirectional { get; set; }

        /// <summary>Dropout probability between stacked layers, during training only, in [0, 1). Default 0.</summary>
        public float Dropout { get; set; }

        /// <summary>Embedding width for key-typed token input. Default 32.</summary>
        public int EmbeddingSize { get; set; } = RecurrentTrainerOptions.Defaults.EmbeddingSize;

        /// <summary>Training epochs. Default 30.</summary>
        public int MaximumNumberOfEpochs { get; set; } = RecurrentTrainerOptions.Defaults.MaximumNumberOfEpochs;

        /// <summary>Sequences per mini-batch. Default 32.</summary>
        public int BatchSize { get; set; } = RecurrentTrainerOptions.Defaults.BatchSize;

        /// <summary>Learning rate. Default 0.002.</summary>
        public float LearningRate { get; set; } = RecurrentTrainerOptions.Defaults.LearningRate;

        /// <summary>The update rule. Default <see cref="RecurrentOptimizer.Adam"/>.</summary>
        public RecurrentOptimizer Optimizer { get; set; } = RecurrentTrainerOptions.Defaults.Optimizer;

        /// <summary>How the learning rate changes over the epochs. Default constant.</summary>
        public RecurrentLearningRateSchedule LearningRateSchedule { get; set; } = RecurrentTrainerOptions.Defaults.LearningRateSchedule;

        /// <summary>Global-norm gradient clipping; 0 disables it. Default 1.</summary>
        public float GradientClipNorm { get; set; } = RecurrentTrainerOptions.Defaults.GradientClipNorm;

        /// <summary>Weight decay, ≥ 0. Default 0.</summary>
        public float L2Regularization { get; set; }

        /// <summary>Standardise every input feature over the training steps (folded into the weights afterwards). Default true.</summary>
        public bool NormalizeFeatures { get; set; } = true;

        /// <summary>Token input: the fraction of training tokens replaced by the unknown token (key 0), in [0, 0.5]. Default 0.02.</summary>
        public float UnknownTokenRate { get; set; } = SequenceTaggerTrainer.TaggerDefaults.UnknownTokenRate;

        /// <summary>Seed of initialisation and shuffling; null (the default) means 0 (a transforms catalog does not expose its
        /// context's seed).</summary>
        public int? Seed { get; set; }

        /// <summary>Worker threads for training; null (the default) uses every core.</summary>
        public int? NumberOfThreads { get; set; }

        /// <summary>Receives one <see cref="RecurrentEpochReport"/> per epoch (e.g. <c>mlContext.RecurrentTrainingLog()</c>).</summary>
        public IProgress<RecurrentEpochReport>? Progress { get; set; }

        /// <summary>Cancels training within one mini-batch.</summary>
        public CancellationToken CancellationToken { get; set; }

        internal string Input => InputColumnName ?? OutputColumnName;

        internal void Validate()
        {
            if (string.IsNullOrWhiteSpace(OutputColumnName))
                throw new ArgumentNullException(nameof(OutputColumnName), "OutputColumnName must name a column.");
            if (InputColumnName is not null && string.IsNullOrWhiteSpace(InputColumnName))
                throw new ArgumentNullException(nameof(InputColumnName), "InputColumnName must name a column (or be null to read OutputColumnName).");
            if (LabelColumnName is not null && string.IsNullOrWhiteSpace(LabelColumnName))
                throw new ArgumentNullException(nameof(LabelColumnName), "LabelColumnName must name a column, or be null for self-supervised training.");
            if (FeaturesPerStep < 1) throw Range(nameof(FeaturesPerStep), FeaturesPerStep, "must be ≥ 1");
            if (!Enum.IsDefined(Pooling)) throw Range(nameof(Pooling), Pooling, "must be Last, Mean, Max or Attention");
            if (AttentionWeightsColumnName is not null)
            {
                if (Pooling != RecurrentPooling.Attention)
                    throw Range(nameof(AttentionWeightsColumnName), AttentionWeightsColumnName, $"needs Pooling = Attention (Pooling is {Pooling})");
                if (string.IsNullOrWhiteSpace(AttentionWeightsColumnName) || AttentionWeightsColumnName == OutputColumnName)
                    throw Range(nameof(AttentionWeightsColumnName), AttentionWeightsColumnName, "must name a column other than OutputColumnName");
            }

            if (!Enum.IsDefined(CellType)) throw Range(nameof(CellType), CellType, "must be SimpleRnn, Lstm or Gru");
            if (HiddenSize < 1 || HiddenSize > Model.RecurrentModelFormat.Limits.HiddenSize) throw Range(nameof(HiddenSize), HiddenSize, "must be > 0 and ≤ 65536");
            if (NumberOfLayers < 1 || NumberOfLayers > Model.RecurrentModelFormat.Limits.NumberOfLayers) throw Range(nameof(NumberOfLayers), NumberOfLayers, "must be > 0 and ≤ 256");
            if (!(Dropout >= 0f && Dropout < 1f)) throw Range(nameof(Dropout), Dropout, "must be in [0, 1)");
            if (EmbeddingSize < 1 || EmbeddingSize > Model.RecurrentModelFormat.Limits.EmbeddingSize) throw Range(nameof(EmbeddingSize), EmbeddingSize, "must be > 0 and ≤ 65536");
            if (MaximumNumberOfEpochs < 1) throw Range(nameof(MaximumNumberOfEpochs), MaximumNumberOfEpochs, "must be > 0");
            if (BatchSize < 1) throw Range(nameof(BatchSize), BatchSize, "must be > 0");
            if (!(LearningRate > 0f) || !float.IsFinite(LearningRate)) throw Range(nameof(LearningRate), LearningRate, "must be a finite number > 0");
            if (!Enum.IsDefined(Optimizer)) throw Range(nameof(Optimizer), Optimizer, "must be Adam, Sgd or RmsProp");
            if (!Enum.IsDefined(LearningRateSchedule)) throw Range(nameof(LearningRateSchedule), LearningRateSchedule, "must be Constant, Step, Cosine or ReduceOnPlateau");
            if (!(GradientClipNorm >= 0f) || !float.IsFinite(GradientClipNorm)) throw Range(nameof(GradientClipNorm), GradientClipNorm, "must be a finite number ≥ 0 (0 disables clipping)");
            if (!(L2Regularization >= 0f) || !float.IsFinite(L2Regularization)) throw Range(nameof(L2Regularization), L2Regularization, "must be a finite number ≥ 0");
            if (!(UnknownTokenRate >= 0f && UnknownTokenRate <= 0.5f)) throw Range(nameof(UnknownTokenRate), UnknownTokenRate, "must be in [0, 0.5]");
            if (NumberOfThreads is int threads && threads < 1) throw Range(nameof(NumberOfThreads), threads, "must be > 0, or null for every core");
        }

        private static ArgumentOutOfRangeException Range(string name, object value, string rule) => new(name, value, $"{name} {rule}; it was {value}.");

        /// <summary>The featurizer's own defaults (the rest are the trainers').</summary>
        internal static class Defaults
        {
            public const RecurrentPooling Pooling = RecurrentPooling.Last;
            public const int HiddenSize = 32;
        }
    }

    /// <summary>The input columns plus the output vector (and the attention weights when asked for); throws if a column is
    /// missing or has the wrong type.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        var o = _options;
        SequenceSchema.CheckFeatures(inputSchema, o.Input, o.FeaturesPerStep, nameof(inputSchema));
        if (o.LabelColumnName is string label) SequenceDataReader.CheckFeaturizerLabel(inputSchema, label, nameof(inputSchema));
        var added = SequenceFit.Columns<FeaturizerTemplate>(ml =>
        {
            IEstimator<ITransformer> e = ml.Transforms.CopyColumns(o.OutputColumnName, SequenceColumns.Pooled);
            if (o.AttentionWeightsColumnName is string w) e = e.Append(ml.Transforms.CopyColumns(w, SequenceColumns.Weights));
            return e;
        });
        return SequenceFit.Merge(inputSchema, added);
    }

    private sealed class FeaturizerTemplate
    {
        [ColumnName(SequenceColumns.Pooled)]
        [VectorType(1)]
        public float[] Pooled = new float[1];

        [ColumnName(SequenceColumns.Weights)]
        [VectorType]
        public float[] Weights = [];
    }

    /// <summary>Reads the data once, trains the encoder and returns the fitted featurizer.</summary>
    /// <param name="input">One row per sequence with the input (and label) columns.</param>
    public RecurrentFeaturizerTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var o = _options;
        var features = SequenceSchema.CheckFeatures(input.Schema, o.Input, o.FeaturesPerStep, nameof(input));
        var label = o.LabelColumnName is string l ? SequenceDataReader.CheckFeaturizerLabel(input.Schema, l, nameof(input))
            : new SequenceLabelInfo(SequenceLabelKind.None, 0, []);
        int f = features.Tokens ? 1 : o.FeaturesPerStep;
        var train = SequenceDataReader.Read(input, o.Input, features, f, o.LabelColumnName, label, "training", o.CancellationToken);
        Standardization? scaling = !features.Tokens && o.NormalizeFeatures ? Standardization.Fit(train.Features, f) : null;
        if (scaling is not null) foreach (var x in train.Features) scaling.Apply(x);

        int seed = o.Seed ?? 0;
        var spec = new NetworkSpec((CellKind)(int)o.CellType, f, o.HiddenSize, o.NumberOfLayers, o.Bidirectional, o.Dropout,
            features.Tokens ? features.VocabularySize : 0, features.Tokens ? o.EmbeddingSize : 0, 0, OutputMode.LastHidden);
        var pooling = (PoolingKind)(int)o.Pooling;
        ISequenceObjective objective;
        Engine.Training.SequenceDataset set;
        string lossName;
        double lossScale = 1;
        switch (label.Kind)
        {
            case SequenceLabelKind.Value:
            {
                var (mean, std) = SequenceFit.TargetStatistics(train);
                objective = new PooledObjective(pooling, o.HiddenSize, spec.Directions, LossKind.MeanSquaredError, 1);
                set = SequenceFit.ToDataset(train, f, 1, perStep: false, t => [(t[0] - mean) / std]);
                lossName = RecurrentEpochReport.LossNames.MeanSquaredError;
                lossScale = (double)std * std;
                break;
            }

            case SequenceLabelKind.Classes:
                objective = new PooledObjective(pooling, o.HiddenSize, spec.Directions, LossKind.SoftmaxCrossEntropy, label.ClassCount);
                set = SequenceFit.ToDataset(train, f, 1, perStep: false, t => t);
                lossName = RecurrentEpochReport.LossNames.CrossEntropy;
                break;
            default:
                objective = new NextStepObjective(o.HiddenSize, spec.Directions, f, spec.VocabularySize);
                var featuresCopy = train.Features;
                int index = 0;
                set = SequenceFit.ToDataset(train, f, f, perStep: true, _ => (float[])featuresCopy[index++].Clone());
                lossName = features.Tokens ? "next-token cross-entropy" : "next-step mean squared error (standardised features)";
                break;
        }

        var history = new List<RecurrentEpochReport>();
        var training = new SequenceTraining(o.CellType, o.HiddenSize, o.NumberOfLayers, o.Bidirectional, o.Dropout, o.EmbeddingSize,
            o.MaximumNumberOfEpochs, o.BatchSize, o.LearningRate, o.Optimizer, o.LearningRateSchedule, o.GradientClipNorm, o.L2Regularization,
            o.NormalizeFeatures, 0, seed, o.NumberOfThreads, o.UnknownTokenRate, o.Progress, o.CancellationToken);
        var result = SequenceFit.Train(training, spec, objective, set, null, lossName, lossScale, history);

        var parameters = (float[])result.Parameters.Clone();
        scaling?.FoldIntoInput(new ParameterLayout(spec), parameters);
        // The pooling's own parameters (the attention query) lead the objective's buffer; the dense head after them is dropped.
        var query = pooling == PoolingKind.Attention
            ? (label.Kind == SequenceLabelKind.None ? new float[spec.OutputWidth] : result.ObjectiveParameters.AsSpan(0, spec.OutputWidth).ToArray())
            : [];
        SequenceFit.CheckFinite(parameters, query);
        var model = new SequenceModel(SequenceTask.Featurize, spec, pooling, false, o.Input, [], parameters, query);
        var chain = SequenceServing.BuildFeaturizer(model, input.Schema, o.OutputColumnName, o.AttentionWeightsColumnName);
        return new RecurrentFeaturizerTransformer(chain, model, history);
    }
}

/// <summary>
/// A fitted sequence featurizer: adds the pooled encoder output (a known-size vector of <see cref="OutputSize"/> Single) and,
/// when asked for, the attention weights. Saves and loads with <c>mlContext.Model.Save</c>/<c>Load</c> (which returns the
/// inner chain of stock transformers, identical outputs, in any process).
/// </summary>
public sealed class RecurrentFeaturizerTransformer : ITransformer
{
    private readonly ITransformer _chain;

    internal RecurrentFeaturizerTransformer(ITransformer chain, SequenceModel model, IReadOnlyList<RecurrentEpochReport> history)
    {
        _chain = chain;
        Model = model;
        TrainingHistory = history;
    }

    internal SequenceModel Model { get; }

    /// <summary>The length D of the output vector: hidden units × directions.</summary>
    public int OutputSize => Model.OutputWidth;

    /// <summary>The pooling used.</summary>
    public RecurrentPooling Pooling => (RecurrentPooling)(int)Model.Pooling;

    /// <summary>One report per training epoch.</summary>
    public IReadOnlyList<RecurrentEpochReport> TrainingHistory { get; }

    /// <inheritdoc/>
    public bool IsRowToRowMapper => _chain.IsRowToRowMapper;

    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => _chain.GetOutputSchema(inputSchema);

    /// <inheritdoc/>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => _chain.GetRowToRowMapper(inputSchema);

    /// <inheritdoc/>
    public IDataView Transform(IDataView input) => _chain.Transform(input);

    /// <summary>Saves the inner chain of stock transformers (ML.NET calls this from <c>mlContext.Model.Save</c>).</summary>
    void ICanSaveModel.Save(ModelSaveContext ctx) => _chain.Save(ctx);
}
