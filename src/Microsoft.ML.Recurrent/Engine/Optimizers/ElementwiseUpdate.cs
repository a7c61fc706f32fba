using System.Runtime.CompilerServices;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Microsoft.ML.Recurrent.Engine.Optimizers;

// An optimizer's per-element rule is a small readonly struct with one scalar and two vector overloads that
// perform the same IEEE operations in the same order, so an element gets bit-identical results whether it
// falls in a vector block or in the scalar tail. UpdateDriver walks the buffers with the widest accelerated
// vector and finishes with scalars. No method here allocates.

/// <summary>p ← f(p, g), no optimizer state.</summary>
internal interface IStatelessUpdate
{
    float Invoke(float p, float g);
    Vector256<float> Invoke(Vector256<float> p, Vector256<float> g);
    Vector512<float> Invoke(Vector512<float> p, Vector512<float> g);
}

/// <summary>p ← f(p, g, s) updating one state value s per parameter.</summary>
internal interface IUpdateWithState
{
    float Invoke(float p, float g, ref float s);
    Vector256<float> Invoke(Vector256<float> p, Vector256<float> g, ref Vector256<float> s);
    Vector512<float> Invoke(Vector512<float> p, Vector512<float> g, ref Vector512<float> s);
}

/// <summary>p ← f(p, g, s1, s2) updating two state values per parameter.</summary>
internal interface IUpdateWithTwoStates
{
    float Invoke(float p, float g, ref float s1, ref float s2);
    Vector256<float> Invoke(Vector256<float> p, Vector256<float> g, ref Vector256<float> s1, ref Vector256<float> s2);
    Vector512<float> Invoke(Vector512<float> p, Vector512<float> g, ref Vector512<float> s1, ref Vector512<float> s2);
}

/// <summary>Runs an element-wise update over equally long buffers: vector blocks, then a scalar tail.</summary>
internal static class UpdateDriver
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run<TOp>(in TOp op, Span<float> p, ReadOnlySpan<float> g)
        where TOp : struct, IStatelessUpdate
    {
        Debug.Assert(g.Length == p.Length);
        int n = p.Length, i = 0;
        ref float pr = ref MemoryMarshal.GetReference(p);
        ref float gr = ref MemoryMarshal.GetReference(g);
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i <= n - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                nuint at = (nuint)i;
                op.Invoke(Vector512.LoadUnsafe(ref pr, at), Vector512.LoadUnsafe(ref gr, at)).StoreUnsafe(ref pr, at);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                nuint at = (nuint)i;
                op.Invoke(Vector256.LoadUnsafe(ref pr, at), Vector256.LoadUnsafe(ref gr, at)).StoreUnsafe(ref pr, at);
            }
        }

        for (; i < n; i++) p[i] = op.Invoke(p[i], g[i]);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run<TOp>(in TOp op, Span<float> p, ReadOnlySpan<float> g, Span<float> s)
        where TOp : struct, IUpdateWithState
    {
        Debug.Assert(g.Length == p.Length && s.Length == p.Length);
        int n = p.Length, i = 0;
        ref float pr = ref MemoryMarshal.GetReference(p);
        ref float gr = ref MemoryMarshal.GetReference(g);
        ref float sr = ref MemoryMarshal.GetReference(s);
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i <= n - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                nuint at = (nuint)i;
                var sv = Vector512.LoadUnsafe(ref sr, at);
                op.Invoke(Vector512.LoadUnsafe(ref pr, at), Vector512.LoadUnsafe(ref gr, at), ref sv).StoreUnsafe(ref pr, at);
                sv.StoreUnsafe(ref sr, at);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                nuint at = (nuint)i;
                var sv = Vector256.LoadUnsafe(ref sr, at);
                op.Invoke(Vector256.LoadUnsafe(ref pr, at), Vector256.LoadUnsafe(ref gr, at), ref sv).StoreUnsafe(ref pr, at);
                sv.StoreUnsafe(ref sr, at);
            }
        }

        for (; i < n; i++) p[i] = op.Invoke(p[i], g[i], ref s[i]);
    }

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
        if (Vector512.IsHardwareAccelerated)
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
        else if (Vector256.IsHardwareAccelerated)
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

        for (; i < n; i++) p[i] = op.Invoke(p[i], g[i], ref s1[i], ref s2[i]);
    }
}
