using System.Buffers.Binary;
using System.Text;

namespace Microsoft.ML.Recurrent.Model;

/// <summary>
/// The bounds-checked little-endian reader every stored format of the package reads through (trainers, taggers and
/// featurizers, encoder–decoders and generators, forecasters). Every read is checked against the bytes that remain
/// before anything is allocated, and every failure is an <see cref="InvalidDataException"/> worded
/// "The {payload} payload is invalid: {why}." so a truncated, corrupted or hostile payload names what was wrong.
/// </summary>
internal ref struct PayloadReader
{
    private readonly ReadOnlySpan<byte> _data;
    private readonly string _payload;
    private int _pos;

    /// <param name="data">The bytes to read (without the trailing checksum).</param>
    /// <param name="payload">What the bytes are, for messages: "recurrent model", "recurrent forecasting model", ….</param>
    public PayloadReader(ReadOnlySpan<byte> data, string payload)
    {
        _data = data;
        _payload = payload;
        _pos = 0;
    }

    /// <summary>
    /// Checks the frame every stored format shares — 8 magic bytes, an int32 version in [<paramref name="minVersion"/>,
    /// <paramref name="maxVersion"/>], the body, a trailing CRC-32 (IEEE) of every byte before it — and returns a reader
    /// over the body (after magic and version, without the checksum).
    /// </summary>
    public static PayloadReader Open(ReadOnlySpan<byte> data, ReadOnlySpan<byte> magic, int minVersion, int maxVersion,
        int minimumLength, string payload, out int version)
    {
        if (data.Length < Math.Max(minimumLength, 16))
            throw Invalid(payload, $"it is {data.Length} bytes long, shorter than the smallest possible {payload} ({Math.Max(minimumLength, 16)} bytes)");
        if (!data[..8].SequenceEqual(magic))
            throw Invalid(payload, $"it does not start with the magic bytes \"{Encoding.ASCII.GetString(magic)}\" of a {payload}");
        version = BinaryPrimitives.ReadInt32LittleEndian(data[8..]);
        if (version < minVersion || version > maxVersion)
            throw Invalid(payload, minVersion == maxVersion
                ? $"its format version is {version}; this library reads version {maxVersion}"
                : $"its format version is {version}; this library reads versions {minVersion} to {maxVersion}");
        uint stored = BinaryPrimitives.ReadUInt32LittleEndian(data[^4..]);
        uint actual = Crc32.Compute(data[..^4]);
        if (stored != actual)
            throw Invalid(payload, $"its checksum does not match (stored 0x{stored:X8}, computed 0x{actual:X8}): the payload is truncated or corrupted");
        var reader = new PayloadReader(data[..^4], payload);
        reader.Skip(12, "header");
        return reader;
    }

    /// <summary>Bytes not read yet.</summary>
    public readonly int Remaining => _data.Length - _pos;

    /// <summary>The exception for a payload of this kind that is wrong for the reason given.</summary>
    public readonly InvalidDataException Invalid(string why) => Invalid(_payload, why);

    /// <summary>"The {payload} payload is invalid: {why}."</summary>
    public static InvalidDataException Invalid(string payload, string why, Exception? inner = null) =>
        new($"The {payload} payload is invalid: {why}.", inner);

    public ReadOnlySpan<byte> Take(int n, string field)
    {
        if (n < 0 || n > Remaining)
            throw Invalid($"the {field} needs {n} bytes but only {Remaining} remain");
        var s = _data.Slice(_pos, n);
        _pos += n;
        return s;
    }

    public void Skip(int n, string field) => Take(n, field);

    public byte Byte(string field) => Take(1, field)[0];

    /// <summary>A float as stored (NaN and ∞ included; use <see cref="FiniteSingle"/> where only numbers are valid).</summary>
    public float Single(string field) => BinaryPrimitives.ReadSingleLittleEndian(Take(4, field));

    public float FiniteSingle(string field)
    {
        float v = Single(field);
        if (!float.IsFinite(v)) throw Invalid($"the {field} is {v}, not a finite number");
        return v;
    }

    public double Double(string field) => BinaryPrimitives.ReadDoubleLittleEndian(Take(8, field));

    public int Int32(string field, int min, int max)
    {
        int v = BinaryPrimitives.ReadInt32LittleEndian(Take(4, field));
        if (v < min || v > max) throw Invalid($"the {field} is {v}, outside [{min}, {max}]");
        return v;
    }

    public long Int64(string field, long min, long max)
    {
        long v = BinaryPrimitives.ReadInt64LittleEndian(Take(8, field));
        if (v < min || v > max) throw Invalid($"the {field} is {v}, outside [{min}, {max}]");
        return v;
    }

    /// <summary>A UTF-8 string stored as int32 byte count + bytes, at most <paramref name="maxBytes"/> bytes.</summary>
    public string String(string field, int maxBytes = RecurrentModelFormat.Limits.NameBytes)
    {
        int n = Int32($"{field} length", 0, maxBytes);
        var bytes = Take(n, field);
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw Invalid(_payload, $"the {field} is not valid UTF-8", e);
        }
    }

    /// <summary><paramref name="count"/> strings; each takes at least its 4-byte length, so the array is bounded by the
    /// bytes left before it is allocated.</summary>
    public string[] Strings(int count, string field)
    {
        if (count < 0 || (long)count * 4 > Remaining) throw Invalid($"{count} {field}s need more bytes than the {Remaining} that remain");
        var result = new string[count];
        for (int i = 0; i < count; i++) result[i] = String($"{field} {i + 1}");
        return result;
    }

    /// <summary>A count-prefixed block of finite floats whose count must be <paramref name="expected"/> (what the stored
    /// shape needs).</summary>
    public float[] Floats(string field, long expected)
    {
        int count = Int32($"{field} count", 0, int.MaxValue);
        if (count != expected) throw Invalid($"the {field} count {count} does not match the {expected} the network's shape needs");
        return Floats(count, field);
    }

    /// <summary><paramref name="count"/> finite floats (checked against the bytes left before allocating).</summary>
    public float[] Floats(int count, string field)
    {
        if (count < 0 || (long)count * 4 > Remaining) throw Invalid($"{count} {field} need {(long)count * 4} bytes but {Remaining} remain");
        var raw = Take(count * 4, field);
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            float p = BinaryPrimitives.ReadSingleLittleEndian(raw[(i * 4)..]);
            if (!float.IsFinite(p)) throw Invalid($"{field} value {i} is {p}, not a finite number");
            values[i] = p;
        }

        return values;
    }
}
