using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Microsoft.ML.Recurrent.Engine.Kernels;

/// <summary>
/// Fused element-wise passes of one recurrent time step over b rows: every gate activation, the state
/// update and the flush of tiny values happen in one sweep over the row instead of one
/// <c>TensorPrimitives</c> pass per operation.
/// <para>
/// Buffers are contiguous and row-major: row r of a (b, G·H) gate buffer starts at r·G·H and holds the
/// gate blocks one after the other (LSTM i, f, g, o; GRU r, z, n); row r of a (b, H) state buffer
/// starts at r·H.
/// </para>
/// <para>
/// Every element is computed by one generic body (<see cref="ILanes{TV}"/>) instantiated with a pair of
/// <see cref="Vector512{T}"/> (two vectors per iteration, so their long dependency chains overlap),
/// <see cref="Vector512{T}"/>, <see cref="Vector256{T}"/>, <see cref="Vector128{T}"/> (ARM64's AdvSimd width) and a
/// plain float for the remainder of a row. The three use the same operations with the same fused multiply-adds and divisions, so results do
/// not depend on the vector width (bit-identical across paths and machines). The entry points are
/// compiled fully optimised on their first call (AggressiveOptimization): unoptimised tier-0 code of these
/// generic bodies is many times slower, and a short inference run may never call them often enough to tier up.
/// </para>
/// <para>
/// Activations: σ(x) = 1 / (1 + e^−x) and tanh(|x|) = (1 − e^−2|x|) / (1 + e^−2|x|) computed through
/// e^t − 1 with a Cephes-style exp (range reduction by ln 2, degree-7 polynomial, a few ulp). Arguments
/// are clamped to ±80 so nothing overflows: σ(+large) = 1, σ(−large) = 0 (flushed, see below),
/// tanh(±large) = ±1 exactly; ±∞ saturates the same way and NaN in gives NaN out.
/// </para>
/// <para>
/// Flush to zero: .NET cannot set the CPU's flush-to-zero / denormals-are-zero flags, and an operation
/// that reads or produces a subnormal float (|x| &lt; 1.18e−38) can be tens of times slower. Over long
/// sequences vanishing gradients and decaying cell states shrink step after step until they turn
/// subnormal, after which every later step is slow. So every value these kernels write to a state or a
/// gradient (c, h, dc, dh, dPre, dGx, dGh), and every activation they store, is set to exactly 0 when
/// |x| &lt; <see cref="FlushThreshold"/> = 1e−30. The threshold sits eight decades above the subnormal
/// range, so a flushed value cannot turn subnormal after a few more multiplications by gates, derivatives
/// or weights in the next steps, and it is far below anything that changes a float sum of ordinary
/// magnitude (1e−30 is below one ulp of any value larger than 1e−23).
/// </para>
/// </summary>
internal static class GateKernels
{
    /// <summary>Values with a smaller magnitude are written as exactly 0 (see the class remarks).</summary>
    public const float FlushThreshold = 1e-30f;

    /// <summary>The element-wise kernels' widest vector path on the calling thread: the shared <see cref="Lanes.MaxVectorWidth"/>.</summary>
    public static int MaxVectorWidth
    {
        get => Lanes.MaxVectorWidth;
        set => Lanes.MaxVectorWidth = value;
    }

    /// <summary>
    /// LSTM step. gates (b, 4H): pre-activations i, f, g, o in; activations σ(i), σ(f), tanh(g), σ(o) out.
    /// c = f·cPrev + i·g, tanhC = tanh(c), h = o·tanhC; cPrev, c, tanhC, h are (b, H).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LstmForward(Span<float> gates, ReadOnlySpan<float> cPrev, Span<float> c, Span<float> tanhC, Span<float> h, int b, int H)
    {
        CheckShape(b, H);
        CheckLength(gates.Length, 4L * b * H, nameof(gates));
        CheckLength(cPrev.Length, (long)b * H, nameof(cPrev));
        CheckLength(c.Length, (long)b * H, nameof(c));
        CheckLength(tanhC.Length, (long)b * H, nameof(tanhC));
        CheckLength(h.Length, (long)b * H, nameof(h));
        ref float g0 = ref MemoryMarshal.GetReference(gates);
        ref float cp0 = ref MemoryMarshal.GetReference(cPrev);
        ref float c0 = ref MemoryMarshal.GetReference(c);
        ref float tc0 = ref MemoryMarshal.GetReference(tanhC);
        ref float h0 = ref MemoryMarshal.GetReference(h);
        int width = MaxVectorWidth;
        nuint n = (nuint)H;
        for (nuint r = 0; r < (nuint)b; r++)
        {
            ref float g = ref Unsafe.Add(ref g0, r * 4 * n);
            ref float cp = ref Unsafe.Add(ref cp0, r * n);
            ref float cc = ref Unsafe.Add(ref c0, r * n);
            ref float tc = ref Unsafe.Add(ref tc0, r * n);
            ref float hh = ref Unsafe.Add(ref h0, r * n);
            nuint j = 0;
            if (width >= 512)
            {
                for (; j + L512x2.Count <= n; j += L512x2.Count) LstmAt<Pair512, L512x2>(ref g, ref cp, ref cc, ref tc, ref hh, n, j);
                for (; j + L512.Count <= n; j += L512.Count) LstmAt<Vector512<float>, L512>(ref g, ref cp, ref cc, ref tc, ref hh, n, j);
            }
            if (width >= 256)
                for (; j + L256.Count <= n; j += L256.Count) LstmAt<Vector256<float>, L256>(ref g, ref cp, ref cc, ref tc, ref hh, n, j);
            if (width >= 128)
                for (; j + L128.Count <= n; j += L128.Count) LstmAt<Vector128<float>, L128>(ref g, ref cp, ref cc, ref tc, ref hh, n, j);
            for (; j < n; j++) LstmAt<float, L1>(ref g, ref cp, ref cc, ref tc, ref hh, n, j);
        }
    }

    /// <summary>
    /// GRU step. gates (b, 3H): input projection x_r, x_z, x_n (with b_ih) in; r, z, n out. gh (b, 3H):
    /// h·W_hhᵀ + b_hh. r = σ(x_r + gh_r), z = σ(x_z + gh_z), n = tanh(x_n + r·gh_n),
    /// h = (1 − z)·n + z·hPrev (computed as n + z·(hPrev − n)); ghN (b, H) receives gh_n for the backward pass.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void GruForward(Span<float> gates, ReadOnlySpan<float> gh, ReadOnlySpan<float> hPrev, Span<float> ghN, Span<float> h, int b, int H)
    {
        CheckShape(b, H);
        CheckLength(gates.Length, 3L * b * H, nameof(gates));
        CheckLength(gh.Length, 3L * b * H, nameof(gh));
        CheckLength(hPrev.Length, (long)b * H, nameof(hPrev));
        CheckLength(ghN.Length, (long)b * H, nameof(ghN));
        CheckLength(h.Length, (long)b * H, nameof(h));
        ref float g0 = ref MemoryMarshal.GetReference(gates);
        ref float gh0 = ref MemoryMarshal.GetReference(gh);
        ref float hp0 = ref MemoryMarshal.GetReference(hPrev);
        ref float hn0 = ref MemoryMarshal.GetReference(ghN);
        ref float h0 = ref MemoryMarshal.GetReference(h);
        int width = MaxVectorWidth;
        nuint n = (nuint)H;
        for (nuint r = 0; r < (nuint)b; r++)
        {
            ref float g = ref Unsafe.Add(ref g0, r * 3 * n);
            ref float ghr = ref Unsafe.Add(ref gh0, r * 3 * n);
            ref float hp = ref Unsafe.Add(ref hp0, r * n);
            ref float hn = ref Unsafe.Add(ref hn0, r * n);
            ref float hh = ref Unsafe.Add(ref h0, r * n);
            nuint j = 0;
            if (width >= 512)
            {
                for (; j + L512x2.Count <= n; j += L512x2.Count) GruAt<Pair512, L512x2>(ref g, ref ghr, ref hp, ref hn, ref hh, n, j);
                for (; j + L512.Count <= n; j += L512.Count) GruAt<Vector512<float>, L512>(ref g, ref ghr, ref hp, ref hn, ref hh, n, j);
            }
            if (width >= 256)
                for (; j + L256.Count <= n; j += L256.Count) GruAt<Vector256<float>, L256>(ref g, ref ghr, ref hp, ref hn, ref hh, n, j);
            if (width >= 128)
                for (; j + L128.Count <= n; j += L128.Count) GruAt<Vector128<float>, L128>(ref g, ref ghr, ref hp, ref hn, ref hh, n, j);
            for (; j < n; j++) GruAt<float, L1>(ref g, ref ghr, ref hp, ref hn, ref hh, n, j);
        }
    }

    /// <summary>Simple RNN step: h = tanh(pre) over <paramref name="count"/> = b·H elements.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RnnForward(ReadOnlySpan<float> pre, Span<float> h, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        CheckLength(pre.Length, count, nameof(pre));
        CheckLength(h.Length, count, nameof(h));
        ref float p = ref MemoryMarshal.GetReference(pre);
        ref float hh = ref MemoryMarshal.GetReference(h);
        int width = MaxVectorWidth;
        nuint n = (nuint)count, j = 0;
        if (width >= 512)
            for (; j + L512.Count <= n; j += L512.Count) L512.Store(Tanh<Vector512<float>, L512>(L512.Load(ref p, j)), ref hh, j);
        if (width >= 256)
            for (; j + L256.Count <= n; j += L256.Count) L256.Store(Tanh<Vector256<float>, L256>(L256.Load(ref p, j)), ref hh, j);
        if (width >= 128)
            for (; j + L128.Count <= n; j += L128.Count) L128.Store(Tanh<Vector128<float>, L128>(L128.Load(ref p, j)), ref hh, j);
        for (; j < n; j++) L1.Store(Tanh<float, L1>(L1.Load(ref p, j)), ref hh, j);
    }

    /// <summary>
    /// LSTM step backward. act (b, 4H): the step's activations i, f, g, o; cPrev, tanhC, dh: (b, H);
    /// dc (b, H): the carried cell gradient in, dc_t·f out (the carry for the previous step), where
    /// dc_t = dc + dh·o·(1 − tanhC²). dPre (b, 4H) out: gradients w.r.t. the pre-activations,
    /// dc_t·g·i(1 − i), dc_t·cPrev·f(1 − f), dc_t·i·(1 − g²), dh·tanhC·o(1 − o).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LstmBackward(ReadOnlySpan<float> act, ReadOnlySpan<float> cPrev, ReadOnlySpan<float> tanhC, ReadOnlySpan<float> dh,
        Span<float> dc, Span<float> dPre, int b, int H)
    {
        CheckShape(b, H);
        CheckLength(act.Length, 4L * b * H, nameof(act));
        CheckLength(cPrev.Length, (long)b * H, nameof(cPrev));
        CheckLength(tanhC.Length, (long)b * H, nameof(tanhC));
        CheckLength(dh.Length, (long)b * H, nameof(dh));
        CheckLength(dc.Length, (long)b * H, nameof(dc));
        CheckLength(dPre.Length, 4L * b * H, nameof(dPre));
        ref float a0 = ref MemoryMarshal.GetReference(act);
        ref float cp0 = ref MemoryMarshal.GetReference(cPrev);
        ref float tc0 = ref MemoryMarshal.GetReference(tanhC);
        ref float dh0 = ref MemoryMarshal.GetReference(dh);
        ref float dc0 = ref MemoryMarshal.GetReference(dc);
        ref float dp0 = ref MemoryMarshal.GetReference(dPre);
        int width = MaxVectorWidth;
        nuint n = (nuint)H;
        for (nuint r = 0; r < (nuint)b; r++)
        {
            ref float a = ref Unsafe.Add(ref a0, r * 4 * n);
            ref float dp = ref Unsafe.Add(ref dp0, r * 4 * n);
            ref float cp = ref Unsafe.Add(ref cp0, r * n);
            ref float tc = ref Unsafe.Add(ref tc0, r * n);
            ref float dhr = ref Unsafe.Add(ref dh0, r * n);
            ref float dcr = ref Unsafe.Add(ref dc0, r * n);
            nuint j = 0;
            if (width >= 512)
            {
                for (; j + L512x2.Count <= n; j += L512x2.Count) LstmBackAt<Pair512, L512x2>(ref a, ref cp, ref tc, ref dhr, ref dcr, ref dp, n, j);
                for (; j + L512.Count <= n; j += L512.Count) LstmBackAt<Vector512<float>, L512>(ref a, ref cp, ref tc, ref dhr, ref dcr, ref dp, n, j);
            }
            if (width >= 256)
                for (; j + L256.Count <= n; j += L256.Count) LstmBackAt<Vector256<float>, L256>(ref a, ref cp, ref tc, ref dhr, ref dcr, ref dp, n, j);
            if (width >= 128)
                for (; j + L128.Count <= n; j += L128.Count) LstmBackAt<Vector128<float>, L128>(ref a, ref cp, ref tc, ref dhr, ref dcr, ref dp, n, j);
            for (; j < n; j++) LstmBackAt<float, L1>(ref a, ref cp, ref tc, ref dhr, ref dcr, ref dp, n, j);
        }
    }

    /// <summary>
    /// GRU step backward. act (b, 3H): activations r, z, n; ghN, hPrev (b, H); dh (b, H): gradient w.r.t. h
    /// in, dh·z out (the direct part of the carry; the caller adds dGh·W_hh). With dn = dh·(1 − z)·(1 − n²),
    /// dz = dh·(hPrev − n)·z(1 − z), dr = dn·ghN·r(1 − r): dGx (b, 3H) = [dr, dz, dn] (w.r.t. the input
    /// projection) and dGh (b, 3H) = [dr, dz, dn·r] (w.r.t. the recurrent projection).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void GruBackward(ReadOnlySpan<float> act, ReadOnlySpan<float> ghN, ReadOnlySpan<float> hPrev, Span<float> dh,
        Span<float> dGx, Span<float> dGh, int b, int H)
    {
        CheckShape(b, H);
        CheckLength(act.Length, 3L * b * H, nameof(act));
        CheckLength(ghN.Length, (long)b * H, nameof(ghN));
        CheckLength(hPrev.Length, (long)b * H, nameof(hPrev));
        CheckLength(dh.Length, (long)b * H, nameof(dh));
        CheckLength(dGx.Length, 3L * b * H, nameof(dGx));
        CheckLength(dGh.Length, 3L * b * H, nameof(dGh));
        ref float a0 = ref MemoryMarshal.GetReference(act);
        ref float hn0 = ref MemoryMarshal.GetReference(ghN);
        ref float hp0 = ref MemoryMarshal.GetReference(hPrev);
        ref float dh0 = ref MemoryMarshal.GetReference(dh);
        ref float dx0 = ref MemoryMarshal.GetReference(dGx);
        ref float dg0 = ref MemoryMarshal.GetReference(dGh);
        int width = MaxVectorWidth;
        nuint n = (nuint)H;
        for (nuint r = 0; r < (nuint)b; r++)
        {
            ref float a = ref Unsafe.Add(ref a0, r * 3 * n);
            ref float dx = ref Unsafe.Add(ref dx0, r * 3 * n);
            ref float dg = ref Unsafe.Add(ref dg0, r * 3 * n);
            ref float hn = ref Unsafe.Add(ref hn0, r * n);
            ref float hp = ref Unsafe.Add(ref hp0, r * n);
            ref float dhr = ref Unsafe.Add(ref dh0, r * n);
            nuint j = 0;
            if (width >= 512)
            {
                for (; j + L512x2.Count <= n; j += L512x2.Count) GruBackAt<Pair512, L512x2>(ref a, ref hn, ref hp, ref dhr, ref dx, ref dg, n, j);
                for (; j + L512.Count <= n; j += L512.Count) GruBackAt<Vector512<float>, L512>(ref a, ref hn, ref hp, ref dhr, ref dx, ref dg, n, j);
            }
            if (width >= 256)
                for (; j + L256.Count <= n; j += L256.Count) GruBackAt<Vector256<float>, L256>(ref a, ref hn, ref hp, ref dhr, ref dx, ref dg, n, j);
            if (width >= 128)
                for (; j + L128.Count <= n; j += L128.Count) GruBackAt<Vector128<float>, L128>(ref a, ref hn, ref hp, ref dhr, ref dx, ref dg, n, j);
            for (; j < n; j++) GruBackAt<float, L1>(ref a, ref hn, ref hp, ref dhr, ref dx, ref dg, n, j);
        }
    }

    /// <summary>Simple RNN step backward: dPre = dh·(1 − h²) over <paramref name="count"/> = b·H elements.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RnnBackward(ReadOnlySpan<float> h, ReadOnlySpan<float> dh, Span<float> dPre, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        CheckLength(h.Length, count, nameof(h));
        CheckLength(dh.Length, count, nameof(dh));
        CheckLength(dPre.Length, count, nameof(dPre));
        ref float hh = ref MemoryMarshal.GetReference(h);
        ref float d = ref MemoryMarshal.GetReference(dh);
        ref float dp = ref MemoryMarshal.GetReference(dPre);
        int width = MaxVectorWidth;
        nuint n = (nuint)count, j = 0;
        if (width >= 512)
            for (; j + L512.Count <= n; j += L512.Count) RnnBackAt<Vector512<float>, L512>(ref hh, ref d, ref dp, j);
        if (width >= 256)
            for (; j + L256.Count <= n; j += L256.Count) RnnBackAt<Vector256<float>, L256>(ref hh, ref d, ref dp, j);
        if (width >= 128)
            for (; j + L128.Count <= n; j += L128.Count) RnnBackAt<Vector128<float>, L128>(ref hh, ref d, ref dp, j);
        for (; j < n; j++) RnnBackAt<float, L1>(ref hh, ref d, ref dp, j);
    }

    // ---- Element bodies (one generic copy per kernel) ----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void LstmAt<TV, O>(ref float g, ref float cPrev, ref float c, ref float tanhC, ref float h, nuint H, nuint j)
        where TV : struct where O : struct, ILanes<TV>
    {
        TV i = Sigmoid<TV, O>(O.Load(ref g, j));
        TV f = Sigmoid<TV, O>(O.Load(ref g, H + j));
        TV gg = Tanh<TV, O>(O.Load(ref g, 2 * H + j));
        TV o = Sigmoid<TV, O>(O.Load(ref g, 3 * H + j));
        O.Store(i, ref g, j);
        O.Store(f, ref g, H + j);
        O.Store(gg, ref g, 2 * H + j);
        O.Store(o, ref g, 3 * H + j);
        TV cc = Flush<TV, O>(O.Fma(i, gg, O.Mul(f, O.Load(ref cPrev, j))));   // f·cPrev + i·g
        TV tc = Tanh<TV, O>(cc);
        O.Store(cc, ref c, j);
        O.Store(tc, ref tanhC, j);
        O.Store(Flush<TV, O>(O.Mul(o, tc)), ref h, j);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void GruAt<TV, O>(ref float g, ref float gh, ref float hPrev, ref float ghN, ref float h, nuint H, nuint j)
        where TV : struct where O : struct, ILanes<TV>
    {
        TV r = Sigmoid<TV, O>(O.Add(O.Load(ref g, j), O.Load(ref gh, j)));
        TV z = Sigmoid<TV, O>(O.Add(O.Load(ref g, H + j), O.Load(ref gh, H + j)));
        TV hn = O.Load(ref gh, 2 * H + j);
        TV n = Tanh<TV, O>(O.Fma(r, hn, O.Load(ref g, 2 * H + j)));           // x_n + r·gh_n
        TV hh = Flush<TV, O>(O.Fma(z, O.Sub(O.Load(ref hPrev, j), n), n));    // n + z·(hPrev − n)
        O.Store(r, ref g, j);
        O.Store(z, ref g, H + j);
        O.Store(n, ref g, 2 * H + j);
        O.Store(hn, ref ghN, j);
        O.Store(hh, ref h, j);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void LstmBackAt<TV, O>(ref float act, ref float cPrev, ref float tanhC, ref float dhRow, ref float dcRow, ref float dPre, nuint H, nuint j)
        where TV : struct where O : struct, ILanes<TV>
    {
        TV one = O.Splat(1f);
        TV i = O.Load(ref act, j), f = O.Load(ref act, H + j), g = O.Load(ref act, 2 * H + j), o = O.Load(ref act, 3 * H + j);
        TV tc = O.Load(ref tanhC, j);
        TV dh = O.Load(ref dhRow, j);
        TV dc = O.Fma(O.Mul(dh, o), O.Fnma(tc, tc, one), O.Load(ref dcRow, j));          // dc + dh·o·(1 − tc²)
        O.Store(Flush<TV, O>(O.Mul(O.Mul(dc, g), O.Fnma(i, i, i))), ref dPre, j);                       // dc·g·i(1 − i)
        O.Store(Flush<TV, O>(O.Mul(O.Mul(dc, O.Load(ref cPrev, j)), O.Fnma(f, f, f))), ref dPre, H + j); // dc·cPrev·f(1 − f)
        O.Store(Flush<TV, O>(O.Mul(O.Mul(dc, i), O.Fnma(g, g, one))), ref dPre, 2 * H + j);             // dc·i·(1 − g²)
        O.Store(Flush<TV, O>(O.Mul(O.Mul(dh, tc), O.Fnma(o, o, o))), ref dPre, 3 * H + j);              // dh·tc·o(1 − o)
        O.Store(Flush<TV, O>(O.Mul(dc, f)), ref dcRow, j);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void GruBackAt<TV, O>(ref float act, ref float ghN, ref float hPrev, ref float dhRow, ref float dGx, ref float dGh, nuint H, nuint j)
        where TV : struct where O : struct, ILanes<TV>
    {
        TV one = O.Splat(1f);
        TV r = O.Load(ref act, j), z = O.Load(ref act, H + j), n = O.Load(ref act, 2 * H + j);
        TV dh = O.Load(ref dhRow, j);
        TV dn = O.Mul(O.Mul(dh, O.Sub(one, z)), O.Fnma(n, n, one));                  // dh·(1 − z)·(1 − n²)
        TV dz = Flush<TV, O>(O.Mul(O.Mul(dh, O.Sub(O.Load(ref hPrev, j), n)), O.Fnma(z, z, z))); // dh·(hPrev − n)·z(1 − z)
        TV dr = Flush<TV, O>(O.Mul(O.Mul(dn, O.Load(ref ghN, j)), O.Fnma(r, r, r))); // dn·ghN·r(1 − r)
        O.Store(dr, ref dGx, j);
        O.Store(dz, ref dGx, H + j);
        O.Store(Flush<TV, O>(dn), ref dGx, 2 * H + j);
        O.Store(dr, ref dGh, j);
        O.Store(dz, ref dGh, H + j);
        O.Store(Flush<TV, O>(O.Mul(dn, r)), ref dGh, 2 * H + j);
        O.Store(Flush<TV, O>(O.Mul(dh, z)), ref dhRow, j);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RnnBackAt<TV, O>(ref float h, ref float dh, ref float dPre, nuint j)
        where TV : struct where O : struct, ILanes<TV>
    {
        TV hv = O.Load(ref h, j);
        O.Store(Flush<TV, O>(O.Mul(O.Load(ref dh, j), O.Fnma(hv, hv, O.Splat(1f)))), ref dPre, j);
    }

    // ---- Activations ----

    private const float ExpArgLimit = 80f;            // e^±80 stays a normal float; σ and tanh are saturated well before
    private const float TanhLinear = 1f / 4096;       // below 2^−12, tanh(x) = x to float precision
    private const float Log2E = 1.44269504088896341f;
    private const float RoundMagic = 12582912f;       // 1.5·2^23: adding it rounds to an integer held in the low mantissa bits
    private const float Ln2Hi = 0.693359375f;         // ln 2 = Ln2Hi + Ln2Lo; Ln2Hi has 9 significant bits, so k·Ln2Hi is exact
    private const float Ln2Lo = -2.12194440e-4f;
    // (e^r − 1 − r) / r² on |r| ≤ ln2/2 (Cephes expf).
    private const float P0 = 1.9875691500e-4f, P1 = 1.3981999507e-3f, P2 = 8.3334519073e-3f,
        P3 = 4.1665795894e-2f, P4 = 1.6666665459e-1f, P5 = 5.0000001201e-1f;

    /// <summary>e^t = s·(1 + q) for t in [−80, 80]: returns s = 2^k and q = e^r − 1 with t = k·ln 2 + r.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV ExpParts<TV, O>(TV t, out TV q) where TV : struct where O : struct, ILanes<TV>
    {
        TV kf = O.Fma(t, O.Splat(Log2E), O.Splat(RoundMagic));
        TV k = O.Sub(kf, O.Splat(RoundMagic));
        TV r = O.Fma(k, O.Splat(-Ln2Hi), t);
        r = O.Fma(k, O.Splat(-Ln2Lo), r);
        TV p = O.Fma(O.Splat(P0), r, O.Splat(P1));
        p = O.Fma(p, r, O.Splat(P2));
        p = O.Fma(p, r, O.Splat(P3));
        p = O.Fma(p, r, O.Splat(P4));
        p = O.Fma(p, r, O.Splat(P5));
        q = O.Fma(O.Mul(r, r), p, r);
        return O.Pow2(kf);
    }

    /// <summary>σ(x) = 1 / (1 + e^−x); results below the flush threshold are 0, NaN stays NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV Sigmoid<TV, O>(TV x) where TV : struct where O : struct, ILanes<TV>
    {
        TV t = O.Min(O.Max(O.Neg(x), O.Splat(-ExpArgLimit)), O.Splat(ExpArgLimit));
        TV s = ExpParts<TV, O>(t, out TV q);
        TV one = O.Splat(1f);
        TV y = O.Div(one, O.Add(one, O.Fma(s, q, s)));
        y = O.Select(O.LessThan(y, O.Splat(FlushThreshold)), O.Splat(0f), y);
        return O.Select(O.IsNaN(x), x, y);
    }

    /// <summary>
    /// tanh(x) = sign(x)·u / (2 − u) with u = 1 − e^−2|x| (no cancellation for small |x|, exactly 1 once
    /// e^−2|x| rounds away); x itself below 2^−12; results below the flush threshold are 0, NaN stays NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV Tanh<TV, O>(TV x) where TV : struct where O : struct, ILanes<TV>
    {
        TV y = O.Abs(x);
        // −2|x| clamped to [−80, −2^−11]; the upper clamp keeps tiny inputs (answered by y itself) from
        // producing subnormal intermediates.
        TV t = O.Max(O.Min(O.Mul(y, O.Splat(-2f)), O.Splat(-2 * TanhLinear)), O.Splat(-ExpArgLimit));
        TV s = ExpParts<TV, O>(t, out TV q);
        TV one = O.Splat(1f);
        TV u = O.Fnma(s, q, O.Sub(one, s));                  // 1 − e^t = (1 − s) − s·q
        TV th = O.Div(u, O.Sub(O.Splat(2f), u));
        th = O.Select(O.LessThan(y, O.Splat(TanhLinear)), y, th);
        th = O.Select(O.LessThan(th, O.Splat(FlushThreshold)), O.Splat(0f), th);
        return O.Select(O.IsNaN(x), x, O.CopySign(th, x));
    }

    /// <summary>x, or exactly 0 where |x| &lt; <see cref="FlushThreshold"/>; NaN and ±∞ pass.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV Flush<TV, O>(TV x) where TV : struct where O : struct, ILanes<TV>
        => O.Select(O.LessThan(O.Abs(x), O.Splat(FlushThreshold)), O.Splat(0f), x);

    private static void CheckShape(int b, int H)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(b);
        ArgumentOutOfRangeException.ThrowIfNegative(H);
    }

    private static void CheckLength(int length, long required, string name)
    {
        if (length < required)
            throw new ArgumentException($"{name} has {length} elements; the shape needs at least {required}.", name);
    }
}
