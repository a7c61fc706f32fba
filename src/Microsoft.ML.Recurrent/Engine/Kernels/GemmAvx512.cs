using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Microsoft.ML.Recurrent.Engine.Kernels;

/// <summary>
/// Vector512 + FMA kernels. Each C element is one fused chain acc = fma(a, b, acc) over p, then
/// t = alpha·acc and (beta ≠ 0) t + beta·C: the scalar tails use <see cref="MathF.FusedMultiplyAdd"/>
/// so that every element gets the same bits wherever it sits in a tile or vector.
/// </summary>
internal static unsafe class GemmAvx512
{
    public static bool IsSupported =>
        Vector512.IsHardwareAccelerated && System.Runtime.Intrinsics.X86.Avx512F.IsSupported &&
        System.Runtime.Intrinsics.X86.Fma.IsSupported;

    /// <summary>8 × 32 tile: 16 accumulators, two B vectors and one broadcast per step.</summary>
    public static GemmTile Wide => new(&Tile8x32, 8, 32);

    /// <summary>8 × 16 tile for narrow N (the swapped small-batch products).</summary>
    public static GemmTile Narrow => new(&Tile8x16, 8, 16);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile8x32(int kc, float* a, nint ars, nint acs, int mValid, float* b, nint bs,
        float* c, nint crs, nint ccs, int nValid, float alpha, float beta, float* scratch)
    {
        int last = mValid - 1;
        float* a0 = a;
        float* a1 = a + Math.Min(1, last) * ars;
        float* a2 = a + Math.Min(2, last) * ars;
        float* a3 = a + Math.Min(3, last) * ars;
        float* a4 = a + Math.Min(4, last) * ars;
        float* a5 = a + Math.Min(5, last) * ars;
        float* a6 = a + Math.Min(6, last) * ars;
        float* a7 = a + Math.Min(7, last) * ars;

        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector512<float> c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default, c70 = default, c71 = default;

        nint pa = 0;
        for (int p = 0; p < kc; p++)
        {
            Vector512<float> b0 = Vector512.Load(b);
            Vector512<float> b1 = Vector512.Load(b + 16);
            b += bs;
            Vector512<float> x = Vector512.Create(a0[pa]);
            c00 = Vector512.FusedMultiplyAdd(x, b0, c00);
            c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a1[pa]);
            c10 = Vector512.FusedMultiplyAdd(x, b0, c10);
            c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a2[pa]);
            c20 = Vector512.FusedMultiplyAdd(x, b0, c20);
            c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a3[pa]);
            c30 = Vector512.FusedMultiplyAdd(x, b0, c30);
            c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a4[pa]);
            c40 = Vector512.FusedMultiplyAdd(x, b0, c40);
            c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a5[pa]);
            c50 = Vector512.FusedMultiplyAdd(x, b0, c50);
            c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
            x = Vector512.Create(a6[pa]);
            c60 = Vector512.FusedMultiplyAdd(x, b0, c60);
            c61 = Vector512.FusedMultiplyAdd(x, b1, c61);
            x = Vector512.Create(a7[pa]);
            c70 = Vector512.FusedMultiplyAdd(x, b0, c70);
            c71 = Vector512.FusedMultiplyAdd(x, b1, c71);
            pa += acs;
        }

        if (ccs == 1 && nValid == 32)
        {
            var va = Vector512.Create(alpha);
            Row(c, c00, va, beta);
            Row(c + 16, c01, va, beta);
            if (mValid > 1) { Row(c + crs, c10, va, beta); Row(c + crs + 16, c11, va, beta); }
            if (mValid > 2) { Row(c + 2 * crs, c20, va, beta); Row(c + 2 * crs + 16, c21, va, beta); }
            if (mValid > 3) { Row(c + 3 * crs, c30, va, beta); Row(c + 3 * crs + 16, c31, va, beta); }
            if (mValid > 4) { Row(c + 4 * crs, c40, va, beta); Row(c + 4 * crs + 16, c41, va, beta); }
            if (mValid > 5) { Row(c + 5 * crs, c50, va, beta); Row(c + 5 * crs + 16, c51, va, beta); }
            if (mValid > 6) { Row(c + 6 * crs, c60, va, beta); Row(c + 6 * crs + 16, c61, va, beta); }
            if (mValid > 7) { Row(c + 7 * crs, c70, va, beta); Row(c + 7 * crs + 16, c71, va, beta); }
            return;
        }

        if (crs == 1 && mValid == 8)
        {
            // Swapped product: tile rows are C columns. Transpose 8 × 8 blocks, store C rows.
            GemmTranspose.StoreTransposed(c, ccs, nValid, c00.GetLower(), c10.GetLower(), c20.GetLower(), c30.GetLower(),
                c40.GetLower(), c50.GetLower(), c60.GetLower(), c70.GetLower(), alpha, beta);
            if (nValid > 8)
            {
                GemmTranspose.StoreTransposed(c + 8 * ccs, ccs, nValid - 8, c00.GetUpper(), c10.GetUpper(), c20.GetUpper(), c30.GetUpper(),
                    c40.GetUpper(), c50.GetUpper(), c60.GetUpper(), c70.GetUpper(), alpha, beta);
            }

            if (nValid > 16)
            {
                GemmTranspose.StoreTransposed(c + 16 * ccs, ccs, nValid - 16, c01.GetLower(), c11.GetLower(), c21.GetLower(), c31.GetLower(),
                    c41.GetLower(), c51.GetLower(), c61.GetLower(), c71.GetLower(), alpha, beta);
            }

            if (nValid > 24)
            {
                GemmTranspose.StoreTransposed(c + 24 * ccs, ccs, nValid - 24, c01.GetUpper(), c11.GetUpper(), c21.GetUpper(), c31.GetUpper(),
                    c41.GetUpper(), c51.GetUpper(), c61.GetUpper(), c71.GetUpper(), alpha, beta);
            }

            return;
        }

        c00.Store(scratch); c01.Store(scratch + 16);
        c10.Store(scratch + 32); c11.Store(scratch + 48);
        c20.Store(scratch + 64); c21.Store(scratch + 80);
        c30.Store(scratch + 96); c31.Store(scratch + 112);
        c40.Store(scratch + 128); c41.Store(scratch + 144);
        c50.Store(scratch + 160); c51.Store(scratch + 176);
        c60.Store(scratch + 192); c61.Store(scratch + 208);
        c70.Store(scratch + 224); c71.Store(scratch + 240);
        GemmCore.StoreScalar(scratch, 32, mValid, nValid, c, crs, ccs, alpha, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile8x16(int kc, float* a, nint ars, nint acs, int mValid, float* b, nint bs,
        float* c, nint crs, nint ccs, int nValid, float alpha, float beta, float* scratch)
    {
        int last = mValid - 1;
        float* a0 = a;
        float* a1 = a + Math.Min(1, last) * ars;
        float* a2 = a + Math.Min(2, last) * ars;
        float* a3 = a + Math.Min(3, last) * ars;
        float* a4 = a + Math.Min(4, last) * ars;
        float* a5 = a + Math.Min(5, last) * ars;
        float* a6 = a + Math.Min(6, last) * ars;
        float* a7 = a + Math.Min(7, last) * ars;

        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default;
        Vector512<float> c4 = default, c5 = default, c6 = default, c7 = default;

        nint pa = 0;
        for (int p = 0; p < kc; p++)
        {
            Vector512<float> b0 = Vector512.Load(b);
            b += bs;
            c0 = Vector512.FusedMultiplyAdd(Vector512.Create(a0[pa]), b0, c0);
            c1 = Vector512.FusedMultiplyAdd(Vector512.Create(a1[pa]), b0, c1);
            c2 = Vector512.FusedMultiplyAdd(Vector512.Create(a2[pa]), b0, c2);
            c3 = Vector512.FusedMultiplyAdd(Vector512.Create(a3[pa]), b0, c3);
            c4 = Vector512.FusedMultiplyAdd(Vector512.Create(a4[pa]), b0, c4);
            c5 = Vector512.FusedMultiplyAdd(Vector512.Create(a5[pa]), b0, c5);
            c6 = Vector512.FusedMultiplyAdd(Vector512.Create(a6[pa]), b0, c6);
            c7 = Vector512.FusedMultiplyAdd(Vector512.Create(a7[pa]), b0, c7);
            pa += acs;
        }

        if (ccs == 1 && nValid == 16)
        {
            var va = Vector512.Create(alpha);
            Row(c, c0, va, beta);
            if (mValid > 1) Row(c + crs, c1, va, beta);
            if (mValid > 2) Row(c + 2 * crs, c2, va, beta);
            if (mValid > 3) Row(c + 3 * crs, c3, va, beta);
            if (mValid > 4) Row(c + 4 * crs, c4, va, beta);
            if (mValid > 5) Row(c + 5 * crs, c5, va, beta);
            if (mValid > 6) Row(c + 6 * crs, c6, va, beta);
            if (mValid > 7) Row(c + 7 * crs, c7, va, beta);
            return;
        }

        if (crs == 1 && mValid == 8)
        {
            GemmTranspose.StoreTransposed(c, ccs, nValid, c0.GetLower(), c1.GetLower(), c2.GetLower(), c3.GetLower(),
                c4.GetLower(), c5.GetLower(), c6.GetLower(), c7.GetLower(), alpha, beta);
            if (nValid > 8)
            {
                GemmTranspose.StoreTransposed(c + 8 * ccs, ccs, nValid - 8, c0.GetUpper(), c1.GetUpper(), c2.GetUpper(), c3.GetUpper(),
                    c4.GetUpper(), c5.GetUpper(), c6.GetUpper(), c7.GetUpper(), alpha, beta);
            }

            return;
        }

        c0.Store(scratch); c1.Store(scratch + 16); c2.Store(scratch + 32); c3.Store(scratch + 48);
        c4.Store(scratch + 64); c5.Store(scratch + 80); c6.Store(scratch + 96); c7.Store(scratch + 112);
        GemmCore.StoreScalar(scratch, 16, mValid, nValid, c, crs, ccs, alpha, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Row(float* c, Vector512<float> acc, Vector512<float> alpha, float beta)
    {
        Vector512<float> t = acc * alpha;
        if (beta != 0f)
        {
            Vector512<float> o = Vector512.Load(c);
            if (beta != 1f) o *= Vector512.Create(beta);
            t += o;
        }

        t.Store(c);
    }
}
