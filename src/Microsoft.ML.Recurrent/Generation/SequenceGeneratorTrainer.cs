using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Training;
using Microsoft.ML.Recurrent.Seq2Seq;

namespace Microsoft.ML.Recurrent;

/// <summary>
/// Trains a next-token model on token sequences (one-to-many generation), created by
/// <c>mlContext.Recurrent().Trainers.SequenceGenerator(...)</c>. The feature column is a key vector whose key values are
/// the tokens; every training sequence is read as start → t1 … tn → end, so the model learns when sequences end.
/// </summary>
/// <remarks>
/// The fitted <see cref="SequenceGeneratorTransformer"/> reads a prefix column (a key vector with the same key values; it
/// may be empty) and writes the sampled continuation into an output key vector column, with the options'
/// <see cref="Options.Temperature"/>, <see cref="Options.TopK"/>, <see cref="Options.MaximumOutputLength"/> and seed: each
/// row's draws are seeded from the seed and the row's prefix, so the same seed and prefix give the same output. Prefix key 0
/// (missing) is the unknown token (embedding row 0: starts at zero, trained only where training sequences hold key 0); a key beyond the training key count is an error naming the column.
/// With <see cref="Options.ConditionColumnName"/> (a vector of Single, the same length in every row) the generator is
/// conditioned on that vector: it is encoded as a one-step source whose final state starts the token decoder (an
/// encoder–decoder without attention), and the fitted transformer reads the condition column next to the prefix column.
/// When the feature column is a vector of Single instead, the trainer learns next-VALUE generation (see
/// <see cref="Options.FeaturesPerStep"/>): each row is one sequence of F values per step; the network predicts the next
/// step's F values (squared error) and the probability that the sequence ends (sigmoid, binary cross-entropy). The fitted
/// transformer then reads a Single vector prefix column (may be empty) and writes the continuation as a variable-length
/// Single vector: each step is the predicted mean plus Gaussian noise of standard deviation Temperature × the training
/// residual deviation of that feature (a tiny Temperature gives the deterministic mean), until the end probability
/// exceeds 0.5 or <see cref="Options.MaximumOutputLength"/> steps. TopK does not apply to values (a non-zero TopK is an
/// error), nor does a condition column.
/// </remarks>
public sealed partial class SequenceGeneratorTrainer : IEstimator<SequenceGeneratorTransformer>
{
    /// <summary>Options of <see cref="SequenceGeneratorTrainer"/>.</summary>
    public sealed class Options
    {
        /// <summary>
        /// The training sequences: a key vector whose key values are the tokens, or a vector of Single for next-value
        /// generation (<see cref="FeaturesPerStep"/> values per step); empty rows are an error.
        /// </summary>
        public string FeatureColumnName { get; set; } = Defaults.FeatureColumnName;

        /// <summary>
        /// Column the fitted transformer reads prefixes from (a key vector with the same key values, or a vector of Single
        /// for values; may be empty).
        /// </summary>
        public string PrefixColumnName { get; set; } = Defaults.PrefixColumnName;

        /// <summary>
        /// Optional conditioning column: a vector of Single of the same length in every row, read in training and by the
        /// fitted transformer; null (the default) trains a plain next-token model.
        /// </summary>
        public string? ConditionColumnName { get; set; }

        /// <summary>
        /// Values per step F when the feature column is a vector of Single (next-value generation): every training row and
        /// every prefix must hold a multiple of F values. Ignored for token sequences.
        /// </summary>
        public int FeaturesPerStep { get; set; } = Defaults.FeaturesPerStep;

        /// <summary>Column the fitted transformer writes the continuation to (a key vector with the training column's key values).</summary>
        public string OutputColumnName { get; set; } = Defaults.OutputColumnName;

        /// <summary>Softmax temperature of sampling: below 1 sharper (more likely tokens), above 1 flatter. Must be &gt; 0.</summary>
        public float Temperature { get; set; } = Defaults.Temperature;

        /// <summary>Sample only among the k most likely next tokens (the end token counts as one); 0 = all.</summary>
        public int TopK { get; set; }

        /// <summary>Most tokens generated per row (generation stops earlier at the learned end token).</summary>
        public int MaximumOutputLength { get; set; } = Defaults.MaximumOutputLength;

        /// <summary>Cell of every layer.</summary>
        public RecurrentCellType CellType { get; set; } = Defaults.CellType;

        /// <summary>Hidden units H of every layer.</summary>
        public int HiddenSize { get; set; } = Defaults.HiddenSize;

        /// <summary>Stacked layers L.</summary>
        public int NumberOfLayers { get; set; } = Defaults.NumberOfLayers;

        /// <summary>Token embedding width.</summary>
        public int EmbeddingSize { get; set; } = Defaults.EmbeddingSize;

        /// <summary>Dropout between stacked layers, in training only.</summary>
        public float Dropout { get; set; }

        /// <summary>Passes over the training data.</summary>
        public int MaximumNumberOfEpochs { get; set; } = Defaults.MaximumNumberOfEpochs;

        /// <summary>Sequences per mini-batch.</summary>
        public int BatchSize { get; set; } = Defaults.BatchSize;

        /// <summary>Adam's learning rate.</summary>
        public float LearningRate { get; set; } = Defaults.LearningRate;

        /// <summary>Global gradient-norm clipping threshold (0 = none).</summary>
        public float GradientClipNorm { get; set; } = Defaults.GradientClipNorm;

        /// <summary>Seed of initialisation, shuffling and sampling; null draws one from the MLContext's seeded random source.</summary>
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
            public const string FeatureColumnName = "Features";
            public const string PrefixColumnName = "Prefix";
            public const string OutputColumnName = "Generated";
            public const float Temperature = 1f;
            public const int FeaturesPerStep = 1;
            public const int MaximumOutputLength = 50;
            public const RecurrentCellType CellType = RecurrentCellType.Lstm;
            public const int HiddenSize = 64;
            public const int NumberOfLayers = 1;
            public const int EmbeddingSize = 32;
            public const int MaximumNumberOfEpochs = 30;
            public const int BatchSize = 32;
            public const float LearningRate = 5e-3f;
            public const float GradientClipNorm = 5f;
        }

        /// <summary>Every option checked in one place; the exception names the option.</summary>
        internal void Validate()
        {
            Check(!string.IsNullOrWhiteSpace(FeatureColumnName), nameof(FeatureColumnName), "must name a column", FeatureColumnName);
            Check(!string.IsNullOrWhiteSpace(PrefixColumnName), nameof(PrefixColumnName), "must name a column", PrefixColumnName);
            Check(!string.IsNullOrWhiteSpace(OutputColumnName), nameof(OutputColumnName), "must name a column", OutputColumnName);
            Check(ConditionColumnName is null || ConditionColumnName.Trim().Length > 0, nameof(ConditionColumnName), "must be null or name a column", ConditionColumnName);
            Check(Temperature > 0f && float.IsFinite(Temperature), nameof(Temperature), "must be a finite number > 0", Temperature);
            Check(FeaturesPerStep >= 1 && FeaturesPerStep < Model.RecurrentModelFormat.Limits.InputSize, nameof(FeaturesPerStep), "must be ≥ 1", FeaturesPerStep);
            Check(TopK >= 0, nameof(TopK), "must be ≥ 0 (0 = all tokens)", TopK);
            Check(MaximumOutputLength >= 1 && MaximumOutputLength <= 1 << 20, nameof(MaximumOutputLength), "must be in [1, 2^20]", MaximumOutputLength);
            Check(Enum.IsDefined(CellType), nameof(CellType), "is not a defined cell type", CellType);
            Check(HiddenSize >= 1 && HiddenSize <= Model.RecurrentModelFormat.Limits.HiddenSize, nameof(HiddenSize), $"must be in [1, {Model.RecurrentModelFormat.Limits.HiddenSize}]", HiddenSize);
            Check(NumberOfLayers >= 1 && NumberOfLayers <= Model.RecurrentModelFormat.Limits.NumberOfLayers, nameof(NumberOfLayers), $"must be in [1, {Model.RecurrentModelFormat.Limits.NumberOfLayers}]", NumberOfLayers);
            Check(EmbeddingSize >= 1 && EmbeddingSize <= Model.RecurrentModelFormat.Limits.EmbeddingSize, nameof(EmbeddingSize), $"must be in [1, {Model.RecurrentModelFormat.Limits.EmbeddingSize}]", EmbeddingSize);
            Check(Dropout >= 0f && Dropout < 1f, nameof(Dropout), "must be in [0, 1)", Dropout);
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

    internal SequenceGeneratorTrainer(Options options, int seed, IProgress<RecurrentEpochReport>? log = null)
    {
        _log = log;
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _seed = seed;
    }

    /// <summary>Checks the training column; the output column is added by the fitted transformer from the prefix column.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        _options.Validate();
        if (IsValueColumn(inputSchema, _options.FeatureColumnName)) return GetValueOutputSchema(inputSchema);
        TokenColumns.CheckTokens(inputSchema, _options.FeatureColumnName, "Feature", nameof(inputSchema));
        var result = new Dictionary<string, SchemaShape.Column>();
        foreach (var c in inputSchema) result[c.Name] = c;
        bool hasPrefix = SequenceSchema_TryFind(inputSchema, _options.PrefixColumnName);
        if (hasPrefix)
            foreach (var c in EncoderDecoderTrainer.OutputColumns(_options.OutputColumnName, null)) result[c.Name] = c;
        return new SchemaShape(result.Values);
    }

    private static bool SequenceSchema_TryFind(SchemaShape shape, string name) => Data.SequenceSchema.TryFind(shape, name, out _);

    /// <summary>Reads the sequences once and trains the next-token model.</summary>
    public SequenceGeneratorTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var o = _options;
        o.Validate();
        if (IsValueColumn(input.Schema, o.FeatureColumnName)) return FitValues(input);
        var values = TokenColumns.CheckTokens(input.Schema, o.FeatureColumnName, "Feature", nameof(input));
        var sequences = TokenColumns.ReadTokens(input, o.FeatureColumnName, "Feature", missingIsError: true, emptyIsError: true);
        if (sequences.Count == 0) throw new ArgumentException($"The training data has no rows (column '{o.FeatureColumnName}').", nameof(input));
        int K = values.Length;
        if (o.ConditionColumnName is string conditionColumn) return FitConditioned(input, sequences, values, conditionColumn);
        var spec = Seq2SeqModelFormat.NextTokenSpec((CellKind)o.CellType, o.HiddenSize, o.NumberOfLayers, o.Dropout, K, o.EmbeddingSize);
        var dataset = new SequenceDataset(1, 1, perStepTargets: true);
        foreach (var s in sequences)
        {
            var x = new float[s.Length + 1];
            var y = new float[s.Length + 1];
            x[0] = K + 1;
            for (int i = 0; i < s.Length; i++) { x[i + 1] = s[i]; y[i] = s[i]; }
            y[s.Length] = 0; // end of sequence
            dataset.Add(x, y);
        }

        var settings = new TrainerSettings
        {
            Spec = spec,
            Loss = LossKind.SoftmaxCrossEntropy,
            Epochs = o.MaximumNumberOfEpochs,
            BatchSize = o.BatchSize,
            LearningRate = o.LearningRate,
            GradientClipNorm = o.GradientClipNorm,
            Seed = _seed,
            Threads = o.NumberOfThreads ?? 0,
        };
        var history = new List<RecurrentEpochReport>();
        var result = SequenceTrainer.Train(settings, dataset, null, r =>
        {
            var report = new RecurrentEpochReport(r.Epoch, o.MaximumNumberOfEpochs, RecurrentEpochReport.LossNames.CrossEntropy, r.TrainLoss, null, null, r.SequencesPerSecond, r.LearningRate);
            history.Add(report);
            (o.Progress ?? _log)?.Report(report);
        }, o.CancellationToken);
        var model = new GeneratorModel(spec, o.FeatureColumnName, values, o.Temperature, Math.Min(o.TopK, K + 1), o.MaximumOutputLength, _seed, result.Parameters);
        var chain = Seq2SeqChain.BuildGenerator(model, null, o.PrefixColumnName, o.OutputColumnName);
        return new SequenceGeneratorTransformer(chain, new LoadedGenerator(model), history, o.PrefixColumnName);
    }

    /// <summary>Trains an encoder–decoder whose source is the condition vector (one step) and whose target the sequence.</summary>
    private SequenceGeneratorTransformer FitConditioned(IDataView input, List<int[]> sequences, string[] values, string conditionColumn)
    {
        var o = _options;
        var col = input.Schema.GetColumnOrNull(conditionColumn)
            ?? throw new ArgumentOutOfRangeException(nameof(input), $"Condition column '{conditionColumn}' was not found in the input; expected a vector of Single.");
        if (col.Type is not Microsoft.ML.Data.VectorDataViewType { ItemType: var item } || item != Microsoft.ML.Data.NumberDataViewType.Single)
            throw new ArgumentOutOfRangeException(nameof(input), $"Condition column '{conditionColumn}' has the wrong type: expected a vector of Single, found {col.Type}.");
        var conditions = TokenColumns.ReadSource(input, conditionColumn, tokens: false, featuresPerStep: 1);
        int M = conditions[0].Length;
        for (int i = 0; i < conditions.Count; i++)
        {
            if (conditions[i].Length != M)
                throw new InvalidOperationException($"Condition column '{conditionColumn}' has {conditions[i].Length} values in row {i} but {M} in row 0; every row needs the same length.");
        }

        var spec = new Engine.Seq2Seq.Seq2SeqSpec((CellKind)o.CellType, M, 0, 0, o.HiddenSize, o.NumberOfLayers, false, o.Dropout, values.Length, o.EmbeddingSize,
            Engine.Seq2Seq.AttentionKind.None);
        var data = new List<Engine.Seq2Seq.Seq2SeqExample>(sequences.Count);
        for (int i = 0; i < sequences.Count; i++) data.Add(new Engine.Seq2Seq.Seq2SeqExample(conditions[i], sequences[i]));
        var settings = new Engine.Seq2Seq.Seq2SeqTrainerSettings
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
        var result = Engine.Seq2Seq.Seq2SeqTrainer.Train(settings, data, r =>
        {
            var report = new RecurrentEpochReport(r.Epoch, o.MaximumNumberOfEpochs, RecurrentEpochReport.LossNames.CrossEntropy, r.TrainLoss, null, null, r.SequencesPerSecond, r.LearningRate);
            history.Add(report);
            (o.Progress ?? _log)?.Report(report);
        }, o.CancellationToken);
        var network = new Seq2SeqModel(spec, o.FeatureColumnName, values, 1, o.MaximumOutputLength, result.Encoder, result.Decoder, result.Head);
        var model = new ConditionedGeneratorModel(network, conditionColumn, o.Temperature, Math.Min(o.TopK, values.Length + 1), o.MaximumOutputLength, _seed);
        var chain = Seq2SeqChain.BuildGenerator(null, model, o.PrefixColumnName, o.OutputColumnName);
        return new SequenceGeneratorTransformer(chain, new LoadedGenerator(model), history, o.PrefixColumnName);
    }
}
