using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Microsoft.ML.Recurrent.Engine.Kernels;

namespace Microsoft.ML.Recurrent.Engine.Layers;

/// <summary>
/// Bias gradients of a layer-direction: the column sums of the (T·B, G·H) gate gradients, added row after row
/// into the gradient buffers. Threads split the columns (never the rows), so each element is the same sequential
/// chain of additions whatever the thread count, and the gate gradients are read once for both biases when they
/// are the same sums (every cell but GRU).
/// </summary>
internal sealed unsafe class BiasGradients : GemmJob
{
    /// <summary>Below this many gate-gradient elements (about 0.1 ms of additions) the sums run on the calling thread.</summary>
    private const long MinParallelElements = 1 << 18;

    private float* _dGx, _dGh, _gBih, _gBhh;
    private int _rows, _cols;

    /// <summary>Threads the last <see cref="Add"/> ran on.</summary>
    public int LastParts { get; private set; }

    /// <summary>
    /// gBih[j] += Σ_r dGx[r, j] and gBhh[j] += Σ_r dGh[r, j] (rows in order) for the (rows, cols) row-major gate
    /// gradients; <paramref name="dGh"/> may be the same buffer as <paramref name="dGx"/>.
    /// </summary>
    public void Add(ReadOnlySpan<float> dGx, ReadOnlySpan<float> dGh, int rows, int cols, Span<float> gBih, Span<float> gBhh, int threads)
    {
        if ((long)rows * cols > dGx.Length || (long)rows * cols > dGh.Length || gBih.Length < cols || gBhh.Length < cols)
            throw new ArgumentException("The gate gradients or bias gradients are shorter than the shape.");
        fixed (float* px = dGx, ph = dGh, bi = gBih, bh = gBhh)
        {
            _dGx = px; _dGh = ph; _gBih = bi; _gBhh = bh;
            _rows = rows; _cols = cols;
            int parts = (long)rows * cols < MinParallelElements ? 1 : Math.Min(threads, (cols + 63) / 64);
            try
            {
                if (parts < 2 || GemmWorkers.IsHeldByCurrentThread || !GemmWorkers.TryRun(this, parts))
                {
                    parts = 1;
                    Execute(0, 1);
                }

                LastParts = parts;
            }
            finally
            {
                _dGx = _dGh = _gBih = _gBhh = null;
            }
        }
    }

    public override void Execute(int part, int parts)
    {
        int blocks = (_cols + 63) / 64;
        int j0 = (int)((long)blocks * part / parts) * 64, j1 = Math.Min(_cols, (int)((long)blocks * (part + 1) / parts) * 64);
        if (j1 <= j0) return;
        AddColumns(_dGx, _rows, _cols, j0, j1, _gBih);
        AddColumns(_dGh, _rows, _cols, j0, j1, _gBhh);
    }

    /// <summary>acc[j] += a[0, j] + a[1, j] + … in that order, for j in [j0, j1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AddColumns(float* a, int rows, nint lda, int j0, int j1, float* acc)
    {
        int j = j0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; j + 64 <= j1; j += 64)
            {
                var s0 = Vector512.Load(acc + j); var s1 = Vector512.Load(acc + j + 16);
                var s2 = Vector512.Load(acc + j + 32); var s3 = Vector512.Load(acc + j + 48);
                float* p = a + j;
                for (int r = 0; r < rows; r++, p += lda)
                {
                    s0 += Vector512.Load(p); s1 += Vector512.Load(p + 16);
                    s2 += Vector512.Load(p + 32); s3 += Vector512.Load(p + 48);
                }

                s0.Store(acc + j); s1.Store(acc + j + 16); s2.Store(acc + j + 32); s3.Store(acc + j + 48);
            }
        }

        if (Vector256.IsHardwareAccelerated)
        {
            for (; j + 32 <= j1; j += 32)
            {
                var s0 = Vector256.Load(acc + j); var s1 = Vector256.Load(acc + j + 8);
                var s2 = Vector256.Load(acc + j + 16); var s3 = Vector256.Load(acc + j + 24);
                float* p = a + j;
                for (int r = 0; r < rows; r++, p += lda)
                {
                    s0 += Vector256.Load(p); s1 += Vector256.Load(p + 8);
                    s2 += Vector256.Load(p + 16); s3 += Vector256.Load(p + 24);
                }

                s0.Store(acc + j); s1.Store(acc + j + 8); s2.Store(acc + j + 16); s3.Store(acc + j + 24);
            }
        }

        for (; j < j1; j++)
        {
            float s = acc[j];
            float* p = a + j;
            for (int r = 0; r < rows; r++, p += lda) s += *p;
            acc[j] = s;
        }
    }
}
