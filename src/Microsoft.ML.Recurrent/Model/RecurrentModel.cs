using Microsoft.ML.Recurrent.Engine;

namespace Microsoft.ML.Recurrent.Model;

/// <summary>The ML.NET task a model was trained for; decides the loss, the head width and the output columns.</summary>
internal enum PredictionKind : byte
{
    /// <summary>Label Single → Score Single. One output, mean squared error.</summary>
    Regression = 0,
    /// <summary>Label Boolean → Score (logit), Probability, PredictedLabel. One output, binary cross-entropy on the logit.</summary>
    BinaryClassification = 1,
    /// <summary>Label key (K values) → Score (K probabilities), PredictedLabel key. K outputs, softmax cross-entropy.</summary>
    MulticlassClassification = 2,
}

/// <summary>
/// A trained recurrent model as it is stored: the network shape, the task, what the input column looked like,
/// the class names of a multiclass label and the flat parameter buffer (<see cref="ParameterLayout"/> order).
/// Any input normalisation is already folded into the weights, so the parameters are exactly what the
/// engine's forward pass uses on the raw input.
/// </summary>
internal sealed class RecurrentModel
{
    public RecurrentModel(NetworkSpec spec, PredictionKind kind, string featureColumnName, IReadOnlyList<string> classNames, float[] parameters,
        LabelValueKind labelValueKind = LabelValueKind.Text, IReadOnlyList<RecurrentEpochReport>? history = null, int bestEpoch = 0)
    {
        Spec = spec;
        Kind = kind;
        FeatureColumnName = featureColumnName;
        ClassNames = classNames;
        Parameters = parameters;
        LabelValueKind = labelValueKind;
        History = history ?? [];
        BestEpoch = bestEpoch;
    }

    /// <summary>Multiclass only: the type of the label's key values, so that <c>MapKeyToValue</c> on the predicted label
    /// gives back that type (the <see cref="ClassNames"/> are those values as invariant text). Text otherwise.</summary>
    public LabelValueKind LabelValueKind { get; }

    /// <summary>One report per epoch that ran (format version 2; empty for a version-1 model).</summary>
    public IReadOnlyList<RecurrentEpochReport> History { get; }

    /// <summary>The epoch whose weights the model keeps (0 when unknown: a version-1 model).</summary>
    public int BestEpoch { get; }

    public NetworkSpec Spec { get; }

    public PredictionKind Kind { get; }

    /// <summary>Name of the feature column the model was trained on (for error messages at prediction time).</summary>
    public string FeatureColumnName { get; }

    /// <summary>Multiclass only: the label's key values as text, class index k ↔ key k + 1. Empty otherwise.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>Flat parameter buffer in <see cref="ParameterLayout"/> order.</summary>
    public float[] Parameters { get; }

    /// <summary>Features per step F (1 for token ids).</summary>
    public int FeaturesPerStep => Spec.InputSize;

    /// <summary>Whether the input is a key-typed token vector feeding an embedding.</summary>
    public bool UsesTokens => Spec.VocabularySize > 0;

    /// <summary>The number format the recurrent and input weights are held in while this model scores (format version 3;
    /// Float32 for every older payload). The <see cref="Parameters"/> stay float32 whatever it is.</summary>
    public RecurrentServingPrecision ServingPrecision { get; init; }

    /// <summary>This model with another <see cref="ServingPrecision"/> (same parameters, shared, not copied).</summary>
    public RecurrentModel WithServingPrecision(RecurrentServingPrecision precision) =>
        new(Spec, Kind, FeatureColumnName, ClassNames, Parameters, LabelValueKind, History, BestEpoch) { ServingPrecision = precision };
}

/// <summary>The type of a multiclass label's key values (what <c>MapKeyToValue</c> returns). Stored in the model format.</summary>
internal enum LabelValueKind : byte
{
    /// <summary>ReadOnlyMemory&lt;char&gt; (text), also the fallback for any other type.</summary>
    Text = 0,
    /// <summary>Single.</summary>
    Single = 1,
    /// <summary>Double.</summary>
    Double = 2,
    /// <summary>Int32.</summary>
    Int32 = 3,
    /// <summary>UInt32.</summary>
    UInt32 = 4,
    /// <summary>Int64.</summary>
    Int64 = 5,
    /// <summary>UInt64.</summary>
    UInt64 = 6,
    /// <summary>Boolean.</summary>
    Boolean = 7,
}
