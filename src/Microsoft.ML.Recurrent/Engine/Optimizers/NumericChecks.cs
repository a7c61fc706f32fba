using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Microsoft.ML.Recurrent.Engine.Optimizers;

/// <summary>Checks used to stop training that diverges.</summary>
internal static class NumericChecks
{
    /// <summary>
    /// True when no element is NaN or ±∞ (true for an empty span). Vector blocks of the width allowed by
    /// <see cref="ElementwiseLoops.MaxVectorWidth"/>, then a scalar tail; the answer does not depend on the width.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool AllFinite(ReadOnlySpan<float> x)
    {
        // x − x is 0 for every finite x and NaN for NaN and ±∞, and NaN ≠ 0.
        int n = x.Length, i = 0;
        ref float xr = ref MemoryMarshal.GetReference(x);
        int width = ElementwiseLoops.MaxVectorWidth;
        if (width >= 512)
        {
            for (; i <= n - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                var v = Vector512.LoadUnsafe(ref xr, (nuint)i);
                if (!Vector512.EqualsAll(v - v, Vector512<float>.Zero)) return false;
            }
        }
        else if (width >= 256)
        {
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var v = Vector256.LoadUnsafe(ref xr, (nuint)i);
                if (!Vector256.EqualsAll(v - v, Vector256<float>.Zero)) return false;
            }
        }
        else if (width >= 128)
        {
            for (; i <= n - Vector128<float>.Count; i += Vector128<float>.Count)
            {
                var v = Vector128.LoadUnsafe(ref xr, (nuint)i);
                if (!Vector128.EqualsAll(v - v, Vector128<float>.Zero)) return false;
            }
        }

        for (; i < n; i++)
        {
            if (!float.IsFinite(x[i])) return false;
        }

        return true;
    }
}
