using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Model;

namespace Microsoft.ML.Recurrent.Tests.Serialization;

/// <summary>Small models with fixed-seed weights for format tests.</summary>
internal static class ModelSamples
{
    public static RecurrentModel Multiclass(int seed = 1) => Create(
        new NetworkSpec(CellKind.Gru, InputSize: 2, HiddenSize: 3, NumberOfLayers: 1, OutputSize: 3),
        PredictionKind.MulticlassClassification, "Feat", ["cat", "dög", ""], seed);

    public static RecurrentModel Regression(int seed = 2) => Create(
        new NetworkSpec(CellKind.Lstm, InputSize: 2, HiddenSize: 2, NumberOfLayers: 2, Bidirectional: true, Dropout: 0.25f),
        PredictionKind.Regression, "Features", [], seed);

    public static RecurrentModel Tokens(int seed = 3) => Create(
        new NetworkSpec(CellKind.SimpleRnn, InputSize: 1, HiddenSize: 2, VocabularySize: 5, EmbeddingSize: 3),
        PredictionKind.BinaryClassification, "Tokens", [], seed);

    /// <summary>A multiclass model with Single class values and a three-epoch history (the version-2 block filled).</summary>
    public static RecurrentModel WithHistory(int seed = 4)
    {
        var plain = Create(new NetworkSpec(CellKind.Lstm, InputSize: 3, HiddenSize: 2, OutputSize: 3),
            PredictionKind.MulticlassClassification, "Features", ["10", "20", "-0.5"], seed);
        RecurrentEpochReport[] history =
        [
            new(1, 5, "cross-entropy", 1.0986, 1.05, 0.4, 1234.5, 0.01f),
            new(2, 5, "cross-entropy", 0.75, null, null, 2345.25, 0.005f),
            new(3, 5, "cross-entropy", 0.5, 0.61, null, 3456.0, 0.0025f),
        ];
        return new RecurrentModel(plain.Spec, plain.Kind, plain.FeatureColumnName, plain.ClassNames, plain.Parameters,
            LabelValueKind.Single, history, bestEpoch: 2);
    }

    public static RecurrentModel Create(NetworkSpec spec, PredictionKind kind, string column, string[] classes, int seed)
    {
        var rng = new Random(seed);
        var p = new float[new ParameterLayout(spec).Count];
        for (int i = 0; i < p.Length; i++) p[i] = (float)(rng.NextDouble() * 2 - 1);
        return new RecurrentModel(spec, kind, column, classes, p);
    }
}
