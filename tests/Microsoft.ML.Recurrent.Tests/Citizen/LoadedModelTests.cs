using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Serving;
using Microsoft.ML.Recurrent.Tests.Estimators;
using Microsoft.ML.Recurrent.Tests.Serialization;

namespace Microsoft.ML.Recurrent.Tests.Citizen;

public class LoadedModelTests : IClassFixture<CitizenFixture>
{
    private readonly CitizenFixture _f;

    public LoadedModelTests(CitizenFixture fixture) => _f = fixture;

    private ITransformer SaveLoad(ITransformer model)
    {
        using var stream = new MemoryStream();
        _f.Ml.Model.Save(model, _f.Train.Schema, stream);
        stream.Position = 0;
        return new MLContext(seed: 4).Model.Load(stream, out _);
    }

    private static byte[] Onnx(RecurrentPredictionTransformer model)
    {
        using var stream = new MemoryStream();
        model.SaveAsOnnx(stream);
        return stream.ToArray();
    }

    private static void ShouldMatch(RecurrentModelInfo actual, RecurrentModelInfo expected)
    {
        actual.Should().BeEquivalentTo(expected, o => o.Excluding(i => i.TrainingHistory));
        actual.TrainingHistory.Should().HaveCount(expected.TrainingHistory.Count).And.NotBeEmpty();
        actual.TrainingHistory.Should().BeEquivalentTo(expected.TrainingHistory, o => o.WithStrictOrdering());
    }

    [Fact]
    public void FromLoadedModel_InProcessLoad_GivesInfoHistoryWeightsOnnxAndSameOutputs()
    {
        var fitted = _f.Multiclass.LastTransformer;
        var loaded = RecurrentPredictionTransformer.FromLoadedModel(SaveLoad(_f.Multiclass));

        fitted.ModelInfo.TrainingHistory.Should().HaveCount(25);
        ShouldMatch(loaded.ModelInfo, fitted.ModelInfo);
        loaded.Model.TrainingHistory.Should().BeEquivalentTo(fitted.Model.TrainingHistory);
        loaded.Model.GetParameters().ToArray().Should().Equal(fitted.Model.GetParameters().ToArray());
        loaded.FeatureColumnName.Should().Be("Features");
        Onnx(loaded).Should().Equal(Onnx(fitted));

        var keyed = _f.Ml.Transforms.Conversion.MapValueToKey("Label", "Class").Fit(_f.Train).Transform(_f.Test);
        loaded.Transform(keyed).ShouldHaveSameColumnsAndData(fitted.Transform(keyed), "Score", "PredictedLabel");
    }

    [Fact]
    public void FromLoadedModel_TypedPfiOnTheLoadedModel_InformativeSlotsFirst()
    {
        var loaded = RecurrentPredictionTransformer.FromLoadedModel(SaveLoad(_f.Regression));
        var pfi = _f.Ml.Regression.PermutationFeatureImportance(loaded, _f.Test, labelColumnName: "Value");
        var top = Enumerable.Range(0, pfi.Length).OrderByDescending(i => pfi[i].RootMeanSquaredError.Mean).Take(2);
        top.Should().BeEquivalentTo(CitizenData.InformativeSlots);
    }

    [Fact]
    public void FromLoadedModel_FittedChainOrTransformer_ReturnsTheFittedModel()
    {
        RecurrentPredictionTransformer.FromLoadedModel(_f.Multiclass).Should().BeSameAs(_f.Multiclass.LastTransformer);
        RecurrentPredictionTransformer.FromLoadedModel(_f.Regression).Should().BeSameAs(_f.Regression);
    }

    [Fact]
    public void FromLoadedModel_ChainWithoutRecurrentModel_ThrowsArgumentException()
    {
        var other = SaveLoad(_f.Ml.Transforms.Conversion.MapValueToKey("Label", "Class").Fit(_f.Train));
        FluentActions.Invoking(() => RecurrentPredictionTransformer.FromLoadedModel(other))
            .Should().Throw<ArgumentException>().WithMessage("No recurrent model was found*").WithParameterName("loaded");
    }

    [Fact]
    public void FromLoadedModel_FreshProcess_PrintsInfoAndHistoryAndExportsTheSameOnnx()
    {
        using var dir = new TempDirectory();
        _f.Ml.Model.Save(_f.Multiclass, _f.Train.Schema, dir.File("model.zip"));
        var result = FreshProcess.Transform(_f.Ml, dir.File("model.zip"), _f.Test, dir.Path, recurrentModel: true);

        result.ExitCode.Should().Be(0, result.StandardError);
        result.StandardOutput.Should().Contain("Score: Vector<Single, 3>");
        result.StandardOutput.Should().Contain("Native onnxruntime loaded: False", "serving a multiclass model needs no native runtime");
        var info = _f.Multiclass.LastTransformer.ModelInfo;
        result.StandardOutput.Should().Contain(
            $"ModelInfo: Gru H=12 parameters={info.ParameterCount} classes=[{string.Join(",", info.ClassNames)}] best={info.BestEpoch}");
        var history = result.StandardOutput.Split('\n').Where(l => l.StartsWith("History: ")).Select(l => l["History: ".Length..].TrimEnd('\r')).ToArray();
        history.Should().Equal(info.TrainingHistory.Select(r => r.ToString()));
        File.ReadAllBytes(result.OutputPath + ".onnx").Should().Equal(Onnx(_f.Multiclass.LastTransformer));
        var child = _f.Ml.Data.LoadFromBinary(result.OutputPath);
        child.ShouldHaveSameColumnsAndData(_f.Multiclass.Transform(_f.Test), "Score", "PredictedLabel");
    }

    private sealed class TokenRow
    {
        [KeyType(4)]
        [VectorType]
        public uint[] Tokens { get; set; } = [];
    }

    [Fact]
    public void FromLoadedModel_TokenModel_ServesKeyInputWithTheLoadedOutputs()
    {
        var model = ModelSamples.Tokens(); // binary, vocabulary 5 (keys 1..4), column "Tokens"
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(new[]
        {
            new TokenRow { Tokens = [1, 2, 3] }, new TokenRow { Tokens = [4, 0, 2, 2, 1] }, new TokenRow { Tokens = [3] },
        });
        using var stream = new MemoryStream();
        ml.Model.Save(ServingChain.Build(model, data.Schema), data.Schema, stream);
        stream.Position = 0;
        var loaded = new MLContext(seed: 2).Model.Load(stream, out _);

        var recurrent = RecurrentPredictionTransformer.FromLoadedModel(loaded);
        recurrent.FeatureColumnType.Should().Be(new VectorDataViewType(new KeyDataViewType(typeof(uint), 4)));
        recurrent.ModelInfo.VocabularySize.Should().Be(5);
        recurrent.Transform(data).ShouldHaveSameColumnsAndData(loaded.Transform(data), "PredictedLabel", "Score", "Probability");
    }
}
