using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Tests.Helpers;

namespace Microsoft.ML.Recurrent.Tests.Engine;

/// <summary>
/// The engine's analytical gradients (float32 <see cref="RecurrentNetwork.Backward"/> + <see cref="Loss.Compute"/>)
/// against central finite differences of the double-precision <see cref="ReferenceNetwork"/> (itself checked against
/// independently computed known values in <see cref="ReferenceNetworkTests"/>), for every cell, depth, direction,
/// length pattern, loss and output mode; every parameter, every input value and every initial-state value.
/// </summary>
public class GradientCheckTests
{
    // Float32 engine against a double reference: |engine − reference| ≤ Relative · max(|engine|, |reference|) + Absolute.
    private const double Relative = 2e-4;
    private const double Absolute = 5e-6;

    // Forward outputs and loss.
    private const double ForwardTolerance = 1e-5;

    private const int Features = 3, Hidden = 4;
    private static readonly int[] EqualLengths = [5, 5, 5];
    private static readonly int[] MixedLengths = [3, 5, 1]; // unsorted on purpose: the batch reorders rows

    private static readonly string[] Cells = [nameof(CellKind.SimpleRnn), nameof(CellKind.Lstm), nameof(CellKind.Gru)];
    private static readonly string[] Losses = [nameof(LossKind.MeanSquaredError), nameof(LossKind.BinaryCrossEntropy), nameof(LossKind.SoftmaxCrossEntropy)];
    private static readonly string[] Outputs = [nameof(OutputMode.LastHidden), nameof(OutputMode.EveryStep)];

    /// <summary>Cell × {1, 2} layers × {uni-, bidirectional} × {equal, mixed lengths} × loss × output mode.</summary>
    public static IEnumerable<object[]> Configurations()
    {
        foreach (var cell in Cells)
            foreach (int layers in new[] { 1, 2 })
                foreach (bool bidirectional in new[] { false, true })
                    foreach (bool mixed in new[] { false, true })
                        foreach (var loss in Losses)
                            foreach (var output in Outputs)
                                yield return [cell, layers, bidirectional, mixed, loss, output];
    }

    /// <summary>Cell × {1, 2} layers × {uni-, bidirectional} × output mode.</summary>
    public static IEnumerable<object[]> Shapes()
    {
        foreach (var cell in Cells)
            foreach (int layers in new[] { 1, 2 })
                foreach (bool bidirectional in new[] { false, true })
                    foreach (var output in Outputs)
                        yield return [cell, layers, bidirectional, output];
    }

    /// <summary>Cell × {1, 2} layers × {uni-, bidirectional}.</summary>
    public static IEnumerable<object[]> Stacks()
    {
        foreach (var cell in Cells)
            foreach (int layers in new[] { 1, 2 })
                foreach (bool bidirectional in new[] { false, true })
                    yield return [cell, layers, bidirectional];
    }

    private static int Seed(params object[] parts)
    {
        // Deterministic across processes (string.GetHashCode is not).
        int h = 17;
        foreach (char ch in string.Join("|", parts)) h = unchecked(h * 31 + ch);
        return h & 0x7fffffff;
    }

    private static RandomProblem Problem(string cell, int layers, bool bidirectional, bool mixed, string loss, string output, bool initialState = true)
    {
        var kind = Enum.Parse<LossKind>(loss);
        var spec = new NetworkSpec(Enum.Parse<CellKind>(cell), Features, Hidden, layers, bidirectional,
            OutputSize: kind == LossKind.SoftmaxCrossEntropy ? 3 : 2, Output: Enum.Parse<OutputMode>(output));
        return RandomProblem.Create(spec, kind, mixed ? MixedLengths : EqualLengths, Seed(cell, layers, bidirectional, mixed, loss, output, initialState), initialState);
    }

    [Theory]
    [MemberData(nameof(Configurations))]
    public void Forward_AnyConfiguration_OutputsAndLossMatchReference(string cell, int layers, bool bidirectional, bool mixedLengths, string loss, string output)
    {
        var problem = Problem(cell, layers, bidirectional, mixedLengths, loss, output);

        var engine = problem.RunEngine();

        var reference = problem.Sequences.Select((s, i) => ReferenceNetwork.Run(problem.Spec, problem.ParametersD, s, problem.H0?[i], problem.C0?[i])).ToArray();
        GradientAssert.Close("outputs", engine.Outputs, reference.Select(r => r.Outputs).ToArray(), 0, ForwardTolerance);
        GradientAssert.Close("final hidden", engine.FinalHidden, reference.Select(r => r.FinalHidden).ToArray(), 0, ForwardTolerance);
        if (problem.Spec.Cell == CellKind.Lstm)
            GradientAssert.Close("final cell", engine.FinalCell!, reference.Select(r => r.FinalCell).ToArray(), 0, ForwardTolerance);
        engine.Loss.Should().BeApproximately(problem.ReferenceLoss(), ForwardTolerance);

        // Inference mode (a network without gradient buffers, training: false) computes the same.
        var inference = EngineHarness.Forward(problem.Spec, problem.Parameters, problem.Sequences, problem.H0, problem.C0);
        GradientAssert.Close("inference outputs", inference.Outputs, reference.Select(r => r.Outputs).ToArray(), 0, ForwardTolerance);
        GradientAssert.Close("inference final hidden", inference.FinalHidden, reference.Select(r => r.FinalHidden).ToArray(), 0, ForwardTolerance);
    }

    [Theory]
    [MemberData(nameof(Configurations))]
    public void Backward_AnyConfiguration_MatchesFiniteDifferencesOfReference(string cell, int layers, bool bidirectional, bool mixedLengths, string loss, string output)
    {
        var p = Problem(cell, layers, bidirectional, mixedLengths, loss, output);
        var layout = new ParameterLayout(p.Spec);

        var engine = p.RunEngine();

        var numeric = FiniteDifference.ParameterGradient(p.Spec, p.ParametersD, p.Sequences, p.Targets, p.Loss, p.H0, p.C0);
        GradientAssert.Close("parameter gradients", engine.ParameterGradients, numeric, Relative, Absolute, i => FiniteDifference.NameOf(layout, i));
        numeric.Max(Math.Abs).Should().BeGreaterThan(1e-3, "the check must exercise non-trivial gradients");

        var dx = FiniteDifference.InputGradient(p.Spec, p.ParametersD, p.Sequences, p.Targets, p.Loss, p.H0, p.C0);
        GradientAssert.Close("input gradients", engine.InputGradients!, dx, Relative, Absolute, (s, j) => $"sequence {s} step {j / Features} feature {j % Features}");

        var dh0 = FiniteDifference.InitialHiddenGradient(p.Spec, p.ParametersD, p.Sequences, p.Targets, p.Loss, p.H0, p.C0);
        GradientAssert.Close("h0 gradients", engine.InitialHiddenGradients!, dh0, Relative, Absolute, (s, j) => $"sequence {s} state {j / Hidden} unit {j % Hidden}");
        if (p.Spec.Cell == CellKind.Lstm)
        {
            var dc0 = FiniteDifference.InitialCellGradient(p.Spec, p.ParametersD, p.Sequences, p.Targets, p.Loss, p.H0, p.C0);
            GradientAssert.Close("c0 gradients", engine.InitialCellGradients!, dc0, Relative, Absolute, (s, j) => $"sequence {s} state {j / Hidden} unit {j % Hidden}");
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Backward_ZeroInitialState_MatchesFiniteDifferencesOfReference(string cell, int layers, bool bidirectional, string output)
    {
        // No h0/c0 given (the batch's InitialHidden is null): the engine must start from zeros.
        var p = Problem(cell, layers, bidirectional, mixed: true, nameof(LossKind.MeanSquaredError), output, initialState: false);
        var layout = new ParameterLayout(p.Spec);

        var engine = p.RunEngine();

        engine.Loss.Should().BeApproximately(p.ReferenceLoss(), ForwardTolerance);
        var numeric = FiniteDifference.ParameterGradient(p.Spec, p.ParametersD, p.Sequences, p.Targets, p.Loss);
        GradientAssert.Close("parameter gradients", engine.ParameterGradients, numeric, Relative, Absolute, i => FiniteDifference.NameOf(layout, i));
        var dx = FiniteDifference.InputGradient(p.Spec, p.ParametersD, p.Sequences, p.Targets, p.Loss);
        GradientAssert.Close("input gradients", engine.InputGradients!, dx, Relative, Absolute);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Backward_Embedding_MatchesFiniteDifferencesOfReference(string cell, int layers, bool bidirectional, string output)
    {
        const int vocabulary = 7, embedding = 3;
        var spec = new NetworkSpec(Enum.Parse<CellKind>(cell), InputSize: 1, Hidden, layers, bidirectional,
            VocabularySize: vocabulary, EmbeddingSize: embedding, OutputSize: 3, Output: Enum.Parse<OutputMode>(output));
        var p = RandomProblem.Create(spec, LossKind.SoftmaxCrossEntropy, MixedLengths, Seed("embedding", cell, layers, bidirectional, output), initialState: true);
        var layout = new ParameterLayout(spec);

        var engine = p.RunEngine();

        var reference = ReferenceNetwork.Forward(spec, p.ParametersD, p.Sequences, p.H0, p.C0);
        GradientAssert.Close("outputs", engine.Outputs, reference, 0, ForwardTolerance);
        engine.Loss.Should().BeApproximately(p.ReferenceLoss(), ForwardTolerance);

        // Row 0 is the unknown-token vector (token 0 occurs in the data): it trains like every other row.
        var numeric = FiniteDifference.ParameterGradient(spec, p.ParametersD, p.Sequences, p.Targets, p.Loss, p.H0, p.C0);
        GradientAssert.Close("parameter gradients", engine.ParameterGradients, numeric, Relative, Absolute, i => FiniteDifference.NameOf(layout, i));
        numeric.Skip(layout.Embedding.Offset).Take(embedding).Max(Math.Abs).Should().BeGreaterThan(1e-4, "the unknown-token row receives gradient");
        numeric.Skip(layout.Embedding.Offset + embedding).Take(layout.Embedding.Length - embedding).Max(Math.Abs)
            .Should().BeGreaterThan(1e-4, "the embedding rows in use must receive gradient");

        var dh0 = FiniteDifference.InitialHiddenGradient(spec, p.ParametersD, p.Sequences, p.Targets, p.Loss, p.H0, p.C0);
        GradientAssert.Close("h0 gradients", engine.InitialHiddenGradients!, dh0, Relative, Absolute);
    }

    [Theory]
    [InlineData(nameof(CellKind.SimpleRnn))]
    [InlineData(nameof(CellKind.Lstm))]
    [InlineData(nameof(CellKind.Gru))]
    public void Backward_LargerNetwork_SampledParametersMatchFiniteDifferences(string cell)
    {
        // Sizes that are not multiples of any vector width (H = 17, F = 5, D = 34) and a wider batch, so kernel
        // remainders and any blocking/threading paths are exercised; 40 random parameters per named slice.
        var spec = new NetworkSpec(Enum.Parse<CellKind>(cell), InputSize: 5, HiddenSize: 17, NumberOfLayers: 2, Bidirectional: true,
            OutputSize: 3, Output: OutputMode.EveryStep);
        var p = RandomProblem.Create(spec, LossKind.SoftmaxCrossEntropy, [5, 2, 4, 5, 1, 3], Seed("large", cell), initialState: true);
        var layout = new ParameterLayout(spec);
        var indices = FiniteDifference.ParameterIndices(layout, perSlice: 40, seed: 5);

        var engine = p.RunEngine();

        GradientAssert.Close("outputs", engine.Outputs, ReferenceNetwork.Forward(spec, p.ParametersD, p.Sequences, p.H0, p.C0), 0, ForwardTolerance);
        var numeric = FiniteDifference.ParameterGradient(spec, p.ParametersD, p.Sequences, p.Targets, p.Loss, p.H0, p.C0, indices);
        GradientAssert.Close("sampled parameter gradients", indices.Select(i => engine.ParameterGradients[i]).ToArray(), numeric, Relative, Absolute,
            k => FiniteDifference.NameOf(layout, indices[k]));
        var dx = FiniteDifference.InputGradient(spec, p.ParametersD, p.Sequences, p.Targets, p.Loss, p.H0, p.C0);
        GradientAssert.Close("input gradients", engine.InputGradients!, dx, Relative, Absolute);
    }

    [Theory]
    [MemberData(nameof(Stacks))]
    public void Backward_NoHeadWithFinalStateGradients_MatchesFiniteDifferencesOfReference(string cell, int layers, bool bidirectional)
    {
        // Without a head the network ends at the recurrent outputs (T, B, D). The objective
        // J = Σ a·outputs + Σ w·FinalHidden (+ Σ u·FinalCell) exercises Backward's dOutputs, dFinalHidden and dFinalCell.
        var spec = new NetworkSpec(Enum.Parse<CellKind>(cell), Features, Hidden, layers, bidirectional, OutputSize: 0);
        bool lstm = spec.Cell == CellKind.Lstm;
        var p = RandomProblem.Create(spec, LossKind.MeanSquaredError, MixedLengths, Seed("nohead", cell, layers, bidirectional), initialState: true);
        var layout = new ParameterLayout(spec);
        var rng = new Random(Seed("weights", cell, layers, bidirectional));
        int states = layers * spec.Directions * Hidden;
        double[][] Weights(Func<int, int> size) => Enumerable.Range(0, p.Sequences.Length).Select(i => Enumerable.Range(0, size(i)).Select(_ => rng.NextDouble() * 2 - 1).ToArray()).ToArray();
        var a = Weights(i => p.Sequences[i].Length / Features * spec.OutputWidth);
        var w = Weights(_ => states);
        var u = lstm ? Weights(_ => states) : null;

        double Objective(double[] parameters, double[][] sequences, double[][]? h0, double[][]? c0)
        {
            double j = 0;
            for (int i = 0; i < sequences.Length; i++)
            {
                var r = ReferenceNetwork.Run(spec, parameters, sequences[i], h0?[i], c0?[i]);
                for (int k = 0; k < a[i].Length; k++) j += a[i][k] * r.Outputs[k];
                for (int k = 0; k < states; k++) j += w[i][k] * r.FinalHidden[k];
                if (u is not null) for (int k = 0; k < states; k++) j += u[i][k] * r.FinalCell[k];
            }

            return j;
        }

        var engine = EngineHarness.Run(spec, (float[])p.Parameters.Clone(), p.Sequences, _ => new OutputGradients(a, w, u), p.H0, p.C0);

        var reference = p.Sequences.Select((s, i) => ReferenceNetwork.Run(spec, p.ParametersD, s, p.H0![i], p.C0?[i]).Outputs).ToArray();
        GradientAssert.Close("outputs", engine.Outputs, reference, 0, ForwardTolerance);

        var pd = (double[])p.ParametersD.Clone();
        var numeric = FiniteDifference.Gradient(() => Objective(pd, p.Sequences, p.H0, p.C0), pd);
        GradientAssert.Close("parameter gradients", engine.ParameterGradients, numeric, Relative, Absolute, i => FiniteDifference.NameOf(layout, i));

        var x = p.Sequences.Select(s => (double[])s.Clone()).ToArray();
        var dx = x.Select(s => FiniteDifference.Gradient(() => Objective(p.ParametersD, x, p.H0, p.C0), s)).ToArray();
        GradientAssert.Close("input gradients", engine.InputGradients!, dx, Relative, Absolute);

        var h = p.H0!.Select(s => (double[])s.Clone()).ToArray();
        var dh0 = h.Select(s => FiniteDifference.Gradient(() => Objective(p.ParametersD, p.Sequences, h, p.C0), s)).ToArray();
        GradientAssert.Close("h0 gradients", engine.InitialHiddenGradients!, dh0, Relative, Absolute);
        if (lstm)
        {
            var c = p.C0!.Select(s => (double[])s.Clone()).ToArray();
            var dc0 = c.Select(s => FiniteDifference.Gradient(() => Objective(p.ParametersD, p.Sequences, p.H0, c), s)).ToArray();
            GradientAssert.Close("c0 gradients", engine.InitialCellGradients!, dc0, Relative, Absolute);
        }
    }
}
