using System.Numerics.Tensors;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Microsoft.ML.Recurrent.Engine.Cells;
using Microsoft.ML.Recurrent.Engine.Kernels;

namespace Microsoft.ML.Recurrent.Benchmarks;

/// <summary>
/// One time step's element-wise pass: the fused cells (<see cref="LstmCell"/>, <see cref="GruCell"/>, <see cref="RnnCell"/>) against the per-row
/// <c>TensorPrimitives</c> loops the layer used before them (copied below as the baselines).
/// Every invocation first restores the buffers the pass overwrites in place (gates, dc, dh) from a pristine
/// copy, in the baseline and the fused method alike, so both always see the same data (and the decaying
/// dh·z carry never turns subnormal in the baseline).
/// Run: dotnet run -c Release --project benchmarks/Microsoft.ML.Recurrent.Benchmarks -- --filter *GateKernel*
/// </summary>
[ShortRunJob]
[MemoryDiagnoser(false)]
[MedianColumn]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class GateKernelBenchmarks
{
    [Params(1, 64)]
    public int B { get; set; }

    [Params(128, 256)]
    public int H { get; set; }

    private float[] _pre4 = [], _pre3 = [], _gates4 = [], _gates3 = [], _gh = [], _act4 = [], _act3 = [];
    private float[] _stateA = [], _stateB = [], _outA = [], _outB = [], _outC = [];
    private float[] _carry = [], _carryInit = [], _d4 = [], _d3 = [], _d3b = [];

    [GlobalSetup]
    public void Setup()
    {
        var rnd = new Random(42);
        float[] R(int n, float lo, float hi) => Enumerable.Range(0, n).Select(_ => (float)(lo + (hi - lo) * rnd.NextDouble())).ToArray();
        int n = B * H;
        _pre4 = R(4 * n, -3, 3); _pre3 = R(3 * n, -3, 3); _gh = R(3 * n, -3, 3);
        _gates4 = (float[])_pre4.Clone(); _gates3 = (float[])_pre3.Clone();
        _act4 = R(4 * n, 0.05f, 0.95f); _act3 = R(3 * n, 0.05f, 0.95f);
        _stateA = R(n, -2, 2); _stateB = R(n, -0.99f, 0.99f);
        _outA = new float[n]; _outB = new float[n]; _outC = new float[n];
        _carryInit = R(n, -1, 1); _carry = new float[n];
        _d4 = new float[4 * n]; _d3 = new float[3 * n]; _d3b = new float[3 * n];
    }

    // ---- LSTM forward ----

    [Benchmark(Baseline = true), BenchmarkCategory("LstmForward")]
    public void LstmForwardRows()
    {
        _pre4.CopyTo(_gates4);
        int H = this.H, GH = 4 * H;
        Span<float> g = _gates4, cCur = _outA, tanhC = _outB, hCur = _outC;
        ReadOnlySpan<float> cPrev = _stateA;
        for (int r = 0; r < B; r++)
        {
            var row = g.Slice(r * GH, GH);
            TensorPrimitives.Sigmoid(row.Slice(0, 2 * H), row.Slice(0, 2 * H));
            TensorPrimitives.Tanh(row.Slice(2 * H, H), row.Slice(2 * H, H));
            TensorPrimitives.Sigmoid(row.Slice(3 * H, H), row.Slice(3 * H, H));
            var c = cCur.Slice(r * H, H);
            TensorPrimitives.Multiply(row.Slice(H, H), cPrev.Slice(r * H, H), c);
            TensorPrimitives.FusedMultiplyAdd(row.Slice(0, H), row.Slice(2 * H, H), c, c);
            var tc = tanhC.Slice(r * H, H);
            TensorPrimitives.Tanh(c, tc);
            TensorPrimitives.Multiply(row.Slice(3 * H, H), tc, hCur.Slice(r * H, H));
        }
    }

    [Benchmark, BenchmarkCategory("LstmForward")]
    public void LstmForwardFused()
    {
        _pre4.CopyTo(_gates4);
        LstmCell.Forward(_gates4, _stateA, _outA, _outB, _outC, B, H);
    }

    // ---- GRU forward ----

    [Benchmark(Baseline = true), BenchmarkCategory("GruForward")]
    public void GruForwardRows()
    {
        _pre3.CopyTo(_gates3);
        int H = this.H, GH = 3 * H;
        Span<float> g = _gates3, ghN = _outA, hCur = _outB;
        ReadOnlySpan<float> gh = _gh, hPrev = _stateA;
        for (int r = 0; r < B; r++)
        {
            var row = g.Slice(r * GH, GH);
            var ghRow = gh.Slice(r * GH, GH);
            TensorPrimitives.Add(row.Slice(0, 2 * H), ghRow.Slice(0, 2 * H), row.Slice(0, 2 * H));
            TensorPrimitives.Sigmoid(row.Slice(0, 2 * H), row.Slice(0, 2 * H));
            var n = row.Slice(2 * H, H);
            var hn = ghN.Slice(r * H, H);
            ghRow.Slice(2 * H, H).CopyTo(hn);
            TensorPrimitives.FusedMultiplyAdd(row.Slice(0, H), hn, n, n);
            TensorPrimitives.Tanh(n, n);
            var h = hCur.Slice(r * H, H);
            TensorPrimitives.Subtract(hPrev.Slice(r * H, H), n, h);
            TensorPrimitives.FusedMultiplyAdd(row.Slice(H, H), h, n, h);
        }
    }

    [Benchmark, BenchmarkCategory("GruForward")]
    public void GruForwardFused()
    {
        _pre3.CopyTo(_gates3);
        GruCell.Forward(_gates3, _gh, _stateA, _outA, _outB, B, H);
    }

    // ---- RNN forward ----

    [Benchmark(Baseline = true), BenchmarkCategory("RnnForward")]
    public void RnnForwardRows() => TensorPrimitives.Tanh(_pre4.AsSpan(0, B * H), _outA);

    [Benchmark, BenchmarkCategory("RnnForward")]
    public void RnnForwardFused() => RnnCell.Forward(_pre4.AsSpan(0, B * H), _outA, B * H);

    // ---- LSTM backward ----

    [Benchmark(Baseline = true), BenchmarkCategory("LstmBackward")]
    public void LstmBackwardRows()
    {
        _carryInit.CopyTo(_carry);
        int H = this.H, GH = 4 * H;
        for (int r = 0; r < B; r++)
            LstmBackwardRow(_act4.AsSpan(r * GH, GH), _stateA.AsSpan(r * H, H), _stateB.AsSpan(r * H, H),
                _carryInit.AsSpan(r * H, H), _carry.AsSpan(r * H, H), _d4.AsSpan(r * GH, GH));
    }

    [Benchmark, BenchmarkCategory("LstmBackward")]
    public void LstmBackwardFused()
    {
        _carryInit.CopyTo(_carry);
        LstmCell.Backward(_act4, _stateA, _stateB, _carryInit, _carry, _d4, B, H);
    }

    private static void LstmBackwardRow(ReadOnlySpan<float> act, ReadOnlySpan<float> cPrev, ReadOnlySpan<float> tanhC,
        ReadOnlySpan<float> dh, Span<float> dc, Span<float> dPre)
    {
        int H = dh.Length;
        for (int j = 0; j < H; j++)
        {
            float i = act[j], f = act[H + j], g = act[2 * H + j], o = act[3 * H + j], tc = tanhC[j];
            float dhj = dh[j];
            float dcj = dc[j] + dhj * o * (1f - tc * tc);
            dPre[j] = dcj * g * i * (1f - i);
            dPre[H + j] = dcj * cPrev[j] * f * (1f - f);
            dPre[2 * H + j] = dcj * i * (1f - g * g);
            dPre[3 * H + j] = dhj * tc * o * (1f - o);
            dc[j] = dcj * f;
        }
    }

    // ---- GRU backward ----

    [Benchmark(Baseline = true), BenchmarkCategory("GruBackward")]
    public void GruBackwardRows()
    {
        _carryInit.CopyTo(_carry);
        int H = this.H, GH = 3 * H;
        for (int r = 0; r < B; r++)
            GruBackwardRow(_act3.AsSpan(r * GH, GH), _stateA.AsSpan(r * H, H), _stateB.AsSpan(r * H, H),
                _carry.AsSpan(r * H, H), _d3.AsSpan(r * GH, GH), _d3b.AsSpan(r * GH, GH));
    }

    [Benchmark, BenchmarkCategory("GruBackward")]
    public void GruBackwardFused()
    {
        _carryInit.CopyTo(_carry);
        GruCell.Backward(_act3, _stateA, _stateB, _carry, _d3, _d3b, B, H);
    }

    private static void GruBackwardRow(ReadOnlySpan<float> act, ReadOnlySpan<float> hn, ReadOnlySpan<float> hPrev,
        Span<float> dh, Span<float> dGx, Span<float> dGh)
    {
        int H = dh.Length;
        for (int j = 0; j < H; j++)
        {
            float r = act[j], z = act[H + j], n = act[2 * H + j], dhj = dh[j];
            float dn = dhj * (1f - z) * (1f - n * n);
            float dz = dhj * (hPrev[j] - n) * z * (1f - z);
            float dr = dn * hn[j] * r * (1f - r);
            dGx[j] = dr; dGx[H + j] = dz; dGx[2 * H + j] = dn;
            dGh[j] = dr; dGh[H + j] = dz; dGh[2 * H + j] = dn * r;
            dh[j] = dhj * z;
        }
    }

    // ---- RNN backward ----

    [Benchmark(Baseline = true), BenchmarkCategory("RnnBackward")]
    public void RnnBackwardRows()
    {
        int n = B * H;
        var h = _stateB.AsSpan(0, n);
        var d = _d4.AsSpan(0, n);
        TensorPrimitives.Multiply(h, h, d);
        TensorPrimitives.Subtract(1f, d, d);
        TensorPrimitives.Multiply(d, _carryInit.AsSpan(0, n), d);
    }

    [Benchmark, BenchmarkCategory("RnnBackward")]
    public void RnnBackwardFused() => RnnCell.Backward(_stateB, _carryInit, _d4.AsSpan(0, B * H), B * H);
}
