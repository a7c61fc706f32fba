using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Data;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Heads;
using Microsoft.ML.Recurrent.Engine.Optimizers;
using Microsoft.ML.Recurrent.Engine.Training;

namespace Microsoft.ML.Recurrent.Sequence;

/// <summary>The training options the tagger and the featurizer share with the trainers (names as the trainers name them).</summary>
internal sealed record SequenceTraining(
    RecurrentCellType CellType, int HiddenSize, int NumberOfLayers, bool Bidirectional, float Dropout, int EmbeddingSize,
    int MaximumNumberOfEpochs, int BatchSize, float LearningRate, RecurrentOptimizer Optimizer, RecurrentLearningRateSchedule Schedule,
    float GradientClipNorm, float L2Regularization, bool NormalizeFeatures, int EarlyStoppingPatience, int Seed, int? NumberOfThreads,
    float UnknownTokenRate, IProgress<RecurrentEpochReport>? Progress, CancellationToken Cancellation);

/// <summary>Shared steps of fitting a tagger or a featurizer: standardisation, the validation split, the engine run.</summary>
internal static class SequenceFit
{
    /// <summary>Holds out round(fraction·n) rows (at least one), chosen by a seeded shuffle.</summary>
    public static (SequenceTable Train, SequenceTable Validation) Split(SequenceTable rows, float fraction, int seed)
    {
        int n = rows.Count;
        int held = Math.Max(1, (int)Math.Round(fraction * n));
        if (held >= n)
            throw new InvalidOperationException($"ValidationFraction = {fraction} holds out {held} of the {n} training rows and leaves none to train on; lower it or provide more rows.");
        var order = Enumerable.Range(0, n).ToArray();
        new Random(unchecked(seed * 7919 + 1)).Shuffle(order);
        var isValidation = new bool[n];
        for (int i = 0; i < held; i++) isValidation[order[i]] = true;
        var train = new SequenceTable();
        var valid = new SequenceTable();
        for (int i = 0; i < n; i++)
        {
            var target = isValidation[i] ? valid : train;
            target.Features.Add(rows.Features[i]);
            target.Targets.Add(rows.Targets[i]);
        }

        return (train, valid);
    }

    /// <summary>Mean and standard deviation over every target value (std 1 for constant targets).</summary>
    public static (float Mean, float Std) TargetStatistics(SequenceTable rows) =>
        Standardization.LabelStatistics(rows.Targets.SelectMany(t => t).ToArray());

    public static SequenceDataset ToDataset(SequenceTable rows, int f, int targetWidth, bool perStep, Func<float[], float[]> target)
    {
        var set = new SequenceDataset(f, targetWidth, perStep);
        for (int i = 0; i < rows.Count; i++) set.Add(rows.Features[i], target(rows.Targets[i]));
        return set;
    }

    public static ObjectiveTrainer.Result Train(SequenceTraining o, NetworkSpec spec, ISequenceObjective objective, SequenceDataset train,
        SequenceDataset? validation, string lossName, double lossScale, List<RecurrentEpochReport> history)
    {
        var settings = new TrainerSettings
        {
            Spec = spec,
            Epochs = o.MaximumNumberOfEpochs,
            BatchSize = o.BatchSize,
            LearningRate = o.LearningRate,
            Optimizer = (OptimizerKind)(int)o.Optimizer,
            OptimizerSettings = new OptimizerSettings { WeightDecay = o.L2Regularization },
            GradientClipNorm = o.GradientClipNorm,
            Schedule = (ScheduleKind)(int)o.Schedule,
            EarlyStoppingPatience = validation is null ? 0 : o.EarlyStoppingPatience,
            Seed = o.Seed,
            Threads = o.NumberOfThreads ?? 0,
        };
        void OnEpoch(EpochReport r)
        {
            var report = new RecurrentEpochReport(r.Epoch, o.MaximumNumberOfEpochs, lossName, r.TrainLoss * lossScale,
                r.ValidationLoss * lossScale, null, r.SequencesPerSecond, r.LearningRate);
            history.Add(report);
            o.Progress?.Report(report);
        }

        return ObjectiveTrainer.Train(settings, objective, spec.VocabularySize > 0 ? o.UnknownTokenRate : 0f, train, validation, OnEpoch, o.Cancellation);
    }

    public static void CheckFinite(float[] parameters, float[] extra)
    {
        foreach (float p in parameters.Concat(extra))
        {
            if (!float.IsFinite(p))
                throw new InvalidOperationException("Training produced non-finite weights; lower the LearningRate or set a GradientClipNorm.");
        }
    }

    /// <summary>The output columns of a template row class (plus an optional stock step after it), without internal columns.</summary>
    public static SchemaShape.Column[] Columns<TRow>(Func<MLContext, IEstimator<ITransformer>>? then, SchemaDefinition? definition = null)
        where TRow : class, new()
    {
        var ml = new MLContext(seed: 0);
        var shape = ml.Transforms.CustomMapping<Serving.NoInput, TRow>((_, _) => { }, contractName: null, outputSchemaDefinition: definition)
            .GetOutputSchema(new SchemaShape([]));
        if (then is not null) shape = then(ml).GetOutputSchema(shape);
        return shape.Where(c => !c.Name.StartsWith("__Recurrent", StringComparison.Ordinal)).ToArray();
    }

    public static SchemaShape Merge(SchemaShape input, IEnumerable<SchemaShape.Column> added)
    {
        var result = new Dictionary<string, SchemaShape.Column>();
        foreach (var c in input) result[c.Name] = c;
        foreach (var c in added) result[c.Name] = c;
        return new SchemaShape(result.Values);
    }
}
