using System.Buffers.Binary;
using System.Text;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Seq2Seq;
using Microsoft.ML.Recurrent.Model;

namespace Microsoft.ML.Recurrent.Seq2Seq;

/// <summary>A trained encoder–decoder with what serving needs.</summary>
internal sealed record Seq2SeqModel(
    Seq2SeqSpec Spec, string FeatureColumnName, string[] TargetValues, int BeamWidth, int MaximumOutputLength,
    float[] Encoder, float[] Decoder, float[] Head)
{
    public bool UsesTokens => Spec.SourceVocabulary > 0;
}

/// <summary>A trained next-token model with its sampling settings.</summary>
internal sealed record GeneratorModel(
    NetworkSpec Spec, string FeatureColumnName, string[] TokenValues, float Temperature, int TopK, int MaximumOutputLength, int Seed,
    float[] Parameters)
{
    /// <summary>Keys 1..K; decoder id K + 1 starts a sequence; class 0 ends one.</summary>
    public int Keys => TokenValues.Length;
}

/// <summary>A generator conditioned on a vector: an encoder–decoder (the vector is a one-step source) and its sampling settings.</summary>
internal sealed record ConditionedGeneratorModel(Seq2SeqModel Network, string ConditionColumnName, float Temperature, int TopK, int MaximumOutputLength, int Seed)
{
    public int Keys => Network.TargetValues.Length;
    public int ConditionSize => Network.Spec.InputSize;
}

/// <summary>
/// Writes and reads the models of this folder. Both start with their own magic; the reader checks the checksum, then
/// every size against the bytes that remain and <see cref="RecurrentModelFormat.Limits"/> before allocating, so a truncated,
/// corrupted or hostile payload raises <see cref="InvalidDataException"/>.
/// </summary>
/// <remarks>
/// *** Binary format *** (version 1; little-endian; "str" = int32 byte count n then n bytes of UTF-8; "floats" = int32
/// count P then P float32 values, all finite)
/// <code>
/// Encoder–decoder ("MLRS2SEQ"):
///   8      magic ASCII "MLRS2SEQ"
///   4      int32   format version (1)
///   1      byte    cell kind: 0 simple RNN, 1 LSTM, 2 GRU
///   1      byte    attention: 0 none, 1 additive, 2 dot
///   1      byte    bidirectional encoder: 0 or 1
///   1      byte    reserved (0)
///   4      int32   input size F (1 with a source vocabulary)
///   4      int32   source vocabulary V (0 = Single features; ids 0..V-1, 0 = unknown)
///   4      int32   source embedding size (0 without a vocabulary)
///   4      int32   hidden size H
///   4      int32   number of layers L
///   4      float32 dropout (training only)
///   4      int32   target key count K
///   4      int32   target embedding size
///   4      int32   beam width (1 = greedy)
///   4      int32   maximum output length
///   str            feature column name
///   K×str          target key values, key k ↔ value k − 1
///   floats         encoder parameters (ParameterLayout of the encoder spec)
///   floats         decoder parameters (ParameterLayout of the decoder spec)
///   floats         attention and output parameters (Seq2SeqHeadLayout)
///   4      uint32  CRC-32 (IEEE) of every byte before it
///
/// Generator ("MLRSQGEN"):
///   8      magic ASCII "MLRSQGEN"
///   4      int32   format version (1)
///   1      byte    cell kind
///   3      bytes   reserved (0)
///   4      int32   hidden size H
///   4      int32   number of layers L
///   4      float32 dropout (training only)
///   4      int32   token key count K (network: vocabulary K + 2, outputs K + 1)
///   4      int32   embedding size
///   4      float32 temperature (&gt; 0)
///   4      int32   top-k (0 = all)
///   4      int32   maximum output length
///   4      int32   seed
///   str            token column name
///   K×str          token key values
///   floats         network parameters (ParameterLayout of the next-token spec)
///   4      uint32  CRC-32
///
/// Conditioned generator ("MLRSQGCN"):
///   8      magic ASCII "MLRSQGCN"
///   4      int32   format version (1)
///   4      float32 temperature (&gt; 0)
///   4      int32   top-k (0 = all)
///   4      int32   maximum output length
///   4      int32   seed
///   str            condition column name
///   4      int32   byte count n of the network
///   n              the network: a complete encoder–decoder payload ("MLRS2SEQ", its own CRC; attention none, the
///                  condition vector being a one-step Single source, the target keys the tokens)
///   4      uint32  CRC-32
/// </code>
/// </remarks>
internal static partial class Seq2SeqModelFormat
{
    public const int Version = 1;
    private static ReadOnlySpan<byte> Seq2SeqMagic => "MLRS2SEQ"u8;
    private static ReadOnlySpan<byte> GeneratorMagic => "MLRSQGEN"u8;
    private static ReadOnlySpan<byte> ConditionedMagic => "MLRSQGCN"u8;
    private const int MaximumOutputLengthLimit = 1 << 20;
    private const int BeamWidthLimit = 1 << 10;

    public static byte[] Write(Seq2SeqModel m)
    {
        var s = m.Spec;
        s.Validate();
        return WithChecksum(w =>
        {
            w.Write(Seq2SeqMagic);
            w.Write(Version);
            w.Write((byte)s.Cell);
            w.Write((byte)s.Attention);
            w.Write(s.Bidirectional ? (byte)1 : (byte)0);
            w.Write((byte)0);
            w.Write(s.Encoder.InputSize);
            w.Write(s.SourceVocabulary);
            w.Write(s.SourceVocabulary > 0 ? s.SourceEmbedding : 0);
            w.Write(s.HiddenSize);
            w.Write(s.NumberOfLayers);
            w.Write(s.Dropout);
            w.Write(s.TargetKeys);
            w.Write(s.TargetEmbedding);
            w.Write(m.BeamWidth);
            w.Write(m.MaximumOutputLength);
            WriteString(w, m.FeatureColumnName);
            if (m.TargetValues.Length != s.TargetKeys) throw new ArgumentException("One target value per key is needed.", nameof(m));
            foreach (var v in m.TargetValues) WriteString(w, v);
            WriteFloats(w, m.Encoder);
            WriteFloats(w, m.Decoder);
            WriteFloats(w, m.Head);
        });
    }

    public static Seq2SeqModel ReadSeq2Seq(ReadOnlySpan<byte> data)
    {
        var r = Open(data, Seq2SeqMagic, "encoder–decoder");
        byte cell = r.Byte("cell kind"), attention = r.Byte("attention kind"), bidirectional = r.Byte("bidirectional flag");
        r.Byte("reserved byte");
        if (cell > (byte)CellKind.Gru) throw Invalid($"cell kind {cell} is unknown");
        if (attention > (byte)AttentionKind.Dot) throw Invalid($"attention kind {attention} is unknown");
        if (bidirectional > 1) throw Invalid($"bidirectional flag {bidirectional} is not 0 or 1");
        int input = r.Int32("input size", 1, RecurrentModelFormat.Limits.InputSize);
        int vocabulary = r.Int32("source vocabulary size", 0, RecurrentModelFormat.Limits.VocabularySize);
        int embedding = r.Int32("source embedding size", 0, RecurrentModelFormat.Limits.EmbeddingSize);
        int hidden = r.Int32("hidden size", 1, RecurrentModelFormat.Limits.HiddenSize);
        int layers = r.Int32("number of layers", 1, RecurrentModelFormat.Limits.NumberOfLayers);
        float dropout = r.Single("dropout");
        if (!(dropout >= 0f && dropout < 1f)) throw Invalid($"dropout {dropout} is outside [0, 1)");
        int keys = r.Int32("target key count", 1, RecurrentModelFormat.Limits.OutputSize - 2);
        int targetEmbedding = r.Int32("target embedding size", 1, RecurrentModelFormat.Limits.EmbeddingSize);
        int beam = r.Int32("beam width", 1, BeamWidthLimit);
        int maxLen = r.Int32("maximum output length", 1, MaximumOutputLengthLimit);
        if (vocabulary > 0 && (embedding < 1 || input != 1))
            throw Invalid($"a source vocabulary of {vocabulary} needs an embedding size ≥ 1 and input size 1 (found {embedding} and {input})");
        if (vocabulary == 0 && embedding != 0) throw Invalid($"source embedding size {embedding} without a vocabulary");
        string column = r.String("feature column name");
        var values = r.Strings(keys, "target key value");
        var spec = new Seq2SeqSpec((CellKind)cell, input, vocabulary, embedding, hidden, layers, bidirectional == 1, dropout, keys, targetEmbedding, (AttentionKind)attention);
        var enc = r.Floats("encoder parameters", RecurrentModelFormat.CountParameters(spec.Encoder));
        var dec = r.Floats("decoder parameters", RecurrentModelFormat.CountParameters(spec.Decoder));
        var head = r.Floats("attention and output parameters", HeadCount(spec));
        if (r.Remaining != 0) throw Invalid($"{r.Remaining} bytes follow the last field");
        return new Seq2SeqModel(spec, column, values, beam, maxLen, enc, dec, head);
    }

    public static byte[] Write(GeneratorModel m)
    {
        var s = m.Spec;
        s.Validate();
        return WithChecksum(w =>
        {
            w.Write(GeneratorMagic);
            w.Write(Version);
            w.Write((byte)s.Cell);
            w.Write((byte)0); w.Write((byte)0); w.Write((byte)0);
            w.Write(s.HiddenSize);
            w.Write(s.NumberOfLayers);
            w.Write(s.Dropout);
            w.Write(m.Keys);
            w.Write(s.EmbeddingSize);
            w.Write(m.Temperature);
            w.Write(m.TopK);
            w.Write(m.MaximumOutputLength);
            w.Write(m.Seed);
            WriteString(w, m.FeatureColumnName);
            foreach (var v in m.TokenValues) WriteString(w, v);
            WriteFloats(w, m.Parameters);
        });
    }

    public static GeneratorModel ReadGenerator(ReadOnlySpan<byte> data)
    {
        var r = Open(data, GeneratorMagic, "generator");
        byte cell = r.Byte("cell kind");
        r.Byte("reserved byte"); r.Byte("reserved byte"); r.Byte("reserved byte");
        if (cell > (byte)CellKind.Gru) throw Invalid($"cell kind {cell} is unknown");
        int hidden = r.Int32("hidden size", 1, RecurrentModelFormat.Limits.HiddenSize);
        int layers = r.Int32("number of layers", 1, RecurrentModelFormat.Limits.NumberOfLayers);
        float dropout = r.Single("dropout");
        if (!(dropout >= 0f && dropout < 1f)) throw Invalid($"dropout {dropout} is outside [0, 1)");
        int keys = r.Int32("token key count", 1, RecurrentModelFormat.Limits.OutputSize - 2);
        int embedding = r.Int32("embedding size", 1, RecurrentModelFormat.Limits.EmbeddingSize);
        float temperature = r.Single("temperature");
        if (!(temperature > 0f) || !float.IsFinite(temperature)) throw Invalid($"temperature {temperature} is not a finite number > 0");
        int topK = r.Int32("top-k", 0, keys + 1);
        int maxLen = r.Int32("maximum output length", 1, MaximumOutputLengthLimit);
        int seed = r.Int32("seed", int.MinValue, int.MaxValue);
        string column = r.String("token column name");
        var values = r.Strings(keys, "token key value");
        var spec = NextTokenSpec((CellKind)cell, hidden, layers, dropout, keys, embedding);
        var parameters = r.Floats("network parameters", RecurrentModelFormat.CountParameters(spec));
        if (r.Remaining != 0) throw Invalid($"{r.Remaining} bytes follow the last field");
        return new GeneratorModel(spec, column, values, temperature, topK, maxLen, seed, parameters);
    }

    public static byte[] Write(ConditionedGeneratorModel m)
    {
        var network = Write(m.Network);
        return WithChecksum(w =>
        {
            w.Write(ConditionedMagic);
            w.Write(Version);
            w.Write(m.Temperature);
            w.Write(m.TopK);
            w.Write(m.MaximumOutputLength);
            w.Write(m.Seed);
            WriteString(w, m.ConditionColumnName);
            w.Write(network.Length);
            w.Write(network);
        });
    }

    public static ConditionedGeneratorModel ReadConditioned(ReadOnlySpan<byte> data)
    {
        var r = Open(data, ConditionedMagic, "conditioned generator");
        float temperature = r.Single("temperature");
        if (!(temperature > 0f) || !float.IsFinite(temperature)) throw Invalid($"temperature {temperature} is not a finite number > 0");
        int topK = r.Int32("top-k", 0, RecurrentModelFormat.Limits.OutputSize);
        int maxLen = r.Int32("maximum output length", 1, MaximumOutputLengthLimit);
        int seed = r.Int32("seed", int.MinValue, int.MaxValue);
        string column = r.String("condition column name");
        int n = r.Int32("network byte count", 0, r.Remaining - 4);
        var network = ReadSeq2Seq(r.Take(n, "network"));
        if (network.Spec.Attention != AttentionKind.None || network.Spec.SourceVocabulary != 0)
            throw Invalid("the network of a conditioned generator must read a Single condition without attention");
        if (r.Remaining != 0) throw Invalid($"{r.Remaining} bytes follow the last field");
        return new ConditionedGeneratorModel(network, column, temperature, topK, maxLen, seed);
    }

    /// <summary>The next-token network of a generator over K keys.</summary>
    public static NetworkSpec NextTokenSpec(CellKind cell, int hidden, int layers, float dropout, int keys, int embedding) =>
        new(cell, 1, hidden, layers, false, dropout, keys + 2, embedding, keys + 1, OutputMode.EveryStep);

    private static long HeadCount(Seq2SeqSpec s)
    {
        long H = s.HiddenSize, D = s.SourceWidth, A = s.AttentionSize, C = s.Classes;
        long n = s.Attention switch { AttentionKind.Dot => H * D, AttentionKind.Additive => A * H + A * D + 2 * A, _ => 0 };
        return n + C * (H + s.ContextWidth) + C;
    }

    private static byte[] WithChecksum(Action<BinaryWriter> body)
    {
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, Encoding.UTF8, leaveOpen: true)) body(w);
        uint crc = Crc32.Compute(ms.GetBuffer().AsSpan(0, (int)ms.Length));
        Span<byte> tail = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(tail, crc);
        ms.Write(tail);
        return ms.ToArray();
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(s);
        if (bytes.Length > RecurrentModelFormat.Limits.NameBytes)
            throw new ArgumentException($"A name of {bytes.Length} UTF-8 bytes is longer than the format's limit of {RecurrentModelFormat.Limits.NameBytes}.");
        w.Write(bytes.Length);
        w.Write(bytes);
    }

    private static void WriteFloats(BinaryWriter w, float[] values)
    {
        w.Write(values.Length);
        Span<byte> four = stackalloc byte[4];
        foreach (float p in values)
        {
            BinaryPrimitives.WriteSingleLittleEndian(four, p);
            w.Write(four);
        }
    }

    private static PayloadReader Open(ReadOnlySpan<byte> data, ReadOnlySpan<byte> magic, string what) =>
        PayloadReader.Open(data, magic, Version, Version, 8 + 4 + 4, $"{PayloadName} ({what})", out _);

    private const string PayloadName = "recurrent sequence-to-sequence model";

    private static InvalidDataException Invalid(string why) => PayloadReader.Invalid(PayloadName, why);
}
