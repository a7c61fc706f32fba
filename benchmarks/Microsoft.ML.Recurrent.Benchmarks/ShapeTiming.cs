using System.Globalization;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Kernels;
using Microsoft.ML.Recurrent.Engine.Layers;

namespace Microsoft.ML.Recurrent.Benchmarks;

/// <summary>
/// Inference forward passes and training steps (zero grads, forward, MSE, backward, Adam; 2 threads) of one network
/// shape given on the command line, on random data with a fixed seed: medians of CPU ms and wall ms per call. For shapes
/// the throughput runner's five configurations do not cover (hidden sizes that are not multiples of 32, small batches, or
/// mixed lengths with <c>--min-length</c>, for instance); compare builds by running it on each, interleaved.
/// </summary>
public static class ShapeTiming
{
    public const string Usage = "shape [--cell Lstm|Gru|SimpleRnn] [--hidden 100] [--batch 64] [--length 50] [--input 32] [--layers 1] [--threads 2] [--min-length L] [--samples 11] [--forward-only|--training-only] [--split|--alone] [--ab row-chunks[:ROWS]|unit-split[:ROWS]|narrow-swap[:N]|gate-pairs|panels|unit-panels:N|pack-a:N|tiles-outer|split|stream-chunks:BYTES]";

    public static int Run(string[] args)
    {
        var cell = CellKind.Lstm;
        bool forwardOnly = false, trainingOnly = false;
        // --ab row-chunks[:ROWS]: one part of rows per thread (off) against parts of ROWS rows (on);
        // --ab unit-split[:ROWS]: inference passes of up to ROWS rows by the row loop (off) against the unit loop (on).
        // --ab gate-pairs: the LSTM and GRU forward gate passes as on 32 registers (off) against two passes in pairs (on; AVX2 only).
        // --ab panels: the row loop's weights in rows (off) against column panels (on), forward and backward.
        // --ab unit-panels:N: the batch-1 loop's panels of at most RecurrentLayer.PanelColumns gate columns (off) against N (on).
        // --ab pack-a:N: the weight-gradient GEMMs packing A from Gemm.PackAMinTilesN panels of B (off) against from N (on).
        // --ab tiles-outer: the row loop's products over panels with each panel outer (off) against each row tile outer (on, B within half of L2).
        string? abSwitch = null;
        int abRows = 0;
        int hidden = 100, batch = 64, length = 50, minLength = 0, input = 32, layers = 1, samples = 11, threads = 2;
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value. usage: {Usage}");
            int Int() => int.Parse(Value(), NumberStyles.Integer, CultureInfo.InvariantCulture);
            switch (args[i])
            {
                case "--cell": cell = Enum.Parse<CellKind>(Value(), ignoreCase: true); break;
                case "--hidden": hidden = Int(); break;
                case "--batch": batch = Int(); break;
                case "--length": length = Int(); break;
                case "--min-length": minLength = Int(); break;
                case "--input": input = Int(); break;
                case "--layers": layers = Int(); break;
                case "--samples": samples = Int(); break;
                case "--threads": threads = Int(); break;
                case "--forward-only": forwardOnly = true; break;
                case "--split": Engine.Layers.SplitChooser.Forced = true; break;   // batch 1: split every call (no chooser)
                case "--alone": Engine.Layers.SplitChooser.Forced = false; break;  // batch 1: one thread every call
                case "--training-only": trainingOnly = true; break;
                case "--ab":
                    string what = Value();
                    int colon = what.IndexOf(':');
                    abSwitch = colon < 0 ? what : what[..colon];
                    if (abSwitch is not ("row-chunks" or "unit-split" or "narrow-swap" or "gate-pairs" or "panels" or "unit-panels" or "pack-a" or "tiles-outer" or "split" or "stream-chunks"))
                        throw new ArgumentException($"--ab takes row-chunks[:ROWS], unit-split[:ROWS], narrow-swap[:N], gate-pairs, panels, unit-panels:N, pack-a:N, tiles-outer, split or stream-chunks:BYTES; got {what}. usage: {Usage}");
                    abRows = colon >= 0 ? int.Parse(what[(colon + 1)..], CultureInfo.InvariantCulture)
                        : abSwitch switch { "row-chunks" => RecurrentLayer.RowChunkRows, "unit-split" => RecurrentLayer.UnitSplitMaxRows, "gate-pairs" or "panels" or "tiles-outer" or "split" => 0, "unit-panels" => RecurrentLayer.PanelColumns, "pack-a" => Gemm.PackAMinTilesN, "stream-chunks" => Gemm.StreamChunkMinBytes, _ => Gemm.SwapMaxNarrowN };
                    break;
                default: throw new ArgumentException($"unknown option {args[i]}. usage: {Usage}");
            }
        }

        var spec = new NetworkSpec(cell, input, hidden, layers, OutputSize: 1, Output: OutputMode.LastHidden);
        if (minLength < 0 || minLength > length) throw new ArgumentException($"--min-length must lie in [0, --length]; it is {minLength} with --length {length}. usage: {Usage}");
        if (forwardOnly && trainingOnly) throw new ArgumentException($"--forward-only and --training-only exclude each other. usage: {Usage}");
        var forward = trainingOnly ? () => { } : KernelBreakdown.ForwardOf(spec, batch, length, threads, minLength);
        var step = forwardOnly ? () => { } : KernelBreakdown.StepOf(spec, batch, length, threads, minLength);
        // Warm-up: a second of both, so that every method the passes use has left the JIT's early tiers.
        var warm = System.Diagnostics.Stopwatch.StartNew();
        while (warm.Elapsed.TotalSeconds < 1) { forward(); step(); }
        string lengths = minLength > 0 ? $"T={minLength}…{length}" : $"T={length}";
        string title = $"{cell} B={batch} {lengths} I={input} H={hidden} L={layers}, {threads} threads";
        if (abSwitch is null)
        {
            var (fc, fw) = KernelBreakdown.Measure(forward, samples);
            var (sc, swl) = KernelBreakdown.Measure(step, samples);
            Console.WriteLine($"{title}: forward {fw:F3} ms wall, {fc:F3} ms CPU; training step {swl:F3} ms wall, {sc:F3} ms CPU");
            Engine.Layers.SplitChooser.Forced = null; // --split / --alone hold for this measurement only
            return 0;
        }

        int savedRows = RecurrentLayer.RowChunkRows, savedUnitRows = RecurrentLayer.UnitSplitMaxRows, savedNarrow = Gemm.SwapMaxNarrowN;
        long savedLimit = RecurrentLayer.RowChunkMaxWeightBytes;
        int savedPanelColumns = RecurrentLayer.PanelColumns, savedPackA = Gemm.PackAMinTilesN, savedStream = Gemm.StreamChunkMinBytes;
        long savedTilesOuter = Engine.Kernels.RowProduct.RowTilesOuterMaxBytes;
        void Set(bool on)
        {
            if (abSwitch == "row-chunks")
            {
                RecurrentLayer.RowChunkRows = on ? abRows : 0;
                RecurrentLayer.RowChunkMaxWeightBytes = on ? long.MaxValue : savedLimit; // the parts whatever the weights
            }
            else if (abSwitch == "unit-split")
            {
                RecurrentLayer.UnitSplitMaxRows = on ? abRows : 0;
            }
            else if (abSwitch == "tiles-outer")
            {
                Engine.Kernels.RowProduct.RowTilesOuterMaxBytes = on ? savedTilesOuter : 0;
            }
            else if (abSwitch == "pack-a")
            {
                Gemm.PackAMinTilesN = on ? abRows : savedPackA;
            }
            else if (abSwitch == "stream-chunks")
            {
                Gemm.StreamChunkMinBytes = on ? abRows : 0;
            }
            else if (abSwitch == "unit-panels")
            {
                RecurrentLayer.PanelColumns = on ? abRows : savedPanelColumns;
            }
            else if (abSwitch == "split")
            {
                Engine.Layers.SplitChooser.Forced = on;
            }
            else if (abSwitch == "panels")
            {
                PackedWeights.UsePanels = on;
            }
            else if (abSwitch == "gate-pairs")
            {
                Engine.Cells.LstmCell.PairedGates = on;
                Engine.Cells.GruCell.PairedGates = on;
            }
            else
            {
                Gemm.SwapMaxNarrowN = on ? abRows : 0;
            }
        }

        string label = abSwitch switch
        {
            "row-chunks" => $"row parts off / {abRows} rows",
            "unit-split" => $"row loop / unit loop up to {abRows} rows",
            "gate-pairs" => "LSTM/GRU gate pass as on 32 registers / in two passes and pairs (16 registers)",
            "panels" => "weights in rows / in column panels",
            "split" => "batch-1 loop alone / split between threads",
            "unit-panels" => $"batch-1 panels of {savedPanelColumns} / {abRows} gate columns",
            "pack-a" => $"GEMM A packed from {savedPackA} / {abRows} panels",
            "tiles-outer" => "panels outer / row tiles outer",
            "stream-chunks" => $"GEMM chunks over N unlimited / at least {abRows} bytes of a B row",
            _ => $"narrow weight gradients as they are / swapped up to {abRows} columns",
        };

        try
        {
            foreach (var (kind, body) in new[] { ("forward", forward), ("training step", step) })
            {
                if (kind == "forward" && trainingOnly || kind != "forward" && forwardOnly) continue;
                var off = new List<(double Cpu, double Wall)>();
                var on = new List<(double Cpu, double Wall)>();
                for (int sample = 0; sample < samples; sample++)
                {
                    // Pairs in turn off–on and on–off, so that neither side always runs right after the other (an A/A
                    // run, both sides the same code, read up to 1.08× for the second side when it always came second).
                    bool offFirst = sample % 2 == 0;
                    Set(!offFirst);
                    (offFirst ? off : on).Add(KernelBreakdown.Measure(body, 1));
                    Set(offFirst);
                    (offFirst ? on : off).Add(KernelBreakdown.Measure(body, 1));
                }

                static double Median(IEnumerable<double> v) { var a = v.OrderBy(x => x).ToArray(); return a[a.Length / 2]; }
                double w0 = Median(off.Select(x => x.Wall)), w1 = Median(on.Select(x => x.Wall));
                double c0 = Median(off.Select(x => x.Cpu)), c1 = Median(on.Select(x => x.Cpu));
                Console.WriteLine($"{title}, {kind}, {label} alternated: {w0:F3} / {w1:F3} ms wall ({w0 / w1:F3}×), {c0:F3} / {c1:F3} ms CPU ({c0 / c1:F3}×)");
            }
        }
        finally
        {
            RecurrentLayer.RowChunkRows = savedRows;
            RecurrentLayer.RowChunkMaxWeightBytes = savedLimit;
            RecurrentLayer.UnitSplitMaxRows = savedUnitRows;
            Gemm.SwapMaxNarrowN = savedNarrow;
            Engine.Cells.LstmCell.PairedGates = true;
            Engine.Cells.GruCell.PairedGates = true;
            PackedWeights.UsePanels = true;
            Engine.Layers.SplitChooser.Forced = null;
            RecurrentLayer.PanelColumns = savedPanelColumns;
            Gemm.PackAMinTilesN = savedPackA;
            Gemm.StreamChunkMinBytes = savedStream;
            Engine.Kernels.RowProduct.RowTilesOuterMaxBytes = savedTilesOuter;
        }

        return 0;
    }
}

/// <summary>
/// <c>matvec N K</c>: the batch-1 loop's mat-vec, one row of K times a K × N block with contiguous rows (as a panel of the
/// packed recurrent weights), on one thread, the block hot in cache: ns a call and the weights' read rate. Shows what
/// streaming a block costs by its width (docs/performance.md, "Batch-1 loop": 256-column panels against 512-column rows).
/// </summary>
public static unsafe class MatVecProbe
{
    public const string Usage = "matvec N K";

    public static int Run(string[] args)
    {
        if (args.Length < 2) throw new ArgumentException($"usage: {Usage}");
        int n = int.Parse(args[0], CultureInfo.InvariantCulture), k = int.Parse(args[1], CultureInfo.InvariantCulture);
        var (w, h, c) = RowProductProbe.Operands(n, k, rows: 1);
        fixed (float* pw = w, ph = h, pc = c)
        {
            for (int round = 0; round < 5; round++)
            {
                var sw = System.Diagnostics.Stopwatch.StartNew();
                const int iters = 20000;
                for (int it = 0; it < iters; it++) Microsoft.ML.Recurrent.Engine.Kernels.RowProduct.Multiply(1, n, k, ph, k, pw, n, pc, n, accumulate: true);
                double ns = sw.Elapsed.TotalNanoseconds / iters;
                Console.WriteLine($"1 x {n} x {k}: {ns:F0} ns, {4.0 * n * k / ns:F1} GB/s of weights, {2.0 * n * k / ns:F1} GFLOP/s");
            }
        }

        return 0;
    }
}

/// <summary>
/// <c>rowproduct N K</c>: the row loop's per-step product, m rows of K times a K × N block (as the packed recurrent
/// weights), on one thread, the block hot in cache, for m = 1 … 16: ns a call and GFLOP/s. Shows what row counts that are
/// not multiples of the tiles' heights cost (a part's rows at a step of a batch with mixed lengths can be any count).
/// </summary>
public static unsafe class RowProductProbe
{
    public const string Usage = "rowproduct N K [--panels]";

    /// <summary>A K × N block (W), <paramref name="rows"/> rows of K (h) and of N (c), random with seed 1; W has 64 floats of slack.</summary>
    internal static (float[] W, float[] H, float[] C) Operands(int n, int k, int rows)
    {
        var rng = new Random(1);
        float[] Random(int count) => Enumerable.Range(0, count).Select(_ => (float)rng.NextDouble()).ToArray();
        return (Random(k * n + 64), Random(rows * k), new float[rows * n]);
    }

    public static int Run(string[] args)
    {
        if (args.Length < 2) throw new ArgumentException($"usage: {Usage}");
        int n = int.Parse(args[0], CultureInfo.InvariantCulture), k = int.Parse(args[1], CultureInfo.InvariantCulture);
        // --panels: W in column panels of RowProduct.PanelWidth (as the row loop's packed weights), else rows N apart.
        bool panels = args.Skip(2).Contains("--panels");
        const int maxRows = 16;
        var (w, h, c) = Operands(n, k, maxRows);
        int width = Microsoft.ML.Recurrent.Engine.Kernels.RowProduct.PanelWidth;
        var packed = new float[Microsoft.ML.Recurrent.Engine.Kernels.RowProduct.PanelFloats(k, n, width) + 64];
        fixed (float* pw0 = w, pp = packed) Microsoft.ML.Recurrent.Engine.Kernels.RowProduct.PackPanels(pw0, n, k, n, pp, width);
        nint ldb = panels ? width : n, ps = panels ? (nint)k * width : 0;
        fixed (float* pw = panels ? packed : w, ph = h, pc = c)
        {
            for (int m = 1; m <= maxRows; m++)
            {
                Array.Clear(c);
                var times = new double[7];
                for (int round = 0; round < times.Length; round++)
                {
                    int iters = Math.Max(200, 200_000_000 / (2 * m * n * k));
                    var sw = System.Diagnostics.Stopwatch.StartNew();
                    for (int it = 0; it < iters; it++) Microsoft.ML.Recurrent.Engine.Kernels.RowProduct.Multiply(m, n, k, ph, k, pw, ldb, pc, n, accumulate: true, ps);
                    times[round] = sw.Elapsed.TotalNanoseconds / iters;
                }

                Array.Sort(times);
                double ns = times[times.Length / 2];
                Console.WriteLine($"{m,2} x {n} x {k}: {ns,9:F0} ns, {2.0 * m * n * k / ns,6:F1} GFLOP/s");
            }
        }

        return 0;
    }
}

/// <summary>
/// <c>handover [H]</c>: what one step of a single sequence costs on one thread and split over two (LSTM, H = 16 by
/// default: the step's work is a few dozen ns, so the split's figure is the hand-over between the cores), 2,000 steps a
/// pass, median of 31 passes, alternated. The figure <see cref="Microsoft.ML.Recurrent.Engine.Layers.SplitChooser"/> weighs.
/// </summary>
public static class HandoverProbe
{
    public const string Usage = "handover [H]";

    public static int Run(string[] args)
    {
        int hidden = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 16, T = 2000;
        var spec = new NetworkSpec(CellKind.Lstm, 4, hidden, 1, OutputSize: 1, Output: OutputMode.LastHidden);
        foreach (int threads in new[] { 1, 2, 1, 2 })
        {
            var layout = new ParameterLayout(spec);
            var parameters = new float[layout.Count];
            Initializer.Initialize(layout, parameters, 7);
            var network = new RecurrentNetwork(layout, parameters, new float[layout.Count], 1, T)
            {
                Threads = threads, UnitSplitMinWeights = 0, ChooseUnitSplit = false,
            };
            var data = new SequenceBatch(1, T, 4, targetWidth: 1);
            data.Fill(1, r => new float[T * 4], r => new float[1], perStepTargets: false);
            for (int i = 0; i < 200; i++) network.Forward(data, training: false);
            var times = new double[31];
            for (int s = 0; s < times.Length; s++)
            {
                var sw = System.Diagnostics.Stopwatch.StartNew();
                network.Forward(data, training: false);
                times[s] = sw.Elapsed.TotalNanoseconds / T;
            }

            Array.Sort(times);
            Console.WriteLine($"H={hidden}, {threads} threads (parts {network.LastLoopParts}): {times[15]:F0} ns a step");
        }

        return 0;
    }
}
