using System.Globalization;
using System.Text.Json;

namespace Microsoft.ML.Recurrent.Benchmarks;

/// <summary>
/// <c>compare --ours A.json B.json … --libtorch C.json D.json …</c>: the medians over several throughput runs
/// (<c>throughput --json</c>) and several libtorch runs (benchmarks/LibTorchBaseline <c>--json</c>), taken
/// alternately on the same machine (benchmarks/compare-libtorch.sh), and the ratio of the medians per
/// configuration. Interleaving the runs exposes both sides to the same background load of a shared machine.
/// The throughput runs also carry ONNX Runtime's figures (measured in the same process right after ours: intra-op
/// threads 1 and 2) and, for batch-1 rows, the roofline floor; their medians sit in the same table, so every ratio the
/// issue asks for reads off one row.
/// </summary>
internal static class CompareRunner
{
    private const string Usage = "usage: compare --ours FILE... --libtorch FILE... [--markdown]";

    public static int Run(string[] args)
    {
        var ours = new List<string>();
        var torch = new List<string>();
        List<string>? target = null;
        bool markdown = false;
        foreach (string a in args)
        {
            if (a == "--ours") target = ours;
            else if (a == "--libtorch") target = torch;
            else if (a == "--markdown") markdown = true;
            else if (target is not null && !a.StartsWith("--", StringComparison.Ordinal)) target.Add(a);
            else
            {
                Console.Error.WriteLine($"compare: unexpected argument '{a}'.\n{Usage}");
                return 2;
            }
        }

        if (ours.Count == 0 || torch.Count == 0)
        {
            Console.Error.WriteLine($"compare: needs at least one file after --ours and after --libtorch.\n{Usage}");
            return 2;
        }

        Dictionary<int, List<JsonElement>> o, t;
        try
        {
            o = Load(ours);
            t = Load(torch);
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException or InvalidDataException)
        {
            Console.Error.WriteLine($"compare: {e.Message}");
            return 2;
        }

        Console.WriteLine($"Medians of {ours.Count} run(s) of ours and {torch.Count} of libtorch, interleaved on this machine; ratio = ours / libtorch (latency: libtorch / ours), > 1 is faster; ORT ratio = ours / ORT seq/s.");
        foreach (string line in Table(o, t, markdown)) Console.WriteLine(line);
        return 0;
    }

    /// <summary>The table's lines: a header (and the markdown rule) then one row per configuration of ours, medians of every run.</summary>
    internal static IEnumerable<string> Table(Dictionary<int, List<JsonElement>> o, Dictionary<int, List<JsonElement>> t, bool markdown)
    {
        var inv = CultureInfo.InvariantCulture;
        string sep = markdown ? " | " : "  ";
        string[] head =
        [
            "#", "config", "train seq/s", "libtorch", "ratio", "GFLOP/s", "% peak", "infer seq/s", "libtorch", "ratio", "latency µs", "libtorch µs", "ratio",
            "floor µs", "latency / floor", "ORT1 seq/s", "ours/ORT1", "ORT2 seq/s", "ours/ORT2", "ORT1 µs", "ORT2 µs", "round trip ns",
        ];
        yield return markdown ? "| " + string.Join(" | ", head) + " |" : string.Join(sep, head);
        if (markdown) yield return "|" + string.Concat(Enumerable.Repeat("---|", head.Length));
        foreach (int id in o.Keys.Order())
        {
            var runs = o[id];
            var first = runs[0];
            string config = $"{Str(first, "cell")} {Int(first, "batch")}, {Int(first, "length")}, {Int(first, "input")}, {Int(first, "hidden")}, {Int(first, "layers")}";
            double? tr = Median(runs, "training_seq_per_s"), inf = Median(runs, "inference_seq_per_s"), lat = Median(runs, "latency_us");
            double? gf = Median(runs, "gflops"), peak = Median(runs, "peak_gflops");
            t.TryGetValue(id, out var truns);
            double? ttr = truns is null ? null : Median(truns, "training_seq_per_s");
            double? tinf = truns is null ? null : Median(truns, "inference_seq_per_s");
            double? tlat = truns is null ? null : Median(truns, "latency_us");
            bool single = Int(first, "batch") == 1;
            string F(double? v, string f) => v is double d ? d.ToString(f, inv) : "—";
            string R(double? a, double? b) => a is double x && b is double y && y > 0 ? (x / y).ToString("0.00", inv) + "×" : "—";
            double? floor = Median(runs, "latency_floor_us"), ort1 = Median(runs, "ort1_inference_seq_per_s"), ort2 = Median(runs, "ort2_inference_seq_per_s");
            string[] cells =
            [
                id.ToString(inv), config,
                F(tr, "F0"), single ? "—" : F(ttr, "F0"), single ? "—" : R(tr, ttr),
                F(gf, "F1"), gf is double g && peak is double p && p > 0 ? (100 * g / p).ToString("F1", inv) + "%" : "—",
                F(inf, "F0"), single ? "—" : F(tinf, "F0"), single ? "—" : R(inf, tinf),
                F(lat, "F1"), F(tlat, "F1"), R(tlat, lat),
                F(floor, "F1"), R(lat, floor),
                F(ort1, "F0"), R(inf, ort1), F(ort2, "F0"), R(inf, ort2),
                F(Median(runs, "ort1_latency_us"), "F1"), F(Median(runs, "ort2_latency_us"), "F1"),
                RoundTrips(runs),
            ];
            yield return markdown ? "| " + string.Join(" | ", cells) + " |" : string.Join(sep, cells);
        }
    }

    internal static Dictionary<int, List<JsonElement>> Load(List<string> files)
    {
        var byConfig = new Dictionary<int, List<JsonElement>>();
        foreach (string f in files)
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(f));
            if (doc.RootElement.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"{f}: expected a JSON array of configurations.");
            foreach (var e in doc.RootElement.EnumerateArray())
            {
                if (!e.TryGetProperty("config", out var id) || !id.TryGetInt32(out int n)) throw new InvalidDataException($"{f}: an entry has no integer 'config'.");
                if (!byConfig.TryGetValue(n, out var list)) byConfig[n] = list = [];
                list.Add(e.Clone());
            }
        }

        return byConfig;
    }

    private static double? Median(List<JsonElement> runs, string name)
    {
        var values = runs.Where(e => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number)
            .Select(e => e.GetProperty(name).GetDouble()).ToArray();
        return values.Length == 0 ? null : BenchStats.Median(values);
    }

    /// <summary>
    /// The lowest and highest of every round-trip probe around this row's runs (<c>core_round_trip_ns</c>): whether the
    /// medians mix runs whose threads sat close together with runs where they sat far apart.
    /// </summary>
    private static string RoundTrips(List<JsonElement> runs)
    {
        var all = runs.Where(e => e.TryGetProperty("core_round_trip_ns", out var v) && v.ValueKind == JsonValueKind.Array)
            .SelectMany(e => e.GetProperty("core_round_trip_ns").EnumerateArray())
            .Where(v => v.ValueKind == JsonValueKind.Number).Select(v => v.GetDouble()).ToArray();
        return all.Length == 0 ? "—" : string.Create(CultureInfo.InvariantCulture, $"{all.Min():F0}–{all.Max():F0}");
    }

    private static int Int(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.TryGetInt32(out int n) ? n : 0;

    private static string Str(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "?";
}
