namespace Microsoft.ML.Recurrent;

/// <summary>
/// The number format the recurrent weights are held in while a model scores (serving only: training always runs in
/// float32, and a saved model always keeps its float32 weights; only this choice is saved beside them).
/// </summary>
/// <remarks>
/// Reduced precision trades a small, bounded change of the scores for lower single-sequence latency: the recurrent
/// weights of every layer and direction are read from memory once per time step, and a quarter (int8) or half (bf16)
/// of the bytes is that much less to stream. The embedding table, the biases, the gate activations, the cell state and
/// the dense head stay float32. See docs/architecture.md, "Reduced-precision serving", for the arithmetic and
/// docs/performance.md ("Reduced-precision serving") for measured score differences and latencies.
/// </remarks>
public enum RecurrentServingPrecision
{
    /// <summary>Full float32 weights: the scores of training, bit for bit. The default.</summary>
    Float32 = 0,

    /// <summary>
    /// bfloat16 weights (float32's 8-bit exponent with an 8-bit significand, rounded to nearest even), widened to float32
    /// and accumulated in float32: half the weight bytes, a relative weight error of at most 2^-9.
    /// </summary>
    BFloat16 = 1,

    /// <summary>
    /// int8 weights with one scale per output row (scale = max |w| / 127, as PyTorch's dynamic quantization of
    /// <c>nn.LSTM</c> does), and each step's input and hidden vector quantized on the fly to int8 with its own scale;
    /// the products are summed exactly in int32, then scaled back to float32. A quarter of the weight bytes.
    /// </summary>
    Int8 = 2,
}
