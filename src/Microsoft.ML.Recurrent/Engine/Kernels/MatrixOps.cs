using System.Numerics.Tensors;

namespace Microsoft.ML.Recurrent.Engine.Kernels;

/// <summary>Small row-major matrix helpers that go with <see cref="Gemm"/> (bias terms and their gradients).</summary>
internal static class MatrixOps
{
    /// <summary>
    /// accumulate[j] += Σ_i a[i·lda + j] for j &lt; cols, i &lt; rows (the column sums of a row-major matrix,
    /// e.g. a bias gradient from a (rows, cols) gate gradient). Rows are added in order, so the result does
    /// not depend on anything but the inputs.
    /// </summary>
    public static void ColumnSums(ReadOnlySpan<float> a, int rows, int cols, int lda, Span<float> accumulate)
    {
        CheckMatrix(a.Length, rows, cols, lda, nameof(a));
        if (accumulate.Length < cols)
        {
            throw new ArgumentException($"accumulate holds {accumulate.Length} floats; {cols} are needed.", nameof(accumulate));
        }

        Span<float> acc = accumulate[..cols];
        for (int i = 0; i < rows; i++)
        {
            TensorPrimitives.Add(acc, a.Slice(i * lda, cols), acc);
        }
    }

    /// <summary>
    /// c[i·ldc + j] += row[j] for i &lt; rows, j &lt; cols (adds a bias to every row). With
    /// <paramref name="overwrite"/>, c[i·ldc + j] = row[j] instead (to seed a GEMM run with beta = 1).
    /// </summary>
    public static void AddRowToRows(ReadOnlySpan<float> row, Span<float> c, int rows, int cols, int ldc, bool overwrite = false)
    {
        CheckMatrix(c.Length, rows, cols, ldc, nameof(c));
        if (row.Length < cols)
        {
            throw new ArgumentException($"row holds {row.Length} floats; {cols} are needed.", nameof(row));
        }

        ReadOnlySpan<float> r = row[..cols];
        for (int i = 0; i < rows; i++)
        {
            Span<float> dst = c.Slice(i * ldc, cols);
            if (overwrite)
            {
                r.CopyTo(dst);
            }
            else
            {
                TensorPrimitives.Add(dst, r, dst);
            }
        }
    }

    private static void CheckMatrix(int length, int rows, int cols, int ld, string name)
    {
        if (rows < 0) throw new ArgumentOutOfRangeException(nameof(rows), rows, "must be ≥ 0");
        if (cols < 0) throw new ArgumentOutOfRangeException(nameof(cols), cols, "must be ≥ 0");
        if (ld < Math.Max(1, cols)) throw new ArgumentOutOfRangeException("ld" + name, ld, $"must be ≥ max(1, {cols})");
        if (rows > 0 && cols > 0 && length < (long)(rows - 1) * ld + cols)
        {
            throw new ArgumentException(
                $"{name} holds {length} floats; a {rows} × {cols} matrix with row stride {ld} needs {(long)(rows - 1) * ld + cols}.",
                name);
        }
    }
}
