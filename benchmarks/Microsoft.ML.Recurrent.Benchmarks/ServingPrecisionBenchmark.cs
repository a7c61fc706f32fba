using System.Diagnostics;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Quantized;
using Microsoft.ML.Recurrent.Engine.Training;

namespace Microsoft.ML.Recurrent.Benchmarks;

/// <summary>
/// <c>precision</c>: batch-1 latency of the serving path (one sequence per call, as ML.NET's row-by-row mapping runs it) in
/// float32 (the engine's <see cref="SequencePredictor"/>, all cores as served and one thread), bfloat16 (one thread, as
/// served) and int8 (the reduced <see cref="QuantizedPredictor"/>: one thread as served, the unit split over all cores,
/// and one thread with the portable kernel forced), on the throughput runner's
/// config 5 (LSTM, T 50, I 32, H 128, 1 layer) and a few other shapes. Variants run interleaved, round after round; the
/// figure is the median over rounds of the mean time per call, with the ratio to float32 (all cores) measured in the same run.
/// </summary>
internal static class ServingPrecisionBenchmark
{
    private sealed record Shape(string Name, CellKind Cell, int Hidden, int Layers, int Input = 32, int Steps = 50);

    private static readonly Shape[] Shapes =
    [
        new("config 5: LSTM H128", CellKind.Lstm, 128, 1),
        new("GRU H128", CellKind.Gru, 128, 1),
        new("LSTM H64", CellKind.Lstm, 64, 1),
        new("LSTM H256", CellKind.Lstm, 256, 1),
        new("LSTM H128 2 layers", CellKind.Lstm, 128, 2),
    ];

    /// <summary>One step's pieces at hidden size H (LSTM: 4H × H recurrent weights), ns per call: where a step's time goes.</summary>
    private static int Kernels(int hidden, int rounds)
    {
        int rows = 4 * hidden, cols = hidden;
        var rng = new Random(2);
        var w = new float[rows * cols];
        for (int i = 0; i < w.Length; i++) w[i] = (float)(rng.NextDouble() * 2 - 1);
        var x = new float[cols];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        var y = new float[rows];
        var add = new float[rows];
        var i8 = new Int8Matrix(w, rows, cols);
        var i8in = new Int8Matrix(w.AsSpan(0, rows * 32), rows, 32);
        var x32 = x.AsSpan(0, 32).ToArray();
        var bf = new BFloat16Matrix(w, rows, cols);
        var scratch = new QuantizedScratch();
        var q = new sbyte[i8.Quads * 4];
        Int8Kernels.QuantizeVector(x, q);
        var acc = new int[i8.RowBlocks * 8];
        var gates = new float[rows];
        var c0 = new float[hidden];
        var c1 = new float[hidden];
        var tc = new float[hidden];
        var h = new float[hidden];
        var spec = new NetworkSpec(CellKind.Lstm, 32, hidden, 1, OutputSize: 1);
        var pp = new float[new ParameterLayout(spec).Count];
        for (int i = 0; i < pp.Length; i++) pp[i] = (float)(rng.NextDouble() * 0.1 - 0.05);
        var net = new QuantizedPredictor(spec, pp, RecurrentServingPrecision.Int8);
        var seq1 = new float[32];
        var seq50 = new float[32 * 50];
        for (int i = 0; i < seq50.Length; i++) seq50[i] = (float)(rng.NextDouble() * 2 - 1);
        seq50.AsSpan(0, 32).CopyTo(seq1);
        var pieces = new (string Name, Action Call)[]
        {
            ("int8 LSTM network, 1 step (no W_hh product)", () => net.Predict(seq1, y)),
            ("int8 LSTM network, 50 steps, per step", () => net.Predict(seq50, y)),
            ("int8 Multiply (quantize + VNNI + epilogue)", () => i8.Multiply(x, y, add, scratch)),
            ("int8 Multiply, W_ih of I 32", () => i8in.Multiply(x32, y, add, scratch)),
            ("int8 QuantizeVector", () => Int8Kernels.QuantizeVector(x, q)),
            ("int8 VNNI product", () => Int8Kernels.MultiplyVnni(i8, q, acc)),
            ("int8 AVX2 product", () => Int8Kernels.MultiplyAvx2(i8, q, acc)),
            ("int8 portable product", () => Int8Kernels.MultiplyPortable(i8, q, acc)),
            ("int8 epilogue", () => Int8Kernels.Dequantize(acc.AsSpan(0, rows), i8.Scales.AsSpan(0, rows), 0.01f, add, y)),
            ("bf16 Multiply", () => bf.Multiply(x, y, add, scratch)),
            ("LstmForward (1 row)", () => Engine.Cells.LstmCell.Forward(gates, c0, c1, tc, h, 1, hidden)),
            ("int8 LSTM network, 50 steps, per step (again)", () => net.Predict(seq50, y)),   // pieces repeated alone overlap; a step chain cannot
        };
        Console.WriteLine($"One step's pieces, H {hidden} ({rows} × {cols} weights), ns per call, median of {rounds} rounds:");
        foreach (var (name, call) in pieces)
        {
            if (name.Contains("VNNI") && !System.Runtime.Intrinsics.X86.AvxVnni.IsSupported) continue;
            if (name.Contains("AVX2") && !System.Runtime.Intrinsics.X86.Avx2.IsSupported) continue;
            for (int i = 0; i < 2000; i++) call();
            var t = new List<double>();
            for (int r = 0; r < rounds; r++)
            {
                const int n = 2000;
                long t0 = Stopwatch.GetTimestamp();
                for (int i = 0; i < n; i++) call();
                t.Add(Stopwatch.GetElapsedTime(t0).TotalSeconds * 1e9 / n);
            }

            Console.WriteLine($"  {name,-44} {BenchStats.Median(t) / (name.Contains("per step") ? 50 : 1),9:F0}");
        }

        return 0;
    }

    public static int Run(string[] args)
    {
        int rounds = 7;
        double minSeconds = 0.05;
        string? only = null;
        int kernels = 0;
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--rounds": rounds = int.Parse(args[i + 1]); break;
                case "--min-time": minSeconds = double.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture); break;
                case "--only": only = args[i + 1]; break;
                case "--kernels": kernels = int.Parse(args[i + 1]); break;
                default: Console.Error.WriteLine($"unknown option {args[i]}"); return 2;
            }
        }

        if (kernels > 0) return Kernels(kernels, rounds);
        Console.WriteLine($"Serving precision, batch-1 latency (µs per sequence, median of {rounds} interleaved rounds); {Environment.ProcessorCount} cores; " +
                          $"AVX-VNNI: {System.Runtime.Intrinsics.X86.AvxVnni.IsSupported}");
        Console.WriteLine("shape                  | f32 all cores | f32 1 thread |   bf16 | int8 all cores (threads, parts) | int8 1 thread | int8 portable | bf16/f32 | int8 1 thread/f32 | int8/f32 (1 thr)");
        foreach (var s in Shapes)
        {
            if (only is not null && !s.Name.Contains(only, StringComparison.OrdinalIgnoreCase)) continue;
            var spec = new NetworkSpec(s.Cell, s.Input, s.Hidden, s.Layers, OutputSize: 1);
            var layout = new ParameterLayout(spec);
            var rng = new Random(1);
            var p = new float[layout.Count];
            float k = 1f / MathF.Sqrt(s.Hidden);
            for (int i = 0; i < p.Length; i++) p[i] = (float)((rng.NextDouble() * 2 - 1) * k);
            var x = new float[s.Steps * s.Input];
            for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
            var y = new float[1];

            var f32 = new SequencePredictor(spec, p);
            var f32One = new SequencePredictor(spec, p, threads: 1);
            var bf16 = new QuantizedPredictor(spec, p, RecurrentServingPrecision.BFloat16);                      // one thread, as served
            var int8 = new QuantizedPredictor(spec, p, RecurrentServingPrecision.Int8, threads: 0);              // the unit split, all cores
            var int8One = new QuantizedPredictor(spec, p, RecurrentServingPrecision.Int8, threads: 1);           // as served
            var variants = new (string Name, Action Call)[]
            {
                ("f32", () => f32.Predict(x, y)),
                ("f32-1", () => f32One.Predict(x, y)),
                ("bf16", () => bf16.Predict(x, y)),
                ("int8", () => int8.Predict(x, y)),
                ("int8-1", () => int8One.Predict(x, y)),
                ("int8-portable", () =>
                {
                    Int8Kernels.PortableOnly = true;
                    try { int8One.Predict(x, y); }
                    finally { Int8Kernels.PortableOnly = false; }
                }),
            };

            var iterations = new int[variants.Length];
            for (int v = 0; v < variants.Length; v++)
            {
                // Warm up (tiering, buffers), past the split chooser's first window: its probes at the start of a window
                // decide split or alone for the rest of it, and probes run on cold code chose one thread (f32 config 5
                // ran 239 µs "all cores" against 238 on one thread); the measured calls then use a choice made warm.
                int warm = Engine.Layers.SplitChooser.MaxWindow + 2 * Engine.Layers.SplitChooser.ProbesPerWay;
                for (int w = 0; w < warm; w++) variants[v].Call();
                var sw = Stopwatch.StartNew();
                int n = 0;
                while (sw.Elapsed.TotalSeconds < minSeconds) { variants[v].Call(); n++; }
                iterations[v] = Math.Max(n, 20);
            }

            var times = variants.Select(_ => new List<double>()).ToArray();
            for (int r = 0; r < rounds; r++)
            {
                for (int v = 0; v < variants.Length; v++)
                {
                    long t0 = Stopwatch.GetTimestamp();
                    for (int it = 0; it < iterations[v]; it++) variants[v].Call();
                    times[v].Add(Stopwatch.GetElapsedTime(t0).TotalSeconds * 1e6 / iterations[v]);
                }
            }

            var us = times.Select(BenchStats.Median).ToArray();
            Console.WriteLine($"{s.Name,-22} | {us[0],13:F1} | {us[1],12:F1} | {us[2],6:F1} | {us[3],9:F1} ({int8.LastLoopParts}, {int8.Network.Parts}) | {us[4],11:F1} | {us[5],13:F1} | " +
                              $"{us[2] / us[0],8:F2} | {us[4] / us[0],17:F2} | {us[4] / us[1],16:F2}");
        }

        return 0;
    }
}
