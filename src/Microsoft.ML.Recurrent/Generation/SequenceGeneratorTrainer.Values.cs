using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Heads;
using Microsoft.ML.Recurrent.Engine.Seq2Seq;
using Microsoft.ML.Recurrent.Engine.Training;
using Microsoft.ML.Recurrent.Seq2Seq;

namespace Microsoft.ML.Recurrent;

/// <summary>Next-value generation: the trainer's route for a feature column that is a vector of Single.</summary>
public sealed partial class SequenceGeneratorTrainer
{
    private static bool IsValueColumn(DataViewSchema schema, string column) =>
        schema.GetColumnOrNull(column)?.Type is VectorDataViewType { ItemType: var item } && item == NumberDataViewType.Single;

    private static bool IsValueColumn(SchemaShape shape, string column) =>
        Data.SequenceSchema.TryFind(shape, column, out var col) && col.Kind != SchemaShape.Column.VectorKind.Scalar && !col.IsKey
        && col.ItemType == NumberDataViewType.Single;

    /// <summary>Options that do not apply to values, rejected by name.</summary>
    private void CheckValueOptions()
    {
        var o = _options;
        if (o.TopK != 0)
            throw new ArgumentOutOfRangeException(nameof(Options.TopK), o.TopK,
                $"TopK does not apply to next-value generation (feature column '{o.FeatureColumnName}' is a vector of Single); leave it 0. It was {o.TopK}.");
        if (o.ConditionColumnName is not null)
            throw new ArgumentOutOfRangeException(nameof(Options.ConditionColumnName), o.ConditionColumnName,
                $"ConditionColumnName is not supported for next-value generation (feature column '{o.FeatureColumnName}' is a vector of Single); leave it null.");
    }

    private SchemaShape GetValueOutputSchema(SchemaShape inputSchema)
    {
        CheckValueOptions();
        var result = new Dictionary<string, SchemaShape.Column>();
        foreach (var c in inputSchema) result[c.Name] = c;
        if (Data.SequenceSchema.TryFind(inputSchema, _options.PrefixColumnName, out _))
        {
            // A SchemaShape.Column has no public constructor: take the one a stock CopyColumns describes.
            var ml = new MLContext(seed: 0);
            var shape = ml.Transforms.CustomMapping<Serving.NoInput, ValueGeneratorOutput>((_, _) => { }, contractName: null)
                .Append(ml.Transforms.CopyColumns(_options.OutputColumnName, ValueGeneratorServingNames.Values))
                .GetOutputSchema(new SchemaShape([]));
            foreach (var c in shape.Where(c => c.Name == _options.OutputColumnName)) result[c.Name] = c;
        }

        return new SchemaShape(result.Values);
    }

    /// <summary>Reads the Single sequences, standardises every feature, trains the next-value network and measures its residuals.</summary>
    private SequenceGeneratorTransformer FitValues(IDataView input)
    {
        var o = _options;
        CheckValueOptions();
        int F = o.FeaturesPerStep;
        var sequences = TokenColumns.ReadSource(input, o.FeatureColumnName, tokens: false, featuresPerStep: F);
        if (sequences.Count == 0) throw new ArgumentException($"The training data has no rows (column '{o.FeatureColumnName}').", nameof(input));

        var mean = new double[F];
        var square = new double[F];
        long steps = 0;
        foreach (var s in sequences)
        {
            for (int i = 0; i < s.Length; i++) { mean[i % F] += s[i]; square[i % F] += (double)s[i] * s[i]; }
            steps += s.Length / F;
        }

        var mu = new float[F];
        var scale = new float[F];
        for (int f = 0; f < F; f++)
        {
            double m = mean[f] / steps, variance = Math.Max(square[f] / steps - m * m, 0);
            mu[f] = (float)m;
            scale[f] = variance > 1e-12 ? (float)Math.Sqrt(variance) : 1f;
        }

        var spec = NextValueObjective.Spec((CellKind)o.CellType, F, o.HiddenSize, o.NumberOfLayers, o.Dropout);
        var dataset = new SequenceDataset(F + 1, F + 2, perStepTargets: true);
        foreach (var s in sequences)
        {
            var z = new float[s.Length];
            for (int i = 0; i < z.Length; i++) z[i] = (s[i] - mu[i % F]) / scale[i % F];
            var (x, y) = NextValueObjective.Example(z, F);
            dataset.Add(x, y);
        }

        var settings = new TrainerSettings
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
        var result = ObjectiveTrainer.Train(settings, new NextValueObjective(F), 0f, dataset, null, r =>
        {
            var report = new RecurrentEpochReport(r.Epoch, o.MaximumNumberOfEpochs, RecurrentEpochReport.LossNames.MeanSquaredError, r.TrainLoss, null, null, r.SequencesPerSecond, r.LearningRate);
            history.Add(report);
            (o.Progress ?? _log)?.Report(report);
        }, o.CancellationToken);

        var residual = Residuals(spec, result.Parameters, dataset, F, o.BatchSize);
        var model = new ValueGeneratorModel(spec, o.FeatureColumnName, mu, scale, residual, o.Temperature, o.MaximumOutputLength, _seed, result.Parameters);
        var chain = ValueGeneratorChain.Build(model, o.PrefixColumnName, o.OutputColumnName);
        return new SequenceGeneratorTransformer(chain, new LoadedValueGenerator(model, o.PrefixColumnName), history, o.PrefixColumnName);
    }

    /// <summary>Per-feature root-mean-square error of the teacher-forced next-value predictions on the training set (standardised units).</summary>
    internal static float[] Residuals(NetworkSpec spec, float[] parameters, SequenceDataset data, int F, int batchSize)
    {
        int capB = Math.Min(batchSize, data.Count);
        var network = new RecurrentNetwork(new ParameterLayout(spec), parameters, null, capB, data.MaxLength);
        var batch = new SequenceBatch(capB, data.MaxLength, F + 1, F + 2);
        var sum = new double[F];
        long count = 0;
        var indices = new int[capB];
        for (int start = 0; start < data.Count; start += capB)
        {
            int n = Math.Min(capB, data.Count - start);
            for (int i = 0; i < n; i++) indices[i] = start + i;
            batch.Fill(data, indices.AsSpan(0, n));
            var y = network.Forward(batch);
            int B = batch.Count;
            for (int t = 0; t < batch.MaxLength; t++)
            {
                int active = batch.ActiveAt(t);
                for (int r = 0; r < active; r++)
                {
                    int row = t * B + r;
                    if (batch.Targets[row * (F + 2) + F + 1] == 0f) continue;
                    for (int f = 0; f < F; f++)
                    {
                        double d = y[row * (F + 1) + f] - batch.Targets[row * (F + 2) + f];
                        sum[f] += d * d;
                    }

                    count++;
                }
            }
        }

        var residual = new float[F];
        for (int f = 0; f < F; f++) residual[f] = count > 0 ? (float)Math.Sqrt(sum[f] / count) : 0f;
        return residual;
    }
}
