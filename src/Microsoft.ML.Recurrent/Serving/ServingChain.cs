using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Model;
using Microsoft.ML.Recurrent.Onnx;

namespace Microsoft.ML.Recurrent.Serving;

/// <summary>
/// Builds the chain of stock ML.NET transformers that serves a trained model (architecture.md §1, text carrier):
/// <code>
///   CustomMapping(constant key) → MapValue(key → model as base64 text) → CopyColumns(user features → internal)
///   → CustomMapping(engine forward pass) → [multiclass: ApplyOnnxModel(Reshape adapter) → MapValueToKey(class names)]
///   → DropColumns(internal columns)
/// </code>
/// Every step is a stock transformer, so <c>mlContext.Model.Save</c>/<c>Load</c> round-trip the chain in a fresh process
/// with no registration call; the model bytes travel inside the zip as the MapValue's text.
/// </summary>
internal static class ServingChain
{
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
        if (model.Kind == PredictionKind.MulticlassClassification)
        {
            int k = model.Spec.OutputSize;
            var adapter = new MemoryStream(ShapeAdapter.CreateReshape(k, ServingColumns.Scores, DefaultColumnNames.Score));
            var classNames = ml.Data.LoadFromEnumerable(model.ClassNames.Select(n => new ClassNameRow { Name = n }));
            chain = chain
                .Append(ml.Transforms.ApplyOnnxModel(DefaultColumnNames.Score, ServingColumns.Scores, adapter))
                .Append(ml.Transforms.Conversion.MapValueToKey(DefaultColumnNames.PredictedLabel, ServingColumns.PredictedValue, keyData: classNames));
            internalColumns.Add(ServingColumns.Scores);
            internalColumns.Add(ServingColumns.PredictedValue);
        }

        chain = chain.Append(ml.Transforms.DropColumns(internalColumns.ToArray()));
        // Every step is trivial (no step reads data to fit), so fitting on an empty view of the input is enough.
        return chain.Fit(new EmptyDataView(inputSchema));
    }

    private static IEstimator<ITransformer> Forward(MLContext ml, RecurrentModel model) => (model.Kind, model.UsesTokens) switch
    {
        (PredictionKind.Regression, false) => ml.Transforms.CustomMapping<DenseInput, RegressionOutput>(Mappings.DenseRegression, Contracts.DenseRegression),
        (PredictionKind.BinaryClassification, false) => ml.Transforms.CustomMapping<DenseInput, BinaryOutput>(Mappings.DenseBinary, Contracts.DenseBinary),
        (PredictionKind.MulticlassClassification, false) => ml.Transforms.CustomMapping<DenseInput, MulticlassOutput>(Mappings.DenseMulticlass, Contracts.DenseMulticlass),
        (PredictionKind.Regression, true) => ml.Transforms.CustomMapping<TokenInput, RegressionOutput>(Mappings.TokenRegression, Contracts.TokenRegression),
        (PredictionKind.BinaryClassification, true) => ml.Transforms.CustomMapping<TokenInput, BinaryOutput>(Mappings.TokenBinary, Contracts.TokenBinary),
        _ => ml.Transforms.CustomMapping<TokenInput, MulticlassOutput>(Mappings.TokenMulticlass, Contracts.TokenMulticlass),
    };

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
