using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Data;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Seq2Seq;
using Microsoft.ML.Recurrent.Seq2Seq;

namespace Microsoft.ML.Recurrent;

/// <summary>How an encoder–decoder's decoder looks at the encoder's states.</summary>
public enum RecurrentAttention
{
    /// <summary>No attention: the source reaches the decoder only through the encoder's final states.</summary>
    None = 0,
    /// <summary>Additive (Bahdanau) score v·tanh(W1 h_dec + W2 h_enc + b). The default.</summary>
    Additive = 1,
    /// <summary>Multiplicative (Luong "general") score h_dec · W h_enc.</summary>
    Dot = 2,
}

/// <summary>
/// Trains an encoder–decoder (sequence to sequence of a different length) with attention, created by
/// <c>mlContext.Recurrent().Trainers.EncoderDecoder(...)</c>. The source is a key vector (tokens, with an embedding) or a
/// vector of Single (<see cref="Options.FeaturesPerStep"/> values per step); the target a key vector of any length whose
/// key values are the output tokens. Start and end of the target are added by the trainer.
/// </summary>
/// <remarks>
/// <para>Encoder: the engine's stacked, optionally bidirectional cells. Decoder: a cell of the same kind, size and depth
/// reading the previous target token (an embedding), started from the encoder's final states (summed over directions).
/// Attention is placed as Luong places it: from each decoder output over the encoder's states (padding masked), the context
/// joins the decoder output in the projection to the vocabulary. Training uses teacher forcing (the whole target in one
/// pass); prediction decodes greedily (<see cref="Options.BeamWidth"/> = 1) or with a beam search ranking finished
/// sequences by their mean log-probability per token (length normalisation, the end token counted), up to
/// <see cref="Options.MaximumOutputLength"/> tokens.</para>
/// <para>Source key 0 (missing, e.g. a word MapValueToKey did not know) is the unknown token: the embedding's row 0, which starts at zero and is trained only where training sources hold key 0 (no
/// token dropout here, unlike the trainers' <see cref="RecurrentTrainerOptions.UnknownTokenRate"/>). A key
/// beyond the training key count at prediction time is an error naming the column. Target keys must be 1..K (a missing key
/// in the target is an error naming the label column and row); an empty target is an error.</para>
/// <para>There is no ONNX export: decoding is a data-dependent loop with a beam search, which is not one honest ONNX graph
/// without ONNX Loop bodies re-implementing the search; the model saves and loads as an ML.NET model instead.</para>
/// </remarks>
public sealed class EncoderDecoderTrainer : IEstimator<EncoderDecoderTransformer>
{
    /// <summary>Options of <see cref="EncoderDecoderTrainer"/>.</summary>
    public sealed class Options
    {
        /// <summary>The target: a key vector (any length ≥ 1) whose key values are the output tokens.</summary>
        public string LabelColumnName { get; set; } = Defaults.LabelColumnName;

        /// <summary>The source: a key vector (tokens) or a vector of Single (T·F values, time-major).</summary>
        public string FeatureColumnName { get; set; } = Defaults.FeatureColumnName;

        /// <summary>Output column: the decoded tokens as a key vector with the target's key values.</summary>
        public string PredictedLabelColumnName { get; set; } = Defaults.PredictedLabelColumnName;

        /// <summary>
        /// Optional output column of the attention weights (vector of Single, output length × source length, row-major: row k
        /// is emitted token k's weights over the source steps); null (the default) adds no column.
        /// </summary>
        public string? AttentionWeightsColumnName { get; set; }

        /// <summary>Values per source step F for a Single source (1 for tokens).</summary>
        public int FeaturesPerStep { get; set; } = Defaults.FeaturesPerStep;

        /// <summary>Cell of the encoder and the decoder.</summary>
        public RecurrentCellType CellType { get; set; } = Defaults.CellType;

        /// <summary>Hidden units H of every layer (encoder and decoder).</summary>
        public int HiddenSize { get; set; } = Defaults.HiddenSize;

        /// <summary>Stacked layers L of the encoder and of the decoder.</summary>
        public int NumberOfLayers { get; set; } = Defaults.NumberOfLayers;

        /// <summary>Whether the encoder reads the source in both directions (the default).</summary>
        public bool Bidirectional { get; set; } = Defaults.Bidirectional;

        /// <summary>Dropout between stacked layers, in training only.</summary>
        public float Dropout { get; set; }

        /// <summary>Embedding width of source tokens (ignored for a Single source).</summary>
        public int EmbeddingSize { get; set; } = Defaults.EmbeddingSize;

        /// <summary>Embedding width of target tokens fed back to the decoder.</summary>
        public int TargetEmbeddingSize { get; set; } = Defaults.EmbeddingSize;

        /// <summary>Attention over the encoder's states.</summary>
        public RecurrentAttention Attention { get; set; } = Defaults.Attention;

        /// <summary>Beam width of prediction; 1 = greedy decoding.</summary>
        public int BeamWidth { get; set; } = Defaults.BeamWidth;

        /// <summary>Most tokens a prediction emits (a sequence stops earlier at the learned end token).</summary>
        public int MaximumOutputLength { get; set; } = Defaults.MaximumOutputLength;

        /// <summary>Passes over the training data.</summary>
        public int MaximumNumberOfEpochs { get; set; } = Defaults.MaximumNumberOfEpochs;

        /// <summary>Pairs per mini-batch.</summary>
        public int BatchSize { get; set; } = Defaults.BatchSize;

        /// <summary>Adam's learning rate.</summary>
        public float LearningRate { get; set; } = Defaults.LearningRate;

        /// <summary>Global gradient-norm clipping threshold (0 = none).</summary>
        public float GradientClipNorm { get; set; } = Defaults.GradientClipNorm;

        /// <summary>Seed of initialisation and shuffling; null draws one from the MLContext's seeded random source.</summary>
        public int? Seed { get; set; }

        /// <summary>Threads of the engine; null = all cores.</summary>
        public int? NumberOfThreads { get; set; }

        /// <summary>Receives one report per epoch; when null, reports go to MLContext.Log.</summary>
        public IProgress<RecurrentEpochReport>? Progress { get; set; }

        /// <summary>Stops training between batches.</summary>
        public CancellationToken CancellationToken { get; set; }

        /// <summary>The default values, written once.</summary>
        internal static class Defaults
        {
            public const string LabelColumnName = "Label";
            public const string FeatureColumnName = "Features";
            public const string PredictedLabelColumnName = "PredictedLabel";
            public const int FeaturesPerStep = 1;
            public const RecurrentCellType CellType = RecurrentCellType.Lstm;
            public const int HiddenSize = 64;
            public const int NumberOfLayers = 1;
            public const bool Bidirectional = true;
            public const int EmbeddingSize = 32;
            public const RecurrentAttention Attention = RecurrentAttention.Additive;
            public const int BeamWidth = 1;
            public const int MaximumOutputLength = 50;
            public const int MaximumNumberOfEpochs = 30;
            public const int BatchSize = 32;
            public const float LearningRate = 5e-3f;
            public const float GradientClipNorm = 5f;
        }

        /// <summary>Every option checked in one place; the exception names the option.</summary>
        internal void Validate()
        {
            Check(!string.IsNullOrWhiteSpace(LabelColumnName), nameof(LabelColumnName), "must name a column", LabelColumnName);
            Check(!string.IsNullOrWhiteSpace(FeatureColumnName), nameof(FeatureColumnName), "must name a column", FeatureColumnName);
            Check(!string.IsNullOrWhiteSpace(PredictedLabelColumnName), nameof(PredictedLabelColumnName), "must name a column", PredictedLabelColumnName);
            Check(AttentionWeightsColumnName is null || AttentionWeightsColumnName.Trim().Length > 0, nameof(AttentionWeightsColumnName), "must be null or name a column", AttentionWeightsColumnName);
            Check(FeaturesPerStep >= 1, nameof(FeaturesPerStep), "must be ≥ 1", FeaturesPerStep);
            Check(Enum.IsDefined(CellType), nameof(CellType), "is not a defined cell type", CellType);
            Check(HiddenSize >= 1 && HiddenSize <= Model.RecurrentModelFormat.Limits.HiddenSize, nameof(HiddenSize), $"must be in [1, {Model.RecurrentModelFormat.Limits.HiddenSize}]", HiddenSize);
            Check(NumberOfLayers >= 1 && NumberOfLayers <= Model.RecurrentModelFormat.Limits.NumberOfLayers, nameof(NumberOfLayers), $"must be in [1, {Model.RecurrentModelFormat.Limits.NumberOfLayers}]", NumberOfLayers);
            Check(Dropout >= 0f && Dropout < 1f, nameof(Dropout), "must be in [0, 1)", Dropout);
            Check(EmbeddingSize >= 1 && EmbeddingSize <= Model.RecurrentModelFormat.Limits.EmbeddingSize, nameof(EmbeddingSize), $"must be in [1, {Model.RecurrentModelFormat.Limits.EmbeddingSize}]", EmbeddingSize);
            Check(TargetEmbeddingSize >= 1 && TargetEmbeddingSize <= Model.RecurrentModelFormat.Limits.EmbeddingSize, nameof(TargetEmbeddingSize), $"must be in [1, {Model.RecurrentModelFormat.Limits.EmbeddingSize}]", TargetEmbeddingSize);
            Check(Enum.IsDefined(Attention), nameof(Attention), "is not a defined attention kind", Attention);
            Check(BeamWidth >= 1 && BeamWidth <= 1024, nameof(BeamWidth), "must be in [1, 1024] (1 = greedy)", BeamWidth);
            Check(MaximumOutputLength >= 1 && MaximumOutputLength <= 1 << 20, nameof(MaximumOutputLength), "must be in [1, 2^20]", MaximumOutputLength);
            Check(MaximumNumberOfEpochs >= 1, nameof(MaximumNumberOfEpochs), "must be ≥ 1", MaximumNumberOfEpochs);
            Check(BatchSize >= 1, nameof(BatchSize), "must be ≥ 1", BatchSize);
            Check(LearningRate > 0f && float.IsFinite(LearningRate), nameof(LearningRate), "must be a finite number > 0", LearningRate);
            Check(GradientClipNorm >= 0f && float.IsFinite(GradientClipNorm), nameof(GradientClipNorm), "must be a finite number ≥ 0", GradientClipNorm);
            Check(NumberOfThreads is null || NumberOfThreads >= 1, nameof(NumberOfThreads), "must be null or ≥ 1", NumberOfThreads);
        }

        private static void Check(bool ok, string name, string rule, object? value)
        {
            if (!ok) throw new ArgumentOutOfRangeException(name, value, $"{name} {rule}; it was {value ?? "null"}.");
        }
    }

    private readonly Options _options;
    private readonly int _seed;
    private readonly IProgress<RecurrentEpochReport>? _log;

    internal EncoderDecoderTrainer(Options options, int seed, IProgress<RecurrentEpochReport>? log = null)
    {
        _log = log;
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _seed = seed;
    }

    /// <summary>Adds <see cref="Options.PredictedLabelColumnName"/> (and the attention column when asked for).</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        var o = _options;
        o.Validate();
        SequenceSchema.CheckFeatures(inputSchema, o.FeatureColumnName, o.FeaturesPerStep, nameof(inputSchema));
        TokenColumns.CheckTokens(inputSchema, o.LabelColumnName, "Label", nameof(inputSchema));
        var result = new Dictionary<string, SchemaShape.Column>();
        foreach (var c in inputSchema) result[c.Name] = c;
        foreach (var c in OutputColumns(o.PredictedLabelColumnName, o.AttentionWeightsColumnName)) result[c.Name] = c;
        return new SchemaShape(result.Values);
    }

    /// <summary>
    /// The output columns as the serving chain's stock estimators describe them (a <see cref="SchemaShape.Column"/> has no
    /// public constructor): a variable key vector and, optionally, a variable vector of Single.
    /// </summary>
    internal static SchemaShape.Column[] OutputColumns(string predicted, string? attention)
    {
        var ml = new MLContext(seed: 0);
        IEstimator<ITransformer> e = ml.Transforms.CustomMapping<Serving.NoInput, Seq2SeqOutput>((_, _) => { }, contractName: null)
            .Append(ml.Transforms.Conversion.MapValueToKey(predicted, Seq2SeqServingNames.Seq2SeqTokens));
        if (attention is not null) e = e.Append(ml.Transforms.CopyColumns(attention, Seq2SeqServingNames.Seq2SeqAttention));
        var shape = e.GetOutputSchema(new SchemaShape([]));
        return shape.Where(c => !c.Name.StartsWith("__Recurrent", StringComparison.Ordinal)).ToArray();
    }

    /// <summary>Reads the pairs once, trains, and returns the transformer that decodes.</summary>
    public EncoderDecoderTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var o = _options;
        o.Validate();
        var features = SequenceSchema.CheckFeatures(input.Schema, o.FeatureColumnName, o.FeaturesPerStep, nameof(input));
        var targetValues = TokenColumns.CheckTokens(input.Schema, o.LabelColumnName, "Label", nameof(input));
        var sources = TokenColumns.ReadSource(input, o.FeatureColumnName, features.Tokens, o.FeaturesPerStep);
        var targets = TokenColumns.ReadTokens(input, o.LabelColumnName, "Label", missingIsError: true, emptyIsError: true);
        if (sources.Count == 0) throw new ArgumentException($"The training data has no rows (columns '{o.FeatureColumnName}', '{o.LabelColumnName}').", nameof(input));
        if (sources.Count != targets.Count) throw new InvalidOperationException($"Feature column '{o.FeatureColumnName}' gave {sources.Count} rows but label column '{o.LabelColumnName}' {targets.Count}.");

        var spec = new Seq2SeqSpec((CellKind)o.CellType, features.Tokens ? 1 : o.FeaturesPerStep, features.Tokens ? features.VocabularySize : 0,
            features.Tokens ? o.EmbeddingSize : 0, o.HiddenSize, o.NumberOfLayers, o.Bidirectional, o.Dropout, targetValues.Length, o.TargetEmbeddingSize,
            (AttentionKind)o.Attention);
        var data = new List<Seq2SeqExample>(sources.Count);
        for (int i = 0; i < sources.Count; i++) data.Add(new Seq2SeqExample(sources[i], targets[i]));
        var settings = new Seq2SeqTrainerSettings
        {
            Spec = spec,
            Epochs = o.MaximumNumberOfEpochs,
            BatchSize = o.BatchSize,
            LearningRate = o.LearningRate,
            GradientClipNorm = o.GradientClipNorm,
            Seed = _seed,
            Threads = o.NumberOfThreads ?? 0,
        };
        var history = new List<RecurrentEpochReport>();
        var result = Seq2SeqTrainer.Train(settings, data, r =>
        {
            var report = new RecurrentEpochReport(r.Epoch, o.MaximumNumberOfEpochs, RecurrentEpochReport.LossNames.CrossEntropy, r.TrainLoss, null, null, r.SequencesPerSecond, r.LearningRate);
            history.Add(report);
            (o.Progress ?? _log)?.Report(report);
        }, o.CancellationToken);
        var model = new Seq2SeqModel(spec, o.FeatureColumnName, targetValues, o.BeamWidth, o.MaximumOutputLength, result.Encoder, result.Decoder, result.Head);
        var chain = Seq2SeqChain.BuildEncoderDecoder(model, input.Schema, o.PredictedLabelColumnName, o.AttentionWeightsColumnName);
        return new EncoderDecoderTransformer(chain, model, history);
    }
}
