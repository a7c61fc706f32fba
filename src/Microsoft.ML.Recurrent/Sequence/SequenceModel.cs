using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Heads;

namespace Microsoft.ML.Recurrent.Sequence;

/// <summary>What a <see cref="SequenceModel"/> computes.</summary>
internal enum SequenceTask : byte
{
    /// <summary>One class per step (key-vector label): every-step head of K logits, optionally a CRF on top.</summary>
    TagClasses = 0,
    /// <summary>One value per step (Single-vector label): every-step head of 1 output.</summary>
    TagValues = 1,
    /// <summary>An encoder without a head whose per-step outputs are pooled into one vector of D = H · directions.</summary>
    Featurize = 2,
}

/// <summary>
/// A trained tagger or featurizer as it is stored: the network (any input standardisation and regression-label scaling
/// already folded into its weights), the task, the pooling (featurizer), whether a CRF decodes (tagger), the input column
/// name, the class names (class tagger) and the parameters owned outside the network (CRF transitions, attention query).
/// </summary>
internal sealed class SequenceModel
{
    public SequenceModel(SequenceTask task, NetworkSpec spec, PoolingKind pooling, bool useCrf, string featureColumnName,
        IReadOnlyList<string> classNames, float[] parameters, float[] extraParameters)
    {
        Task = task;
        Spec = spec;
        Pooling = pooling;
        UseCrf = useCrf;
        FeatureColumnName = featureColumnName;
        ClassNames = classNames;
        Parameters = parameters;
        ExtraParameters = extraParameters;
    }

    public SequenceTask Task { get; }

    public NetworkSpec Spec { get; }

    /// <summary>Featurizer only (<see cref="PoolingKind.Last"/> otherwise).</summary>
    public PoolingKind Pooling { get; }

    /// <summary>Class tagger only: decode with a linear-chain CRF.</summary>
    public bool UseCrf { get; }

    public string FeatureColumnName { get; }

    /// <summary>Class tagger: the label's key values as text, class k ↔ key k + 1. Empty otherwise.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>The network's flat buffer (<see cref="ParameterLayout"/> order).</summary>
    public float[] Parameters { get; }

    /// <summary>CRF: transitions (K, K), start (K), end (K). Attention pooling: the query (D). Otherwise empty.</summary>
    public float[] ExtraParameters { get; }

    public bool UsesTokens => Spec.VocabularySize > 0;

    /// <summary>The width of the pooled output (featurizer): D = H · directions.</summary>
    public int OutputWidth => Spec.OutputWidth;

    /// <summary>The number of extra parameters a model of this shape must carry.</summary>
    public static int ExtraCount(SequenceTask task, NetworkSpec spec, PoolingKind pooling, bool useCrf) => task switch
    {
        SequenceTask.TagClasses when useCrf => LinearChainCrf.CountParameters(spec.OutputSize),
        SequenceTask.Featurize when pooling == PoolingKind.Attention => spec.OutputWidth,
        _ => 0,
    };
}
