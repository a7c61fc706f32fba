using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Engine.Training;
using Microsoft.ML.Recurrent.Tests.Serialization;

namespace Microsoft.ML.Recurrent.Tests.Estimators;

/// <summary>Trains the order-sensitive binary model once.</summary>
public sealed class BinaryModelFixture
{
    public BinaryModelFixture()
    {
        Ml = new MLContext(seed: 0);
        Train = Ml.Data.LoadFromEnumerable(SequenceData.OneBeforeTwo(800, seed: 1));
        Test = Ml.Data.LoadFromEnumerable(SequenceData.OneBeforeTwo(300, seed: 2));
        Model = Ml.BinaryClassification.Trainers.Recurrent(Options()).Fit(Train);
    }

    public static RecurrentBinaryTrainer.Options Options() => new()
    {
        LabelColumnName = "Flag",
        FeaturesPerStep = 5,
        HiddenSize = 16,
        MaximumNumberOfEpochs = 15,
        LearningRate = 0.005f,
        Seed = 1,
    };

    public MLContext Ml { get; }
    public IDataView Train { get; }
    public IDataView Test { get; }
    public RecurrentPredictionTransformer Model { get; }
}

public class BinaryTrainerTests : IClassFixture<BinaryModelFixture>
{
    private readonly BinaryModelFixture _f;

    public BinaryTrainerTests(BinaryModelFixture fixture) => _f = fixture;

    [Fact]
    public void Lstm_OneBeforeTwo_LearnsTheOrder()
    {
        var metrics = _f.Ml.BinaryClassification.Evaluate(_f.Model.Transform(_f.Test), labelColumnName: "Flag");
        // Both classes hold the same symbols; only their order separates them (chance = 0.5).
        metrics.Accuracy.Should().BeGreaterThan(0.9);
        metrics.AreaUnderRocCurve.Should().BeGreaterThan(0.95);
    }

    [Fact]
    public void GetOutputSchema_DenseInput_AddsScoreProbabilityAndBooleanPredictedLabel()
    {
        var output = _f.Ml.BinaryClassification.Trainers.Recurrent(BinaryModelFixture.Options()).GetOutputSchema(TestHelpers.ShapeOf<DenseRow>(_f.Ml));
        output.Single(c => c.Name == "Score").ItemType.Should().Be(NumberDataViewType.Single);
        output.Single(c => c.Name == "Probability").ItemType.Should().Be(NumberDataViewType.Single);
        var predicted = output.Single(c => c.Name == "PredictedLabel");
        predicted.ItemType.Should().Be(BooleanDataViewType.Instance);
        predicted.Kind.Should().Be(SchemaShape.Column.VectorKind.Scalar);
    }

    [Theory]
    [InlineData("Value", 5, "Label column 'Value' has the wrong type: expected Boolean*found Single*")]
    [InlineData("Category", 5, "Label column 'Category' has the wrong type: expected Boolean*found String*")]
    public void BadInput_GetOutputSchemaAndFit_ThrowNamingTheColumn(string label, int featuresPerStep, string message)
    {
        var options = BinaryModelFixture.Options();
        options.LabelColumnName = label;
        options.FeaturesPerStep = featuresPerStep;
        var trainer = _f.Ml.BinaryClassification.Trainers.Recurrent(options);
        var fromShape = () => trainer.GetOutputSchema(TestHelpers.ShapeOf<DenseRow>(_f.Ml));
        fromShape.Should().Throw<ArgumentOutOfRangeException>().WithMessage(message);
        var fromFit = () => trainer.Fit(_f.Train);
        fromFit.Should().Throw<ArgumentOutOfRangeException>().WithMessage(message);
    }

    [Fact]
    public void Fit_SequenceLengthNotAMultipleOfF_ThrowsNamingRowAndColumnBeforeTraining()
    {
        var rows = SequenceData.OneBeforeTwo(10, seed: 3);
        rows[7].Features = rows[7].Features[..^1];
        var progress = new ListProgress();
        var options = BinaryModelFixture.Options();
        options.Progress = progress;
        var act = () => _f.Ml.BinaryClassification.Trainers.Recurrent(options).Fit(_f.Ml.Data.LoadFromEnumerable(rows));
        act.Should().Throw<InvalidOperationException>()
            .WithMessage($"Row 7 of the training data: feature column 'Features' has {rows[7].Features.Length} values, which is not a multiple of FeaturesPerStep = 5.");
        progress.Reports.Should().BeEmpty("no epoch may start on bad data");
    }

    [Fact]
    public void Workout_FitSaveReload_SameSchemaAndData()
    {
        var scored = _f.Model.Transform(_f.Test);
        TestHelpers.VisibleColumns(scored.Schema).Should().Equal("Features", "Value", "Flag", "Category", "PredictedLabel", "Score", "Probability");
        scored.Schema["PredictedLabel"].Type.Should().Be(BooleanDataViewType.Instance);

        using var dir = new TempDirectory();
        _f.Ml.Model.Save(_f.Model, _f.Train.Schema, dir.File("model.zip"));
        var loaded = new MLContext(seed: 7).Model.Load(dir.File("model.zip"), out _);
        var reloaded = loaded.Transform(_f.Test);
        TestHelpers.VisibleColumns(reloaded.Schema).Should().Equal(TestHelpers.VisibleColumns(scored.Schema));
        reloaded.ShouldHaveSameColumnsAndData(scored, "Score", "Probability", "PredictedLabel");
    }

    [Fact]
    public void SaveLoad_FreshProcess_IdenticalOutputsAndMetrics()
    {
        using var dir = new TempDirectory();
        _f.Ml.Model.Save(_f.Model, _f.Train.Schema, dir.File("model.zip"));

        var result = FreshProcess.Transform(_f.Ml, dir.File("model.zip"), _f.Test, dir.Path);

        result.ExitCode.Should().Be(0, result.StandardError);
        var child = _f.Ml.Data.LoadFromBinary(result.OutputPath);
        var parent = _f.Model.Transform(_f.Test);
        child.ShouldHaveSameColumnsAndData(parent, "Score", "Probability", "PredictedLabel");
        _f.Ml.BinaryClassification.Evaluate(child, "Flag").Accuracy
            .Should().Be(_f.Ml.BinaryClassification.Evaluate(parent, "Flag").Accuracy);
    }

    [Fact]
    public void Outputs_AnyRow_AreLogitSigmoidAndSign()
    {
        var rows = SequenceData.OneBeforeTwo(30, seed: 5);
        var scored = _f.Model.Transform(_f.Ml.Data.LoadFromEnumerable(rows));
        var score = scored.GetColumn<float>("Score").ToArray();
        var probability = scored.GetColumn<float>("Probability").ToArray();
        var predicted = scored.GetColumn<bool>("PredictedLabel").ToArray();
        var predictor = new SequencePredictor(_f.Model.Model.Spec, _f.Model.Model.Parameters);
        var y = new float[1];
        for (int i = 0; i < rows.Length; i++)
        {
            predictor.Predict(rows[i].Features, y);
            score[i].Should().Be(y[0]);
            probability[i].Should().BeApproximately((float)(1 / (1 + Math.Exp(-y[0]))), 1e-6f);
            predicted[i].Should().Be(y[0] > 0);
        }
    }

    private sealed class Prediction
    {
        public bool PredictedLabel { get; set; }
        public float Probability { get; set; }
    }

    [Fact]
    public void PredictionEngine_SeveralThreadsAfterLoad_MatchTransform()
    {
        var rows = SequenceData.OneBeforeTwo(64, seed: 6);
        var expected = _f.Model.Transform(_f.Ml.Data.LoadFromEnumerable(rows)).GetColumn<float>("Probability").ToArray();
        using var dir = new TempDirectory();
        _f.Ml.Model.Save(_f.Model, _f.Train.Schema, dir.File("m.zip"));
        var fresh = new MLContext(seed: 1);
        var loaded = fresh.Model.Load(dir.File("m.zip"), out _);
        var actual = new float[rows.Length];
        Parallel.For(0, 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, worker =>
        {
            using var engine = fresh.Model.CreatePredictionEngine<DenseRow, Prediction>(loaded);
            for (int i = worker; i < rows.Length; i += 4) actual[i] = engine.Predict(rows[i]).Probability;
        });
        actual.Should().Equal(expected);
    }
}
