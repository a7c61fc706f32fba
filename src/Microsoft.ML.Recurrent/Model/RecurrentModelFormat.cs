using System.Buffers.Binary;
using System.Text;
using Microsoft.ML.Recurrent.Engine;

namespace Microsoft.ML.Recurrent.Model;

/// <summary>
/// Writes and reads <see cref="RecurrentModel"/> in one versioned binary format. The same bytes travel inside
/// ML.NET model zips (as base64 text, see <c>Serving/ModelPayload</c>) and can be stored on their own.
/// </summary>
/// <remarks>
/// *** Binary format *** (version 2, written since issue 13; version 3 = version 2 plus the serving precision, written
/// only for a model that carries a reduced serving precision (issue 8), so a float32 model's bytes are unchanged and older
/// readers still read them; versions 1 to 3 are read. Every number little-endian; "str" = int32 byte count n, then n bytes of UTF-8)
/// <code>
///   offset  size   field
///   0       8      magic: ASCII "MLRNNMDL"
///   8       4      int32   format version (2; 1 = the same layout without the version-2 block; 3 = with the version-3 block)
///   12      1      byte    prediction kind: 0 regression, 1 binary classification, 2 multiclass classification
///   13      1      byte    cell kind: 0 simple RNN, 1 LSTM, 2 GRU
///   14      1      byte    output mode: 0 last hidden state (the only mode these tasks use)
///   15      1      byte    bidirectional: 0 or 1
///   16      4      int32   input size F (features per step; 1 with a vocabulary)
///   20      4      int32   hidden size H
///   24      4      int32   number of layers L
///   28      4      float32 dropout (training only; kept so the spec round-trips)
///   32      4      int32   vocabulary size V (0 = dense Single features, else token ids 0..V-1)
///   36      4      int32   embedding size E (0 without a vocabulary)
///   40      4      int32   output size O (1 for regression and binary, K for multiclass)
///   44      str    feature column name the model was trained on
///   ...     4      int32   class count C (K for multiclass, 0 otherwise)
///   ...     C×str  class names: the label's key values as invariant text, class k ↔ key k + 1
///   --- version 2 block (absent in version 1) ---
///   ...     1      byte    label value kind (LabelValueKind: 0 text, 1 Single, 2 Double, 3 Int32, 4 UInt32, 5 Int64,
///                          6 UInt64, 7 Boolean); 0 unless multiclass; for 1..7 the class names must parse as
///                          distinct values of that type (invariant culture; floats not NaN)
///   ...     4      int32   best epoch (0..N; 0 = unknown)
///   ...     4      int32   history length N (0..Limits.HistoryLength; N·61 must fit in the bytes that remain)
///   ...     str    loss name of the history ("" when N = 0)
///   ...     N×61   one record per epoch:
///                    int32 epoch (1..), int32 maximum number of epochs (≥ epoch), float64 training loss,
///                    byte flags (bit 0: validation loss present, bit 1: validation accuracy present, others 0),
///                    float64 validation loss (0 when absent), float64 validation accuracy (0 when absent),
///                    float64 sequences per second, float32 learning rate,
///                    int32 ensemble member M (1..K), int32 ensemble size K (M..Limits.NumberOfModels),
///                    int64 estimated time remaining in ticks (≥ 0)
///   --- end of the version 2 block ---
///   --- version 3 block (absent in versions 1 and 2, which read as Float32) ---
///   ...     1      byte    serving precision (RecurrentServingPrecision: 0 Float32, 1 BFloat16, 2 Int8); the number format
///                          the input and recurrent weights are held in while the model scores; the parameters below
///                          are float32 whatever it is
///   --- end of the version 3 block ---
///   ...     4      int32   parameter count P (must equal the count the spec's ParameterLayout gives)
///   ...     4·P    float32 parameters in ParameterLayout order (all finite)
///   ...     4      uint32  CRC-32 (IEEE) of every byte before it
/// </code>
/// The reader checks the checksum first, then every field against the bytes that remain and against
/// <see cref="Limits"/> before allocating anything, so a truncated, corrupted or hostile payload raises
/// <see cref="InvalidDataException"/> instead of crashing, hanging or allocating without bound.
/// </remarks>
internal static class RecurrentModelFormat
{
    /// <summary>The version written for a float32-serving model (and the one before <see cref="LatestVersion"/>).</summary>
    public const int Version = 2;

    /// <summary>The newest version: <see cref="Version"/> plus the serving precision, written for reduced-precision models.</summary>
    public const int LatestVersion = 3;

    /// <summary>Bytes of one history record in the version-2 block.</summary>
    internal const int HistoryRecordBytes = 4 + 4 + 8 + 1 + 8 + 8 + 8 + 4 + 4 + 4 + 8;

    private static ReadOnlySpan<byte> Magic => "MLRNNMDL"u8;

    /// <summary>Sane upper bounds, checked before any allocation.</summary>
    internal static class Limits
    {
        public const int InputSize = 1 << 20;
        public const int HiddenSize = 1 << 16;
        public const int NumberOfLayers = 256;
        /// <summary>Token ids travel as Single values inside ML.NET, exact up to 2^24.</summary>
        public const int VocabularySize = 1 << 24;
        public const int EmbeddingSize = 1 << 16;
        public const int OutputSize = 1 << 20;
        public const int NameBytes = 1 << 16;
        /// <summary>Epochs kept in the training history.</summary>
        public const int HistoryLength = 1 << 20;
        /// <summary>Members of an ensemble named in a history record (the trainers allow 64).</summary>
        public const int NumberOfModels = 1 << 10;
    }

    /// <summary>Serialises <paramref name="model"/>.</summary>
    public static byte[] Write(RecurrentModel model) =>
        Write(model, model?.ServingPrecision is null or RecurrentServingPrecision.Float32 ? Version : LatestVersion);

    /// <summary>Serialises <paramref name="model"/> in format <paramref name="version"/> (1, 2 or 3; 1 drops the label value
    /// kind and the history, and exists so that the reader's version-1 path stays tested; 1 and 2 drop the serving precision).</summary>
    internal static byte[] Write(RecurrentModel model, int version)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (version is not (1 or 2 or 3))
            throw new ArgumentOutOfRangeException(nameof(version), version, "The model format has versions 1, 2 and 3.");
        if (!Enum.IsDefined(model.ServingPrecision))
            throw new ArgumentException($"The model's serving precision {(int)model.ServingPrecision} is unknown.", nameof(model));
        var spec = model.Spec;
        spec.Validate();
        int expected = new ParameterLayout(spec).Count;
        if (model.Parameters.Length != expected)
            throw new ArgumentException($"The model has {model.Parameters.Length} parameters; its spec needs {expected}.", nameof(model));

        using var ms = new MemoryStream(64 + 4 * model.Parameters.Length);
        using (var w = new BinaryWriter(ms, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Magic);
            w.Write(version);
            w.Write((byte)model.Kind);
            w.Write((byte)spec.Cell);
            w.Write((byte)spec.Output);
            w.Write(spec.Bidirectional ? (byte)1 : (byte)0);
            w.Write(spec.InputSize);
            w.Write(spec.HiddenSize);
            w.Write(spec.NumberOfLayers);
            w.Write(spec.Dropout);
            w.Write(spec.VocabularySize);
            w.Write(spec.EmbeddingSize);
            w.Write(spec.OutputSize);
            WriteString(w, model.FeatureColumnName);
            w.Write(model.ClassNames.Count);
            foreach (string name in model.ClassNames)
                WriteString(w, name);
            if (version >= 2)
                WriteVersion2Block(w, model);
            if (version >= 3)
                w.Write((byte)model.ServingPrecision);
            w.Write(model.Parameters.Length);
            Span<byte> four = stackalloc byte[4];
            foreach (float p in model.Parameters)
            {
                BinaryPrimitives.WriteSingleLittleEndian(four, p);
                w.Write(four);
            }
        }

        uint crc = Crc32.Compute(ms.GetBuffer().AsSpan(0, (int)ms.Length));
        Span<byte> tail = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(tail, crc);
        ms.Write(tail);
        return ms.ToArray();
    }

    private static void WriteVersion2Block(BinaryWriter w, RecurrentModel model)
    {
        var history = model.History;
        if (history.Count > Limits.HistoryLength)
            throw new ArgumentException($"A history of {history.Count} epochs is longer than the format's limit of {Limits.HistoryLength}.", nameof(model));
        w.Write((byte)(model.Kind == PredictionKind.MulticlassClassification ? model.LabelValueKind : LabelValueKind.Text));
        w.Write(Math.Clamp(model.BestEpoch, 0, history.Count));
        w.Write(history.Count);
        WriteString(w, history.Count > 0 ? history[0].LossName : "");
        foreach (var r in history)
        {
            w.Write(r.Epoch);
            w.Write(r.MaximumNumberOfEpochs);
            w.Write(r.TrainingLoss);
            w.Write((byte)((r.ValidationLoss is null ? 0 : 1) | (r.ValidationAccuracy is null ? 0 : 2)));
            w.Write(r.ValidationLoss ?? 0.0);
            w.Write(r.ValidationAccuracy ?? 0.0);
            w.Write(r.SequencesPerSecond);
            w.Write(r.LearningRate);
            w.Write(r.Model);
            w.Write(r.NumberOfModels);
            w.Write(Math.Max(0L, r.EstimatedTimeRemaining.Ticks));
        }
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(s);
        if (bytes.Length > Limits.NameBytes)
            throw new ArgumentException($"A name of {bytes.Length} UTF-8 bytes is longer than the format's limit of {Limits.NameBytes}.");
        w.Write(bytes.Length);
        w.Write(bytes);
    }

    /// <summary>Reads a model; throws <see cref="InvalidDataException"/> on anything that is not a valid model.</summary>
    public static RecurrentModel Read(ReadOnlySpan<byte> data)
    {
        const int minimum = 8 + 4 + 4 + 7 * 4 + 4 + 4 + 4 + 4; // fixed header, empty name, C, P, CRC
        var r = PayloadReader.Open(data, Magic, 1, LatestVersion, minimum, PayloadName, out int version);
        byte kind = r.Byte("prediction kind");
        byte cell = r.Byte("cell kind");
        byte output = r.Byte("output mode");
        byte bidirectional = r.Byte("bidirectional flag");
        if (kind > (byte)PredictionKind.MulticlassClassification) throw Invalid($"prediction kind {kind} is unknown");
        if (cell > (byte)CellKind.Gru) throw Invalid($"cell kind {cell} is unknown");
        if (output != (byte)OutputMode.LastHidden) throw Invalid($"output mode {output} is not supported (expected 0, last hidden state)");
        if (bidirectional > 1) throw Invalid($"bidirectional flag {bidirectional} is not 0 or 1");

        int inputSize = r.Int32("input size", 1, Limits.InputSize);
        int hidden = r.Int32("hidden size", 1, Limits.HiddenSize);
        int layers = r.Int32("number of layers", 1, Limits.NumberOfLayers);
        float dropout = r.Single("dropout");
        if (!(dropout >= 0f && dropout < 1f)) throw Invalid($"dropout {dropout} is outside [0, 1)");
        int vocabulary = r.Int32("vocabulary size", 0, Limits.VocabularySize);
        int embedding = r.Int32("embedding size", 0, Limits.EmbeddingSize);
        int outputSize = r.Int32("output size", 1, Limits.OutputSize);
        if (vocabulary > 0 && (embedding < 1 || inputSize != 1))
            throw Invalid($"a vocabulary of {vocabulary} needs an embedding size ≥ 1 and input size 1 (found {embedding} and {inputSize})");
        if (vocabulary == 0 && embedding != 0)
            throw Invalid($"embedding size {embedding} without a vocabulary");

        var predictionKind = (PredictionKind)kind;
        if (predictionKind != PredictionKind.MulticlassClassification && outputSize != 1)
            throw Invalid($"a {predictionKind} model must have 1 output, found {outputSize}");

        string featureColumn = r.String("feature column name");
        int classCount = r.Int32("class count", 0, Limits.OutputSize);
        int expectedClasses = predictionKind == PredictionKind.MulticlassClassification ? outputSize : 0;
        if (classCount != expectedClasses)
            throw Invalid($"class count {classCount} does not match the {expectedClasses} a {predictionKind} model with {outputSize} outputs needs");
        // Each name takes at least its 4-byte length: bound the array by the bytes left before allocating it.
        if ((long)classCount * 4 > r.Remaining)
            throw Invalid($"class count {classCount} needs more bytes than the {r.Remaining} that remain");
        var classNames = new string[classCount];
        for (int i = 0; i < classCount; i++)
            classNames[i] = r.String($"class name {i}");

        var labelValueKind = LabelValueKind.Text;
        int bestEpoch = 0;
        RecurrentEpochReport[] history = [];
        if (version >= 2)
        {
            byte valueKind = r.Byte("label value kind");
            if (valueKind > (byte)LabelValueKind.Boolean) throw Invalid($"label value kind {valueKind} is unknown");
            labelValueKind = (LabelValueKind)valueKind;
            if (labelValueKind != LabelValueKind.Text && predictionKind != PredictionKind.MulticlassClassification)
                throw Invalid($"a {predictionKind} model has label value kind {labelValueKind}; only multiclass models carry one");
            if (labelValueKind != LabelValueKind.Text && !LabelValues.TryParseAll(classNames, labelValueKind, out _))
                throw Invalid($"the class names are not distinct values of the label value kind {labelValueKind}");
            bestEpoch = r.Int32("best epoch", 0, Limits.HistoryLength);
            int length = r.Int32("history length", 0, Limits.HistoryLength);
            if ((long)length * HistoryRecordBytes > r.Remaining)
                throw Invalid($"a history of {length} epochs needs {(long)length * HistoryRecordBytes} bytes but only {r.Remaining} remain");
            if (bestEpoch > length) throw Invalid($"the best epoch {bestEpoch} is past the {length} epochs of the history");
            string lossName = r.String("loss name");
            history = new RecurrentEpochReport[length];
            for (int i = 0; i < length; i++)
            {
                int epoch = r.Int32($"epoch of history record {i}", 1, int.MaxValue);
                int maximum = r.Int32($"maximum number of epochs of history record {i}", epoch, int.MaxValue);
                double trainingLoss = r.Double($"training loss of history record {i}");
                byte flags = r.Byte($"flags of history record {i}");
                if (flags > 3) throw Invalid($"the flags of history record {i} are {flags}; only bits 0 and 1 are defined");
                double validationLoss = r.Double($"validation loss of history record {i}");
                double validationAccuracy = r.Double($"validation accuracy of history record {i}");
                double sequencesPerSecond = r.Double($"sequences per second of history record {i}");
                float learningRate = r.Single($"learning rate of history record {i}");
                int member = r.Int32($"ensemble member of history record {i}", 1, Limits.NumberOfModels);
                int models = r.Int32($"ensemble size of history record {i}", member, Limits.NumberOfModels);
                long eta = r.Int64($"estimated time remaining of history record {i}", 0, TimeSpan.MaxValue.Ticks);
                history[i] = new RecurrentEpochReport(epoch, maximum, lossName, trainingLoss,
                    (flags & 1) != 0 ? validationLoss : null, (flags & 2) != 0 ? validationAccuracy : null, sequencesPerSecond, learningRate)
                {
                    Model = member,
                    NumberOfModels = models,
                    EstimatedTimeRemaining = TimeSpan.FromTicks(eta),
                };
            }
        }

        var servingPrecision = RecurrentServingPrecision.Float32;
        if (version >= 3)
        {
            byte precision = r.Byte("serving precision");
            if (precision > (byte)RecurrentServingPrecision.Int8)
                throw Invalid($"serving precision {precision} is unknown (0 Float32, 1 BFloat16, 2 Int8)");
            servingPrecision = (RecurrentServingPrecision)precision;
        }

        var spec = new NetworkSpec((CellKind)cell, inputSize, hidden, layers, bidirectional == 1, dropout,
            vocabulary, embedding, outputSize, OutputMode.LastHidden);
        long expectedCount = CountParameters(spec);
        int count = r.Int32("parameter count", 0, int.MaxValue);
        if (count != expectedCount)
            throw Invalid($"parameter count {count} does not match the {expectedCount} its network shape needs");
        if ((long)count * 4 != r.Remaining)
            throw Invalid($"{count} parameters need {(long)count * 4} bytes but {r.Remaining} remain");

        var parameters = new float[count];
        var raw = r.Take(count * 4, "parameters");
        for (int i = 0; i < count; i++)
        {
            float p = BinaryPrimitives.ReadSingleLittleEndian(raw[(i * 4)..]);
            if (!float.IsFinite(p)) throw Invalid($"parameter {i} is {p}, not a finite number");
            parameters[i] = p;
        }

        return new RecurrentModel(spec, predictionKind, featureColumn, classNames, parameters, labelValueKind, history, bestEpoch)
        {
            ServingPrecision = servingPrecision,
        };
    }

    /// <summary>The parameter count of <paramref name="spec"/>, computed in 64 bits (no allocation, no overflow).</summary>
    internal static long CountParameters(NetworkSpec spec)
    {
        long gh = (long)spec.Gates * spec.HiddenSize;
        long total = spec.VocabularySize > 0 ? (long)spec.VocabularySize * spec.EmbeddingSize : 0;
        for (int l = 0; l < spec.NumberOfLayers; l++)
            total += spec.Directions * (gh * spec.LayerInputSize(l) + gh * spec.HiddenSize + 2 * gh);
        total += (long)spec.OutputSize * spec.OutputWidth + spec.OutputSize;
        return total;
    }

    private const string PayloadName = "recurrent model";

    private static InvalidDataException Invalid(string why) => PayloadReader.Invalid(PayloadName, why);
}
