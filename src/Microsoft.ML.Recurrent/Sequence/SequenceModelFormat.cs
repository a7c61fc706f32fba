using System.Buffers.Binary;
using System.Text;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Heads;
using Microsoft.ML.Recurrent.Model;

namespace Microsoft.ML.Recurrent.Sequence;

/// <summary>
/// Writes and reads <see cref="SequenceModel"/> (taggers and featurizers) in their own versioned binary format. The bytes
/// travel inside ML.NET zips as base64 text, like the trainers' <see cref="RecurrentModelFormat"/> (which is unchanged).
/// </summary>
/// <remarks>
/// *** Binary format *** (version 1; every number little-endian; "str" = int32 byte count n, then n bytes of UTF-8)
/// <code>
///   offset  size   field
///   0       8      magic: ASCII "MLRNNSEQ"
///   8       4      int32   format version (1)
///   12      1      byte    task: 0 tag classes, 1 tag values, 2 featurize
///   13      1      byte    cell kind: 0 simple RNN, 1 LSTM, 2 GRU
///   14      1      byte    output mode: 1 every step (taggers), 0 with output size 0 (featurizer: no head)
///   15      1      byte    bidirectional: 0 or 1
///   16      1      byte    pooling: 0 last, 1 mean, 2 max, 3 attention (featurizer; 0 otherwise)
///   17      1      byte    CRF: 0 or 1 (tag classes only)
///   18      2      reserved, 0
///   20      4      int32   input size F (features per step; 1 with a vocabulary)
///   24      4      int32   hidden size H
///   28      4      int32   number of layers L
///   32      4      float32 dropout (training only; kept so the spec round-trips)
///   36      4      int32   vocabulary size V (0 = dense Single features, else token ids 0..V-1, row 0 = unknown token)
///   40      4      int32   embedding size E (0 without a vocabulary)
///   44      4      int32   output size O (K classes, 1 value, or 0 for the featurizer)
///   48      str    feature column name the model was trained on
///   ...     4      int32   class count C (K for tag classes, 0 otherwise)
///   ...     C×str  class names: the label's key values as text, class k ↔ key k + 1
///   ...     4      int32   network parameter count P (must equal the count the spec's ParameterLayout gives)
///   ...     4·P    float32 network parameters in ParameterLayout order (all finite)
///   ...     4      int32   extra parameter count X (CRF: K² + 2K; attention: D = H·directions; else 0)
///   ...     4·X    float32 extra parameters (CRF transitions (K, K), start (K), end (K); or the attention query (D))
///   ...     4      uint32  CRC-32 (IEEE) of every byte before it
/// </code>
/// The reader checks the checksum first, then every field against the bytes that remain and against the limits of
/// <see cref="RecurrentModelFormat.Limits"/> before allocating, so a truncated, corrupted or hostile payload raises
/// <see cref="InvalidDataException"/>.
/// </remarks>
internal static class SequenceModelFormat
{
    public const int Version = 1;

    private static ReadOnlySpan<byte> Magic => "MLRNNSEQ"u8;

    public static byte[] Write(SequenceModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var spec = model.Spec;
        spec.Validate();
        int expected = new ParameterLayout(spec).Count;
        if (model.Parameters.Length != expected)
            throw new ArgumentException($"The model has {model.Parameters.Length} parameters; its spec needs {expected}.", nameof(model));
        int extra = SequenceModel.ExtraCount(model.Task, spec, model.Pooling, model.UseCrf);
        if (model.ExtraParameters.Length != extra)
            throw new ArgumentException($"The model has {model.ExtraParameters.Length} extra parameters; its shape needs {extra}.", nameof(model));

        using var ms = new MemoryStream(96 + 4 * (model.Parameters.Length + extra));
        using (var w = new BinaryWriter(ms, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Magic);
            w.Write(Version);
            w.Write((byte)model.Task);
            w.Write((byte)spec.Cell);
            w.Write((byte)spec.Output);
            w.Write(spec.Bidirectional ? (byte)1 : (byte)0);
            w.Write((byte)model.Pooling);
            w.Write(model.UseCrf ? (byte)1 : (byte)0);
            w.Write((short)0);
            w.Write(spec.InputSize);
            w.Write(spec.HiddenSize);
            w.Write(spec.NumberOfLayers);
            w.Write(spec.Dropout);
            w.Write(spec.VocabularySize);
            w.Write(spec.EmbeddingSize);
            w.Write(spec.OutputSize);
            WriteString(w, model.FeatureColumnName);
            w.Write(model.ClassNames.Count);
            foreach (string name in model.ClassNames) WriteString(w, name);
            WriteFloats(w, model.Parameters);
            WriteFloats(w, model.ExtraParameters);
        }

        uint crc = Crc32.Compute(ms.GetBuffer().AsSpan(0, (int)ms.Length));
        Span<byte> tail = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(tail, crc);
        ms.Write(tail);
        return ms.ToArray();
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

    private static void WriteString(BinaryWriter w, string s)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(s);
        if (bytes.Length > RecurrentModelFormat.Limits.NameBytes)
            throw new ArgumentException($"A name of {bytes.Length} UTF-8 bytes is longer than the format's limit of {RecurrentModelFormat.Limits.NameBytes}.");
        w.Write(bytes.Length);
        w.Write(bytes);
    }

    public static SequenceModel Read(ReadOnlySpan<byte> data)
    {
        const int minimum = 8 + 4 + 8 + 7 * 4 + 4 + 4 + 4 + 4 + 4; // header, empty name, C, P, X, CRC
        var r = PayloadReader.Open(data, Magic, Version, Version, minimum, PayloadName, out _);
        byte task = r.Byte("task"), cell = r.Byte("cell kind"), output = r.Byte("output mode"), bidirectional = r.Byte("bidirectional flag");
        byte pooling = r.Byte("pooling"), crf = r.Byte("CRF flag");
        r.Take(2, "reserved bytes");
        if (task > (byte)SequenceTask.Featurize) throw Invalid($"task {task} is unknown");
        if (cell > (byte)CellKind.Gru) throw Invalid($"cell kind {cell} is unknown");
        if (output > (byte)OutputMode.EveryStep) throw Invalid($"output mode {output} is unknown");
        if (bidirectional > 1) throw Invalid($"bidirectional flag {bidirectional} is not 0 or 1");
        if (pooling > (byte)PoolingKind.Attention) throw Invalid($"pooling {pooling} is unknown");
        if (crf > 1) throw Invalid($"CRF flag {crf} is not 0 or 1");
        var kind = (SequenceTask)task;

        var limits = (Input: RecurrentModelFormat.Limits.InputSize, Hidden: RecurrentModelFormat.Limits.HiddenSize);
        int inputSize = r.Int32("input size", 1, limits.Input);
        int hidden = r.Int32("hidden size", 1, limits.Hidden);
        int layers = r.Int32("number of layers", 1, RecurrentModelFormat.Limits.NumberOfLayers);
        float dropout = r.Single("dropout");
        if (!(dropout >= 0f && dropout < 1f)) throw Invalid($"dropout {dropout} is outside [0, 1)");
        int vocabulary = r.Int32("vocabulary size", 0, RecurrentModelFormat.Limits.VocabularySize);
        int embedding = r.Int32("embedding size", 0, RecurrentModelFormat.Limits.EmbeddingSize);
        int outputSize = r.Int32("output size", 0, RecurrentModelFormat.Limits.OutputSize);
        if (vocabulary > 0 && (embedding < 1 || inputSize != 1))
            throw Invalid($"a vocabulary of {vocabulary} needs an embedding size ≥ 1 and input size 1 (found {embedding} and {inputSize})");
        if (vocabulary == 0 && embedding != 0) throw Invalid($"embedding size {embedding} without a vocabulary");
        switch (kind)
        {
            case SequenceTask.TagClasses when outputSize < 2 || output != (byte)OutputMode.EveryStep:
                throw Invalid($"a class tagger needs an every-step head of ≥ 2 outputs (found output mode {output}, {outputSize} outputs)");
            case SequenceTask.TagValues when outputSize != 1 || output != (byte)OutputMode.EveryStep || crf != 0:
                throw Invalid($"a value tagger needs an every-step head of 1 output and no CRF (found output mode {output}, {outputSize} outputs, CRF {crf})");
            case SequenceTask.Featurize when outputSize != 0 || crf != 0:
                throw Invalid($"a featurizer has no head and no CRF (found {outputSize} outputs, CRF {crf})");
        }

        if (kind != SequenceTask.Featurize && pooling != 0) throw Invalid($"a tagger has no pooling (found {pooling})");
        string featureColumn = r.String("feature column name");
        int classCount = r.Int32("class count", 0, RecurrentModelFormat.Limits.OutputSize);
        int expectedClasses = kind == SequenceTask.TagClasses ? outputSize : 0;
        if (classCount != expectedClasses)
            throw Invalid($"class count {classCount} does not match the {expectedClasses} this model needs");
        if ((long)classCount * 4 > r.Remaining)
            throw Invalid($"class count {classCount} needs more bytes than the {r.Remaining} that remain");
        var classNames = new string[classCount];
        for (int i = 0; i < classCount; i++) classNames[i] = r.String($"class name {i}");

        var spec = new NetworkSpec((CellKind)cell, inputSize, hidden, layers, bidirectional == 1, dropout, vocabulary, embedding,
            outputSize, (OutputMode)output);
        long expectedCount = RecurrentModelFormat.CountParameters(spec);
        int count = r.Int32("parameter count", 0, int.MaxValue);
        if (count != expectedCount) throw Invalid($"parameter count {count} does not match the {expectedCount} its network shape needs");
        var parameters = r.Floats(count, "parameters");
        int expectedExtra = SequenceModel.ExtraCount(kind, spec, (PoolingKind)pooling, crf == 1);
        int extraCount = r.Int32("extra parameter count", 0, int.MaxValue);
        if (extraCount != expectedExtra) throw Invalid($"extra parameter count {extraCount} does not match the {expectedExtra} this model needs");
        var extra = r.Floats(extraCount, "extra parameters");
        if (r.Remaining != 0) throw Invalid($"{r.Remaining} bytes follow the last field");
        return new SequenceModel(kind, spec, (PoolingKind)pooling, crf == 1, featureColumn, classNames, parameters, extra);
    }

    private const string PayloadName = "recurrent sequence model";

    private static InvalidDataException Invalid(string why) => PayloadReader.Invalid(PayloadName, why);
}
