using System.Diagnostics;
using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Model;
using Microsoft.ML.Recurrent.Onnx;
using Microsoft.ML.Recurrent.Serving;

namespace Microsoft.ML.Recurrent.Benchmarks;

/// <summary>
/// <c>serving-route</c>: the multiclass serving chain as built now (stock CustomMapping blocks / named scalars +
/// Concatenate, no native runtime) against the route it replaced (ONNX Reshape adapter through ApplyOnnxModel), on the
/// same model: PredictionEngine µs per row and Transform rows/s, both after a save and load. Medians of repeats.
/// </summary>
internal static class ServingRouteBenchmark
{
    private sealed class Row
    {
        [VectorType]
        public float[] Features { get; set; } = [];
    }

    private sealed class Prediction
    {
        public float[] Score { get; set; } = [];
    }

    private sealed class ClassNameRow
    {
        public string Name { get; set; } = "";
    }

    public static int Run(string[] args)
    {
        int repeats = args.Length > 0 ? int.Parse(args[0]) : 5;
        Console.WriteLine("serving-route: multiclass GRU F=8 H=32 T=20; PredictionEngine (µs/row, after save+load) and Transform (rows/s)");
        Console.WriteLine($"{"K",5} {"route",-28} {"PE µs/row",10} {"Transform rows/s",17}");
        foreach (int k in new[] { 3, 10, 50, 100 })
        {
            var spec = new NetworkSpec(CellKind.Gru, InputSize: 8, HiddenSize: 32, OutputSize: k);
            var rng = new Random(k);
            var p = new float[new ParameterLayout(spec).Count];
            for (int i = 0; i < p.Length; i++) p[i] = (float)(rng.NextDouble() - 0.5) * 0.4f;
            var model = new RecurrentModel(spec, PredictionKind.MulticlassClassification, "Features",
                Enumerable.Range(0, k).Select(i => $"class{i}").ToArray(), p);
            var ml = new MLContext(seed: 0);
            var rows = Enumerable.Range(0, 4000).Select(_ => new Row { Features = Enumerable.Range(0, 160).Select(_ => (float)rng.NextDouble()).ToArray() }).ToArray();
            var data = ml.Data.LoadFromEnumerable(rows);
            string route = k <= KnownSizeVector.MaxNamedSlots ? "stock (named scalars)" : "stock (blocks)";
            var routes = new[]
            {
                (Name: route, Model: Loaded(ml, ServingChain.Build(model, data.Schema), data)),
                (Name: "stock (blocks, no names)", Model: Loaded(ml, BlocksOnly(model, data.Schema), data)),
                (Name: "ONNX Reshape adapter (old)", Model: Loaded(ml, OldRoute(ml, model, data.Schema), data)),
            };
            var pe = routes.Select(_ => new List<double>()).ToArray();
            var tr = routes.Select(_ => new List<double>()).ToArray();
            for (int r = 0; r <= repeats; r++)
            {
                // Interleaved, so that background load hits every route alike; round 0 warms up.
                for (int i = 0; i < routes.Length; i++)
                {
                    var (us, perSecond) = Measure(ml, routes[i].Model, data, rows);
                    if (r > 0) { pe[i].Add(us); tr[i].Add(perSecond); }
                }
            }

            for (int i = 0; i < routes.Length; i++)
                Console.WriteLine($"{k,5} {routes[i].Name,-28} {BenchStats.Median(pe[i]),10:F2} {BenchStats.Median(tr[i]),17:F0}");
        }

        return 0;
    }

    /// <summary>The chain as built before issue 13: forward mapping, ApplyOnnxModel(Reshape) and MapValueToKey.</summary>
    private static ITransformer OldRoute(MLContext ml, RecurrentModel model, DataViewSchema schema)
    {
        string payload = ModelPayload.Encode(model);
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

    /// <summary>The new chain forced onto the block route (class names that cannot be slot names).</summary>
    private static ITransformer BlocksOnly(RecurrentModel model, DataViewSchema schema) =>
        ServingChain.Build(new RecurrentModel(model.Spec, model.Kind, model.FeatureColumnName,
            model.ClassNames.Select((_, i) => i == 0 ? "Features" : $"class{i}").ToArray(), model.Parameters), schema);

    private static ITransformer Loaded(MLContext ml, ITransformer chain, IDataView data)
    {
        using var stream = new MemoryStream();
        ml.Model.Save(chain, data.Schema, stream);
        stream.Position = 0;
        return new MLContext(seed: 1).Model.Load(stream, out _);
    }

    private static (double MicrosecondsPerRow, double RowsPerSecond) Measure(MLContext ml, ITransformer loaded, IDataView data, Row[] rows)
    {
        var engine = ml.Model.CreatePredictionEngine<Row, Prediction>(loaded, new PredictionEngineOptions { OwnsTransformer = false });
        {
            var clock = Stopwatch.StartNew();
            double check = 0;
            for (int i = 0; i < 2000; i++) check += engine.Predict(rows[i]).Score[0];
            double us = clock.Elapsed.TotalMicroseconds / 2000;
            clock.Restart();
            long n = 0;
            var scored = loaded.Transform(data);
            using (var cursor = scored.GetRowCursor(scored.Schema.Where(c => c.Name == "Score")))
            {
                var getter = cursor.GetGetter<VBuffer<float>>(scored.Schema["Score"]);
                VBuffer<float> v = default;
                while (cursor.MoveNext()) { getter(ref v); n++; }
            }

            double perSecond = n / clock.Elapsed.TotalSeconds;
            GC.KeepAlive(check);
            return (us, perSecond);
        }
    }
}
