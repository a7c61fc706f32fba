using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace Microsoft.ML.Recurrent.Onnx;

/// <summary>
/// A minimal protocol-buffers wire-format writer: varints, fixed 32-bit floats, length-delimited fields
/// (strings, bytes, nested messages) and packed repeated scalars. It writes exactly what the few ONNX
/// messages in <see cref="OnnxModel"/> need; fields are written in the order the caller gives.
/// </summary>
/// <remarks>
/// Wire format: each field is a key <c>(field_number &lt;&lt; 3) | wire_type</c> written as a varint, then the value.
/// Wire types used: 0 = varint (int32/int64/enum; negative values take 10 bytes, sign-extended to 64 bits),
/// 2 = length-delimited (varint byte length, then the bytes), 5 = fixed32 (little-endian float).
/// A nested message is written into its own writer first, then copied in as a length-delimited field.
/// </remarks>
internal sealed class OnnxProtoWriter
{
    private const int WireVarint = 0;
    private const int WireLengthDelimited = 2;
    private const int WireFixed32 = 5;

    /// <summary>Protobuf messages are limited to 2 GiB; ONNX needs external data beyond that.</summary>
    private const long MaxLength = int.MaxValue - 64;

    private byte[] _buffer;
    private int _length;

    public OnnxProtoWriter(int initialCapacity = 256)
    {
        _buffer = new byte[Math.Max(16, initialCapacity)];
    }

    /// <summary>Bytes written so far.</summary>
    public int Length => _length;

    /// <summary>The bytes written so far (valid until the next write).</summary>
    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, _length);

    public byte[] ToArray() => WrittenSpan.ToArray();

    /// <summary>Writes a raw base-128 varint (no key).</summary>
    public void WriteRawVarint(ulong value)
    {
        Ensure(10);
        while (value >= 0x80)
        {
            _buffer[_length++] = (byte)(value | 0x80);
            value >>= 7;
        }

        _buffer[_length++] = (byte)value;
    }

    /// <summary>Bytes a varint of <paramref name="value"/> takes.</summary>
    public static int VarintSize(ulong value)
    {
        int n = 1;
        while (value >= 0x80)
        {
            value >>= 7;
            n++;
        }

        return n;
    }

    /// <summary>An int32, int64 or enum field (wire type 0). Negative values are sign-extended to 64 bits.</summary>
    public void WriteInt64(int field, long value)
    {
        WriteKey(field, WireVarint);
        WriteRawVarint(unchecked((ulong)value));
    }

    /// <summary>A float field (wire type 5, little-endian).</summary>
    public void WriteFloat(int field, float value)
    {
        WriteKey(field, WireFixed32);
        Ensure(4);
        BinaryPrimitives.WriteSingleLittleEndian(_buffer.AsSpan(_length, 4), value);
        _length += 4;
    }

    /// <summary>A string field, UTF-8 encoded.</summary>
    public void WriteString(int field, string value)
    {
        int count = Encoding.UTF8.GetByteCount(value);
        WriteKey(field, WireLengthDelimited);
        WriteRawVarint((ulong)count);
        Ensure(count);
        _length += Encoding.UTF8.GetBytes(value, _buffer.AsSpan(_length, count));
    }

    /// <summary>A bytes field (or an already-serialized nested message).</summary>
    public void WriteBytes(int field, ReadOnlySpan<byte> value)
    {
        WriteKey(field, WireLengthDelimited);
        WriteRawVarint((ulong)value.Length);
        Ensure(value.Length);
        value.CopyTo(_buffer.AsSpan(_length));
        _length += value.Length;
    }

    /// <summary>A nested message field: the bytes written to <paramref name="message"/>.</summary>
    public void WriteMessage(int field, OnnxProtoWriter message) => WriteBytes(field, message.WrittenSpan);

    /// <summary>A nested message field written by <paramref name="write"/> into a fresh writer.</summary>
    public void WriteMessage(int field, Action<OnnxProtoWriter> write)
    {
        var inner = new OnnxProtoWriter();
        write(inner);
        WriteMessage(field, inner);
    }

    /// <summary>A bytes field holding the values as little-endian IEEE floats (ONNX raw_data).</summary>
    public void WriteFloatsAsBytes(int field, ReadOnlySpan<float> values)
    {
        WriteKey(field, WireLengthDelimited);
        WriteFloatPayload(values);
    }

    /// <summary>A packed repeated float field (wire type 2 with 4 bytes per value).</summary>
    public void WritePackedFloats(int field, ReadOnlySpan<float> values)
    {
        WriteKey(field, WireLengthDelimited);
        WriteFloatPayload(values);
    }

    /// <summary>A bytes field holding the values as little-endian 64-bit integers (ONNX raw_data).</summary>
    public void WriteInt64sAsBytes(int field, ReadOnlySpan<long> values)
    {
        long bytes = 8L * values.Length;
        WriteKey(field, WireLengthDelimited);
        WriteRawVarint((ulong)bytes);
        Ensure(bytes);
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(_buffer.AsSpan(_length, 8), values[i]);
            _length += 8;
        }
    }

    /// <summary>A packed repeated int64 field (varints inside one length-delimited field).</summary>
    public void WritePackedInt64s(int field, ReadOnlySpan<long> values)
    {
        long bytes = 0;
        foreach (long v in values) bytes += VarintSize(unchecked((ulong)v));
        WriteKey(field, WireLengthDelimited);
        WriteRawVarint((ulong)bytes);
        foreach (long v in values) WriteRawVarint(unchecked((ulong)v));
    }

    private void WriteFloatPayload(ReadOnlySpan<float> values)
    {
        long bytes = 4L * values.Length;
        WriteRawVarint((ulong)bytes);
        Ensure(bytes);
        Span<byte> destination = _buffer.AsSpan(_length, (int)bytes);
        if (BitConverter.IsLittleEndian)
        {
            MemoryMarshal.AsBytes(values).CopyTo(destination);
        }
        else
        {
            for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(destination.Slice(4 * i, 4), values[i]);
        }

        _length += (int)bytes;
    }

    private void WriteKey(int field, int wireType)
    {
        if (field < 1 || field > (1 << 29) - 1) throw new ArgumentOutOfRangeException(nameof(field), $"Protobuf field numbers are 1 … 2^29 − 1, was {field}.");
        WriteRawVarint(((ulong)(uint)field << 3) | (uint)wireType);
    }

    private void Ensure(long extra)
    {
        long needed = _length + extra;
        if (needed <= _buffer.Length) return;
        if (needed > MaxLength)
        {
            throw new InvalidOperationException(
                $"The ONNX model would exceed the 2 GiB protobuf limit ({needed} bytes); models this large need ONNX external data, which is not supported.");
        }

        long capacity = Math.Max(needed, Math.Min(MaxLength, 2L * _buffer.Length));
        Array.Resize(ref _buffer, (int)capacity);
    }
}
