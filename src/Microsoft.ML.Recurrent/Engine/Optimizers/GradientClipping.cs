using System.Runtime.CompilerServices;
using Microsoft.ML.Recurrent.Engine.Kernels;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace Microsoft.ML.Recurrent.Engine.Optimizers;

/// <summary>Clipping of the whole gradient buffer by its global L2 norm (PyTorch's clip_grad_norm_).</summary>
internal static class GradientClipping
{
    /// <summary>
    /// √(Σ g²), accumulated in double: no overflow for any finite float input and no float round-off
    /// growing with the length. The summation order depends only on the length and the vector width
    /// (<see cref="Lanes.MaxVectorWidth"/>, the machine's widest accelerated one by default), see
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
    /// <see cref="Lanes.MaxVectorWidth"/>: <see cref="Lanes.RunWidest{TBody}"/>) keeps two double vectors of partial sums
    /// over the whole vector blocks — with c floats per vector, lane k of the first sums the squares of the elements whose
    /// index is k modulo c, lane k of the second those whose index is k + c/2 modulo c — adds the two, reduces the lanes
    /// with <c>VectorNNN.Sum</c>, then the remaining elements are added one at a time in order (all of them when no vector
    /// fits). The grouping of the partial sums differs between widths (c = 16, 8 or 4), so the result is
    /// deterministic for a length and a width but not bit-identical across widths. Every term is non-negative, so
    /// on every path the double sum is far more accurate than the float norm made from it. Internal so that tests
    /// can check the order bit for bit.
    /// </summary>
    internal static unsafe double SumOfSquares(ReadOnlySpan<float> g)
    {
        fixed (float* p = g)
        {
            var body = new SquareSums { G = p };
            Lanes.RunWidest(ref body, (nuint)g.Length);
            body.Fold();
            return body.Sum;
        }
    }

    /// <summary>
    /// The body of <see cref="SumOfSquares"/>. Widening to double is no lane operation of <see cref="ILanes{TV}"/>
    /// (every other kernel is float-only), so this body picks its double accumulators by the lane type; the JIT
    /// removes the branches of the other widths in each instantiation.
    /// </summary>
    private unsafe struct SquareSums : ILaneBody
    {
        public float* G;
        public double Sum;
        private Vector512<double> _a512, _b512;
        private Vector256<double> _a256, _b256;
        private Vector128<double> _a128, _b128;
        private int _width; // the vector width used (0: none yet); set to -1 once folded into Sum

        [MethodImpl(MethodImplOptions.AggressiveInlining)]

        public void At<TV, O>(nuint j) where TV : struct where O : struct, ILanes<TV>
        {
            if (typeof(TV) == typeof(Vector512<float>))
            {
                var (lo, hi) = Vector512.Widen(Vector512.Load(G + j));
                _a512 += lo * lo;
                _b512 += hi * hi;
                _width = 512;
            }
            else if (typeof(TV) == typeof(Vector256<float>))
            {
                var (lo, hi) = Vector256.Widen(Vector256.Load(G + j));
                _a256 += lo * lo;
                _b256 += hi * hi;
                _width = 256;
            }
            else if (typeof(TV) == typeof(Vector128<float>))
            {
                var (lo, hi) = Vector128.Widen(Vector128.Load(G + j));
                _a128 += lo * lo;
                _b128 += hi * hi;
                _width = 128;
            }
            else
            {
                Fold();
                double x = G[j];
                Sum += x * x;
            }
        }

        /// <summary>Sum = the lanes' sum, once, before the first scalar element (or at the end).</summary>
        public void Fold()
        {
            if (_width < 0) return;
            Sum = _width switch
            {
                512 => Vector512.Sum(_a512 + _b512),
                256 => Vector256.Sum(_a256 + _b256),
                128 => Vector128.Sum(_a128 + _b128),
                _ => 0,
            };
            _width = -1;
        }
    }
}
