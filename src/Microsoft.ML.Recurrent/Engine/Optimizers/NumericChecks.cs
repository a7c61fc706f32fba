using System.Runtime.CompilerServices;
using Microsoft.ML.Recurrent.Engine.Kernels;

namespace Microsoft.ML.Recurrent.Engine.Optimizers;

/// <summary>Checks used to stop training that diverges.</summary>
internal static unsafe class NumericChecks
{
    /// <summary>
    /// True when no element is NaN or ±∞ (true for an empty span). One lane body over <see cref="Lanes.Run{TBody}"/>
    /// (every width up to <see cref="Lanes.MaxVectorWidth"/>, then a scalar tail); the answer does not depend on the width.
    /// </summary>
    public static bool AllFinite(ReadOnlySpan<float> x)
    {
        fixed (float* p = x)
        {
            var body = new FiniteBody { X = p, Finite = true };
            Lanes.Run(ref body, (nuint)x.Length);
            return body.Finite;
        }
    }

    /// <summary>x − x is 0 for every finite x and NaN for NaN and ±∞, and NaN ≠ 0.</summary>
    private struct FiniteBody : ILaneBody
    {
        public float* X;
        public bool Finite;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]

        public void At<TV, O>(nuint j) where TV : struct where O : struct, ILanes<TV>
        {
            if (!Finite) return;
            TV v = O.Load(X + j);
            if (!O.EqualsAll(O.Sub(v, v), O.Zero)) Finite = false;
        }
    }
}
