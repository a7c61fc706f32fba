using System.Runtime.CompilerServices;
using Microsoft.ML.Recurrent.Engine.Kernels;

namespace Microsoft.ML.Recurrent.Engine.Layers;

/// <summary>
/// Bias gradients of a layer-direction, gathered inside the backward time loop: each row (sequence) of the batch
/// sums its own gate gradients over its steps (last step first) into a per-row accumulator while they are still
/// in cache — the thread that owns the row does it, so no two threads touch one accumulator — and after the loop
/// the rows' sums are added into the gradient in row order. Each element is thus one fixed chain of additions,
/// whatever the thread count or the rows' partition.
/// </summary>
internal static unsafe class BiasGradients
{
    /// <summary>
    /// acc[j] += a[0·lda + j] + a[1·lda + j] + … (rows in order) for j &lt; cols: each column is one chain of float
    /// additions starting from acc[j], whichever lane width of <see cref="Lanes.Run{TBody}"/> (up to
    /// <see cref="Lanes.MaxVectorWidth"/>) or the scalar tail handles it, so the bits do not depend on the width.
    /// </summary>
    public static void AddColumns(float* a, int rows, nint lda, int cols, float* acc)
    {
        var body = new ColumnSums { A = a, Rows = rows, Lda = lda, Acc = acc };
        Lanes.Run(ref body, (nuint)Math.Max(cols, 0));
    }

    /// <summary>Columns [j, j + O.Count): one accumulator per lane, the rows added in order.</summary>
    private struct ColumnSums : ILaneBody
    {
        public float* A;
        public int Rows;
        public nint Lda;
        public float* Acc;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]

        public void At<TV, O>(nuint j) where TV : struct where O : struct, ILanes<TV>
        {
            TV s = O.Load(Acc + j);
            float* p = A + j;
            for (int r = 0; r < Rows; r++, p += Lda) s = O.Add(s, O.Load(p));
            O.Store(s, Acc + j);
        }
    }
}
