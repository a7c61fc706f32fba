using System.Buffers.Binary;
using System.Text;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Model;

namespace Microsoft.ML.Recurrent.Forecasting;

/// <summary>
/// Writes and reads <see cref="ForecastModel"/> in its own versioned binary format (it travels inside ML.NET model zips
/// as base64 text, on the same text-carrier route as the trainers' models).
/// </summary>
/// <remarks>
/// *** Binary format *** (version 1; every number little-endian; "str" = int32 byte count n, then n bytes of UTF-8)
/// <code>
///   size   field
///   8      magic: ASCII "MLRNNFCS"
///   4      int32   format version (1)
///   1      byte    cell kind: 0 simple RNN, 1 LSTM, 2 GRU
///   1      byte    stationarization: 0 differencing, 1 seasonal differencing
///   1      byte    log transform: 0 or 1
///   1      byte    series id column kind: 0 text (or no id column), 1 key with text key values
///   4      int32   features per step F (= 1 + C + K, plus 1 for the future flag when K &gt; 0)
///   4      int32   hidden size H
///   4      int32   number of layers L
///   4      float32 dropout (training only; kept so the spec round-trips)
///   4      int32   horizon (the head's width)
///   4      int32   window size W
///   4      int32   seasonal period m (0 = none; ≥ 2 with seasonal differencing)
///   4      float32 confidence level of the bound columns, in (0, 1)
///   str    input (series value) column name
///   str    output (forecast) column name
///   str    lower bound column name ("" = no bound columns)
///   str    upper bound column name
///   str    series id column name ("" = one series)
///   4      int32   covariate count C, then C × str covariate column names
///   4      int32   known covariate count K, then K × str known covariate column names
///   4      int32   ensemble size E (≥ 1)
///   4      int32   parameter count P per network (must equal the count the network shape gives)
///   4·E·P  float32 parameters of each network in ParameterLayout order (all finite)
///   per horizon step j (horizon times): int32 count n_j, then n_j float32 calibration residuals (sorted, finite, ≥ 0)
///   4      int32   series count S (≥ 1)
///   per series: str id; float32 difference mean; float32 difference scale (&gt; 0); C + K float32 covariate means;
///               C + K float32 covariate scales (&gt; 0); int32 tail rows r (0 … W + lag); r·(1 + C + K) float32 raw rows
///   4      uint32  CRC-32 (IEEE) of every byte before it
/// </code>
/// The reader checks the checksum first, then every field against the bytes that remain and against
/// <see cref="Limits"/> before allocating, so truncated, corrupted or hostile bytes raise <see cref="InvalidDataException"/>.
/// </remarks>
internal static class ForecastModelFormat
{
    public const int Version = 1;

    private static ReadOnlySpan<byte> Magic => "MLRNNFCS"u8;

    internal static class Limits
    {
        public const int HiddenSize = 1 << 16;
        public const int NumberOfLayers = 256;
        public const int Horizon = 1 << 16;
        public const int WindowSize = 1 << 20;
        public const int SeasonalPeriod = 1 << 20;
        public const int Covariates = 1 << 16;
        public const int EnsembleSize = 1024;
        public const int NameBytes = 1 << 16;
    }

    public static byte[] Write(ForecastModel m)
    {
        var spec = m.Spec;
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Magic);
            w.Write(Version);
            w.Write((byte)spec.Cell);
            w.Write((byte)m.Stationarization);
            w.Write(m.UseLog ? (byte)1 : (byte)0);
            w.Write(m.SeriesIdIsKey ? (byte)1 : (byte)0);
            w.Write(spec.InputSize);
            w.Write(spec.HiddenSize);
            w.Write(spec.NumberOfLayers);
            w.Write(spec.Dropout);
            w.Write(m.Horizon);
            w.Write(m.WindowSize);
            w.Write(m.SeasonalPeriod);
            w.Write(m.ConfidenceLevel);
            WriteString(w, m.InputColumnName);
            WriteString(w, m.OutputColumnName);
            WriteString(w, m.LowerBoundColumnName);
            WriteString(w, m.UpperBoundColumnName);
            WriteString(w, m.SeriesIdColumnName);
            w.Write(m.CovariateColumnNames.Length);
            foreach (var c in m.CovariateColumnNames) WriteString(w, c);
            w.Write(m.KnownCovariateColumnNames.Length);
            foreach (var c in m.KnownCovariateColumnNames) WriteString(w, c);
            w.Write(m.Networks.Length);
            w.Write(m.Networks[0].Length);
            foreach (var p in m.Networks) WriteFloats(w, p);
            foreach (var r in m.Residuals)
            {
                w.Write(r.Length);
                WriteFloats(w, r);
            }

            w.Write(m.Series.Count);
            foreach (var s in m.Series)
            {
                WriteString(w, s.Id);
                w.Write(s.Mean);
                w.Write(s.Scale);
                WriteFloats(w, s.CovariateMean);
                WriteFloats(w, s.CovariateScale);
                w.Write(s.Tail.Length / m.RowWidth);
                WriteFloats(w, s.Tail);
            }
        }

        uint crc = Crc32.Compute(ms.GetBuffer().AsSpan(0, (int)ms.Length));
        Span<byte> tail = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(tail, crc);
        ms.Write(tail);
        return ms.ToArray();
    }

    private static void WriteFloats(BinaryWriter w, float[] values)
    {
        Span<byte> four = stackalloc byte[4];
        foreach (float v in values)
        {
            BinaryPrimitives.WriteSingleLittleEndian(four, v);
            w.Write(four);
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

    public static ForecastModel Read(ReadOnlySpan<byte> data)
    {
        var r = PayloadReader.Open(data, Magic, Version, Version, 16, PayloadName, out _);
        byte cell = r.Byte("cell kind");
        byte mode = r.Byte("stationarization");
        byte log = r.Byte("log flag");
        byte idKind = r.Byte("series id kind");
        if (cell > (byte)CellKind.Gru) throw Invalid($"cell kind {cell} is unknown");
        if (mode > (byte)StationarizationKind.SeasonalDifferencing) throw Invalid($"stationarization {mode} is unknown");
        if (log > 1) throw Invalid($"log flag {log} is not 0 or 1");
        if (idKind > 1) throw Invalid($"series id kind {idKind} is not 0 (text) or 1 (key)");
        int f = r.Int32("features per step", 1, 2 * Limits.Covariates + 2);
        int hidden = r.Int32("hidden size", 1, Limits.HiddenSize);
        int layers = r.Int32("number of layers", 1, Limits.NumberOfLayers);
        float dropout = r.FiniteSingle("dropout");
        if (!(dropout >= 0f && dropout < 1f)) throw Invalid($"dropout {dropout} is outside [0, 1)");
        int horizon = r.Int32("horizon", 1, Limits.Horizon);
        int window = r.Int32("window size", 1, Limits.WindowSize);
        int period = r.Int32("seasonal period", 0, Limits.SeasonalPeriod);
        if (period == 1) throw Invalid("seasonal period 1 is not a period (0 = none, else ≥ 2)");
        if (mode == (byte)StationarizationKind.SeasonalDifferencing && period < 2) throw Invalid("seasonal differencing needs a seasonal period ≥ 2");
        float level = r.FiniteSingle("confidence level");
        if (!(level > 0f && level < 1f)) throw Invalid($"confidence level {level} is outside (0, 1)");
        string input = r.String("input column name");
        string output = r.String("output column name");
        string lower = r.String("lower bound column name");
        string upper = r.String("upper bound column name");
        string seriesId = r.String("series id column name");
        if ((lower.Length == 0) != (upper.Length == 0)) throw Invalid("only one of the two bound column names is set");
        if (idKind == 1 && seriesId.Length == 0) throw Invalid("a key series id without a series id column");
        int c0 = r.Int32("covariate count", 0, Limits.Covariates);
        if ((long)c0 * 4 > r.Remaining) throw Invalid($"covariate count {c0} needs more bytes than the {r.Remaining} that remain");
        var covariates = new string[c0];
        for (int i = 0; i < c0; i++) covariates[i] = r.String($"covariate name {i}");
        int k = r.Int32("known covariate count", 0, Limits.Covariates);
        if ((long)k * 4 > r.Remaining) throw Invalid($"known covariate count {k} needs more bytes than the {r.Remaining} that remain");
        var known = new string[k];
        for (int i = 0; i < k; i++) known[i] = r.String($"known covariate name {i}");
        if (f != ForecastModel.FeatureWidthFor(c0, k)) throw Invalid($"features per step {f} does not match {c0} covariates and {k} known covariates");
        int c = c0 + k;

        var spec = new NetworkSpec((CellKind)cell, f, hidden, layers, false, dropout, 0, 0, horizon, OutputMode.LastHidden);
        long expected = RecurrentModelFormat.CountParameters(spec);
        int ensemble = r.Int32("ensemble size", 1, Limits.EnsembleSize);
        int count = r.Int32("parameter count", 0, int.MaxValue);
        if (count != expected) throw Invalid($"parameter count {count} does not match the {expected} its network shape needs");
        if ((long)count * 4 * ensemble > r.Remaining) throw Invalid($"{ensemble} networks of {count} parameters need more bytes than the {r.Remaining} that remain");
        var networks = new float[ensemble][];
        for (int e = 0; e < ensemble; e++) networks[e] = r.Floats(count, $"parameters of network {e}");

        var residuals = new float[horizon][];
        for (int j = 0; j < horizon; j++)
        {
            int n = r.Int32($"residual count of step {j + 1}", 0, r.Remaining / 4);
            residuals[j] = r.Floats(n, $"residuals of step {j + 1}");
            for (int i = 0; i < n; i++)
            {
                if (residuals[j][i] < 0 || (i > 0 && residuals[j][i] < residuals[j][i - 1]))
                    throw Invalid($"the residuals of step {j + 1} are not sorted non-negative values");
            }
        }

        int lag = mode == (byte)StationarizationKind.SeasonalDifferencing ? period : 1;
        int maxTail = window + lag;
        int seriesCount = r.Int32("series count", 1, r.Remaining / 16);
        var series = new List<SeriesState>(seriesCount);
        for (int i = 0; i < seriesCount; i++)
        {
            string id = r.String($"id of series {i}");
            float mean = r.FiniteSingle($"mean of series {i}");
            float scale = r.FiniteSingle($"scale of series {i}");
            if (!(scale > 0)) throw Invalid($"scale of series {i} is {scale}, not > 0");
            var cm = r.Floats(c, $"covariate means of series {i}");
            var cs = r.Floats(c, $"covariate scales of series {i}");
            foreach (float v in cs) if (!(v > 0)) throw Invalid($"a covariate scale of series {i} is {v}, not > 0");
            int rows = r.Int32($"tail rows of series {i}", 0, maxTail);
            var tail = r.Floats(rows * (1 + c), $"tail of series {i}");
            series.Add(new SeriesState { Id = id, Mean = mean, Scale = scale, CovariateMean = cm, CovariateScale = cs, Tail = tail });
        }

        if (r.Remaining != 0) throw Invalid($"{r.Remaining} bytes remain after the last field");
        if (series.Select(s => s.Id).Distinct(StringComparer.Ordinal).Count() != series.Count) throw Invalid("two series share an id");

        return new ForecastModel
        {
            Spec = spec,
            Networks = networks,
            WindowSize = window,
            Horizon = horizon,
            SeasonalPeriod = period,
            Stationarization = (StationarizationKind)mode,
            UseLog = log == 1,
            ConfidenceLevel = level,
            InputColumnName = input,
            OutputColumnName = output,
            LowerBoundColumnName = lower,
            UpperBoundColumnName = upper,
            SeriesIdColumnName = seriesId,
            SeriesIdIsKey = idKind == 1,
            CovariateColumnNames = covariates,
            KnownCovariateColumnNames = known,
            Residuals = residuals,
            Series = series,
        };
    }

    private const string PayloadName = "recurrent forecasting model";

    private static InvalidDataException Invalid(string why) => PayloadReader.Invalid(PayloadName, why);
}
