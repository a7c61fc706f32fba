using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using BenchmarkDotNet.Attributes;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Kernels;
using Microsoft.ML.Recurrent.Engine.Layers;
using Microsoft.ML.Recurrent.Engine.Optimizers;

namespace Microsoft.ML.Recurrent.Benchmarks;

/// <summary>One GEMM shape the engine uses, with the role it plays.</summary>
public sealed record GemmShape(string Name, bool TransA, bool TransB, int M, int N, int K)
{
    public double Flops => 2.0 * M * N * K;

    public override string ToString() => Name;

    /// <summary>
    /// Recurrent per-step products (m = batch, n = G·H, k = H), the big input projection
    /// (m = T·B, k = I), the weight-gradient TN products (k = T·B) and dX.
    /// W_ih (G·H, I) and W_hh (G·H, H) are stored PyTorch-style, so the forward products are NT.
    /// </summary>
    public static readonly GemmShape[] All =
    [
        new("step-fwd NT m1 n512 k128", false, true, 1, 512, 128),
        new("step-fwd NT m1 n1024 k256", false, true, 1, 1024, 256),
        new("step-fwd NT m1 n2048 k512", false, true, 1, 2048, 512),
        new("step-fwd NT m4 n512 k128", false, true, 4, 512, 128),
        new("step-fwd NT m8 n512 k128", false, true, 8, 512, 128),
        new("step-fwd NT m32 n512 k128", false, true, 32, 512, 128),
        new("step-fwd NT m32 n384 k128", false, true, 32, 384, 128),
        new("step-fwd NT m64 n1024 k256", false, true, 64, 1024, 256),
        new("step-fwd NT m128 n512 k128", false, true, 128, 512, 128),
        new("step-bwd NN m1 n128 k512", false, false, 1, 128, 512),
        new("step-bwd NN m32 n128 k512", false, false, 32, 128, 512),
        new("step-bwd NN m64 n256 k1024", false, false, 64, 256, 1024),
        new("in-proj NT m1600 n512 k32", false, true, 1600, 512, 32),
        new("in-proj NT m6400 n1024 k256", false, true, 6400, 1024, 256),
        new("dW_ih TN m512 n32 k1600", true, false, 512, 32, 1600),
        new("dW_hh TN m512 n128 k1600", true, false, 512, 128, 1600),
        new("dW_hh TN m512 n128 k3200", true, false, 512, 128, 3200),
        new("dW_ih TN m512 n32 k3200", true, false, 512, 32, 3200),
        new("dW_hh TN m256 n64 k6400", true, false, 256, 64, 6400),
        new("dW_ih TN m256 n8 k6400", true, false, 256, 8, 6400),
        new("dW_ih swapped TN m8 n256 k6400", true, false, 8, 256, 6400),
        new("dW_hh TN m768 n192 k3200", true, false, 768, 192, 3200),
        new("dW_hh TN m384 n128 k3200", true, false, 384, 128, 3200),
        new("dW_hh TN m1024 n256 k3840", true, false, 1024, 256, 3840),
        new("dW_ih TN m512 n512 k3200", true, false, 512, 512, 3200),
        new("dW_hh TN m2048 n512 k1600", true, false, 2048, 512, 1600),
        new("dW_hh TN m1024 n256 k6400", true, false, 1024, 256, 6400),
        new("dX NN m6400 n256 k1024", false, false, 6400, 256, 1024),
    ];

    public (float[] A, float[] B, float[] C, int Lda, int Ldb) Allocate(int seed = 1)
    {
        var rng = new Random(seed);
        int lda = TransA ? M : K, ldb = TransB ? K : N;
        var a = new float[(long)M * K];
        var b = new float[(long)K * N];
        var c = new float[(long)M * N];
        for (int i = 0; i < a.Length; i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
        for (int i = 0; i < b.Length; i++) b[i] = (float)(rng.NextDouble() * 2 - 1);
        return (a, b, c, lda, ldb);
    }

    public void Run(float[] a, int lda, float[] b, int ldb, float[] c, int threads) =>
        Gemm.Multiply(TransA, TransB, M, N, K, 1f, a, lda, b, ldb, 0f, c, N, threads);
}

/// <summary>BenchmarkDotNet micro-benchmarks of <see cref="Gemm.Multiply"/> for the engine's shapes.</summary>
[MemoryDiagnoser]
public class GemmBenchmarks
{
    private float[] _a = [], _b = [], _c = [];
    private int _lda, _ldb;

    public static IEnumerable<GemmShape> Shapes => GemmShape.All;

    [ParamsSource(nameof(Shapes))]
    public GemmShape Shape { get; set; } = GemmShape.All[0];

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup() => (_a, _b, _c, _lda, _ldb) = Shape.Allocate();

    [Benchmark]
    public void Multiply() => Shape.Run(_a, _lda, _b, _ldb, _c, Threads);
}

/// <summary>
/// Quick stopwatch measurement: GFLOP/s per shape (median of several timed runs), one and two threads,
/// next to a measured FMA peak. Run with
/// <c>dotnet run -c Release -- gemm-gflops [shape filter] [--isa Vector512|Vector256|Vector128|Scalar]</c>
/// (a cap: a wider ISA than the hardware's runs the hardware's).
/// </summary>
public static class GemmGflops
{
    public static void Run(string? filter, string? isa, int? abPackA = null)
    {
        if (isa is not null) Gemm.MaxIsa = Enum.Parse<GemmIsa>(isa, ignoreCase: true);
        Console.WriteLine($"ISA: {Gemm.EffectiveIsa} (hardware {Gemm.HardwareIsa}); {Environment.ProcessorCount} cores");
        double peak = PeakProbe.MeasureGflops(threads: 1);
        Console.WriteLine($"FMA peak (one thread, measured): {peak:F1} GFLOP/s");
        Console.WriteLine("GFLOP/s: wall-clock median of 21 samples (best in brackets); %: of one-core / two-core peak;");
        Console.WriteLine("cpu: one thread, flops per second of process CPU time (insensitive to other processes' load)");
        Console.WriteLine($"{"shape",-30} {"1 thread",16} {"%peak",6} {"cpu",6} {"2 threads",16} {"%2peak",6}");
        foreach (var shape in GemmShape.All)
        {
            if (filter is not null && !shape.Name.Contains(filter, StringComparison.OrdinalIgnoreCase)) continue;
            var (a, b, c, lda, ldb) = shape.Allocate();
            var cpu0 = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;
            var (g1, b1, runs1) = Measure(shape, a, lda, b, ldb, c, 1);
            var cpu = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime - cpu0;
            double gCpu = shape.Flops * runs1 / cpu.TotalSeconds / 1e9;
            var (g2, b2, _) = Measure(shape, a, lda, b, ldb, c, 2);
            Console.WriteLine($"{shape.Name,-30} {g1,7:F1} ({b1,6:F1}) {100 * g1 / peak,5:F0}% {gCpu,6:F1} {g2,7:F1} ({b2,6:F1}) {50 * g2 / peak,5:F0}%");
            if (abPackA is int other)
            {
                // In-process A/B of the A-packing threshold: three rounds alternating the default and the other value.
                int keep = Gemm.PackAMinTilesN;
                try
                {
                    for (int round = 0; round < 3; round++)
                    {
                        foreach (int v in new[] { keep, other })
                        {
                            Gemm.PackAMinTilesN = v;
                            var (x1, _, _) = Measure(shape, a, lda, b, ldb, c, 1);
                            var (x2, _, _) = Measure(shape, a, lda, b, ldb, c, 2);
                            Console.WriteLine($"  pack A from {v,4} panels: {x1,7:F1} {x2,7:F1}");
                        }
                    }
                }
                finally
                {
                    Gemm.PackAMinTilesN = keep;
                }
            }
        }
    }

    private static (double Median, double Best, long Runs) Measure(GemmShape shape, float[] a, int lda, float[] b, int ldb, float[] c, int threads)
    {
        // Calibrate the repetitions to ~10 ms per sample, then take the median (and best) of 21 samples.
        shape.Run(a, lda, b, ldb, c, threads);
        var sw = Stopwatch.StartNew();
        int reps = 0;
        long runs = 1;
        while (sw.Elapsed.TotalMilliseconds < 10) { shape.Run(a, lda, b, ldb, c, threads); reps++; }
        reps = Math.Max(reps, 1);
        var samples = new double[21];
        runs += reps + (long)samples.Length * reps;
        for (int s = 0; s < samples.Length; s++)
        {
            sw.Restart();
            for (int r = 0; r < reps; r++) shape.Run(a, lda, b, ldb, c, threads);
            samples[s] = sw.Elapsed.TotalSeconds / reps;
        }

        Array.Sort(samples);
        return (shape.Flops / samples[samples.Length / 2] / 1e9, shape.Flops / samples[0] / 1e9, runs);
    }
}

/// <summary>
/// Where a training step of the throughput runner's config 1 (LSTM, B = 64, T = 50, I = 32, H = 128, 2 threads) spends
/// its time, kernel by kernel, as the row-split time loop calls them: per step and thread (32 rows) the input projection
/// with the bias row (<see cref="RowProduct.MultiplyAddRow"/>, k = I), the recurrent product (k = H), the LSTM gate pass;
/// backward the gate pass, the recurrent product into dh (n = H, k = 4H); after the loop the weight-gradient GEMMs
/// (TN, k = T·B, two threads). Each kernel runs alone over the step buffers of a whole sequence batch (so that the
/// (T, B, 4H) buffers stream from memory as in the engine), timed in process CPU time (robust to other processes'
/// load on a shared machine) and in wall time, median of 11 samples.
/// Run: <c>dotnet Microsoft.ML.Recurrent.Benchmarks.dll kernel-breakdown [--samples N]</c>.
/// </summary>
public static unsafe class KernelBreakdown
{
    private const int B = 64, T = 50, I = 32, H = 128, G = 4, GH = G * H, Rows = B / 2;

    public static int Run(string[] args)
    {
        int samples = 11;
        int at = Array.IndexOf(args, "--samples");
        if (at >= 0 && at + 1 < args.Length) samples = int.Parse(args[at + 1], System.Globalization.CultureInfo.InvariantCulture);
        var rng = new Random(5);
        float[] R(long n, float scale) { var a = new float[n]; for (long i = 0; i < n; i++) a[i] = (float)((rng.NextDouble() * 2 - 1) * scale); return a; }
        float[] x = R((long)T * B * I, 1), wihT = R((long)I * GH, 0.1f), whhT = R((long)H * GH, 0.1f), whh = R((long)GH * H, 0.1f);
        float[] bias = R(GH, 0.1f), gates = R((long)T * B * GH, 1), hs = R((long)(T + 1) * B * H, 0.5f);
        float[] cs = R((long)(T + 1) * B * H, 0.5f), tanhC = R((long)T * B * H, 0.5f), dGx = R((long)T * B * GH, 0.01f);
        // The same weights in column panels, as the row loop reads them (W_ihᵀ and W_hhᵀ forward, W_hh backward).
        int width = RowProduct.PanelWidth;
        float[] wihTPanels = new float[RowProduct.PanelFloats(I, GH, width)], whhTPanels = new float[RowProduct.PanelFloats(H, GH, width)];
        float[] whhPanels = new float[RowProduct.PanelFloats(GH, H, width)];
        fixed (float* s0 = wihT, d0 = wihTPanels) RowProduct.PackPanels(s0, GH, I, GH, d0, width);
        fixed (float* s0 = whhT, d0 = whhTPanels) RowProduct.PackPanels(s0, GH, H, GH, d0, width);
        fixed (float* s0 = whh, d0 = whhPanels) RowProduct.PackPanels(s0, H, GH, H, d0, width);
        float[] dh = R((long)B * H, 0.01f), dc = R((long)B * H, 0.01f), gW = new float[GH * H], gWi = new float[GH * I];
        double peak1 = PeakProbe.MeasureGflops(threads: 1);
        Console.WriteLine($"Kernel breakdown of config 1 (LSTM B={B} T={T} I={I} H={H}); lanes {Lanes.Family}, width {Lanes.MaxVectorWidth}, GEMM {Gemm.EffectiveIsa}; one-thread FMA peak {peak1:F1} GFLOP/s");
        Console.WriteLine("Per training step, both threads' work added (the row-split loop gives each thread 32 rows per step; the weight-gradient GEMMs run on 2 threads).");
        Console.WriteLine($"{"kernel",-44} {"cpu ms/step",12} {"wall ms",9} {"GFLOP/s cpu",12} {"% 1-core peak",14}");

        fixed (float* px = x, pwi = wihT, pwh = whhT, pw = whh, pb = bias, pg = gates, ph = hs, pc = cs, pt = tanhC, pd = dGx, pdh = dh, pdc = dc, pgw = gW, pgwi = gWi, ppi = wihTPanels, pph = whhTPanels, ppw = whhPanels)
        {
            float* cx = px, cwi = pwi, cwh = pwh, cw = pw, cb = pb, cg = pg, ch = ph, cc = pc, ct = pt, cd = pd, cdh = pdh, cdc = pdc, cgw = pgw, cgwi = pgwi, cpi = ppi, cph = pph, cpw = ppw;
            var rows = new (string Name, double Flops, Action Body)[]
            {
                ("fwd input projection + bias (k=I)", 2.0 * B * GH * I * T, () =>
                {
                    for (int t = 0; t < T; t++)
                        for (int r0 = 0; r0 < B; r0 += Rows)
                            RowProduct.MultiplyAddRow(Rows, GH, I, cx + ((nint)t * B + r0) * I, I, cwi, GH, cg + ((nint)t * B + r0) * GH, GH, cb);
                }),
                ("  same, W_ihT in column panels", 2.0 * B * GH * I * T, () =>
                {
                    for (int t = 0; t < T; t++)
                        for (int r0 = 0; r0 < B; r0 += Rows)
                            RowProduct.MultiplyAddRow(Rows, GH, I, cx + ((nint)t * B + r0) * I, I, cpi, width, cg + ((nint)t * B + r0) * GH, GH, cb, (nint)I * width);
                }),
                ("fwd recurrent product (k=H)", 2.0 * B * GH * H * T, () =>
                {
                    for (int t = 0; t < T; t++)
                        for (int r0 = 0; r0 < B; r0 += Rows)
                            RowProduct.Multiply(Rows, GH, H, ch + ((nint)t * B + r0) * H, H, cwh, GH, cg + ((nint)t * B + r0) * GH, GH, accumulate: true);
                }),
                ("  same, 4 x 4 tiles only (before the 8 x 2 tile)", 2.0 * B * GH * H * T, () =>
                {
                    RowProduct.UseTall = false;
                    for (int t = 0; t < T; t++)
                        for (int r0 = 0; r0 < B; r0 += Rows)
                            RowProduct.Multiply(Rows, GH, H, ch + ((nint)t * B + r0) * H, H, cwh, GH, cg + ((nint)t * B + r0) * GH, GH, accumulate: true);
                    RowProduct.UseTall = true;
                }),
                ("  same, W_hhT in column panels", 2.0 * B * GH * H * T, () =>
                {
                    for (int t = 0; t < T; t++)
                        for (int r0 = 0; r0 < B; r0 += Rows)
                            RowProduct.Multiply(Rows, GH, H, ch + ((nint)t * B + r0) * H, H, cph, width, cg + ((nint)t * B + r0) * GH, GH, accumulate: true, (nint)H * width);
                }),
                ("fwd LSTM gate pass", 0, () =>
                {
                    for (int t = 0; t < T; t++)
                        for (int r0 = 0; r0 < B; r0 += Rows)
                        {
                            nint s = ((nint)t * B + r0) * H;
                            Engine.Cells.LstmCell.Forward(new Span<float>(cg + ((nint)t * B + r0) * GH, Rows * GH), new ReadOnlySpan<float>(cc + s, Rows * H),
                                new Span<float>(cc + s + (nint)B * H, Rows * H), new Span<float>(ct + s, Rows * H), new Span<float>(ch + s + (nint)B * H, Rows * H), Rows, H);
                        }
                }),
                ("bwd LSTM gate pass", 0, () =>
                {
                    for (int t = T - 1; t >= 0; t--)
                        for (int r0 = 0; r0 < B; r0 += Rows)
                        {
                            nint s = ((nint)t * B + r0) * H;
                            Engine.Cells.LstmCell.Backward(new ReadOnlySpan<float>(cg + ((nint)t * B + r0) * GH, Rows * GH), new ReadOnlySpan<float>(cc + s, Rows * H),
                                new ReadOnlySpan<float>(ct + s, Rows * H), new Span<float>(cdh + (nint)r0 * H, Rows * H), new Span<float>(cdc + (nint)r0 * H, Rows * H),
                                new Span<float>(cd + ((nint)t * B + r0) * GH, Rows * GH), Rows, H);
                        }
                }),
                ("bwd recurrent product dh (n=H, k=4H)", 2.0 * B * GH * H * T, () =>
                {
                    for (int t = T - 1; t >= 0; t--)
                        for (int r0 = 0; r0 < B; r0 += Rows)
                            RowProduct.Multiply(Rows, H, GH, cd + ((nint)t * B + r0) * GH, GH, cw, H, cdh + (nint)r0 * H, H, accumulate: false);
                }),
                ("  same, 4 x 4 tiles only", 2.0 * B * GH * H * T, () =>
                {
                    RowProduct.UseTall = false;
                    for (int t = T - 1; t >= 0; t--)
                        for (int r0 = 0; r0 < B; r0 += Rows)
                            RowProduct.Multiply(Rows, H, GH, cd + ((nint)t * B + r0) * GH, GH, cw, H, cdh + (nint)r0 * H, H, accumulate: false);
                    RowProduct.UseTall = true;
                }),
                ("  same, W_hh in column panels", 2.0 * B * GH * H * T, () =>
                {
                    for (int t = T - 1; t >= 0; t--)
                        for (int r0 = 0; r0 < B; r0 += Rows)
                            RowProduct.Multiply(Rows, H, GH, cd + ((nint)t * B + r0) * GH, GH, cpw, width, cdh + (nint)r0 * H, H, accumulate: false, (nint)GH * width);
                }),
                ("dW_hh GEMM TN (512x128, k=3200), 2 threads", 2.0 * GH * H * T * B, () =>
                    Gemm.Multiply(true, false, GH, H, T * B, 1f, new ReadOnlySpan<float>(cd, T * B * GH), GH, new ReadOnlySpan<float>(ch, T * B * H), H, 1f, new Span<float>(cgw, GH * H), H, threads: 2)),
                ("dW_ih GEMM TN (512x32, k=3200), 2 threads", 2.0 * GH * I * T * B, () =>
                    Gemm.Multiply(true, false, GH, I, T * B, 1f, new ReadOnlySpan<float>(cd, T * B * GH), GH, new ReadOnlySpan<float>(cx, T * B * I), I, 1f, new Span<float>(cgwi, GH * I), I, threads: 2)),
            };

            double total = 0;
            foreach (var (name, flops, body) in rows)
            {
                var (cpu, wall) = Measure(body, samples);
                if (!name.StartsWith(' ')) total += cpu; // the indented rows are variants of the row above
                string g = flops > 0 ? $"{flops / cpu / 1e6,12:F1}" : $"{"—",12}";
                string pct = flops > 0 ? $"{100 * flops / cpu / 1e6 / peak1,13:F0}%" : $"{"—",14}";
                Console.WriteLine($"{name,-44} {cpu,12:F3} {wall,9:F3} {g} {pct}");
            }

            Console.WriteLine($"{"sum (CPU ms per step, both threads)",-44} {total,12:F3}   → ÷ 2 threads = {total / 2:F2} ms/step if perfectly split");
        }

        // Whole steps: the row loop's weights in rows against panels. (The 8 × 2 / 4 × 4 tile switch acts on row-major
        // operands only, which the row loop no longer reads: its whole-step A/B went with the panels.)
        PanelPacks(samples);
        return 0;
    }

    /// <summary>
    /// The row loop's weights (W_ihᵀ and W_hhᵀ forward, W_hh and W_ih backward) in rows against column panels
    /// (<see cref="PackedWeights.UsePanels"/>), alternated sample by sample in this process: whole inference forward passes
    /// and whole training steps of the throughput runner's configs 1 to 4, batch-1 forward passes of config 5 (the
    /// unit-split loop, rows either way: a check that nothing else moved), medians of CPU ms and wall ms.
    /// </summary>
    private static void PanelPacks(int samples)
    {
        Console.WriteLine();
        Console.WriteLine("The row loop's weights in rows / in column panels of " + RowProduct.PanelWidth + " floats,");
        Alternate(["rows", "panels"], m => PackedWeights.UsePanels = m == 1, samples);
        PackedWeights.UsePanels = true;
    }

    /// <summary>
    /// <c>row-chunks [samples] [threads] [configs]</c>: the row loop with one part per thread against parts of
    /// <see cref="RecurrentLayer.RowChunkRows"/> rows (the weight limit lifted, so every configuration shows both), forward
    /// passes and training steps of the throughput runner's configurations alternated in this process.
    /// </summary>
    internal static int RowChunks(string[] args)
    {
        int samples = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 15;
        int threads = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 2;
        string configs = args.Length > 2 ? args[2] : "1,2,3,4";
        int rows = RecurrentLayer.RowChunkRows;
        long limit = RecurrentLayer.RowChunkMaxWeightBytes;
        RecurrentLayer.RowChunkMaxWeightBytes = long.MaxValue;
        Console.WriteLine($"Row loop on {threads} thread(s): one part per thread (off) against parts of about {rows} rows,");
        try
        {
            Alternate(["off", rows.ToString(CultureInfo.InvariantCulture)], m => RecurrentLayer.RowChunkRows = m == 0 ? 0 : rows, samples, configs, threads);
        }
        finally
        {
            RecurrentLayer.RowChunkRows = rows;
            RecurrentLayer.RowChunkMaxWeightBytes = limit;
        }

        return 0;
    }

    /// <summary>
    /// Runs forward passes and training steps of the throughput runner's five configurations under each mode
    /// (<paramref name="setMode"/>), alternated sample by sample in this process; prints medians of CPU ms and wall ms
    /// per call and each mode's ratio against the first (first ÷ mode: > 1 is faster).
    /// </summary>
    private static void Alternate(string[] modeNames, Action<int> setMode, int samples, string? configs = null, int threads = 2)
    {
        Console.WriteLine("alternated sample by sample in this process (medians of CPU ms and wall ms per call; ratio = first mode ÷ this mode):");
        var head = new System.Text.StringBuilder($"{"config",-38}");
        foreach (var m in modeNames) head.Append($" {"cpu " + m,10}");
        foreach (var m in modeNames.Skip(1)) head.Append($" {"ratio " + m,11}");
        foreach (var m in modeNames) head.Append($" {"wall " + m,10}");
        foreach (var m in modeNames.Skip(1)) head.Append($" {"ratio " + m,11}");
        Console.WriteLine(head);
        foreach (var (name, cell, b, t, i, h, layers) in new[]
        {
            ("1: LSTM B64 T50 I32 H128", CellKind.Lstm, 64, 50, 32, 128, 1),
            ("2: GRU B64 T50 I32 H128", CellKind.Gru, 64, 50, 32, 128, 1),
            ("3: LSTM B32 T200 I8 H64", CellKind.Lstm, 32, 200, 8, 64, 1),
            ("4: LSTM B128 T30 I64 H256 L2", CellKind.Lstm, 128, 30, 64, 256, 2),
            ("5: LSTM B1 T50 I32 H128", CellKind.Lstm, 1, 50, 32, 128, 1),
        })
        {
            if (configs is not null && !configs.Split(',').Contains(name[..1])) continue;
            var spec = new NetworkSpec(cell, i, h, layers, OutputSize: 1, Output: OutputMode.LastHidden);
            var forward = ForwardOf(spec, b, t, threads);
            var calls = b == 1
                ? new[] { ("forward ×100", (Action)(() => { for (int k = 0; k < 100; k++) forward(); })) } // ~0.1 ms a pass: 100 per sample
                : new[] { ("forward", forward), ("train step", StepOf(spec, b, t, threads)) };
            foreach (var (kind, body) in calls)
            {
                var results = modeNames.Select(_ => new List<(double, double)>()).ToArray();
                for (int r = 0; r < 3; r++) { setMode(r % modeNames.Length); body(); }
                for (int sample = 0; sample < samples; sample++)
                {
                    for (int j = 0; j < modeNames.Length; j++)
                    {
                        int m = (j + sample) % modeNames.Length; // each sample starts with the next mode: none always runs first
                        setMode(m);
                        results[m].Add(Measure(body, 1));
                    }
                }

                double Median(List<(double, double)> x, bool cpu) { var v = x.Select(e => cpu ? e.Item1 : e.Item2).OrderBy(e => e).ToArray(); return v[v.Length / 2]; }
                double[] c = results.Select(x => Median(x, true)).ToArray(), w = results.Select(x => Median(x, false)).ToArray();
                var line = new System.Text.StringBuilder($"{name + " " + kind,-38}");
                foreach (var v in c) line.Append($" {v,10:F2}");
                foreach (var v in c.Skip(1)) line.Append($" {c[0] / v,10:F3}×");
                foreach (var v in w) line.Append($" {v,10:F2}");
                foreach (var v in w.Skip(1)) line.Append($" {w[0] / v,10:F3}×");
                Console.WriteLine(line);
            }
        }
    }

    /// <summary>An inference forward pass of the throughput runner's kind on random data (fixed seed).</summary>
    internal static Action ForwardOf(NetworkSpec spec, int batch, int length, int threads = 2, int minLength = 0)
    {
        var (network, data, _) = Problem(spec, batch, length, threads, minLength);
        return () => network.Forward(data, training: false);
    }

    /// <summary>
    /// A network over initialized parameters (seed 7) and a batch of random sequences with one target each: all of
    /// <paramref name="length"/> steps, or (<paramref name="minLength"/> &gt; 0) lengths spread evenly over
    /// [minLength, length], so that the rows still running change from step to step as in real data.
    /// </summary>
    private static (RecurrentNetwork Network, SequenceBatch Data, ParameterLayout Layout) Problem(NetworkSpec spec, int batch, int length, int threads, int minLength = 0)
    {
        var layout = new ParameterLayout(spec);
        var parameters = new float[layout.Count];
        Initializer.Initialize(layout, parameters, 7);
        var network = new RecurrentNetwork(layout, parameters, new float[layout.Count], batch, length) { Threads = threads };
        var data = new SequenceBatch(batch, length, spec.InputSize, targetWidth: 1);
        var rng = new Random(7);
        int LengthOf(int r) => minLength <= 0 || batch == 1 ? length : minLength + (int)((long)(length - minLength) * r / (batch - 1));
        var sequences = Enumerable.Range(0, batch).Select(r => Enumerable.Range(0, LengthOf(r) * spec.InputSize).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray()).ToArray();
        var targets = Enumerable.Range(0, batch).Select(_ => new[] { (float)(rng.NextDouble() * 2 - 1) }).ToArray();
        data.Fill(batch, r => sequences[r], r => targets[r], perStepTargets: false);
        return (network, data, layout);
    }

    /// <summary>A training step of the throughput runner's kind on random data (fixed seed).</summary>
    internal static Action StepOf(NetworkSpec spec, int batch, int length, int threads = 2, int minLength = 0)
    {
        var (network, data, layout) = Problem(spec, batch, length, threads, minLength);
        var parameters = network.Parameters;
        var dOut = new float[batch];
        var optimizer = Optimizer.Create(OptimizerKind.Adam, layout.Count, new OptimizerSettings());
        return () =>
        {
            Array.Clear(network.Gradients);
            var y = network.Forward(data, training: true);
            Loss.Compute(LossKind.MeanSquaredError, y, data, OutputMode.LastHidden, 1, dOut);
            network.Backward(dOut.AsSpan(0, y.Length));
            optimizer.Step(parameters, network.Gradients, 1e-3f);
        };
    }

    /// <summary>Median CPU and wall milliseconds of one call of <paramref name="body"/> over <paramref name="samples"/> samples (after a warm-up).</summary>
    internal static (double CpuMs, double WallMs) Measure(Action body, int samples)
    {
        for (int i = 0; i < 3; i++) body();
        var process = Process.GetCurrentProcess();
        var cpu = new double[samples];
        var wall = new double[samples];
        var sw = new Stopwatch();
        for (int s = 0; s < samples; s++)
        {
            process.Refresh();
            var c0 = process.TotalProcessorTime;
            sw.Restart();
            for (int r = 0; r < 3; r++) body();
            wall[s] = sw.Elapsed.TotalMilliseconds / 3;
            process.Refresh();
            cpu[s] = (process.TotalProcessorTime - c0).TotalMilliseconds / 3;
        }

        Array.Sort(cpu);
        Array.Sort(wall);
        return (cpu[samples / 2], wall[samples / 2]);
    }
}

