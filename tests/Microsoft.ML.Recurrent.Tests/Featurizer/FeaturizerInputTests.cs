using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Tests.Estimators;
using Microsoft.ML.Recurrent.Tests.Tagging;

namespace Microsoft.ML.Recurrent.Tests.Featurizer;

/// <summary>Self-supervised and token featurizers, class labels, and bad input.</summary>
public class FeaturizerInputTests
{
    public sealed class WaveRow
    {
        [VectorType]
        public float[] Wave { get; set; } = [];

        public bool Fast { get; set; }
    }

    /// <summary>Sines of a slow or a fast frequency with random phase and length 10..20.</summary>
    private static IEnumerable<WaveRow> Waves(int count, int seed)
    {
        var rng = new Random(seed);
        for (int i = 0; i < count; i++)
        {
            bool fast = rng.Next(2) == 0;
            int len = rng.Next(10, 21);
            double phase = rng.NextDouble() * 2 * Math.PI, w = fast ? 1.3 : 0.35;
            yield return new WaveRow { Wave = Enumerable.Range(0, len).Select(t => (float)Math.Sin(w * t + phase)).ToArray(), Fast = fast };
        }
    }

    [Fact]
    public void SelfSupervised_NoLabel_LossFallsAndFeaturesSeparateFrequencies()
    {
        var ml = new MLContext(seed: 0);
        var train = ml.Data.LoadFromEnumerable(Waves(400, 1));
        var test = ml.Data.LoadFromEnumerable(Waves(200, 2));
        var featurizer = ml.Transforms.FeaturizeSequence(new RecurrentFeaturizerEstimator.Options
        {
            OutputColumnName = "Encoded",
            InputColumnName = "Wave",
            Pooling = RecurrentPooling.Mean,
            Bidirectional = true,
            HiddenSize = 8,
            MaximumNumberOfEpochs = 10,
            LearningRate = 0.01f,
            Seed = 2,
        }).Fit(train);
        var history = featurizer.TrainingHistory;
        history.Last().TrainingLoss.Should().BeLessThan(0.3 * history.First().TrainingLoss, "next/previous-step prediction is learnable");
        featurizer.OutputSize.Should().Be(16);

        var classifier = ml.BinaryClassification.Trainers.LbfgsLogisticRegression(labelColumnName: "Fast", featureColumnName: "Encoded")
            .Fit(featurizer.Transform(train));
        var metrics = ml.BinaryClassification.Evaluate(classifier.Transform(featurizer.Transform(test)), labelColumnName: "Fast");
        metrics.Accuracy.Should().BeGreaterThan(0.95, "features learnt without labels still tell the frequencies apart");
    }

    [Fact]
    public void Tokens_ClassLabel_FeaturesFeedAMulticlassTrainer()
    {
        var ml = new MLContext(seed: 0);
        var train = ml.Data.LoadFromEnumerable(SequenceData.FirstColour(500, seed: 1));
        var test = ml.Data.LoadFromEnumerable(SequenceData.FirstColour(200, seed: 2));
        var pipeline = ml.Transforms.Text.TokenizeIntoWords("Tokens", "Text")
            .Append(ml.Transforms.Conversion.MapValueToKey("Tokens"))
            .Append(ml.Transforms.Conversion.MapValueToKey("Label", "Category"))
            .Append(ml.Transforms.FeaturizeSequence(new RecurrentFeaturizerEstimator.Options
            {
                OutputColumnName = "Encoded",
                InputColumnName = "Tokens",
                LabelColumnName = "Label",
                Pooling = RecurrentPooling.Max,
                HiddenSize = 16,
                EmbeddingSize = 8,
                MaximumNumberOfEpochs = 12,
                LearningRate = 0.01f,
                Seed = 2,
            }))
            .Append(ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy(featureColumnName: "Encoded"));
        var model = pipeline.Fit(train);
        ml.MulticlassClassification.Evaluate(model.Transform(test)).MicroAccuracy.Should().BeGreaterThan(0.9);
    }

    [Fact]
    public void BadInput_EmptySequence_ThrowsNamingTheRow_AtFitAndAtScoring()
    {
        var ml = new MLContext(seed: 0);
        var rows = new[] { new AddingRowVar { Sequence = [1, 2], Label = 1 }, new AddingRowVar { Sequence = [], Label = 2 } };
        var data = ml.Data.LoadFromEnumerable(rows);
        var estimator = ml.Transforms.FeaturizeSequence("Encoded", "Sequence", featuresPerStep: 2, labelColumnName: "Label", maximumNumberOfEpochs: 1);
        estimator.Invoking(e => e.Fit(data)).Should().Throw<InvalidOperationException>()
            .WithMessage("Row 1 of the training data: feature column 'Sequence' is empty; every sequence needs at least one step.");

        var fitted = estimator.Fit(ml.Data.LoadFromEnumerable(rows.Take(1)));
        var act = () => fitted.Transform(data).GetColumn<float[]>("Encoded").ToArray();
        act.Should().Throw<Exception>().Where(e => Flatten(e).Contains("Feature column 'Sequence' is empty; the recurrent model needs at least one step."),
            "pooling needs at least one step");
    }

    private static string Flatten(Exception e) => e.InnerException is null ? e.Message : e.Message + " | " + Flatten(e.InnerException);

    public sealed class AddingRowVar
    {
        [VectorType]
        public float[] Sequence { get; set; } = [];

        public float Label { get; set; }
    }

    [Fact]
    public void BadInput_WrongLabelType_ThrowsOnSchemaAndFit()
    {
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(new[] { new WaveRow { Wave = [1, 2], Fast = true } });
        var estimator = ml.Transforms.FeaturizeSequence("Encoded", "Wave", featuresPerStep: 1, labelColumnName: "Fast");
        const string message = "*Label column 'Fast' has the wrong type: expected a key (classes; use MapValueToKey) or Single (regression), found Boolean*";
        estimator.Invoking(e => e.Fit(data)).Should().Throw<ArgumentOutOfRangeException>().WithMessage(message);
        estimator.Invoking(e => e.GetOutputSchema(TestHelpers.ShapeOf<WaveRow>(ml))).Should().Throw<ArgumentOutOfRangeException>().WithMessage(message);
    }

    [Fact]
    public void BadInput_FeaturesNotAMultipleOfF_ThrowsNamingTheRow()
    {
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(new[] { new AddingRowVar { Sequence = [1, 2], Label = 1 }, new AddingRowVar { Sequence = [1, 2, 3], Label = 1 } });
        var act = () => ml.Transforms.FeaturizeSequence("Encoded", "Sequence", featuresPerStep: 2).Fit(data);
        act.Should().Throw<InvalidOperationException>().WithMessage("Row 1 of the training data: feature column 'Sequence' has 3 values, which is not a multiple of FeaturesPerStep = 2.");
    }

    [Fact]
    public void Options_Invalid_ThrowNamingTheOption()
    {
        var ml = new MLContext(seed: 0);
        var act = () => ml.Transforms.FeaturizeSequence(new RecurrentFeaturizerEstimator.Options
        {
            OutputColumnName = "E",
            InputColumnName = "S",
            AttentionWeightsColumnName = "W",
            Pooling = RecurrentPooling.Mean,
        });
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*AttentionWeightsColumnName needs Pooling = Attention (Pooling is Mean)*");
        act = () => ml.Transforms.FeaturizeSequence(new RecurrentFeaturizerEstimator.Options { InputColumnName = "S" });
        act.Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("OutputColumnName");
        act = () => ml.Transforms.FeaturizeSequence("E", "S", featuresPerStep: 0);
        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("FeaturesPerStep");
    }
}
