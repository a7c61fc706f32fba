using Microsoft.ML.Recurrent.Onnx;

namespace Microsoft.ML.Recurrent.Tests.Onnx;

public class OnnxProtoWriterTests
{
    private static byte[] Write(Action<OnnxProtoWriter> write)
    {
        var w = new OnnxProtoWriter(16);
        write(w);
        return w.ToArray();
    }

    [Fact]
    public void WriteInt64_SmallAndMultiByteValues_KnownVarintBytes()
    {
        Write(w => w.WriteInt64(1, 0)).Should().Equal(0x08, 0x00);
        Write(w => w.WriteInt64(1, 150)).Should().Equal(0x08, 0x96, 0x01);
        Write(w => w.WriteInt64(1, 300)).Should().Equal(0x08, 0xAC, 0x02);
        Write(w => w.WriteInt64(20, 7)).Should().Equal(0xA0, 0x01, 0x07);
    }

    [Fact]
    public void WriteInt64_Negative_TenByteSignExtendedVarint()
    {
        Write(w => w.WriteInt64(3, -1)).Should().Equal(0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01);
    }

    [Fact]
    public void WriteStringAndFloat_KnownBytes()
    {
        Write(w => w.WriteString(2, "hé")).Should().Equal(0x12, 0x03, 0x68, 0xC3, 0xA9);
        Write(w => w.WriteFloat(2, 1f)).Should().Equal(0x15, 0x00, 0x00, 0x80, 0x3F);
    }

    [Fact]
    public void PackedFields_KnownBytes()
    {
        Write(w => w.WritePackedInt64s(1, new long[] { 3, 270, 86942 })).Should().Equal(0x0A, 0x06, 0x03, 0x8E, 0x02, 0x9E, 0xA7, 0x05);
        Write(w => w.WritePackedFloats(4, new[] { 1f, -2f })).Should().Equal(0x22, 0x08, 0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0);
        Write(w => w.WriteInt64sAsBytes(9, new long[] { 1, -1 })).Should().Equal(
            0x4A, 0x10, 1, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF);
    }

    [Fact]
    public void WriteMessage_Nested_LengthPrefixed()
    {
        byte[] bytes = Write(w => w.WriteMessage(3, inner => inner.WriteInt64(1, 150)));
        bytes.Should().Equal(0x1A, 0x03, 0x08, 0x96, 0x01);
    }

    [Fact]
    public void Writer_GrowsPastInitialCapacity_KeepsAllBytes()
    {
        var values = Enumerable.Range(0, 10_000).Select(i => (float)i).ToArray();
        byte[] bytes = Write(w => w.WriteFloatsAsBytes(9, values));
        bytes.Length.Should().Be(1 + 3 + 40_000);
        BitConverter.ToSingle(bytes, 4 + 4 * 9_999).Should().Be(9_999f);
    }

    [Fact]
    public void WriteInt64_FieldZero_Throws()
    {
        var act = () => Write(w => w.WriteInt64(0, 1));
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*field numbers*");
    }

    [Fact]
    public void OnnxTensor_DataCountMismatch_ThrowsNamingTensor()
    {
        var act = () => new OnnxTensor("w", new long[] { 2, 3 }, new float[5]);
        act.Should().Throw<ArgumentException>().WithMessage("*'w'*[2, 3]*6 values*5*");
    }
}
