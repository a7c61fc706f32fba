using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Microsoft.ML.Recurrent.Engine.Kernels;

/// <summary>
/// Vector512 + FMA: the 8 × 32 and 8 × 16 register tiles are the generic <see cref="GemmTiles"/> bodies over
/// <see cref="L512"/> (they were hand-written copies here; the generic ones compile to the same inner loops). Each C
/// element is one fused chain acc = fma(a, b, acc) over p, then t = alpha·acc and (beta ≠ 0) t + beta·C: the scalar
/// tails use <see cref="MathF.FusedMultiplyAdd"/> so that every element gets the same bits wherever it sits.
/// </summary>
internal static unsafe class GemmAvx512
{
    public static bool IsSupported =>
        Vector512.IsHardwareAccelerated && System.Runtime.Intrinsics.X86.Avx512F.IsSupported &&
        System.Runtime.Intrinsics.X86.Fma.IsSupported;

    /// <summary>8 × 32 tile: 16 accumulators, two B vectors and one broadcast per step.</summary>
    public static GemmTile Wide => new(&GemmTiles.Tile8x2<Vector512<float>, L512>, 8, 32);

    /// <summary>8 × 16 tile for narrow N (the swapped small-batch products).</summary>
    public static GemmTile Narrow => new(&GemmTiles.Tile8x1<Vector512<float>, L512>, 8, 16);

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
