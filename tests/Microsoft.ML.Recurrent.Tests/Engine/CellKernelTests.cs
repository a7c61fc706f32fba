using System.Runtime.Intrinsics;
using System.Text;
using Microsoft.ML.Recurrent.Engine.Cells;
using Microsoft.ML.Recurrent.Engine.Kernels;
using Xunit.Sdk;

namespace Microsoft.ML.Recurrent.Tests.Engine;

/// <summary>
/// The cells' element-wise bodies (<see cref="LstmCell"/>, <see cref="GruCell"/>, <see cref="RnnCell"/>, driven by <see cref="Lanes.Run{TBody}(ref TBody, nuint)"/>) on every path (Vector512 pairs and singles, Vector256, Vector128, scalar) and every row length from 0 to
/// 2·Vector512&lt;float&gt;.Count + 1, against a double-precision reference written from the cell equations.
/// <para>
/// The reference carries, beside each value, the same expression evaluated on magnitudes (sums of absolute
/// terms, products of absolute factors, |f'|·magnitude + |f| through σ and tanh): the standard bound on
/// float rounding error is a few ulp of that magnitude. Allowed error: 1e−6 + 1e−6·magnitude. Where the
/// reference is NaN the kernel must give NaN; where it is ±∞, the same infinity.
/// </para>
/// </summary>
public class CellKernelTests
{
    private const double Tolerance = 1e-6;
    private const float Sentinel = 12345.5f;
    private const int Guard = 3; // sentinel elements after every buffer: the kernels must not write past b·G·H

    private static readonly int MaxLength = 2 * Vector512<float>.Count + 1;

    public static TheoryData<int> Widths => new() { 512, 256, 128, 0 };

    // ---- Reference arithmetic: value and magnitude ----

    private readonly record struct D(double V, double M)
    {
        public static D In(float x) => new(x, Math.Abs((double)x));
        public static implicit operator D(double c) => new(c, Math.Abs(c));
        public static D operator +(D a, D b) => new(a.V + b.V, a.M + b.M);
        public static D operator -(D a, D b) => new(a.V - b.V, a.M + b.M);
        public static D operator *(D a, D b) => new(a.V * b.V, a.M * b.M);
    }

    private static D Flush(D a) => Math.Abs(a.V) < Activations.FlushThreshold ? a with { V = 0 } : a;

    private static D Sig(D a)
    {
        double s = 1 / (1 + Math.Exp(-a.V));
        return Flush(new D(s, (double.IsInfinity(a.V) ? 0 : s * (1 - s) * a.M) + Math.Abs(s)));
    }

    private static D Tanh(D a)
    {
        double t = Math.Tanh(a.V);
        return Flush(new D(t, (double.IsInfinity(a.V) ? 0 : (1 - t * t) * a.M) + Math.Abs(t)));
    }

    // ---- Inputs ----

    private enum Kind { Value, Probability, Signed }

    private static float Draw(Random rnd, Kind kind)
    {
        float U(double lo, double hi) => (float)(lo + (hi - lo) * rnd.NextDouble());
        float Sign() => rnd.Next(2) == 0 ? 1f : -1f;
        int k = rnd.Next(20);
        return kind switch
        {
            Kind.Probability => k switch { 0 => 0f, 1 => 1f, 2 => 1f - 1e-7f, _ => U(0, 1) },
            Kind.Signed => k switch { 0 => 0f, 1 => Sign(), _ => U(-1, 1) },
            _ => k switch
            {
                < 8 => U(-4, 4),
                < 10 => U(-20, 20),
                < 12 => U(-100, 100),
                12 => 0f,
                13 => 20f * Sign(),
                14 => 100f * Sign(),
                15 => 1e-35f * Sign(),   // below the flush threshold
                16 => 1e-39f * Sign(),   // subnormal
                _ => U(-1, 1),
            },
        };
    }

    /// <summary>n values followed by <see cref="Guard"/> sentinels; with specials, about 6% NaN (and ±∞ unless activation).</summary>
    private static float[] Make(Random rnd, int n, Kind kind, bool specials)
    {
        var a = new float[n + Guard];
        for (int i = 0; i < n; i++)
        {
            a[i] = Draw(rnd, kind);
            if (specials && rnd.Next(16) == 0)
                a[i] = kind != Kind.Value ? float.NaN : rnd.Next(3) switch { 0 => float.NaN, 1 => float.PositiveInfinity, _ => float.NegativeInfinity };
        }

        a.AsSpan(n).Fill(Sentinel);
        return a;
    }

    private static float[] Output(int n)
    {
        var a = new float[n + Guard];
        a.AsSpan(0, n).Fill(-777f);
        a.AsSpan(n).Fill(Sentinel);
        return a;
    }

    // ---- Comparison ----

    private sealed class Checker(string context)
    {
        private readonly StringBuilder _sb = new();
        private int _bad;

        /// <summary>Compares one kernel output with the reference; flushed says the kernel promises no |x| in (0, 1e−30).</summary>
        public void Check(string name, int index, float actual, D expected, bool flushed = true)
        {
            string? why = null;
            if (double.IsNaN(expected.V)) { if (!float.IsNaN(actual)) why = "expected NaN"; }
            else if (double.IsInfinity(expected.V)) { if (actual != expected.V) why = "expected " + expected.V; }
            else if (!(Math.Abs(actual - expected.V) <= Tolerance + Tolerance * expected.M)) why = $"allowed {Tolerance + Tolerance * expected.M:G3}";
            else if (flushed && actual != 0 && Math.Abs(actual) < Activations.FlushThreshold) why = "not flushed";
            if (why is null) return;
            if (_bad++ < 10) _sb.AppendLine($"  {name}[{index}]: kernel {actual:G9}, reference {expected.V:G9} ({why})");
        }

        public void Exact(string name, int index, float actual, float expected)
        {
            if (BitConverter.SingleToInt32Bits(actual) == BitConverter.SingleToInt32Bits(expected)) return;
            if (_bad++ < 10) _sb.AppendLine($"  {name}[{index}]: kernel {actual:G9}, expected exactly {expected:G9}");
        }

        public void Guarded(string name, float[] buffer, int n)
        {
            for (int i = n; i < buffer.Length; i++)
                if (buffer[i] != Sentinel && _bad++ < 10) _sb.AppendLine($"  {name}[{i}]: written past the end");
        }

        public void Done()
        {
            if (_bad > 0) throw new XunitException($"{context}: {_bad} mismatches{Environment.NewLine}{_sb}");
        }
    }

    /// <summary>Runs action with the kernels' widest vector forced to width and, unless 0, the register count forced (16: the AVX2 loops).</summary>
    private static void WithWidth(int width, Action action, int registers = 0)
    {
        int saved = Lanes.MaxVectorWidth;
        Lanes.MaxVectorWidth = width;
        Lanes.VectorRegisters = registers;
        try { action(); }
        finally
        {
            Lanes.MaxVectorWidth = saved;
            Lanes.VectorRegisters = 0;
        }
    }

    /// <summary>
    /// Row lengths around <see cref="LstmCell.TwoPassMinUnits"/>, from which the LSTM forward pass runs in two passes:
    /// one less, the threshold itself, and one that ends in every narrower width (4 × 32 + 16 + 8 + 4 + 3 = 159 units).
    /// </summary>
    private static readonly int[] LongLengths = [LstmCell.TwoPassMinUnits - 1, LstmCell.TwoPassMinUnits, 159];

    private static IEnumerable<(int B, int H, bool Specials)> Shapes()
    {
        foreach (bool specials in new[] { false, true })
        {
            foreach (int b in new[] { 1, 3 })
            for (int h = 0; h <= MaxLength; h++)
                yield return (b, h, specials);

            // 9 rows of 159 LSTM units are two groups of rows in the two-pass form (6 rows of 16 KiB of gates, then 3).
            foreach (int b in new[] { 1, 9 })
            foreach (int h in LongLengths)
                yield return (b, h, specials);
        }
    }

    // ---- Forward kernels ----

    [Theory]
    [MemberData(nameof(Widths))]
    public void LstmForward_EveryLength_MatchesDoubleReference(int width)
    {
        // Both register files: with 16 (AVX2) the pass runs one gate block at a time and in pairs of 256-bit vectors.
        foreach (int registers in new[] { 16, 32 })
        foreach (var (b, H, specials) in Shapes())
        {
            var rnd = new Random(1000 + 100 * H + 10 * b + (specials ? 1 : 0));
            int n = b * H, g4 = 4 * n;
            var pre = Make(rnd, g4, Kind.Value, specials);
            var cPrev = Make(rnd, n, Kind.Value, specials);
            var gates = (float[])pre.Clone();
            float[] c = Output(n), tanhC = Output(n), h = Output(n);
            WithWidth(width, () => LstmCell.Forward(gates, cPrev, c, tanhC, h, b, H), registers);

            var chk = new Checker($"width {width}, {registers} registers, b {b}, H {H}, specials {specials}");
            for (int r = 0; r < b; r++)
            for (int j = 0; j < H; j++)
            {
                int gi = r * 4 * H + j, s = r * H + j;
                D i = Sig(D.In(pre[gi])), f = Sig(D.In(pre[gi + H])), g = Tanh(D.In(pre[gi + 2 * H])), o = Sig(D.In(pre[gi + 3 * H]));
                D cc = Flush(f * D.In(cPrev[s]) + i * g);
                D tc = Tanh(cc);
                D hh = Flush(o * tc);
                chk.Check("i", gi, gates[gi], i);
                chk.Check("f", gi + H, gates[gi + H], f);
                chk.Check("g", gi + 2 * H, gates[gi + 2 * H], g);
                chk.Check("o", gi + 3 * H, gates[gi + 3 * H], o);
                chk.Check("c", s, c[s], cc);
                chk.Check("tanhC", s, tanhC[s], tc);
                chk.Check("h", s, h[s], hh);
            }

            chk.Guarded("gates", gates, g4); chk.Guarded("c", c, n); chk.Guarded("tanhC", tanhC, n); chk.Guarded("h", h, n);
            chk.Done();
        }
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void GruForward_EveryLength_MatchesDoubleReference(int width)
    {
        // Both register files: with 16 (AVX2) the pass runs in two, each in pairs of 256-bit vectors.
        foreach (int registers in new[] { 16, 32 })
        foreach (var (b, H, specials) in Shapes())
        {
            var rnd = new Random(2000 + 100 * H + 10 * b + (specials ? 1 : 0));
            int n = b * H, g3 = 3 * n;
            var x = Make(rnd, g3, Kind.Value, specials);
            var gh = Make(rnd, g3, Kind.Value, specials);
            var hPrev = Make(rnd, n, Kind.Value, specials);
            var gates = (float[])x.Clone();
            float[] ghN = Output(n), h = Output(n);
            WithWidth(width, () => GruCell.Forward(gates, gh, hPrev, ghN, h, b, H), registers);

            var chk = new Checker($"width {width}, {registers} registers, b {b}, H {H}, specials {specials}");
            for (int row = 0; row < b; row++)
            for (int j = 0; j < H; j++)
            {
                int gi = row * 3 * H + j, s = row * H + j;
                D r = Sig(D.In(x[gi]) + D.In(gh[gi]));
                D z = Sig(D.In(x[gi + H]) + D.In(gh[gi + H]));
                D nn = Tanh(D.In(x[gi + 2 * H]) + r * D.In(gh[gi + 2 * H]));
                D hh = Flush((1 - z) * nn + z * D.In(hPrev[s]));
                chk.Check("r", gi, gates[gi], r);
                chk.Check("z", gi + H, gates[gi + H], z);
                chk.Check("n", gi + 2 * H, gates[gi + 2 * H], nn);
                chk.Exact("ghN", s, ghN[s], gh[gi + 2 * H]);
                chk.Check("h", s, h[s], hh);
            }

            chk.Guarded("gates", gates, g3); chk.Guarded("ghN", ghN, n); chk.Guarded("h", h, n);
            chk.Done();
        }
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void RnnForward_EveryLength_MatchesDoubleReference(int width)
    {
        foreach (var (b, H, specials) in Shapes())
        {
            var rnd = new Random(3000 + 100 * H + 10 * b + (specials ? 1 : 0));
            int n = b * H;
            var pre = Make(rnd, n, Kind.Value, specials);
            var h = Output(n);
            WithWidth(width, () => RnnCell.Forward(pre.AsSpan(0, n), h, n));

            var chk = new Checker($"width {width}, b {b}, H {H}, specials {specials}");
            for (int i = 0; i < n; i++) chk.Check("h", i, h[i], Tanh(D.In(pre[i])));
            chk.Guarded("h", h, n);
            chk.Done();
        }
    }

    // ---- Backward kernels ----

    [Theory]
    [MemberData(nameof(Widths))]
    public void LstmBackward_EveryLength_MatchesDoubleReference(int width)
    {
        foreach (var (b, H, specials) in Shapes())
        {
            var rnd = new Random(4000 + 100 * H + 10 * b + (specials ? 1 : 0));
            int n = b * H, g4 = 4 * n;
            var act = new float[g4 + Guard];
            for (int r = 0; r < b; r++)
            {
                var gate = Make(rnd, 4 * H, Kind.Probability, specials);
                var gg = Make(rnd, H, Kind.Signed, specials);
                gate.AsSpan(0, 4 * H).CopyTo(act.AsSpan(r * 4 * H));
                gg.AsSpan(0, H).CopyTo(act.AsSpan(r * 4 * H + 2 * H)); // g is a tanh: [−1, 1]
            }

            var cPrev = Make(rnd, n, Kind.Value, specials);
            var tanhC = Make(rnd, n, Kind.Signed, specials);
            var dh = Make(rnd, n, Kind.Value, specials);
            var dcIn = Make(rnd, n, Kind.Value, specials);
            var dc = (float[])dcIn.Clone();
            var dPre = Output(g4);
            WithWidth(width, () => LstmCell.Backward(act.AsSpan(0, g4), cPrev, tanhC, dh, dc, dPre, b, H));

            var chk = new Checker($"width {width}, b {b}, H {H}, specials {specials}");
            for (int r = 0; r < b; r++)
            for (int j = 0; j < H; j++)
            {
                int gi = r * 4 * H + j, s = r * H + j;
                D i = D.In(act[gi]), f = D.In(act[gi + H]), g = D.In(act[gi + 2 * H]), o = D.In(act[gi + 3 * H]);
                D tc = D.In(tanhC[s]), dhj = D.In(dh[s]);
                D dct = D.In(dcIn[s]) + dhj * o * (1 - tc * tc);
                chk.Check("dPre.i", gi, dPre[gi], Flush(dct * g * i * (1 - i)));
                chk.Check("dPre.f", gi + H, dPre[gi + H], Flush(dct * D.In(cPrev[s]) * f * (1 - f)));
                chk.Check("dPre.g", gi + 2 * H, dPre[gi + 2 * H], Flush(dct * i * (1 - g * g)));
                chk.Check("dPre.o", gi + 3 * H, dPre[gi + 3 * H], Flush(dhj * tc * o * (1 - o)));
                chk.Check("dc", s, dc[s], Flush(dct * f));
            }

            chk.Guarded("dPre", dPre, g4); chk.Guarded("dc", dc, n);
            chk.Done();
        }
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void GruBackward_EveryLength_MatchesDoubleReference(int width)
    {
        foreach (var (b, H, specials) in Shapes())
        {
            var rnd = new Random(5000 + 100 * H + 10 * b + (specials ? 1 : 0));
            int n = b * H, g3 = 3 * n;
            var act = new float[g3 + Guard];
            for (int r = 0; r < b; r++)
            {
                var gate = Make(rnd, 2 * H, Kind.Probability, specials);
                var nn = Make(rnd, H, Kind.Signed, specials);
                gate.AsSpan(0, 2 * H).CopyTo(act.AsSpan(r * 3 * H));
                nn.AsSpan(0, H).CopyTo(act.AsSpan(r * 3 * H + 2 * H));
            }

            var ghN = Make(rnd, n, Kind.Value, specials);
            var hPrev = Make(rnd, n, Kind.Value, specials);
            var dhIn = Make(rnd, n, Kind.Value, specials);
            var dh = (float[])dhIn.Clone();
            float[] dGx = Output(g3), dGh = Output(g3);
            WithWidth(width, () => GruCell.Backward(act.AsSpan(0, g3), ghN, hPrev, dh, dGx, dGh, b, H));

            var chk = new Checker($"width {width}, b {b}, H {H}, specials {specials}");
            for (int row = 0; row < b; row++)
            for (int j = 0; j < H; j++)
            {
                int gi = row * 3 * H + j, s = row * H + j;
                D r = D.In(act[gi]), z = D.In(act[gi + H]), nn = D.In(act[gi + 2 * H]), dhj = D.In(dhIn[s]);
                D dn = dhj * (1 - z) * (1 - nn * nn);
                D dz = dhj * (D.In(hPrev[s]) - nn) * z * (1 - z);
                D dr = dn * D.In(ghN[s]) * r * (1 - r);
                chk.Check("dGx.r", gi, dGx[gi], Flush(dr));
                chk.Check("dGx.z", gi + H, dGx[gi + H], Flush(dz));
                chk.Check("dGx.n", gi + 2 * H, dGx[gi + 2 * H], Flush(dn));
                chk.Check("dGh.r", gi, dGh[gi], Flush(dr));
                chk.Check("dGh.z", gi + H, dGh[gi + H], Flush(dz));
                chk.Check("dGh.n", gi + 2 * H, dGh[gi + 2 * H], Flush(dn * r));
                chk.Check("dh", s, dh[s], Flush(dhj * z));
            }

            chk.Guarded("dGx", dGx, g3); chk.Guarded("dGh", dGh, g3); chk.Guarded("dh", dh, n);
            chk.Done();
        }
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void RnnBackward_EveryLength_MatchesDoubleReference(int width)
    {
        foreach (var (b, H, specials) in Shapes())
        {
            var rnd = new Random(6000 + 100 * H + 10 * b + (specials ? 1 : 0));
            int n = b * H;
            var h = Make(rnd, n, Kind.Signed, specials);
            var dh = Make(rnd, n, Kind.Value, specials);
            var dPre = Output(n);
            WithWidth(width, () => RnnCell.Backward(h.AsSpan(0, n), dh.AsSpan(0, n), dPre, n));

            var chk = new Checker($"width {width}, b {b}, H {H}, specials {specials}");
            for (int i = 0; i < n; i++)
            {
                D hi = D.In(h[i]);
                chk.Check("dPre", i, dPre[i], Flush(D.In(dh[i]) * (1 - hi * hi)));
            }

            chk.Guarded("dPre", dPre, n);
            chk.Done();
        }
    }

    // ---- Paths agree ----

    [Fact]
    public void AllKernels_VectorAndScalarPaths_BitIdentical()
    {
        const int b = 3;
        foreach (int H in Enumerable.Range(0, MaxLength + 1).Concat(LongLengths))
        {
            var rnd = new Random(7000 + H);
            int n = b * H;
            float[] pre4 = Make(rnd, 4 * n, Kind.Value, true), pre3 = Make(rnd, 3 * n, Kind.Value, true), gh = Make(rnd, 3 * n, Kind.Value, true);
            float[] state = Make(rnd, n, Kind.Value, true), grad = Make(rnd, n, Kind.Value, true), signed = Make(rnd, n, Kind.Signed, true);
            float[] prob4 = Make(rnd, 4 * n, Kind.Probability, true), prob3 = Make(rnd, 3 * n, Kind.Probability, true);

            float[][] Run(int width, int registers)
            {
                var outs = new List<float[]>();
                WithWidth(width, () =>
                {
                    float[] g = (float[])pre4.Clone(), c = Output(n), tc = Output(n), h = Output(n);
                    LstmCell.Forward(g, state, c, tc, h, b, H);
                    outs.AddRange([g, c, tc, h]);
                    float[] g3 = (float[])pre3.Clone(), ghN = Output(n), h2 = Output(n);
                    GruCell.Forward(g3, gh, state, ghN, h2, b, H);
                    outs.AddRange([g3, ghN, h2]);
                    var h3 = Output(n);
                    RnnCell.Forward(pre4.AsSpan(0, n), h3, n);
                    outs.Add(h3);
                    float[] dc = (float[])grad.Clone(), dPre = Output(4 * n);
                    LstmCell.Backward(prob4.AsSpan(0, 4 * n), state, signed, grad, dc, dPre, b, H);
                    outs.AddRange([dc, dPre]);
                    float[] dh = (float[])grad.Clone(), dGx = Output(3 * n), dGh = Output(3 * n);
                    GruCell.Backward(prob3.AsSpan(0, 3 * n), gh, state, dh, dGx, dGh, b, H);
                    outs.AddRange([dh, dGx, dGh]);
                    var dPre2 = Output(n);
                    RnnCell.Backward(signed.AsSpan(0, n), grad.AsSpan(0, n), dPre2, n);
                    outs.Add(dPre2);
                }, registers);
                return [.. outs];
            }

            var scalar = Run(0, 0);
            foreach (var (width, registers) in new[] { (128, 32), (256, 32), (256, 16), (512, 32) })
            {
                var vector = Run(width, registers);
                for (int k = 0; k < scalar.Length; k++)
                for (int i = 0; i < scalar[k].Length; i++)
                {
                    bool same = BitConverter.SingleToInt32Bits(vector[k][i]) == BitConverter.SingleToInt32Bits(scalar[k][i])
                        || (float.IsNaN(vector[k][i]) && float.IsNaN(scalar[k][i]));
                    same.Should().BeTrue($"output {k}[{i}] at H {H}: width {width} ({registers} registers) gave {vector[k][i]:G9}, scalar {scalar[k][i]:G9}");
                }
            }
        }
    }

    // ---- Activations ----

    private static float[] ActivationGrid()
    {
        var xs = new List<float>();
        for (int k = -100 * 512; k <= 100 * 512; k++) xs.Add(k / 512f);
        for (double m = 1e-38; m < 2; m *= 1.07) { xs.Add((float)m); xs.Add((float)-m); }
        float[] edges =
        [
            0f, -0f, 1f / 4096, 1f / 4096 * (1 + 1e-7f), 1f / 4096 * (1 - 1e-7f), 0.1733f, 0.3466f, 0.6931f, 9f, 9.1f, 17f, 44f,
            69.07f, 69.08f, 79.9f, 80f, 80.1f, 87.3f, 88.8f, 1e10f, float.MaxValue, float.Epsilon, 1e-30f, 2e-30f, 5e-31f,
        ];
        foreach (float e in edges) { xs.Add(e); xs.Add(-e); }
        return [.. xs];
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Activations_DenseGrid_WithinOneMillionthAndThreeUlpOfDouble(int width)
    {
        var xs = ActivationGrid();
        int n = xs.Length;
        var gates = new float[4 * n];
        xs.CopyTo(gates, 0);          // i: σ
        xs.CopyTo(gates, 2 * n);      // g: tanh
        var zeros = new float[n];
        WithWidth(width, () => LstmCell.Forward(gates, zeros, new float[n], new float[n], new float[n], 1, n));

        double worstAbs = 0;
        string worstAt = "";
        for (int k = 0; k < n; k++)
        {
            double x = xs[k];
            foreach (var (name, actual, exact) in new[] { ("sigmoid", gates[k], 1 / (1 + Math.Exp(-x))), ("tanh", gates[2 * n + k], Math.Tanh(x)) })
            {
                double abs = Math.Abs(actual - exact);
                if (abs > worstAbs) { worstAbs = abs; worstAt = $"{name}({x:G9}) = {actual:G9}, exact {exact:G9}"; }
                if (Math.Abs(exact) < Activations.FlushThreshold)
                {
                    actual.Should().Be(0f, $"{name}({x:G9}) = {exact:G3} is below the flush threshold");
                    continue;
                }

                if (Math.Abs(exact) < 2 * Activations.FlushThreshold) continue; // at the threshold either side is right
                double ulp = Math.Abs(actual - exact) / Ulp((float)exact);
                ulp.Should().BeLessThanOrEqualTo(3, $"{name}({x:G9}) = {actual:G9}, exact {exact:G17}");
            }
        }

        worstAbs.Should().BeLessThanOrEqualTo(1e-6, worstAt);
    }

    private static double Ulp(float x)
    {
        float a = Math.Abs(x);
        return Math.Max(MathF.BitIncrement(a) - a, float.Epsilon);
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Activations_SaturatingAndSpecialInputs_ExactLimitsAndNaN(int width)
    {
        float[] xs = [float.PositiveInfinity, float.NegativeInfinity, 100f, -100f, 1e30f, -1e30f, float.MaxValue, -float.MaxValue, 70f, -70f, float.NaN];
        float[] sig = [1f, 0f, 1f, 0f, 1f, 0f, 1f, 0f, 1f, 0f, float.NaN];
        float[] tanh = [1f, -1f, 1f, -1f, 1f, -1f, 1f, -1f, 1f, -1f, float.NaN];
        // Repeat so that every path (vector body and scalar tail) sees every value.
        int reps = 4, n = xs.Length * reps;
        var gates = new float[4 * n];
        for (int k = 0; k < n; k++) { gates[k] = xs[k % xs.Length]; gates[2 * n + k] = xs[k % xs.Length]; }
        var h = new float[n];
        WithWidth(width, () =>
        {
            LstmCell.Forward(gates, new float[n], new float[n], new float[n], new float[n], 1, n);
            RnnCell.Forward(gates.AsSpan(2 * n, n).ToArray(), h, n); // tanh of the already saturated g: tanh(±1)
        });
        for (int k = 0; k < n; k++)
        {
            float x = xs[k % xs.Length];
            if (float.IsNaN(x))
            {
                float.IsNaN(gates[k]).Should().BeTrue("σ(NaN) is NaN");
                float.IsNaN(gates[2 * n + k]).Should().BeTrue("tanh(NaN) is NaN");
                continue;
            }

            gates[k].Should().Be(sig[k % xs.Length], $"σ({x}) saturates exactly");
            gates[2 * n + k].Should().Be(tanh[k % xs.Length], $"tanh({x}) saturates exactly");
            gates[n + k].Should().Be(0.5f, "σ(0) is exactly one half");
            h[k].Should().BeApproximately(MathF.Sign(x) * 0.7615942f, 1e-7f, "tanh(±1)");
        }
    }

    // ---- Flush to zero ----

    [Theory]
    [MemberData(nameof(Widths))]
    public void AllKernels_SubnormalStateOrGradient_WriteExactZeros(int width)
    {
        const float sub = 1e-39f;     // subnormal
        const float tiny = 5e-31f;    // normal, below the flush threshold
        int b = 2, H = 21, n = b * H; // rows of 16 + 5 (512), 8 + 8 + 5 (256), 4·5 + 1 (128) or 21 scalar elements
        bool IsZero(float v) => v == 0f; // +0, or −0 from tanh of a tiny negative value
        WithWidth(width, () =>
        {
            // LSTM forward: i = σ(−100) = 0, f = σ(100) = 1, so c = cPrev exactly when not flushed.
            var gates = new float[4 * n];
            for (int r = 0; r < b; r++)
            for (int j = 0; j < H; j++)
            {
                gates[r * 4 * H + j] = -100f; gates[r * 4 * H + H + j] = 100f; gates[r * 4 * H + 3 * H + j] = 100f;
            }

            float[] cPrev = Enumerable.Range(0, n).Select(k => k % 3 == 0 ? sub : k % 3 == 1 ? -tiny : 2e-30f).ToArray();
            float[] c = new float[n], tanhC = new float[n], h = new float[n];
            LstmCell.Forward(gates, cPrev, c, tanhC, h, b, H);
            for (int k = 0; k < n; k++)
            {
                if (k % 3 == 2) { c[k].Should().Be(2e-30f, "above the threshold"); h[k].Should().Be(2e-30f); continue; }
                IsZero(c[k]).Should().BeTrue($"c[{k}] from cPrev {cPrev[k]:G3} must be 0, was {c[k]:G3}");
                IsZero(tanhC[k]).Should().BeTrue();
                IsZero(h[k]).Should().BeTrue();
            }

            // GRU forward: z = 1, n = tanh(0) = 0, so h = hPrev.
            var g3 = new float[3 * n];
            var gh = new float[3 * n];
            for (int r = 0; r < b; r++)
            for (int j = 0; j < H; j++) g3[r * 3 * H + H + j] = 100f;
            float[] ghN = new float[n], h2 = new float[n];
            GruCell.Forward(g3, gh, cPrev, ghN, h2, b, H);
            for (int k = 0; k < n; k++)
                if (k % 3 == 2) h2[k].Should().Be(2e-30f); else IsZero(h2[k]).Should().BeTrue($"GRU h[{k}] from hPrev {cPrev[k]:G3}");

            // RNN forward: tanh(x) = x for tiny x.
            var h3 = new float[n];
            RnnCell.Forward(cPrev, h3, n);
            for (int k = 0; k < n; k++)
                if (k % 3 == 2) h3[k].Should().Be(2e-30f); else IsZero(h3[k]).Should().BeTrue($"tanh({cPrev[k]:G3})");

            // LSTM backward: dh = 0, act all 0.5, so dc_t = carried dc and every output is dc_t times 1/8 … 1/2.
            var act = Enumerable.Repeat(0.5f, 4 * n).ToArray();
            float[] dc = (float[])cPrev.Clone(), dPre = new float[4 * n];
            LstmCell.Backward(act, new float[n], new float[n], new float[n], dc, dPre, b, H);
            for (int k = 0; k < n; k++)
                if (k % 3 != 2) IsZero(dc[k]).Should().BeTrue($"dc[{k}]");
            for (int r = 0; r < b; r++)
            for (int j = 0; j < H; j++)
            {
                IsZero(dPre[r * 4 * H + j]).Should().BeTrue("dPre.i = dc·g·i(1 − i) is below the threshold");
                IsZero(dPre[r * 4 * H + 2 * H + j]).Should().BeTrue();
            }

            // GRU backward: dh subnormal or tiny.
            var act3 = Enumerable.Repeat(0.5f, 3 * n).ToArray();
            float[] dh = (float[])cPrev.Clone(), dGx = new float[3 * n], dGh = new float[3 * n];
            GruCell.Backward(act3, Enumerable.Repeat(1f, n).ToArray(), Enumerable.Repeat(1f, n).ToArray(), dh, dGx, dGh, b, H);
            for (int k = 0; k < n; k++)
                if (k % 3 != 2) IsZero(dh[k]).Should().BeTrue($"dh·z [{k}]");
            dGx.Concat(dGh).Should().OnlyContain(v => v == 0f, "every gate gradient is below the threshold");

            // RNN backward: h = 0, so dPre = dh.
            var dPre3 = new float[n];
            RnnCell.Backward(new float[n], cPrev, dPre3, n);
            for (int k = 0; k < n; k++)
                if (k % 3 == 2) dPre3[k].Should().Be(2e-30f); else IsZero(dPre3[k]).Should().BeTrue($"dPre[{k}]");
        });
    }

    // ---- Arguments ----

    [Fact]
    public void Kernels_BufferTooShort_ThrowNamingTheBuffer()
    {
        var act = () => LstmCell.Forward(new float[4 * 6], new float[6], new float[6], new float[5], new float[6], 2, 3);
        act.Should().Throw<ArgumentException>().WithParameterName("tanhC");
        var gru = () => GruCell.Backward(new float[9], new float[3], new float[3], new float[3], new float[9], new float[8], 1, 3);
        gru.Should().Throw<ArgumentException>().WithParameterName("dGh");
        var rnn = () => RnnCell.Forward(new float[4], new float[3], 4);
        rnn.Should().Throw<ArgumentException>().WithParameterName("h");
        var negative = () => LstmCell.Backward([], [], [], [], [], [], -1, 3);
        negative.Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void MaxVectorWidth_UnsupportedValue_Throws()
    {
        var act = () => Lanes.MaxVectorWidth = 64;
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*0, 128, 256 or 512*");
    }
}
