using System.Diagnostics;
using System.Runtime.Intrinsics;
using Microsoft.ML.Recurrent.Engine.Kernels;

namespace Microsoft.ML.Recurrent.Tests.Engine;

/// <summary>
/// The engine's lane abstraction (<see cref="Lanes"/>): both lane families (fused multiply–add, and multiply then add for
/// machines without FMA) at every width and length, the row product and the Vector128 GEMM on each family, the whole
/// network per family, and a child process started with FMA disabled that must choose the unfused family by itself.
/// </summary>
public class LaneTests
{
    private static readonly int[] Widths = [0, 128, 256, 512];

    /// <summary>r[i] = Fma(a[i], b[i], c[i]) and s[i] = Fnma(a[i], b[i], c[i]) through <see cref="Lanes.Run{TBody}"/>.</summary>
    private unsafe struct FmaBody : ILaneBody
    {
        public float* A, B, C, R, S;

        public void At<TV, O>(nuint j) where TV : struct where O : struct, ILanes<TV>
        {
            TV a = O.Load(A + j), b = O.Load(B + j), c = O.Load(C + j);
            O.Store(O.Fma(a, b, c), R + j);
            O.Store(O.Fnma(a, b, c), S + j);
        }
    }

    private static float[] Random(int n, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
    }

    private static T WithLanes<T>(bool fused, int width, Func<T> run)
    {
        bool savedFma = Lanes.UseFma;
        int savedWidth = Lanes.MaxVectorWidth;
        try
        {
            Lanes.UseFma = fused;
            Lanes.MaxVectorWidth = width;
            return run();
        }
        finally
        {
            Lanes.UseFma = savedFma;
            Lanes.MaxVectorWidth = savedWidth;
        }
    }

    [Fact]
    public void VectorRegisters_IsTheMachinesUnlessForced_PerThread_AndOnly16Or32()
    {
        bool avx512 = System.Runtime.Intrinsics.X86.Avx512F.VL.IsSupported, arm = System.Runtime.Intrinsics.Arm.AdvSimd.Arm64.IsSupported;
        Lanes.MachineVectorRegisters.Should().Be(avx512 || arm ? 32 : 16);
        Lanes.VectorRegisters.Should().Be(Lanes.MachineVectorRegisters);
        int forced = Lanes.MachineVectorRegisters == 32 ? 16 : 32, other = 0;
        try
        {
            Lanes.VectorRegisters = forced;
            Lanes.VectorRegisters.Should().Be(forced);
            var thread = new Thread(() => other = Lanes.VectorRegisters);
            thread.Start();
            thread.Join();
            other.Should().Be(Lanes.MachineVectorRegisters, "an override on one thread leaves the others alone");
            Lanes.PairsAt256.Should().Be(forced == 16 && Lanes.UseFma && Lanes.MaxVectorWidth == 256);
            var act = () => Lanes.VectorRegisters = 24;
            act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*16 or 32*");
        }
        finally
        {
            Lanes.VectorRegisters = 0;
        }

        Lanes.VectorRegisters.Should().Be(Lanes.MachineVectorRegisters, "0 restores the machine's count");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public unsafe void Run_EveryWidthAndLength_FmaIsTheFamilysScalarRounding(bool fused)
    {
        int max = 2 * Vector512<float>.Count + 1;
        float[] a = Random(max, 1), b = Random(max, 2), c = Random(max, 3);
        int familiesDiffer = 0;
        foreach (int width in Widths)
        {
            for (int n = 0; n <= max; n++)
            {
                var r = new float[max];
                var s = new float[max];
                Array.Fill(r, float.NaN);
                WithLanes(fused, width, () =>
                {
                    fixed (float* pa = a, pb = b, pc = c, pr = r, ps = s)
                    {
                        var body = new FmaBody { A = pa, B = pb, C = pc, R = pr, S = ps };
                        Lanes.Run(ref body, (nuint)n);
                    }

                    return 0;
                });
                for (int i = 0; i < n; i++)
                {
                    float fma = fused ? MathF.FusedMultiplyAdd(a[i], b[i], c[i]) : a[i] * b[i] + c[i];
                    float fnma = fused ? MathF.FusedMultiplyAdd(-a[i], b[i], c[i]) : c[i] - a[i] * b[i];
                    r[i].Should().Be(fma, $"Fma, {(fused ? "fused" : "unfused")} lanes, width {width}, n = {n}, element {i}");
                    s[i].Should().Be(fnma, $"Fnma, width {width}, n = {n}, element {i}");
                    if (MathF.FusedMultiplyAdd(a[i], b[i], c[i]) != a[i] * b[i] + c[i]) familiesDiffer++;
                }

                for (int i = n; i < max; i++) float.IsNaN(r[i]).Should().BeTrue($"element {i} lies beyond n = {n}");
            }
        }

        familiesDiffer.Should().BeGreaterThan(0, "the inputs must tell one rounding from two");
    }

    /// <summary>r[i] = Min(1, x[i]) and s[i] = Max(−1, x[i]): the argument second, as the activations' clamps take it.</summary>
    private unsafe struct ClampBody : ILaneBody
    {
        public float* X, R, S;

        public void At<TV, O>(nuint j) where TV : struct where O : struct, ILanes<TV>
        {
            TV x = O.Load(X + j);
            O.Store(O.Min(O.Splat(1f), x), R + j);
            O.Store(O.Max(O.Splat(-1f), x), S + j);
        }
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public unsafe void MinMax_NaNAsTheSecondOperand_GivesNaN_EveryWidthAndFamily(bool fused, bool paired)
    {
        // The activations drop their NaN select on this rule (Activations' remarks): a NaN argument must come through the
        // clamps at every width, in both families and in the 256-bit pairs, as compiled in a lane body.
        int n = 2 * Vector512<float>.Count + 7;
        var x = Random(n, 4);
        for (int i = 0; i < n; i += 3) x[i] = float.NaN;
        x[1] = float.PositiveInfinity;
        x[4] = float.NegativeInfinity;
        x[7] = 0.5f;
        foreach (int width in Widths)
        {
            var r = new float[n];
            var s = new float[n];
            WithLanes(fused, width, () =>
            {
                try
                {
                    if (paired) Lanes.VectorRegisters = 16; // RunPaired pairs 256-bit vectors on 16 registers only
                    fixed (float* px = x, pr = r, ps = s)
                    {
                        var body = new ClampBody { X = px, R = pr, S = ps };
                        if (paired) Lanes.RunPaired(ref body, (nuint)n);
                        else Lanes.Run(ref body, (nuint)n);
                    }
                }
                finally
                {
                    Lanes.VectorRegisters = 0;
                }

                return 0;
            });
            for (int i = 0; i < n; i++)
            {
                string where = $"{(fused ? "fused" : "unfused")}{(paired ? " pairs" : "")}, width {width}, element {i} = {x[i]}";
                if (float.IsNaN(x[i]))
                {
                    float.IsNaN(r[i]).Should().BeTrue($"Min(1, NaN) is NaN ({where})");
                    float.IsNaN(s[i]).Should().BeTrue($"Max(−1, NaN) is NaN ({where})");
                }
                else
                {
                    r[i].Should().Be(Math.Min(1f, x[i]), where);
                    s[i].Should().Be(Math.Max(-1f, x[i]), where);
                }
            }
        }
    }

    [Fact]
    public void UseFma_DefaultsToTheHardware_AndIsPerThread()
    {
        Lanes.UseFma.Should().Be(Lanes.HardwareFma);
        Lanes.Family.Should().Be(Lanes.HardwareFma ? "fused" : "unfused");
        bool other = true;
        WithLanes(!Lanes.HardwareFma, Lanes.MaxVectorWidth, () =>
        {
            var thread = new Thread(() => other = Lanes.UseFma);
            thread.Start();
            thread.Join();
            return Lanes.UseFma.Should().Be(!Lanes.HardwareFma);
        });
        other.Should().Be(Lanes.HardwareFma, "an override on one thread leaves the others alone");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Gemm_Vector128_EachElementIsTheFamilysChain(bool fused)
    {
        // k below one cache block, alpha = 1, beta = 0: each C element is one chain over p in order.
        foreach (var (m, n, k, transB) in new[] { (1, 37, 20, false), (13, 21, 19, false), (9, 35, 17, true) })
        {
            float[] a = Random(m * k, m), b = Random(k * n, n);
            var expected = new float[m * n];
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    float s = 0f;
                    for (int p = 0; p < k; p++)
                    {
                        float bv = transB ? b[j * k + p] : b[p * n + j];
                        s = fused ? MathF.FusedMultiplyAdd(a[i * k + p], bv, s) : a[i * k + p] * bv + s;
                    }

                    expected[i * n + j] = s;
                }

            var c = new float[m * n];
            var saved = Gemm.MaxIsa;
            try
            {
                Gemm.MaxIsa = GemmIsa.Vector128;
                WithLanes(fused, Lanes.MaxVectorWidth, () =>
                {
                    Gemm.Multiply(false, transB, m, n, k, 1f, a, k, b, transB ? k : n, 0f, c, n, threads: 1);
                    return 0;
                });
            }
            finally
            {
                Gemm.MaxIsa = saved;
            }

            c.Should().Equal(expected, $"m = {m}, n = {n}, k = {k}, transB = {transB}");
        }
    }

    [Fact]
    public void HardwareFamily_LaneCheckPasses()
    {
        LaneFamilyCheck.Run().Should().StartWith($"family={Lanes.Family}");
    }

    [Fact]
    public void UnfusedFamily_ForcedOnThisThread_LaneCheckPasses()
    {
        WithLanes(false, Lanes.MaxVectorWidth, LaneFamilyCheck.Run).Should().StartWith("family=unfused");
    }

    [Fact]
    public async Task ChildProcessWithoutFma_ChoosesTheUnfusedLanes_AndPassesTheLaneCheck()
    {
        var start = new ProcessStartInfo(DotNetHost)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(typeof(LaneTests).Assembly.Location);
        start.ArgumentList.Add("lane-check");
        // .NET 10 groups FMA with AVX2 (DOTNET_EnableFMA alone no longer has an effect); both are set.
        start.Environment["DOTNET_EnableFMA"] = "0";
        start.Environment["DOTNET_EnableAVX2"] = "0";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("The lane-check child process did not finish within 2 minutes.");
        }

        string report = await stdout, errors = await stderr;
        process.ExitCode.Should().Be(0, $"the child must pass the lane check; stderr: {errors}");
        report.Should().Contain("family=unfused").And.Contain("hardwareFma=False").And.Contain("gemm=Vector128")
            .And.Contain("lane-check passed");
    }

    private static string DotNetHost
    {
        get
        {
            string? host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
            if (!string.IsNullOrEmpty(host) && File.Exists(host)) return host;
            string? self = Environment.ProcessPath;
            return self is not null && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self : "dotnet";
        }
    }
}
