using System.Runtime.CompilerServices;
using Microsoft.ML.Recurrent.Engine.Kernels;

namespace Microsoft.ML.Recurrent.Engine.Cells;

/// <summary>
/// The activation maths every cell shares, written once over a lane type (<see cref="ILanes{TV}"/>) so the same
/// operations in the same order run at every vector width (bit-identical across widths and machines).
/// <para>
/// σ(x) = 1 / (1 + e^−x) and tanh(|x|) = (1 − e^−2|x|) / (1 + e^−2|x|) computed through e^t − 1 with a
/// Cephes-style exp (range reduction by ln 2, degree-7 polynomial, a few ulp). Arguments are clamped to ±80 so
/// nothing overflows: σ(+large) = 1, σ(−large) = 0 (flushed, see below), tanh(±large) = ±1 exactly; ±∞ saturates
/// the same way and NaN in gives NaN out.
/// </para>
/// <para>
/// NaN needs no select of its own: each clamp takes the argument as its second operand, and
/// <see cref="ILanes{TV}.Min"/> / <see cref="ILanes{TV}.Max"/> return NaN when the second operand is NaN (x86's
/// MINPS/MAXPS return the second operand whenever either is NaN; ARM64's FMIN/FMAX and the scalar lanes return NaN),
/// so the NaN reaches the polynomial and the division, which carry it to the result. A select on IsNaN at the end
/// cost two operations per activation: without it σ ran 1.11× and tanh 1.17× faster on Zen 3 (AVX2, values in L1),
/// with the same bits for every other input (docs/performance.md, "The activations' NaN select").
/// </para>
/// <para>
/// Flush to zero: .NET cannot set the CPU's flush-to-zero / denormals-are-zero flags, and an operation that reads
/// or produces a subnormal float (|x| &lt; 1.18e−38) can be tens of times slower. Over long sequences vanishing
/// gradients and decaying cell states shrink step after step until they turn subnormal, after which every later
/// step is slow. So every value the cells write to a state or a gradient (c, h, dc, dh, dPre, dGx, dGh), and every
/// activation they store, is set to exactly 0 when |x| &lt; <see cref="FlushThreshold"/> = 1e−30. The threshold
/// sits eight decades above the subnormal range, so a flushed value cannot turn subnormal after a few more
/// multiplications by gates, derivatives or weights in the next steps, and it is far below anything that changes a
/// float sum of ordinary magnitude (1e−30 is below one ulp of any value larger than 1e−23).
/// </para>
/// </summary>
internal static class Activations
{
    /// <summary>Values with a smaller magnitude are written as exactly 0 (see the class remarks).</summary>
    public const float FlushThreshold = 1e-30f;

    private const float ExpArgLimit = 80f;            // e^±80 stays a normal float; σ and tanh are saturated well before
    private const float TanhLinear = 1f / 4096;       // below 2^−12, tanh(x) = x to float precision
    private const float Log2E = 1.44269504088896341f;
    private const float RoundMagic = 12582912f;       // 1.5·2^23: adding it rounds to an integer held in the low mantissa bits
    private const float Ln2Hi = 0.693359375f;         // ln 2 = Ln2Hi + Ln2Lo; Ln2Hi has 9 significant bits, so k·Ln2Hi is exact
    private const float Ln2Lo = -2.12194440e-4f;
    // (e^r − 1 − r) / r² on |r| ≤ ln2/2 (Cephes expf).
    private const float P0 = 1.9875691500e-4f, P1 = 1.3981999507e-3f, P2 = 8.3334519073e-3f,
        P3 = 4.1665795894e-2f, P4 = 1.6666665459e-1f, P5 = 5.0000001201e-1f;

    /// <summary>e^t = s·(1 + q) for t in [−80, 80]: returns s = 2^k and q = e^r − 1 with t = k·ln 2 + r.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV ExpParts<TV, O>(TV t, out TV q) where TV : struct where O : struct, ILanes<TV>
    {
        TV kf = O.Fma(t, O.Splat(Log2E), O.Splat(RoundMagic));
        TV k = O.Sub(kf, O.Splat(RoundMagic));
        TV r = O.Fma(k, O.Splat(-Ln2Hi), t);
        r = O.Fma(k, O.Splat(-Ln2Lo), r);
        TV p = O.Fma(O.Splat(P0), r, O.Splat(P1));
        p = O.Fma(p, r, O.Splat(P2));
        p = O.Fma(p, r, O.Splat(P3));
        p = O.Fma(p, r, O.Splat(P4));
        p = O.Fma(p, r, O.Splat(P5));
        q = O.Fma(O.Mul(r, r), p, r);
        return O.Pow2(kf);
    }

    /// <summary>σ(x) = 1 / (1 + e^−x); results below the flush threshold are 0, NaN stays NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Sigmoid<TV, O>(TV x) where TV : struct where O : struct, ILanes<TV>
    {
        TV t = O.Min(O.Splat(ExpArgLimit), O.Max(O.Splat(-ExpArgLimit), O.Neg(x))); // NaN: the second operands carry it
        TV s = ExpParts<TV, O>(t, out TV q);
        TV one = O.Splat(1f);
        TV y = O.Div(one, O.Add(one, O.Fma(s, q, s)));
        return O.SelectLess(y, O.Splat(FlushThreshold), O.Splat(0f), y);   // NaN < threshold is false: NaN stays
    }

    /// <summary>
    /// tanh(x) = sign(x)·u / (2 − u) with u = 1 − e^−2|x| (no cancellation for small |x|, exactly 1 once
    /// e^−2|x| rounds away); x itself below 2^−12; results below the flush threshold are 0, NaN stays NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Tanh<TV, O>(TV x) where TV : struct where O : struct, ILanes<TV>
    {
        TV y = O.Abs(x);
        // −2|x| clamped to [−80, −2^−11]; the upper clamp keeps tiny inputs (answered by y itself) from
        // producing subnormal intermediates.
        TV t = O.Max(O.Splat(-ExpArgLimit), O.Min(O.Splat(-2 * TanhLinear), O.Mul(y, O.Splat(-2f)))); // NaN: as in σ
        TV s = ExpParts<TV, O>(t, out TV q);
        TV one = O.Splat(1f);
        TV u = O.Fnma(s, q, O.Sub(one, s));                  // 1 − e^t = (1 − s) − s·q
        TV th = O.Div(u, O.Sub(O.Splat(2f), u));
        th = O.SelectLess(y, O.Splat(TanhLinear), y, th);     // NaN < 2^−12 is false: th, NaN, stays
        th = O.SelectLess(th, O.Splat(FlushThreshold), O.Splat(0f), th);
        return O.CopySign(th, x);
    }

    /// <summary>x, or exactly 0 where |x| &lt; <see cref="FlushThreshold"/>; NaN and ±∞ pass.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Flush<TV, O>(TV x) where TV : struct where O : struct, ILanes<TV>
        => O.SelectLess(O.Abs(x), O.Splat(FlushThreshold), O.Splat(0f), x);

    /// <summary>Throws for a negative batch or hidden size.</summary>
    internal static void CheckShape(int b, int H)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(b);
        ArgumentOutOfRangeException.ThrowIfNegative(H);
    }

    /// <summary>Throws an <see cref="ArgumentException"/> naming the buffer when it is shorter than the shape needs.</summary>
    internal static void CheckLength(int length, long required, string name)
    {
        if (length < required)
            throw new ArgumentException($"{name} has {length} elements; the shape needs at least {required}.", name);
    }
}
