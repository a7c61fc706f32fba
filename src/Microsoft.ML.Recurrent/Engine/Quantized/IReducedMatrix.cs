namespace Microsoft.ML.Recurrent.Engine.Quantized;

/// <summary>A weight matrix (PyTorch's (out, in) layout) held in a reduced format, multiplied by float vectors.</summary>
internal interface IReducedMatrix
{
    /// <summary>Output rows R.</summary>
    int Rows { get; }

    /// <summary>Input columns C.</summary>
    int Columns { get; }

    /// <summary>y = W·x + add over the R rows; <paramref name="add"/> may be <paramref name="y"/> itself (read before written).</summary>
    void Multiply(ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> add, QuantizedScratch scratch);
}
