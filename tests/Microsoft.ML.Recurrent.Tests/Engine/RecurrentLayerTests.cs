using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Cells;
using Microsoft.ML.Recurrent.Engine.Layers;

namespace Microsoft.ML.Recurrent.Tests.Engine;

/// <summary>
/// The layer loop on its own (<see cref="RecurrentLayer{TCell}"/>): one instantiation per cell, the arguments of a pass
/// given per call, and a backward pass that checks its call against what the storage holds instead of trusting the
/// dimensions the last forward pass left behind.
/// </summary>
public class RecurrentLayerTests
{
    private const int Input = 3, Hidden = 5;

    public static TheoryData<string> Kinds => new() { nameof(CellKind.SimpleRnn), nameof(CellKind.Lstm), nameof(CellKind.Gru) };

    private static (RecurrentLayer Layer, float[] Parameters, float[] X, BatchShape Shape) Setup(CellKind kind, int[] lengths)
    {
        var spec = new NetworkSpec(kind, Input, Hidden, OutputSize: 1);
        var layout = new ParameterLayout(spec);
        var parameters = new float[layout.Count];
        Initializer.Initialize(layout, parameters, 5);
        int B = lengths.Length, T = lengths.Max();
        var layer = RecurrentLayer.Create(kind, Input, Hidden, layout.Cell(0, 0));
        layer.EnsureCapacity(B, T, training: true);
        var random = new Random(3);
        var x = new float[T * B * Input];
        for (int t = 0; t < T; t++)
            for (int r = 0; r < B; r++)
                for (int i = 0; t < lengths[r] && i < Input; i++) x[(t * B + r) * Input + i] = random.NextSingle() - 0.5f;
        var shape = new BatchShape(B, T, lengths, t => lengths.Count(len => len > t));
        return (layer, parameters, x, shape);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Create_EachKind_InstantiatesTheLoopForItsCell(string cell)
    {
        var kind = Enum.Parse<CellKind>(cell);
        var (layer, _, _, _) = Setup(kind, [2]);
        var expected = kind switch
        {
            CellKind.Lstm => typeof(RecurrentLayer<LstmCell>),
            CellKind.Gru => typeof(RecurrentLayer<GruCell>),
            _ => typeof(RecurrentLayer<RnnCell>),
        };
        layer.GetType().Should().Be(expected);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Backward_OtherShapeThanTheForwardPass_ThrowsNamingBoth(string cell)
    {
        var kind = Enum.Parse<CellKind>(cell);
        var (layer, parameters, x, shape) = Setup(kind, [4, 3, 2]);
        var gradients = new float[parameters.Length];
        layer.Forward(parameters, x, shape, default, default, keepForBackward: true);
        var shorter = new BatchShape(2, 4, [4, 3], t => Math.Min(2, shape.ActiveAt(t)));
        var act = () => layer.Backward(parameters, gradients, x, shorter, default, default, default, computeInputGradient: true);
        act.Should().Throw<InvalidOperationException>().WithMessage("*2 rows and 4 steps*3 rows and 4 steps*");
        gradients.Should().OnlyContain(g => g == 0f, "nothing was accumulated");

        // The matching call works and leaves non-zero weight gradients.
        var dFinal = Enumerable.Repeat(1f, 3 * Hidden).ToArray();
        layer.Backward(parameters, gradients, x, shape, default, dFinal, default, computeInputGradient: true);
        gradients.Should().Contain(g => g != 0f);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Backward_AfterAnInferencePass_Throws(string cell)
    {
        var kind = Enum.Parse<CellKind>(cell);
        foreach (int[] lengths in new[] { new[] { 4, 3, 2 }, new[] { 4 } })
        {
            var (layer, parameters, x, shape) = Setup(kind, lengths);
            layer.Forward(parameters, x, shape, default, default, keepForBackward: false);
            var act = () => layer.Backward(parameters, new float[parameters.Length], x, shape, default, default, default, computeInputGradient: false);
            act.Should().Throw<InvalidOperationException>().WithMessage("*training pass*inference pass*", $"B = {lengths.Length}");
        }
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Backward_TwiceForOneForwardPass_ThrowsAndAFreshPassGivesTheSameBits(string cell)
    {
        // The backward pass writes each step's gate gradients over the activations they were computed from, so a second
        // backward pass over the same forward pass must refuse instead of differentiating gradients.
        var kind = Enum.Parse<CellKind>(cell);
        foreach (int[] lengths in new[] { new[] { 4, 3, 2 }, new[] { 4 } })
        {
            var (layer, parameters, x, shape) = Setup(kind, lengths);
            int B = lengths.Length;
            var dFinal = Enumerable.Range(0, B * Hidden).Select(i => 0.25f + 0.1f * (i % 7)).ToArray();
            var first = new float[parameters.Length];
            layer.Forward(parameters, x, shape, default, default, keepForBackward: true);
            layer.Backward(parameters, first, x, shape, default, dFinal, default, computeInputGradient: true);
            first.Should().Contain(g => g != 0f);

            var again = new float[parameters.Length];
            var act = () => layer.Backward(parameters, again, x, shape, default, dFinal, default, computeInputGradient: true);
            act.Should().Throw<InvalidOperationException>().WithMessage("*Backward already ran*forward pass again*", $"B = {B}");
            again.Should().OnlyContain(g => g == 0f, "nothing was accumulated");

            // A new training pass restores the activations: the same gradients, bit for bit.
            layer.Forward(parameters, x, shape, default, default, keepForBackward: true);
            layer.Backward(parameters, again, x, shape, default, dFinal, default, computeInputGradient: true);
            again.Select(BitConverter.SingleToInt32Bits).Should().Equal(first.Select(BitConverter.SingleToInt32Bits), $"B = {B}");
        }
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void ComputeInputGradient_BeforeBackward_Throws(string cell)
    {
        var kind = Enum.Parse<CellKind>(cell);
        var (layer, parameters, x, shape) = Setup(kind, [4, 3, 2]);
        layer.Forward(parameters, x, shape, default, default, keepForBackward: true);
        var act = () => layer.ComputeInputGradient(parameters);
        act.Should().Throw<InvalidOperationException>().WithMessage("*its Backward first*");

        layer.Backward(parameters, new float[parameters.Length], x, shape, default, default, default, computeInputGradient: false);
        layer.Invoking(l => l.ComputeInputGradient(parameters)).Should().NotThrow();
    }
}
