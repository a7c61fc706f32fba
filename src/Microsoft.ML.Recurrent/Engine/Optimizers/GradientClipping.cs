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
    /// growing with the length. The summation order depends only on the length and the vector width
    /// (<see cref="ElementwiseLoops.MaxVectorWidth"/>, the machine's widest accelerated one by default), see
    /// <see cref="SumOfSquares"/>: the same inputs give the same bits on machines of the same width, while
    /// machines of different widths may differ in the last bits of the double sum.
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

    /// <summary>
    /// Σ g² in double. The widest path whose vector fits (512, 256 or 128 bits, at most
    /// <see cref="ElementwiseLoops.MaxVectorWidth"/>) keeps two double vectors of partial sums over the whole
    /// vector blocks — with c floats per vector, lane k of the first sums the squares of the elements whose index is
    /// k modulo c, lane k of the second those whose index is k + c/2 modulo c — adds the two, reduces the lanes with
    /// <c>VectorNNN.Sum</c>, then the remaining elements are added one at a time in order (all of them when no vector
    /// fits). The grouping of the partial sums differs between widths (c = 16, 8 or 4), so the result is
    /// deterministic for a length and a width but not bit-identical across widths. Every term is non-negative, so
    /// on every path the double sum is far more accurate than the float norm made from it. Internal so that tests
    /// can check the order bit for bit.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static double SumOfSquares(ReadOnlySpan<float> g)
    {
        int n = g.Length, i = 0;
        ref float gr = ref MemoryMarshal.GetReference(g);
        double sum = 0;
        int width = ElementwiseLoops.MaxVectorWidth;
        if (width >= 512 && n >= Vector512<float>.Count)
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
        else if (width >= 256 && n >= Vector256<float>.Count)
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
        else if (width >= 128 && n >= Vector128<float>.Count)
        {
            Vector128<double> a0 = default, a1 = default;
            for (; i <= n - Vector128<float>.Count; i += Vector128<float>.Count)
            {
                var (lo, hi) = Vector128.Widen(Vector128.LoadUnsafe(ref gr, (nuint)i));
                a0 += lo * lo;
                a1 += hi * hi;
            }

            sum = Vector128.Sum(a0 + a1);
        }

        for (; i < n; i++)
        {
            double x = g[i];
            sum += x * x;
        }

        return sum;
    }
}
