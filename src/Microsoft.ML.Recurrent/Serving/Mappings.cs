using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.Recurrent.Serving;

/// <summary>
/// Fixed names of the serving chain's internal columns. They are part of saved models: never rename them; a new
/// layout gets new names (…V2) and new contract names.
/// </summary>
internal static class ServingColumns
{
    public const string ModelKey = "__RecurrentModelKey_v1__";
    public const string Model = "__RecurrentModel_v1__";
    public const string Features = "__RecurrentFeatures_v1__";
    public const string Scores = "__RecurrentScores_v1__";
    public const string PredictedValue = "__RecurrentPredictedValue_v1__";
    /// <summary>The predicted class as a value of the label's own type (numeric multiclass labels; since issue 13).</summary>
    public const string PredictedTypedValue = "__RecurrentPredictedTypedValue_v1__";

    /// <summary>The one key of the MapValue step that carries the model text.</summary>
    public const string ModelKeyValue = "model";

    public static readonly string[] Internal = [ModelKey, Model, Features, Scores, PredictedValue];
}

/// <summary>
/// Contract names of the <c>CustomMapping</c> factories. ML.NET stores these names (and this assembly's name) in saved
/// models and finds the factory by them when loading: they must never change once released.
/// </summary>
internal static class Contracts
{
    public const string ModelKey = "Microsoft.ML.Recurrent.ModelKey.v1";
    public const string DenseRegression = "Microsoft.ML.Recurrent.Forward.Dense.Regression.v1";
    public const string DenseBinary = "Microsoft.ML.Recurrent.Forward.Dense.Binary.v1";
    public const string DenseMulticlass = "Microsoft.ML.Recurrent.Forward.Dense.Multiclass.v1";
    public const string TokenRegression = "Microsoft.ML.Recurrent.Forward.Tokens.Regression.v1";
    public const string TokenBinary = "Microsoft.ML.Recurrent.Forward.Tokens.Binary.v1";
    public const string TokenMulticlass = "Microsoft.ML.Recurrent.Forward.Tokens.Multiclass.v1";
    /// <summary>Binary without Probability (ML.NET's calibrator adds it, annotated); since issue 13.</summary>
    public const string DenseBinaryLogit = "Microsoft.ML.Recurrent.Forward.Dense.BinaryLogit.v1";
    /// <summary>Binary without Probability over token input; since issue 13.</summary>
    public const string TokenBinaryLogit = "Microsoft.ML.Recurrent.Forward.Tokens.BinaryLogit.v1";
}

// ---- Row classes: column names and types come from these attributes, also after a load. ----

/// <summary>No input column: the model-key step reads nothing.</summary>
internal sealed class NoInput
{
}

internal sealed class ModelKeyRow
{
    [ColumnName(ServingColumns.ModelKey)]
    public ReadOnlyMemory<char> ModelKey;
}

/// <summary>Single features. The payload is <see cref="ReadOnlyMemory{T}"/>, never string: a string field would copy it per row.</summary>
internal sealed class DenseInput
{
    [ColumnName(ServingColumns.Model)]
    public ReadOnlyMemory<char> Model;

    [ColumnName(ServingColumns.Features)]
    [VectorType]
    public VBuffer<float> Features;
}

/// <summary>Key-typed tokens, read as their raw UInt32 values (0 = missing).</summary>
internal sealed class TokenInput
{
    [ColumnName(ServingColumns.Model)]
    public ReadOnlyMemory<char> Model;

    /// <summary>
    /// The key count of the attribute is not the vocabulary's: ML.NET binds a column to a field by raw type only
    /// (TypedCursorable.IsCompatibleType), while the estimator's schema-shape check compares key-ness, which this
    /// attribute declares. The vocabulary size travels in the model payload.
    /// </summary>
    [ColumnName(ServingColumns.Features)]
    [KeyType(1)]
    [VectorType]
    public VBuffer<uint> Features;
}

internal sealed class RegressionOutput
{
    public float Score;
}

internal sealed class BinaryOutput
{
    /// <summary>The logit.</summary>
    public float Score;

    public float Probability;

    public bool PredictedLabel;
}

/// <summary>Binary output before ML.NET's calibrator adds Probability: the columns come in the stock trainers' order
/// (PredictedLabel, Score, Probability).</summary>
internal sealed class BinaryLogitOutput
{
    /// <summary>Logit &gt; 0.</summary>
    public bool PredictedLabel;

    /// <summary>The logit.</summary>
    public float Score;
}

internal sealed class MulticlassOutput
{
    /// <summary>K class probabilities (variable-length here; the shape adapter fixes the size).</summary>
    [ColumnName(ServingColumns.Scores)]
    [VectorType]
    public VBuffer<float> Scores;

    /// <summary>The predicted class's name; MapValueToKey turns it into the PredictedLabel key.</summary>
    [ColumnName(ServingColumns.PredictedValue)]
    public ReadOnlyMemory<char> PredictedValue;
}

// ---- The mappings. Every one is stateless: all state lives in the payload and the decode cache. ----

internal static class Mappings
{
    public static void ModelKey(NoInput input, ModelKeyRow output) => output.ModelKey = ServingColumns.ModelKeyValue.AsMemory();

    public static void DenseRegression(DenseInput input, RegressionOutput output)
    {
        Span<float> y = stackalloc float[1];
        ModelCache.Get(input.Model).ScoreDense(input.Features, y);
        output.Score = y[0];
    }

    public static void TokenRegression(TokenInput input, RegressionOutput output)
    {
        Span<float> y = stackalloc float[1];
        ModelCache.Get(input.Model).ScoreTokens(input.Features, y);
        output.Score = y[0];
    }

    public static void DenseBinaryLogit(DenseInput input, BinaryLogitOutput output)
    {
        Span<float> y = stackalloc float[1];
        ModelCache.Get(input.Model).ScoreDense(input.Features, y);
        output.Score = y[0];
        output.PredictedLabel = y[0] > 0;
    }

    public static void TokenBinaryLogit(TokenInput input, BinaryLogitOutput output)
    {
        Span<float> y = stackalloc float[1];
        ModelCache.Get(input.Model).ScoreTokens(input.Features, y);
        output.Score = y[0];
        output.PredictedLabel = y[0] > 0;
    }

    public static void DenseBinary(DenseInput input, BinaryOutput output)
    {
        Span<float> y = stackalloc float[1];
        ModelCache.Get(input.Model).ScoreDense(input.Features, y);
        SetBinary(y[0], output);
    }

    public static void TokenBinary(TokenInput input, BinaryOutput output)
    {
        Span<float> y = stackalloc float[1];
        ModelCache.Get(input.Model).ScoreTokens(input.Features, y);
        SetBinary(y[0], output);
    }

    public static void DenseMulticlass(DenseInput input, MulticlassOutput output)
    {
        var model = ModelCache.Get(input.Model);
        var editor = VBufferEditor.Create(ref output.Scores, model.OutputSize);
        model.ScoreDense(input.Features, editor.Values);
        SetMulticlass(model, editor.Values, output);
        output.Scores = editor.Commit();
    }

    public static void TokenMulticlass(TokenInput input, MulticlassOutput output)
    {
        var model = ModelCache.Get(input.Model);
        var editor = VBufferEditor.Create(ref output.Scores, model.OutputSize);
        model.ScoreTokens(input.Features, editor.Values);
        SetMulticlass(model, editor.Values, output);
        output.Scores = editor.Commit();
    }

    /// <summary>Score = logit (ML.NET's raw score), Probability = σ(logit), PredictedLabel = logit &gt; 0.</summary>
    private static void SetBinary(float logit, BinaryOutput output)
    {
        output.Score = logit;
        output.Probability = logit >= 0 ? 1f / (1f + MathF.Exp(-logit)) : MathF.Exp(logit) / (1f + MathF.Exp(logit));
        output.PredictedLabel = logit > 0;
    }

    /// <summary>Turns the K logits into softmax probabilities in place and names the most probable class.</summary>
    private static void SetMulticlass(LoadedModel model, Span<float> scores, MulticlassOutput output)
    {
        int best = 0;
        for (int k = 1; k < scores.Length; k++)
        {
            if (scores[k] > scores[best]) best = k;
        }

        float max = scores[best];
        double sum = 0;
        for (int k = 0; k < scores.Length; k++)
        {
            scores[k] = MathF.Exp(scores[k] - max);
            sum += scores[k];
        }

        float inv = (float)(1.0 / sum);
        for (int k = 0; k < scores.Length; k++) scores[k] *= inv;
        output.PredictedValue = model.Model.ClassNames[best].AsMemory();
    }
}

// ---- Factories: found by contract name when ML.NET loads a model (created with a parameterless constructor). ----

[CustomMappingFactoryAttribute(Contracts.ModelKey)]
internal sealed class ModelKeyFactory : CustomMappingFactory<NoInput, ModelKeyRow>
{
    public override Action<NoInput, ModelKeyRow> GetMapping() => Mappings.ModelKey;
}

[CustomMappingFactoryAttribute(Contracts.DenseRegression)]
internal sealed class DenseRegressionFactory : CustomMappingFactory<DenseInput, RegressionOutput>
{
    public override Action<DenseInput, RegressionOutput> GetMapping() => Mappings.DenseRegression;
}

[CustomMappingFactoryAttribute(Contracts.DenseBinary)]
internal sealed class DenseBinaryFactory : CustomMappingFactory<DenseInput, BinaryOutput>
{
    public override Action<DenseInput, BinaryOutput> GetMapping() => Mappings.DenseBinary;
}

[CustomMappingFactoryAttribute(Contracts.DenseMulticlass)]
internal sealed class DenseMulticlassFactory : CustomMappingFactory<DenseInput, MulticlassOutput>
{
    public override Action<DenseInput, MulticlassOutput> GetMapping() => Mappings.DenseMulticlass;
}

[CustomMappingFactoryAttribute(Contracts.DenseBinaryLogit)]
internal sealed class DenseBinaryLogitFactory : CustomMappingFactory<DenseInput, BinaryLogitOutput>
{
    public override Action<DenseInput, BinaryLogitOutput> GetMapping() => Mappings.DenseBinaryLogit;
}

[CustomMappingFactoryAttribute(Contracts.TokenBinaryLogit)]
internal sealed class TokenBinaryLogitFactory : CustomMappingFactory<TokenInput, BinaryLogitOutput>
{
    public override Action<TokenInput, BinaryLogitOutput> GetMapping() => Mappings.TokenBinaryLogit;
}

[CustomMappingFactoryAttribute(Contracts.TokenRegression)]
internal sealed class TokenRegressionFactory : CustomMappingFactory<TokenInput, RegressionOutput>
{
    public override Action<TokenInput, RegressionOutput> GetMapping() => Mappings.TokenRegression;
}

[CustomMappingFactoryAttribute(Contracts.TokenBinary)]
internal sealed class TokenBinaryFactory : CustomMappingFactory<TokenInput, BinaryOutput>
{
    public override Action<TokenInput, BinaryOutput> GetMapping() => Mappings.TokenBinary;
}

[CustomMappingFactoryAttribute(Contracts.TokenMulticlass)]
internal sealed class TokenMulticlassFactory : CustomMappingFactory<TokenInput, MulticlassOutput>
{
    public override Action<TokenInput, MulticlassOutput> GetMapping() => Mappings.TokenMulticlass;
}
