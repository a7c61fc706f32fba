using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Tests.Estimators;
using Xunit.Abstractions;

namespace Microsoft.ML.Recurrent.Tests.Quantized;

/// <summary>
/// The learning tests' models (regression: marked sums, LSTM H 24; binary: one-before-two, LSTM H 16; multiclass: first
/// colour over tokens, LSTM H 16 with an embedding) scored on their test sets in float32, bfloat16 and int8: the quality
/// the learning tests demand still holds, and the largest score difference stays within the bounds documented in
/// docs/performance-quant.md (the figures are written to the test output).
/// </summary>
public class LearningSetPrecisionTests : IClassFixture<RegressionModelFixture>, IClassFixture<BinaryModelFixture>, IClassFixture<MulticlassModelFixture>
{
    private readonly RegressionModelFixture _regression;
    private readonly BinaryModelFixture _binary;
    private readonly MulticlassModelFixture _multiclass;
    private readonly ITestOutputHelper _output;

    public LearningSetPrecisionTests(RegressionModelFixture regression, BinaryModelFixture binary, MulticlassModelFixture multiclass, ITestOutputHelper output)
    {
        _regression = regression;
        _binary = binary;
        _multiclass = multiclass;
        _output = output;
    }

    private static readonly RecurrentServingPrecision[] Reduced = [RecurrentServingPrecision.BFloat16, RecurrentServingPrecision.Int8];

    private static float MaxDifference(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs(x - y)).Max();

    [Fact]
    public void Regression_ReducedPrecision_KeepsRSquaredAndScores()
    {
        var ml = _regression.Ml;
        var baseline = _regression.Model.Transform(_regression.Test);
        var f32 = baseline.GetColumn<float>("Score").ToArray();
        var m32 = ml.Regression.Evaluate(baseline, labelColumnName: "Value");
        _output.WriteLine($"regression float32: R² {m32.RSquared:F5}, RMSE {m32.RootMeanSquaredError:F5}");
        foreach (var precision in Reduced)
        {
            var scored = ml.Recurrent().WithServingPrecision(_regression.Model, precision).Transform(_regression.Test);
            var m = ml.Regression.Evaluate(scored, labelColumnName: "Value");
            float diff = MaxDifference(scored.GetColumn<float>("Score").ToArray(), f32);
            _output.WriteLine($"regression {precision}: R² {m.RSquared:F5}, RMSE {m.RootMeanSquaredError:F5}, max |Δscore| {diff:E2}");
            m.RSquared.Should().BeGreaterThan(0.9);
            Math.Abs(m.RootMeanSquaredError - m32.RootMeanSquaredError).Should().BeLessThan(0.01);
            diff.Should().BeGreaterThan(0f).And.BeLessThan(precision == RecurrentServingPrecision.Int8 ? 0.05f : 0.02f);
        }
    }

    [Fact]
    public void Binary_ReducedPrecision_KeepsAccuracyAndScores()
    {
        var ml = _binary.Ml;
        var baseline = _binary.Model.Transform(_binary.Test);
        var f32 = baseline.GetColumn<float>("Score").ToArray();
        var p32 = baseline.GetColumn<float>("Probability").ToArray();
        var m32 = ml.BinaryClassification.Evaluate(baseline, labelColumnName: "Flag");
        _output.WriteLine($"binary float32: accuracy {m32.Accuracy:F5}, AUC {m32.AreaUnderRocCurve:F5}, log-loss {m32.LogLoss:F5}");
        foreach (var precision in Reduced)
        {
            var scored = ml.Recurrent().WithServingPrecision(_binary.Model, precision).Transform(_binary.Test);
            var m = ml.BinaryClassification.Evaluate(scored, labelColumnName: "Flag");
            var scores = scored.GetColumn<float>("Score").ToArray();
            float diff = MaxDifference(scores, f32);
            // The model is confident (logits around ±10): the logit moves in proportion to its size.
            float relative = scores.Zip(f32, (x, y) => Math.Abs(x - y) / (1 + Math.Abs(y))).Max();
            float pdiff = MaxDifference(scored.GetColumn<float>("Probability").ToArray(), p32);
            _output.WriteLine($"binary {precision}: accuracy {m.Accuracy:F5}, AUC {m.AreaUnderRocCurve:F5}, log-loss {m.LogLoss:F5}, max |Δlogit| {diff:E2} " +
                              $"(max |Δlogit| / (1 + |logit|) {relative:E2}), max |Δprobability| {pdiff:E2}, logits in [{f32.Min():F2}, {f32.Max():F2}]");
            m.Accuracy.Should().BeGreaterThan(0.9);
            diff.Should().BeGreaterThan(0f);
            relative.Should().BeLessThan(0.05f);
            pdiff.Should().BeLessThan(0.01f);
        }
    }

    [Fact]
    public void Multiclass_ReducedPrecision_KeepsAccuracyAndProbabilities()
    {
        var ml = _multiclass.Ml;
        var steps = _multiclass.Model.ToArray();
        IDataView featurized = _multiclass.Test;
        for (int i = 0; i < steps.Length - 1; i++) featurized = steps[i].Transform(featurized);
        var baseline = _multiclass.Model.Transform(_multiclass.Test);
        var f32 = baseline.GetColumn<VBuffer<float>>("Score").SelectMany(v => v.DenseValues()).ToArray();
        var m32 = ml.MulticlassClassification.Evaluate(baseline);
        _output.WriteLine($"multiclass float32: macro accuracy {m32.MacroAccuracy:F5}, micro {m32.MicroAccuracy:F5}, log-loss {m32.LogLoss:F5}");
        foreach (var precision in Reduced)
        {
            var scored = ml.Recurrent().WithServingPrecision(_multiclass.Model, precision).Transform(featurized);
            var m = ml.MulticlassClassification.Evaluate(scored);
            float diff = MaxDifference(scored.GetColumn<VBuffer<float>>("Score").SelectMany(v => v.DenseValues()).ToArray(), f32);
            _output.WriteLine($"multiclass {precision}: macro accuracy {m.MacroAccuracy:F5}, micro {m.MicroAccuracy:F5}, log-loss {m.LogLoss:F5}, max |Δprobability| {diff:E2}");
            m.MacroAccuracy.Should().BeGreaterThan(0.9);
            Math.Abs(m.LogLoss - m32.LogLoss).Should().BeLessThan(0.01);
            diff.Should().BeGreaterThan(0f).And.BeLessThan(0.02f);
        }
    }
}
