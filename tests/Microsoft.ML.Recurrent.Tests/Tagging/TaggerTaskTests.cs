using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Tests.Estimators;

namespace Microsoft.ML.Recurrent.Tests.Tagging;

/// <summary>Token taggers (softmax and CRF) on generated sentences, the unknown-token embedding, value tagging and bad input.</summary>
public class TaggerTaskTests
{
    private static IEstimator<ITransformer> Tokens(MLContext ml) =>
        ml.Transforms.Text.TokenizeIntoWords("Words", "Text")
            .Append(ml.Transforms.Conversion.MapValueToKey("Tokens", "Words"))
            .Append(ml.Transforms.Conversion.MapValueToKey("Label", "Tags"));

    private static SequenceTaggerTrainer.Options TokenOptions(bool crf, float unknownRate = 0.05f) => new()
    {
        FeatureColumnName = "Tokens",
        HiddenSize = 16,
        EmbeddingSize = 8,
        MaximumNumberOfEpochs = 12,
        LearningRate = 0.02f,
        UseCrf = crf,
        UnknownTokenRate = unknownRate,
        Seed = 4,
    };

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TokenTagger_Sentences_HighSpanF1_AndUnseenNamesFoundThroughTheUnknownToken(bool crf)
    {
        var ml = new MLContext(seed: 0);
        var train = ml.Data.LoadFromEnumerable(TaggingData.Sentences(500, seed: 1));
        var model = Tokens(ml).Append(ml.Recurrent().Trainers.SequenceTagger(TokenOptions(crf))).Fit(train);
        model.LastTransformer.UsesCrf.Should().Be(crf);

        var seen = ml.Recurrent().EvaluateTagging(model.Transform(ml.Data.LoadFromEnumerable(TaggingData.Sentences(150, seed: 2))));
        seen.HasSpans.Should().BeTrue();
        seen.SpanF1Score.Should().BeGreaterThan(0.97);
        seen.TokenAccuracy.Should().BeGreaterThan(0.98);

        // Names never seen in training: their words are missing from the key mapping (key 0 = the learned unknown token).
        var unseen = ml.Recurrent().EvaluateTagging(model.Transform(ml.Data.LoadFromEnumerable(TaggingData.Sentences(150, seed: 3, unseenNames: true))));
        unseen.SpanF1Score.Should().BeGreaterThan(0.9, "an unknown word after 'mr'/'ms' is still a name");
    }

    [Fact]
    public void UnknownTokenRate_TrainsRowZero_ZeroRateLeavesItZero()
    {
        var ml = new MLContext(seed: 0);
        var train = ml.Data.LoadFromEnumerable(TaggingData.Sentences(120, seed: 1));
        float[] RowZero(float rate)
        {
            var o = TokenOptions(crf: false, rate);
            o.MaximumNumberOfEpochs = 2;
            var tagger = Tokens(ml).Append(ml.Recurrent().Trainers.SequenceTagger(o)).Fit(train).LastTransformer;
            return tagger.Model.Parameters.AsSpan(0, o.EmbeddingSize).ToArray();
        }

        RowZero(0f).Should().OnlyContain(v => v == 0f, "no token is ever unknown in training");
        RowZero(0.1f).Max(MathF.Abs).Should().BeGreaterThan(1e-3f, "replaced tokens train the unknown-token row");
    }

    [Fact]
    public void ValueTagger_RunningMean_LowRmseAndScorePerStep()
    {
        var ml = new MLContext(seed: 0);
        var train = ml.Data.LoadFromEnumerable(TaggingData.RunningMean(600, seed: 1));
        var test = ml.Data.LoadFromEnumerable(TaggingData.RunningMean(100, seed: 2));
        var model = ml.Recurrent().Trainers.SequenceTagger(new SequenceTaggerTrainer.Options
        {
            Bidirectional = false,
            HiddenSize = 16,
            MaximumNumberOfEpochs = 25,
            LearningRate = 0.01f,
            Seed = 1,
        }).Fit(train);
        var scored = model.Transform(test);
        var metrics = ml.Recurrent().EvaluateTagging(scored);
        metrics.TokenAccuracy.Should().BeNull();
        // Targets are 10 + running mean (per-step std ≈ 0.35 around 10): the label scaling folds back into the head.
        metrics.RootMeanSquaredError.Should().BeLessThan(0.05);
        metrics.MeanAbsoluteError.Should().BeLessThan(metrics.RootMeanSquaredError!.Value + 1e-12);
        scored.GetColumn<float[]>("Score").First().Length.Should().Be(test.GetColumn<float[]>("Features").First().Length);
        scored.Schema.GetColumnOrNull("PredictedLabel").Should().BeNull();
    }

    [Fact]
    public void ValidationFraction_ReportsValidationLoss_AndKeepsTheBestEpoch()
    {
        var ml = new MLContext(seed: 0);
        var train = ml.Data.LoadFromEnumerable(TaggingData.RunningMean(200, seed: 1));
        var model = ml.Recurrent().Trainers.SequenceTagger(new SequenceTaggerTrainer.Options
        {
            HiddenSize = 8,
            MaximumNumberOfEpochs = 6,
            LearningRate = 0.01f,
            ValidationFraction = 0.25f,
            Seed = 1,
        }).Fit(train);
        model.TrainingHistory.Should().HaveCount(6);
        model.TrainingHistory.Should().OnlyContain(r => r.ValidationLoss.HasValue && r.ValidationLoss > 0);
        var best = model.TrainingHistory.MinBy(r => r.ValidationLoss!.Value)!;
        model.BestEpoch.Should().Be(best.Epoch);
    }

    private sealed class BadRow
    {
        [VectorType]
        public float[] Features { get; set; } = [];

        [VectorType]
        public float[] Label { get; set; } = [];
    }

    [Fact]
    public void BadInput_LabelLengthDiffersFromSequence_ThrowsNamingTheRow()
    {
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(new[]
        {
            new BadRow { Features = [1, 2, 3], Label = [1, 2, 3] },
            new BadRow { Features = [1, 2], Label = [1, 2, 3] },
        });
        var act = () => ml.Recurrent().Trainers.SequenceTagger().Fit(data);
        act.Should().Throw<InvalidOperationException>()
            .WithMessage("Row 1 of the training data: label column 'Label' has 3 values, but the sequence has 2 steps; a tagging label needs one value per step.");
    }

    [Fact]
    public void BadInput_KeyLabelLengthDiffers_ThrowsNamingTheRow()
    {
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(new[]
        {
            new DenseTagRow { Features = [1, 2], Tags = ["a", "b"] },
            new DenseTagRow { Features = [1, 2, 3], Tags = ["a", "b"] },
        });
        var act = () => ml.Transforms.Conversion.MapValueToKey("Label", "Tags").Append(ml.Recurrent().Trainers.SequenceTagger()).Fit(data);
        act.Should().Throw<InvalidOperationException>().WithMessage("Row 1 of the training data: label column 'Label' has 2 tags, but the sequence has 3 steps*");
    }

    [Fact]
    public void BadInput_LabelNotAVectorOfKeysOrSingle_ThrowsOnSchemaAndFit()
    {
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(new[] { new DenseTagRow { Features = [1, 2], Tags = ["a", "b"] } });
        var trainer = ml.Recurrent().Trainers.SequenceTagger(labelColumnName: "Tags");
        const string message = "*Label column 'Tags' has the wrong type: expected a vector of keys (one class per step; use MapValueToKey) or a vector of Single (one value per step), found*";
        trainer.Invoking(t => t.Fit(data)).Should().Throw<ArgumentOutOfRangeException>().WithMessage(message);
        trainer.Invoking(t => t.GetOutputSchema(TestHelpers.ShapeOf<DenseTagRow>(ml))).Should().Throw<ArgumentOutOfRangeException>().WithMessage(message);
    }

    [Fact]
    public void BadInput_EmptySequence_ThrowsNamingTheRow()
    {
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(new[]
        {
            new BadRow { Features = [1], Label = [1] },
            new BadRow { Features = [], Label = [] },
        });
        var act = () => ml.Recurrent().Trainers.SequenceTagger().Fit(data);
        act.Should().Throw<InvalidOperationException>().WithMessage("Row 1 of the training data: feature column 'Features' is empty; every sequence needs at least one step.");
    }

    [Fact]
    public void BadInput_CrfWithValueLabel_Throws()
    {
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(new[] { new BadRow { Features = [1], Label = [1] } });
        var act = () => ml.Recurrent().Trainers.SequenceTagger(useCrf: true).Fit(data);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*UseCrf needs a class label (a vector of keys)*");
    }

    [Fact]
    public void Options_Invalid_ThrowNamingTheOption()
    {
        var ml = new MLContext(seed: 0);
        var act = () => ml.Recurrent().Trainers.SequenceTagger(new SequenceTaggerTrainer.Options { UnknownTokenRate = 0.9f });
        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("UnknownTokenRate");
        act = () => ml.Recurrent().Trainers.SequenceTagger(new SequenceTaggerTrainer.Options { HiddenSize = 0 });
        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("HiddenSize");
        new SequenceTaggerTrainer.Options().Bidirectional.Should().BeTrue("a tagger sees the whole sequence by default");
    }
}
