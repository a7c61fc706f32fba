using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Training;
using Microsoft.ML.Recurrent.Tests.Estimators;

namespace Microsoft.ML.Recurrent.Tests.Training;

/// <summary><see cref="RecurrentTrainerOptions.ExampleWeightColumnName"/>: weight w counts a row's loss w times.</summary>
public class ExampleWeightTests
{
    /// <summary>Loss and every gradient of a weighted batch equal those of the batch with each row repeated weight times.</summary>
    [Theory]
    [InlineData("MeanSquaredError", "LastHidden")]
    [InlineData("BinaryCrossEntropy", "LastHidden")]
    [InlineData("SoftmaxCrossEntropy", "LastHidden")]
    [InlineData("MeanSquaredError", "EveryStep")]
    [InlineData("SoftmaxCrossEntropy", "EveryStep")]
    public void WeightedBatch_EqualsDuplicatedRows(string lossName, string modeName)
    {
        var loss = Enum.Parse<LossKind>(lossName);
        var mode = Enum.Parse<OutputMode>(modeName);
        int O = loss == LossKind.SoftmaxCrossEntropy ? 3 : 2, width = loss == LossKind.SoftmaxCrossEntropy ? 1 : O;
        var spec = new NetworkSpec(CellKind.Lstm, 2, 5, Output: mode, OutputSize: O);
        var layout = new ParameterLayout(spec);
        var parameters = new float[layout.Count];
        Initializer.Initialize(layout, parameters, seed: 3);
        var rng = new Random(4);
        int[] lengths = [3, 5, 2, 4];
        float[] weights = [2f, 1f, 0f, 3f];
        var sequences = lengths.Select(t => Enumerable.Range(0, t * 2).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray()).ToArray();
        var targets = lengths.Select(t => Enumerable.Range(0, (mode == OutputMode.EveryStep ? t : 1) * width)
            .Select(_ => loss switch
            {
                LossKind.SoftmaxCrossEntropy => rng.Next(O),
                LossKind.BinaryCrossEntropy => rng.Next(2),
                _ => (float)rng.NextDouble(),
            }).ToArray()).ToArray();

        var weighted = new SequenceDataset(2, width, mode == OutputMode.EveryStep);
        var duplicated = new SequenceDataset(2, width, mode == OutputMode.EveryStep);
        for (int i = 0; i < lengths.Length; i++)
        {
            weighted.Add(sequences[i], targets[i], weights[i]);
            for (int r = 0; r < weights[i]; r++) duplicated.Add(sequences[i], targets[i]);
        }

        var (lossW, gradW) = LossAndGradients(spec, parameters, weighted, loss);
        var (lossD, gradD) = LossAndGradients(spec, parameters, duplicated, loss);

        lossW.Should().BeApproximately(lossD, 1e-6 * Math.Max(1, Math.Abs(lossD)));
        double scale = gradD.Max(Math.Abs);
        scale.Should().BeGreaterThan(1e-4, "the check needs gradients that are not all zero");
        for (int j = 0; j < gradD.Length; j++)
            gradW[j].Should().BeApproximately(gradD[j], (float)(1e-5 * scale), $"gradient {j}");
    }

    private static (double Loss, float[] Gradients) LossAndGradients(NetworkSpec spec, float[] parameters, SequenceDataset data, LossKind loss)
    {
        var layout = new ParameterLayout(spec);
        var network = new RecurrentNetwork(layout, (float[])parameters.Clone(), new float[layout.Count], data.Count, data.MaxLength);
        var batch = new SequenceBatch(data.Count, data.MaxLength, spec.InputSize, data.TargetWidth);
        batch.Fill(data, Enumerable.Range(0, data.Count).ToArray());
        var y = network.Forward(batch, training: true, dropoutRandom: new Random(0));
        var dy = new float[y.Length];
        double value = Loss.Compute(loss, y, batch, spec.Output, spec.OutputSize, dy);
        network.Backward(dy);
        return (value, network.Gradients);
    }

    [Fact]
    public void WeightsAllZero_LossAndGradientsAreZero()
    {
        var spec = new NetworkSpec(CellKind.Gru, 1, 3);
        var layout = new ParameterLayout(spec);
        var parameters = new float[layout.Count];
        Initializer.Initialize(layout, parameters, seed: 1);
        var data = new SequenceDataset(1, 1);
        data.Add([0.5f, -1f], [2f], 0f);
        data.Add([1f], [1f], 0f);
        var (value, gradients) = LossAndGradients(spec, parameters, data, LossKind.MeanSquaredError);
        value.Should().Be(0);
        gradients.Should().OnlyContain(g => g == 0f);
    }

    private sealed class WeightedRow
    {
        [VectorType]
        public float[] Features { get; set; } = [];

        public float Value { get; set; }

        public float Weight { get; set; }
    }

    private static RecurrentRegressionTrainer.Options FullBatch(int rows, string? weights) => new()
    {
        LabelColumnName = "Value", FeaturesPerStep = 2, HiddenSize = 4, MaximumNumberOfEpochs = 2, BatchSize = rows, Seed = 1,
        ExampleWeightColumnName = weights, Optimizer = RecurrentOptimizer.Sgd, LearningRate = 0.05f, ShuffleData = false,
    };

    private sealed class ScoreRow
    {
        public float Score { get; set; }
    }

    /// <summary>
    /// Through ML.NET: two full-batch SGD steps on rows of weight 1 and 2 give the model (feature and label statistics
    /// included: they are weighted too) of the same steps on the data with every weight-2 row written twice.
    /// </summary>
    [Fact]
    public void Fit_WeightTwo_TrainsLikeTheRowTwice()
    {
        var ml = new MLContext(seed: 0);
        var source = SequenceData.MarkedSum(24, seed: 8);
        var weighted = source.Select((r, i) => new WeightedRow { Features = r.Features, Value = r.Value, Weight = i % 3 == 0 ? 2f : 1f }).ToArray();
        var duplicated = weighted.SelectMany(r => Enumerable.Repeat(new WeightedRow { Features = r.Features, Value = r.Value, Weight = 1f }, (int)r.Weight)).ToArray();
        duplicated.Should().HaveCount(32);

        var a = ml.Regression.Trainers.Recurrent(FullBatch(24, "Weight")).Fit(ml.Data.LoadFromEnumerable(weighted));
        var b = ml.Regression.Trainers.Recurrent(FullBatch(32, null)).Fit(ml.Data.LoadFromEnumerable(duplicated));
        var unweighted = ml.Regression.Trainers.Recurrent(FullBatch(24, null)).Fit(ml.Data.LoadFromEnumerable(weighted));

        var test = ml.Data.LoadFromEnumerable(SequenceData.MarkedSum(20, seed: 9));
        float[] Scores(ITransformer m) => ml.Data.CreateEnumerable<ScoreRow>(m.Transform(test), false).Select(r => r.Score).ToArray();
        var sa = Scores(a);
        var sb = Scores(b);
        for (int i = 0; i < sa.Length; i++) sa[i].Should().BeApproximately(sb[i], 1e-4f, $"row {i}");
        a.ModelInfo.TrainingHistory[^1].TrainingLoss.Should().BeApproximately(b.ModelInfo.TrainingHistory[^1].TrainingLoss, 1e-5);
        Scores(unweighted).Zip(sa, (u, w) => Math.Abs(u - w)).Max().Should().BeGreaterThan(1e-3f, "the weights must change the model");
    }

    [Fact]
    public void Fit_NegativeWeight_NamesTheColumnAndRow()
    {
        var ml = new MLContext(seed: 0);
        var rows = SequenceData.MarkedSum(10, seed: 2).Select(r => new WeightedRow { Features = r.Features, Value = r.Value, Weight = 1f }).ToArray();
        rows[6].Weight = -1f;
        var act = () => ml.Regression.Trainers.Recurrent(FullBatch(10, "Weight")).Fit(ml.Data.LoadFromEnumerable(rows));
        act.Should().Throw<InvalidOperationException>()
            .WithMessage("Row 6 of the training data: example weight column 'Weight' is -1; weights must be finite numbers ≥ 0.");
    }

    [Fact]
    public void Fit_MissingWeightColumn_ThrowsOnGetOutputSchemaAndFit()
    {
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(SequenceData.MarkedSum(10, seed: 2));
        var trainer = ml.Regression.Trainers.Recurrent(FullBatch(10, "W"));
        var fit = () => trainer.Fit(data);
        fit.Should().Throw<ArgumentOutOfRangeException>().WithMessage("Example weight column 'W' was not found*");
        var shape = () => trainer.GetOutputSchema(TestHelpers.ShapeOf<DenseRow>(ml));
        shape.Should().Throw<ArgumentOutOfRangeException>().WithMessage("Example weight column 'W' was not found*");
    }
}
