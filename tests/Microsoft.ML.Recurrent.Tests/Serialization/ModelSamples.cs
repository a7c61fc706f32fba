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

    public static RecurrentModel Create(NetworkSpec spec, PredictionKind kind, string column, string[] classes, int seed)
    {
        var rng = new Random(seed);
        var p = new float[new ParameterLayout(spec).Count];
        for (int i = 0; i < p.Length; i++) p[i] = (float)(rng.NextDouble() * 2 - 1);
        return new RecurrentModel(spec, kind, column, classes, p);
    }
}
