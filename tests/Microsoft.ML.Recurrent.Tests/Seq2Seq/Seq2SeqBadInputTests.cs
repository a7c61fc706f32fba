using Microsoft.ML.Data;

namespace Microsoft.ML.Recurrent.Tests.Seq2Seq;

/// <summary>Bad options and bad data name the option or the column (and the row where there is one).</summary>
public class Seq2SeqBadInputTests
{
    private sealed class TokenRow
    {
        [KeyType(5)]
        [VectorType]
        public uint[] Features { get; set; } = [];

        [KeyType(4)]
        [VectorType]
        public uint[] Label { get; set; } = [];
    }

    private sealed class WideRow
    {
        [KeyType(50)]
        [VectorType]
        public uint[] Features { get; set; } = [];
    }

    private sealed class DenseRow
    {
        [VectorType]
        public float[] Features { get; set; } = [];

        [KeyType(4)]
        [VectorType]
        public uint[] Label { get; set; } = [];
    }

    private static EncoderDecoderTrainer.Options Small() => new() { HiddenSize = 4, EmbeddingSize = 3, TargetEmbeddingSize = 3, MaximumNumberOfEpochs = 1, Seed = 1 };

    private static List<TokenRow> Good() =>
    [
        new() { Features = [1, 2, 3], Label = [3, 2] },
        new() { Features = [4, 5], Label = [1] },
    ];

    [Theory]
    [InlineData(nameof(EncoderDecoderTrainer.Options.BeamWidth), 0)]
    [InlineData(nameof(EncoderDecoderTrainer.Options.MaximumOutputLength), 0)]
    [InlineData(nameof(EncoderDecoderTrainer.Options.HiddenSize), 0)]
    [InlineData(nameof(EncoderDecoderTrainer.Options.TargetEmbeddingSize), 0)]
    public void EncoderDecoder_InvalidOption_ThrowsNamingIt(string option, int value)
    {
        var options = Small();
        typeof(EncoderDecoderTrainer.Options).GetProperty(option)!.SetValue(options, value);
        var act = () => new MLContext(1).Recurrent().Trainers.EncoderDecoder(options);
        act.Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == option && e.Message.Contains(option));
    }

    [Fact]
    public void EncoderDecoder_EmptyTarget_ThrowsNamingLabelColumnAndRow()
    {
        var ml = new MLContext(1);
        var rows = Good();
        rows.Add(new TokenRow { Features = [1], Label = [] });
        var act = () => ml.Recurrent().Trainers.EncoderDecoder(Small()).Fit(ml.Data.LoadFromEnumerable(rows));
        act.Should().Throw<InvalidOperationException>().WithMessage("*Label column 'Label' is empty in row 2*");
    }

    [Fact]
    public void EncoderDecoder_MissingTargetKey_ThrowsNamingLabelColumn()
    {
        var ml = new MLContext(1);
        var rows = Good();
        rows[1].Label = [2, 0];
        var act = () => ml.Recurrent().Trainers.EncoderDecoder(Small()).Fit(ml.Data.LoadFromEnumerable(rows));
        act.Should().Throw<InvalidOperationException>().WithMessage("*Label column 'Label' holds a missing key (0) at step 1 of row 1*");
    }

    [Fact]
    public void EncoderDecoder_EmptySource_ThrowsNamingFeatureColumn()
    {
        var ml = new MLContext(1);
        var rows = Good();
        rows[0].Features = [];
        var act = () => ml.Recurrent().Trainers.EncoderDecoder(Small()).Fit(ml.Data.LoadFromEnumerable(rows));
        act.Should().Throw<InvalidOperationException>().WithMessage("*Feature column 'Features' is empty in row 0*");
    }

    [Fact]
    public void EncoderDecoder_NonFiniteSingleSource_ThrowsNamingColumnRowAndStep()
    {
        var ml = new MLContext(1);
        var rows = new List<DenseRow> { new() { Features = [1, 2, 3, 4], Label = [1] }, new() { Features = [1, float.NaN], Label = [2] } };
        var options = Small();
        options.FeaturesPerStep = 2;
        var act = () => ml.Recurrent().Trainers.EncoderDecoder(options).Fit(ml.Data.LoadFromEnumerable(rows));
        act.Should().Throw<InvalidOperationException>().WithMessage("*Feature column 'Features' holds NaN in row 1 at step 0, feature 1*");
    }

    [Fact]
    public void EncoderDecoder_LabelNotAKeyVector_ThrowsOnSchemaAndFit()
    {
        var ml = new MLContext(1);
        var data = ml.Data.LoadFromEnumerable(new[] { new ScalarLabelRow { Features = [1, 2], Label = 1f } });
        var trainer = ml.Recurrent().Trainers.EncoderDecoder(Small());
        var onFit = () => trainer.Fit(data);
        onFit.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*Label column 'Label' has the wrong type*");
        var onSchema = () => trainer.GetOutputSchema(Estimators.TestHelpers.ShapeOf<ScalarLabelRow>(ml));
        onSchema.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*Label column 'Label' has the wrong type*");
    }

    [Fact]
    public void EncoderDecoder_UnknownTokenIdAtPrediction_ThrowsNamingFeatureColumn()
    {
        var ml = new MLContext(1);
        var model = ml.Recurrent().Trainers.EncoderDecoder(Small()).Fit(ml.Data.LoadFromEnumerable(Good()));
        var wide = ml.Data.LoadFromEnumerable(new[] { new WideRow { Features = [1, 40] } });
        var act = () => model.Transform(wide).GetColumn<uint[]>("PredictedLabel").ToArray();
        act.Should().Throw<Exception>().Where(e => e.ToString().Contains("Feature column 'Features' holds key 40 at step 1"));
    }

    private sealed class ScalarLabelRow
    {
        [VectorType]
        public float[] Features { get; set; } = [];

        public float Label { get; set; }
    }

    private sealed class SequenceRow
    {
        [KeyType(3)]
        [VectorType]
        public uint[] Features { get; set; } = [];
    }

    [Theory]
    [InlineData(nameof(SequenceGeneratorTrainer.Options.Temperature), 0f)]
    [InlineData(nameof(SequenceGeneratorTrainer.Options.Temperature), -1f)]
    [InlineData(nameof(SequenceGeneratorTrainer.Options.MaximumOutputLength), 0)]
    [InlineData(nameof(SequenceGeneratorTrainer.Options.TopK), -1)]
    public void SequenceGenerator_InvalidOption_ThrowsNamingIt(string option, object value)
    {
        var options = new SequenceGeneratorTrainer.Options();
        var property = typeof(SequenceGeneratorTrainer.Options).GetProperty(option)!;
        property.SetValue(options, Convert.ChangeType(value, property.PropertyType));
        var act = () => new MLContext(1).Recurrent().Trainers.SequenceGenerator(options);
        act.Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == option && e.Message.Contains(option));
    }

    [Fact]
    public void SequenceGenerator_BadGenerateArguments_ThrowNamingThem()
    {
        var ml = new MLContext(1);
        var data = ml.Data.LoadFromEnumerable(new[] { new SequenceRow { Features = [1, 2, 3] }, new SequenceRow { Features = [2, 3] } });
        var model = ml.Recurrent().Trainers.SequenceGenerator(new SequenceGeneratorTrainer.Options { HiddenSize = 4, EmbeddingSize = 2, MaximumNumberOfEpochs = 1, Seed = 1 }).Fit(data);
        model.Tokens.Should().Equal("1", "2", "3");
        ((Action)(() => model.Generate([], 5, 0f, 1))).Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == "temperature");
        ((Action)(() => model.Generate([], 0, 1f, 1))).Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == "maximumLength");
        ((Action)(() => model.Generate(["1", "seven"], 5, 1f, 1))).Should().Throw<ArgumentException>().WithMessage("*'seven' at position 1*column 'Features'*");
    }

    [Fact]
    public void SequenceGenerator_EmptyTrainingSequence_ThrowsNamingColumnAndRow()
    {
        var ml = new MLContext(1);
        var data = ml.Data.LoadFromEnumerable(new[] { new SequenceRow { Features = [1, 2] }, new SequenceRow { Features = [] } });
        var act = () => ml.Recurrent().Trainers.SequenceGenerator(new SequenceGeneratorTrainer.Options { HiddenSize = 4, MaximumNumberOfEpochs = 1 }).Fit(data);
        act.Should().Throw<InvalidOperationException>().WithMessage("*Feature column 'Features' is empty in row 1*");
    }
}
