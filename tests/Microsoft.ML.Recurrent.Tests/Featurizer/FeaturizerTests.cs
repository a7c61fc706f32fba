using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Tests.Estimators;
using Microsoft.ML.Recurrent.Tests.Serialization;

namespace Microsoft.ML.Recurrent.Tests.Featurizer;

/// <summary>The adding problem: T steps of (value, marker); the label is the sum of the two marked values.</summary>
public sealed class AddingRow
{
    [VectorType(2 * AddingData.Steps)]
    public float[] Sequence { get; set; } = [];

    public float Label { get; set; }
}

public static class AddingData
{
    public const int Steps = 12;

    public static IEnumerable<AddingRow> Rows(int count, int seed)
    {
        var rng = new Random(seed);
        for (int i = 0; i < count; i++)
        {
            var x = new float[2 * Steps];
            int a = rng.Next(Steps), b = rng.Next(Steps - 1);
            if (b >= a) b++;
            for (int t = 0; t < Steps; t++) x[2 * t] = (float)rng.NextDouble();
            x[2 * a + 1] = 1f;
            x[2 * b + 1] = 1f;
            yield return new AddingRow { Sequence = x, Label = x[2 * a] + x[2 * b] };
        }
    }
}

/// <summary>A featurizer trained once on the adding problem (attention pooling, weights written out).</summary>
public sealed class AddingFeaturizerFixture
{
    public AddingFeaturizerFixture()
    {
        Ml = new MLContext(seed: 0);
        Train = Ml.Data.LoadFromEnumerable(AddingData.Rows(1500, seed: 1));
        Test = Ml.Data.LoadFromEnumerable(AddingData.Rows(300, seed: 2));
        Featurizer = Ml.Transforms.FeaturizeSequence(Options()).Fit(Train);
    }

    public static RecurrentFeaturizerEstimator.Options Options() => new()
    {
        OutputColumnName = "Encoded",
        InputColumnName = "Sequence",
        FeaturesPerStep = 2,
        LabelColumnName = "Label",
        Pooling = RecurrentPooling.Attention,
        AttentionWeightsColumnName = "Attention",
        HiddenSize = 16,
        MaximumNumberOfEpochs = 20,
        LearningRate = 0.01f,
        Seed = 1,
    };

    public MLContext Ml { get; }
    public IDataView Train { get; }
    public IDataView Test { get; }
    public RecurrentFeaturizerTransformer Featurizer { get; }
}

public class FeaturizerTests : IClassFixture<AddingFeaturizerFixture>
{
    private readonly AddingFeaturizerFixture _f;

    public FeaturizerTests(AddingFeaturizerFixture fixture) => _f = fixture;

    [Fact]
    public void FeaturizerThenSdca_AddingProblem_SolvesWhatSdcaAloneCannot()
    {
        var ml = _f.Ml;
        var alone = ml.Regression.Trainers.Sdca(labelColumnName: "Label", featureColumnName: "Sequence").Fit(_f.Train);
        var aloneMetrics = ml.Regression.Evaluate(alone.Transform(_f.Test));

        var encoded = _f.Featurizer.Transform(_f.Train);
        var sdca = ml.Regression.Trainers.Sdca(labelColumnName: "Label", featureColumnName: "Encoded").Fit(encoded);
        var metrics = ml.Regression.Evaluate(sdca.Transform(_f.Featurizer.Transform(_f.Test)));

        aloneMetrics.RSquared.Should().BeLessThan(0.5, "a linear model cannot multiply a value by its marker");
        metrics.RSquared.Should().BeGreaterThan(0.9, "the encoder's features make the sum linear");
    }

    [Fact]
    public void Output_IsKnownSizeVector_AttentionWeightsSumToOnePerStep()
    {
        var scored = _f.Featurizer.Transform(_f.Test);
        var type = scored.Schema["Encoded"].Type.Should().BeAssignableTo<VectorDataViewType>().Subject;
        type.IsKnownSize.Should().BeTrue();
        type.Size.Should().Be(16);
        _f.Featurizer.OutputSize.Should().Be(16);
        var weights = scored.GetColumn<float[]>("Attention").Take(10).ToArray();
        foreach (var w in weights)
        {
            w.Length.Should().Be(AddingData.Steps);
            w.Sum().Should().BeApproximately(1f, 1e-5f);
            w.Should().OnlyContain(v => v >= 0f);
        }

        TestHelpers.VisibleColumns(scored.Schema).Should().Equal("Sequence", "Label", "Encoded", "Attention");
    }

    [Fact]
    public void Attention_AddingProblem_LooksAtTheMarkedSteps()
    {
        var scored = _f.Featurizer.Transform(_f.Test);
        var weights = scored.GetColumn<float[]>("Attention").ToArray();
        var sequences = scored.GetColumn<float[]>("Sequence").ToArray();
        double marked = 0;
        for (int i = 0; i < weights.Length; i++)
            for (int t = 0; t < AddingData.Steps; t++)
                if (sequences[i][2 * t + 1] == 1f) marked += weights[i][t];
        (marked / weights.Length).Should().BeGreaterThan(2.0 / AddingData.Steps + 0.1, "attention on the two marked steps beats uniform weights");
    }

    [Fact]
    public void Workout_SchemaSaveLoad_FreshProcessGivesIdenticalOutputs()
    {
        var shape = _f.Ml.Transforms.FeaturizeSequence(AddingFeaturizerFixture.Options()).GetOutputSchema(TestHelpers.ShapeOf<AddingRow>(_f.Ml));
        shape.Select(c => c.Name).Should().Contain(["Encoded", "Attention"]);
        using var dir = new TempDirectory();
        string path = dir.File("featurizer.zip");
        _f.Ml.Model.Save(_f.Featurizer, _f.Train.Schema, path);
        var expected = _f.Featurizer.Transform(_f.Test);
        new MLContext(seed: 9).Model.Load(path, out _).Transform(_f.Test).ShouldHaveSameColumnsAndData(expected, "Encoded", "Attention");
        var result = FreshProcess.Transform(_f.Ml, path, _f.Test, dir.Path);
        result.ExitCode.Should().Be(0, result.StandardError);
        result.StandardOutput.Should().Contain("Encoded: Vector<Single, 16>");
        _f.Ml.Data.LoadFromBinary(result.OutputPath).ShouldHaveSameColumnsAndData(expected, "Encoded", "Attention");
    }
}
