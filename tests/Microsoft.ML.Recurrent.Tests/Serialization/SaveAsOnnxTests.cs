using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Tests.Estimators;
using Microsoft.ML.Recurrent.Tests.Onnx;

namespace Microsoft.ML.Recurrent.Tests.Serialization;

/// <summary>The exported ONNX model, run by ONNX Runtime alone, reproduces the fitted transformer's outputs.</summary>
public class SaveAsOnnxTests
{
    private static readonly MLContext Ml = new(seed: 0);

    private static byte[] Export(RecurrentPredictionTransformer model)
    {
        using var stream = new MemoryStream();
        model.SaveAsOnnx(stream);
        return stream.ToArray();
    }

    [Fact]
    public void SaveAsOnnx_BidirectionalRegression_OnnxRuntimeGivesTheScores()
    {
        var rows = SequenceData.MarkedSum(40, seed: 1);
        var model = Ml.Regression.Trainers.Recurrent(new RecurrentRegressionTrainer.Options
        {
            LabelColumnName = "Value", FeaturesPerStep = 2, HiddenSize = 6, NumberOfLayers = 2, Bidirectional = true, MaximumNumberOfEpochs = 2,
        }).Fit(Ml.Data.LoadFromEnumerable(rows));
        var onnx = Export(model);
        var scores = model.Transform(Ml.Data.LoadFromEnumerable(rows)).GetColumn<float>("Score").ToArray();
        for (int i = 0; i < 10; i++)
        {
            var x = rows[i].Features;
            var (values, shape) = OrtRunner.Run(onnx, "features", x, [1, x.Length / 2, 2], "score")["score"];
            shape.Should().Equal(1, 1);
            values[0].Should().BeApproximately(scores[i], 1e-4f, "the standardisation is folded into the exported weights too");
        }
    }

    [Fact]
    public void SaveAsOnnx_Binary_ProbabilityIsTheSigmoidOutput()
    {
        var rows = SequenceData.OneBeforeTwo(30, seed: 2);
        var model = Ml.BinaryClassification.Trainers.Recurrent(new RecurrentBinaryTrainer.Options
        {
            LabelColumnName = "Flag", FeaturesPerStep = 5, HiddenSize = 5, CellType = RecurrentCellType.Gru, MaximumNumberOfEpochs = 2,
        }).Fit(Ml.Data.LoadFromEnumerable(rows));
        var onnx = Export(model);
        var scored = model.Transform(Ml.Data.LoadFromEnumerable(rows));
        var score = scored.GetColumn<float>("Score").ToArray();
        var probability = scored.GetColumn<float>("Probability").ToArray();
        for (int i = 0; i < 10; i++)
        {
            var x = rows[i].Features;
            var outputs = OrtRunner.Run(onnx, "features", x, [1, x.Length / 5, 5], "score", "probability");
            outputs["score"].Values[0].Should().BeApproximately(score[i], 1e-4f);
            outputs["probability"].Values[0].Should().BeApproximately(probability[i], 1e-5f);
        }
    }

    [Fact]
    public void SaveAsOnnx_MulticlassTokens_SoftmaxEqualsScoreVector()
    {
        var data = Ml.Data.LoadFromEnumerable(SequenceData.FirstColour(60, seed: 3));
        var featurizer = MulticlassModelFixture.Featurizer(Ml).Fit(data);
        var featurized = featurizer.Transform(data);
        var options = MulticlassModelFixture.Options();
        options.MaximumNumberOfEpochs = 2;
        options.CellType = RecurrentCellType.SimpleRnn;
        var model = Ml.MulticlassClassification.Trainers.Recurrent(options).Fit(featurized);
        var onnx = Export(model);
        var scored = model.Transform(featurized);
        var tokens = scored.GetColumn<uint[]>("Tokens").ToArray();
        var scores = scored.GetColumn<float[]>("Score").ToArray();
        for (int i = 0; i < 10; i++)
        {
            var ids = tokens[i].Select(k => (long)k).ToArray();
            var (values, shape) = OrtRunner.Run(onnx, "features", ids, [1, ids.Length], "probability")["probability"];
            shape.Should().Equal(1, 3);
            for (int k = 0; k < 3; k++) values[k].Should().BeApproximately(scores[i][k], 1e-5f);
        }
    }
}
