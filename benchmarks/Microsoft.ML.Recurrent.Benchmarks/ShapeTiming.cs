using System.Globalization;
using Microsoft.ML.Recurrent.Engine;

namespace Microsoft.ML.Recurrent.Benchmarks;

/// <summary>
/// Inference forward passes and training steps (zero grads, forward, MSE, backward, Adam; 2 threads) of one network
/// shape given on the command line, on random data with a fixed seed: medians of CPU ms and wall ms per call. For shapes
/// the throughput runner's five configurations do not cover (hidden sizes that are not multiples of 32, for instance);
/// compare builds by running it on each, interleaved.
/// </summary>
public static class ShapeTiming
{
    public const string Usage = "shape [--cell Lstm|Gru|SimpleRnn] [--hidden 100] [--batch 64] [--length 50] [--input 32] [--layers 1] [--samples 11]";

    public static int Run(string[] args)
    {
        var cell = CellKind.Lstm;
        int hidden = 100, batch = 64, length = 50, input = 32, layers = 1, samples = 11;
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
                case "--input": input = Int(); break;
                case "--layers": layers = Int(); break;
                case "--samples": samples = Int(); break;
                default: throw new ArgumentException($"unknown option {args[i]}. usage: {Usage}");
            }
        }

        var spec = new NetworkSpec(cell, input, hidden, layers, OutputSize: 1, Output: OutputMode.LastHidden);
        var forward = KernelBreakdown.ForwardOf(spec, batch, length);
        var step = KernelBreakdown.StepOf(spec, batch, length);
        // Warm-up: a second of both, so that every method the passes use has left the JIT's early tiers.
        var warm = System.Diagnostics.Stopwatch.StartNew();
        while (warm.Elapsed.TotalSeconds < 1) { forward(); step(); }
        var (fc, fw) = KernelBreakdown.Measure(forward, samples);
        var (sc, swl) = KernelBreakdown.Measure(step, samples);
        Console.WriteLine($"{cell} B={batch} T={length} I={input} H={hidden} L={layers}: forward {fw:F3} ms wall, {fc:F3} ms CPU; training step {swl:F3} ms wall, {sc:F3} ms CPU");
        return 0;
    }
}
