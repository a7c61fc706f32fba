using System.Runtime.CompilerServices;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Microsoft.ML.Recurrent.Engine.Optimizers;

// An optimizer's per-element rule is a small readonly struct with one scalar and three vector overloads
// (Vector128, Vector256, Vector512) that perform the same IEEE operations in the same order, so an element gets
// bit-identical results whether it falls in a vector block of any width or in the scalar tail. UpdateDriver walks
// the buffers with the widest vector of ElementwiseLoops.MaxVectorWidth (the widest accelerated one: 512 or 256 on
// x64, 128 on ARM64, where .NET accelerates Vector128 only) and finishes with scalars. No method here allocates.

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
/// Runs an element-wise update over equally long buffers: blocks of the widest vector allowed by
/// <see cref="ElementwiseLoops.MaxVectorWidth"/>, then a scalar tail.
/// </summary>
internal static class UpdateDriver
{
    /// <summary>p[i] ← op(p[i], g[i]) for every i.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run<TOp>(in TOp op, Span<float> p, ReadOnlySpan<float> g)
        where TOp : struct, IStatelessUpdate
    {
        Debug.Assert(g.Length == p.Length);
        int n = p.Length, i = 0;
        ref float pr = ref MemoryMarshal.GetReference(p);
        ref float gr = ref MemoryMarshal.GetReference(g);
        int width = ElementwiseLoops.MaxVectorWidth;
        if (width >= 512)
        {
            for (; i <= n - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                nuint at = (nuint)i;
                op.Invoke(Vector512.LoadUnsafe(ref pr, at), Vector512.LoadUnsafe(ref gr, at)).StoreUnsafe(ref pr, at);
            }
        }
        else if (width >= 256)
        {
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                nuint at = (nuint)i;
                op.Invoke(Vector256.LoadUnsafe(ref pr, at), Vector256.LoadUnsafe(ref gr, at)).StoreUnsafe(ref pr, at);
            }
        }
        else if (width >= 128)
        {
            for (; i <= n - Vector128<float>.Count; i += Vector128<float>.Count)
            {
                nuint at = (nuint)i;
                op.Invoke(Vector128.LoadUnsafe(ref pr, at), Vector128.LoadUnsafe(ref gr, at)).StoreUnsafe(ref pr, at);
            }
        }

        for (; i < n; i++) p[i] = op.Invoke(p[i], g[i]);
    }

    /// <summary>p[i] ← op(p[i], g[i], ref s[i]) for every i.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run<TOp>(in TOp op, Span<float> p, ReadOnlySpan<float> g, Span<float> s)
        where TOp : struct, IUpdateWithState
    {
        Debug.Assert(g.Length == p.Length && s.Length == p.Length);
        int n = p.Length, i = 0;
        ref float pr = ref MemoryMarshal.GetReference(p);
        ref float gr = ref MemoryMarshal.GetReference(g);
        ref float sr = ref MemoryMarshal.GetReference(s);
        int width = ElementwiseLoops.MaxVectorWidth;
        if (width >= 512)
        {
            for (; i <= n - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                nuint at = (nuint)i;
                var sv = Vector512.LoadUnsafe(ref sr, at);
                op.Invoke(Vector512.LoadUnsafe(ref pr, at), Vector512.LoadUnsafe(ref gr, at), ref sv).StoreUnsafe(ref pr, at);
                sv.StoreUnsafe(ref sr, at);
            }
        }
        else if (width >= 256)
        {
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                nuint at = (nuint)i;
                var sv = Vector256.LoadUnsafe(ref sr, at);
                op.Invoke(Vector256.LoadUnsafe(ref pr, at), Vector256.LoadUnsafe(ref gr, at), ref sv).StoreUnsafe(ref pr, at);
                sv.StoreUnsafe(ref sr, at);
            }
        }
        else if (width >= 128)
        {
            for (; i <= n - Vector128<float>.Count; i += Vector128<float>.Count)
            {
                nuint at = (nuint)i;
                var sv = Vector128.LoadUnsafe(ref sr, at);
                op.Invoke(Vector128.LoadUnsafe(ref pr, at), Vector128.LoadUnsafe(ref gr, at), ref sv).StoreUnsafe(ref pr, at);
                sv.StoreUnsafe(ref sr, at);
            }
        }

        for (; i < n; i++) p[i] = op.Invoke(p[i], g[i], ref s[i]);
    }

    /// <summary>p[i] ← op(p[i], g[i], ref s1[i], ref s2[i]) for every i.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run<TOp>(in TOp op, Span<float> p, ReadOnlySpan<float> g, Span<float> s1, Span<float> s2)
        where TOp : struct, IUpdateWithTwoStates
    {
        Debug.Assert(g.Length == p.Length && s1.Length == p.Length && s2.Length == p.Length);
        int n = p.Length, i = 0;
        ref float pr = ref MemoryMarshal.GetReference(p);
        ref float gr = ref MemoryMarshal.GetReference(g);
        ref float ar = ref MemoryMarshal.GetReference(s1);
        ref float br = ref MemoryMarshal.GetReference(s2);
        int width = ElementwiseLoops.MaxVectorWidth;
        if (width >= 512)
        {
            for (; i <= n - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                nuint at = (nuint)i;
                var av = Vector512.LoadUnsafe(ref ar, at);
                var bv = Vector512.LoadUnsafe(ref br, at);
                op.Invoke(Vector512.LoadUnsafe(ref pr, at), Vector512.LoadUnsafe(ref gr, at), ref av, ref bv).StoreUnsafe(ref pr, at);
                av.StoreUnsafe(ref ar, at);
                bv.StoreUnsafe(ref br, at);
            }
        }
        else if (width >= 256)
        {
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                nuint at = (nuint)i;
                var av = Vector256.LoadUnsafe(ref ar, at);
                var bv = Vector256.LoadUnsafe(ref br, at);
                op.Invoke(Vector256.LoadUnsafe(ref pr, at), Vector256.LoadUnsafe(ref gr, at), ref av, ref bv).StoreUnsafe(ref pr, at);
                av.StoreUnsafe(ref ar, at);
                bv.StoreUnsafe(ref br, at);
            }
        }
        else if (width >= 128)
        {
            for (; i <= n - Vector128<float>.Count; i += Vector128<float>.Count)
            {
                nuint at = (nuint)i;
                var av = Vector128.LoadUnsafe(ref ar, at);
                var bv = Vector128.LoadUnsafe(ref br, at);
                op.Invoke(Vector128.LoadUnsafe(ref pr, at), Vector128.LoadUnsafe(ref gr, at), ref av, ref bv).StoreUnsafe(ref pr, at);
                av.StoreUnsafe(ref ar, at);
                bv.StoreUnsafe(ref br, at);
            }
        }

        for (; i < n; i++) p[i] = op.Invoke(p[i], g[i], ref s1[i], ref s2[i]);
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
