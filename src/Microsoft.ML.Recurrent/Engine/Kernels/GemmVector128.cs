using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Microsoft.ML.Recurrent.Engine.Kernels;

/// <summary>
/// Portable Vector128 kernels: the vector path of machines without AVX2, chiefly ARM64 (AdvSimd, 32 vector
/// registers), and of x86 machines without FMA: the 8 × 8 and 8 × 4 tiles (<see cref="GemmTiles"/>) and the
/// matrix–vector kernels below. Written once over the lane types <see cref="L128"/> (fused) and
/// <see cref="L128Unfused"/> (multiply then add), chosen by <see cref="Lanes.UseFma"/>, with the cross-platform
/// <see cref="Vector128"/> API only. With the fused lanes, the same arithmetic contract as <see cref="GemmAvx2"/>, whose
/// results they reproduce bit for bit: each C element is one fused chain acc = fma(a, b, acc) over p, then
/// t = alpha·acc and (beta ≠ 0) t + beta·C; scalar tails are fused too; the matrix–vector dot form keeps 8-lane chains
/// (as two 4-lane halves) and the lane reduction of <see cref="GemmTranspose.Sum4"/>. With the unfused lanes every
/// fused step is a multiply then an add, tails included.
/// </summary>
internal static unsafe class GemmVector128
{
    /// <summary>
    /// Vector128 arithmetic in hardware. With fused multiply–add (every ARM64 machine, x86 with FMA) the tiles use
    /// <see cref="L128"/>; without it <see cref="L128Unfused"/> (.NET emulates a fused multiply–add one lane at a time
    /// there, slower than the scalar path), so machines that lack FMA still get a vector GEMM.
    /// </summary>
    public static bool IsSupported => Vector128.IsHardwareAccelerated;

    /// <summary>8 × 8 tile: 16 accumulators, two B vectors and one broadcast per step (19 of ARM64's 32 registers).</summary>
    public static GemmTile Wide =>
        Lanes.UseFma ? new(&GemmTiles.Tile8x2<Vector128<float>, L128>, 8, 8) : new(&GemmTiles.Tile8x2<Vector128<float>, L128Unfused>, 8, 8);

    /// <summary>8 × 4 tile for N ≤ 4.</summary>
    public static GemmTile Narrow =>
        Lanes.UseFma ? new(&GemmTiles.Tile8x1<Vector128<float>, L128>, 8, 4) : new(&GemmTiles.Tile8x1<Vector128<float>, L128Unfused>, 8, 4);

    /// <summary>
    /// Stores the transpose of an 8-row block kept row-major in <paramref name="acc"/> (row stride ldAcc; row r
    /// holds C[lane, r]): for each lane l &lt; lanes, the 8 contiguous floats at c + l·ccs, with the roundings
    /// of <see cref="Row"/>. The portable counterpart of <see cref="GemmTranspose.StoreTransposed"/>: the
    /// columns are gathered from the (L1-resident) scratch tile instead of being shuffled in registers.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void StoreTransposed(float* acc, int ldAcc, int lanes, float* c, nint ccs, float alpha, float beta)
    {
        var va = Vector128.Create(alpha);
        float* s0 = acc, s1 = acc + ldAcc, s2 = acc + 2 * ldAcc, s3 = acc + 3 * ldAcc;
        float* s4 = acc + 4 * ldAcc, s5 = acc + 5 * ldAcc, s6 = acc + 6 * ldAcc, s7 = acc + 7 * ldAcc;
        for (int l = 0; l < lanes; l++, c += ccs)
        {
            Row(c, Vector128.Create(s0[l], s1[l], s2[l], s3[l]), va, beta);
            Row(c + 4, Vector128.Create(s4[l], s5[l], s6[l], s7[l]), va, beta);
        }
    }

    /// <summary>Stores alpha·acc (beta = 0), C + alpha·acc (beta = 1) or beta·C + alpha·acc to the 4 floats at c.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Row(float* c, Vector128<float> acc, Vector128<float> alpha, float beta)
    {
        Vector128<float> t = acc * alpha;
        if (beta != 0f)
        {
            Vector128<float> o = Vector128.Load(c);
            if (beta != 1f) o *= Vector128.Create(beta);
            t += o;
        }

        t.Store(c);
    }

    /// <summary>
    /// One-vector dot form (rows of B contiguous along p: B[p, j] = b[j·bcs + p]; x contiguous), the same bits as
    /// <see cref="GemmAvx2.GemvDot"/>: lane l of an 8-lane chain (here the halves lo = lanes 0–3, hi = lanes 4–7)
    /// sums p ≡ l (mod 8) over p &lt; k rounded down to 8, the lanes are reduced as
    /// ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)), then a fused scalar tail.
    /// </summary>
    public static void GemvDot(int j0, int j1, int k, float alpha, float* x, float* b, nint bcs,
        float beta, float* y, nint ys)
    {
        if (Lanes.UseFma) GemvDot<L128>(j0, j1, k, alpha, x, b, bcs, beta, y, ys);
        else GemvDot<L128Unfused>(j0, j1, k, alpha, x, b, bcs, beta, y, ys);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GemvDot<O>(int j0, int j1, int k, float alpha, float* x, float* b, nint bcs,
        float beta, float* y, nint ys)
        where O : struct, ILanes<Vector128<float>>
    {
        int kv = k & ~7;
        int j = j0;
        for (; j + 4 <= j1; j += 4)
        {
            float* r0 = b + j * bcs, r1 = r0 + bcs, r2 = r1 + bcs, r3 = r2 + bcs;
            Vector128<float> s0 = default, s1 = default, s2 = default, s3 = default;
            Vector128<float> h0 = default, h1 = default, h2 = default, h3 = default;
            for (nint p = 0; p < kv; p += 8)
            {
                var xv = Vector128.Load(x + p);
                var xh = Vector128.Load(x + p + 4);
                s0 = O.Fma(Vector128.Load(r0 + p), xv, s0);
                h0 = O.Fma(Vector128.Load(r0 + p + 4), xh, h0);
                s1 = O.Fma(Vector128.Load(r1 + p), xv, s1);
                h1 = O.Fma(Vector128.Load(r1 + p + 4), xh, h1);
                s2 = O.Fma(Vector128.Load(r2 + p), xv, s2);
                h2 = O.Fma(Vector128.Load(r2 + p + 4), xh, h2);
                s3 = O.Fma(Vector128.Load(r3 + p), xv, s3);
                h3 = O.Fma(Vector128.Load(r3 + p + 4), xh, h3);
            }

            float t0 = Sum8(s0, h0), t1 = Sum8(s1, h1), t2 = Sum8(s2, h2), t3 = Sum8(s3, h3);
            for (int p = kv; p < k; p++)
            {
                float xp = x[p];
                t0 = O.ScalarFma(r0[p], xp, t0);
                t1 = O.ScalarFma(r1[p], xp, t1);
                t2 = O.ScalarFma(r2[p], xp, t2);
                t3 = O.ScalarFma(r3[p], xp, t3);
            }

            GemmCore.StoreOne(y + j * ys, t0, alpha, beta);
            GemmCore.StoreOne(y + (j + 1) * ys, t1, alpha, beta);
            GemmCore.StoreOne(y + (j + 2) * ys, t2, alpha, beta);
            GemmCore.StoreOne(y + (j + 3) * ys, t3, alpha, beta);
        }

        for (; j < j1; j++)
        {
            float* r0 = b + j * bcs;
            Vector128<float> s0 = default, h0 = default;
            for (nint p = 0; p < kv; p += 8)
            {
                s0 = O.Fma(Vector128.Load(r0 + p), Vector128.Load(x + p), s0);
                h0 = O.Fma(Vector128.Load(r0 + p + 4), Vector128.Load(x + p + 4), h0);
            }

            float t0 = Sum8(s0, h0);
            for (int p = kv; p < k; p++) t0 = O.ScalarFma(r0[p], x[p], t0);
            GemmCore.StoreOne(y + j * ys, t0, alpha, beta);
        }
    }

    /// <summary>
    /// Sum of the 8 lanes lo ‖ hi in the tree of <see cref="GemmTranspose.Sum4"/>:
    /// ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Sum8(Vector128<float> lo, Vector128<float> hi)
    {
        float l = (lo.GetElement(0) + lo.GetElement(1)) + (lo.GetElement(2) + lo.GetElement(3));
        float h = (hi.GetElement(0) + hi.GetElement(1)) + (hi.GetElement(2) + hi.GetElement(3));
        return l + h;
    }
}
