using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Microsoft.ML.Recurrent.Engine.Kernels;

/// <summary>
/// The GEMM micro-kernels written once over the lane types: an 8-row tile of one vector (8 × 16 at 512 bits, 8 × 8 at
/// 256, 8 × 4 at 128) and of two vectors (8 × 32 at 512, 8 × 8 at 128). Per step of k each loads one or two vectors of
/// B, broadcasts one A value per row and does 8 or 16 multiply–adds into independent accumulators; each C element is
/// one chain acc = O.Fma(a, b, acc) over p, then t = alpha·acc and (beta ≠ 0) t + beta·C, as in every other tile, so
/// every instantiation gives the bits the hand-written tiles gave. The 8 × 2-vector tile needs 16 accumulators, 2 B
/// vectors and a broadcast: it fits the 32 registers of AVX-512 and ARM64, not AVX2's 16 (which keeps its 6 × 16 tile,
/// <see cref="GemmAvx2"/>). Measured against the per-ISA copies they replace: the same inner-loop instructions in the
/// JIT's output and the same GFLOP/s (docs/performance.md, "Lanes and kernels").
/// </summary>
internal static unsafe class GemmTiles
{
    /// <summary>8 rows × 1 vector of lane type O.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile8x1<TV, O>(int kc, float* a, nint ars, nint acs, int mValid, float* b, nint bs,
        float* c, nint crs, nint ccs, int nValid, float alpha, float beta, float* scratch)
        where TV : struct where O : struct, ILanes<TV>
    {
        int w = (int)O.Count, last = mValid - 1;
        float* a0 = a;
        float* a1 = a + Math.Min(1, last) * ars;
        float* a2 = a + Math.Min(2, last) * ars;
        float* a3 = a + Math.Min(3, last) * ars;
        float* a4 = a + Math.Min(4, last) * ars;
        float* a5 = a + Math.Min(5, last) * ars;
        float* a6 = a + Math.Min(6, last) * ars;
        float* a7 = a + Math.Min(7, last) * ars;

        TV c0 = O.Zero, c1 = O.Zero, c2 = O.Zero, c3 = O.Zero, c4 = O.Zero, c5 = O.Zero, c6 = O.Zero, c7 = O.Zero;
        nint pa = 0, step = bs; // a local step: the stack-passed argument would be reloaded every iteration
        for (int p = 0; p < kc; p++)
        {
            TV b0 = O.Load(b);
            b += step;
            c0 = O.Fma(O.Splat(a0[pa]), b0, c0);
            c1 = O.Fma(O.Splat(a1[pa]), b0, c1);
            c2 = O.Fma(O.Splat(a2[pa]), b0, c2);
            c3 = O.Fma(O.Splat(a3[pa]), b0, c3);
            c4 = O.Fma(O.Splat(a4[pa]), b0, c4);
            c5 = O.Fma(O.Splat(a5[pa]), b0, c5);
            c6 = O.Fma(O.Splat(a6[pa]), b0, c6);
            c7 = O.Fma(O.Splat(a7[pa]), b0, c7);
            pa += acs;
        }

        if (ccs == 1 && nValid == w)
        {
            TV va = O.Splat(alpha);
            Row<TV, O>(c, c0, va, beta);
            if (mValid > 1) Row<TV, O>(c + crs, c1, va, beta);
            if (mValid > 2) Row<TV, O>(c + 2 * crs, c2, va, beta);
            if (mValid > 3) Row<TV, O>(c + 3 * crs, c3, va, beta);
            if (mValid > 4) Row<TV, O>(c + 4 * crs, c4, va, beta);
            if (mValid > 5) Row<TV, O>(c + 5 * crs, c5, va, beta);
            if (mValid > 6) Row<TV, O>(c + 6 * crs, c6, va, beta);
            if (mValid > 7) Row<TV, O>(c + 7 * crs, c7, va, beta);
            return;
        }

        if (crs == 1 && mValid == 8 && typeof(TV) != typeof(Vector128<float>))
        {
            // Swapped product: tile rows are C columns. Transpose 8 × 8 blocks in registers, store C rows.
            StoreTransposed8(c, ccs, nValid, c0, c1, c2, c3, c4, c5, c6, c7, alpha, beta);
            return;
        }

        O.Store(c0, scratch); O.Store(c1, scratch + w); O.Store(c2, scratch + 2 * w); O.Store(c3, scratch + 3 * w);
        O.Store(c4, scratch + 4 * w); O.Store(c5, scratch + 5 * w); O.Store(c6, scratch + 6 * w); O.Store(c7, scratch + 7 * w);
        if (crs == 1 && mValid == 8)
        {
            // Swapped product at 128 bits: the columns are gathered from the (L1-resident) scratch tile.
            GemmVector128.StoreTransposed(scratch, w, nValid, c, ccs, alpha, beta);
            return;
        }

        GemmCore.StoreScalar(scratch, w, mValid, nValid, c, crs, ccs, alpha, beta);
    }

    /// <summary>8 rows × 2 vectors of lane type O (16 accumulators: 512 and 128 bits).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile8x2<TV, O>(int kc, float* a, nint ars, nint acs, int mValid, float* b, nint bs,
        float* c, nint crs, nint ccs, int nValid, float alpha, float beta, float* scratch)
        where TV : struct where O : struct, ILanes<TV>
    {
        int w = (int)O.Count, last = mValid - 1;
        float* a0 = a;
        float* a1 = a + Math.Min(1, last) * ars;
        float* a2 = a + Math.Min(2, last) * ars;
        float* a3 = a + Math.Min(3, last) * ars;
        float* a4 = a + Math.Min(4, last) * ars;
        float* a5 = a + Math.Min(5, last) * ars;
        float* a6 = a + Math.Min(6, last) * ars;
        float* a7 = a + Math.Min(7, last) * ars;

        TV c00 = O.Zero, c01 = O.Zero, c10 = O.Zero, c11 = O.Zero, c20 = O.Zero, c21 = O.Zero, c30 = O.Zero, c31 = O.Zero;
        TV c40 = O.Zero, c41 = O.Zero, c50 = O.Zero, c51 = O.Zero, c60 = O.Zero, c61 = O.Zero, c70 = O.Zero, c71 = O.Zero;
        nint pa = 0, step = bs; // a local step: the stack-passed argument would be reloaded every iteration
        for (int p = 0; p < kc; p++)
        {
            TV b0 = O.Load(b);
            TV b1 = O.Load(b + w);
            b += step;
            TV x = O.Splat(a0[pa]);
            c00 = O.Fma(x, b0, c00);
            c01 = O.Fma(x, b1, c01);
            x = O.Splat(a1[pa]);
            c10 = O.Fma(x, b0, c10);
            c11 = O.Fma(x, b1, c11);
            x = O.Splat(a2[pa]);
            c20 = O.Fma(x, b0, c20);
            c21 = O.Fma(x, b1, c21);
            x = O.Splat(a3[pa]);
            c30 = O.Fma(x, b0, c30);
            c31 = O.Fma(x, b1, c31);
            x = O.Splat(a4[pa]);
            c40 = O.Fma(x, b0, c40);
            c41 = O.Fma(x, b1, c41);
            x = O.Splat(a5[pa]);
            c50 = O.Fma(x, b0, c50);
            c51 = O.Fma(x, b1, c51);
            x = O.Splat(a6[pa]);
            c60 = O.Fma(x, b0, c60);
            c61 = O.Fma(x, b1, c61);
            x = O.Splat(a7[pa]);
            c70 = O.Fma(x, b0, c70);
            c71 = O.Fma(x, b1, c71);
            pa += acs;
        }

        if (ccs == 1 && nValid == 2 * w)
        {
            TV va = O.Splat(alpha);
            Row<TV, O>(c, c00, va, beta);
            Row<TV, O>(c + w, c01, va, beta);
            if (mValid > 1) { Row<TV, O>(c + crs, c10, va, beta); Row<TV, O>(c + crs + w, c11, va, beta); }
            if (mValid > 2) { Row<TV, O>(c + 2 * crs, c20, va, beta); Row<TV, O>(c + 2 * crs + w, c21, va, beta); }
            if (mValid > 3) { Row<TV, O>(c + 3 * crs, c30, va, beta); Row<TV, O>(c + 3 * crs + w, c31, va, beta); }
            if (mValid > 4) { Row<TV, O>(c + 4 * crs, c40, va, beta); Row<TV, O>(c + 4 * crs + w, c41, va, beta); }
            if (mValid > 5) { Row<TV, O>(c + 5 * crs, c50, va, beta); Row<TV, O>(c + 5 * crs + w, c51, va, beta); }
            if (mValid > 6) { Row<TV, O>(c + 6 * crs, c60, va, beta); Row<TV, O>(c + 6 * crs + w, c61, va, beta); }
            if (mValid > 7) { Row<TV, O>(c + 7 * crs, c70, va, beta); Row<TV, O>(c + 7 * crs + w, c71, va, beta); }
            return;
        }

        if (crs == 1 && mValid == 8 && typeof(TV) != typeof(Vector128<float>))
        {
            // Swapped product: tile rows are C columns. Transpose 8 × 8 blocks in registers, store C rows.
            StoreTransposed8(c, ccs, nValid, c00, c10, c20, c30, c40, c50, c60, c70, alpha, beta);
            if (nValid > w) StoreTransposed8(c + w * ccs, ccs, nValid - w, c01, c11, c21, c31, c41, c51, c61, c71, alpha, beta);
            return;
        }

        O.Store(c00, scratch); O.Store(c01, scratch + w);
        O.Store(c10, scratch + 2 * w); O.Store(c11, scratch + 3 * w);
        O.Store(c20, scratch + 4 * w); O.Store(c21, scratch + 5 * w);
        O.Store(c30, scratch + 6 * w); O.Store(c31, scratch + 7 * w);
        O.Store(c40, scratch + 8 * w); O.Store(c41, scratch + 9 * w);
        O.Store(c50, scratch + 10 * w); O.Store(c51, scratch + 11 * w);
        O.Store(c60, scratch + 12 * w); O.Store(c61, scratch + 13 * w);
        O.Store(c70, scratch + 14 * w); O.Store(c71, scratch + 15 * w);
        if (crs == 1 && mValid == 8)
        {
            // Swapped product at 128 bits: the columns are gathered from the (L1-resident) scratch tile.
            GemmVector128.StoreTransposed(scratch, 2 * w, nValid, c, ccs, alpha, beta);
            return;
        }

        GemmCore.StoreScalar(scratch, 2 * w, mValid, nValid, c, crs, ccs, alpha, beta);
    }

    /// <summary>
    /// The matrix–vector kernel for B with contiguous rows: y[j] = beta·y[j] + alpha·Σ_p x[p·xs]·b[p·brs + j] for j in
    /// [j0, j1). It streams 8 rows of B at a time along j (sequential reads whatever the row stride), 4 vectors of lane
    /// type O wide, then one vector, then a scalar tail; the partial sums wait in a per-thread scratch row between the
    /// groups of 8 rows, stored and reloaded exactly, so each element is one chain acc = O.Fma(x, b, acc) over p in order
    /// (the scalar tail with <c>O.ScalarFma</c>): the same bits at every width. Instantiated over <see cref="L256"/> (AVX2)
    /// and <see cref="L128"/> / <see cref="L128Unfused"/> (the portable path); AVX-512 has its own batched kernels
    /// (<see cref="GemmGemvAvx512"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void GemvRows<TV, O>(int j0, int j1, int k, float alpha, float* x, nint xs, float* b, nint brs,
        float beta, float* y, nint ys)
        where TV : struct where O : struct, ILanes<TV>
    {
        int w = (int)O.Count, n = j1 - j0;
        float* acc = GemmBuffers.Get(n);
        b += j0;
        for (int p0 = 0; p0 < k; p0 += 8)
        {
            int p1 = Math.Min(k, p0 + 8);
            bool first = p0 == 0;
            float* bRow = b + p0 * brs;
            int j = 0;
            for (; j + 4 * w <= n; j += 4 * w)
            {
                TV s0 = O.Zero, s1 = O.Zero, s2 = O.Zero, s3 = O.Zero;
                if (!first)
                {
                    s0 = O.Load(acc + j);
                    s1 = O.Load(acc + j + w);
                    s2 = O.Load(acc + j + 2 * w);
                    s3 = O.Load(acc + j + 3 * w);
                }

                float* bp = bRow + j;
                nint px = p0 * xs;
                for (int p = p0; p < p1; p++)
                {
                    TV xv = O.Splat(x[px]);
                    s0 = O.Fma(xv, O.Load(bp), s0);
                    s1 = O.Fma(xv, O.Load(bp + w), s1);
                    s2 = O.Fma(xv, O.Load(bp + 2 * w), s2);
                    s3 = O.Fma(xv, O.Load(bp + 3 * w), s3);
                    bp += brs;
                    px += xs;
                }

                O.Store(s0, acc + j);
                O.Store(s1, acc + j + w);
                O.Store(s2, acc + j + 2 * w);
                O.Store(s3, acc + j + 3 * w);
            }

            for (; j + w <= n; j += w)
            {
                TV s0 = first ? O.Zero : O.Load(acc + j);
                float* bp = bRow + j;
                nint px = p0 * xs;
                for (int p = p0; p < p1; p++)
                {
                    s0 = O.Fma(O.Splat(x[px]), O.Load(bp), s0);
                    bp += brs;
                    px += xs;
                }

                O.Store(s0, acc + j);
            }

            for (; j < n; j++)
            {
                float s = first ? 0f : acc[j];
                float* bp = bRow + j;
                nint px = p0 * xs;
                for (int p = p0; p < p1; p++)
                {
                    s = O.ScalarFma(x[px], *bp, s);
                    bp += brs;
                    px += xs;
                }

                acc[j] = s;
            }
        }

        y += j0 * ys;
        int jj = 0;
        if (ys == 1)
        {
            TV va = O.Splat(alpha);
            for (; jj + w <= n; jj += w) Row<TV, O>(y + jj, O.Load(acc + jj), va, beta);
        }

        for (; jj < n; jj++) GemmCore.StoreOne(y + jj * ys, acc[jj], alpha, beta);
    }

    /// <summary>Stores alpha·acc (beta = 0), C + alpha·acc (beta = 1) or beta·C + alpha·acc to the O.Count floats at c.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Row<TV, O>(float* c, TV acc, TV alpha, float beta) where TV : struct where O : struct, ILanes<TV>
    {
        TV t = O.Mul(acc, alpha);
        if (beta != 0f)
        {
            TV o = O.Load(c);
            if (beta != 1f) o = O.Mul(o, O.Splat(beta));
            t = O.Add(t, o);
        }

        O.Store(t, c);
    }

    /// <summary>
    /// The transposed store of one 8-row block of 256- or 512-bit accumulators (row r holds C[lane, r]) through
    /// <see cref="GemmTranspose.StoreTransposed"/>, 8 lanes (C rows) at a time.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreTransposed8<TV>(float* c, nint ccs, int lanes, TV v0, TV v1, TV v2, TV v3, TV v4, TV v5, TV v6, TV v7,
        float alpha, float beta) where TV : struct
    {
        if (typeof(TV) == typeof(Vector256<float>))
        {
            GemmTranspose.StoreTransposed(c, ccs, lanes, As256(v0), As256(v1), As256(v2), As256(v3), As256(v4), As256(v5), As256(v6), As256(v7), alpha, beta);
        }
        else if (typeof(TV) == typeof(Vector512<float>))
        {
            GemmTranspose.StoreTransposed(c, ccs, lanes, As512(v0).GetLower(), As512(v1).GetLower(), As512(v2).GetLower(), As512(v3).GetLower(),
                As512(v4).GetLower(), As512(v5).GetLower(), As512(v6).GetLower(), As512(v7).GetLower(), alpha, beta);
            if (lanes > 8)
            {
                GemmTranspose.StoreTransposed(c + 8 * ccs, ccs, lanes - 8, As512(v0).GetUpper(), As512(v1).GetUpper(), As512(v2).GetUpper(), As512(v3).GetUpper(),
                    As512(v4).GetUpper(), As512(v5).GetUpper(), As512(v6).GetUpper(), As512(v7).GetUpper(), alpha, beta);
            }
        }
        else
        {
            throw new NotSupportedException("transposed store of " + typeof(TV).Name);
        }
    }

    private static Vector256<float> As256<TV>(TV v) where TV : struct => Unsafe.As<TV, Vector256<float>>(ref v);

    private static Vector512<float> As512<TV>(TV v) where TV : struct => Unsafe.As<TV, Vector512<float>>(ref v);
}
