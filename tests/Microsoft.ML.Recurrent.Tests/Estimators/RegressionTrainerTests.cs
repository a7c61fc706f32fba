using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Engine.Training;
using Microsoft.ML.Recurrent.Tests.Serialization;

namespace Microsoft.ML.Recurrent.Tests.Estimators;

/// <summary>Trains the regression model once for the tests that only read it.</summary>
public sealed class RegressionModelFixture
{
    public RegressionModelFixture()
    {
        Ml = new MLContext(seed: 0);
        Train = Ml.Data.LoadFromEnumerable(SequenceData.MarkedSum(800, seed: 1));
        Test = Ml.Data.LoadFromEnumerable(SequenceData.MarkedSum(200, seed: 2));
        Model = Ml.Regression.Trainers.Recurrent(Options(Progress)).Fit(Train);
    }

    public static RecurrentRegressionTrainer.Options Options(IProgress<RecurrentEpochReport>? progress = null) => new()
    {
        LabelColumnName = "Value",
        FeaturesPerStep = 2,
        HiddenSize = 24,
        MaximumNumberOfEpochs = 15,
        Seed = 3,
        Progress = progress,
    };

    public MLContext Ml { get; }
    public IDataView Train { get; }
    public IDataView Test { get; }
    public ListProgress Progress { get; } = new();
    public RecurrentPredictionTransformer Model { get; }
}

public class RegressionTrainerTests : IClassFixture<RegressionModelFixture>
{
    private readonly RegressionModelFixture _f;

    public RegressionTrainerTests(RegressionModelFixture fixture) => _f = fixture;

    [Fact]
    public void Lstm_MarkedSumSequences_LearnsWithHighRSquared()
    {
        var metrics = _f.Ml.Regression.Evaluate(_f.Model.Transform(_f.Test), labelColumnName: "Value");
        // A constant predictor scores R² = 0; the marked sum needs gating and accumulation over time.
        metrics.RSquared.Should().BeGreaterThan(0.9);
        metrics.RootMeanSquaredError.Should().BeLessThan(0.3);
    }

    [Fact]
    public void GetOutputSchema_DenseInput_AddsScalarSingleScore()
    {
        var shape = TestHelpers.ShapeOf<DenseRow>(_f.Ml);
        var output = _f.Ml.Regression.Trainers.Recurrent(RegressionModelFixture.Options()).GetOutputSchema(shape);
        var score = output.Single(c => c.Name == "Score");
        score.Kind.Should().Be(SchemaShape.Column.VectorKind.Scalar);
        score.ItemType.Should().Be(NumberDataViewType.Single);
        output.Select(c => c.Name).Should().Contain(shape.Select(c => c.Name), "the input columns pass through");
    }

    [Theory]
    [InlineData("Missing", "Features", "Label column 'Missing' was not found*")]
    [InlineData("Flag", "Features", "Label column 'Flag' has the wrong type: expected Single*found Boolean*")]
    [InlineData("Value", "Nope", "Feature column 'Nope' was not found*")]
    [InlineData("Value", "Value", "Feature column 'Value' has the wrong type: expected a vector of Single*found Single*")]
    public void BadInput_GetOutputSchemaAndFit_ThrowNamingTheColumn(string label, string features, string message)
    {
        var options = RegressionModelFixture.Options();
        options.LabelColumnName = label;
        options.FeatureColumnName = features;
        var trainer = _f.Ml.Regression.Trainers.Recurrent(options);

        var fromShape = () => trainer.GetOutputSchema(TestHelpers.ShapeOf<DenseRow>(_f.Ml));
        fromShape.Should().Throw<ArgumentOutOfRangeException>().WithMessage(message);
        var fromFit = () => trainer.Fit(_f.Train);
        fromFit.Should().Throw<ArgumentOutOfRangeException>().WithMessage(message);
    }

    [Fact]
    public void Workout_FitSaveReload_SameSchemaAndData()
    {
        var scored = _f.Model.Transform(_f.Test);
        TestHelpers.VisibleColumns(scored.Schema).Should().Equal("Features", "Value", "Flag", "Category", "Score");
        scored.Schema["Score"].Type.Should().Be(NumberDataViewType.Single);

        using var dir = new TempDirectory();
        string path = dir.File("model.zip");
        _f.Ml.Model.Save(_f.Model, _f.Train.Schema, path);
        var fresh = new MLContext(seed: 42);
        var loaded = fresh.Model.Load(path, out var inputSchema);
        inputSchema.Select(c => c.Name).Should().Equal("Features", "Value", "Flag", "Category");
        var reloaded = loaded.Transform(_f.Test);
        TestHelpers.VisibleColumns(reloaded.Schema).Should().Equal(TestHelpers.VisibleColumns(scored.Schema));
        reloaded.ShouldHaveSameColumnsAndData(scored, "Score", "Value");
    }

    [Fact]
    public void SaveLoad_FreshProcess_IdenticalScores()
    {
        using var dir = new TempDirectory();
        string path = dir.File("model.zip");
        _f.Ml.Model.Save(_f.Model, _f.Train.Schema, path);

        var result = FreshProcess.Transform(_f.Ml, path, _f.Test, dir.Path);

        result.ExitCode.Should().Be(0, result.StandardError);
        result.StandardOutput.Should().Contain("Score: Single");
        var child = _f.Ml.Data.LoadFromBinary(result.OutputPath);
        child.ShouldHaveSameColumnsAndData(_f.Model.Transform(_f.Test), "Score");
    }

    [Fact]
    public void Scores_AnyRow_EqualTheEnginePredictorOnRawFeatures()
    {
        var rows = SequenceData.MarkedSum(20, seed: 9);
        var scores = _f.Model.Transform(_f.Ml.Data.LoadFromEnumerable(rows)).GetColumn<float>("Score").ToArray();
        var predictor = new SequencePredictor(_f.Model.Model.Spec, _f.Model.Model.Parameters);
        var y = new float[1];
        for (int i = 0; i < rows.Length; i++)
        {
            predictor.Predict(rows[i].Features, y);
            scores[i].Should().Be(y[0], $"row {i} is the engine's forward pass");
        }
    }

    private sealed class Prediction
    {
        public float Score { get; set; }
    }

    [Fact]
    public void PredictionEngine_SeveralThreadsBeforeAndAfterLoad_MatchTransform()
    {
        var rows = SequenceData.MarkedSum(64, seed: 11);
        var expected = _f.Model.Transform(_f.Ml.Data.LoadFromEnumerable(rows)).GetColumn<float>("Score").ToArray();
        using var dir = new TempDirectory();
        _f.Ml.Model.Save(_f.Model, _f.Train.Schema, dir.File("m.zip"));
        var loaded = new MLContext(seed: 5).Model.Load(dir.File("m.zip"), out _);

        foreach (var model in new ITransformer[] { _f.Model, loaded })
        {
            var actual = new float[rows.Length];
            Parallel.For(0, 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, worker =>
            {
                using var engine = _f.Ml.Model.CreatePredictionEngine<DenseRow, Prediction>(model);
                for (int i = worker; i < rows.Length; i += 4) actual[i] = engine.Predict(rows[i]).Score;
            });
            actual.Should().Equal(expected);
        }
    }

    [Fact]
    public void Progress_EveryEpoch_ReportedAndKeptInHistory()
    {
        var history = _f.Model.ModelInfo.TrainingHistory;
        history.Should().HaveCount(15);
        _f.Progress.Reports.Should().Equal(history);
        history.Select(r => r.Epoch).Should().Equal(Enumerable.Range(1, 15));
        history[^1].TrainingLoss.Should().BeLessThan(history[0].TrainingLoss / 5, "the loss falls while the model learns");
        history.Should().OnlyContain(r => r.ValidationLoss == null && r.SequencesPerSecond > 0 && r.LossName == "mean squared error");
        history[0].ToString().Should().StartWith("Epoch 1/15: training mean squared error ");
        _f.Model.ModelInfo.BestEpoch.Should().Be(15);
    }

    [Fact]
    public void ModelInfo_TrainedModel_DescribesTheNetwork()
    {
        var info = _f.Model.ModelInfo;
        info.CellType.Should().Be(RecurrentCellType.Lstm);
        info.FeaturesPerStep.Should().Be(2);
        info.HiddenSize.Should().Be(24);
        info.NumberOfLayers.Should().Be(1);
        info.OutputSize.Should().Be(1);
        info.VocabularySize.Should().Be(0);
        info.ClassNames.Should().BeEmpty();
        info.FeatureColumnName.Should().Be("Features");
        // LSTM: 4H·(F + H) + 8H weights and biases, then the H + 1 head.
        info.ParameterCount.Should().Be(4 * 24 * (2 + 24) + 8 * 24 + 24 + 1);
    }

    [Theory]
    [InlineData(new float[] { 1, 2, 3, 4, 5 }, "*'Features' has 5 values, which is not a multiple of the 2 features per step*")]
    [InlineData(new float[] { 1, float.NaN }, "*'Features' holds NaN at step 0, feature 1*")]
    [InlineData(new float[0], "*'Features' is empty*")]
    public void Transform_BadRowAtPredictionTime_ThrowsNamingTheColumn(float[] features, string message)
    {
        var data = _f.Ml.Data.LoadFromEnumerable(new[] { new DenseRow { Features = features } });
        var act = () => _f.Model.Transform(data).GetColumn<float>("Score").ToArray();
        act.Should().Throw<Exception>().Where(e => MatchesAny(e, message), "some exception in the chain says {0}", message);
    }

    [Theory]
    [InlineData(141, float.PositiveInfinity, 70, 1)]
    [InlineData(0, float.NaN, 0, 0)]
    [InlineData(199, float.NegativeInfinity, 99, 1)]
    public void Transform_NonFiniteValueInLongSequence_ThrowsNamingStepAndFeature(int index, float bad, int step, int feature)
    {
        string message = $"*'Features' holds {bad} at step {step}, feature {feature};*";
        // 100 steps × 2 features: long enough for the vectorised check; the message must still name the exact value.
        var features = Enumerable.Range(0, 200).Select(i => (i % 7) * 0.25f).ToArray();
        features[index] = bad;
        var data = _f.Ml.Data.LoadFromEnumerable(new[] { new DenseRow { Features = features } });
        var act = () => _f.Model.Transform(data).GetColumn<float>("Score").ToArray();
        act.Should().Throw<Exception>().Where(e => MatchesAny(e, message), "some exception in the chain says {0}", message);
    }

    private static bool MatchesAny(Exception e, string pattern)
    {
        var regex = "^" + System.Text.RegularExpressions.Regex.Escape(pattern).Replace("\\*", ".*") + "$";
        return Flatten(e).Any(m => System.Text.RegularExpressions.Regex.IsMatch(m, regex, System.Text.RegularExpressions.RegexOptions.Singleline));
    }

    private static IEnumerable<string> Flatten(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException) yield return x.Message;
    }
}
