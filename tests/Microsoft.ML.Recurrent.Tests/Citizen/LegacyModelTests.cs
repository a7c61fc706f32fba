using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Training;
using Microsoft.ML.Recurrent.Model;
using Microsoft.ML.Recurrent.Onnx;
using Microsoft.ML.Recurrent.Serving;
using Microsoft.ML.Recurrent.Tests.Serialization;

namespace Microsoft.ML.Recurrent.Tests.Citizen;

/// <summary>Multiclass models saved before issue 13 (version-1 payload, ONNX Reshape adapter) still load and serve when the
/// application references Microsoft.ML.OnnxTransformer (as this test project does), and FromLoadedModel reads them.</summary>
public class LegacyModelTests
{
    private sealed class Row
    {
        [VectorType]
        public float[] Features { get; set; } = [];
    }

    private sealed class ClassNameRow
    {
        public string Name { get; set; } = "";
    }

    /// <summary>The chain exactly as ServingChain built it before issue 13, around a version-1 payload.</summary>
    private static ITransformer LegacyChain(MLContext ml, RecurrentModel model, DataViewSchema schema)
    {
        string payload = Convert.ToBase64String(RecurrentModelFormat.Write(model, version: 1));
        int k = model.Spec.OutputSize;
        var adapter = new MemoryStream(ShapeAdapter.CreateReshape(k, ServingColumns.Scores, "Score"));
        var classNames = ml.Data.LoadFromEnumerable(model.ClassNames.Select(n => new ClassNameRow { Name = n }));
        return ml.Transforms.CustomMapping<NoInput, ModelKeyRow>(Mappings.ModelKey, Contracts.ModelKey)
            .Append(ml.Transforms.Conversion.MapValue(ServingColumns.Model,
                new[] { new KeyValuePair<string, string>(ServingColumns.ModelKeyValue, payload) }, ServingColumns.ModelKey))
            .Append(ml.Transforms.CopyColumns(ServingColumns.Features, model.FeatureColumnName))
            .Append(ml.Transforms.CustomMapping<DenseInput, MulticlassOutput>(Mappings.DenseMulticlass, Contracts.DenseMulticlass))
            .Append(ml.Transforms.ApplyOnnxModel("Score", ServingColumns.Scores, adapter))
            .Append(ml.Transforms.Conversion.MapValueToKey("PredictedLabel", ServingColumns.PredictedValue, keyData: classNames))
            .Append(ml.Transforms.DropColumns(ServingColumns.Internal))
            .Fit(new EmptyDataView(schema));
    }

    [Fact]
    public void LegacyMulticlassChain_SaveLoad_ServesAndFromLoadedModelReadsTheVersion1Payload()
    {
        var spec = new NetworkSpec(CellKind.Lstm, InputSize: 2, HiddenSize: 3, OutputSize: 3);
        var model = ModelSamples.Create(spec, PredictionKind.MulticlassClassification, "Features", ["a", "b", "c"], seed: 8);
        var ml = new MLContext(seed: 0);
        var rows = Enumerable.Range(1, 5).Select(r => new Row { Features = Enumerable.Range(0, 2 * r).Select(i => MathF.Sin(i + r)).ToArray() }).ToArray();
        var data = ml.Data.LoadFromEnumerable(rows);
        using var stream = new MemoryStream();
        ml.Model.Save(LegacyChain(ml, model, data.Schema), data.Schema, stream);
        stream.Position = 0;
        var loaded = new MLContext(seed: 1).Model.Load(stream, out _);

        var scored = loaded.Transform(data);
        scored.Schema["Score"].Type.Should().Be(new VectorDataViewType(NumberDataViewType.Single, 1, 3), "the old adapter's shape");
        var recurrent = RecurrentPredictionTransformer.FromLoadedModel(loaded);
        recurrent.ModelInfo.TrainingHistory.Should().BeEmpty("a version-1 payload has no history");
        recurrent.ModelInfo.BestEpoch.Should().Be(0);
        recurrent.Model.GetParameters().ToArray().Should().Equal(model.Parameters);

        // The model taken out of the legacy chain serves on the new route with the same probabilities.
        var fresh = recurrent.Transform(data);
        fresh.Schema["Score"].Type.Should().Be(new VectorDataViewType(NumberDataViewType.Single, 3));
        fresh.GetColumn<float[]>("Score").SelectMany(s => s).Should().Equal(scored.GetColumn<float[]>("Score").SelectMany(s => s));
        fresh.GetColumn<uint>("PredictedLabel").Should().Equal(scored.GetColumn<uint>("PredictedLabel"));
        var predictor = new SequencePredictor(spec, model.Parameters);
        var logits = new float[3];
        predictor.Predict(rows[0].Features, logits);
        int best = Array.IndexOf(logits, logits.Max());
        fresh.GetColumn<uint>("PredictedLabel").First().Should().Be((uint)best + 1);
        (loaded as IDisposable)?.Dispose();
    }
}
