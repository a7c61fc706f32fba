using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Tests.Helpers;

namespace Microsoft.ML.Recurrent.Tests.Engine;

/// <summary>
/// Checks the double-precision <see cref="ReferenceNetwork"/> against known values. Every expected number below was
/// computed independently of the C# code by known_values.py (next to this file; plain Python 3, math module only):
/// run `python3 tests/Microsoft.ML.Recurrent.Tests/Engine/known_values.py` to reproduce them. The C# side only
/// places the same weights into the flat buffer through <see cref="ParameterLayout"/>, so these tests check the
/// layout reading as well as the equations.
/// </summary>
public class ReferenceNetworkTests
{
    private const double Tolerance = 1e-12;

    // The same weights as known_values.py.
    private static readonly double[] RnnWeightIh = [0.1, -0.2, 0.3, 0.4];
    private static readonly double[] RnnWeightHh = [-0.5, 0.6, 0.7, -0.8];
    private static readonly double[] RnnBiasIh = [0.05, -0.05];
    private static readonly double[] RnnBiasHh = [0.02, 0.03];

    private static readonly double[] LstmWeightIh = [0.1, -0.2, 0.3, 0.4, -0.5, 0.6, 0.7, -0.8, 0.15, 0.25, -0.35, 0.45, 0.55, -0.65, -0.75, 0.85];
    private static readonly double[] LstmWeightHh = [0.2, 0.1, -0.1, 0.3, 0.4, -0.2, 0.05, 0.6, -0.3, 0.2, 0.1, -0.4, 0.25, 0.35, -0.15, 0.5];
    private static readonly double[] LstmBiasIh = [0.1, -0.1, 0.2, 0.3, -0.2, 0.05, 0.15, -0.25];
    private static readonly double[] LstmBiasHh = [0.05, 0.1, -0.05, 0.2, 0.0, -0.1, 0.3, 0.1];

    private static readonly double[] GruWeightIh = [0.1, -0.2, 0.3, 0.4, -0.5, 0.6, 0.7, -0.8, 0.15, 0.25, -0.35, 0.45];
    private static readonly double[] GruWeightHh = [0.2, 0.1, -0.1, 0.3, 0.4, -0.2, 0.05, 0.6, -0.3, 0.2, 0.1, -0.4];
    private static readonly double[] GruBiasIh = [0.1, -0.1, 0.2, 0.3, -0.2, 0.05];
    private static readonly double[] GruBiasHh = [0.05, 0.1, -0.05, 0.2, 0.0, -0.1];

    private static readonly double[] ThreeSteps = [0.5, -1.0, 0.2, 0.3, -0.7, 0.4];

    /// <summary>known_values.py's pattern(n, seed): deterministic values in [−0.4, 0.4].</summary>
    private static double[] Pattern(int n, int seed) => Enumerable.Range(0, n).Select(k => ((k * 7 + seed * 13) % 17 - 8) / 20.0).ToArray();

    private static double[] Pack(ParameterLayout layout, params (Slice Slice, double[] Values)[] parts)
    {
        var p = new double[layout.Count];
        foreach (var (slice, values) in parts)
        {
            values.Length.Should().Be(slice.Length, "the known-value weights must fill their slice");
            values.CopyTo(p, slice.Offset);
        }

        return p;
    }

    private static (Slice, double[])[] CellParts(CellSlices s, double[] wih, double[] whh, double[] bih, double[] bhh)
        => [(s.WeightIh, wih), (s.WeightHh, whh), (s.BiasIh, bih), (s.BiasHh, bhh)];

    private static void ShouldEqual(double[] actual, params double[] expected)
    {
        actual.Length.Should().Be(expected.Length);
        for (int i = 0; i < expected.Length; i++)
            actual[i].Should().BeApproximately(expected[i], Tolerance, $"element {i}");
    }

    [Fact]
    public void SimpleRnn_OneStepWithInitialState_MatchesKnownValues()
    {
        var spec = new NetworkSpec(CellKind.SimpleRnn, InputSize: 2, HiddenSize: 2, OutputSize: 0);
        var layout = new ParameterLayout(spec);
        var p = Pack(layout, CellParts(layout.Cell(0, 0), RnnWeightIh, RnnWeightHh, RnnBiasIh, RnnBiasHh));

        var r = ReferenceNetwork.Run(spec, p, [0.5, -1.0], h0: [0.1, -0.2]);

        ShouldEqual(r.FinalHidden, 0.14888503362331798, -0.03997868031116355);
        ShouldEqual(r.Outputs, 0.14888503362331798, -0.03997868031116355);
    }

    [Fact]
    public void Lstm_OneStepWithInitialState_MatchesKnownValues()
    {
        var spec = new NetworkSpec(CellKind.Lstm, InputSize: 2, HiddenSize: 2, OutputSize: 0);
        var layout = new ParameterLayout(spec);
        var p = Pack(layout, CellParts(layout.Cell(0, 0), LstmWeightIh, LstmWeightHh, LstmBiasIh, LstmBiasHh));

        var r = ReferenceNetwork.Run(spec, p, [0.5, -1.0], h0: [0.1, -0.2], c0: [0.3, -0.4]);

        ShouldEqual(r.FinalHidden, -0.1140185917997977, -0.09212436323509575);
        ShouldEqual(r.FinalCell, -0.14518550184034143, -0.5504921311371451);
    }

    [Fact]
    public void Gru_OneStepWithInitialState_MatchesKnownValues()
    {
        var spec = new NetworkSpec(CellKind.Gru, InputSize: 2, HiddenSize: 2, OutputSize: 0);
        var layout = new ParameterLayout(spec);
        var p = Pack(layout, CellParts(layout.Cell(0, 0), GruWeightIh, GruWeightHh, GruBiasIh, GruBiasHh));

        var r = ReferenceNetwork.Run(spec, p, [0.5, -1.0], h0: [0.1, -0.2]);

        ShouldEqual(r.FinalHidden, -0.2214176654538023, -0.25709449734091355);
    }

    [Fact]
    public void Lstm_ThreeStepSequence_MatchesKnownValuesAtEveryStep()
    {
        var spec = new NetworkSpec(CellKind.Lstm, InputSize: 2, HiddenSize: 2, OutputSize: 0, Output: OutputMode.EveryStep);
        var layout = new ParameterLayout(spec);
        var p = Pack(layout, CellParts(layout.Cell(0, 0), LstmWeightIh, LstmWeightHh, LstmBiasIh, LstmBiasHh));

        var r = ReferenceNetwork.Run(spec, p, ThreeSteps);

        ShouldEqual(r.TopOutputs,
            -0.16866635336688815, -0.050858148995069886,
            -0.08274630102575828, -0.0687924271533079,
            -0.08353193272725908, 0.08176273473526455);
        ShouldEqual(r.FinalHidden, -0.08353193272725908, 0.08176273473526455);
        ShouldEqual(r.FinalCell, -0.1920225966482412, 0.12327008848201966);
    }

    [Fact]
    public void Gru_BidirectionalTwoSteps_ConcatenatesDirectionsAndReverseEndsAtStepZero()
    {
        var spec = new NetworkSpec(CellKind.Gru, InputSize: 2, HiddenSize: 2, Bidirectional: true, OutputSize: 1);
        var layout = new ParameterLayout(spec);
        var p = Pack(layout,
            [.. CellParts(layout.Cell(0, 0), GruWeightIh, GruWeightHh, GruBiasIh, GruBiasHh),
             .. CellParts(layout.Cell(0, 1), Pattern(12, 1), Pattern(12, 2), Pattern(6, 3), Pattern(6, 4)),
             (layout.HeadWeight, Pattern(4, 5)), (layout.HeadBias, [0.1])]);

        var r = ReferenceNetwork.Run(spec, p, [0.5, -1.0, 0.2, 0.3]);

        ShouldEqual(r.TopOutputs,
            -0.23945003164399173, -0.08865497818045924, 0.27207804551452264, -0.0020957399160531215,
            -0.15982205723978882, -0.023842588296376317, 0.17937555901164098, -0.11961695035019039);
        ShouldEqual(r.FinalHidden, -0.15982205723978882, -0.023842588296376317, 0.27207804551452264, -0.0020957399160531215);
        ShouldEqual(r.Outputs, 0.09836711628513561);
    }

    [Fact]
    public void LossOfOutputs_MeanSquaredError_IsMeanOverEveryElement()
    {
        double loss = ReferenceNetwork.LossOfOutputs(LossKind.MeanSquaredError, 2, [[0.5, -1.0], [2.0, 0.0]], [[1.0, -1.0], [0.0, 0.5]]);
        loss.Should().BeApproximately(1.125, Tolerance);
    }

    [Fact]
    public void LossOfOutputs_BinaryCrossEntropy_MatchesDirectFormula()
    {
        double loss = ReferenceNetwork.LossOfOutputs(LossKind.BinaryCrossEntropy, 2, [[0.5, -1.0], [2.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]]);
        loss.Should().BeApproximately(0.9018534658253116, Tolerance);
    }

    [Fact]
    public void LossOfOutputs_SoftmaxCrossEntropy_IsMeanOverRows()
    {
        double loss = ReferenceNetwork.LossOfOutputs(LossKind.SoftmaxCrossEntropy, 3, [[0.5, -1.0, 2.0], [0.0, 0.3, -0.2]], [[2.0], [0.0]]);
        loss.Should().BeApproximately(0.6972989259932032, Tolerance);
    }

    private static (NetworkSpec Spec, double[] P, double[][] Sequences) EveryStepRnn()
    {
        var spec = new NetworkSpec(CellKind.SimpleRnn, InputSize: 2, HiddenSize: 2, OutputSize: 2, Output: OutputMode.EveryStep);
        var layout = new ParameterLayout(spec);
        var p = Pack(layout,
            [.. CellParts(layout.Cell(0, 0), Pattern(4, 6), Pattern(4, 7), Pattern(2, 8), Pattern(2, 9)),
             (layout.HeadWeight, Pattern(4, 10)), (layout.HeadBias, Pattern(2, 11))]);
        return (spec, p, [ThreeSteps, [0.9, 0.1]]);
    }

    [Fact]
    public void Forward_EveryStepHeadOnMixedLengths_MatchesKnownValues()
    {
        var (spec, p, sequences) = EveryStepRnn();

        var y = ReferenceNetwork.Forward(spec, p, sequences);

        ShouldEqual(y[0], 0.15971457332078254, 0.15960300026821891, -0.018250242122310273, 0.23914951872746382, -0.1102577869108616, 0.3300660886614978);
        ShouldEqual(y[1], 0.005023697412732266, 0.25992650178101107);
    }

    [Theory]
    [InlineData(nameof(LossKind.MeanSquaredError), 0.25122737616875224)]
    [InlineData(nameof(LossKind.BinaryCrossEntropy), 0.6819069453668122)]
    [InlineData(nameof(LossKind.SoftmaxCrossEntropy), 0.712258825804365)]
    public void Loss_EveryStepOnMixedLengths_IsMeanOverAllValidSteps(string loss, double expected)
    {
        var kind = Enum.Parse<LossKind>(loss);
        var (spec, p, sequences) = EveryStepRnn();
        double[][] targets = kind switch
        {
            LossKind.MeanSquaredError => [[0.1, -0.2, 0.3, 0.0, -0.5, 0.5], [1.0, 1.0]],
            LossKind.BinaryCrossEntropy => [[1.0, 0.0, 0.0, 0.0, 1.0, 1.0], [0.0, 1.0]],
            _ => [[1.0, 0.0, 1.0], [0.0]],
        };

        ReferenceNetwork.Loss(spec, p, sequences, targets, kind).Should().BeApproximately(expected, Tolerance);
    }

    [Fact]
    public void Forward_EmbeddingIntoTwoLayers_MatchesKnownValues()
    {
        var spec = new NetworkSpec(CellKind.SimpleRnn, InputSize: 1, HiddenSize: 2, NumberOfLayers: 2, VocabularySize: 4, EmbeddingSize: 2, OutputSize: 2);
        var layout = new ParameterLayout(spec);
        var p = Pack(layout,
            [(layout.Embedding, [0.0, 0.0, 0.3, -0.1, -0.2, 0.4, 0.5, 0.25]),
             .. CellParts(layout.Cell(0, 0), Pattern(4, 12), Pattern(4, 13), Pattern(2, 14), Pattern(2, 15)),
             .. CellParts(layout.Cell(1, 0), Pattern(4, 16), Pattern(4, 17), Pattern(2, 18), Pattern(2, 19)),
             (layout.HeadWeight, Pattern(4, 20)), (layout.HeadBias, Pattern(2, 21))]);
        double[] tokens = [1, 3, 0, 2];

        ShouldEqual(ReferenceNetwork.Run(spec, p, tokens).Outputs, -0.36127953736482576, -0.046030084555550244);
        ReferenceNetwork.Loss(spec, p, [tokens], [[1.0]], LossKind.SoftmaxCrossEntropy).Should().BeApproximately(0.5478941278212398, Tolerance);
    }

    [Fact]
    public void Forward_TwoLayerBidirectionalLstmWithInitialStates_MatchesKnownValues()
    {
        var spec = new NetworkSpec(CellKind.Lstm, InputSize: 2, HiddenSize: 2, NumberOfLayers: 2, Bidirectional: true, OutputSize: 1);
        var layout = new ParameterLayout(spec);
        var parts = new List<(Slice, double[])>();
        for (int l = 0; l < 2; l++)
        {
            for (int d = 0; d < 2; d++)
            {
                int k = 2 * l + d, inSize = l == 0 ? 2 : 4;
                parts.AddRange(CellParts(layout.Cell(l, d), Pattern(8 * inSize, 30 + 4 * k), Pattern(16, 31 + 4 * k), Pattern(8, 32 + 4 * k), Pattern(8, 33 + 4 * k)));
            }
        }

        parts.Add((layout.HeadWeight, Pattern(4, 70)));
        parts.Add((layout.HeadBias, [0.05]));
        var p = Pack(layout, [.. parts]);
        double[] h0 = [.. Pattern(2, 50), .. Pattern(2, 51), .. Pattern(2, 52), .. Pattern(2, 53)];
        double[] c0 = [.. Pattern(2, 60), .. Pattern(2, 61), .. Pattern(2, 62), .. Pattern(2, 63)];

        var r = ReferenceNetwork.Run(spec, p, ThreeSteps, h0, c0);

        ShouldEqual(r.FinalHidden, 0.06206425847257399, -0.017145503646220518, 0.010118304200764908, -0.08469038604366187,
            -0.1860922854913309, 0.03507959309608827, -0.16962243138456715, 0.09924614410726458);
        ShouldEqual(r.FinalCell, 0.10697453105579052, -0.05145045911869686, 0.01858334617625726, -0.16571109639599663,
            -0.4003838707291816, 0.0803690304225078, -0.35755197283320933, 0.21405343933355112);
        ShouldEqual(r.Outputs, 0.09650100212914163);
        ReferenceNetwork.Loss(spec, p, [ThreeSteps], [[0.25]], LossKind.MeanSquaredError, [h0], [c0])
            .Should().BeApproximately(0.023561942347357777, Tolerance);
    }

    [Theory]
    [InlineData(nameof(LossKind.MeanSquaredError))]
    [InlineData(nameof(LossKind.BinaryCrossEntropy))]
    [InlineData(nameof(LossKind.SoftmaxCrossEntropy))]
    public void FiniteDifference_HeadBias_MatchesClosedFormLossDerivative(string loss)
    {
        var kind = Enum.Parse<LossKind>(loss);
        // dLoss/db_out has a closed form from the outputs alone: MSE 2(y − t)/(rows·O), BCE (σ(y) − t)/(rows·O),
        // CE (softmax(y) − onehot)/rows. This checks the finite-difference helper and the loss definitions together.
        var (spec, p, sequences) = EveryStepRnn();
        var layout = new ParameterLayout(spec);
        double[][] targets = kind == LossKind.SoftmaxCrossEntropy
            ? [[1.0, 0.0, 1.0], [0.0]]
            : [[1.0, 0.0, 0.0, 0.0, 1.0, 1.0], [0.0, 1.0]];
        var y = ReferenceNetwork.Forward(spec, p, sequences);
        int rows = 4, o = 2;
        var expected = new double[o];
        for (int i = 0; i < y.Length; i++)
        {
            for (int r = 0; r < y[i].Length / o; r++)
            {
                double max = Math.Max(y[i][r * o], y[i][r * o + 1]);
                double sum = Math.Exp(y[i][r * o] - max) + Math.Exp(y[i][r * o + 1] - max);
                for (int j = 0; j < o; j++)
                {
                    double v = y[i][r * o + j];
                    expected[j] += kind switch
                    {
                        LossKind.MeanSquaredError => 2 * (v - targets[i][r * o + j]) / (rows * o),
                        LossKind.BinaryCrossEntropy => (1 / (1 + Math.Exp(-v)) - targets[i][r * o + j]) / (rows * o),
                        _ => (Math.Exp(v - max) / sum - (targets[i][r] == j ? 1 : 0)) / rows,
                    };
                }
            }
        }

        var indices = Enumerable.Range(layout.HeadBias.Offset, o).ToArray();
        var fd = FiniteDifference.ParameterGradient(spec, p, sequences, targets, kind, indices: indices);

        for (int j = 0; j < o; j++) fd[j].Should().BeApproximately(expected[j], 1e-8);
    }

    [Fact]
    public void Run_WithDropout_Throws()
    {
        var spec = new NetworkSpec(CellKind.Gru, InputSize: 2, HiddenSize: 2, NumberOfLayers: 2, Dropout: 0.5f);
        var act = () => ReferenceNetwork.Run(spec, new double[new ParameterLayout(spec).Count], [0.5, -1.0]);
        act.Should().Throw<ArgumentException>().WithMessage("*Dropout*");
    }
}
