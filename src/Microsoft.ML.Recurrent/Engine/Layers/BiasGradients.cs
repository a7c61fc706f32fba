using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Microsoft.ML.Recurrent.Engine.Layers;

/// <summary>
/// Bias gradients of a layer-direction, gathered inside the backward time loop: each row (sequence) of the batch
/// sums its own gate gradients over its steps (last step first) into a per-row accumulator while they are still
/// in cache — the thread that owns the row does it, so no two threads touch one accumulator — and after the loop
/// the rows' sums are added into the gradient in row order. Each element is thus one fixed chain of additions,
/// whatever the thread count or the rows' partition.
/// </summary>
internal static unsafe class BiasGradients
{
    /// <summary>
    /// acc[j] += a[0·lda + j] + a[1·lda + j] + … (rows in order) for j &lt; cols: each column is one chain of float
    /// additions starting from acc[j], whichever vector width (<see cref="ElementwiseLoops.MaxVectorWidth"/>:
    /// blocks of 4×16, 8, 4×4 and 4 columns) or the scalar tail handles it, so the bits do not depend on the width.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void AddColumns(float* a, int rows, nint lda, int cols, float* acc)
    {
        int j = 0;
        int width = ElementwiseLoops.MaxVectorWidth;
        if (width >= 512)
        {
            for (; j + 64 <= cols; j += 64)
            {
                var s0 = Vector512.Load(acc + j); var s1 = Vector512.Load(acc + j + 16);
                var s2 = Vector512.Load(acc + j + 32); var s3 = Vector512.Load(acc + j + 48);
                float* p = a + j;
                for (int r = 0; r < rows; r++, p += lda)
                {
                    s0 += Vector512.Load(p); s1 += Vector512.Load(p + 16);
                    s2 += Vector512.Load(p + 32); s3 += Vector512.Load(p + 48);
                }

                s0.Store(acc + j); s1.Store(acc + j + 16); s2.Store(acc + j + 32); s3.Store(acc + j + 48);
            }
        }

        if (width >= 256)
        {
            for (; j + 8 <= cols; j += 8)
            {
                var s0 = Vector256.Load(acc + j);
                float* p = a + j;
                for (int r = 0; r < rows; r++, p += lda) s0 += Vector256.Load(p);
                s0.Store(acc + j);
            }
        }

        if (width >= 128)
        {
            // ARM64's width: four independent accumulators per pass over the rows, as the 512-bit blocks.
            for (; j + 16 <= cols; j += 16)
            {
                var s0 = Vector128.Load(acc + j); var s1 = Vector128.Load(acc + j + 4);
                var s2 = Vector128.Load(acc + j + 8); var s3 = Vector128.Load(acc + j + 12);
                float* p = a + j;
                for (int r = 0; r < rows; r++, p += lda)
                {
                    s0 += Vector128.Load(p); s1 += Vector128.Load(p + 4);
                    s2 += Vector128.Load(p + 8); s3 += Vector128.Load(p + 12);
                }

                s0.Store(acc + j); s1.Store(acc + j + 4); s2.Store(acc + j + 8); s3.Store(acc + j + 12);
            }

            for (; j + 4 <= cols; j += 4)
            {
                var s0 = Vector128.Load(acc + j);
                float* p = a + j;
                for (int r = 0; r < rows; r++, p += lda) s0 += Vector128.Load(p);
                s0.Store(acc + j);
            }
        }

        for (; j < cols; j++)
        {
            float s = acc[j];
            float* p = a + j;
            for (int r = 0; r < rows; r++, p += lda) s += *p;
            acc[j] = s;
        }
    }
}
