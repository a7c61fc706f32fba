using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Tests.Helpers;

namespace Microsoft.ML.Recurrent.Tests.Engine;

/// <summary>
/// Padding independence: a padded, sorted batch of sequences of different lengths gives, per sequence, the same
/// outputs, final states, loss contributions and gradients as each sequence run alone in a batch of one.
/// </summary>
public class MaskingTests
{
    private const double Relative = 1e-5, Absolute = 1e-5;
    private const int Features = 3, Hidden = 4;

    // Unsorted, with ties and a length-1 sequence: rows are reordered and several steps have partial activity.
    private static readonly int[] Lengths = [3, 5, 1, 5, 2];

    public static IEnumerable<object[]> Shapes()
    {
        foreach (var cell in new[] { nameof(CellKind.SimpleRnn), nameof(CellKind.Lstm), nameof(CellKind.Gru) })
            foreach (int layers in new[] { 1, 2 })
                foreach (bool bidirectional in new[] { false, true })
                    foreach (var output in new[] { nameof(OutputMode.LastHidden), nameof(OutputMode.EveryStep) })
                        yield return [cell, layers, bidirectional, output];
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void MixedLengthBatch_AnyShape_EqualsEachSequenceAlone(string cell, int layers, bool bidirectional, string output)
    {
        // MSE with one output: the batch loss is a weighted mean of the single losses, so
        // norm · batch = Σ weight_i · single_i, with weight_i = 1 and norm = B for LastHidden,
        // and weight_i = T_i and norm = Σ T_i for EveryStep (the mean runs over all valid steps).
        var spec = new NetworkSpec(Enum.Parse<CellKind>(cell), Features, Hidden, layers, bidirectional, OutputSize: 1, Output: Enum.Parse<OutputMode>(output));
        int seed = 1000 + (int)spec.Cell * 100 + layers * 10 + (bidirectional ? 2 : 0) + (int)spec.Output;
        var p = RandomProblem.Create(spec, LossKind.MeanSquaredError, Lengths, seed, initialState: true);
        bool everyStep = spec.Output == OutputMode.EveryStep;
        double[] weight = Lengths.Select(t => everyStep ? (double)t : 1.0).ToArray();
        double norm = weight.Sum();

        var batch = p.RunEngine();
        var singles = Enumerable.Range(0, Lengths.Length).Select(i => EngineHarness.Run(spec, (float[])p.Parameters.Clone(),
            [p.Sequences[i]], [p.Targets[i]], p.Loss, [p.H0![i]], p.C0 is null ? null : [p.C0[i]])).ToArray();

        GradientAssert.Close("outputs", batch.Outputs, singles.Select(s => s.Outputs[0]).ToArray(), Relative, Absolute);
        GradientAssert.Close("final hidden", batch.FinalHidden, singles.Select(s => s.FinalHidden[0]).ToArray(), Relative, Absolute);
        if (spec.Cell == CellKind.Lstm)
            GradientAssert.Close("final cell", batch.FinalCell!, singles.Select(s => s.FinalCell![0]).ToArray(), Relative, Absolute);

        (batch.Loss * norm).Should().BeApproximately(singles.Select((s, i) => weight[i] * s.Loss).Sum(), 1e-5 * norm);

        var summed = new double[batch.ParameterGradients.Length];
        for (int i = 0; i < singles.Length; i++)
            for (int k = 0; k < summed.Length; k++) summed[k] += weight[i] * singles[i].ParameterGradients[k];
        var layout = new ParameterLayout(spec);
        GradientAssert.Close("parameter gradients", batch.ParameterGradients.Select(g => g * norm).ToArray(), summed, Relative, Absolute,
            i => FiniteDifference.NameOf(layout, i));

        double[][] Scaled(double[][] perSequence, double factor) => perSequence.Select(v => v.Select(x => x * factor).ToArray()).ToArray();
        double[][] Weighted(Func<EngineResult, double[]> pick) => singles.Select((s, i) => pick(s).Select(x => x * weight[i]).ToArray()).ToArray();
        GradientAssert.Close("input gradients", Scaled(batch.InputGradients!, norm), Weighted(s => s.InputGradients![0]), Relative, Absolute);
        GradientAssert.Close("h0 gradients", Scaled(batch.InitialHiddenGradients!, norm), Weighted(s => s.InitialHiddenGradients![0]), Relative, Absolute);
        if (spec.Cell == CellKind.Lstm)
            GradientAssert.Close("c0 gradients", Scaled(batch.InitialCellGradients!, norm), Weighted(s => s.InitialCellGradients![0]), Relative, Absolute);
    }

    public static IEnumerable<object[]> CellsAndDirections()
    {
        foreach (var cell in new[] { nameof(CellKind.SimpleRnn), nameof(CellKind.Lstm), nameof(CellKind.Gru) })
            foreach (bool bidirectional in new[] { false, true })
                yield return [cell, bidirectional];
    }

    [Theory]
    [MemberData(nameof(CellsAndDirections))]
    public void ReusedNetwork_BatchesOfDifferentShapes_EqualFreshNetworks(string cell, bool bidirectional)
    {
        // The training loop reuses one network's buffers for every batch: a smaller batch after a larger one (stale
        // rows and steps beyond the new batch), a batch without h0 after one with h0 (stale initial state), and a
        // larger batch after a smaller one (buffers growing past the constructor's capacity) must all give what a
        // fresh network gives.
        var spec = new NetworkSpec(Enum.Parse<CellKind>(cell), Features, Hidden, NumberOfLayers: 2, bidirectional, OutputSize: 2, Output: OutputMode.EveryStep);
        var large = RandomProblem.Create(spec, LossKind.MeanSquaredError, [5, 4, 6, 2, 6, 3], 11, initialState: true);
        var small = RandomProblem.Create(spec, LossKind.MeanSquaredError, [2, 1, 3], 12, initialState: false);
        var parameters = large.Parameters;
        var network = new RecurrentNetwork(new ParameterLayout(spec), (float[])parameters.Clone(), new float[parameters.Length], capacityBatch: 3, capacityLength: 3);

        var runs = new[]
        {
            (Problem: small, Result: EngineHarness.Run(network, small.Sequences, small.Targets, small.Loss)),
            (Problem: large, Result: EngineHarness.Run(network, large.Sequences, large.Targets, large.Loss, large.H0, large.C0)),
            (Problem: small, Result: EngineHarness.Run(network, small.Sequences, small.Targets, small.Loss)),
        };

        foreach (var (problem, reused) in runs)
        {
            var fresh = EngineHarness.Run(spec, (float[])parameters.Clone(), problem.Sequences, problem.Targets, problem.Loss, problem.H0, problem.C0);
            GradientAssert.Close("outputs", reused.Outputs, fresh.Outputs, Relative, Absolute);
            GradientAssert.Close("final hidden", reused.FinalHidden, fresh.FinalHidden, Relative, Absolute);
            reused.Loss.Should().BeApproximately(fresh.Loss, 1e-6);
            GradientAssert.Close("parameter gradients", reused.ParameterGradients, fresh.ParameterGradients, Relative, Absolute);
            GradientAssert.Close("input gradients", reused.InputGradients!, fresh.InputGradients!, Relative, Absolute);
        }
    }

    [Theory]
    [InlineData(nameof(CellKind.SimpleRnn))]
    [InlineData(nameof(CellKind.Lstm))]
    [InlineData(nameof(CellKind.Gru))]
    public void EmbeddingTokenZero_RowZeroHoldsValues_ReadsUnknownTokenVector(string cell)
    {
        // Id 0 is the unknown token: the engine feeds row 0 (the learned unknown-token vector), exactly as the reference does;
        // padding is handled by lengths and never reads the table.
        var spec = new NetworkSpec(Enum.Parse<CellKind>(cell), InputSize: 1, Hidden, NumberOfLayers: 2, Bidirectional: true,
            VocabularySize: 5, EmbeddingSize: 3, OutputSize: 2, Output: OutputMode.EveryStep);
        var p = RandomProblem.Create(spec, LossKind.BinaryCrossEntropy, Lengths, 77, initialState: false);
        var layout = new ParameterLayout(spec);
        var dirty = (float[])p.Parameters.Clone();
        for (int e = 0; e < spec.EmbeddingSize; e++) dirty[layout.Embedding.Offset + e] = 0.75f - e;

        var clean = p.RunEngine();
        var withRowZero = EngineHarness.Run(spec, dirty, p.Sequences, p.Targets, p.Loss);

        p.Sequences.SelectMany(s => s).Should().Contain(0.0, "the data must contain token 0");
        var dirtyD = dirty.Select(v => (double)v).ToArray();
        GradientAssert.Close("reference outputs", withRowZero.Outputs, ReferenceNetwork.Forward(spec, dirtyD, p.Sequences), 0, 1e-5);
        GradientAssert.Close("reference outputs", clean.Outputs, ReferenceNetwork.Forward(spec, p.ParametersD, p.Sequences), 0, 1e-5);
        withRowZero.Outputs.SelectMany(x => x).Zip(clean.Outputs.SelectMany(x => x), (a, b) => Math.Abs(a - b)).Max().Should().BeGreaterThan(1e-4, "row 0 is read for token 0");
    }
}
