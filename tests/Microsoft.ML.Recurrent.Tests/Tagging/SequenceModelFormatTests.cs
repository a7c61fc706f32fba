using System.Buffers.Binary;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Heads;
using Microsoft.ML.Recurrent.Model;
using Microsoft.ML.Recurrent.Sequence;

namespace Microsoft.ML.Recurrent.Tests.Tagging;

/// <summary>The tagger/featurizer payload format: round trips, and truncated, corrupted or hostile bytes.</summary>
public class SequenceModelFormatTests
{
    private static SequenceModel Model(SequenceTask task, bool crf = false, PoolingKind pooling = PoolingKind.Last, bool tokens = false)
    {
        int outputs = task switch { SequenceTask.TagClasses => 3, SequenceTask.TagValues => 1, _ => 0 };
        var spec = new NetworkSpec(CellKind.Gru, tokens ? 1 : 2, 3, 1, Bidirectional: true, VocabularySize: tokens ? 5 : 0, EmbeddingSize: tokens ? 2 : 0,
            OutputSize: outputs, Output: task == SequenceTask.Featurize ? OutputMode.LastHidden : OutputMode.EveryStep);
        var rng = new Random(3);
        var p = Enumerable.Range(0, new ParameterLayout(spec).Count).Select(_ => (float)rng.NextDouble()).ToArray();
        var extra = Enumerable.Range(0, SequenceModel.ExtraCount(task, spec, pooling, crf)).Select(_ => (float)rng.NextDouble()).ToArray();
        string[] names = task == SequenceTask.TagClasses ? ["O", "B-X", "I-X"] : [];
        return new SequenceModel(task, spec, pooling, crf, "Features", names, p, extra);
    }

    public static IEnumerable<object[]> Models() =>
    [
        [SequenceTask.TagClasses.ToString(), false, PoolingKind.Last.ToString(), false],
        [SequenceTask.TagClasses.ToString(), true, PoolingKind.Last.ToString(), true],
        [SequenceTask.TagValues.ToString(), false, PoolingKind.Last.ToString(), false],
        [SequenceTask.Featurize.ToString(), false, PoolingKind.Attention.ToString(), true],
        [SequenceTask.Featurize.ToString(), false, PoolingKind.Max.ToString(), false],
    ];

    [Theory]
    [MemberData(nameof(Models))]
    public void WriteRead_RoundTripsEveryField(string task, bool crf, string pooling, bool tokens)
    {
        var model = Model(Enum.Parse<SequenceTask>(task), crf, Enum.Parse<PoolingKind>(pooling), tokens);
        var back = SequenceModelFormat.Read(SequenceModelFormat.Write(model));
        back.Task.Should().Be(model.Task);
        back.Spec.Should().Be(model.Spec);
        back.Pooling.Should().Be(model.Pooling);
        back.UseCrf.Should().Be(model.UseCrf);
        back.FeatureColumnName.Should().Be("Features");
        back.ClassNames.Should().Equal(model.ClassNames);
        back.Parameters.Should().Equal(model.Parameters);
        back.ExtraParameters.Should().Equal(model.ExtraParameters);
    }

    [Fact]
    public void Read_TruncatedAtEveryLength_ThrowsInvalidData()
    {
        var bytes = SequenceModelFormat.Write(Model(SequenceTask.TagClasses, crf: true));
        for (int n = 0; n < bytes.Length; n++)
        {
            var act = () => SequenceModelFormat.Read(bytes.AsSpan(0, n));
            act.Should().Throw<InvalidDataException>($"{n} of {bytes.Length} bytes");
        }
    }

    [Fact]
    public void Read_EveryBitFlipped_ThrowsInvalidData()
    {
        var bytes = SequenceModelFormat.Write(Model(SequenceTask.Featurize, pooling: PoolingKind.Attention));
        for (int i = 0; i < bytes.Length * 8; i += 3)
        {
            var copy = (byte[])bytes.Clone();
            copy[i / 8] ^= (byte)(1 << (i % 8));
            var act = () => SequenceModelFormat.Read(copy);
            act.Should().Throw<InvalidDataException>($"bit {i}");
        }
    }

    /// <summary>Rewrites an int32 field and recomputes the checksum, so only the field checks can catch it.</summary>
    private static byte[] Forge(byte[] bytes, int offset, int value)
    {
        var copy = (byte[])bytes.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(copy.AsSpan(offset), value);
        BinaryPrimitives.WriteUInt32LittleEndian(copy.AsSpan(copy.Length - 4), Crc32.Compute(copy.AsSpan(0, copy.Length - 4)));
        return copy;
    }

    [Theory]
    [InlineData(24, int.MaxValue, "hidden size")]
    [InlineData(44, 1 << 30, "output size")]
    [InlineData(48, int.MaxValue, "feature column name length")]
    [InlineData(44, 2, "class count")]
    public void Read_HostileSizes_ThrowInvalidDataBeforeAllocating(int offset, int value, string field)
    {
        var bytes = Forge(SequenceModelFormat.Write(Model(SequenceTask.TagClasses)), offset, value);
        var act = () => SequenceModelFormat.Read(bytes);
        act.Should().Throw<InvalidDataException>().WithMessage($"*{field}*");
    }

    [Fact]
    public void Read_HostileClassAndParameterCounts_ThrowInvalidData()
    {
        var bytes = SequenceModelFormat.Write(Model(SequenceTask.TagClasses));
        int classCountAt = 48 + 4 + "Features".Length;
        var act = () => SequenceModelFormat.Read(Forge(bytes, classCountAt, 1 << 20));
        act.Should().Throw<InvalidDataException>().WithMessage("*class count*");
        var trainerBytes = RecurrentModelFormat.Write(new RecurrentModel(new NetworkSpec(CellKind.Lstm, 1, 2), PredictionKind.Regression, "F", [],
            new float[new ParameterLayout(new NetworkSpec(CellKind.Lstm, 1, 2)).Count]));
        act = () => SequenceModelFormat.Read(trainerBytes);
        act.Should().Throw<InvalidDataException>().WithMessage("*magic*", "a trainer's payload is not a sequence model");
    }
}
