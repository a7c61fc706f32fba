using BenchmarkDotNet.Running;

namespace Microsoft.ML.Recurrent.Benchmarks;

/// <summary>
/// Entry point. <c>throughput [options]</c> runs the throughput runner (training/inference sequences per second);
/// <c>compare</c> puts interleaved runs of the throughput runner and of benchmarks/LibTorchBaseline side by side;
/// <c>mlnet [options]</c> measures Fit and prediction through ML.NET beside the engine alone;
/// <c>serving-route [repeats]</c> compares the multiclass serving chain with the ONNX-adapter route it replaced;
/// <c>bdn [BenchmarkDotNet arguments]</c> runs the BenchmarkDotNet suite;
/// <c>gemm-gflops [filter]</c> prints a quick GFLOP/s table for the GEMM shapes;
/// <c>streaming [options]</c> measures streaming training's memory and throughput (issue 13).
/// <c>forecasting [options]</c> measures the recurrent forecaster (Fit, backtest through Transform, engine Predict).
/// <c>tagging [options]</c> measures per-step outputs (tagging, CRF) against many-to-one on the same shape (tokens/s).
/// <c>seq2seq [options]</c> measures encoder–decoder training tokens/s and greedy / beam-4 decoding sequences/s.
/// </summary>
public static class Program
{
    private const string Usage =
        "usage: Microsoft.ML.Recurrent.Benchmarks throughput [--json FILE] [--repeats N] [--configs 1,3] [--threads N] [--peak GFLOPS] [--min-time S] [--libtorch-json FILE]\n" +
        "       Microsoft.ML.Recurrent.Benchmarks compare --ours FILE... --libtorch FILE... [--markdown]\n" +
        "       Microsoft.ML.Recurrent.Benchmarks mlnet [--repeats N] [--rows N] [--pe-rows N] [--only fit|predict] [--threads N]\n" +
        "       Microsoft.ML.Recurrent.Benchmarks serving-route [repeats]\n" +
        "       Microsoft.ML.Recurrent.Benchmarks bdn [BenchmarkDotNet args, e.g. --filter *Gemm*]\n" +
        "       Microsoft.ML.Recurrent.Benchmarks gemm-gflops [shape filter] [--isa Vector512|Vector256|Vector128|Scalar]\n" +
        "       Microsoft.ML.Recurrent.Benchmarks streaming run --file PATH --rows N [--epochs E] [--hidden H] [--modes memory,stream,auto,cache,cache-memory]\n" +
        "       Microsoft.ML.Recurrent.Benchmarks forecasting [--repeats N] [--steps N] [--calls N] [--only fit|backtest|engine|stationarization] [--threads N]\n" +
        "       Microsoft.ML.Recurrent.Benchmarks tagging [--hidden 128] [--batch 64] [--length 50] [--input 32] [--classes 9] [--repeats 5] [--min-time 1]\n" +
        "       Microsoft.ML.Recurrent.Benchmarks seq2seq [--repeats N] [--threads N] [--hidden H] [--batch B] [--source T] [--target T] [--attention Additive|Dot|None]";

    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "throughput")
        {
            return ThroughputRunner.Run(args[1..]);
        }

        if (args.Length > 0 && args[0] == "compare")
        {
            return CompareRunner.Run(args[1..]);
        }

        if (args.Length > 0 && args[0] == "mlnet")
        {
            return MlNetThroughput.Run(args[1..]);
        }

        if (args.Length > 0 && args[0] == "serving-route")
        {
            return ServingRouteBenchmark.Run(args[1..]);
        }

        if (args.Length > 0 && args[0] == "streaming")
        {
            return StreamingBenchmark.Run(args[1..]);
        }

        if (args.Length > 0 && args[0] == "tagging")
        {
            return TaggingBenchmark.Run(args[1..]);
        }

        if (args.Length > 0 && args[0] == "bdn")
        {
            BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args[1..]);
            return 0;
        }

        if (args.Length > 0 && args[0] == "forecasting")
        {
            return ForecastingBenchmark.Run(args[1..]);
        }

        if (args.Length > 0 && args[0] == "seq2seq")
        {
            return Seq2SeqThroughput.Run(args[1..]);
        }

        if (args.Length > 0 && args[0] == "gemm-gflops")
        {
            int isaAt = Array.IndexOf(args, "--isa");
            string? isa = isaAt > 0 && isaAt + 1 < args.Length ? args[isaAt + 1] : null;
            string? filter = args.Length > 1 && args[1] != "--isa" ? args[1] : null;
            GemmGflops.Run(filter, isa);
            return 0;
        }

        Console.WriteLine(Usage);
        return args.Length == 0 ? 0 : 2;
    }
}
