namespace Microsoft.ML.Recurrent.Onnx;

/// <summary>
/// Tiny ONNX graphs that only change a tensor's declared shape. ML.NET's <c>CustomMapping</c> can only emit
/// variable-length vectors; passing such a column through <c>ApplyOnnxModel</c> with one of these graphs turns
/// it into a known-size vector column (for example a multiclass <c>Score</c> of K classes).
/// </summary>
/// <remarks>
/// Serving no longer uses it (issue 13): <see cref="Serving.KnownSizeVector.Append"/> gives known-size vectors through
/// stock transformers with no native runtime, and the package no longer references ONNX Runtime. It stays for the tests,
/// the <c>serving-route</c> benchmark and to document how multiclass models saved before issue 13 were built.
/// </remarks>
internal static class ShapeAdapter
{
    /// <summary>
    /// A Reshape-only ONNX model. Input <paramref name="inputName"/>: float <c>[1, N]</c> with N symbolic;
    /// output <paramref name="outputName"/>: float <c>[1, <paramref name="length"/>]</c>, the same values.
    /// Running it on an input with N ≠ <paramref name="length"/> fails inside ONNX Runtime.
    /// ML.NET's <c>ApplyOnnxModel</c> maps a variable-length <c>Single</c> vector column onto the input (its
    /// unknown leading dimension is forced to 1) and produces a vector column of exactly <paramref name="length"/> values.
    /// </summary>
    public static byte[] CreateReshape(int length, string inputName, string outputName)
    {
        if (length < 1) throw new ArgumentOutOfRangeException(nameof(length), $"The target length must be ≥ 1, was {length}.");
        if (string.IsNullOrEmpty(inputName)) throw new ArgumentException("The input name must not be empty.", nameof(inputName));
        if (string.IsNullOrEmpty(outputName)) throw new ArgumentException("The output name must not be empty.", nameof(outputName));
        if (string.Equals(inputName, outputName, StringComparison.Ordinal))
            throw new ArgumentException($"The input and output names must differ, both were '{inputName}'.", nameof(outputName));

        var graph = new OnnxGraph("shape_adapter");
        graph.AddInput(inputName, OnnxDataType.Float, 1, "N");
        graph.Reserve(outputName);
        string shape = graph.AddInitializer("target_shape", new long[] { 2 }, new long[] { 1, length });
        graph.NodeTo("Reshape", new[] { inputName, shape }, outputName);
        graph.AddOutput(outputName, OnnxDataType.Float, 1, length);
        return new OnnxModel(graph) { DocString = $"Reshape [1, N] -> [1, {length}]" }.ToBytes();
    }
}
