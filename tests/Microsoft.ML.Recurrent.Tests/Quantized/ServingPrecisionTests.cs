using System.Buffers.Binary;
using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Model;
using Microsoft.ML.Recurrent.Serving;
using Microsoft.ML.Recurrent.Tests.Estimators;
using Microsoft.ML.Recurrent.Tests.Serialization;

namespace Microsoft.ML.Recurrent.Tests.Quantized;

/// <summary>Trains one small regression model (float32) for the serving-precision API tests.</summary>
public sealed class SmallRegressionFixture
{
    public SmallRegressionFixture()
    {
        Ml = new MLContext(seed: 0);
        Train = Ml.Data.LoadFromEnumerable(SequenceData.MarkedSum(200, seed: 1));
        Test = Ml.Data.LoadFromEnumerable(SequenceData.MarkedSum(60, seed: 2));
        Model = Ml.Regression.Trainers.Recurrent(Options(RecurrentServingPrecision.Float32)).Fit(Train);
        Float32Scores = Scores(Model);
    }

    public static RecurrentRegressionTrainer.Options Options(RecurrentServingPrecision precision) => new()
    {
        LabelColumnName = "Value",
        FeaturesPerStep = 2,
        HiddenSize = 16,
        MaximumNumberOfEpochs = 4,
        Seed = 3,
        ServingPrecision = precision,
    };

    public MLContext Ml { get; }
    public IDataView Train { get; }
    public IDataView Test { get; }
    public RecurrentPredictionTransformer Model { get; }
    public float[] Float32Scores { get; }

    public float[] Scores(ITransformer model) => model.Transform(Test).GetColumn<float>("Score").ToArray();
}

/// <summary>The serving-precision option, the transformer and catalog switches, the stored flag and the save/load route.</summary>
public class ServingPrecisionTests : IClassFixture<SmallRegressionFixture>
{
    private readonly SmallRegressionFixture _f;

    public ServingPrecisionTests(SmallRegressionFixture fixture) => _f = fixture;

    [Fact]
    public void Options_UnknownServingPrecision_ThrowsNamingTheOption()
    {
        var options = SmallRegressionFixture.Options((RecurrentServingPrecision)7);
        Action act = () => _f.Ml.Regression.Trainers.Recurrent(options);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("ServingPrecision must be Float32, BFloat16 or Int8; it was 7.*")
            .Which.ParamName.Should().Be("ServingPrecision");
        new RecurrentBinaryTrainer.Options().ServingPrecision.Should().Be(RecurrentServingPrecision.Float32, "float32 is the default");
    }

    [Fact]
    public void WithServingPrecision_UnknownValueOrNoRecurrentModel_Throws()
    {
        Action unknown = () => _f.Model.WithServingPrecision((RecurrentServingPrecision)(-1));
        unknown.Should().Throw<ArgumentOutOfRangeException>().WithMessage("precision must be Float32, BFloat16 or Int8; it was -1.*");
        var other = _f.Ml.Transforms.CopyColumns("Copy", "Value").Fit(_f.Test);
        Action none = () => _f.Ml.Recurrent().WithServingPrecision(other, RecurrentServingPrecision.Int8);
        none.Should().Throw<ArgumentException>().WithMessage("No recurrent model was found*");
    }

    [Theory]
    [InlineData(RecurrentServingPrecision.Int8)]
    [InlineData(RecurrentServingPrecision.BFloat16)]
    public void Fit_WithServingPrecision_EqualsSwitchingTheFloatModel(RecurrentServingPrecision precision)
    {
        var fitted = _f.Ml.Regression.Trainers.Recurrent(SmallRegressionFixture.Options(precision)).Fit(_f.Train);
        fitted.ServingPrecision.Should().Be(precision);
        fitted.Model.Parameters.ToArray().Should().Equal(_f.Model.Model.Parameters.ToArray(), "training is float32 whatever the serving precision");
        var switched = _f.Ml.Recurrent().WithServingPrecision(_f.Model, precision);
        switched.ServingPrecision.Should().Be(precision);
        _f.Model.ServingPrecision.Should().Be(RecurrentServingPrecision.Float32, "the switch leaves the original unchanged");

        var scores = _f.Scores(fitted);
        _f.Scores(switched).Should().Equal(scores);
        scores.Should().NotEqual(_f.Float32Scores, "the reduced weights change the scores a little");
        for (int i = 0; i < scores.Length; i++) scores[i].Should().BeApproximately(_f.Float32Scores[i], 0.05f, $"row {i}");
        _f.Scores(switched.WithServingPrecision(RecurrentServingPrecision.Float32)).Should().Equal(_f.Float32Scores, "the float32 weights are kept");
    }

    [Fact]
    public void Format_ReducedPrecision_RoundTripsAsVersion3_Float32StaysVersion2()
    {
        var model = ModelSamples.Regression();
        var float32 = RecurrentModelFormat.Write(model);
        BinaryPrimitives.ReadInt32LittleEndian(float32.AsSpan(8)).Should().Be(2, "a float32 model's bytes are unchanged");
        RecurrentModelFormat.Read(float32).ServingPrecision.Should().Be(RecurrentServingPrecision.Float32);

        foreach (var precision in new[] { RecurrentServingPrecision.BFloat16, RecurrentServingPrecision.Int8 })
        {
            var bytes = RecurrentModelFormat.Write(model.WithServingPrecision(precision));
            BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(8)).Should().Be(3);
            bytes.Length.Should().Be(float32.Length + 1, "version 3 adds one byte");
            var read = RecurrentModelFormat.Read(bytes);
            read.ServingPrecision.Should().Be(precision);
            read.Parameters.Should().Equal(model.Parameters, "the parameters stay float32");
        }

        // Explicit version 2 of a reduced model drops the flag (older readers' format); version 3 of a float model keeps 0.
        RecurrentModelFormat.Read(RecurrentModelFormat.Write(model.WithServingPrecision(RecurrentServingPrecision.Int8), 2))
            .ServingPrecision.Should().Be(RecurrentServingPrecision.Float32);
        RecurrentModelFormat.Read(RecurrentModelFormat.Write(model, 3)).ServingPrecision.Should().Be(RecurrentServingPrecision.Float32);
    }

    [Fact]
    public void Format_UnknownPrecisionByte_InvalidData()
    {
        var model = ModelSamples.Regression();
        var bytes = RecurrentModelFormat.Write(model.WithServingPrecision(RecurrentServingPrecision.Int8));
        int at = bytes.Length - 4 - 4 * model.Parameters.Length - 4 - 1; // the byte before the parameter count
        bytes[at].Should().Be((byte)RecurrentServingPrecision.Int8);
        bytes[at] = 3;
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(bytes.Length - 4), Crc32.Compute(bytes.AsSpan(0, bytes.Length - 4)));
        Action act = () => RecurrentModelFormat.Read(bytes);
        act.Should().Throw<InvalidDataException>().WithMessage("*serving precision 3 is unknown*");
        Action write = () => RecurrentModelFormat.Write(model.WithServingPrecision((RecurrentServingPrecision)5));
        write.Should().Throw<ArgumentException>().WithMessage("*serving precision 5 is unknown*");
    }

    [Fact]
    public void SaveLoad_InProcess_KeepsThePrecisionAndScores()
    {
        var int8 = _f.Model.WithServingPrecision(RecurrentServingPrecision.Int8);
        var expected = _f.Scores(int8);
        using var dir = new TempDirectory();
        _f.Ml.Model.Save(int8, _f.Train.Schema, dir.File("int8.zip"));
        var loaded = new MLContext(seed: 1).Model.Load(dir.File("int8.zip"), out _);
        _f.Scores(loaded).Should().Equal(expected);
        var recovered = RecurrentPredictionTransformer.FromLoadedModel(loaded);
        recovered.ServingPrecision.Should().Be(RecurrentServingPrecision.Int8);
        recovered.Model.Parameters.ToArray().Should().Equal(_f.Model.Model.Parameters.ToArray(), "the saved model keeps float32 weights");
        _f.Scores(recovered.WithServingPrecision(RecurrentServingPrecision.Float32)).Should().Equal(_f.Float32Scores);
        var bf16 = _f.Ml.Recurrent().WithServingPrecision(loaded, RecurrentServingPrecision.BFloat16);
        bf16.ServingPrecision.Should().Be(RecurrentServingPrecision.BFloat16);
        _f.Scores(bf16).Should().Equal(_f.Scores(_f.Model.WithServingPrecision(RecurrentServingPrecision.BFloat16)), "the catalog switches a loaded chain too");
    }

    [Fact]
    public void SaveLoad_FreshProcess_StillServesInt8()
    {
        var int8 = _f.Model.WithServingPrecision(RecurrentServingPrecision.Int8);
        var expected = _f.Scores(int8);
        using var dir = new TempDirectory();
        string path = dir.File("int8.zip");
        _f.Ml.Model.Save(int8, _f.Train.Schema, path);

        var result = FreshProcess.Transform(_f.Ml, path, _f.Test, dir.Path);

        result.ExitCode.Should().Be(0, result.StandardError);
        var child = _f.Ml.Data.LoadFromBinary(result.OutputPath).GetColumn<float>("Score").ToArray();
        child.Should().Equal(expected, "a fresh process reads the flag and scores with int8 weights");
        child.Should().NotEqual(_f.Float32Scores);
    }

    private sealed class Prediction
    {
        public float Score { get; set; }
    }

    [Fact]
    public void PredictionEngines_SeveralThreads_MatchTransform()
    {
        var int8 = _f.Model.WithServingPrecision(RecurrentServingPrecision.Int8);
        var rows = SequenceData.MarkedSum(48, seed: 12);
        var expected = int8.Transform(_f.Ml.Data.LoadFromEnumerable(rows)).GetColumn<float>("Score").ToArray();
        var actual = new float[rows.Length];
        Parallel.For(0, 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, worker =>
        {
            using var engine = _f.Ml.Model.CreatePredictionEngine<DenseRow, Prediction>(int8);
            for (int i = worker; i < rows.Length; i += 4) actual[i] = engine.Predict(rows[i]).Score;
        });
        actual.Should().Equal(expected, "each thread has its own workspace over the shared int8 weights");
    }

    [Fact]
    public void LoadedModel_ReducedPayload_ScoresThroughTheReducedPredictor()
    {
        var model = ModelSamples.Regression().WithServingPrecision(RecurrentServingPrecision.BFloat16);
        var loaded = new LoadedModel(model);
        loaded.ReducedPredictor.Should().NotBeNull();
        loaded.ReducedPredictor!.Precision.Should().Be(RecurrentServingPrecision.BFloat16);
        new LoadedModel(ModelSamples.Regression()).ReducedPredictor.Should().BeNull();
    }
}
