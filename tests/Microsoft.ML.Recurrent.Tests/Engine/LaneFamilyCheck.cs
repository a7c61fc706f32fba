using System.Text;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Kernels;
using Microsoft.ML.Recurrent.Tests.Helpers;

namespace Microsoft.ML.Recurrent.Tests.Engine;

/// <summary>
/// The checks that must hold on any machine for the lane family it runs (<see cref="Lanes.UseFma"/>): the row product is
/// exactly that family's chain, a small LSTM matches the double reference (forward) and its finite differences
/// (backward), and every vector width gives the same bits as the scalar path. Run in process by <see cref="LaneTests"/>
/// and, in a child process started with FMA disabled, by <see cref="Program"/> (<c>lane-check</c>). Throws on failure.
/// </summary>
internal static class LaneFamilyCheck
{
    private static readonly int[] Widths = [0, 128, 256, 512];

    /// <summary>Runs every check; returns a one-line report (family, hardware, GEMM path).</summary>
    public static string Run()
    {
        var report = new StringBuilder();
        report.Append($"family={Lanes.Family} hardwareFma={Lanes.HardwareFma} widest={Lanes.WidestAccelerated} gemm={Gemm.HardwareIsa}");
        RowProductIsTheFamilyChain();
        LstmMatchesReference();
        foreach (var cell in new[] { CellKind.Lstm, CellKind.Gru, CellKind.SimpleRnn })
            EveryWidthGivesTheScalarBits(cell);
        return report.ToString();
    }

    /// <summary>s = fma(a, b, s) in the family's rounding, over p in order: what <see cref="RowProduct"/> must give at every width.</summary>
    private static void RowProductIsTheFamilyChain()
    {
        const int M = 11, N = 2 * 4 * 16 + 16 + 3, K = 37; // 8 + 3 rows: the 8 × 2 tiles and the 4 × 4 ones
        var rng = new Random(3);
        var a = Enumerable.Range(0, M * K).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var b = Enumerable.Range(0, K * N).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var expected = new float[M * N];
        int differs = 0;
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
            {
                float s = 0f, fused = 0f;
                for (int p = 0; p < K; p++)
                {
                    s = Lanes.UseFma ? MathF.FusedMultiplyAdd(a[i * K + p], b[p * N + j], s) : a[i * K + p] * b[p * N + j] + s;
                    fused = MathF.FusedMultiplyAdd(a[i * K + p], b[p * N + j], fused);
                }

                expected[i * N + j] = s;
                if (BitConverter.SingleToInt32Bits(s) != BitConverter.SingleToInt32Bits(fused)) differs++;
            }

        if (!Lanes.UseFma && differs == 0) throw new InvalidOperationException("the data do not tell the two families apart");
        int saved = Lanes.MaxVectorWidth;
        try
        {
            foreach (int width in Widths)
            {
                Lanes.MaxVectorWidth = width;
                foreach (int m in new[] { 1, M })
                {
                    var c = new float[m * N];
                    RowProduct.Multiply(m, N, K, a, K, b, N, c, N, accumulate: false);
                    for (int e = 0; e < c.Length; e++)
                    {
                        if (BitConverter.SingleToInt32Bits(c[e]) != BitConverter.SingleToInt32Bits(expected[e]))
                            throw new InvalidOperationException($"RowProduct ({Lanes.Family}, width {width}, m = {m}) element {e}: {c[e]:R}, the chain gives {expected[e]:R}");
                    }
                }
            }
        }
        finally
        {
            Lanes.MaxVectorWidth = saved;
        }
    }

    private static void LstmMatchesReference()
    {
        // Forward: a layer wide enough for every lane width (4H = 148 gates per row), mixed lengths.
        var wide = RandomProblem.Create(new NetworkSpec(CellKind.Lstm, 5, 37, 1, true, OutputSize: 2, Output: OutputMode.LastHidden),
            LossKind.MeanSquaredError, [4, 6, 3], 17, initialState: true);
        var engine = RunOnOneThread(wide);
        var reference = wide.Sequences.Select((s, i) => ReferenceNetwork.Run(wide.Spec, wide.ParametersD, s, wide.H0?[i], wide.C0?[i])).ToArray();
        GradientAssert.Close("outputs", engine.Outputs, reference.Select(r => r.Outputs).ToArray(), 0, 1e-5);
        GradientAssert.Close("final cell", engine.FinalCell!, reference.Select(r => r.FinalCell).ToArray(), 0, 1e-5);

        // Backward: every parameter against central differences of the reference (a small layer, so it stays quick).
        var small = RandomProblem.Create(new NetworkSpec(CellKind.Lstm, 3, 4, 2, false, OutputSize: 2, Output: OutputMode.EveryStep),
            LossKind.MeanSquaredError, [3, 5, 1], 23, initialState: true);
        var gradients = RunOnOneThread(small).ParameterGradients;
        var numeric = FiniteDifference.ParameterGradient(small.Spec, small.ParametersD, small.Sequences, small.Targets, small.Loss, small.H0, small.C0);
        GradientAssert.Close("parameter gradients", gradients, numeric, 2e-4, 5e-6, i => $"parameter {i}");
    }

    private static void EveryWidthGivesTheScalarBits(CellKind cell)
    {
        var problem = RandomProblem.Create(new NetworkSpec(cell, 5, 37, 2, true, OutputSize: 2, Output: OutputMode.EveryStep),
            LossKind.MeanSquaredError, [4, 6, 3], 29, initialState: true);
        int saved = Lanes.MaxVectorWidth;
        try
        {
            Lanes.MaxVectorWidth = 0;
            var scalar = Bits(RunOnOneThread(problem));
            foreach (int width in Widths.Skip(1))
            {
                Lanes.MaxVectorWidth = width;
                var bits = Bits(RunOnOneThread(problem));
                int at = Enumerable.Range(0, bits.Length).FirstOrDefault(i => bits[i] != scalar[i], -1);
                if (bits.Length != scalar.Length || at >= 0)
                    throw new InvalidOperationException($"{cell}, {Lanes.Family} lanes: width {width} differs from the scalar path at value {at}");
            }
        }
        finally
        {
            Lanes.MaxVectorWidth = saved;
        }
    }

    /// <summary>
    /// Forward, loss and backward on the calling thread only: the width and family overrides are per thread, and the
    /// worker pool's threads would run with the machine's defaults.
    /// </summary>
    private static EngineResult RunOnOneThread(RandomProblem p)
    {
        int maxLength = p.Sequences.Max(s => s.Length / p.Spec.InputSize);
        var network = new RecurrentNetwork(new ParameterLayout(p.Spec), (float[])p.Parameters.Clone(), new float[p.Parameters.Length], p.Sequences.Length, maxLength)
        {
            Threads = 1,
        };
        return EngineHarness.Run(network, p.Sequences, p.Targets, p.Loss, p.H0, p.C0);
    }

    /// <summary>Outputs, final states and parameter gradients as float bit patterns (the engine's values are floats).</summary>
    private static int[] Bits(EngineResult r) =>
        r.Outputs.SelectMany(x => x).Concat(r.FinalHidden.SelectMany(x => x)).Concat(r.ParameterGradients)
            .Select(v => BitConverter.SingleToInt32Bits((float)v)).ToArray();
}
