namespace Microsoft.ML.Recurrent.Engine;

/// <summary>
/// The vector width of the engine's element-wise loops outside <c>Kernels/</c>: the optimizers' update driver
/// (<see cref="Optimizers.UpdateDriver"/>), the sum of squares of gradient clipping
/// (<see cref="Optimizers.GradientClipping"/>), the finiteness check (<see cref="Optimizers.NumericChecks"/>) and
/// the bias-gradient column sums (<see cref="Layers.BiasGradients"/>). Same pattern as the kernels' own
/// <c>MaxVectorWidth</c>: the widest accelerated width by default (512, 256, or 128 on ARM64, where .NET accelerates
/// Vector128 through AdvSimd but not the wider types), and a per-thread override so that tests reach every path on one
/// machine.
/// </summary>
internal static class ElementwiseLoops
{
    [ThreadStatic]
    private static int t_forcedWidth; // 0: not forced; otherwise width + 1

    /// <summary>
    /// Widest vector path the loops use on the calling thread: 512, 256, 128 or 0 (scalar only). Defaults to the
    /// widest accelerated width. Setting it (tests) affects only the calling thread; any path runs on any machine
    /// (a non-accelerated vector width is emulated), it is only slower.
    /// </summary>
    public static int MaxVectorWidth
    {
        get => VectorWidths.Resolve(t_forcedWidth);
        set => t_forcedWidth = VectorWidths.Force(value);
    }
}
