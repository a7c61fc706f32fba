using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Microsoft.ML.Recurrent.Engine.Kernels;

/// <summary>Compile-time row count (1 … 4) for the matrix–vector kernels; the JIT removes the unused rows.</summary>
internal interface IGemvRows
{
    static abstract int Count { get; }
}

internal struct GemvRows1 : IGemvRows
{
    public static int Count => 1;
}

internal struct GemvRows2 : IGemvRows
{
    public static int Count => 2;
}

internal struct GemvRows3 : IGemvRows
{
    public static int Count => 3;
}

internal struct GemvRows4 : IGemvRows
{
    public static int Count => 4;
}

/// <summary>
/// Vector512 matrix–vector kernels for R = 1 … 4 rows of op(A) (a batch of up to four vectors): every load
/// of the matrix is shared by the R rows. Row i of the output is y[i·yr + j·ys] = beta·y + alpha·Σ_p X_i[p]·B[p, j].
/// The arithmetic of an element does not depend on R, on its position or on the split between threads.
/// </summary>
internal static unsafe class GemmGemvAvx512
{
    /// <summary>
    /// Dot form (rows of B contiguous along p: B[p, j] = b[j·bcs + p]); X_i[p] = x[i·xr + p] contiguous.
    /// Each element: 16-lane fused chains over p, the lane reduction of <see cref="GemmTranspose.Sum4"/>,
    /// then a fused scalar tail.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot<TR>(int j0, int j1, int k, float alpha, float* x, nint xr, float* b, nint bcs,
        float beta, float* y, nint yr, nint ys)
        where TR : struct, IGemvRows
    {
        int kv = k & ~15;
        float* x0 = x + (TR.Count > 0 ? 0 * xr : 0);
        float* x1 = x + (TR.Count > 1 ? 1 * xr : 0);
        float* x2 = x + (TR.Count > 2 ? 2 * xr : 0);
        float* x3 = x + (TR.Count > 3 ? 3 * xr : 0);
        int j = j0;
        for (; j + 4 <= j1; j += 4)
        {
            float* r0 = b + j * bcs, r1 = r0 + bcs, r2 = r1 + bcs, r3 = r2 + bcs;
            Vector512<float> s00 = default, s01 = default, s02 = default, s03 = default;
            Vector512<float> s10 = default, s11 = default, s12 = default, s13 = default;
            Vector512<float> s20 = default, s21 = default, s22 = default, s23 = default;
            Vector512<float> s30 = default, s31 = default, s32 = default, s33 = default;
            for (nint p = 0; p < kv; p += 16)
            {
                var w0 = Vector512.Load(r0 + p);
                var w1 = Vector512.Load(r1 + p);
                var w2 = Vector512.Load(r2 + p);
                var w3 = Vector512.Load(r3 + p);
                {
                    var xv = Vector512.Load(x0 + p);
                    s00 = Vector512.FusedMultiplyAdd(w0, xv, s00);
                    s01 = Vector512.FusedMultiplyAdd(w1, xv, s01);
                    s02 = Vector512.FusedMultiplyAdd(w2, xv, s02);
                    s03 = Vector512.FusedMultiplyAdd(w3, xv, s03);
                }

                if (TR.Count > 1) {
                    var xv = Vector512.Load(x1 + p);
                    s10 = Vector512.FusedMultiplyAdd(w0, xv, s10);
                    s11 = Vector512.FusedMultiplyAdd(w1, xv, s11);
                    s12 = Vector512.FusedMultiplyAdd(w2, xv, s12);
                    s13 = Vector512.FusedMultiplyAdd(w3, xv, s13);
                }

                if (TR.Count > 2) {
                    var xv = Vector512.Load(x2 + p);
                    s20 = Vector512.FusedMultiplyAdd(w0, xv, s20);
                    s21 = Vector512.FusedMultiplyAdd(w1, xv, s21);
                    s22 = Vector512.FusedMultiplyAdd(w2, xv, s22);
                    s23 = Vector512.FusedMultiplyAdd(w3, xv, s23);
                }

                if (TR.Count > 3) {
                    var xv = Vector512.Load(x3 + p);
                    s30 = Vector512.FusedMultiplyAdd(w0, xv, s30);
                    s31 = Vector512.FusedMultiplyAdd(w1, xv, s31);
                    s32 = Vector512.FusedMultiplyAdd(w2, xv, s32);
                    s33 = Vector512.FusedMultiplyAdd(w3, xv, s33);
                }
            }

            Finish4(s00, s01, s02, s03, x0, r0, r1, r2, r3, kv, k, y + 0 * yr + j * ys, ys, alpha, beta);
            if (TR.Count > 1) Finish4(s10, s11, s12, s13, x1, r0, r1, r2, r3, kv, k, y + 1 * yr + j * ys, ys, alpha, beta);
            if (TR.Count > 2) Finish4(s20, s21, s22, s23, x2, r0, r1, r2, r3, kv, k, y + 2 * yr + j * ys, ys, alpha, beta);
            if (TR.Count > 3) Finish4(s30, s31, s32, s33, x3, r0, r1, r2, r3, kv, k, y + 3 * yr + j * ys, ys, alpha, beta);
        }

        for (; j < j1; j++)
        {
            float* r0 = b + j * bcs;
            Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (nint p = 0; p < kv; p += 16)
            {
                var w = Vector512.Load(r0 + p);
                s0 = Vector512.FusedMultiplyAdd(w, Vector512.Load(x0 + p), s0);
                if (TR.Count > 1) s1 = Vector512.FusedMultiplyAdd(w, Vector512.Load(x1 + p), s1);
                if (TR.Count > 2) s2 = Vector512.FusedMultiplyAdd(w, Vector512.Load(x2 + p), s2);
                if (TR.Count > 3) s3 = Vector512.FusedMultiplyAdd(w, Vector512.Load(x3 + p), s3);
            }

            Finish1(s0, x0, r0, kv, k, y + 0 * yr + j * ys, alpha, beta);
            if (TR.Count > 1) Finish1(s1, x1, r0, kv, k, y + 1 * yr + j * ys, alpha, beta);
            if (TR.Count > 2) Finish1(s2, x2, r0, kv, k, y + 2 * yr + j * ys, alpha, beta);
            if (TR.Count > 3) Finish1(s3, x3, r0, kv, k, y + 3 * yr + j * ys, alpha, beta);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Finish4(Vector512<float> s0, Vector512<float> s1, Vector512<float> s2, Vector512<float> s3,
        float* x, float* r0, float* r1, float* r2, float* r3, int kv, int k, float* y, nint ys, float alpha, float beta)
    {
        Vector128<float> t = GemmTranspose.Sum4(
            GemmTranspose.Fold(s0), GemmTranspose.Fold(s1), GemmTranspose.Fold(s2), GemmTranspose.Fold(s3));
        float t0 = t.GetElement(0), t1 = t.GetElement(1), t2 = t.GetElement(2), t3 = t.GetElement(3);
        for (int p = kv; p < k; p++)
        {
            float xp = x[p];
            t0 = MathF.FusedMultiplyAdd(r0[p], xp, t0);
            t1 = MathF.FusedMultiplyAdd(r1[p], xp, t1);
            t2 = MathF.FusedMultiplyAdd(r2[p], xp, t2);
            t3 = MathF.FusedMultiplyAdd(r3[p], xp, t3);
        }

        if (ys == 1)
        {
            // Same two roundings as StoreOne, four lanes at once.
            Vector128<float> v = Vector128.Create(t0, t1, t2, t3) * Vector128.Create(alpha);
            if (beta != 0f)
            {
                Vector128<float> o = Vector128.Load(y);
                if (beta != 1f) o *= Vector128.Create(beta);
                v += o;
            }

            v.Store(y);
            return;
        }

        GemmCore.StoreOne(y, t0, alpha, beta);
        GemmCore.StoreOne(y + ys, t1, alpha, beta);
        GemmCore.StoreOne(y + 2 * ys, t2, alpha, beta);
        GemmCore.StoreOne(y + 3 * ys, t3, alpha, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Finish1(Vector512<float> s, float* x, float* r0, int kv, int k, float* y, float alpha, float beta)
    {
        Vector256<float> h = GemmTranspose.Fold(s);
        float t0 = GemmTranspose.Sum4(h, h, h, h).ToScalar();
        for (int p = kv; p < k; p++) t0 = MathF.FusedMultiplyAdd(r0[p], x[p], t0);
        GemmCore.StoreOne(y, t0, alpha, beta);
    }

    /// <summary>
    /// Row-streaming form (rows of B contiguous along j: B[p, j] = b[p·brs + j]); X_i[p] = x[i·xr + p·xs].
    /// Streams 8 rows of B at a time along j (sequential reads whatever the row stride); the partial sums
    /// wait in a per-thread scratch row, so each element is still one fused chain over p.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rows<TR>(int j0, int j1, int k, float alpha, float* x, nint xr, nint xs, float* b, nint brs,
        float beta, float* y, nint yr, nint ys)
        where TR : struct, IGemvRows
    {
        int n = j1 - j0;
        float* acc = GemmBuffers.Get(TR.Count * n);
        float* acc0 = acc + (TR.Count > 0 ? 0 * n : 0);
        float* acc1 = acc + (TR.Count > 1 ? 1 * n : 0);
        float* acc2 = acc + (TR.Count > 2 ? 2 * n : 0);
        float* acc3 = acc + (TR.Count > 3 ? 3 * n : 0);
        float* x0 = x + (TR.Count > 0 ? 0 * xr : 0);
        float* x1 = x + (TR.Count > 1 ? 1 * xr : 0);
        float* x2 = x + (TR.Count > 2 ? 2 * xr : 0);
        float* x3 = x + (TR.Count > 3 ? 3 * xr : 0);
        b += j0;
        for (int p0 = 0; p0 < k; p0 += 8)
        {
            int p1 = Math.Min(k, p0 + 8);
            bool first = p0 == 0;
            float* bRow = b + p0 * brs;
            int j = 0;
            for (; j + 64 <= n; j += 64)
            {
                Vector512<float> s00 = default, s01 = default, s02 = default, s03 = default;
                Vector512<float> s10 = default, s11 = default, s12 = default, s13 = default;
                Vector512<float> s20 = default, s21 = default, s22 = default, s23 = default;
                Vector512<float> s30 = default, s31 = default, s32 = default, s33 = default;
                if (!first)
                {
                    { s00 = Vector512.Load(acc0 + j); s01 = Vector512.Load(acc0 + j + 16); s02 = Vector512.Load(acc0 + j + 32); s03 = Vector512.Load(acc0 + j + 48); }
                    if (TR.Count > 1) { s10 = Vector512.Load(acc1 + j); s11 = Vector512.Load(acc1 + j + 16); s12 = Vector512.Load(acc1 + j + 32); s13 = Vector512.Load(acc1 + j + 48); }
                    if (TR.Count > 2) { s20 = Vector512.Load(acc2 + j); s21 = Vector512.Load(acc2 + j + 16); s22 = Vector512.Load(acc2 + j + 32); s23 = Vector512.Load(acc2 + j + 48); }
                    if (TR.Count > 3) { s30 = Vector512.Load(acc3 + j); s31 = Vector512.Load(acc3 + j + 16); s32 = Vector512.Load(acc3 + j + 32); s33 = Vector512.Load(acc3 + j + 48); }
                }

                float* bp = bRow + j;
                nint px = p0 * xs;
                for (int p = p0; p < p1; p++)
                {
                    var w0 = Vector512.Load(bp);
                    var w1 = Vector512.Load(bp + 16);
                    var w2 = Vector512.Load(bp + 32);
                    var w3 = Vector512.Load(bp + 48);
                    { var xv = Vector512.Create(x0[px]); s00 = Vector512.FusedMultiplyAdd(xv, w0, s00); s01 = Vector512.FusedMultiplyAdd(xv, w1, s01); s02 = Vector512.FusedMultiplyAdd(xv, w2, s02); s03 = Vector512.FusedMultiplyAdd(xv, w3, s03); }
                    if (TR.Count > 1) { var xv = Vector512.Create(x1[px]); s10 = Vector512.FusedMultiplyAdd(xv, w0, s10); s11 = Vector512.FusedMultiplyAdd(xv, w1, s11); s12 = Vector512.FusedMultiplyAdd(xv, w2, s12); s13 = Vector512.FusedMultiplyAdd(xv, w3, s13); }
                    if (TR.Count > 2) { var xv = Vector512.Create(x2[px]); s20 = Vector512.FusedMultiplyAdd(xv, w0, s20); s21 = Vector512.FusedMultiplyAdd(xv, w1, s21); s22 = Vector512.FusedMultiplyAdd(xv, w2, s22); s23 = Vector512.FusedMultiplyAdd(xv, w3, s23); }
                    if (TR.Count > 3) { var xv = Vector512.Create(x3[px]); s30 = Vector512.FusedMultiplyAdd(xv, w0, s30); s31 = Vector512.FusedMultiplyAdd(xv, w1, s31); s32 = Vector512.FusedMultiplyAdd(xv, w2, s32); s33 = Vector512.FusedMultiplyAdd(xv, w3, s33); }
                    bp += brs;
                    px += xs;
                }

                { s00.Store(acc0 + j); s01.Store(acc0 + j + 16); s02.Store(acc0 + j + 32); s03.Store(acc0 + j + 48); }
                if (TR.Count > 1) { s10.Store(acc1 + j); s11.Store(acc1 + j + 16); s12.Store(acc1 + j + 32); s13.Store(acc1 + j + 48); }
                if (TR.Count > 2) { s20.Store(acc2 + j); s21.Store(acc2 + j + 16); s22.Store(acc2 + j + 32); s23.Store(acc2 + j + 48); }
                if (TR.Count > 3) { s30.Store(acc3 + j); s31.Store(acc3 + j + 16); s32.Store(acc3 + j + 32); s33.Store(acc3 + j + 48); }
            }

            for (; j + 16 <= n; j += 16)
            {
                Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
                if (!first)
                {
                    s0 = Vector512.Load(acc0 + j);
                    if (TR.Count > 1) s1 = Vector512.Load(acc1 + j);
                    if (TR.Count > 2) s2 = Vector512.Load(acc2 + j);
                    if (TR.Count > 3) s3 = Vector512.Load(acc3 + j);
                }

                float* bp = bRow + j;
                nint px = p0 * xs;
                for (int p = p0; p < p1; p++)
                {
                    var w = Vector512.Load(bp);
                    s0 = Vector512.FusedMultiplyAdd(Vector512.Create(x0[px]), w, s0);
                    if (TR.Count > 1) s1 = Vector512.FusedMultiplyAdd(Vector512.Create(x1[px]), w, s1);
                    if (TR.Count > 2) s2 = Vector512.FusedMultiplyAdd(Vector512.Create(x2[px]), w, s2);
                    if (TR.Count > 3) s3 = Vector512.FusedMultiplyAdd(Vector512.Create(x3[px]), w, s3);
                    bp += brs;
                    px += xs;
                }

                s0.Store(acc0 + j);
                if (TR.Count > 1) s1.Store(acc1 + j);
                if (TR.Count > 2) s2.Store(acc2 + j);
                if (TR.Count > 3) s3.Store(acc3 + j);
            }

            for (; j < n; j++)
            {
                for (int i = 0; i < TR.Count; i++)
                {
                    float* xi = x + i * xr;
                    float s = first ? 0f : acc[i * n + j];
                    float* bp = bRow + j;
                    nint px = p0 * xs;
                    for (int p = p0; p < p1; p++)
                    {
                        s = MathF.FusedMultiplyAdd(xi[px], *bp, s);
                        bp += brs;
                        px += xs;
                    }

                    acc[i * n + j] = s;
                }
            }
        }

        for (int i = 0; i < TR.Count; i++)
        {
            float* yi = y + i * yr + j0 * ys;
            float* ai = acc + i * n;
            int jj = 0;
            if (ys == 1)
            {
                var va = Vector512.Create(alpha);
                for (; jj + 16 <= n; jj += 16) GemmAvx512.Row(yi + jj, Vector512.Load(ai + jj), va, beta);
            }

            for (; jj < n; jj++) GemmCore.StoreOne(yi + jj * ys, ai[jj], alpha, beta);
        }
    }
}
