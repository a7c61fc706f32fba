using System.Runtime.CompilerServices;
using Microsoft.ML.Recurrent.Engine.Kernels;
using static Microsoft.ML.Recurrent.Engine.Cells.Activations;

namespace Microsoft.ML.Recurrent.Engine.Cells;

/// <summary>
/// Simple (Elman) recurrent cell with tanh, PyTorch's <c>nn.RNN</c>.
/// <code>
///   forward, one step (x_t: input, h: previous state)                        line
///   pre = W_ih·x_t + (b_ih + b_hh) + W_hh·h                                   F1  (input projection: the layer; recurrent product: Forward)
///   h' = tanh(pre)                                                            F2
/// </code>
/// <para>
/// Carry rule: dh_{t−1} = dPre·W_hh with dPre = dh·(1 − h'²). One (B, H) carry.
/// </para>
/// <para>
/// Storage a training pass keeps per step: h_t (T + 1, B, H) only (the derivative of tanh is read from its output);
/// the gate buffer holds pre-activations that the backward pass does not read. The backward pass writes dPre (T, B, H)
/// over them.
/// </para>
/// </summary>
internal readonly struct RnnCell : IRecurrentCell
{
    /// <inheritdoc/>
    public static CellKind Kind => CellKind.SimpleRnn;

    /// <inheritdoc/>
    public static int Gates => 1;

    /// <inheritdoc/>
    public static bool CarriesCellState => false;

    /// <inheritdoc/>
    public static bool SeparateRecurrentProjection => false;

    /// <summary>F1 (its recurrent half: pre += h·W_hhᵀ), then F2.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Forward(in ForwardStep s)
    {
        int n = s.Units;
        RowProduct.Multiply(s.Rows, n, s.Hidden, s.HPrev, s.Hidden, s.RecurrentT, s.RecurrentStride, s.Gates, n, accumulate: true, s.RecurrentPanelStride);
        if (n == s.Hidden || s.Rows == 1)
        {
            ForwardAll(s.Gates, s.H, s.Rows * n);
        }
        else
        {
            // A range of units of several rows (the unit loop): h rows are H apart.
            for (int r = 0; r < s.Rows; r++) ForwardAll(s.Gates + (nint)r * n, s.H + (nint)r * s.Hidden, n);
        }
    }

    /// <summary>B1, then the carry product dh_{t−1} = dPre·W_hh.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Backward(in BackwardStep s)
    {
        int H = s.Hidden;
        BackwardAll(s.H, s.DH, s.DGx, s.Rows * H);
        RowProduct.Multiply(s.Rows, H, H, s.DGx, H, s.Recurrent, s.RecurrentStride, s.DH, H, accumulate: false, s.RecurrentPanelStride);
    }

    /// <summary>F2 over <paramref name="count"/> = b·H elements: h = tanh(pre).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Forward(ReadOnlySpan<float> pre, Span<float> h, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        CheckLength(pre.Length, count, nameof(pre));
        CheckLength(h.Length, count, nameof(h));
        fixed (float* p = pre, hh = h) ForwardAll(p, hh, count);
    }

    /// <summary>Backward of F2 over <paramref name="count"/> = b·H elements: dPre = dh·(1 − h²).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Backward(ReadOnlySpan<float> h, ReadOnlySpan<float> dh, Span<float> dPre, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        CheckLength(h.Length, count, nameof(h));
        CheckLength(dh.Length, count, nameof(dh));
        CheckLength(dPre.Length, count, nameof(dPre));
        fixed (float* hh = h, d = dh, dp = dPre) BackwardAll(hh, d, dp, count);
    }

    // Compiled on its own (never inlined into a caller): its lane bodies need the whole inlining budget of a method, and
    // inlined into a larger caller they ran their operations as calls (measured: an int8 step 2× slower).
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ForwardAll(float* pre, float* h, int count)
    {
        var body = new ForwardBody { Pre = pre, H = h };
        Lanes.Run(ref body, (nuint)count);
    }

    // Compiled on its own (never inlined into a caller): its lane bodies need the whole inlining budget of a method, and
    // inlined into a larger caller they ran their operations as calls (measured: an int8 step 2× slower).
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe void BackwardAll(float* h, float* dh, float* dPre, int count)
    {
        var body = new BackwardBody { H = h, DH = dh, DPre = dPre };
        Lanes.Run(ref body, (nuint)count);
    }

    /// <summary>Forward: lanes [j, j + O.Count) of the (b·H) buffers.</summary>
    private unsafe struct ForwardBody : ILaneBody
    {
        public float* Pre;    // (b·H) pre-activations
        public float* H;      // (b·H) h_t out

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void At<TV, O>(nuint j) where TV : struct where O : struct, ILanes<TV>
            => O.Store(Tanh<TV, O>(O.Load(ref *Pre, j)), ref *H, j);                              // F2
    }

    /// <summary>Backward: lanes [j, j + O.Count) of the (b·H) buffers.</summary>
    private unsafe struct BackwardBody : ILaneBody
    {
        public float* H;      // (b·H) h_t (F2's output)
        public float* DH;     // (b·H) dL/dh_t
        public float* DPre;   // (b·H) out: dL/dpre

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void At<TV, O>(nuint j) where TV : struct where O : struct, ILanes<TV>
        {
            TV hv = O.Load(ref *H, j);
            O.Store(Flush<TV, O>(O.Mul(O.Load(ref *DH, j), O.Fnma(hv, hv, O.Splat(1f)))), ref *DPre, j); // B1 (F2): dh·(1 − h²)
        }
    }
}
