using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Engine.Training;
using Microsoft.ML.Recurrent.Serving;
using Microsoft.ML.Recurrent.Tests.Estimators;

namespace Microsoft.ML.Recurrent.Tests.Serialization;

public class ModelCacheTests
{
    [Fact]
    public void Get_SamePayloadString_DecodesOnceAndReturnsTheSameModel()
    {
        string payload = ModelPayload.Encode(ModelSamples.Multiclass(seed: 21));
        var first = ModelCache.Get(payload.AsMemory());
        ModelCache.Get(payload.AsMemory()).Should().BeSameAs(first);
        first.Model.Parameters.Should().Equal(ModelSamples.Multiclass(seed: 21).Parameters);
    }

    [Fact]
    public void Get_ConcurrentFirstUse_AllThreadsGetOneDecodedModel()
    {
        string payload = ModelPayload.Encode(ModelSamples.Regression(seed: 22));
        var seen = new LoadedModel[8];
        Parallel.For(0, seen.Length, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i => seen[i] = ModelCache.Get(payload.AsMemory()));
        seen.Should().OnlyContain(m => ReferenceEquals(m, seen[0]));
    }

    [Fact]
    public void Get_PayloadNotWrappingAString_FallsBackToContentAndStillDecodesOnce()
    {
        var model = ModelSamples.Tokens(seed: 23);
        char[] chars = ModelPayload.Encode(model).ToCharArray();
        var a = ModelCache.Get(new ReadOnlyMemory<char>(chars));
        var b = ModelCache.Get(new ReadOnlyMemory<char>((char[])chars.Clone()));
        b.Should().BeSameAs(a, "equal content is the same model");
        a.Model.Parameters.Should().Equal(model.Parameters);
        ModelCache.Get(ModelPayload.Encode(ModelSamples.Tokens(seed: 24)).ToCharArray()).Should().NotBeSameAs(a);
    }

    [Fact]
    public void Get_CorruptPayload_ThrowsEveryTimeWithTheSameClearError()
    {
        string payload = ModelPayload.Encode(ModelSamples.Regression(seed: 25));
        string corrupt = payload[..^8] + "AAAAAAA=";
        for (int i = 0; i < 2; i++)
        {
            var act = () => ModelCache.Get(corrupt.AsMemory());
            act.Should().Throw<InvalidDataException>().WithMessage("The recurrent model payload is invalid*");
        }
    }

    [Fact]
    public void Transform_TwoModelsOfTheSameShapeInOneProcess_EachScoresWithItsOwnWeights()
    {
        var ml = new MLContext(seed: 0);
        var rows = SequenceData.MarkedSum(30, seed: 1);
        var data = ml.Data.LoadFromEnumerable(rows);
        RecurrentPredictionTransformer Train(int seed) => ml.Regression.Trainers.Recurrent(new RecurrentRegressionTrainer.Options
        {
            LabelColumnName = "Value", FeaturesPerStep = 2, HiddenSize = 4, MaximumNumberOfEpochs = 1, Seed = seed,
        }).Fit(data);
        var one = Train(1);
        var two = Train(2);
        var y = new float[1];
        foreach (var model in new[] { one, two, one })
        {
            var predictor = new SequencePredictor(model.Model.Spec, model.Model.Parameters);
            var scores = model.Transform(data).GetColumn<float>("Score").ToArray();
            for (int i = 0; i < rows.Length; i++)
            {
                predictor.Predict(rows[i].Features, y);
                scores[i].Should().Be(y[0]);
            }
        }

        one.Transform(data).GetColumn<float>("Score").Should().NotEqual(two.Transform(data).GetColumn<float>("Score"));
    }
}
