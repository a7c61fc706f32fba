using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Onnx;
using Microsoft.ML.Recurrent.Serving;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.Recurrent.Sequence;

/// <summary>Fixed internal column names of the tagger and featurizer chains (part of saved models: never rename).</summary>
internal static class SequenceColumns
{
    public const string Predicted = "__RecurrentSeqPredicted_v1__";
    public const string Pooled = "__RecurrentSeqPooled_v1__";
    public const string Weights = "__RecurrentSeqWeights_v1__";
    public const string Score = "Score";
    public const string PredictedLabel = "PredictedLabel";
}

/// <summary>Contract names of the tagger and featurizer <c>CustomMapping</c> factories: they must never change once released.</summary>
internal static class SequenceContracts
{
    public const string DenseClasses = "Microsoft.ML.Recurrent.Tagger.Dense.Classes.v1";
    public const string TokenClasses = "Microsoft.ML.Recurrent.Tagger.Tokens.Classes.v1";
    public const string DenseValues = "Microsoft.ML.Recurrent.Tagger.Dense.Values.v1";
    public const string TokenValues = "Microsoft.ML.Recurrent.Tagger.Tokens.Values.v1";
    public const string DenseFeaturize = "Microsoft.ML.Recurrent.Featurizer.Dense.v1";
    public const string TokenFeaturize = "Microsoft.ML.Recurrent.Featurizer.Tokens.v1";
}

/// <summary>Class tagger output: T·K probabilities (time-major) and the T predicted class names.</summary>
internal sealed class TagClassesOutput
{
    [ColumnName(SequenceColumns.Score)]
    [VectorType]
    public VBuffer<float> Score;

    [ColumnName(SequenceColumns.Predicted)]
    [VectorType]
    public VBuffer<ReadOnlyMemory<char>> Predicted;
}

/// <summary>Value tagger output: one value per step.</summary>
internal sealed class TagValuesOutput
{
    [ColumnName(SequenceColumns.Score)]
    [VectorType]
    public VBuffer<float> Score;
}

/// <summary>Featurizer output: the pooled vector (variable-length here; the shape adapter fixes D) and attention weights.</summary>
internal sealed class FeaturizeOutput
{
    [ColumnName(SequenceColumns.Pooled)]
    [VectorType]
    public VBuffer<float> Pooled;

    [ColumnName(SequenceColumns.Weights)]
    [VectorType]
    public VBuffer<float> Weights;
}

internal static class SequenceMappings
{
    public static void DenseClasses(DenseInput i, TagClassesOutput o)
    {
        var m = SequenceModelCache.Get(i.Model);
        m.TagClasses(m.Load(i.Features), ref o.Score, ref o.Predicted);
    }

    public static void TokenClasses(TokenInput i, TagClassesOutput o)
    {
        var m = SequenceModelCache.Get(i.Model);
        m.TagClasses(m.Load(i.Features), ref o.Score, ref o.Predicted);
    }

    public static void DenseValues(DenseInput i, TagValuesOutput o)
    {
        var m = SequenceModelCache.Get(i.Model);
        m.TagValues(m.Load(i.Features), ref o.Score);
    }

    public static void TokenValues(TokenInput i, TagValuesOutput o)
    {
        var m = SequenceModelCache.Get(i.Model);
        m.TagValues(m.Load(i.Features), ref o.Score);
    }

    public static void DenseFeaturize(DenseInput i, FeaturizeOutput o)
    {
        var m = SequenceModelCache.Get(i.Model);
        m.Featurize(m.Load(i.Features), ref o.Pooled, ref o.Weights);
    }

    public static void TokenFeaturize(TokenInput i, FeaturizeOutput o)
    {
        var m = SequenceModelCache.Get(i.Model);
        m.Featurize(m.Load(i.Features), ref o.Pooled, ref o.Weights);
    }
}

[CustomMappingFactoryAttribute(SequenceContracts.DenseClasses)]
internal sealed class DenseClassesFactory : CustomMappingFactory<DenseInput, TagClassesOutput>
{
    public override Action<DenseInput, TagClassesOutput> GetMapping() => SequenceMappings.DenseClasses;
}

[CustomMappingFactoryAttribute(SequenceContracts.TokenClasses)]
internal sealed class TokenClassesFactory : CustomMappingFactory<TokenInput, TagClassesOutput>
{
    public override Action<TokenInput, TagClassesOutput> GetMapping() => SequenceMappings.TokenClasses;
}

[CustomMappingFactoryAttribute(SequenceContracts.DenseValues)]
internal sealed class DenseValuesFactory : CustomMappingFactory<DenseInput, TagValuesOutput>
{
    public override Action<DenseInput, TagValuesOutput> GetMapping() => SequenceMappings.DenseValues;
}

[CustomMappingFactoryAttribute(SequenceContracts.TokenValues)]
internal sealed class TokenValuesFactory : CustomMappingFactory<TokenInput, TagValuesOutput>
{
    public override Action<TokenInput, TagValuesOutput> GetMapping() => SequenceMappings.TokenValues;
}

[CustomMappingFactoryAttribute(SequenceContracts.DenseFeaturize)]
internal sealed class DenseFeaturizeFactory : CustomMappingFactory<DenseInput, FeaturizeOutput>
{
    public override Action<DenseInput, FeaturizeOutput> GetMapping() => SequenceMappings.DenseFeaturize;
}

[CustomMappingFactoryAttribute(SequenceContracts.TokenFeaturize)]
internal sealed class TokenFeaturizeFactory : CustomMappingFactory<TokenInput, FeaturizeOutput>
{
    public override Action<TokenInput, FeaturizeOutput> GetMapping() => SequenceMappings.TokenFeaturize;
}

/// <summary>
/// Builds the stock-transformer chains that serve taggers and featurizers (the trainers' text-carrier route):
/// <code>
///   CustomMapping(constant key) → MapValue(key → model as base64 text) → CopyColumns(input → internal)
///   → CustomMapping(engine forward)
///   → tagger with classes: MapValueToKey(PredictedLabel ← predicted class names, keyData = the label's key values)
///   → featurizer: KnownSizeVector (Vector&lt;Single, D&gt; through stock transformers, the package's one known-size route) [→ CopyColumns(attention weights)]
///   → DropColumns(internal columns)
/// </code>
/// </summary>
internal static class SequenceServing
{
    public static ITransformer BuildTagger(SequenceModel model, DataViewSchema inputSchema) =>
        Build(model, inputSchema, outputColumnName: null, weightsColumnName: null).Fit(new EmptyDataView(inputSchema));

    public static ITransformer BuildFeaturizer(SequenceModel model, DataViewSchema inputSchema, string outputColumnName, string? weightsColumnName) =>
        Build(model, inputSchema, outputColumnName, weightsColumnName).Fit(new EmptyDataView(inputSchema));

    private static IEstimator<ITransformer> Build(SequenceModel model, DataViewSchema inputSchema, string? outputColumnName, string? weightsColumnName)
    {
        var ml = new MLContext(seed: 0);
        string payload = SequenceModelCache.Encode(model);
        IEstimator<ITransformer> chain = ml.Transforms.CustomMapping<NoInput, ModelKeyRow>(Mappings.ModelKey, Contracts.ModelKey)
            .Append(ml.Transforms.Conversion.MapValue(ServingColumns.Model,
                new[] { new KeyValuePair<string, string>(ServingColumns.ModelKeyValue, payload) }, ServingColumns.ModelKey))
            .Append(ml.Transforms.CopyColumns(ServingColumns.Features, model.FeatureColumnName));
        var drop = new List<string> { ServingColumns.ModelKey, ServingColumns.Model, ServingColumns.Features };
        bool tokens = model.UsesTokens;
        switch (model.Task)
        {
            case SequenceTask.TagClasses:
            {
                chain = chain.Append(tokens
                    ? (IEstimator<ITransformer>)ml.Transforms.CustomMapping<TokenInput, TagClassesOutput>(SequenceMappings.TokenClasses, SequenceContracts.TokenClasses)
                    : ml.Transforms.CustomMapping<DenseInput, TagClassesOutput>(SequenceMappings.DenseClasses, SequenceContracts.DenseClasses));
                var classNames = ml.Data.LoadFromEnumerable(model.ClassNames.Select(n => new ClassNameRow { Name = n }));
                chain = chain.Append(ml.Transforms.Conversion.MapValueToKey(SequenceColumns.PredictedLabel, SequenceColumns.Predicted, keyData: classNames));
                drop.Add(SequenceColumns.Predicted);
                break;
            }

            case SequenceTask.TagValues:
                chain = chain.Append(tokens
                    ? (IEstimator<ITransformer>)ml.Transforms.CustomMapping<TokenInput, TagValuesOutput>(SequenceMappings.TokenValues, SequenceContracts.TokenValues)
                    : ml.Transforms.CustomMapping<DenseInput, TagValuesOutput>(SequenceMappings.DenseValues, SequenceContracts.DenseValues));
                break;
            default:
            {
                chain = chain.Append(tokens
                    ? (IEstimator<ITransformer>)ml.Transforms.CustomMapping<TokenInput, FeaturizeOutput>(SequenceMappings.TokenFeaturize, SequenceContracts.TokenFeaturize)
                    : ml.Transforms.CustomMapping<DenseInput, FeaturizeOutput>(SequenceMappings.DenseFeaturize, SequenceContracts.DenseFeaturize));
                // The package's one known-size route (stock transformers only, no native runtime): Vector<Single, D>.
                chain = KnownSizeVector.Append(ml, chain, SequenceColumns.Pooled, outputColumnName!, model.OutputWidth, null, inputSchema, drop);
                if (weightsColumnName is not null) chain = chain.Append(ml.Transforms.CopyColumns(weightsColumnName, SequenceColumns.Weights));
                drop.Add(SequenceColumns.Pooled);
                drop.Add(SequenceColumns.Weights);
                break;
            }
        }

        return chain.Append(ml.Transforms.DropColumns(drop.ToArray()));
    }

    private sealed class ClassNameRow
    {
        public string Name { get; set; } = "";
    }
}
