using System.Buffers.Binary;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Seq2Seq;
using Microsoft.ML.Recurrent.Model;
using Microsoft.ML.Recurrent.Seq2Seq;

namespace Microsoft.ML.Recurrent.Tests.Seq2Seq;

/// <summary>The encoder–decoder and generator payloads: round trips, and truncated, corrupted or hostile bytes rejected.</summary>
public class Seq2SeqModelFormatTests
{
    private static Seq2SeqModel Seq2Seq()
    {
        var spec = Seq2SeqEngineTests.Spec("Additive", "Lstm", 1, true, true);
        var (enc, dec, head) = Seq2SeqHarness.RandomParameters(spec, 1);
        return new Seq2SeqModel(spec, "Features", ["a", "b", "c", "ü"], 3, 17, enc, dec, head);
    }

    private static GeneratorModel Generator()
    {
        var spec = Seq2SeqModelFormat.NextTokenSpec(CellKind.Gru, 3, 1, 0f, 2, 2);
        var p = Enumerable.Range(0, new ParameterLayout(spec).Count).Select(i => i * 0.01f).ToArray();
        return new GeneratorModel(spec, "Tokens", ["x", "y"], 0.7f, 2, 9, -5, p);
    }

    [Fact]
    public void Write_Read_RoundTripsEveryField()
    {
        var m = Seq2Seq();
        var back = Seq2SeqModelFormat.ReadSeq2Seq(Seq2SeqModelFormat.Write(m));
        back.Spec.Should().Be(m.Spec);
        back.FeatureColumnName.Should().Be("Features");
        back.TargetValues.Should().Equal(m.TargetValues);
        (back.BeamWidth, back.MaximumOutputLength).Should().Be((3, 17));
        back.Encoder.Should().Equal(m.Encoder);
        back.Decoder.Should().Equal(m.Decoder);
        back.Head.Should().Equal(m.Head);

        var g = Generator();
        var gb = Seq2SeqModelFormat.ReadGenerator(Seq2SeqModelFormat.Write(g));
        gb.Spec.Should().Be(g.Spec);
        (gb.FeatureColumnName, gb.Temperature, gb.TopK, gb.MaximumOutputLength, gb.Seed).Should().Be(("Tokens", 0.7f, 2, 9, -5));
        gb.TokenValues.Should().Equal("x", "y");
        gb.Parameters.Should().Equal(g.Parameters);
    }

    [Fact]
    public void Read_TruncatedAtEveryLength_Throws()
    {
        foreach (var bytes in new[] { Seq2SeqModelFormat.Write(Seq2Seq()), Seq2SeqModelFormat.Write(Generator()) })
        {
            bool seq2seq = bytes[5] == (byte)'2';
            for (int n = 0; n < bytes.Length; n++)
            {
                var cut = bytes.AsSpan(0, n).ToArray();
                Action read = seq2seq ? () => Seq2SeqModelFormat.ReadSeq2Seq(cut) : () => Seq2SeqModelFormat.ReadGenerator(cut);
                read.Should().Throw<InvalidDataException>($"{n} of {bytes.Length} bytes");
            }
        }
    }

    private static ConditionedGeneratorModel Conditioned()
    {
        var spec = new Seq2SeqSpec(CellKind.Gru, 3, 0, 0, 4, 1, false, 0f, 2, 2, AttentionKind.None);
        var (enc, dec, head) = Seq2SeqHarness.RandomParameters(spec, 2);
        return new ConditionedGeneratorModel(new Seq2SeqModel(spec, "Tokens", ["x", "y"], 1, 9, enc, dec, head), "Condition", 1.5f, 0, 9, 11);
    }

    [Fact]
    public void ConditionedGenerator_RoundTripsAndRejectsEveryTruncation()
    {
        var m = Conditioned();
        var bytes = Seq2SeqModelFormat.Write(m);
        var back = Seq2SeqModelFormat.ReadConditioned(bytes);
        (back.ConditionColumnName, back.Temperature, back.TopK, back.MaximumOutputLength, back.Seed).Should().Be(("Condition", 1.5f, 0, 9, 11));
        back.Network.Spec.Should().Be(m.Network.Spec);
        back.Network.Encoder.Should().Equal(m.Network.Encoder);
        back.Network.Head.Should().Equal(m.Network.Head);
        for (int n = 0; n < bytes.Length; n++)
        {
            var cut = bytes.AsSpan(0, n).ToArray();
            var act = () => Seq2SeqModelFormat.ReadConditioned(cut);
            act.Should().Throw<InvalidDataException>($"{n} of {bytes.Length} bytes");
        }

        // A network byte count beyond the bytes left, with a valid outer checksum.
        int at = 12 + 16 + 4 + "Condition".Length;
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(at), int.MaxValue);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(bytes.Length - 4), Crc32.Compute(bytes.AsSpan(0, bytes.Length - 4)));
        var hostile = () => Seq2SeqModelFormat.ReadConditioned(bytes);
        hostile.Should().Throw<InvalidDataException>().WithMessage("*network byte count*outside*");
    }

    [Fact]
    public void Read_AnyFlippedBit_Throws()
    {
        var bytes = Seq2SeqModelFormat.Write(Generator());
        for (int i = 0; i < bytes.Length * 8; i += 3)
        {
            var bad = (byte[])bytes.Clone();
            bad[i / 8] ^= (byte)(1 << (i % 8));
            var act = () => Seq2SeqModelFormat.ReadGenerator(bad);
            act.Should().Throw<InvalidDataException>($"bit {i}");
        }
    }

    [Theory]
    [InlineData(16 + 4 * 10 - 4, int.MaxValue)]  // maximum output length
    [InlineData(16 + 4 * 6, 1 << 30)]            // target key count
    [InlineData(16 + 4 * 3, -1)]                 // hidden size
    public void Read_HostileSizeWithValidChecksum_ThrowsBeforeAllocating(int offset, int value)
    {
        var bytes = Seq2SeqModelFormat.Write(Seq2Seq());
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(offset), value);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(bytes.Length - 4), Crc32.Compute(bytes.AsSpan(0, bytes.Length - 4)));
        long before = GC.GetAllocatedBytesForCurrentThread();
        var act = () => Seq2SeqModelFormat.ReadSeq2Seq(bytes);
        act.Should().Throw<InvalidDataException>().WithMessage("*outside*");
        (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan(1 << 20);
    }

    [Fact]
    public void Read_WrongMagic_NamesTheModelKind()
    {
        var act = () => Seq2SeqModelFormat.ReadGenerator(Seq2SeqModelFormat.Write(Seq2Seq()));
        act.Should().Throw<InvalidDataException>().WithMessage("*MLRSQGEN*generator*");
    }
}
