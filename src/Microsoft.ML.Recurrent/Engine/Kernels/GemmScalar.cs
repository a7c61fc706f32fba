using System.Runtime.CompilerServices;

namespace Microsoft.ML.Recurrent.Engine.Kernels;

/// <summary>
/// Portable kernels for machines without the vector paths: a 4 × 4 register tile with plain
/// multiply-then-add (no fusing, so they cost the same everywhere), one sequential chain per element.
/// </summary>
internal static unsafe class GemmScalar
{
    public static GemmTile Tile => new(&Tile4x4, 4, 4);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile4x4(int kc, float* a, nint ars, nint acs, int mValid, float* b, nint bs,
        float* c, nint crs, nint ccs, int nValid, float alpha, float beta, float* scratch)
    {
        int last = mValid - 1;
        float* a0 = a;
        float* a1 = a + Math.Min(1, last) * ars;
        float* a2 = a + Math.Min(2, last) * ars;
        float* a3 = a + Math.Min(3, last) * ars;
        float c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
        float c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
        nint pa = 0;
        for (int p = 0; p < kc; p++)
        {
            float b0 = b[0], b1 = b[1], b2 = b[2], b3 = b[3];
            b += bs;
            float x = a0[pa];
            c00 += x * b0; c01 += x * b1; c02 += x * b2; c03 += x * b3;
            x = a1[pa];
            c10 += x * b0; c11 += x * b1; c12 += x * b2; c13 += x * b3;
            x = a2[pa];
            c20 += x * b0; c21 += x * b1; c22 += x * b2; c23 += x * b3;
            x = a3[pa];
            c30 += x * b0; c31 += x * b1; c32 += x * b2; c33 += x * b3;
            pa += acs;
        }

        scratch[0] = c00; scratch[1] = c01; scratch[2] = c02; scratch[3] = c03;
        scratch[4] = c10; scratch[5] = c11; scratch[6] = c12; scratch[7] = c13;
        scratch[8] = c20; scratch[9] = c21; scratch[10] = c22; scratch[11] = c23;
        scratch[12] = c30; scratch[13] = c31; scratch[14] = c32; scratch[15] = c33;
        GemmCore.StoreScalar(scratch, 4, mValid, nValid, c, crs, ccs, alpha, beta);
    }

    /// <summary>
    /// y[j] = beta·y[j] + alpha·Σ_p x[p·xs]·b[p·brs + j·bcs] for j in [j0, j1): four independent column chains
    /// at a time (each element is still one sequential chain over p).
    /// </summary>
    public static void Gemv(int j0, int j1, int k, float alpha, float* x, nint xs, float* b, nint brs, nint bcs,
        float beta, float* y, nint ys)
    {
        int j = j0;
        for (; j + 4 <= j1; j += 4)
        {
            float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f;
            float* bp = b + j * bcs;
            nint px = 0;
            for (int p = 0; p < k; p++)
            {
                float xp = x[px];
                s0 += xp * bp[0];
                s1 += xp * bp[bcs];
                s2 += xp * bp[2 * bcs];
                s3 += xp * bp[3 * bcs];
                bp += brs;
                px += xs;
            }

            GemmCore.StoreOne(y + j * ys, s0, alpha, beta);
            GemmCore.StoreOne(y + (j + 1) * ys, s1, alpha, beta);
            GemmCore.StoreOne(y + (j + 2) * ys, s2, alpha, beta);
            GemmCore.StoreOne(y + (j + 3) * ys, s3, alpha, beta);
        }

        for (; j < j1; j++)
        {
            float s = 0f;
            float* bp = b + j * bcs;
            nint px = 0;
            for (int p = 0; p < k; p++)
            {
                s += x[px] * *bp;
                bp += brs;
                px += xs;
            }

            GemmCore.StoreOne(y + j * ys, s, alpha, beta);
        }
    }
}
