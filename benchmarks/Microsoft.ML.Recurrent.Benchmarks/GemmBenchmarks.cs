using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using BenchmarkDotNet.Attributes;
using Microsoft.ML.Recurrent.Engine.Kernels;

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
    public static void Run(string? filter, string? isa)
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
