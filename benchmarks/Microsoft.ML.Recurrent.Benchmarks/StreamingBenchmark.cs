using System.Diagnostics;
using System.Globalization;
using Microsoft.ML.Data;

namespace Microsoft.ML.Recurrent.Benchmarks;

/// <summary>
/// Streaming training (issue 13): sequences of 50 steps × 8 features saved with <c>mlContext.Data.SaveAsBinary</c>, then
/// trained through <c>mlContext.Regression.Trainers.Recurrent(...).Fit</c> in a fresh process per mode, which prints its
/// peak working set (VmHWM) and the training throughput of every epoch:
/// <list type="bullet">
/// <item><c>auto</c>: the default (streams when the data exceeds the 256 MB in-memory budget);</item>
/// <item><c>stream</c>: streaming forced whatever the size; <c>memory</c>: the in-memory copy forced (the old behaviour);</item>
/// <item><c>cache</c>: the view behind <c>AppendCacheCheckpoint</c> (<c>mlContext.Data.Cache</c>), default Fit;
/// <c>cache-memory</c>: the same with the in-memory copy forced (the old behaviour: cache + copy).</item>
/// </list>
/// Usage: streaming generate --rows N --file PATH | streaming fit --file PATH --mode M [--rows N] [--epochs E] [--hidden H]
///        | streaming run --file PATH --rows N [--epochs E] [--hidden H] [--modes m1,m2]  (generate if missing, then one process per mode)
/// </summary>
internal static class StreamingBenchmark
{
    private const string UsageText =
        "usage: streaming generate --rows N --file PATH\n" +
        "       streaming fit --file PATH --mode auto|stream|memory|cache|cache-memory [--rows N] [--epochs E] [--hidden H]\n" +
        "       streaming run --file PATH --rows N [--epochs E] [--hidden H] [--modes memory,stream,...]";

    private const int Steps = 50, PerStep = 8;

    private sealed class Row
    {
        [VectorType(Steps * PerStep)]
        public float[] Features { get; set; } = [];

        public float Label { get; set; }
    }

    public static int Run(string[] args)
    {
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        if (args.Length == 0) { Console.Error.WriteLine(UsageText); return 2; }
        string? Arg(string name) { int i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : null; }
        string file = Arg("--file") ?? Path.Combine(Path.GetTempPath(), "recurrent-streaming.bin");
        long rows = long.Parse(Arg("--rows") ?? "0", CultureInfo.InvariantCulture);
        int epochs = int.Parse(Arg("--epochs") ?? "1", CultureInfo.InvariantCulture);
        int hidden = int.Parse(Arg("--hidden") ?? "64", CultureInfo.InvariantCulture);
        switch (args[0])
        {
            case "generate":
                Generate(file, rows);
                return 0;
            case "fit":
                return Fit(file, Arg("--mode") ?? "auto", rows, epochs, hidden);
            case "run":
                if (!File.Exists(file) || Count(file) < rows) Generate(file, rows);
                Console.WriteLine($"CPU: {CpuModel()}, {Environment.ProcessorCount} cores (shared machine: measured under load)");
                Console.WriteLine("| mode         |       rows | epochs | median seq/s |    Fit (s) | peak WS (MiB) | live heap (MiB) |");
                Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
                foreach (string mode in (Arg("--modes") ?? "memory,stream,auto").Split(','))
                {
                    var child = Process.Start(new ProcessStartInfo(Environment.ProcessPath!,
                        ["streaming", "fit", "--file", file, "--mode", mode, "--rows", $"{rows}", "--epochs", $"{epochs}", "--hidden", $"{hidden}"])
                    { RedirectStandardOutput = false })!;
                    child.WaitForExit();
                    if (child.ExitCode != 0) return child.ExitCode;
                }

                return 0;
            default:
                Console.Error.WriteLine(UsageText);
                return 2;
        }
    }

    private static long Count(string file)
    {
        var ml = new MLContext(seed: 0);
        return ml.Data.LoadFromBinary(file).GetRowCount() ?? 0;
    }

    /// <summary>Row i: 50 × 8 uniform values from Random(i); the label is the mean of feature 0 over the last 10 steps.</summary>
    private static IEnumerable<Row> Rows(long count)
    {
        for (long i = 0; i < count; i++)
        {
            var rng = new Random(unchecked((int)i * 7919 + 13));
            var x = new float[Steps * PerStep];
            for (int j = 0; j < x.Length; j++) x[j] = (float)(rng.NextDouble() * 2 - 1);
            float y = 0;
            for (int t = Steps - 10; t < Steps; t++) y += x[t * PerStep];
            yield return new Row { Features = x, Label = y / 10 };
        }
    }

    private static void Generate(string file, long rows)
    {
        var clock = Stopwatch.StartNew();
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(Rows(rows));
        using (var stream = File.Create(file)) ml.Data.SaveAsBinary(data, stream);
        Console.WriteLine($"generated {rows:N0} sequences of {Steps} × {PerStep} into {file}: {new FileInfo(file).Length / 1e6:F0} MB in {clock.Elapsed.TotalSeconds:F0} s");
    }

    private static int Fit(string file, string mode, long rows, int epochs, int hidden)
    {
        var ml = new MLContext(seed: 0);
        IDataView data = ml.Data.LoadFromBinary(file);
        if (rows > 0 && (data.GetRowCount() ?? 0) > rows) data = ml.Data.TakeRows(data, rows);
        long n = rows > 0 ? rows : data.GetRowCount() ?? 0;
        bool cache = mode.StartsWith("cache", StringComparison.Ordinal);
        if (cache) data = ml.Data.Cache(data);
        var reports = new List<RecurrentEpochReport>();
        long live = 0;
        var options = new RecurrentRegressionTrainer.Options
        {
            FeaturesPerStep = PerStep, HiddenSize = hidden, MaximumNumberOfEpochs = epochs, Seed = 0,
            // After each epoch (inside Fit, the training data still held): the live managed heap after a full collection.
            Progress = new Progress(r =>
            {
                reports.Add(r);
                live = Math.Max(live, GC.GetTotalMemory(forceFullCollection: true));
                Console.WriteLine($"  [{mode}] {r}");
            }),
            InMemoryBudgetBytesOverride = mode switch
            {
                "stream" => 0,
                "memory" or "cache-memory" => long.MaxValue,
                "auto" or "cache" => null,
                _ => throw new ArgumentException($"unknown mode '{mode}'"),
            },
        };
        var clock = Stopwatch.StartNew();
        var model = ml.Regression.Trainers.Recurrent(options).Fit(data);
        double fit = clock.Elapsed.TotalSeconds;
        var rates = reports.Select(r => r.SequencesPerSecond).OrderBy(v => v).ToArray();
        double median = rates.Length == 0 ? 0 : rates[rates.Length / 2];
        GC.KeepAlive(model);
        using var self = Process.GetCurrentProcess();
        self.Refresh();
        Console.WriteLine(string.Format(CultureInfo.InvariantCulture,
            "| {0,-12} | {1,10:N0} | {2,6} | {3,12:F0} | {4,10:F1} | {5,14:F0} | {6,14:F0} |",
            mode, n, epochs, median, fit, self.PeakWorkingSet64 / 1048576.0, live / 1048576.0));
        return 0;
    }

    private sealed class Progress(Action<RecurrentEpochReport> report) : IProgress<RecurrentEpochReport>
    {
        public void Report(RecurrentEpochReport value) => report(value);
    }

    private static string CpuModel()
    {
        try
        {
            return File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown";
        }
        catch (IOException)
        {
            return "unknown";
        }
    }
}
