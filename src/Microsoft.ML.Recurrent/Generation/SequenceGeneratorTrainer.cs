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
/// (missing) is the unknown token (a zero embedding); a key beyond the training key count is an error naming the column.
/// Not built: generation from a conditioning vector column and next-value generation from a Single column.
/// </remarks>
public sealed class SequenceGeneratorTrainer : IEstimator<SequenceGeneratorTransformer>
{
    /// <summary>Options of <see cref="SequenceGeneratorTrainer"/>.</summary>
    public sealed class Options
    {
        /// <summary>The training sequences: a key vector whose key values are the tokens (empty rows are an error).</summary>
        public string FeatureColumnName { get; set; } = Defaults.FeatureColumnName;

        /// <summary>Column the fitted transformer reads prefixes from (a key vector with the same key values; may be empty).</summary>
        public string PrefixColumnName { get; set; } = Defaults.PrefixColumnName;

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
            Check(Temperature > 0f && float.IsFinite(Temperature), nameof(Temperature), "must be a finite number > 0", Temperature);
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
        var values = TokenColumns.CheckTokens(input.Schema, o.FeatureColumnName, "Feature", nameof(input));
        var sequences = TokenColumns.ReadTokens(input, o.FeatureColumnName, "Feature", missingIsError: true, emptyIsError: true);
        if (sequences.Count == 0) throw new ArgumentException($"The training data has no rows (column '{o.FeatureColumnName}').", nameof(input));
        int K = values.Length;
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
        var chain = Seq2SeqChain.BuildGenerator(model, o.PrefixColumnName, o.OutputColumnName);
        return new SequenceGeneratorTransformer(chain, model, history, o.PrefixColumnName);
    }
}
