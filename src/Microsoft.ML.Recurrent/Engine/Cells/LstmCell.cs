using System.Runtime.CompilerServices;
using Microsoft.ML.Recurrent.Engine.Kernels;
using static Microsoft.ML.Recurrent.Engine.Cells.Activations;

namespace Microsoft.ML.Recurrent.Engine.Cells;

/// <summary>
/// Long short-term memory cell (PyTorch's <c>nn.LSTM</c> gate order i, f, g, o).
/// <code>
///   forward, one step (x_t: input, h, c: previous states)                    line
///   [i f g o]ᵖʳᵉ = W_ih·x_t + (b_ih + b_hh) + W_hh·h                           F1  (input projection: the layer; recurrent product: Forward)
///   i = σ(iᵖʳᵉ), f = σ(fᵖʳᵉ), g = tanh(gᵖʳᵉ), o = σ(oᵖʳᵉ)                      F2
///   c' = f·c + i·g                                                            F3
///   h' = o·tanh(c')                                                           F4
/// </code>
/// <para>
/// Carry rule (what the backward step hands to step t − 1): dh_{t−1} = dPre·W_hh (all four gate blocks) and
/// dc_{t−1} = dc_t·f, where dc_t = dc + dh·o·(1 − tanh²c') is the cell-state gradient including the path through h'.
/// Both carries are (B, H).
/// </para>
/// <para>
/// Storage a training pass keeps per step: the four activations (T, B, 4H), c_t (T + 1, B, H), tanh(c_t) (T, B, H)
/// and h_t (T + 1, B, H); the backward pass writes the gate gradients dPre over the activations (the body reads all four
/// of a lane's activations before it stores). An inference pass over a batch reuses one step's gates and alternates two
/// cell-state blocks.
/// </para>
/// </summary>
internal readonly struct LstmCell : IRecurrentCell
{
    /// <inheritdoc/>
    public static CellKind Kind => CellKind.Lstm;

    /// <inheritdoc/>
    public static int Gates => 4;

    /// <inheritdoc/>
    public static bool CarriesCellState => true;

    /// <inheritdoc/>
    public static bool SeparateRecurrentProjection => false;

    /// <summary>F1 (its recurrent half: gates += h·W_hhᵀ), then F2–F4 element-wise.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Forward(in ForwardStep s)
    {
        int gn = 4 * s.Units;
        RowProduct.Multiply(s.Rows, gn, s.Hidden, s.HPrev, s.Hidden, s.RecurrentT, s.RecurrentStride, s.Gates, gn, accumulate: true, s.RecurrentPanelStride);
        ForwardRows(s.Gates, s.CPrev, s.C, s.TanhC, s.H, s.Rows, s.Units, s.Hidden);
    }

    /// <summary>The element-wise backward (B1–B6), then the carry product dh_{t−1} = dPre·W_hh.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Backward(in BackwardStep s)
    {
        int H = s.Hidden, GH = 4 * H;
        BackwardRows(s.Gates, s.CPrev, s.TanhC, s.DH, s.DC, s.DGx, s.Rows, H);
        RowProduct.Multiply(s.Rows, H, GH, s.DGx, GH, s.Recurrent, s.RecurrentStride, s.DH, H, accumulate: false, s.RecurrentPanelStride);
    }

    /// <summary>
    /// F2–F4 over b rows of H units. gates (b, 4H): pre-activations i, f, g, o in; activations σ(i), σ(f), tanh(g), σ(o)
    /// out. cPrev, c, tanhC, h: (b, H): c = f·cPrev + i·g, tanhC = tanh(c), h = o·tanhC.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Forward(Span<float> gates, ReadOnlySpan<float> cPrev, Span<float> c, Span<float> tanhC, Span<float> h, int b, int H)
    {
        CheckShape(b, H);
        CheckLength(gates.Length, 4L * b * H, nameof(gates));
        CheckLength(cPrev.Length, (long)b * H, nameof(cPrev));
        CheckLength(c.Length, (long)b * H, nameof(c));
        CheckLength(tanhC.Length, (long)b * H, nameof(tanhC));
        CheckLength(h.Length, (long)b * H, nameof(h));
        fixed (float* g = gates, cp = cPrev, cc = c, tc = tanhC, hh = h) ForwardRows(g, cp, cc, tc, hh, b, H, H);
    }

    /// <summary>
    /// Backward of F2–F4 over b rows of H units. act (b, 4H): the step's activations i, f, g, o; cPrev, tanhC, dh: (b, H);
    /// dc (b, H): the carried cell gradient in, dc_t·f out (the carry for the previous step), where
    /// dc_t = dc + dh·o·(1 − tanhC²). dPre (b, 4H) out: gradients w.r.t. the pre-activations,
    /// dc_t·g·i(1 − i), dc_t·cPrev·f(1 − f), dc_t·i·(1 − g²), dh·tanhC·o(1 − o).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Backward(ReadOnlySpan<float> act, ReadOnlySpan<float> cPrev, ReadOnlySpan<float> tanhC, ReadOnlySpan<float> dh,
        Span<float> dc, Span<float> dPre, int b, int H)
    {
        CheckShape(b, H);
        CheckLength(act.Length, 4L * b * H, nameof(act));
        CheckLength(cPrev.Length, (long)b * H, nameof(cPrev));
        CheckLength(tanhC.Length, (long)b * H, nameof(tanhC));
        CheckLength(dh.Length, (long)b * H, nameof(dh));
        CheckLength(dc.Length, (long)b * H, nameof(dc));
        CheckLength(dPre.Length, 4L * b * H, nameof(dPre));
        fixed (float* a = act, cp = cPrev, tc = tanhC, d = dh, dcc = dc, dp = dPre) BackwardRows(a, cp, tc, d, dcc, dp, b, H);
    }

    /// <summary>
    /// Rows of at least this many units run F2–F4 in two passes (F2, then F3–F4); shorter rows in one. In one pass an
    /// iteration's dependency chain runs σ/tanh → c → tanh c → h, about 165 cycles for 32 units, and the next iteration's
    /// independent activations did not fit in the scheduler behind it; each of two passes has a short chain and
    /// overlaps its iterations. Every element runs the same operations either way, so the bits do not depend on it.
    /// Measured (docs/performance.md, "The LSTM gate pass in two loops (issue 8, tenth session)"): the pass over rows
    /// in cache 1.4× faster; inference passes of 100–512 units mostly 1.01–1.03× faster, training steps level; with
    /// fewer units the second pass's start costs more than the overlap gains (16 units: 0.93×), so they keep one pass.
    /// </summary>
    internal const int TwoPassMinUnits = 96;

    /// <summary>
    /// F2–F4 over b rows: in one pass under <see cref="TwoPassMinUnits"/> units; from there on, for each group of rows
    /// whose gate rows fit in 16 KiB (so that they are still in L1 for the second pass), F2, then F3–F4. Where
    /// <see cref="Lanes.PairsAt256"/> (AVX2: 256 bits, 16 registers) every row count takes two passes, F2 one gate block
    /// at a time (σ over i and f, tanh over g, σ over o: one activation a body) and both passes two vectors an iteration:
    /// there the four-gate body kept its intermediates on the stack and its iterations hardly overlapped (measured with
    /// rows in cache on Zen 3: 5.2–6.6 ns a unit before, 4.3–5.2 after for 32 rows of 64–256 units, 8.2–8.6 → 6.6–6.8 for
    /// one row of 128; docs/performance.md, "The gate passes on 16 registers").
    /// </summary>
    private static unsafe void ForwardRows(float* gates, float* cPrev, float* c, float* tanhC, float* h, int b, int units, int stateStride)
    {
        bool paired = PairedGates && Lanes.PairsAt256;
        if (units == 0 || (units < TwoPassMinUnits && !paired))
        {
            Rows<WholePass>(gates, cPrev, c, tanhC, h, b, units, stateStride);
            return;
        }

        int group = TwoPassGroups.Rows(4 * units);
        for (int first = 0; first < b; first += group)
        {
            int count = Math.Min(group, b - first);
            nint g0 = (nint)first * 4 * units, s0 = (nint)first * stateStride;
            if (paired) GateBlocks(gates + g0, count, units);
            else Rows<ActivationsPass>(gates + g0, cPrev + s0, c + s0, tanhC + s0, h + s0, count, units, stateStride);
            Rows<StatesPass>(gates + g0, cPrev + s0, c + s0, tanhC + s0, h + s0, count, units, stateStride);
        }
    }

    /// <summary>Whether <see cref="ForwardRows"/> uses the gate blocks and pairs where it can (a switch for benchmarks; the bits are the same).</summary>
    internal static bool PairedGates { get; set; } = true;

    /// <summary>
    /// F2 over b rows of gates (4·units floats each), one gate block at a time, in pairs of vectors
    /// (<see cref="Lanes.RunPaired{TBody}"/>): the same operations on every element as <see cref="ActivationsPass"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe void GateBlocks(float* gates, int b, int units)
    {
        nuint n = (nuint)units;
        for (int r = 0; r < b; r++, gates += 4 * units)
        {
            var sigmoid = new SigmoidBody { P = gates };          // i and f: 2n floats
            Lanes.RunPaired(ref sigmoid, 2 * n);
            var tanh = new TanhBody { P = gates + 2 * n };         // g
            Lanes.RunPaired(ref tanh, n);
            sigmoid.P = gates + 3 * n;                            // o
            Lanes.RunPaired(ref sigmoid, n);
        }
    }

    /// <summary>F2 for σ gates: p[j] = σ(p[j]) (activation over its pre-activation).</summary>
    private unsafe struct SigmoidBody : ILaneBody
    {
        public float* P;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void At<TV, O>(nuint j) where TV : struct where O : struct, ILanes<TV>
            => O.Store(Sigmoid<TV, O>(O.Load(ref *P, j)), ref *P, j);
    }

    /// <summary>F2 for the g gate: p[j] = tanh(p[j]).</summary>
    private unsafe struct TanhBody : ILaneBody
    {
        public float* P;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void At<TV, O>(nuint j) where TV : struct where O : struct, ILanes<TV>
            => O.Store(Tanh<TV, O>(O.Load(ref *P, j)), ref *P, j);
    }

    // Compiled on its own, once per pass (never inlined into a caller): its lane body needs the whole inlining budget of a
    // method, and inlined into a larger caller it ran its operations as calls (measured: an int8 step 2× slower; two
    // bodies in one method did the same).
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Rows<TPass>(float* gates, float* cPrev, float* c, float* tanhC, float* h, int b, int units, int stateStride)
        where TPass : struct, IForwardPass
    {
        // One body for all rows, advanced row by row: the row pointers live in the body, not in registers across the driver.
        // Gate rows hold 4·units floats; state rows are stateStride apart (H: the unit loop passes a range of a row's units).
        nuint n = (nuint)units, ss = (nuint)stateStride;
        var body = new ForwardBody<TPass> { G = gates, CPrev = cPrev, C = c, TanhC = tanhC, H = h, N = n };
        for (int r = 0; r < b; r++)
        {
            // The states alone are a short body: pairs of vectors where Lanes.PairsAt256 (see ForwardRows).
            if (TPass.Activations || !PairedGates) Lanes.Run(ref body, n);
            else Lanes.RunPaired(ref body, n);
            body.G += 4 * n; body.CPrev += ss; body.C += ss; body.TanhC += ss; body.H += ss;
        }
    }

    // Compiled on its own (never inlined into a caller): its lane bodies need the whole inlining budget of a method, and
    // inlined into a larger caller they ran their operations as calls (measured: an int8 step 2× slower).
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe void BackwardRows(float* act, float* cPrev, float* tanhC, float* dh, float* dc, float* dPre, int b, int H)
    {
        nuint n = (nuint)H;
        var body = new BackwardBody { Act = act, DPre = dPre, CPrev = cPrev, TanhC = tanhC, DH = dh, DC = dc, N = n };
        for (int r = 0; r < b; r++)
        {
            Lanes.Run(ref body, n);
            body.Act += 4 * n; body.DPre += 4 * n; body.CPrev += n; body.TanhC += n; body.DH += n; body.DC += n;
        }
    }

    /// <summary>
    /// Forward, one row: lanes [j, j + O.Count) of every buffer. <typeparamref name="TPass"/> says which lines run: F2
    /// (the activations, stored over the pre-activations), F3–F4 (the states, from the activations F2 stored), or both.
    /// </summary>
    private unsafe struct ForwardBody<TPass> : ILaneBody where TPass : struct, IForwardPass
    {
        public float* G;      // (4n) i, f, g, o: pre-activations in, activations out (F3–F4 alone: activations in)
        public float* CPrev;  // (n) c_{t−1}
        public float* C;      // (n) c_t out
        public float* TanhC;  // (n) tanh(c_t) out
        public float* H;      // (n) h_t out
        public nuint N;       // n: units of the row (gate block stride)

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void At<TV, O>(nuint j) where TV : struct where O : struct, ILanes<TV>
        {
            nuint n = N;
            TV i, f, gg, o;
            if (TPass.Activations)
            {
                i = Sigmoid<TV, O>(O.Load(ref *G, j));                             // F2
                f = Sigmoid<TV, O>(O.Load(ref *G, n + j));
                gg = Tanh<TV, O>(O.Load(ref *G, 2 * n + j));
                o = Sigmoid<TV, O>(O.Load(ref *G, 3 * n + j));
                O.Store(i, ref *G, j);
                O.Store(f, ref *G, n + j);
                O.Store(gg, ref *G, 2 * n + j);
                O.Store(o, ref *G, 3 * n + j);
            }
            else
            {
                i = O.Load(ref *G, j); f = O.Load(ref *G, n + j); gg = O.Load(ref *G, 2 * n + j); o = O.Load(ref *G, 3 * n + j);
            }

            if (TPass.States)
            {
                TV cc = Flush<TV, O>(O.Fma(i, gg, O.Mul(f, O.Load(ref *CPrev, j))));  // F3: f·cPrev + i·g
                TV tc = Tanh<TV, O>(cc);
                O.Store(cc, ref *C, j);
                O.Store(tc, ref *TanhC, j);
                O.Store(Flush<TV, O>(O.Mul(o, tc)), ref *H, j);                       // F4: o·tanh(c)
            }
        }
    }

    /// <summary>
    /// Which lines a <see cref="ForwardBody{TPass}"/> runs, as a type: the JIT compiles each pass apart, the other lines
    /// removed.
    /// </summary>
    private interface IForwardPass
    {
        /// <summary>F2: the activations, stored over the pre-activations.</summary>
        static abstract bool Activations { get; }

        /// <summary>F3–F4: the states, from the activations (computed in the same body, or read back).</summary>
        static abstract bool States { get; }
    }

    /// <summary>F2–F4 in one body.</summary>
    private readonly struct WholePass : IForwardPass
    {
        public static bool Activations => true;

        public static bool States => true;
    }

    /// <summary>F2 alone (the first of two passes).</summary>
    private readonly struct ActivationsPass : IForwardPass
    {
        public static bool Activations => true;

        public static bool States => false;
    }

    /// <summary>F3–F4 alone, from the activations F2 stored (the second of two passes).</summary>
    private readonly struct StatesPass : IForwardPass
    {
        public static bool Activations => false;

        public static bool States => true;
    }

    /// <summary>Backward, one row: lanes [j, j + O.Count) of every buffer.</summary>
    private unsafe struct BackwardBody : ILaneBody
    {
        public float* Act;    // (4n) i, f, g, o activations (F2's outputs)
        public float* CPrev;  // (n) c_{t−1}
        public float* TanhC;  // (n) tanh(c_t)
        public float* DH;     // (n) dL/dh_t
        public float* DC;     // (n) dL/dc_t carried in; dL/dc_{t−1} out
        public float* DPre;   // (4n) out: dL/d[i f g o]ᵖʳᵉ
        public nuint N;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void At<TV, O>(nuint j) where TV : struct where O : struct, ILanes<TV>
        {
            nuint n = N;
            TV one = O.Splat(1f);
            TV i = O.Load(ref *Act, j), f = O.Load(ref *Act, n + j), g = O.Load(ref *Act, 2 * n + j), o = O.Load(ref *Act, 3 * n + j);
            TV tc = O.Load(ref *TanhC, j);
            TV dh = O.Load(ref *DH, j);
            TV dc = O.Fma(O.Mul(dh, o), O.Fnma(tc, tc, one), O.Load(ref *DC, j));                         // B1 (F4 → c): dc + dh·o·(1 − tc²)
            O.Store(Flush<TV, O>(O.Mul(O.Mul(dc, g), O.Fnma(i, i, i))), ref *DPre, j);                       // B2 (F3, F2 → iᵖʳᵉ): dc·g·i(1 − i)
            O.Store(Flush<TV, O>(O.Mul(O.Mul(dc, O.Load(ref *CPrev, j)), O.Fnma(f, f, f))), ref *DPre, n + j); // B3 (F3, F2 → fᵖʳᵉ): dc·cPrev·f(1 − f)
            O.Store(Flush<TV, O>(O.Mul(O.Mul(dc, i), O.Fnma(g, g, one))), ref *DPre, 2 * n + j);             // B4 (F3, F2 → gᵖʳᵉ): dc·i·(1 − g²)
            O.Store(Flush<TV, O>(O.Mul(O.Mul(dh, tc), O.Fnma(o, o, o))), ref *DPre, 3 * n + j);              // B5 (F4, F2 → oᵖʳᵉ): dh·tc·o(1 − o)
            O.Store(Flush<TV, O>(O.Mul(dc, f)), ref *DC, j);                                                 // B6 (F3 → c): carry dc·f
        }
    }
}
