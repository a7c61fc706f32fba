using Microsoft.ML.Recurrent.Data;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Training;

namespace Microsoft.ML.Recurrent.Tests.Data;

public class StandardizationTests
{
    [Fact]
    public void Fit_TwoFeatures_GivesPerFeatureMeanAndPopulationStd()
    {
        // Feature 0 over all steps: 1, 3, 5 → mean 3, std √(8/3); feature 1 is constant 7 → std treated as 1.
        var s = Standardization.Fit([[1f, 7f, 3f, 7f], [5f, 7f]], 2);
        s.Mean.Should().Equal(3f, 7f);
        s.Std[0].Should().BeApproximately(MathF.Sqrt(8f / 3f), 1e-6f);
        s.Std[1].Should().Be(1f);
        var x = new[] { 3f, 8f };
        s.Apply(x);
        x.Should().Equal(0f, 1f);
    }

    [Theory]
    [InlineData(0, false, 1)]
    [InlineData(1, true, 2)]
    [InlineData(2, true, 1)]
    public void FoldIntoInput_AnyCell_RawInputThroughFoldedWeightsEqualsStandardisedInput(int cell, bool bidirectional, int layers)
    {
        var spec = new NetworkSpec((CellKind)cell, InputSize: 3, HiddenSize: 5, NumberOfLayers: layers, Bidirectional: bidirectional, OutputSize: 2);
        var layout = new ParameterLayout(spec);
        var weights = new float[layout.Count];
        Initializer.Initialize(layout, weights, seed: 4);
        var rng = new Random(5);
        var sequences = Enumerable.Range(0, 6).Select(i => Enumerable.Range(0, 3 * (2 + i)).Select(_ => (float)(rng.NextDouble() * 40 - 10)).ToArray()).ToList();
        var scaling = Standardization.Fit(sequences, 3);
        scaling.Std.Should().OnlyContain(v => v > 5, "the raw features are far from unit scale, so folding matters");

        var folded = (float[])weights.Clone();
        scaling.FoldIntoInput(layout, folded);
        var original = new SequencePredictor(spec, weights);
        var foldedPredictor = new SequencePredictor(spec, folded);
        var expected = new float[2];
        var actual = new float[2];
        foreach (var raw in sequences)
        {
            var standardised = (float[])raw.Clone();
            scaling.Apply(standardised);
            original.Predict(standardised, expected);
            foldedPredictor.Predict(raw, actual);
            actual[0].Should().BeApproximately(expected[0], 1e-4f);
            actual[1].Should().BeApproximately(expected[1], 1e-4f);
        }
    }

    [Fact]
    public void FoldIntoHead_LabelStatistics_ScalesAndShiftsTheOutput()
    {
        var spec = new NetworkSpec(CellKind.Gru, InputSize: 2, HiddenSize: 4);
        var layout = new ParameterLayout(spec);
        var weights = new float[layout.Count];
        Initializer.Initialize(layout, weights, seed: 1);
        var folded = (float[])weights.Clone();
        Standardization.FoldIntoHead(layout, folded, mean: 50f, std: 4f);
        var x = new[] { 0.5f, -1f, 2f, 0.25f };
        var y = new float[1];
        var z = new float[1];
        new SequencePredictor(spec, weights).Predict(x, y);
        new SequencePredictor(spec, folded).Predict(x, z);
        z[0].Should().BeApproximately(4f * y[0] + 50f, 1e-4f);
    }

    [Fact]
    public void LabelStatistics_ConstantLabels_UseUnitStd()
    {
        Standardization.LabelStatistics([2f, 2f, 2f]).Should().Be((2f, 1f));
        var (mean, std) = Standardization.LabelStatistics([1f, 3f]);
        mean.Should().Be(2f);
        std.Should().Be(1f);
        Standardization.LabelStatistics([0f, 4f]).Std.Should().Be(2f);
    }
}
