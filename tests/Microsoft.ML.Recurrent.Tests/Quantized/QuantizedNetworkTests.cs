using System.Runtime.Intrinsics.X86;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Quantized;
using Microsoft.ML.Recurrent.Engine.Training;
using Xunit.Abstractions;

namespace Microsoft.ML.Recurrent.Tests.Quantized;

/// <summary>
/// The reduced-precision forward pass of whole networks, every cell × direction × depth × input kind, against the float32
/// engine (<see cref="SequencePredictor"/>): bfloat16 with weights already representable in bfloat16 must give the float32
/// outputs up to summation order (this pins the wiring: directions, layers, embedding, head); int8 must stay within the
/// documented tolerance; the AVX-VNNI and portable int8 kernels must give the same bits.
/// </summary>
public class QuantizedNetworkTests
{
    private readonly ITestOutputHelper _output;

    public QuantizedNetworkTests(ITestOutputHelper output) => _output = output;

    /// <summary>Largest |int8 − float32| output allowed on these random networks (weights U(±1/√H), inputs U(±2)); see docs/performance-quant.md.</summary>
    internal const float Int8Tolerance = 0.01f;

    /// <summary>Largest |bf16 − float32| output allowed with the original (not pre-rounded) weights.</summary>
    internal const float BFloat16Tolerance = 0.005f;

    public static TheoryData<int, bool, int, bool> Configurations()
    {
        var data = new TheoryData<int, bool, int, bool>();
        foreach (var cell in new[] { CellKind.SimpleRnn, CellKind.Lstm, CellKind.Gru })
            foreach (bool bi in new[] { false, true })
                foreach (int layers in new[] { 1, 2, 3 })
                    foreach (bool tokens in new[] { false, true })
                        data.Add((int)cell, bi, layers, tokens);
        return data;
    }

    internal static (NetworkSpec Spec, float[] Parameters, float[][] Sequences) Problem(CellKind cell, bool bidirectional, int layers, bool tokens, int seed,
        int hidden = 16)
    {
        const int F = 3, V = 9, E = 5, O = 3;
        int H = hidden;
        var spec = tokens
            ? new NetworkSpec(cell, 1, H, layers, bidirectional, VocabularySize: V, EmbeddingSize: E, OutputSize: O)
            : new NetworkSpec(cell, F, H, layers, bidirectional, OutputSize: O);
        var layout = new ParameterLayout(spec);
        var rng = new Random(seed);
        var p = new float[layout.Count];
        float k = 1f / MathF.Sqrt(H);
        for (int i = 0; i < p.Length; i++) p[i] = (float)((rng.NextDouble() * 2 - 1) * k);
        foreach (ref float e in layout.Embedding.Of(p)) e = (float)(rng.NextDouble() * 2 - 1);
        var sequences = new[] { 1, 5, 12 }.Select(T => tokens
            ? Enumerable.Range(0, T).Select(_ => (float)rng.Next(V)).ToArray()
            : Enumerable.Range(0, T * F).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray()).ToArray();
        return (spec, p, sequences);
    }

    private static float[] Run(SequencePredictor predictor, float[] sequence, int outputs)
    {
        var y = new float[outputs];
        predictor.Predict(sequence, y);
        return y;
    }

    private static float[] Run(QuantizedPredictor predictor, float[] sequence, int outputs)
    {
        var y = new float[outputs];
        predictor.Predict(sequence, y);
        return y;
    }

    [Theory]
    [MemberData(nameof(Configurations))]
    public void Outputs_EveryCellAndLayout_MatchFloat32(int cellKind, bool bidirectional, int layers, bool tokens)
    {
        var cell = (CellKind)cellKind;
        var (spec, p, sequences) = Problem(cell, bidirectional, layers, tokens, seed: (int)cell * 100 + layers * 10 + (bidirectional ? 5 : 0) + (tokens ? 1 : 0));
        int O = spec.OutputSize;
        var float32 = new SequencePredictor(spec, p, threads: 1);

        // bfloat16 weights given exactly: the same sums as float32 up to their order.
        var rounded = (float[])p.Clone();
        var layout = new ParameterLayout(spec);
        foreach (var c in layout.Cells)
        {
            foreach (var slice in new[] { c.WeightIh, c.WeightHh })
                foreach (ref float w in slice.Of(rounded)) w = BFloat16Matrix.FromBFloat16(BFloat16Matrix.ToBFloat16(w));
        }

        var exactBf16 = new QuantizedPredictor(spec, rounded, RecurrentServingPrecision.BFloat16);
        var roundedFloat = new SequencePredictor(spec, rounded, threads: 1);
        var bf16 = new QuantizedPredictor(spec, p, RecurrentServingPrecision.BFloat16);
        var int8 = new QuantizedPredictor(spec, p, RecurrentServingPrecision.Int8);
        double worstInt8 = 0, worstBf16 = 0;
        foreach (var x in sequences)
        {
            var reference = Run(float32, x, O);
            var expected = Run(roundedFloat, x, O);
            var actual = Run(exactBf16, x, O);
            for (int o = 0; o < O; o++)
                actual[o].Should().BeApproximately(expected[o], 2e-5f, $"output {o} of a {x.Length}-value sequence: bf16-exact weights give the float32 outputs");

            var yb = Run(bf16, x, O);
            var yi = Run(int8, x, O);
            for (int o = 0; o < O; o++)
            {
                worstBf16 = Math.Max(worstBf16, Math.Abs(yb[o] - reference[o]));
                worstInt8 = Math.Max(worstInt8, Math.Abs(yi[o] - reference[o]));
            }
        }

        _output.WriteLine($"{cell} bi={bidirectional} L={layers} tokens={tokens}: max |bf16 − f32| = {worstBf16:E2}, max |int8 − f32| = {worstInt8:E2}");
        worstBf16.Should().BeLessThanOrEqualTo(BFloat16Tolerance);
        worstInt8.Should().BeLessThanOrEqualTo(Int8Tolerance);
        worstInt8.Should().BeGreaterThan(0, "int8 is not float32");
    }

    [Theory]
    [InlineData((int)CellKind.Lstm, true, 2, false)]
    [InlineData((int)CellKind.Gru, false, 1, true)]
    [InlineData((int)CellKind.SimpleRnn, true, 3, false)]
    public void Int8_VnniAndPortableKernels_SameBits(int cellKind, bool bidirectional, int layers, bool tokens)
    {
        var cell = (CellKind)cellKind;
        var (spec, p, sequences) = Problem(cell, bidirectional, layers, tokens, seed: 42);
        var int8 = new QuantizedPredictor(spec, p, RecurrentServingPrecision.Int8, threads: 1);
        foreach (var x in sequences)
        {
            var dispatched = Run(int8, x, spec.OutputSize);
            float[] portable;
            Int8Kernels.PortableOnly = true;
            try { portable = Run(int8, x, spec.OutputSize); }
            finally { Int8Kernels.PortableOnly = false; }
            portable.Select(BitConverter.SingleToInt32Bits).Should().Equal(dispatched.Select(BitConverter.SingleToInt32Bits),
                AvxVnni.IsSupported ? "the VNNI kernel's integer sums equal the portable kernel's"
                : Avx2.IsSupported ? "the AVX2 kernel's integer sums equal the portable kernel's" : "both runs take the portable kernel");
        }
    }

    [Theory]
    [MemberData(nameof(Configurations))]
    public void UnitSplit_AnyNumberOfParts_SameBits(int cellKind, bool bidirectional, int layers, bool tokens)
    {
        var cell = (CellKind)cellKind;
        var (spec, p, sequences) = Problem(cell, bidirectional, layers, tokens, seed: 7 + cellKind);
        foreach (var precision in new[] { RecurrentServingPrecision.Int8, RecurrentServingPrecision.BFloat16 })
        {
            var alone = new QuantizedPredictor(spec, p, precision, threads: 1);
            alone.Network.Parts.Should().Be(1);
            // H 16 in parts of ≥ 32 units cannot split; a lowered minimum cannot either: parts need 32 units. Use H 64.
            var wide = Problem(cell, bidirectional, layers, tokens, seed: 7 + cellKind, hidden: 64);
            var one = new QuantizedPredictor(wide.Spec, wide.Parameters, precision, threads: 1);
            var two = new QuantizedPredictor(wide.Spec, wide.Parameters, precision, threads: 2, unitSplitMinWeights: 0);
            two.Network.Parts.Should().Be(2);
            foreach (var x in wide.Sequences)
            {
                var expected = Run(one, x, spec.OutputSize);
                var actual = Run(two, x, spec.OutputSize);
                actual.Select(BitConverter.SingleToInt32Bits).Should().Equal(expected.Select(BitConverter.SingleToInt32Bits),
                    $"{precision}: a row's arithmetic does not depend on its part or thread (the loop ran on {two.LastLoopParts} thread(s))");
            }
        }
    }

    [Fact]
    public void Reduced_ManyToManyOrHeadlessNetwork_NotSupported()
    {
        var everyStep = new NetworkSpec(CellKind.Lstm, 2, 4, OutputSize: 1, Output: OutputMode.EveryStep);
        Action act = () => _ = new QuantizedNetwork(everyStep, new float[new ParameterLayout(everyStep).Count], RecurrentServingPrecision.Int8);
        act.Should().Throw<NotSupportedException>().WithMessage("*many-to-one*");
        var spec = new NetworkSpec(CellKind.Lstm, 2, 4);
        Action float32 = () => _ = new QuantizedNetwork(spec, new float[new ParameterLayout(spec).Count], RecurrentServingPrecision.Float32);
        float32.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*Int8 or BFloat16*");
    }

    [Fact]
    public void Reduced_BadSequence_ThrowsLikeTheFloatPredictor()
    {
        var (spec, p, _) = Problem(CellKind.Lstm, false, 1, tokens: false, seed: 1);
        var int8 = new QuantizedPredictor(spec, p, RecurrentServingPrecision.Int8);
        Action act = () => int8.Predict(new float[4], new float[3]);
        act.Should().Throw<ArgumentException>().WithMessage("*positive multiple of 3*got 4*");
        var (tspec, tp, _) = Problem(CellKind.Gru, false, 1, tokens: true, seed: 1);
        var tokens = new QuantizedPredictor(tspec, tp, RecurrentServingPrecision.BFloat16);
        Action bad = () => tokens.Predict([1f, 9f], new float[3]);
        bad.Should().Throw<ArgumentException>().WithMessage("Token id 9 at step 1 is outside [0, 9).");
    }
}
