using System.Runtime.CompilerServices;
using Microsoft.ML.Recurrent.Engine.Kernels;
using static Microsoft.ML.Recurrent.Engine.Cells.Activations;

namespace Microsoft.ML.Recurrent.Engine.Cells;

/// <summary>
/// Gated recurrent unit (PyTorch's <c>nn.GRU</c>: gate order r, z, n; b_hn inside the reset product).
/// <code>
///   forward, one step (x_t: input, h: previous state)                        line
///   [x_r x_z x_n] = W_ih·x_t + b_ih                                           F1  (the layer's input projection)
///   [gh_r gh_z gh_n] = W_hh·h + b_hh                                          F2  (Forward: recurrent product, then bias)
///   r = σ(x_r + gh_r), z = σ(x_z + gh_z)                                      F3
///   n = tanh(x_n + r·gh_n)                                                    F4
///   h' = (1 − z)·n + z·h, computed as n + z·(h − n)                           F5
/// </code>
/// <para>
/// Carry rule: dh_{t−1} = dh·z (F5's direct path) + dGh·W_hh, with dGh = [dr, dz, dn·r] the gradient w.r.t. F2's
/// output; the gradient w.r.t. F1's output is dGx = [dr, dz, dn] (it differs in the n block, so both are kept: dGx
/// feeds dW_ih, b_ih and dX, dGh feeds dW_hh and b_hh). One (B, H) carry.
/// </para>
/// <para>
/// Storage a training pass keeps per step: the activations r, z, n (T, B, 3H), gh_n (T, B, H), h_t (T + 1, B, H);
/// the backward pass writes dGx over the activations and dGh's n block, dn·r, over gh_n (its r and z blocks are
/// dGx's). The recurrent projection of one step (B, 3H) and one step's whole dGh (B, 3H) are scratch.
/// </para>
/// </summary>
internal readonly struct GruCell : IRecurrentCell
{
    /// <inheritdoc/>
    public static CellKind Kind => CellKind.Gru;

    /// <inheritdoc/>
    public static int Gates => 3;

    /// <inheritdoc/>
    public static bool CarriesCellState => false;

    /// <inheritdoc/>
    public static bool SeparateRecurrentProjection => true;

    /// <summary>F2 (product into the scratch, b_hh added to each sum as it is stored), then F3–F5 element-wise.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Forward(in ForwardStep s)
    {
        int rows = s.Rows, gn = 3 * s.Units;
        RowProduct.MultiplyAddRow(rows, gn, s.Hidden, s.HPrev, s.Hidden, s.RecurrentT, s.RecurrentStride, s.Recurrent, gn, s.HiddenBias, s.RecurrentPanelStride);
        ForwardRows(s.Gates, s.Recurrent, s.HPrevUnits, s.GhN, s.H, rows, s.Units, s.Hidden);
    }

    /// <summary>The element-wise backward (B1–B5), then the carry product dh_{t−1} += dGh·W_hh.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Backward(in BackwardStep s)
    {
        int H = s.Hidden, GH = 3 * H;
        BackwardRows(s.Gates, s.GhN, s.HPrev, s.DH, s.DGx, s.DGh, s.DGhKept, s.Rows, H);
        RowProduct.Multiply(s.Rows, H, GH, s.DGh, GH, s.Recurrent, s.RecurrentStride, s.DH, H, accumulate: true, s.RecurrentPanelStride);
    }

    /// <summary>
    /// F3–F5 over b rows of H units. gates (b, 3H): input projection x_r, x_z, x_n (with b_ih) in; r, z, n out.
    /// gh (b, 3H): h·W_hhᵀ + b_hh. hPrev (b, H); ghN (b, H) receives gh_n for the backward pass; h (b, H) out.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Forward(Span<float> gates, ReadOnlySpan<float> gh, ReadOnlySpan<float> hPrev, Span<float> ghN, Span<float> h, int b, int H)
    {
        CheckShape(b, H);
        CheckLength(gates.Length, 3L * b * H, nameof(gates));
        CheckLength(gh.Length, 3L * b * H, nameof(gh));
        CheckLength(hPrev.Length, (long)b * H, nameof(hPrev));
        CheckLength(ghN.Length, (long)b * H, nameof(ghN));
        CheckLength(h.Length, (long)b * H, nameof(h));
        fixed (float* g = gates, ghr = gh, hp = hPrev, hn = ghN, hh = h) ForwardRows(g, ghr, hp, hn, hh, b, H, H);
    }

    /// <summary>
    /// Backward of F3–F5 over b rows of H units. act (b, 3H): activations r, z, n; ghN, hPrev (b, H); dh (b, H): gradient
    /// w.r.t. h in, dh·z out (the direct part of the carry; the caller adds dGh·W_hh). With dn = dh·(1 − z)·(1 − n²),
    /// dz = dh·(hPrev − n)·z(1 − z), dr = dn·ghN·r(1 − r): dGx (b, 3H) = [dr, dz, dn] (w.r.t. the input projection)
    /// and dGh (b, 3H) = [dr, dz, dn·r] (w.r.t. the recurrent projection).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Backward(ReadOnlySpan<float> act, ReadOnlySpan<float> ghN, ReadOnlySpan<float> hPrev, Span<float> dh,
        Span<float> dGx, Span<float> dGh, int b, int H)
    {
        CheckShape(b, H);
        CheckLength(act.Length, 3L * b * H, nameof(act));
        CheckLength(ghN.Length, (long)b * H, nameof(ghN));
        CheckLength(hPrev.Length, (long)b * H, nameof(hPrev));
        CheckLength(dh.Length, (long)b * H, nameof(dh));
        CheckLength(dGx.Length, 3L * b * H, nameof(dGx));
        CheckLength(dGh.Length, 3L * b * H, nameof(dGh));
        fixed (float* a = act, hn = ghN, hp = hPrev, d = dh, dx = dGx, dg = dGh) BackwardRows(a, hn, hp, d, dx, dg, null, b, H);
    }

    /// <summary>Whether <see cref="ForwardRows"/> runs two passes in pairs where it can (a switch for benchmarks; the bits are the same).</summary>
    internal static bool PairedGates { get; set; } = true;

    /// <summary>
    /// F3–F5 over b rows: in one pass, or where <see cref="Lanes.PairsAt256"/> (AVX2: 256 bits, 16 registers) in two, each
    /// with two vectors an iteration: r and z (σ of the two sums, one body over both blocks), then n and h. As for the LSTM
    /// (<see cref="LstmCell"/>), the one-pass body kept its intermediates on the stack there and its iterations hardly
    /// overlapped (docs/performance.md, "The gate passes on 16 registers"). Every element runs the same operations.
    /// </summary>
    private static unsafe void ForwardRows(float* gates, float* gh, float* hPrev, float* ghN, float* h, int b, int units, int stateStride)
    {
        if (units == 0 || !PairedGates || !Lanes.PairsAt256)
        {
            OnePass(gates, gh, hPrev, ghN, h, b, units, stateStride);
            return;
        }

        int group = TwoPassGroups.Rows(3 * units);
        for (int first = 0; first < b; first += group)
        {
            int count = Math.Min(group, b - first);
            nint g0 = (nint)first * 3 * units, s0 = (nint)first * stateStride;
            ResetAndUpdate(gates + g0, gh + g0, count, units);
            NewAndState(gates + g0, gh + g0, hPrev + s0, ghN + s0, h + s0, count, units, stateStride);
        }
    }

    /// <summary>F3 over b rows: r and z (the first 2·units floats of each gate row) = σ(x + gh), in pairs of vectors.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ResetAndUpdate(float* gates, float* gh, int b, int units)
    {
        nuint n = (nuint)units;
        var body = new SigmoidOfSumBody { P = gates, Q = gh };
        for (int r = 0; r < b; r++)
        {
            Lanes.RunPaired(ref body, 2 * n);
            body.P += 3 * n; body.Q += 3 * n;
        }
    }

    /// <summary>F4–F5 over b rows, from the r and z that <see cref="ResetAndUpdate"/> stored, in pairs of vectors.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe void NewAndState(float* gates, float* gh, float* hPrev, float* ghN, float* h, int b, int units, int stateStride)
    {
        nuint n = (nuint)units, ss = (nuint)stateStride;
        var body = new NewStateBody { G = gates, Gh = gh, HPrev = hPrev, GhN = ghN, H = h, N = n };
        for (int r = 0; r < b; r++)
        {
            Lanes.RunPaired(ref body, n);
            body.G += 3 * n; body.Gh += 3 * n; body.HPrev += ss; body.GhN += ss; body.H += ss;
        }
    }

    /// <summary>F3 for r and z: p[j] = σ(p[j] + q[j]).</summary>
    private unsafe struct SigmoidOfSumBody : ILaneBody
    {
        public float* P;      // x_r, x_z in; r, z out
        public float* Q;      // gh_r, gh_z

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void At<TV, O>(nuint j) where TV : struct where O : struct, ILanes<TV>
            => O.Store(Sigmoid<TV, O>(O.Add(O.Load(ref *P, j), O.Load(ref *Q, j))), ref *P, j);
    }

    /// <summary>F4–F5, one row, from the stored r and z: the lines of <see cref="ForwardBody"/> after F3.</summary>
    private unsafe struct NewStateBody : ILaneBody
    {
        public float* G;      // (3n) r, z in; x_n in, n out
        public float* Gh;     // (3n) gh_n read
        public float* HPrev;  // (n) h_{t−1}
        public float* GhN;    // (n) gh_n out
        public float* H;      // (n) h_t out
        public nuint N;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void At<TV, O>(nuint j) where TV : struct where O : struct, ILanes<TV>
        {
            nuint n = N;
            TV r = O.Load(ref *G, j), z = O.Load(ref *G, n + j);
            TV hn = O.Load(ref *Gh, 2 * n + j);
            TV nn = Tanh<TV, O>(O.Fma(r, hn, O.Load(ref *G, 2 * n + j)));                    // F4: x_n + r·gh_n
            TV hh = Flush<TV, O>(O.Fma(z, O.Sub(O.Load(ref *HPrev, j), nn), nn));            // F5: n + z·(hPrev − n)
            O.Store(nn, ref *G, 2 * n + j);
            O.Store(hn, ref *GhN, j);
            O.Store(hh, ref *H, j);
        }
    }

    // Compiled on its own (never inlined into a caller): its lane bodies need the whole inlining budget of a method, and
    // inlined into a larger caller they ran their operations as calls (measured: an int8 step 2× slower).
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe void OnePass(float* gates, float* gh, float* hPrev, float* ghN, float* h, int b, int units, int stateStride)
    {
        // One body for all rows, advanced row by row: the row pointers live in the body, not in registers across the driver.
        // Gate rows hold 3·units floats; state rows are stateStride apart (H: the unit loop passes a range of a row's units).
        nuint n = (nuint)units, ss = (nuint)stateStride;
        var body = new ForwardBody { G = gates, Gh = gh, HPrev = hPrev, GhN = ghN, H = h, N = n };
        for (int r = 0; r < b; r++)
        {
            Lanes.Run(ref body, n);
            body.G += 3 * n; body.Gh += 3 * n; body.HPrev += ss; body.GhN += ss; body.H += ss;
        }
    }

    // Compiled on its own (never inlined into a caller): its lane bodies need the whole inlining budget of a method, and
    // inlined into a larger caller they ran their operations as calls (measured: an int8 step 2× slower).
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe void BackwardRows(float* act, float* ghN, float* hPrev, float* dh, float* dGx, float* dGh, float* dGhKept, int b, int H)
    {
        // dGhKept (b, H), or null: a second copy of dGh's n block (the layer keeps it per step; dGh is its step scratch).
        nuint n = (nuint)H;
        var body = new BackwardBody { Act = act, DGx = dGx, DGh = dGh, DGhKept = dGhKept, GhN = ghN, HPrev = hPrev, DH = dh, N = n };
        for (int r = 0; r < b; r++)
        {
            Lanes.Run(ref body, n);
            body.Act += 3 * n; body.DGx += 3 * n; body.DGh += 3 * n; body.GhN += n; body.HPrev += n; body.DH += n;
            if (dGhKept != null) body.DGhKept += n;
        }
    }

    /// <summary>Forward, one row: lanes [j, j + O.Count) of every buffer.</summary>
    private unsafe struct ForwardBody : ILaneBody
    {
        public float* G;      // (3n) x_r, x_z, x_n in; r, z, n out
        public float* Gh;     // (3n) gh_r, gh_z, gh_n (F2's output)
        public float* HPrev;  // (n) h_{t−1}
        public float* GhN;    // (n) gh_n out (kept for the backward pass)
        public float* H;      // (n) h_t out
        public nuint N;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void At<TV, O>(nuint j) where TV : struct where O : struct, ILanes<TV>
        {
            nuint n = N;
            TV r = Sigmoid<TV, O>(O.Add(O.Load(ref *G, j), O.Load(ref *Gh, j)));            // F3
            TV z = Sigmoid<TV, O>(O.Add(O.Load(ref *G, n + j), O.Load(ref *Gh, n + j)));
            TV hn = O.Load(ref *Gh, 2 * n + j);
            TV nn = Tanh<TV, O>(O.Fma(r, hn, O.Load(ref *G, 2 * n + j)));                    // F4: x_n + r·gh_n
            TV hh = Flush<TV, O>(O.Fma(z, O.Sub(O.Load(ref *HPrev, j), nn), nn));            // F5: n + z·(hPrev − n)
            O.Store(r, ref *G, j);
            O.Store(z, ref *G, n + j);
            O.Store(nn, ref *G, 2 * n + j);
            O.Store(hn, ref *GhN, j);
            O.Store(hh, ref *H, j);
        }
    }

    /// <summary>Backward, one row: lanes [j, j + O.Count) of every buffer.</summary>
    private unsafe struct BackwardBody : ILaneBody
    {
        public float* Act;    // (3n) r, z, n activations
        public float* GhN;    // (n) gh_n
        public float* HPrev;  // (n) h_{t−1}
        public float* DH;     // (n) dL/dh_t in; dh·z out (direct carry)
        public float* DGx;    // (3n) out: [dr, dz, dn]
        public float* DGh;    // (3n) out: [dr, dz, dn·r]
        public float* DGhKept; // (n) out, or null: dn·r again
        public nuint N;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void At<TV, O>(nuint j) where TV : struct where O : struct, ILanes<TV>
        {
            nuint n = N;
            TV one = O.Splat(1f);
            TV r = O.Load(ref *Act, j), z = O.Load(ref *Act, n + j), nn = O.Load(ref *Act, 2 * n + j);
            TV dh = O.Load(ref *DH, j);
            TV dn = O.Mul(O.Mul(dh, O.Sub(one, z)), O.Fnma(nn, nn, one));                              // B1 (F5, F4 → n's argument): dh·(1 − z)·(1 − n²)
            TV dz = Flush<TV, O>(O.Mul(O.Mul(dh, O.Sub(O.Load(ref *HPrev, j), nn)), O.Fnma(z, z, z))); // B2 (F5, F3 → z's argument): dh·(hPrev − n)·z(1 − z)
            TV dr = Flush<TV, O>(O.Mul(O.Mul(dn, O.Load(ref *GhN, j)), O.Fnma(r, r, r)));             // B3 (F4, F3 → r's argument): dn·gh_n·r(1 − r)
            O.Store(dr, ref *DGx, j);
            O.Store(dz, ref *DGx, n + j);
            O.Store(Flush<TV, O>(dn), ref *DGx, 2 * n + j);                                            // B4 (F4 → x_n): dn
            O.Store(dr, ref *DGh, j);
            O.Store(dz, ref *DGh, n + j);
            TV dnr = Flush<TV, O>(O.Mul(dn, r));                                                        // B4 (F4 → gh_n): dn·r
            O.Store(dnr, ref *DGh, 2 * n + j);
            if (DGhKept != null) O.Store(dnr, ref *DGhKept, j);
            O.Store(Flush<TV, O>(O.Mul(dh, z)), ref *DH, j);                                           // B5 (F5 → h): direct carry dh·z
        }
    }
}
