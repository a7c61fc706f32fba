namespace Microsoft.ML.Recurrent.Tests.Estimators;

/// <summary>The trainers' <see cref="RecurrentTrainerOptions.UnknownTokenRate"/>: a learned unknown-token row for key 0.</summary>
public class UnknownTokenTrainerTests
{
    private static RecurrentPredictionTransformer Fit(float rate)
    {
        var ml = new MLContext(seed: 0);
        var train = ml.Data.LoadFromEnumerable(SequenceData.FirstColour(300, seed: 1));
        var options = MulticlassModelFixture.Options();
        options.MaximumNumberOfEpochs = 3;
        options.UnknownTokenRate = rate;
        return MulticlassModelFixture.Featurizer(ml).Append(ml.MulticlassClassification.Trainers.Recurrent(options)).Fit(train).LastTransformer;
    }

    [Fact]
    public void Fit_TokensWithUnknownTokenRate_TrainsRowZero_ZeroRateLeavesItZero()
    {
        int e = MulticlassModelFixture.Options().EmbeddingSize;
        Fit(0f).Model.GetEmbedding()[..e].ToArray().Should().OnlyContain(v => v == 0f, "no training token was replaced, so row 0 keeps its zero start");
        Fit(0.2f).Model.GetEmbedding()[..e].ToArray().Max(MathF.Abs).Should().BeGreaterThan(1e-3f, "replaced tokens train the unknown-token row");
    }

    [Fact]
    public void Defaults_UnknownTokenRate_IsTwoPercent()
    {
        new RecurrentRegressionTrainer.Options().UnknownTokenRate.Should().Be(0.02f);
        new SequenceTaggerTrainer.Options().UnknownTokenRate.Should().Be(0.02f);
    }
}
