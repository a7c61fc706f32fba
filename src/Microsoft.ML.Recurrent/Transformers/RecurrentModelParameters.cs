using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Model;

namespace Microsoft.ML.Recurrent;

/// <summary>
/// The trained network of a recurrent model, read-only: its shape, its classes, its weights (as spans over the one flat
/// parameter buffer, in PyTorch's shapes and gate orders) and how training went. It is the <c>TModel</c> of
/// <see cref="RecurrentPredictionTransformer"/> as an <see cref="ISingleFeaturePredictionTransformer{TModel}"/>, so ML.NET's
/// typed <c>PermutationFeatureImportance</c> overloads accept the fitted model.
/// </summary>
/// <remarks>
/// Any input standardisation (<c>NormalizeFeatures</c>) and the regression label scaling are already folded into the
/// weights: these are exactly the weights the forward pass applies to the raw input. Gate blocks follow PyTorch: LSTM
/// i, f, g, o; GRU r, z, n; the simple RNN one block.
/// </remarks>
public sealed class RecurrentModelParameters
{
    private readonly ParameterLayout _layout;

    internal RecurrentModelParameters(RecurrentModel model)
    {
        Stored = model;
        _layout = new ParameterLayout(model.Spec);
        Info = new RecurrentModelInfo(model, model.History, model.BestEpoch);
    }

    /// <summary>The stored model (format, serving, export).</summary>
    internal RecurrentModel Stored { get; }

    internal NetworkSpec Spec => Stored.Spec;

    internal float[] Parameters => Stored.Parameters;

    internal PredictionKind Kind => Stored.Kind;

    internal string FeatureColumnName => Stored.FeatureColumnName;

    internal bool UsesTokens => Stored.UsesTokens;

    /// <summary>Shapes, classes, input column and training history.</summary>
    public RecurrentModelInfo Info { get; }

    /// <summary>The cell of every layer.</summary>
    public RecurrentCellType CellType => Info.CellType;

    /// <summary>Features per time step F (1 for token input).</summary>
    public int FeaturesPerStep => Info.FeaturesPerStep;

    /// <summary>Hidden units per layer and direction.</summary>
    public int HiddenSize => Info.HiddenSize;

    /// <summary>Stacked recurrent layers.</summary>
    public int NumberOfLayers => Info.NumberOfLayers;

    /// <summary>Directions per layer: 1, or 2 when bidirectional.</summary>
    public int NumberOfDirections => Stored.Spec.Directions;

    /// <summary>Gate blocks per cell G: 1 (simple RNN), 4 (LSTM), 3 (GRU).</summary>
    public int NumberOfGates => Stored.Spec.Gates;

    /// <summary>Outputs of the dense head: 1 (regression, binary) or the number of classes K.</summary>
    public int OutputSize => Info.OutputSize;

    /// <summary>Multiclass: the label's key values as text, in key order; empty otherwise.</summary>
    public IReadOnlyList<string> ClassNames => Info.ClassNames;

    /// <summary>One report per epoch that ran (saved in the model, so it survives <c>Model.Save</c>/<c>Load</c>).</summary>
    public IReadOnlyList<RecurrentEpochReport> TrainingHistory => Info.TrainingHistory;

    /// <summary>All trainable parameters in one flat buffer: embedding, then per layer and direction W_ih, W_hh, b_ih, b_hh,
    /// then the head's weight and bias (the slices below cut this buffer).</summary>
    public ReadOnlySpan<float> GetParameters() => Stored.Parameters;

    /// <summary>Token input: the embedding (V rows × E, row-major; row 0 = padding/unknown); empty for Single features.</summary>
    public ReadOnlySpan<float> GetEmbedding() => _layout.Embedding.Of(Stored.Parameters);

    /// <summary>Input weights of one layer and direction: (G·H rows × I columns, row-major), I = F (or E) for layer 0 and
    /// H·directions above.</summary>
    /// <param name="layer">0 … <see cref="NumberOfLayers"/> − 1.</param>
    /// <param name="direction">0 forward, 1 reverse (bidirectional only).</param>
    public ReadOnlySpan<float> GetInputWeights(int layer, int direction = 0) => Cell(layer, direction).WeightIh.Of(Stored.Parameters);

    /// <summary>Recurrent weights of one layer and direction: (G·H rows × H columns, row-major).</summary>
    /// <param name="layer">0 … <see cref="NumberOfLayers"/> − 1.</param>
    /// <param name="direction">0 forward, 1 reverse (bidirectional only).</param>
    public ReadOnlySpan<float> GetRecurrentWeights(int layer, int direction = 0) => Cell(layer, direction).WeightHh.Of(Stored.Parameters);

    /// <summary>Input bias b_ih of one layer and direction (G·H).</summary>
    /// <param name="layer">0 … <see cref="NumberOfLayers"/> − 1.</param>
    /// <param name="direction">0 forward, 1 reverse (bidirectional only).</param>
    public ReadOnlySpan<float> GetInputBias(int layer, int direction = 0) => Cell(layer, direction).BiasIh.Of(Stored.Parameters);

    /// <summary>Recurrent bias b_hh of one layer and direction (G·H).</summary>
    /// <param name="layer">0 … <see cref="NumberOfLayers"/> − 1.</param>
    /// <param name="direction">0 forward, 1 reverse (bidirectional only).</param>
    public ReadOnlySpan<float> GetRecurrentBias(int layer, int direction = 0) => Cell(layer, direction).BiasHh.Of(Stored.Parameters);

    /// <summary>The head's weights: (<see cref="OutputSize"/> rows × H·directions columns, row-major).</summary>
    public ReadOnlySpan<float> GetOutputWeights() => _layout.HeadWeight.Of(Stored.Parameters);

    /// <summary>The head's bias (<see cref="OutputSize"/>).</summary>
    public ReadOnlySpan<float> GetOutputBias() => _layout.HeadBias.Of(Stored.Parameters);

    private CellSlices Cell(int layer, int direction)
    {
        if ((uint)layer >= (uint)Stored.Spec.NumberOfLayers)
            throw new ArgumentOutOfRangeException(nameof(layer), layer, $"The model has layers 0 to {Stored.Spec.NumberOfLayers - 1}.");
        if ((uint)direction >= (uint)Stored.Spec.Directions)
            throw new ArgumentOutOfRangeException(nameof(direction), direction,
                Stored.Spec.Bidirectional ? "Direction must be 0 (forward) or 1 (reverse)." : "The model is unidirectional: direction must be 0.");
        return _layout.Cell(layer, direction);
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"{CellType} {NumberOfLayers}×{HiddenSize}{(NumberOfDirections == 2 ? " bidirectional" : "")}, {OutputSize} output(s), {Info.ParameterCount} parameters";
}
