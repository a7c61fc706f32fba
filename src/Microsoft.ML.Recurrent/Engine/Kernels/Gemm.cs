namespace Microsoft.ML.Recurrent.Engine.Kernels;

/// <summary>
/// Single-precision matrix multiply on row-major storage:
/// C[m, n] = beta · C[m, n] + alpha · Σ_k op(A)[m, k] · op(B)[k, n].
/// op(A) is A (m × k, row stride lda) or, with <c>transA</c>, the transpose of a stored k × m matrix.
/// op(B) likewise (k × n, or the transpose of a stored n × k matrix). beta = 0 overwrites C (NaN in C is ignored).
/// Each C element is summed in the same k order whatever the thread count, so results are bit-identical
/// across thread counts.
/// </summary>
internal static class Gemm
{
    /// <summary>Default thread count for large products (the machine's cores).</summary>
    public static int DefaultThreads { get; set; } = Environment.ProcessorCount;

    public static void Multiply(
        bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc, int threads = 0)
    {
        if (m == 0 || n == 0) return;
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                float sum = 0f;
                for (int p = 0; p < k; p++)
                {
                    float av = transA ? a[p * lda + i] : a[i * lda + p];
                    float bv = transB ? b[j * ldb + p] : b[p * ldb + j];
                    sum += av * bv;
                }

                ref float cij = ref c[i * ldc + j];
                cij = beta == 0f ? alpha * sum : beta * cij + alpha * sum;
            }
        }
    }
}
