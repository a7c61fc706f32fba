namespace Microsoft.ML.Recurrent;

public sealed partial class RecurrentMLCatalog
{
    /// <summary>
    /// A fitted or loaded recurrent model scoring in another number format (reduced-precision serving): the input and
    /// recurrent weights held as <see cref="RecurrentServingPrecision.Int8"/> (per-row scales, inputs quantized per step,
    /// as PyTorch's dynamic quantization of <c>nn.LSTM</c>) or <see cref="RecurrentServingPrecision.BFloat16"/>, or back to
    /// <see cref="RecurrentServingPrecision.Float32"/>. The saved model keeps float32 weights; the choice is saved with it.
    /// </summary>
    /// <remarks>Same as <see cref="RecurrentPredictionTransformer.WithServingPrecision"/> on
    /// <see cref="RecurrentPredictionTransformer.FromLoadedModel"/> of <paramref name="model"/>: pass what <c>Fit</c> returned,
    /// a chain that contains it, or what <c>mlContext.Model.Load</c> returned (the result then scores data that already has
    /// the model's feature column; append it after the featurization steps of a loaded chain).</remarks>
    /// <param name="model">A fitted recurrent model, a chain containing one, or a loaded model.</param>
    /// <param name="precision">The serving precision.</param>
    /// <returns>The recurrent model scoring in <paramref name="precision"/>.</returns>
    /// <exception cref="ArgumentException">No recurrent model was found in <paramref name="model"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="precision"/> is not a defined value.</exception>
    public RecurrentPredictionTransformer WithServingPrecision(ITransformer model, RecurrentServingPrecision precision)
    {
        ArgumentNullException.ThrowIfNull(model);
        return RecurrentPredictionTransformer.FromLoadedModel(model).WithServingPrecision(precision);
    }
}
