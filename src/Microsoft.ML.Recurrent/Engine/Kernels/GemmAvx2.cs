using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Microsoft.ML.Recurrent.Engine.Kernels;

/// <summary>
/// Vector256 + FMA kernels (AVX2 machines; also the narrow tile of the AVX-512 path). Same arithmetic
/// contract as <see cref="GemmAvx512"/>: one fused chain per element, scalar tails fused too. The 8 × 8 tile is the
/// generic <see cref="GemmTiles.Tile8x1{TV, O}"/> over <see cref="L256"/>; the 6 × 16 tile stays written out here:
/// the generic 8-row × 2-vector body would need 16 accumulators + 2 B vectors + a broadcast, more than AVX2's 16 ymm
/// registers (the JIT would spill accumulators in the inner loop), and a generic 6-row body would serve this one ISA only.
/// </summary>
internal static unsafe class GemmAvx2
{
    public static bool IsSupported =>
        Vector256.IsHardwareAccelerated && System.Runtime.Intrinsics.X86.Avx2.IsSupported &&
        System.Runtime.Intrinsics.X86.Fma.IsSupported;

    /// <summary>6 × 16 tile: 12 accumulators, two B vectors and one broadcast (15 of 16 ymm registers).</summary>
    public static GemmTile Wide => new(&Tile6x16, 6, 16);

    /// <summary>8 × 8 tile for narrow N.</summary>
    public static GemmTile Narrow => new(&GemmTiles.Tile8x1<Vector256<float>, L256>, 8, 8);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile6x16(int kc, float* a, nint ars, nint acs, int mValid, float* b, nint bs,
        float* c, nint crs, nint ccs, int nValid, float alpha, float beta, float* scratch)
    {
        int last = mValid - 1;
        float* a0 = a;
        float* a1 = a + Math.Min(1, last) * ars;
        float* a2 = a + Math.Min(2, last) * ars;
        float* a3 = a + Math.Min(3, last) * ars;
        float* a4 = a + Math.Min(4, last) * ars;
        float* a5 = a + Math.Min(5, last) * ars;

        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector256<float> c20 = default, c21 = default, c30 = default, c31 = default;
        Vector256<float> c40 = default, c41 = default, c50 = default, c51 = default;

        nint pa = 0;
        for (int p = 0; p < kc; p++)
        {
            Vector256<float> b0 = Vector256.Load(b);
            Vector256<float> b1 = Vector256.Load(b + 8);
            b += bs;
            Vector256<float> x = Vector256.Create(a0[pa]);
            c00 = Vector256.FusedMultiplyAdd(x, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
            x = Vector256.Create(a1[pa]);
            c10 = Vector256.FusedMultiplyAdd(x, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
            x = Vector256.Create(a2[pa]);
            c20 = Vector256.FusedMultiplyAdd(x, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
            x = Vector256.Create(a3[pa]);
            c30 = Vector256.FusedMultiplyAdd(x, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
            x = Vector256.Create(a4[pa]);
            c40 = Vector256.FusedMultiplyAdd(x, b0, c40);
            c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
            x = Vector256.Create(a5[pa]);
            c50 = Vector256.FusedMultiplyAdd(x, b0, c50);
            c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
            pa += acs;
        }

        if (ccs == 1 && nValid == 16)
        {
            var va = Vector256.Create(alpha);
            Row(c, c00, va, beta);
            Row(c + 8, c01, va, beta);
            if (mValid > 1) { Row(c + crs, c10, va, beta); Row(c + crs + 8, c11, va, beta); }
            if (mValid > 2) { Row(c + 2 * crs, c20, va, beta); Row(c + 2 * crs + 8, c21, va, beta); }
            if (mValid > 3) { Row(c + 3 * crs, c30, va, beta); Row(c + 3 * crs + 8, c31, va, beta); }
            if (mValid > 4) { Row(c + 4 * crs, c40, va, beta); Row(c + 4 * crs + 8, c41, va, beta); }
            if (mValid > 5) { Row(c + 5 * crs, c50, va, beta); Row(c + 5 * crs + 8, c51, va, beta); }
            return;
        }

        c00.Store(scratch); c01.Store(scratch + 8);
        c10.Store(scratch + 16); c11.Store(scratch + 24);
        c20.Store(scratch + 32); c21.Store(scratch + 40);
        c30.Store(scratch + 48); c31.Store(scratch + 56);
        c40.Store(scratch + 64); c41.Store(scratch + 72);
        c50.Store(scratch + 80); c51.Store(scratch + 88);
        GemmCore.StoreScalar(scratch, 16, mValid, nValid, c, crs, ccs, alpha, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Row(float* c, Vector256<float> acc, Vector256<float> alpha, float beta)
    {
        Vector256<float> t = acc * alpha;
        if (beta != 0f)
        {
            Vector256<float> o = Vector256.Load(c);
            if (beta != 1f) o *= Vector256.Create(beta);
            t += o;
        }

        t.Store(c);
    }

    /// <summary>One-vector dot form, as <see cref="GemmGemvAvx512.Dot{TR}"/> with 8-lane chains (the same lane reduction).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void GemvDot(int j0, int j1, int k, float alpha, float* x, float* b, nint bcs,
        float beta, float* y, nint ys)
    {
        int kv = k & ~7;
        int j = j0;
        for (; j + 4 <= j1; j += 4)
        {
            float* r0 = b + j * bcs, r1 = r0 + bcs, r2 = r1 + bcs, r3 = r2 + bcs;
            Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (nint p = 0; p < kv; p += 8)
            {
                var xv = Vector256.Load(x + p);
                s0 = Vector256.FusedMultiplyAdd(Vector256.Load(r0 + p), xv, s0);
                s1 = Vector256.FusedMultiplyAdd(Vector256.Load(r1 + p), xv, s1);
                s2 = Vector256.FusedMultiplyAdd(Vector256.Load(r2 + p), xv, s2);
                s3 = Vector256.FusedMultiplyAdd(Vector256.Load(r3 + p), xv, s3);
            }

            Vector128<float> t = GemmTranspose.Sum4(s0, s1, s2, s3);
            float t0 = t.GetElement(0), t1 = t.GetElement(1), t2 = t.GetElement(2), t3 = t.GetElement(3);
            for (int p = kv; p < k; p++)
            {
                float xp = x[p];
                t0 = MathF.FusedMultiplyAdd(r0[p], xp, t0);
                t1 = MathF.FusedMultiplyAdd(r1[p], xp, t1);
                t2 = MathF.FusedMultiplyAdd(r2[p], xp, t2);
                t3 = MathF.FusedMultiplyAdd(r3[p], xp, t3);
            }

            GemmCore.StoreOne(y + j * ys, t0, alpha, beta);
            GemmCore.StoreOne(y + (j + 1) * ys, t1, alpha, beta);
            GemmCore.StoreOne(y + (j + 2) * ys, t2, alpha, beta);
            GemmCore.StoreOne(y + (j + 3) * ys, t3, alpha, beta);
        }

        for (; j < j1; j++)
        {
            float* r0 = b + j * bcs;
            Vector256<float> s0 = default;
            for (nint p = 0; p < kv; p += 8)
            {
                s0 = Vector256.FusedMultiplyAdd(Vector256.Load(r0 + p), Vector256.Load(x + p), s0);
            }

            float t0 = GemmTranspose.Sum4(s0, s0, s0, s0).ToScalar();
            for (int p = kv; p < k; p++) t0 = MathF.FusedMultiplyAdd(r0[p], x[p], t0);
            GemmCore.StoreOne(y + j * ys, t0, alpha, beta);
        }
    }
}
