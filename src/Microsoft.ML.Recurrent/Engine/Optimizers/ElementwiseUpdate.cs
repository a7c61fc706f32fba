using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Microsoft.ML.Recurrent.Engine.Kernels;

namespace Microsoft.ML.Recurrent.Engine.Optimizers;

// An optimizer's per-element rule is a small readonly struct with one scalar and three vector overloads
// (Vector128, Vector256, Vector512) that perform the same IEEE operations in the same order, so an element gets
// bit-identical results whether it falls in a vector block of any width or in the scalar tail. UpdateDriver walks
// the buffers with the engine's one lane driver (Lanes.Run: every width up to Lanes.MaxVectorWidth, the widest
// accelerated one by default) and finishes with scalars. No method here allocates.

/// <summary>p ← f(p, g), no optimizer state.</summary>
internal interface IStatelessUpdate
{
    /// <summary>One element.</summary>
    float Invoke(float p, float g);

    /// <summary>Four elements, the same operations as the scalar overload.</summary>
    Vector128<float> Invoke(Vector128<float> p, Vector128<float> g);

    /// <summary>Eight elements, the same operations as the scalar overload.</summary>
    Vector256<float> Invoke(Vector256<float> p, Vector256<float> g);

    /// <summary>Sixteen elements, the same operations as the scalar overload.</summary>
    Vector512<float> Invoke(Vector512<float> p, Vector512<float> g);
}

/// <summary>p ← f(p, g, s) updating one state value s per parameter.</summary>
internal interface IUpdateWithState
{
    /// <summary>One element.</summary>
    float Invoke(float p, float g, ref float s);

    /// <summary>Four elements, the same operations as the scalar overload.</summary>
    Vector128<float> Invoke(Vector128<float> p, Vector128<float> g, ref Vector128<float> s);

    /// <summary>Eight elements, the same operations as the scalar overload.</summary>
    Vector256<float> Invoke(Vector256<float> p, Vector256<float> g, ref Vector256<float> s);

    /// <summary>Sixteen elements, the same operations as the scalar overload.</summary>
    Vector512<float> Invoke(Vector512<float> p, Vector512<float> g, ref Vector512<float> s);
}

/// <summary>p ← f(p, g, s1, s2) updating two state values per parameter.</summary>
internal interface IUpdateWithTwoStates
{
    /// <summary>One element.</summary>
    float Invoke(float p, float g, ref float s1, ref float s2);

    /// <summary>Four elements, the same operations as the scalar overload.</summary>
    Vector128<float> Invoke(Vector128<float> p, Vector128<float> g, ref Vector128<float> s1, ref Vector128<float> s2);

    /// <summary>Eight elements, the same operations as the scalar overload.</summary>
    Vector256<float> Invoke(Vector256<float> p, Vector256<float> g, ref Vector256<float> s1, ref Vector256<float> s2);

    /// <summary>Sixteen elements, the same operations as the scalar overload.</summary>
    Vector512<float> Invoke(Vector512<float> p, Vector512<float> g, ref Vector512<float> s1, ref Vector512<float> s2);
}

/// <summary>
/// Runs an element-wise update over equally long buffers with the engine's one driver, <see cref="Lanes.Run{TBody}"/>:
/// blocks of every width up to <see cref="Lanes.MaxVectorWidth"/> (two 512-bit vectors, one, 256, 128 bits), then a
/// scalar tail. The rules keep their four overloads (they use square roots and plain multiply-then-add, no lane
/// operation needs fusing), so the bodies below pick the overload by the lane type; the JIT removes the other branches
/// in each instantiation.
/// </summary>
internal static unsafe class UpdateDriver
{
    /// <summary>p[i] ← op(p[i], g[i]) for every i.</summary>
    public static void Run<TOp>(in TOp op, Span<float> p, ReadOnlySpan<float> g)
        where TOp : struct, IStatelessUpdate
    {
        Debug.Assert(g.Length == p.Length);
        fixed (float* pp = p, pg = g)
        {
            var body = new Stateless<TOp> { Op = op, P = pp, G = pg };
            Lanes.Run(ref body, (nuint)p.Length);
        }
    }

    /// <summary>p[i] ← op(p[i], g[i], ref s[i]) for every i.</summary>
    public static void Run<TOp>(in TOp op, Span<float> p, ReadOnlySpan<float> g, Span<float> s)
        where TOp : struct, IUpdateWithState
    {
        Debug.Assert(g.Length == p.Length && s.Length == p.Length);
        fixed (float* pp = p, pg = g, ps = s)
        {
            var body = new OneState<TOp> { Op = op, P = pp, G = pg, S = ps };
            Lanes.Run(ref body, (nuint)p.Length);
        }
    }

    /// <summary>p[i] ← op(p[i], g[i], ref s1[i], ref s2[i]) for every i.</summary>
    public static void Run<TOp>(in TOp op, Span<float> p, ReadOnlySpan<float> g, Span<float> s1, Span<float> s2)
        where TOp : struct, IUpdateWithTwoStates
    {
        Debug.Assert(g.Length == p.Length && s1.Length == p.Length && s2.Length == p.Length);
        fixed (float* pp = p, pg = g, pa = s1, pb = s2)
        {
            var body = new TwoStates<TOp> { Op = op, P = pp, G = pg, S1 = pa, S2 = pb };
            Lanes.Run(ref body, (nuint)p.Length);
        }
    }

    private struct Stateless<TOp> : ILaneBody where TOp : struct, IStatelessUpdate
    {
        public TOp Op;
        public float* P, G;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]

        public void At<TV, O>(nuint j) where TV : struct where O : struct, ILanes<TV>
        {
            if (typeof(TV) == typeof(float)) P[j] = Op.Invoke(P[j], G[j]);
            else if (typeof(TV) == typeof(Vector128<float>)) Op.Invoke(Vector128.Load(P + j), Vector128.Load(G + j)).Store(P + j);
            else if (typeof(TV) == typeof(Vector256<float>)) Op.Invoke(Vector256.Load(P + j), Vector256.Load(G + j)).Store(P + j);
            else
            {
                for (nuint h = 0; h < O.Count; h += 16)
                    Op.Invoke(Vector512.Load(P + j + h), Vector512.Load(G + j + h)).Store(P + j + h);
            }
        }
    }

    private struct OneState<TOp> : ILaneBody where TOp : struct, IUpdateWithState
    {
        public TOp Op;
        public float* P, G, S;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]

        public void At<TV, O>(nuint j) where TV : struct where O : struct, ILanes<TV>
        {
            if (typeof(TV) == typeof(float)) P[j] = Op.Invoke(P[j], G[j], ref S[j]);
            else if (typeof(TV) == typeof(Vector128<float>))
            {
                var s = Vector128.Load(S + j);
                Op.Invoke(Vector128.Load(P + j), Vector128.Load(G + j), ref s).Store(P + j);
                s.Store(S + j);
            }
            else if (typeof(TV) == typeof(Vector256<float>))
            {
                var s = Vector256.Load(S + j);
                Op.Invoke(Vector256.Load(P + j), Vector256.Load(G + j), ref s).Store(P + j);
                s.Store(S + j);
            }
            else
            {
                for (nuint h = 0; h < O.Count; h += 16)
                {
                    var s = Vector512.Load(S + j + h);
                    Op.Invoke(Vector512.Load(P + j + h), Vector512.Load(G + j + h), ref s).Store(P + j + h);
                    s.Store(S + j + h);
                }
            }
        }
    }

    private struct TwoStates<TOp> : ILaneBody where TOp : struct, IUpdateWithTwoStates
    {
        public TOp Op;
        public float* P, G, S1, S2;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]

        public void At<TV, O>(nuint j) where TV : struct where O : struct, ILanes<TV>
        {
            if (typeof(TV) == typeof(float)) P[j] = Op.Invoke(P[j], G[j], ref S1[j], ref S2[j]);
            else if (typeof(TV) == typeof(Vector128<float>))
            {
                var a = Vector128.Load(S1 + j);
                var b = Vector128.Load(S2 + j);
                Op.Invoke(Vector128.Load(P + j), Vector128.Load(G + j), ref a, ref b).Store(P + j);
                a.Store(S1 + j);
                b.Store(S2 + j);
            }
            else if (typeof(TV) == typeof(Vector256<float>))
            {
                var a = Vector256.Load(S1 + j);
                var b = Vector256.Load(S2 + j);
                Op.Invoke(Vector256.Load(P + j), Vector256.Load(G + j), ref a, ref b).Store(P + j);
                a.Store(S1 + j);
                b.Store(S2 + j);
            }
            else
            {
                for (nuint h = 0; h < O.Count; h += 16)
                {
                    var a = Vector512.Load(S1 + j + h);
                    var b = Vector512.Load(S2 + j + h);
                    Op.Invoke(Vector512.Load(P + j + h), Vector512.Load(G + j + h), ref a, ref b).Store(P + j + h);
                    a.Store(S1 + j + h);
                    b.Store(S2 + j + h);
                }
            }
        }
    }
}

/// <summary>
/// Optimizer state (moments, square averages, momentum) below <see cref="Threshold"/> in magnitude is stored as
/// exactly 0. Once training converges the gradients vanish and every state value decays geometrically (Adam's m by
/// β1 = 0.9 a step) until it turns subnormal, and arithmetic on subnormal floats can be many times slower; .NET cannot
/// set the CPU's flush-to-zero flag. The threshold is the gate kernels' (1e-30): a state value that small changes an
/// update by less than 1e-22 (Adam divides m by at least ε = 1e-8), far below one ulp of any parameter. NaN and ±∞ pass.
/// </summary>
internal static class StateFlush
{
    /// <summary>Values with a smaller magnitude are stored as 0.</summary>
    public const float Threshold = Cells.Activations.FlushThreshold;

    /// <summary>x, or 0 where |x| &lt; <see cref="Threshold"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Apply(float x) => MathF.Abs(x) < Threshold ? 0f : x;

    /// <summary>x, or 0 where |x| &lt; <see cref="Threshold"/>, lane by lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Apply(Vector128<float> x) =>
        Vector128.ConditionalSelect(Vector128.LessThan(Vector128.Abs(x), Vector128.Create(Threshold)), Vector128<float>.Zero, x);

    /// <summary>x, or 0 where |x| &lt; <see cref="Threshold"/>, lane by lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Apply(Vector256<float> x) =>
        Vector256.ConditionalSelect(Vector256.LessThan(Vector256.Abs(x), Vector256.Create(Threshold)), Vector256<float>.Zero, x);

    /// <summary>x, or 0 where |x| &lt; <see cref="Threshold"/>, lane by lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Apply(Vector512<float> x) =>
        Vector512.ConditionalSelect(Vector512.LessThan(Vector512.Abs(x), Vector512.Create(Threshold)), Vector512<float>.Zero, x);
}
