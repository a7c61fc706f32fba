using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Model;
using Microsoft.ML.Recurrent.Onnx;

namespace Microsoft.ML.Recurrent;

/// <summary>
/// A fitted recurrent model, returned by the recurrent trainers' <c>Fit</c>. It adds ML.NET's standard output columns
/// (regression: Score; binary: Score, Probability, PredictedLabel; multiclass: Score, PredictedLabel) and works with
/// <c>Transform</c>, <c>Evaluate</c>, <c>CreatePredictionEngine</c> and <c>mlContext.Model.Save</c>.
/// </summary>
/// <remarks>
/// Scoring runs this library's engine, one sequence per row, thread-safe. The transformer is a thin wrapper around a
/// chain of stock ML.NET transformers that carries the model as text; saving writes that chain, so
/// <c>mlContext.Model.Load</c> returns the chain (a <see cref="TransformerChain{TLastTransformer}"/>, not this type)
/// with identical outputs, in any process that references this assembly, without a registration call.
/// <para>A multiclass model reshapes its K scores into a known-size vector with a tiny ONNX graph run by
/// <c>ApplyOnnxModel</c>. This transformer is deliberately not <see cref="IDisposable"/>, so disposing a
/// <c>PredictionEngine</c> created from it never tears the model down. A chain returned by <c>mlContext.Model.Load</c>
/// is disposable, and ML.NET's <c>PredictionEngine</c> disposes the model it was created from by default (for every
/// model that contains <c>ApplyOnnxModel</c>): create short-lived engines over a loaded multiclass model with
/// <c>new PredictionEngineOptions { OwnsTransformer = false }</c> to keep using the model afterwards.</para>
/// </remarks>
public sealed class RecurrentPredictionTransformer : ITransformer
{
    private readonly ITransformer _chain;
    private readonly RecurrentModel _model;

    internal RecurrentPredictionTransformer(ITransformer chain, RecurrentModel model, RecurrentModelInfo info)
    {
        _chain = chain;
        _model = model;
        ModelInfo = info;
    }

    /// <summary>The network's shape, its classes and the training history.</summary>
    public RecurrentModelInfo ModelInfo { get; }

    internal RecurrentModel Model => _model;

    /// <inheritdoc/>
    public bool IsRowToRowMapper => _chain.IsRowToRowMapper;

    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => _chain.GetOutputSchema(inputSchema);

    /// <inheritdoc/>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => _chain.GetRowToRowMapper(inputSchema);

    /// <inheritdoc/>
    public IDataView Transform(IDataView input) => _chain.Transform(input);

    /// <summary>Saves the inner chain of stock transformers (ML.NET calls this from <c>mlContext.Model.Save</c>).</summary>
    void ICanSaveModel.Save(ModelSaveContext ctx) => _chain.Save(ctx);

    /// <summary>
    /// Writes the network as a standalone ONNX model (opset 14) that ONNX Runtime evaluates with this model's outputs.
    /// Input "features": float [batch, T, F] (or int64 token ids [batch, T]); output "score": the raw head outputs
    /// [batch, O] (the regression Score, the binary logit, or the K multiclass logits) and, for classification,
    /// "probability": Sigmoid or Softmax of the score. All sequences of one ONNX call must have the same length T.
    /// </summary>
    /// <param name="stream">Receives the model bytes; left open.</param>
    public void SaveAsOnnx(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var activation = _model.Kind switch
        {
            PredictionKind.BinaryClassification => OnnxOutputActivation.Sigmoid,
            PredictionKind.MulticlassClassification => OnnxOutputActivation.Softmax,
            _ => OnnxOutputActivation.None,
        };
        var bytes = OnnxExporter.Export(_model.Spec, _model.Parameters, new OnnxExportOptions
        {
            OutputActivation = activation,
            DocString = $"Microsoft.ML.Recurrent {_model.Spec.Cell} {_model.Kind} model reading '{_model.FeatureColumnName}'.",
        });
        stream.Write(bytes);
    }
}
