using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Model;
using Microsoft.ML.Recurrent.Onnx;
using Microsoft.ML.Recurrent.Serving;
using Microsoft.ML.Transforms;

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
/// <para>Every step of the chain is a stock ML.NET transformer and none needs a native runtime: a multiclass Score of K
/// classes becomes a known-size <c>Vector&lt;Single, K&gt;</c> through <c>CustomMapping</c> steps and <c>Concatenate</c>
/// (slot names = the class names when the class values are text, as ML.NET's own scorer does), and the binary Probability
/// comes from ML.NET's fixed Platt calibrator (annotated IsNormalized). Multiclass models saved before this change
/// reshape their scores with <c>ApplyOnnxModel</c>: loading them needs a reference to Microsoft.ML.OnnxTransformer, and
/// ML.NET's <c>PredictionEngine</c> then disposes such a loaded model with the engine unless created with
/// <c>new PredictionEngineOptions { OwnsTransformer = false }</c>.</para>
/// <para>The typed model is <see cref="Model"/> (<see cref="RecurrentModelParameters"/>), so ML.NET's typed
/// <c>PermutationFeatureImportance(ISingleFeaturePredictionTransformer&lt;TModel&gt;, …)</c> overloads accept this
/// transformer, a chain's <c>LastTransformer</c>, or <see cref="FromLoadedModel"/> of a loaded model.</para>
/// </remarks>
public sealed class RecurrentPredictionTransformer : ISingleFeaturePredictionTransformer<RecurrentModelParameters>
{
    private readonly ITransformer _chain;
    private readonly RecurrentModel _model;

    internal RecurrentPredictionTransformer(ITransformer chain, RecurrentModel model, DataViewType featureColumnType)
    {
        _chain = chain;
        _model = model;
        Model = new RecurrentModelParameters(model);
        FeatureColumnType = featureColumnType;
    }

    /// <summary>The network's shape, its classes and the training history (also after <see cref="FromLoadedModel"/>).</summary>
    public RecurrentModelInfo ModelInfo => Model.Info;

    /// <summary>The trained network, read-only: shapes, classes, weights as spans, training history.</summary>
    public RecurrentModelParameters Model { get; }

    /// <summary>The feature column the model reads (the trainer's <c>FeatureColumnName</c>).</summary>
    public string FeatureColumnName => _model.FeatureColumnName;

    /// <summary>The type of the feature column: as seen at <c>Fit</c>; after <see cref="FromLoadedModel"/> a vector of Single of
    /// unknown size (or a vector of keys for token models), since a loaded chain does not carry its input schema.</summary>
    public DataViewType FeatureColumnType { get; }

    /// <summary>The number format the input and recurrent weights are held in while this model scores (saved with the model).</summary>
    public RecurrentServingPrecision ServingPrecision => _model.ServingPrecision;

    /// <summary>
    /// This model scoring in another number format: <see cref="RecurrentServingPrecision.Int8"/> (per-row int8 weights, inputs
    /// quantized per step) or <see cref="RecurrentServingPrecision.BFloat16"/> for lower single-sequence latency, or
    /// <see cref="RecurrentServingPrecision.Float32"/> to go back to the exact scores. The weights saved with the model stay
    /// float32 (so the switch can always be undone); the choice itself is saved and survives <c>mlContext.Model.Load</c>.
    /// Works on a fitted model and on <see cref="FromLoadedModel"/> of a loaded one; this transformer is left unchanged.
    /// </summary>
    /// <param name="precision">The serving precision.</param>
    /// <returns>A new transformer with the same weights, classes and history, scoring in <paramref name="precision"/>.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="precision"/> is not a defined value.</exception>
    public RecurrentPredictionTransformer WithServingPrecision(RecurrentServingPrecision precision)
    {
        if (!Enum.IsDefined(precision))
            throw new ArgumentOutOfRangeException(nameof(precision), precision, $"precision must be Float32, BFloat16 or Int8; it was {precision}.");
        var model = _model.WithServingPrecision(precision);
        if (precision != RecurrentServingPrecision.Float32)
            _ = new Engine.Quantized.QuantizedNetwork(model.Spec, model.Parameters, precision); // fail here, not at the first row, if the shape is not supported
        return new RecurrentPredictionTransformer(ServingChain.Build(model, FeatureColumnType), model, FeatureColumnType);
    }

    /// <summary>The stored model (format, serving chain, export).</summary>
    internal RecurrentModel StoredModel => _model;

    /// <summary>
    /// The recurrent model inside a model loaded with <c>mlContext.Model.Load</c> (a chain of stock transformers, possibly
    /// after featurization steps), with <see cref="ModelInfo"/>, the training history saved in the model,
    /// <see cref="Model"/> and <see cref="SaveAsOnnx"/>. Also accepts a fitted chain or this type itself. When the chain holds
    /// several recurrent models, the last one is returned.
    /// </summary>
    /// <remarks>The result transforms data that already has the model's feature column (as a chain's
    /// <c>LastTransformer</c> does), so it is what ML.NET's typed <c>PermutationFeatureImportance</c> overloads take:
    /// <c>mlContext.Regression.PermutationFeatureImportance(RecurrentPredictionTransformer.FromLoadedModel(loaded),
    /// featurizedData)</c>. Its outputs are identical to the loaded chain's.</remarks>
    /// <param name="loaded">What <c>mlContext.Model.Load</c> returned, or any transformer or chain that contains a recurrent model.</param>
    /// <exception cref="ArgumentException">No recurrent model was found in <paramref name="loaded"/>.</exception>
    /// <exception cref="InvalidDataException">The model text inside the chain is damaged.</exception>
    public static RecurrentPredictionTransformer FromLoadedModel(ITransformer loaded)
    {
        ArgumentNullException.ThrowIfNull(loaded);
        var steps = new List<ITransformer>();
        Flatten(loaded, steps);
        for (int i = steps.Count - 1; i >= 0; i--)
        {
            if (steps[i] is RecurrentPredictionTransformer fitted) return fitted;
            if (steps[i] is CustomMappingTransformer<NoInput, ModelKeyRow> && i + 1 < steps.Count)
            {
                var model = ReadPayload(steps[i], steps[i + 1]);
                var featureType = LoadedFeatureType(model);
                return new RecurrentPredictionTransformer(ServingChain.Build(model, featureType), model, featureType);
            }
        }

        throw new ArgumentException(
            "No recurrent model was found in this transformer: pass what mlContext.Model.Load returned for a model that contains a recurrent trainer's output.",
            nameof(loaded));
    }

    private static void Flatten(ITransformer t, List<ITransformer> into)
    {
        if (t is IEnumerable<ITransformer> chain)
        {
            foreach (var inner in chain) Flatten(inner, into);
        }
        else
        {
            into.Add(t);
        }
    }

    /// <summary>Runs the chain's model-key step and the MapValue step after it on one empty row and decodes the model text.</summary>
    private static RecurrentModel ReadPayload(ITransformer keyStep, ITransformer valueStep)
    {
        var ml = new MLContext(seed: 0);
        var one = ml.Data.LoadFromEnumerable(new[] { new NoColumns() });
        var view = valueStep.Transform(keyStep.Transform(one));
        var column = view.Schema.GetColumnOrNull(ServingColumns.Model);
        if (column?.Type is not TextDataViewType)
            throw new ArgumentException("The step after the recurrent model key is not the MapValue that carries the model text: the chain was altered.");
        using var cursor = view.GetRowCursor(new[] { column.Value });
        ReadOnlyMemory<char> text = default;
        if (!cursor.MoveNext())
            throw new InvalidDataException("The recurrent model payload could not be read from the chain.");
        cursor.GetGetter<ReadOnlyMemory<char>>(column.Value)(ref text);
        return ModelCache.Get(text).Model;
    }

    private static DataViewType LoadedFeatureType(RecurrentModel model) => model.UsesTokens
        ? new VectorDataViewType(new KeyDataViewType(typeof(uint), model.Spec.VocabularySize - 1))
        : new VectorDataViewType(NumberDataViewType.Single);

    /// <summary>A row class for the one-row view that reads the model text (ML.NET's cursors need at least one column).</summary>
    private sealed class NoColumns
    {
        public float Unused { get; set; }
    }

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
