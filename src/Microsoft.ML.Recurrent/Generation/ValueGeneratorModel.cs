using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Seq2Seq;
using Microsoft.ML.Recurrent.Model;

namespace Microsoft.ML.Recurrent.Seq2Seq;

/// <summary>
/// A trained next-value generator: the network (<see cref="NextValueObjective.Spec"/>), the per-feature standardisation
/// (value = mean + scale · standardised), the per-feature residual standard deviation of the training predictions in
/// standardised units (the noise of sampling at temperature 1) and the sampling settings.
/// </summary>
internal sealed record ValueGeneratorModel(
    NetworkSpec Spec, string FeatureColumnName, float[] Mean, float[] Scale, float[] Residual, float Temperature, int MaximumOutputLength, int Seed,
    float[] Parameters)
{
    /// <summary>Values per step F.</summary>
    public int FeaturesPerStep => Spec.InputSize - 1;
}

/// <remarks>
/// *** Binary format *** of the next-value generator (its own magic and version 1; little-endian; "str" and "floats" as
/// in the encoder–decoder block above)
/// <code>
/// Value generator ("MLRSQGVL"):
///   8      magic ASCII "MLRSQGVL"
///   4      int32   format version (1)
///   1      byte    cell kind: 0 simple RNN, 1 LSTM, 2 GRU
///   3      bytes   reserved (0)
///   4      int32   values per step F (network: F + 1 inputs, F + 1 outputs)
///   4      int32   hidden size H
///   4      int32   number of layers L
///   4      float32 dropout (training only)
///   4      float32 temperature (&gt; 0)
///   4      int32   maximum output length (steps)
///   4      int32   seed
///   str            feature column name
///   floats         F per-feature means (finite)
///   floats         F per-feature scales (finite, &gt; 0)
///   floats         F per-feature residual standard deviations, standardised units (finite, ≥ 0)
///   floats         network parameters (ParameterLayout of the next-value spec)
///   4      uint32  CRC-32 (IEEE) of every byte before it
/// </code>
/// </remarks>
internal static partial class Seq2SeqModelFormat
{
    private static ReadOnlySpan<byte> ValueGeneratorMagic => "MLRSQGVL"u8;

    public static byte[] Write(ValueGeneratorModel m)
    {
        var s = m.Spec;
        s.Validate();
        return WithChecksum(w =>
        {
            w.Write(ValueGeneratorMagic);
            w.Write(Version);
            w.Write((byte)s.Cell);
            w.Write((byte)0); w.Write((byte)0); w.Write((byte)0);
            w.Write(m.FeaturesPerStep);
            w.Write(s.HiddenSize);
            w.Write(s.NumberOfLayers);
            w.Write(s.Dropout);
            w.Write(m.Temperature);
            w.Write(m.MaximumOutputLength);
            w.Write(m.Seed);
            WriteString(w, m.FeatureColumnName);
            WriteFloats(w, m.Mean);
            WriteFloats(w, m.Scale);
            WriteFloats(w, m.Residual);
            WriteFloats(w, m.Parameters);
        });
    }

    public static ValueGeneratorModel ReadValueGenerator(ReadOnlySpan<byte> data)
    {
        var r = Open(data, ValueGeneratorMagic, "value generator");
        byte cell = r.Byte("cell kind");
        r.Byte("reserved byte"); r.Byte("reserved byte"); r.Byte("reserved byte");
        if (cell > (byte)CellKind.Gru) throw Invalid($"cell kind {cell} is unknown");
        int features = r.Int32("values per step", 1, RecurrentModelFormat.Limits.InputSize - 1);
        int hidden = r.Int32("hidden size", 1, RecurrentModelFormat.Limits.HiddenSize);
        int layers = r.Int32("number of layers", 1, RecurrentModelFormat.Limits.NumberOfLayers);
        float dropout = r.Single("dropout");
        if (!(dropout >= 0f && dropout < 1f)) throw Invalid($"dropout {dropout} is outside [0, 1)");
        float temperature = r.Single("temperature");
        if (!(temperature > 0f) || !float.IsFinite(temperature)) throw Invalid($"temperature {temperature} is not a finite number > 0");
        int maxLen = r.Int32("maximum output length", 1, MaximumOutputLengthLimit);
        int seed = r.Int32("seed", int.MinValue, int.MaxValue);
        string column = r.String("feature column name");
        var mean = r.Floats("means", features);
        var scale = r.Floats("scales", features);
        var residual = r.Floats("residual deviations", features);
        for (int f = 0; f < features; f++)
        {
            if (!(scale[f] > 0f)) throw Invalid($"scale {f} is {scale[f]}, not > 0");
            if (residual[f] < 0f) throw Invalid($"residual deviation {f} is {residual[f]}, negative");
        }

        var spec = NextValueObjective.Spec((CellKind)cell, features, hidden, layers, dropout);
        var parameters = r.Floats("network parameters", RecurrentModelFormat.CountParameters(spec));
        if (r.Remaining != 0) throw Invalid($"{r.Remaining} bytes follow the last field");
        return new ValueGeneratorModel(spec, column, mean, scale, residual, temperature, maxLen, seed, parameters);
    }
}
