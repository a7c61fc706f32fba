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
    public RecurrentModel(NetworkSpec spec, PredictionKind kind, string featureColumnName, IReadOnlyList<string> classNames, float[] parameters)
    {
        Spec = spec;
        Kind = kind;
        FeatureColumnName = featureColumnName;
        ClassNames = classNames;
        Parameters = parameters;
    }

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
}
