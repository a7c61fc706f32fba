using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Model;

namespace Microsoft.ML.Recurrent.Serving;

/// <summary>
/// Builds the chain of stock ML.NET transformers that serves a trained model (architecture.md §1, text carrier):
/// <code>
///   CustomMapping(constant key) → MapValue(key → model as base64 text) → CopyColumns(user features → internal)
///   → CustomMapping(engine forward pass)
///   → [binary: FixedPlatt calibrator (slope −1, offset 0: Probability = σ(Score), annotated IsNormalized)]
///   → [multiclass: KnownSizeVector(scores → Score: Vector&lt;Single, K&gt;; slot names = class names for text labels,
///      as ML.NET's scorer names them only then)
///      → (numeric labels: MapValue(class name → label value)) → MapValueToKey(class values)]
///   → DropColumns(internal columns)
/// </code>
/// Every step is a stock transformer, so <c>mlContext.Model.Save</c>/<c>Load</c> round-trip the chain in a fresh process
/// with no registration call; the model bytes travel inside the zip as the MapValue's text. No step needs a native
/// runtime (until issue 13 multiclass models reshaped their scores with ONNX Runtime; models saved then still load).
/// </summary>
internal static class ServingChain
{
    /// <summary>The chain for <paramref name="model"/>, fitted on a schema with just its feature column of type
    /// <paramref name="featureType"/> (what <see cref="RecurrentPredictionTransformer.FromLoadedModel"/> knows).</summary>
    public static ITransformer Build(RecurrentModel model, DataViewType featureType)
    {
        var builder = new DataViewSchema.Builder();
        builder.AddColumn(model.FeatureColumnName, featureType);
        return Build(model, builder.ToSchema());
    }

    public static ITransformer Build(RecurrentModel model, DataViewSchema inputSchema)
    {
        var ml = new MLContext(seed: 0);
        string payload = ModelPayload.Encode(model);
        IEstimator<ITransformer> chain = ml.Transforms.CustomMapping<NoInput, ModelKeyRow>(Mappings.ModelKey, Contracts.ModelKey)
            .Append(ml.Transforms.Conversion.MapValue(ServingColumns.Model,
                new[] { new KeyValuePair<string, string>(ServingColumns.ModelKeyValue, payload) }, ServingColumns.ModelKey))
            .Append(ml.Transforms.CopyColumns(ServingColumns.Features, model.FeatureColumnName))
            .Append(Forward(ml, model));

        var internalColumns = new List<string> { ServingColumns.ModelKey, ServingColumns.Model, ServingColumns.Features };
        if (model.Kind == PredictionKind.BinaryClassification)
        {
            // ML.NET's own calibrator adds Probability = 1 / (1 + exp(-Score)) with the IsNormalized annotation.
            chain = chain.Append(ml.BinaryClassification.Calibrators.Platt(slope: -1, offset: 0, DefaultColumnNames.Score));
        }
        else if (model.Kind == PredictionKind.MulticlassClassification)
        {
            int k = model.Spec.OutputSize;
            // ML.NET's multiclass scorer names the Score slots only when the label's key values are text: do the same.
            var slotNames = model.LabelValueKind == LabelValueKind.Text ? model.ClassNames : null;
            chain = KnownSizeVector.Append(ml, chain, ServingColumns.Scores, DefaultColumnNames.Score, k, slotNames, inputSchema, internalColumns);
            chain = AppendPredictedLabel(ml, chain, model, internalColumns);
            internalColumns.Add(ServingColumns.Scores);
            internalColumns.Add(ServingColumns.PredictedValue);
        }

        chain = chain.Append(ml.Transforms.DropColumns(internalColumns.Distinct().ToArray()));
        // Every step is trivial (no step reads data to fit), so fitting on an empty view of the input is enough.
        return chain.Fit(new EmptyDataView(inputSchema));
    }

    /// <summary>PredictedLabel: a key whose values are the training label's values, of the label's own type.</summary>
    private static IEstimator<ITransformer> AppendPredictedLabel(MLContext ml, IEstimator<ITransformer> chain, RecurrentModel model, List<string> internalColumns)
    {
        if (!LabelValues.TryParseAll(model.ClassNames, model.LabelValueKind, out var values) || model.LabelValueKind == LabelValueKind.Text)
            return Typed(ml, chain, model.ClassNames, model.ClassNames.ToArray(), ServingColumns.PredictedValue);
        internalColumns.Add(ServingColumns.PredictedTypedValue);
        return values switch
        {
            float[] v => Typed(ml, chain, model.ClassNames, v, ServingColumns.PredictedTypedValue),
            double[] v => Typed(ml, chain, model.ClassNames, v, ServingColumns.PredictedTypedValue),
            int[] v => Typed(ml, chain, model.ClassNames, v, ServingColumns.PredictedTypedValue),
            uint[] v => Typed(ml, chain, model.ClassNames, v, ServingColumns.PredictedTypedValue),
            long[] v => Typed(ml, chain, model.ClassNames, v, ServingColumns.PredictedTypedValue),
            ulong[] v => Typed(ml, chain, model.ClassNames, v, ServingColumns.PredictedTypedValue),
            bool[] v => Typed(ml, chain, model.ClassNames, v, ServingColumns.PredictedTypedValue),
            _ => Typed(ml, chain, model.ClassNames, model.ClassNames.ToArray(), ServingColumns.PredictedValue),
        };
    }

    private static IEstimator<ITransformer> Typed<T>(MLContext ml, IEstimator<ITransformer> chain, IReadOnlyList<string> names, T[] values, string valueColumn)
    {
        if (valueColumn != ServingColumns.PredictedValue)
        {
            chain = chain.Append(ml.Transforms.Conversion.MapValue(valueColumn,
                names.Select((n, i) => new KeyValuePair<string, T>(n, values[i])), ServingColumns.PredictedValue));
        }

        var keyData = ml.Data.LoadFromEnumerable(values.Select(v => new ValueRow<T> { Value = v }));
        return chain.Append(ml.Transforms.Conversion.MapValueToKey(DefaultColumnNames.PredictedLabel, valueColumn, keyData: keyData));
    }

    private static IEstimator<ITransformer> Forward(MLContext ml, RecurrentModel model) => (model.Kind, model.UsesTokens) switch
    {
        (PredictionKind.Regression, false) => ml.Transforms.CustomMapping<DenseInput, RegressionOutput>(Mappings.DenseRegression, Contracts.DenseRegression),
        (PredictionKind.BinaryClassification, false) => ml.Transforms.CustomMapping<DenseInput, BinaryLogitOutput>(Mappings.DenseBinaryLogit, Contracts.DenseBinaryLogit),
        (PredictionKind.MulticlassClassification, false) => ml.Transforms.CustomMapping<DenseInput, MulticlassOutput>(Mappings.DenseMulticlass, Contracts.DenseMulticlass),
        (PredictionKind.Regression, true) => ml.Transforms.CustomMapping<TokenInput, RegressionOutput>(Mappings.TokenRegression, Contracts.TokenRegression),
        (PredictionKind.BinaryClassification, true) => ml.Transforms.CustomMapping<TokenInput, BinaryLogitOutput>(Mappings.TokenBinaryLogit, Contracts.TokenBinaryLogit),
        _ => ml.Transforms.CustomMapping<TokenInput, MulticlassOutput>(Mappings.TokenMulticlass, Contracts.TokenMulticlass),
    };

    private sealed class ValueRow<T>
    {
        public T Value { get; set; } = default!;
    }

    private sealed class ClassNameRow
    {
        public string Name { get; set; } = "";
    }

    /// <summary>Standard ML.NET output column names.</summary>
    internal static class DefaultColumnNames
    {
        public const string Score = "Score";
        public const string Probability = "Probability";
        public const string PredictedLabel = "PredictedLabel";
    }
}

/// <summary>A view with a given schema and no rows (fitting trivial estimators only needs the schema).</summary>
internal sealed class EmptyDataView : IDataView
{
    public EmptyDataView(DataViewSchema schema) => Schema = schema;

    public bool CanShuffle => true;

    public DataViewSchema Schema { get; }

    public long? GetRowCount() => 0;

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) => new Cursor(Schema);

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) => [new Cursor(Schema)];

    private sealed class Cursor : DataViewRowCursor
    {
        public Cursor(DataViewSchema schema) => Schema = schema;

        public override DataViewSchema Schema { get; }

        public override long Position => -1;

        public override long Batch => 0;

        public override bool IsColumnActive(DataViewSchema.Column column) => true;

        public override bool MoveNext() => false;

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) =>
            throw new InvalidOperationException("An empty view has no rows to read.");

        public override ValueGetter<DataViewRowId> GetIdGetter() =>
            throw new InvalidOperationException("An empty view has no rows to read.");
    }
}
