using Microsoft.ML.Recurrent.Tests.Estimators;
using Microsoft.ML.SearchSpace;

namespace Microsoft.ML.Recurrent.Tests.Experiments;

/// <summary>A multiclass sweep over token sequences (preprocessing in front), optimising top-K accuracy.</summary>
public class MulticlassExperimentTests
{
    public sealed class TokenSpace
    {
        [Choice(new object[] { 8, 16 })]
        public int HiddenSize { get; set; } = 16;

        public string FeatureColumnName { get; set; } = "Tokens";
        public int EmbeddingSize { get; set; } = 8;
        public float LearningRate { get; set; } = 0.01f;
        public int MaximumNumberOfEpochs { get; set; } = 6;
        public int Seed { get; set; } = 2;
    }

    [Fact]
    public void Run_TopKAccuracy_IsTheEvaluatorsTopKOfTheWinner()
    {
        var ml = new MLContext(seed: 0);
        var train = ml.Data.LoadFromEnumerable(SequenceData.FirstColour(300, seed: 1));
        var valid = ml.Data.LoadFromEnumerable(SequenceData.FirstColour(120, seed: 2));
        var result = ml.Recurrent().CreateExperiment()
            .SetDataset(train, valid)
            .SetPreprocessing(MulticlassModelFixture.Featurizer(ml))
            .SetMulticlassClassificationMetric(MulticlassClassificationMetric.TopKAccuracy, topKPredictionCount: 2)
            .SetSearchSpace(new TokenSpace())
            .SetMaximumNumberOfTrials(2)
            .SetTrainingTimeInSeconds(600)
            .SetSeed(3)
            .Run();

        var best = result.BestTrial!;
        var metrics = ml.MulticlassClassification.Evaluate(best.Model!.Transform(valid), topKPredictionCount: 2);
        best.Metric.Should().BeApproximately(metrics.TopKAccuracy, 1e-12, "the experiment measures with ML.NET's evaluator and the K it was given");
        metrics.TopKAccuracy.Should().BeGreaterThanOrEqualTo(metrics.MicroAccuracy).And.BeGreaterThan(0.9);
    }

    [Fact]
    public void SetMulticlassClassificationMetric_TopKBelowOne_ThrowsNamingIt()
    {
        var act = () => new MLContext(seed: 0).Recurrent().CreateExperiment()
            .SetMulticlassClassificationMetric(MulticlassClassificationMetric.TopKAccuracy, topKPredictionCount: 0);
        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("topKPredictionCount");
    }
}
