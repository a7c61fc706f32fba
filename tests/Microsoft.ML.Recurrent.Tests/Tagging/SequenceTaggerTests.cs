using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Tests.Estimators;
using Microsoft.ML.Recurrent.Tests.Serialization;

namespace Microsoft.ML.Recurrent.Tests.Tagging;

/// <summary>Trains the memory tagger once (dense features, key-vector tags) for the tests that read it.</summary>
public sealed class MemoryTaggerFixture
{
    public MemoryTaggerFixture()
    {
        Ml = new MLContext(seed: 1);
        Train = Ml.Data.LoadFromEnumerable(TaggingData.Memory(600, seed: 1));
        Test = Ml.Data.LoadFromEnumerable(TaggingData.Memory(200, seed: 2));
        Pipeline = Ml.Transforms.Conversion.MapValueToKey("Label", "Tags")
            .Append(Ml.Recurrent().Trainers.SequenceTagger(Options()));
        Model = Pipeline.Fit(Train);
    }

    public static SequenceTaggerTrainer.Options Options() => new()
    {
        FeaturesPerStep = 4,
        HiddenSize = 16,
        MaximumNumberOfEpochs = 25,
        LearningRate = 0.02f,
        BatchSize = 32,
        Seed = 3,
    };

    public MLContext Ml { get; }
    public IDataView Train { get; }
    public IDataView Test { get; }
    public IEstimator<TransformerChain<SequenceTaggerTransformer>> Pipeline { get; }
    public TransformerChain<SequenceTaggerTransformer> Model { get; }
}

public class SequenceTaggerTests : IClassFixture<MemoryTaggerFixture>
{
    private readonly MemoryTaggerFixture _f;

    public SequenceTaggerTests(MemoryTaggerFixture fixture) => _f = fixture;

    [Fact]
    public void Tagger_MemoryTask_ReachesAtLeast99PercentTokenAccuracy()
    {
        var metrics = _f.Ml.Recurrent().EvaluateTagging(_f.Model.Transform(_f.Test));
        metrics.TokenAccuracy.Should().BeGreaterThanOrEqualTo(0.99, "every tag needs the mode seen at step 0 (chance 50 %)");
        metrics.SequenceCount.Should().Be(200);
        metrics.TokenCount.Should().Be(TaggingData.Memory(200, seed: 2).Sum(r => (long)r.Tags.Length), "every tag of every test sequence");
        metrics.HasSpans.Should().BeFalse("c0, c1, c2 are not BIO tags");
        metrics.SpanF1Score.Should().BeNull();
        metrics.MacroF1Score.Should().BeGreaterThan(0.98);
        metrics.ClassNames.Should().BeEquivalentTo("c0", "c1", "c2");
    }

    [Fact]
    public void Output_Scored_PredictedLabelIsKeyVectorWithLabelValues_ScoreHoldsStepProbabilities()
    {
        var scored = _f.Model.Transform(_f.Test);
        var predicted = scored.Schema["PredictedLabel"];
        var pk = predicted.Type.Should().BeOfType<VectorDataViewType>().Subject;
        pk.ItemType.Should().BeOfType<KeyDataViewType>().Which.Count.Should().Be(3);
        VBuffer<ReadOnlyMemory<char>> labelValues = default, predictedValues = default;
        scored.Schema["Label"].GetKeyValues(ref labelValues);
        predicted.GetKeyValues(ref predictedValues);
        predictedValues.DenseValues().Select(v => v.ToString()).Should().Equal(labelValues.DenseValues().Select(v => v.ToString()));

        var scores = scored.GetColumn<float[]>("Score").ToArray();
        var labels = scored.GetColumn<VBuffer<uint>>("PredictedLabel").Select(v => v.DenseValues().ToArray()).ToArray();
        var features = scored.GetColumn<float[]>("Features").ToArray();
        for (int i = 0; i < 20; i++)
        {
            int steps = features[i].Length / 4;
            scores[i].Length.Should().Be(steps * 3);
            var keys = labels[i];
            keys.Length.Should().Be(steps);
            for (int t = 0; t < steps; t++)
            {
                var step = scores[i].AsSpan(t * 3, 3).ToArray();
                step.Sum().Should().BeApproximately(1f, 1e-5f);
                keys[t].Should().Be((uint)(Array.IndexOf(step, step.Max()) + 1), $"the predicted key is the most probable class (row {i}, step {t})");
            }
        }

        var asText = _f.Ml.Transforms.Conversion.MapKeyToValue("PredictedTags", "PredictedLabel").Fit(scored).Transform(scored);
        var texts = asText.GetColumn<string[]>("PredictedTags").First();
        texts.Should().OnlyContain(t => t == "c0" || t == "c1" || t == "c2");
    }

    [Fact]
    public void Workout_SchemaFitSaveLoad_FreshProcessGivesIdenticalOutputs()
    {
        var inputShape = TestHelpers.ShapeOf<DenseTagRow>(_f.Ml);
        var shape = _f.Pipeline.GetOutputSchema(inputShape);
        SequenceSchemaAssert(shape);
        using var dir = new TempDirectory();
        string path = dir.File("tagger.zip");
        _f.Ml.Model.Save(_f.Model, _f.Train.Schema, path);
        var loaded = new MLContext(seed: 5).Model.Load(path, out _);
        var expected = _f.Model.Transform(_f.Test);
        loaded.Transform(_f.Test).ShouldHaveSameColumnsAndData(expected, "Score");
        loaded.Transform(_f.Test).GetColumn<VBuffer<uint>>("PredictedLabel").Select(v => v.DenseValues().ToArray())
            .Should().BeEquivalentTo(expected.GetColumn<VBuffer<uint>>("PredictedLabel").Select(v => v.DenseValues().ToArray()), o => o.WithStrictOrdering());

        var result = FreshProcess.Transform(_f.Ml, path, _f.Test, dir.Path);
        result.ExitCode.Should().Be(0, result.StandardError);
        result.StandardOutput.Should().Contain("PredictedLabel: Vector<Key<UInt32, 0-2>>");
        var fresh = _f.Ml.Data.LoadFromBinary(result.OutputPath);
        fresh.ShouldHaveSameColumnsAndData(expected, "Score");
    }

    private static void SequenceSchemaAssert(SchemaShape shape)
    {
        SchemaShape.Column score = default, predicted = default;
        foreach (var c in shape)
        {
            if (c.Name == "Score") score = c;
            if (c.Name == "PredictedLabel") predicted = c;
        }

        score.ItemType.Should().Be(NumberDataViewType.Single);
        score.Kind.Should().Be(SchemaShape.Column.VectorKind.VariableVector);
        predicted.IsKey.Should().BeTrue();
        predicted.Kind.Should().Be(SchemaShape.Column.VectorKind.VariableVector);
    }

    public sealed class TagPrediction
    {
        [VectorType]
        public uint[] PredictedLabel { get; set; } = [];

        [VectorType]
        public float[] Score { get; set; } = [];
    }

    [Fact]
    public void PredictionEngine_OneSequence_MatchesTransform()
    {
        var engine = _f.Ml.Model.CreatePredictionEngine<DenseTagRow, TagPrediction>(_f.Model);
        var row = TaggingData.Memory(1, seed: 11).Single();
        var prediction = engine.Predict(row);
        var expected = _f.Model.Transform(_f.Ml.Data.LoadFromEnumerable(new[] { row }));
        prediction.Score.Should().Equal(expected.GetColumn<float[]>("Score").Single());
        prediction.PredictedLabel.Should().Equal(expected.GetColumn<VBuffer<uint>>("PredictedLabel").Single().DenseValues());
        prediction.PredictedLabel.Length.Should().Be(row.Tags.Length);
    }

    [Fact]
    public void Seed_Null_FollowsTheContextSeed()
    {
        var data = _f.Ml.Data.LoadFromEnumerable(TaggingData.Memory(40, seed: 9));
        float[] Run(int contextSeed)
        {
            var ml = new MLContext(seed: contextSeed);
            var o = MemoryTaggerFixture.Options();
            o.Seed = null;
            o.MaximumNumberOfEpochs = 1;
            var model = ml.Transforms.Conversion.MapValueToKey("Label", "Tags").Append(ml.Recurrent().Trainers.SequenceTagger(o)).Fit(data);
            return model.Transform(data).GetColumn<float[]>("Score").First();
        }

        Run(7).Should().Equal(Run(7));
        Run(7).Should().NotEqual(Run(8));
    }
}
