using System.Runtime.CompilerServices;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Microsoft.ML.Recurrent.Engine.Optimizers;

/// <summary>Clipping of the whole gradient buffer by its global L2 norm (PyTorch's clip_grad_norm_).</summary>
internal static class GradientClipping
{
    /// <summary>
    /// √(Σ g²), accumulated in double: no overflow for any finite float input and no float round-off
    /// growing with the length. The summation order depends only on the length and the machine's vector width.
    /// </summary>
    public static float GlobalNorm(ReadOnlySpan<float> g) => (float)Math.Sqrt(SumOfSquares(g));

    /// <summary>
    /// Scales <paramref name="g"/> so that its global norm is <paramref name="maxNorm"/> when it is larger;
    /// returns the norm before clipping. No-op when <paramref name="maxNorm"/> ≤ 0, when the norm is ≤
    /// <paramref name="maxNorm"/>, or when the norm is not finite (the caller decides what a NaN/∞ gradient means).
    /// </summary>
    public static float ClipByGlobalNorm(Span<float> g, float maxNorm)
    {
        double norm = Math.Sqrt(SumOfSquares(g));
        if (maxNorm > 0f && norm > maxNorm && double.IsFinite(norm))
            TensorPrimitives.Multiply(g, (float)(maxNorm / norm), g);
        return (float)norm;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double SumOfSquares(ReadOnlySpan<float> g)
    {
        int n = g.Length, i = 0;
        ref float gr = ref MemoryMarshal.GetReference(g);
        double sum = 0;
        if (Vector512.IsHardwareAccelerated && n >= Vector512<float>.Count)
        {
            Vector512<double> a0 = default, a1 = default;
            for (; i <= n - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                var (lo, hi) = Vector512.Widen(Vector512.LoadUnsafe(ref gr, (nuint)i));
                a0 += lo * lo;
                a1 += hi * hi;
            }

            sum = Vector512.Sum(a0 + a1);
        }
        else if (Vector256.IsHardwareAccelerated && n >= Vector256<float>.Count)
        {
            Vector256<double> a0 = default, a1 = default;
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var (lo, hi) = Vector256.Widen(Vector256.LoadUnsafe(ref gr, (nuint)i));
                a0 += lo * lo;
                a1 += hi * hi;
            }

            sum = Vector256.Sum(a0 + a1);
        }

        for (; i < n; i++)
        {
            double x = g[i];
            sum += x * x;
        }

        return sum;
    }
}
