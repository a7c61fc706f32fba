using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Data;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Heads;
using Microsoft.ML.Recurrent.Engine.Training;
using Microsoft.ML.Recurrent.Sequence;
using SequenceColumns = Microsoft.ML.Recurrent.Sequence.SequenceColumns;

namespace Microsoft.ML.Recurrent;

/// <summary>
/// Trains a sequence tagger (many-to-many aligned): a recurrent network (bidirectional by default) with an output on every
/// step, optionally topped by a linear-chain CRF. Create it with <c>mlContext.Recurrent().Trainers.SequenceTagger(...)</c>.
/// </summary>
/// <remarks>
/// <para>Input: one row per sequence. Features as the recurrent trainers read them (a vector of Single with T·F values,
/// time-major, or a vector of keys = tokens with <c>FeaturesPerStep = 1</c>). Label: a vector of keys with one class per
/// step (classes; e.g. BIO tags through <c>MapValueToKey</c>), or a vector of Single with one value per step (values).
/// Sequences of any lengths mix freely; padding never enters a loss or a metric.</para>
/// <para>Outputs. Classes: <c>PredictedLabel</c>, a vector of keys with the label's key values (one per step;
/// <c>MapKeyToValue</c> recovers the tags), and <c>Score</c>, a vector of T·K Single: step t's K class probabilities at
/// positions t·K … t·K + K − 1, in key order (the softmax of the step's outputs; with a CRF the posterior marginals
/// p(y_t = k | sequence)). Values: <c>Score</c>, a vector of T Single, one prediction per step.</para>
/// <para>Unknown tokens: key 0 (a value not seen in training) reads a learned unknown-token embedding, trained by
/// replacing a fraction <see cref="RecurrentTrainerOptions.UnknownTokenRate"/> of the training tokens with it.</para>
/// </remarks>
public sealed class SequenceTaggerTrainer : IEstimator<SequenceTaggerTransformer>
{
    private readonly Options _options;
    private readonly int _seed;
    private readonly IProgress<RecurrentEpochReport>? _log;

    internal SequenceTaggerTrainer(Options options, int seed, IProgress<RecurrentEpochReport>? log = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ValidateTagger();
        _options = options;
        _seed = seed;
        _log = log;
    }

    /// <summary>Options of <see cref="SequenceTaggerTrainer"/>: the recurrent trainers' options plus the tagger's own.</summary>
    public sealed class Options : RecurrentTrainerOptions
    {
        /// <summary>Creates options with the tagger's defaults (bidirectional: a tagger sees the whole sequence).</summary>
        public Options() => Bidirectional = true;

        /// <summary>Decode with a linear-chain CRF output layer (transition scores between tags, Viterbi decoding), as
        /// BiLSTM-CRF taggers do. Classes only. Default false.</summary>
        public bool UseCrf { get; set; }

        internal void ValidateTagger() => Validate();
    }

    internal static class TaggerDefaults
    {
        public const float UnknownTokenRate = RecurrentTrainerOptions.Defaults.UnknownTokenRate;
        public const int HiddenSize = 64;
    }

    /// <summary>The input columns plus Score and, for classes, PredictedLabel; throws if a column is missing or has the wrong type.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        SequenceSchema.CheckFeatures(inputSchema, _options.FeatureColumnName, _options.FeaturesPerStep, nameof(inputSchema));
        SequenceDataReader.CheckTaggerLabel(inputSchema, _options.LabelColumnName, nameof(inputSchema));
        SequenceSchema.TryFind(inputSchema, _options.LabelColumnName, out var label);
        if (_options.UseCrf && !label.IsKey)
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"UseCrf needs a class label (a vector of keys); label column '{_options.LabelColumnName}' is {SequenceSchema.Describe(label)}.");
        return SequenceFit.Merge(inputSchema, label.IsKey ? s_classColumns.Value : s_valueColumns.Value);
    }

    private static readonly Lazy<SchemaShape.Column[]> s_classColumns = new(() => SequenceFit.Columns<TagClassesOutput>(
        ml => ml.Transforms.Conversion.MapValueToKey(SequenceColumns.PredictedLabel, SequenceColumns.Predicted)));

    private static readonly Lazy<SchemaShape.Column[]> s_valueColumns = new(() => SequenceFit.Columns<TagValuesOutput>(null));

    /// <summary>Reads the data once, trains the tagger and returns the fitted model.</summary>
    /// <param name="input">One row per sequence with the feature and per-step label columns.</param>
    public SequenceTaggerTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var o = _options;
        var features = SequenceSchema.CheckFeatures(input.Schema, o.FeatureColumnName, o.FeaturesPerStep, nameof(input));
        var label = SequenceDataReader.CheckTaggerLabel(input.Schema, o.LabelColumnName, nameof(input));
        if (o.UseCrf && !label.IsClasses)
            throw new ArgumentOutOfRangeException(nameof(input), $"UseCrf needs a class label (a vector of keys); label column '{o.LabelColumnName}' is a vector of Single.");
        int f = features.Tokens ? 1 : o.FeaturesPerStep;
        var train = SequenceDataReader.Read(input, o.FeatureColumnName, features, f, o.LabelColumnName, label, "training", o.CancellationToken);
        SequenceTable? valid = null;
        if (o.ValidationSet is IDataView validationView)
        {
            var vf = SequenceSchema.CheckFeatures(validationView.Schema, o.FeatureColumnName, o.FeaturesPerStep, nameof(o.ValidationSet));
            var vl = SequenceDataReader.CheckTaggerLabel(validationView.Schema, o.LabelColumnName, nameof(o.ValidationSet));
            if (vf != features || vl.Kind != label.Kind || vl.ClassCount != label.ClassCount)
                throw new ArgumentOutOfRangeException(nameof(o.ValidationSet), "The validation set's feature and label columns must have the same types as the training data's.");
            valid = SequenceDataReader.Read(validationView, o.FeatureColumnName, features, f, o.LabelColumnName, label, "validation", o.CancellationToken);
        }
        else if (o.ValidationFraction > 0)
        {
            (train, valid) = SequenceFit.Split(train, o.ValidationFraction, _seed);
        }

        Standardization? scaling = !features.Tokens && o.NormalizeFeatures ? Standardization.Fit(train.Features, f) : null;
        if (scaling is not null)
        {
            foreach (var x in train.Features) scaling.Apply(x);
            if (valid is not null) foreach (var x in valid.Features) scaling.Apply(x);
        }

        bool classes = label.IsClasses;
        var (mean, std) = classes ? (0f, 1f) : SequenceFit.TargetStatistics(train);
        Func<float[], float[]> target = classes ? t => t : t => t.Select(v => (v - mean) / std).ToArray();
        var trainSet = SequenceFit.ToDataset(train, f, 1, perStep: true, target);
        var validSet = valid is null ? null : SequenceFit.ToDataset(valid, f, 1, perStep: true, target);

        int outputs = classes ? label.ClassCount : 1;
        var spec = new NetworkSpec((CellKind)(int)o.CellType, f, o.HiddenSize, o.NumberOfLayers, o.Bidirectional, o.Dropout,
            features.Tokens ? features.VocabularySize : 0, features.Tokens ? o.EmbeddingSize : 0, outputs, OutputMode.EveryStep);
        ISequenceObjective objective = o.UseCrf ? new CrfObjective(outputs)
            : new StepLossObjective(classes ? LossKind.SoftmaxCrossEntropy : LossKind.MeanSquaredError, outputs);
        var history = new List<RecurrentEpochReport>();
        string lossName = classes ? (o.UseCrf ? "CRF negative log-likelihood per step" : RecurrentEpochReport.LossNames.CrossEntropy) : RecurrentEpochReport.LossNames.MeanSquaredError;
        var result = SequenceFit.Train(Training(o, _seed, log: _log), spec, objective, trainSet, validSet, lossName, classes ? 1 : (double)std * std, history);

        var parameters = (float[])result.Parameters.Clone();
        var layout = new ParameterLayout(spec);
        scaling?.FoldIntoInput(layout, parameters);
        if (!classes) Standardization.FoldIntoHead(layout, parameters, mean, std);
        SequenceFit.CheckFinite(parameters, result.ObjectiveParameters);
        var model = new SequenceModel(classes ? SequenceTask.TagClasses : SequenceTask.TagValues, spec, PoolingKind.Last, o.UseCrf,
            o.FeatureColumnName, label.ClassNames, parameters, result.ObjectiveParameters);
        return new SequenceTaggerTransformer(SequenceServing.BuildTagger(model, input.Schema), model, history, result.BestEpoch);
    }

    internal static SequenceTraining Training(RecurrentTrainerOptions o, int seed, float unknownTokenRate = -1, IProgress<RecurrentEpochReport>? log = null) => new(
        o.CellType, o.HiddenSize, o.NumberOfLayers, o.Bidirectional, o.Dropout, o.EmbeddingSize, o.MaximumNumberOfEpochs, o.BatchSize,
        o.LearningRate, o.Optimizer, o.LearningRateSchedule, o.GradientClipNorm, o.L2Regularization, o.NormalizeFeatures,
        o.EarlyStoppingPatience, seed, o.NumberOfThreads, unknownTokenRate >= 0 ? unknownTokenRate : o.UnknownTokenRate,
        o.Progress ?? log, o.CancellationToken);
}

/// <summary>
/// A fitted sequence tagger (from <see cref="SequenceTaggerTrainer.Fit"/>): adds <c>Score</c> and, for classes,
/// <c>PredictedLabel</c> (see <see cref="SequenceTaggerTrainer"/> for their layout). Works with <c>Transform</c>,
/// <c>CreatePredictionEngine</c>, <c>mlContext.Recurrent().EvaluateTagging</c> and <c>mlContext.Model.Save</c>/<c>Load</c>
/// (which returns the inner chain of stock transformers, with identical outputs, in any process).
/// </summary>
public sealed class SequenceTaggerTransformer : ITransformer
{
    private readonly ITransformer _chain;

    internal SequenceTaggerTransformer(ITransformer chain, SequenceModel model, IReadOnlyList<RecurrentEpochReport> history, int bestEpoch)
    {
        _chain = chain;
        Model = model;
        TrainingHistory = history;
        BestEpoch = bestEpoch;
    }

    internal SequenceModel Model { get; }

    /// <summary>Classes: the label's key values as text, in key order (the layout of each step's scores); empty for values.</summary>
    public IReadOnlyList<string> ClassNames => Model.ClassNames;

    /// <summary>Whether a linear-chain CRF decodes the tags.</summary>
    public bool UsesCrf => Model.UseCrf;

    /// <summary>One report per epoch that ran.</summary>
    public IReadOnlyList<RecurrentEpochReport> TrainingHistory { get; }

    /// <summary>The epoch whose weights the model keeps (the best validation loss with validation data, else the last).</summary>
    public int BestEpoch { get; }

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
