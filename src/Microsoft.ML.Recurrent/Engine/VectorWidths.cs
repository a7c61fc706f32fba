using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Microsoft.ML.Recurrent.Engine;

/// <summary>
/// The vector widths the engine's loops choose between, shared by every <c>MaxVectorWidth</c> switch
/// (<see cref="Kernels.RowProduct"/>, <see cref="Kernels.Lanes"/>, <see cref="ElementwiseLoops"/>): each keeps its
/// own per-thread override (tests force one family of loops at a time) stored as width + 1, 0 meaning "not forced".
/// </summary>
internal static class VectorWidths
{
    /// <summary>The widest accelerated width: 512, 256, 128 (ARM64: AdvSimd accelerates Vector128 only) or 0 (scalar).</summary>
    public static readonly int Widest =
        Vector512.IsHardwareAccelerated ? 512 : Vector256.IsHardwareAccelerated ? 256 : Vector128.IsHardwareAccelerated ? 128 : 0;

    /// <summary>The width an override field stands for: <see cref="Widest"/> when not forced.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Resolve(int forced) => forced == 0 ? Widest : forced - 1;

    /// <summary>The override field's value forcing <paramref name="value"/> (0, 128, 256 or 512; anything else throws).</summary>
    public static int Force(int value)
    {
        if (value is not (0 or 128 or 256 or 512))
            throw new ArgumentOutOfRangeException(nameof(value), value, "MaxVectorWidth must be 0, 128, 256 or 512.");
        return value + 1;
    }
}
