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

        // 2. Read the data once (validating every row), then split off validation rows if asked to.
        int seed = o.Seed ?? 0;
        int f = features.Tokens ? 1 : o.FeaturesPerStep;
        var train = SequenceReader.Read(input, o.FeatureColumnName, features, f, o.LabelColumnName, label, "training", cancel);
        SequenceRows? valid = o.ValidationSet is null ? null
            : SequenceReader.Read(o.ValidationSet, o.FeatureColumnName, features, f, o.LabelColumnName, label, "validation", cancel);
        if (valid is null && o.ValidationFraction > 0)
            (train, valid) = Split(train, o.ValidationFraction, seed);

        // 3. Standardise features (dense input) and regression labels; both are folded back into the weights below.
        Standardization? scaling = !features.Tokens && o.NormalizeFeatures ? Standardization.Fit(train.Features, f) : null;
        if (scaling is not null)
        {
            foreach (var x in train.Features) scaling.Apply(x);
            if (valid is not null) foreach (var x in valid.Features) scaling.Apply(x);
        }

        var (labelMean, labelStd) = _kind == PredictionKind.Regression ? Standardization.LabelStatistics(train.Targets) : (0f, 1f);
        var trainSet = ToDataset(train, f, labelMean, labelStd);
        var validSet = valid is null ? null : ToDataset(valid, f, labelMean, labelStd);

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
        void OnEpoch(EpochReport r)
        {
            var report = new RecurrentEpochReport(r.Epoch, o.MaximumNumberOfEpochs, lossName, r.TrainLoss * lossScale,
                r.ValidationLoss * lossScale, r.ValidationAccuracy, r.SequencesPerSecond, r.LearningRate);
            history.Add(report);
            lastReport = report;
            o.Progress?.Report(report);
        }

        // Issue 12: a run resumed from a checkpoint keeps the earlier epochs in its history (they are not reported again).
        if (o.Checkpoint is { IsEmpty: false } resumed)
            history.AddRange(resumed.History.Select(r => new RecurrentEpochReport(r.Epoch, o.MaximumNumberOfEpochs, lossName,
                r.TrainLoss * lossScale, r.ValidationLoss * lossScale, r.ValidationAccuracy, r.SequencesPerSecond, r.LearningRate)));
        var result = SequenceTrainer.Train(settings, trainSet, validSet, OnEpoch, cancel);

        // 5. Fold the standardisation into the weights: the stored network reads raw features and predicts raw labels.
        var parameters = (float[])result.Parameters.Clone();
        var layout = new ParameterLayout(spec);
        scaling?.FoldIntoInput(layout, parameters);
        if (_kind == PredictionKind.Regression) Standardization.FoldIntoHead(layout, parameters, labelMean, labelStd);
        foreach (float p in parameters)
        {
            if (!float.IsFinite(p))
                throw new InvalidOperationException("Training produced non-finite weights; lower the LearningRate or set a GradientClipNorm.");
        }

        var model = new RecurrentModel(spec, _kind, o.FeatureColumnName, label.ClassNames, parameters);
        var chain = ServingChain.Build(model, input.Schema);
        return new RecurrentPredictionTransformer(chain, model, new RecurrentModelInfo(model, history, result.BestEpoch));
    }

    private static string Describe(FeatureInfo f) =>
        f.Tokens ? $"a vector of keys with {f.VocabularySize - 1} values" : "a vector of Single";

    private SequenceDataset ToDataset(SequenceRows rows, int f, float labelMean, float labelStd)
    {
        var set = new SequenceDataset(f, 1);
        for (int i = 0; i < rows.Count; i++)
        {
            float y = rows.Targets[i];
            if (_kind == PredictionKind.Regression) y = (y - labelMean) / labelStd;
            set.Add(rows.Features[i], [y]);
        }

        return set;
    }

    /// <summary>Holds out round(fraction·n) rows (at least one), chosen by a seeded shuffle.</summary>
    internal static (SequenceRows Train, SequenceRows Validation) Split(SequenceRows rows, float fraction, int seed)
    {
        int n = rows.Count;
        int held = Math.Max(1, (int)Math.Round(fraction * n));
        if (held >= n)
            throw new InvalidOperationException(
                $"ValidationFraction = {fraction} holds out {held} of the {n} training rows and leaves none to train on; lower it or provide more rows.");
        var order = Enumerable.Range(0, n).ToArray();
        new Random(unchecked(seed * 7919 + 1)).Shuffle(order);
        var isValidation = new bool[n];
        for (int i = 0; i < held; i++) isValidation[order[i]] = true;
        var train = new SequenceRows();
        var valid = new SequenceRows();
        for (int i = 0; i < n; i++)
        {
            var target = isValidation[i] ? valid : train;
            target.Features.Add(rows.Features[i]);
            target.Targets.Add(rows.Targets[i]);
        }

        return (train, valid);
    }

    /// <summary>
    /// The output columns of each task, as ML.NET's own estimators describe them (a <see cref="SchemaShape.Column"/> has no
    /// public constructor): the same row classes the serving chain uses, passed through stock estimators.
    /// </summary>
    private static class OutputTemplates
    {
        private static readonly Lazy<SchemaShape.Column[]> s_regression = new(() => Columns<RegressionOutput>(null));
        private static readonly Lazy<SchemaShape.Column[]> s_binary = new(() => Columns<BinaryOutput>(null));
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
