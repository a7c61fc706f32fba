using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Data;
using Microsoft.ML.Recurrent.Model;
using Microsoft.ML.Recurrent.Trainers;

namespace Microsoft.ML.Recurrent.Tests.Data;

public class SequenceReaderTests
{
    private static readonly MLContext Ml = new(seed: 0);

    private sealed class FixedRow
    {
        [VectorType(4)]
        public float[] Features { get; set; } = new float[4];

        public float Label { get; set; }
    }

    /// <summary>LoadFromEnumerable stores a scalar key field's value v as key v + 1 (v ≥ count: missing, key 0).</summary>
    private sealed class KeyRow
    {
        [VectorType]
        public float[] Features { get; set; } = [];

        [KeyType(3)]
        public uint Label { get; set; }
    }

    private sealed class TokenRow
    {
        [VectorType]
        [KeyType(5)]
        public uint[] Tokens { get; set; } = [];

        public bool Label { get; set; }
    }

    private static SequenceRows Read(IDataView data, string features, int f, PredictionKind kind, string label = "Label")
    {
        var fi = SequenceSchema.CheckFeatures(data.Schema, features, f, "input");
        var li = SequenceSchema.CheckLabel(data.Schema, label, kind, "input");
        return SequenceReader.Read(data, features, fi, f, label, li, "training", CancellationToken.None);
    }

    [Fact]
    public void Read_FixedSizeDenseRegression_CopiesValuesAndLabels()
    {
        var data = Ml.Data.LoadFromEnumerable(new[]
        {
            new FixedRow { Features = [1, 2, 3, 4], Label = 0.5f },
            new FixedRow { Features = [5, 6, 7, 8], Label = -2f },
        });
        var rows = Read(data, "Features", 2, PredictionKind.Regression);
        rows.Features.Should().BeEquivalentTo(new[] { new float[] { 1, 2, 3, 4 }, new float[] { 5, 6, 7, 8 } }, o => o.WithStrictOrdering());
        rows.Targets.Should().Equal(0.5f, -2f);
    }

    [Fact]
    public void CheckFeatures_FixedSizeNotAMultipleOfF_ThrowsAtSchemaTime()
    {
        var data = Ml.Data.LoadFromEnumerable(new[] { new FixedRow() });
        var act = () => SequenceSchema.CheckFeatures(data.Schema, "Features", 3, "input");
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("Feature column 'Features' has a fixed length of 4 values, which is not a multiple of FeaturesPerStep = 3.*");
    }

    [Fact]
    public void Read_KeyLabels_BecomeZeroBasedClassIndices()
    {
        var data = Ml.Data.LoadFromEnumerable(new[]
        {
            new KeyRow { Features = [1], Label = 2 },
            new KeyRow { Features = [1, 2], Label = 0 },
        });
        var rows = Read(data, "Features", 1, PredictionKind.MulticlassClassification);
        rows.Targets.Should().Equal([2f, 0f], "keys 3 and 1 are classes 2 and 0");
        var info = SequenceSchema.CheckLabel(data.Schema, "Label", PredictionKind.MulticlassClassification, "input");
        info.ClassCount.Should().Be(3);
        info.ClassNames.Should().Equal("0", "1", "2");
    }

    [Fact]
    public void Read_MissingKeyLabel_ThrowsNamingRow()
    {
        var data = Ml.Data.LoadFromEnumerable(new[] { new KeyRow { Features = [1], Label = 1 }, new KeyRow { Features = [2], Label = 3 } });
        var act = () => Read(data, "Features", 1, PredictionKind.MulticlassClassification);
        act.Should().Throw<InvalidOperationException>().WithMessage("Row 1 of the training data: label column 'Label' is missing (key 0)*");
    }

    [Theory]
    [InlineData(float.NaN, 1f, "Row 0 of the training data: feature column 'Features' holds NaN at value 1*")]
    [InlineData(1f, float.PositiveInfinity, "Row 0 of the training data: label column 'Label' is Infinity; regression labels must be finite numbers.")]
    public void Read_NonFiniteValues_ThrowNamingRowAndColumn(float feature, float label, string message)
    {
        var data = Ml.Data.LoadFromEnumerable(new[] { new FixedRow { Features = [0, feature, 0, 0], Label = label } });
        var act = () => Read(data, "Features", 2, PredictionKind.Regression);
        act.Should().Throw<InvalidOperationException>().WithMessage(message);
    }

    [Theory]
    [InlineData(70, float.PositiveInfinity)]
    [InlineData(99, float.NaN)]
    [InlineData(3, float.NegativeInfinity)]
    public void Read_NonFiniteValueInLongSequence_ThrowsNamingItsPosition(int index, float bad)
    {
        // 100 values: the vectorised check handles most of them, the scalar loop names the culprit.
        var features = Enumerable.Range(0, 100).Select(i => i * 0.5f - 20f).ToArray();
        features[index] = bad;
        var data = Ml.Data.LoadFromEnumerable(new[] { new KeyRow { Features = [1, 2], Label = 0 }, new KeyRow { Features = features, Label = 1 } });
        var act = () => Read(data, "Features", 1, PredictionKind.MulticlassClassification);
        act.Should().Throw<InvalidOperationException>()
            .WithMessage($"Row 1 of the training data: feature column 'Features' holds {bad} at value {index}; features must be finite numbers.");
    }

    [Fact]
    public void Read_LongFiniteSequence_KeepsEveryValue()
    {
        var features = Enumerable.Range(0, 100).Select(i => i * 0.5f - 20f).ToArray();
        var data = Ml.Data.LoadFromEnumerable(new[] { new KeyRow { Features = features, Label = 2 } });
        var rows = Read(data, "Features", 1, PredictionKind.MulticlassClassification);
        rows.Features.Should().ContainSingle().Which.Should().Equal(features);
        rows.Targets.Should().Equal(2f);
    }

    [Fact]
    public void Read_EmptySequence_ThrowsNamingRow()
    {
        var data = Ml.Data.LoadFromEnumerable(new[] { new KeyRow { Features = [1], Label = 1 }, new KeyRow { Features = [], Label = 1 } });
        var act = () => Read(data, "Features", 1, PredictionKind.MulticlassClassification);
        act.Should().Throw<InvalidOperationException>().WithMessage("Row 1 of the training data: feature column 'Features' is empty*");
    }

    [Fact]
    public void Read_NoRows_Throws()
    {
        var data = Ml.Data.LoadFromEnumerable(Array.Empty<FixedRow>());
        var act = () => Read(data, "Features", 2, PredictionKind.Regression);
        act.Should().Throw<InvalidOperationException>().WithMessage("The training data has no rows.");
    }

    [Fact]
    public void Read_TokenKeys_BecomeIdsWithZeroForMissing()
    {
        var data = Ml.Data.LoadFromEnumerable(new[] { new TokenRow { Tokens = [5, 0, 2], Label = true }, new TokenRow { Tokens = [1], Label = false } });
        var info = SequenceSchema.CheckFeatures(data.Schema, "Tokens", 1, "input");
        info.Should().Be(new FeatureInfo(true, 6));
        var rows = Read(data, "Tokens", 1, PredictionKind.BinaryClassification);
        rows.Features[0].Should().Equal(5f, 0f, 2f);
        rows.Targets.Should().Equal(1f, 0f);
    }

    [Fact]
    public void CheckLabel_NumericKeyValues_BecomeInvariantText()
    {
        var rows = new[] { new { V = 2.5f }, new { V = -1f }, new { V = 2.5f } }.Select(r => new NumericLabelRow { V = r.V });
        var data = Ml.Transforms.Conversion.MapValueToKey("Label", "V").Fit(Ml.Data.LoadFromEnumerable(rows)).Transform(Ml.Data.LoadFromEnumerable(rows));
        var info = SequenceSchema.CheckLabel(data.Schema, "Label", PredictionKind.MulticlassClassification, "input");
        info.ClassNames.Should().Equal("2.5", "-1");
    }

    private sealed class NumericLabelRow
    {
        public float V { get; set; }
    }

    [Fact]
    public void Split_Fraction_IsSeededDisjointAndComplete()
    {
        var rows = new SequenceRows();
        for (int i = 0; i < 10; i++)
        {
            rows.Features.Add([i]);
            rows.Targets.Add(i);
        }

        var (train, valid) = RecurrentTrainerCore.Split(rows, 0.3f, seed: 4);
        valid.Count.Should().Be(3);
        train.Targets.Concat(valid.Targets).Should().BeEquivalentTo(Enumerable.Range(0, 10).Select(i => (float)i));
        RecurrentTrainerCore.Split(rows, 0.3f, seed: 4).Validation.Targets.Should().Equal(valid.Targets);
        var act = () => RecurrentTrainerCore.Split(rows, 0.99f, seed: 4);
        act.Should().Throw<InvalidOperationException>().WithMessage("ValidationFraction = 0.99 holds out 10 of the 10 training rows*");
    }
}
