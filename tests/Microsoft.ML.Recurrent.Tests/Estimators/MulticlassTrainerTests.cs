using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Engine.Training;
using Microsoft.ML.Recurrent.Tests.Serialization;

namespace Microsoft.ML.Recurrent.Tests.Estimators;

/// <summary>Trains the token-sequence multiclass pipeline once: text → words → keys → LSTM.</summary>
public sealed class MulticlassModelFixture
{
    public MulticlassModelFixture()
    {
        Ml = new MLContext(seed: 0);
        Train = Ml.Data.LoadFromEnumerable(SequenceData.FirstColour(900, seed: 1));
        Test = Ml.Data.LoadFromEnumerable(SequenceData.FirstColour(300, seed: 2));
        Pipeline = Featurizer(Ml).Append(Ml.MulticlassClassification.Trainers.Recurrent(Options()));
        Model = Pipeline.Fit(Train);
    }

    public static IEstimator<ITransformer> Featurizer(MLContext ml) =>
        ml.Transforms.Text.TokenizeIntoWords("Tokens", "Text")
            .Append(ml.Transforms.Conversion.MapValueToKey("Tokens"))
            .Append(ml.Transforms.Conversion.MapValueToKey("Label", "Category"));

    public static RecurrentMulticlassTrainer.Options Options() => new()
    {
        FeatureColumnName = "Tokens",
        HiddenSize = 16,
        EmbeddingSize = 8,
        MaximumNumberOfEpochs = 12,
        LearningRate = 0.01f,
        Seed = 2,
    };

    public MLContext Ml { get; }
    public IDataView Train { get; }
    public IDataView Test { get; }
    public IEstimator<TransformerChain<RecurrentPredictionTransformer>> Pipeline { get; }
    public TransformerChain<RecurrentPredictionTransformer> Model { get; }
}

public class MulticlassTrainerTests : IClassFixture<MulticlassModelFixture>
{
    private readonly MulticlassModelFixture _f;

    public MulticlassTrainerTests(MulticlassModelFixture fixture) => _f = fixture;

    [Fact]
    public void Lstm_FirstColourTokens_LearnsTheOrder()
    {
        var metrics = _f.Ml.MulticlassClassification.Evaluate(_f.Model.Transform(_f.Test));
        // Every sentence holds two colours; the class is the one that comes first (chance = 1/3).
        metrics.MacroAccuracy.Should().BeGreaterThan(0.9);
        metrics.MicroAccuracy.Should().BeGreaterThan(0.9);
        metrics.LogLoss.Should().BeLessThan(0.4);
    }

    [Fact]
    public void Output_Scored_HasKnownSizeScoreAndKeyPredictedLabelWithLabelValues()
    {
        var scored = _f.Model.Transform(_f.Test);
        var score = scored.Schema["Score"].Type.Should().BeOfType<VectorDataViewType>().Subject;
        score.ItemType.Should().Be(NumberDataViewType.Single);
        score.Size.Should().Be(3);
        var predicted = scored.Schema["PredictedLabel"];
        predicted.Type.Should().BeOfType<KeyDataViewType>().Which.Count.Should().Be(3);
        VBuffer<ReadOnlyMemory<char>> labelValues = default, predictedValues = default;
        scored.Schema["Label"].GetKeyValues(ref labelValues);
        predicted.GetKeyValues(ref predictedValues);
        predictedValues.DenseValues().Select(v => v.ToString()).Should().Equal(labelValues.DenseValues().Select(v => v.ToString()));
        TestHelpers.VisibleColumns(scored.Schema).Should().Equal("Text", "Category", "Flag", "Tokens", "Label", "Score", "PredictedLabel");
    }

    [Fact]
    public void PredictedLabel_MapKeyToValue_GivesTheMostProbableCategory()
    {
        var scored = _f.Model.Transform(_f.Test);
        var withText = _f.Ml.Transforms.Conversion.MapKeyToValue("PredictedCategory", "PredictedLabel").Fit(scored).Transform(scored);
        var names = _f.Model.LastTransformer.ModelInfo.ClassNames;
        var scores = withText.GetColumn<float[]>("Score").ToArray();
        var predicted = withText.GetColumn<string>("PredictedCategory").ToArray();
        for (int i = 0; i < scores.Length; i++)
        {
            scores[i].Sum().Should().BeApproximately(1f, 1e-5f, "scores are softmax probabilities");
            predicted[i].Should().Be(names[Array.IndexOf(scores[i], scores[i].Max())]);
        }

        var truth = withText.GetColumn<string>("Category").ToArray();
        predicted.Zip(truth).Count(p => p.First == p.Second).Should().BeGreaterThan(270);
    }

    [Fact]
    public void Scores_AnyRow_AreSoftmaxOfTheEnginePredictorOnTokenIds()
    {
        var featurized = _f.Model.Take(3).Aggregate(_f.Test, (d, t) => t.Transform(d));
        var tokens = featurized.GetColumn<uint[]>("Tokens").ToArray();
        var scores = _f.Model.Transform(_f.Test).GetColumn<float[]>("Score").ToArray();
        var model = _f.Model.LastTransformer.Model;
        model.Spec.VocabularySize.Should().Be(1 + 3 + 8, "key count (8 noise words + 3 colours) + 1 for padding");
        var predictor = new SequencePredictor(model.Spec, model.Parameters);
        var logits = new float[3];
        for (int i = 0; i < 20; i++)
        {
            predictor.Predict(tokens[i].Select(k => (float)k).ToArray(), logits);
            float max = logits.Max();
            var e = logits.Select(l => MathF.Exp(l - max)).ToArray();
            scores[i].Should().BeEquivalentTo(e.Select(v => v / e.Sum()), o => o.WithStrictOrdering()
                .Using<float>(c => c.Subject.Should().BeApproximately(c.Expectation, 1e-6f)).WhenTypeIs<float>());
        }
    }

    [Fact]
    public void GetOutputSchema_Pipeline_AddsVectorScoreAndKeyPredictedLabel()
    {
        var shape = MulticlassModelFixture.Featurizer(_f.Ml).GetOutputSchema(TestHelpers.ShapeOf<TextRow>(_f.Ml));
        var output = _f.Ml.MulticlassClassification.Trainers.Recurrent(MulticlassModelFixture.Options()).GetOutputSchema(shape);
        var score = output.Single(c => c.Name == "Score");
        score.Kind.Should().Be(SchemaShape.Column.VectorKind.Vector);
        score.ItemType.Should().Be(NumberDataViewType.Single);
        var predicted = output.Single(c => c.Name == "PredictedLabel");
        predicted.IsKey.Should().BeTrue();
        predicted.Annotations.Select(a => a.Name).Should().Contain("KeyValues");
    }

    [Theory]
    [InlineData("Category", "Tokens", 1, "Label column 'Category' has the wrong type: expected a key*found String*")]
    [InlineData("Label", "Text", 1, "Feature column 'Text' has the wrong type: expected a vector of Single*found String*")]
    [InlineData("Label", "Tokens", 2, "FeaturesPerStep must be 1 for key-typed token input*it was 2*")]
    public void BadInput_GetOutputSchemaAndFit_ThrowNamingTheProblem(string label, string features, int featuresPerStep, string message)
    {
        var options = MulticlassModelFixture.Options();
        options.LabelColumnName = label;
        options.FeatureColumnName = features;
        options.FeaturesPerStep = featuresPerStep;
        var trainer = _f.Ml.MulticlassClassification.Trainers.Recurrent(options);
        var shape = MulticlassModelFixture.Featurizer(_f.Ml).GetOutputSchema(TestHelpers.ShapeOf<TextRow>(_f.Ml));
        var fromShape = () => trainer.GetOutputSchema(shape);
        fromShape.Should().Throw<ArgumentOutOfRangeException>().WithMessage(message);
        var featurized = MulticlassModelFixture.Featurizer(_f.Ml).Fit(_f.Train).Transform(_f.Train);
        var fromFit = () => trainer.Fit(featurized);
        fromFit.Should().Throw<ArgumentOutOfRangeException>().WithMessage(message);
    }

    [Fact]
    public void Workout_PipelineSaveReload_SameSchemaDataAndMetrics()
    {
        var scored = _f.Model.Transform(_f.Test);
        using var dir = new TempDirectory();
        _f.Ml.Model.Save(_f.Model, _f.Train.Schema, dir.File("model.zip"));
        var fresh = new MLContext(seed: 3);
        var loaded = fresh.Model.Load(dir.File("model.zip"), out _);
        var reloaded = loaded.Transform(_f.Test);
        TestHelpers.VisibleColumns(reloaded.Schema).Should().Equal(TestHelpers.VisibleColumns(scored.Schema));
        reloaded.ShouldHaveSameColumnsAndData(scored, "Score", "PredictedLabel");
        fresh.MulticlassClassification.Evaluate(reloaded).MacroAccuracy
            .Should().Be(_f.Ml.MulticlassClassification.Evaluate(scored).MacroAccuracy);
        var text = fresh.Transforms.Conversion.MapKeyToValue("P", "PredictedLabel").Fit(reloaded).Transform(reloaded);
        text.GetColumn<string>("P").Should().Equal(
            _f.Ml.Transforms.Conversion.MapKeyToValue("P", "PredictedLabel").Fit(scored).Transform(scored).GetColumn<string>("P"));
    }

    [Fact]
    public void SaveLoad_FreshProcess_IdenticalOutputsAndMetrics()
    {
        using var dir = new TempDirectory();
        _f.Ml.Model.Save(_f.Model, _f.Train.Schema, dir.File("model.zip"));

        var result = FreshProcess.Transform(_f.Ml, dir.File("model.zip"), _f.Test, dir.Path);

        result.ExitCode.Should().Be(0, result.StandardError);
        result.StandardOutput.Should().Contain("Score: Vector<Single, 3>").And.Contain("PredictedLabel: Key<UInt32, 0-2>");
        var child = _f.Ml.Data.LoadFromBinary(result.OutputPath);
        var parent = _f.Model.Transform(_f.Test);
        child.ShouldHaveSameColumnsAndData(parent, "Score", "PredictedLabel");
        _f.Ml.MulticlassClassification.Evaluate(child).MacroAccuracy
            .Should().Be(_f.Ml.MulticlassClassification.Evaluate(parent).MacroAccuracy);
    }

    private sealed class Prediction
    {
        public float[] Score { get; set; } = [];
    }

    [Fact]
    public void PredictionEngine_SeveralThreadsBeforeAndAfterLoad_MatchTransform()
    {
        var rows = SequenceData.FirstColour(40, seed: 8);
        var expected = _f.Model.Transform(_f.Ml.Data.LoadFromEnumerable(rows)).GetColumn<float[]>("Score").ToArray();
        using var dir = new TempDirectory();
        _f.Ml.Model.Save(_f.Model, _f.Train.Schema, dir.File("m.zip"));
        var loaded = new MLContext(seed: 1).Model.Load(dir.File("m.zip"), out _);
        // ML.NET disposes the model a PredictionEngine was created from unless told otherwise; a loaded multiclass chain
        // holds an ONNX Runtime session (the shape adapter), so engines over it must not own it.
        var keepModel = new PredictionEngineOptions { OwnsTransformer = false };
        foreach (var model in new ITransformer[] { _f.Model, loaded })
        {
            var actual = new float[rows.Length][];
            Parallel.For(0, 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, worker =>
            {
                using var engine = _f.Ml.Model.CreatePredictionEngine<TextRow, Prediction>(model, keepModel);
                for (int i = worker; i < rows.Length; i += 4) actual[i] = engine.Predict(rows[i]).Score;
            });
            actual.Should().BeEquivalentTo(expected, o => o.WithStrictOrdering());
        }
    }

    [Fact]
    public void PredictionEngine_DisposedWithDefaultOptions_FittedModelStillScores()
    {
        var rows = SequenceData.FirstColour(5, seed: 12);
        var data = _f.Ml.Data.LoadFromEnumerable(rows);
        var before = _f.Model.Transform(data).GetColumn<float[]>("Score").ToArray();
        for (int i = 0; i < 2; i++)
        {
            using var engine = _f.Ml.Model.CreatePredictionEngine<TextRow, Prediction>(_f.Model);
            engine.Predict(rows[0]).Score.Should().Equal(before[0]);
        }

        _f.Model.Transform(data).GetColumn<float[]>("Score").Should().BeEquivalentTo(before, o => o.WithStrictOrdering());
    }
}
