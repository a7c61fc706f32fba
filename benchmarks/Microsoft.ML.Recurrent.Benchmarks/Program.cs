using BenchmarkDotNet.Running;

namespace Microsoft.ML.Recurrent.Benchmarks;

/// <summary>
/// Entry point: the first argument names a verb, the rest go to it (see <see cref="Usage"/> and the README's sections).
/// <c>throughput</c> training/inference sequences per second against the measured peak; <c>compare</c> interleaved runs
/// beside benchmarks/LibTorchBaseline; <c>mlnet</c> Fit and prediction through ML.NET beside the engine alone;
/// <c>serving-route</c> the multiclass serving chain against the ONNX-adapter route it replaced; <c>bdn</c> the
/// BenchmarkDotNet suite; <c>gemm-gflops</c> GEMM shapes against peak; <c>streaming</c> streaming training's memory and
/// throughput; <c>forecasting</c> the forecaster (Fit, backtest through Transform, engine Predict); <c>tagging</c>
/// per-step outputs against many-to-one (tokens/s); <c>seq2seq</c> encoder–decoder training and decoding; <c>precision</c>
/// batch-1 serving latency in float32, bf16 and int8.
/// </summary>
public static class Program
{
    private const string Usage =
        "usage: Microsoft.ML.Recurrent.Benchmarks throughput [--json FILE] [--repeats N] [--configs 1,3] [--threads N] [--peak GFLOPS] [--min-time S] [--libtorch-json FILE] [--no-ort]\n" +
        "       Microsoft.ML.Recurrent.Benchmarks compare --ours FILE... --libtorch FILE... [--markdown]\n" +
        "       Microsoft.ML.Recurrent.Benchmarks mlnet [--repeats N] [--rows N] [--pe-rows N] [--only fit|predict] [--threads N]\n" +
        "       Microsoft.ML.Recurrent.Benchmarks serving-route [repeats]\n" +
        "       Microsoft.ML.Recurrent.Benchmarks kernel-breakdown [--samples N]\n" +
        "       Microsoft.ML.Recurrent.Benchmarks " + ShapeTiming.Usage + "\n" +
        "       Microsoft.ML.Recurrent.Benchmarks " + MatVecProbe.Usage + "\n" +
        "       Microsoft.ML.Recurrent.Benchmarks " + HandoverProbe.Usage + "\n" +
        "       Microsoft.ML.Recurrent.Benchmarks " + RowProductProbe.Usage + "\n" +
        "       Microsoft.ML.Recurrent.Benchmarks row-chunks [samples] [threads] [configs]\n" +
        "       Microsoft.ML.Recurrent.Benchmarks bdn [BenchmarkDotNet args, e.g. --filter *Gemm*]\n" +
        "       Microsoft.ML.Recurrent.Benchmarks gemm-gflops [shape filter] [--isa Vector512|Vector256|Vector128|Scalar] [--ab-pack-a PANELS]\n" +
        "       Microsoft.ML.Recurrent.Benchmarks streaming run --file PATH --rows N [--epochs E] [--hidden H] [--modes memory,stream,auto,cache,cache-memory]\n" +
        "       Microsoft.ML.Recurrent.Benchmarks forecasting [--repeats N] [--steps N] [--calls N] [--only fit|backtest|engine|stationarization] [--threads N]\n" +
        "       Microsoft.ML.Recurrent.Benchmarks tagging [--hidden 128] [--batch 64] [--length 50] [--input 32] [--classes 9] [--repeats 5] [--min-time 1]\n" +
        "       Microsoft.ML.Recurrent.Benchmarks seq2seq [--repeats N] [--threads N] [--hidden H] [--batch B] [--source T] [--target T] [--attention Additive|Dot|None]\n" +
        "       Microsoft.ML.Recurrent.Benchmarks precision [--rounds 7] [--min-time 0.05] [--only SHAPE] [--kernels H]";

    /// <summary>Every verb and what runs it (the arguments after the verb).</summary>
    private static readonly Dictionary<string, Func<string[], int>> Verbs = new(StringComparer.Ordinal)
    {
        ["throughput"] = ThroughputRunner.Run,
        ["compare"] = CompareRunner.Run,
        ["mlnet"] = MlNetThroughput.Run,
        ["serving-route"] = ServingRouteBenchmark.Run,
        ["streaming"] = StreamingBenchmark.Run,
        ["tagging"] = TaggingBenchmark.Run,
        ["forecasting"] = ForecastingBenchmark.Run,
        ["seq2seq"] = Seq2SeqThroughput.Run,
        ["precision"] = ServingPrecisionBenchmark.Run,
        ["bdn"] = rest =>
        {
            BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(rest);
            return 0;
        },
        ["kernel-breakdown"] = KernelBreakdown.Run,
        ["shape"] = ShapeTiming.Run,
        ["matvec"] = MatVecProbe.Run,
        ["handover"] = HandoverProbe.Run,
        ["rowproduct"] = RowProductProbe.Run,
        ["row-chunks"] = KernelBreakdown.RowChunks,
        ["gemm-gflops"] = rest =>
        {
            int isaAt = Array.IndexOf(rest, "--isa"), abAt = Array.IndexOf(rest, "--ab-pack-a");
            string? isa = isaAt >= 0 && isaAt + 1 < rest.Length ? rest[isaAt + 1] : null;
            int? abPackA = abAt >= 0 && abAt + 1 < rest.Length ? int.Parse(rest[abAt + 1], System.Globalization.CultureInfo.InvariantCulture) : null;
            string? filter = rest.Length > 0 && !rest[0].StartsWith("--", StringComparison.Ordinal) ? rest[0] : null;
            GemmGflops.Run(filter, isa, abPackA);
            return 0;
        },
    };

    public static int Main(string[] args)
    {
        if (args.Length > 0 && Verbs.TryGetValue(args[0], out var run))
        {
            return run(args[1..]);
        }

        Console.WriteLine(Usage);
        return args.Length == 0 ? 0 : 2;
    }
}
