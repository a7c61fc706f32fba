using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Data;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Optimizers;
using Microsoft.ML.Recurrent.Engine.Training;
using Microsoft.ML.Recurrent.Model;
using Microsoft.ML.Recurrent.Serving;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.Recurrent.Trainers;

/// <summary>
/// What the three recurrent trainers share: option checks, the output schema, reading the data once, mapping the
/// options onto the engine's training loop and wrapping the result into a <see cref="RecurrentPredictionTransformer"/>.
/// </summary>
internal sealed class RecurrentTrainerCore
{
    /// <summary>
    /// The trainers' <see cref="Microsoft.ML.TrainerInfo"/>: NeedNormalization false (inputs are standardised inside), WantCaching
    /// false (the data is read into the trainer's own buffers). <see cref="Microsoft.ML.TrainerInfo"/>'s constructor is internal to
    /// ML.NET, so the instance is borrowed from a stock trainer with exactly these flags (the prior trainer:
    /// normalization false, caching false, no calibration).
    /// </summary>
    internal static TrainerInfo TrainerInfo { get; } = new MLContext(seed: 0).BinaryClassification.Trainers.Prior().Info;

    private readonly RecurrentTrainerOptions _options;
    private readonly PredictionKind _kind;

    public RecurrentTrainerCore(RecurrentTrainerOptions options, PredictionKind kind)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _kind = kind;
    }

    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        _options.Validate();
        SequenceSchema.CheckFeatures(inputSchema, _options.FeatureColumnName, _options.FeaturesPerStep, nameof(inputSchema));
        SequenceSchema.CheckLabel(inputSchema, _options.LabelColumnName, _kind, nameof(inputSchema));
        if (_options.ExampleWeightColumnName is string weights) SequenceSchema.CheckWeight(inputSchema, weights, nameof(inputSchema));
        var result = new Dictionary<string, SchemaShape.Column>();
        foreach (var c in inputSchema) result[c.Name] = c;
        foreach (var c in OutputTemplates.For(_kind)) result[c.Name] = c;
        return new SchemaShape(result.Values);
    }

    public RecurrentPredictionTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var o = _options;
        o.Validate();
        var cancel = o.CancellationToken;

        // 1. Schema checks, before any data is read.
        var features = SequenceSchema.CheckFeatures(input.Schema, o.FeatureColumnName, o.FeaturesPerStep, nameof(input));
        var label = SequenceSchema.CheckLabel(input.Schema, o.LabelColumnName, _kind, nameof(input));
        if (o.ExampleWeightColumnName is string weightColumn)
        {
            SequenceSchema.CheckWeight(input.Schema, weightColumn, nameof(input));
            if (o.ValidationSet is IDataView v) SequenceSchema.CheckWeight(v.Schema, weightColumn, nameof(o.ValidationSet));
        }

        if (o.ValidationSet is IDataView validationView)
        {
            var vf = SequenceSchema.CheckFeatures(validationView.Schema, o.FeatureColumnName, o.FeaturesPerStep, nameof(o.ValidationSet));
            if (vf != features)
                throw new ArgumentOutOfRangeException(nameof(o.ValidationSet),
                    $"The validation set's feature column '{o.FeatureColumnName}' is {Describe(vf)}, but the training data's is {Describe(features)}.");
            var vl = SequenceSchema.CheckLabel(validationView.Schema, o.LabelColumnName, _kind, nameof(o.ValidationSet));
            if (vl.ClassCount != label.ClassCount)
                throw new ArgumentOutOfRangeException(nameof(o.ValidationSet),
                    $"The validation set's label column '{o.LabelColumnName}' has {vl.ClassCount} classes, but the training data's has {label.ClassCount}.");
        }

        // 2. Read the data (validating every row): into memory when it fits the budget, otherwise streamed from the view
        //    every epoch; split off validation rows if asked to. 3. Standardise features (dense input) and regression
        //    labels; both are folded back into the weights below.
        int seed = o.Seed ?? 0;
        int f = features.Tokens ? 1 : o.FeaturesPerStep;
        var columns = new SequenceColumns(o.FeatureColumnName, features, f, o.LabelColumnName, label, o.ExampleWeightColumnName);
        var data = TrainingData.Prepare(input, o.ValidationSet, columns, o.NormalizeFeatures, o.ValidationFraction, o.ValidationSplit, seed,
            o.InMemoryBudgetBytesOverride ?? InMemoryBudgetBytes, cancel);
        var scaling = data.Scaling;
        float labelMean = data.LabelMean, labelStd = data.LabelStd;
        var trainSet = data.Train;
        var validSet = data.Validation;

        // 4. Train on the engine.
        var spec = new NetworkSpec(
            (CellKind)(int)o.CellType, f, o.HiddenSize, o.NumberOfLayers, o.Bidirectional, o.Dropout,
            features.Tokens ? features.VocabularySize : 0, features.Tokens ? o.EmbeddingSize : 0,
            _kind == PredictionKind.MulticlassClassification ? label.ClassCount : 1, OutputMode.LastHidden);
        RecurrentEpochReport? lastReport = null; // issue 12: the epoch callback sees the report OnEpoch built
        var settings = new TrainerSettings
        {
            Spec = spec,
            Loss = _kind switch
            {
                PredictionKind.Regression => LossKind.MeanSquaredError,
                PredictionKind.BinaryClassification => LossKind.BinaryCrossEntropy,
                _ => LossKind.SoftmaxCrossEntropy,
            },
            Epochs = o.MaximumNumberOfEpochs,
            BatchSize = o.BatchSize,
            LearningRate = o.LearningRate,
            Optimizer = (OptimizerKind)(int)o.Optimizer,
            OptimizerSettings = new OptimizerSettings { WeightDecay = o.L2Regularization },
            GradientClipNorm = o.GradientClipNorm,
            Schedule = (ScheduleKind)(int)o.LearningRateSchedule,
            EarlyStoppingPatience = validSet is null ? 0 : o.EarlyStoppingPatience,
            Seed = seed,
            Threads = o.NumberOfThreads ?? 0,
            Shuffle = o.ShuffleData,
            UnknownTokenRate = features.Tokens ? o.UnknownTokenRate : 0f,

            // Budget hooks and resuming (issue 12).
            MaximumTrainingTime = o.MaximumTrainingTime,
            ContinueAfterEpoch = o.EpochCallback is { } epochCallback ? _ => epochCallback(lastReport!) : null,
            Checkpoint = o.Checkpoint,
        };

        string lossName = _kind switch
        {
            PredictionKind.Regression => RecurrentEpochReport.LossNames.MeanSquaredError,
            PredictionKind.BinaryClassification => RecurrentEpochReport.LossNames.LogLoss,
            _ => RecurrentEpochReport.LossNames.CrossEntropy,
        };
        double lossScale = (double)labelStd * labelStd; // regression losses back in label units
        var history = new List<RecurrentEpochReport>();
        int models = o.NumberOfModels;
        int member = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        void OnEpoch(EpochReport r)
        {
            var report = new RecurrentEpochReport(r.Epoch, o.MaximumNumberOfEpochs, lossName, r.TrainLoss * lossScale,
                r.ValidationLoss * lossScale, r.ValidationAccuracy, r.SequencesPerSecond, r.LearningRate)
            {
                Model = member + 1,
                NumberOfModels = models,
                // Epochs still to run at the pace so far (early stopping can end sooner).
                EstimatedTimeRemaining = TimeSpan.FromSeconds(clock.Elapsed.TotalSeconds / (member * o.MaximumNumberOfEpochs + r.Epoch)
                    * ((models - member) * o.MaximumNumberOfEpochs - r.Epoch)),
            };
            history.Add(report);
            lastReport = report;
            o.Progress?.Report(report);
        }

        // Issue 12: a run resumed from a checkpoint keeps the earlier epochs in its history (they are not reported again).
        if (o.Checkpoint is { IsEmpty: false } resumed)
            history.AddRange(resumed.History.Select(r => new RecurrentEpochReport(r.Epoch, o.MaximumNumberOfEpochs, lossName,
                r.TrainLoss * lossScale, r.ValidationLoss * lossScale, r.ValidationAccuracy, r.SequencesPerSecond, r.LearningRate)));

        // 5. Train each member (seeds seed, seed + 1, …), fold the standardisation into its weights (the stored network reads
        //    raw features and predicts raw labels), then fold the members side by side into one network.
        var members = new List<float[]>(models);
        TrainingResult result = null!;
        for (member = 0; member < models; member++)
        {
            // Ensemble members share the fit's time budget (each trains at least one epoch) and its epoch callback; a
            // training checkpoint (experiments) belongs to a single-model fit only.
            var memberSettings = models == 1 ? settings : settings.WithSeed(unchecked(seed + member),
                settings.MaximumTrainingTime is TimeSpan budget ? budget - clock.Elapsed : null);
            var trained = SequenceTrainer.Train(memberSettings, trainSet, validSet, OnEpoch, cancel);
            result ??= trained;
            var memberParameters = (float[])trained.Parameters.Clone();
            var memberLayout = new ParameterLayout(spec);
            scaling?.FoldIntoInput(memberLayout, memberParameters);
            if (_kind == PredictionKind.Regression) Standardization.FoldIntoHead(memberLayout, memberParameters, labelMean, labelStd);
            members.Add(memberParameters);
        }

        (spec, var parameters) = EnsembleFolding.Fold(spec, members);
        foreach (float p in parameters)
        {
            if (!float.IsFinite(p))
                throw new InvalidOperationException("Training produced non-finite weights; lower the LearningRate or set a GradientClipNorm.");
        }

        var labelValueKind = _kind == PredictionKind.MulticlassClassification
            ? LabelValues.KindOf(input.Schema[o.LabelColumnName], label.ClassNames) : LabelValueKind.Text;
        var model = new RecurrentModel(spec, _kind, o.FeatureColumnName, label.ClassNames, parameters, labelValueKind, history, result.BestEpoch)
        {
            ServingPrecision = o.ServingPrecision,
        };
        var chain = ServingChain.Build(model, input.Schema);
        return new RecurrentPredictionTransformer(chain, model, input.Schema[o.FeatureColumnName].Type);
    }

    private static string Describe(FeatureInfo f) =>
        f.Tokens ? $"a vector of keys with {f.VocabularySize - 1} values" : "a vector of Single";

    /// <summary>
    /// The most bytes of sequences <c>Fit</c> copies into memory (<see cref="TrainingData.InMemoryBudgetBytes"/>, 256 MB);
    /// larger data is streamed from the view every epoch.
    /// </summary>
    internal const long InMemoryBudgetBytes = TrainingData.InMemoryBudgetBytes;

    /// <summary>Holds out round(fraction·n) rows (at least one), chosen by a seeded shuffle.</summary>
    internal static (SequenceRows Train, SequenceRows Validation) Split(SequenceRows rows, float fraction, int seed) =>
        TrainingData.SplitRows(rows, fraction, seed, RecurrentValidationSplit.Random);

    /// <summary>
    /// The output columns of each task, as ML.NET's own estimators describe them (a <see cref="SchemaShape.Column"/> has no
    /// public constructor): the same row classes the serving chain uses, passed through stock estimators.
    /// </summary>
    private static class OutputTemplates
    {
        private static readonly Lazy<SchemaShape.Column[]> s_regression = new(() => Columns<RegressionOutput>(null));
        private static readonly Lazy<SchemaShape.Column[]> s_binary = new(() => Columns<BinaryLogitOutput>(
            ml => ml.BinaryClassification.Calibrators.Platt(slope: -1, offset: 0, ServingChain.DefaultColumnNames.Score)));
        private static readonly Lazy<SchemaShape.Column[]> s_multiclass = new(() => Columns<MulticlassTemplate>(
            ml => ml.Transforms.Conversion.MapValueToKey(ServingChain.DefaultColumnNames.PredictedLabel, ServingColumns.PredictedValue)));

        public static SchemaShape.Column[] For(PredictionKind kind) => kind switch
        {
            PredictionKind.Regression => s_regression.Value,
            PredictionKind.BinaryClassification => s_binary.Value,
            _ => s_multiclass.Value,
        };

        private static SchemaShape.Column[] Columns<TRow>(Func<MLContext, IEstimator<ITransformer>>? then)
            where TRow : class, new()
        {
            var ml = new MLContext(seed: 0);
            var shape = ml.Transforms.CustomMapping<NoInput, TRow>((_, _) => { }, contractName: null)
                .GetOutputSchema(new SchemaShape([]));
            if (then is not null) shape = then(ml).GetOutputSchema(shape);
            return shape.Where(c => !c.Name.StartsWith("__Recurrent", StringComparison.Ordinal)).ToArray();
        }

        /// <summary>The multiclass outputs: Score of known size (after the shape adapter) and the predicted class name.</summary>
        private sealed class MulticlassTemplate
        {
            [VectorType(2)]
            public float[] Score = new float[2];

            [ColumnName(ServingColumns.PredictedValue)]
            public string PredictedValue = "";
        }
    }
}
