using BenchmarkDotNet.Running;

// "throughput …" runs the throughput runner; anything else goes to BenchmarkDotNet (e.g. --filter *GateKernel*).
class P
{
    static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "throughput") return Microsoft.ML.Recurrent.Benchmarks.ThroughputRunner.Run(args[1..]);
        BenchmarkSwitcher.FromAssembly(typeof(P).Assembly).Run(args);
        return 0;
    }
}
