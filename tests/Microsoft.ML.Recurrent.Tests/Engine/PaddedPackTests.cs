using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Layers;

namespace Microsoft.ML.Recurrent.Tests.Engine;

/// <summary>
/// The packed weight copies' padded row stride (<see cref="PackedWeights.StrideFor"/>): the rule itself, and that a
/// padded pack gives every output and gradient the bits of an unpadded one (the row product's chain does not depend
/// on its ldb), on the row-split loop (batches) and the unit-split loop (one sequence, two threads). The golden tests'
/// H = 6 never pads, so this is where padding meets the bits. In the worker-pool collection (runs alone): it flips the
/// process-wide padding switches.
/// </summary>
[Collection(Microsoft.ML.Recurrent.Tests.Helpers.WorkerPoolCollection.Name)]
public class PaddedPackTests
{
    [Theory]
    [InlineData(512, 528)]   // LSTM H = 128: 2 KiB rows, every row on the same two L1 sets → 33 lines
    [InlineData(384, 400)]   // GRU H = 128
    [InlineData(1024, 1040)] // LSTM H = 256
    [InlineData(256, 272)]   // LSTM H = 128 cut in two parts
    [InlineData(64, 80)]
    [InlineData(192, 208)]
    [InlineData(96, 96)]     // 6 lines: already spread over 32 sets, not padded
    [InlineData(24, 24)]     // LSTM H = 6 (the golden tests)
    [InlineData(40, 40)]
    public void StrideFor_MultiplesOf64Floats_GetAnOddNumberOfCacheLines(int gn, int expected)
    {
        PackedWeights.StrideFor(gn, pad: true).Should().Be(expected);
        PackedWeights.StrideFor(gn, pad: false).Should().Be(gn, "the switch off keeps the plain G·n stride");
    }

    [Theory]
    [InlineData(nameof(CellKind.Lstm))]
    [InlineData(nameof(CellKind.Gru))]
    [InlineData(nameof(CellKind.SimpleRnn))]
    public void TrainingPass_PaddedAndUnpadded_SameBits(string cell)
    {
        // H = 64: G·H = 256, 192, 64, all padded. Mixed lengths, two threads (rows split between them).
        var spec = new NetworkSpec(Enum.Parse<CellKind>(cell), InputSize: 64, HiddenSize: 64, NumberOfLayers: 2, OutputSize: 2);
        var layout = new ParameterLayout(spec);
        var parameters = new float[layout.Count];
        Initializer.Initialize(layout, parameters, 3);
        var random = new Random(11);
        var sequences = Enumerable.Range(0, 6).Select(r => Randoms(random, (7 - r % 3) * 64)).ToArray();
        var batch = new SequenceBatch(6, 7, 64, 0);
        batch.Fill(6, r => sequences[r], null, perStepTargets: false);
        var dOut = Randoms(random, 6 * 2);

        (uint[] Outputs, uint[] Gradients) Pass(bool pad)
        {
            (PackedWeights.PadRecurrent, PackedWeights.PadInput) = (pad, pad);
            try
            {
                var network = new RecurrentNetwork(layout, parameters, new float[layout.Count], 6, 7) { Threads = 2 };
                var y = BitsOf(network.Forward(batch, training: true));
                network.Backward(dOut);
                return (y, BitsOf(network.Gradients));
            }
            finally
            {
                (PackedWeights.PadRecurrent, PackedWeights.PadInput) = (true, true);
            }
        }

        var padded = Pass(true);
        var plain = Pass(false);
        padded.Outputs.Should().Equal(plain.Outputs);
        padded.Gradients.Should().Equal(plain.Gradients);
        padded.Outputs.Should().Contain(b => b != 0, "the outputs are not all zero");
    }

    [Theory]
    [InlineData(nameof(CellKind.Lstm))]
    [InlineData(nameof(CellKind.Gru))]
    public void SingleSequence_UnitsSplit_PaddedAndUnpadded_SameBits(string cell)
    {
        // H = 128, one sequence, two threads: the batch-1 loop cuts the units in two parts (LSTM 4·64 = 256 floats a row, padded).
        var spec = new NetworkSpec(Enum.Parse<CellKind>(cell), InputSize: 8, HiddenSize: 128, OutputSize: 2);
        var layout = new ParameterLayout(spec);
        var parameters = new float[layout.Count];
        Initializer.Initialize(layout, parameters, 5);
        var batch = new SequenceBatch(1, 40, 8, 0);
        batch.FillSingle(Randoms(new Random(4), 40 * 8));

        uint[] Pass(bool pad)
        {
            (PackedWeights.PadRecurrent, PackedWeights.PadInput) = (pad, pad);
            try
            {
                var network = new RecurrentNetwork(layout, parameters, null, 1, 40) { Threads = 2 };
                var y = BitsOf(network.Forward(batch));
                network.LastLoopParts.Should().Be(2, "this shape splits its units");
                return y;
            }
            finally
            {
                (PackedWeights.PadRecurrent, PackedWeights.PadInput) = (true, true);
            }
        }

        Pass(true).Should().Equal(Pass(false));
    }

    [Fact]
    public void SwitchFlipped_SameWeights_RepacksAtTheNewStride()
    {
        var spec = new NetworkSpec(CellKind.Lstm, InputSize: 8, HiddenSize: 16, OutputSize: 1);
        var layout = new ParameterLayout(spec);
        var parameters = new float[layout.Count];
        Initializer.Initialize(layout, parameters, 1);
        var weights = new PackedWeights(4, 8, 16, layout.Cell(0, 0), withInput: true, foldHiddenBias: true);
        try
        {
            weights.Configure(1);
            weights.Refresh(0, parameters, 1);
            weights.RecurrentStride(0).Should().Be(80);
            weights.InputStride(0).Should().Be(80);
            weights.Refresh(0, parameters, 1);
            weights.PackCount.Should().Be(1, "same buffer, same version, same stride: no repack");
            PackedWeights.PadRecurrent = false;
            weights.Refresh(0, parameters, 1);
            weights.PackCount.Should().Be(2, "a changed stride repacks");
            weights.RecurrentStride(0).Should().Be(64);
            weights.InputStride(0).Should().Be(80);
            // Row p of the packed W_hhᵀ holds W_hh[:, p] (gate-major columns), at the stride in force.
            var whh = layout.Cell(0, 0).WeightHh.Of(parameters);
            unsafe
            {
                float* packed = weights.Recurrent(0);
                for (int p = 0; p < 16; p++)
                    for (int c = 0; c < 64; c++)
                        packed[p * 64 + c].Should().Be(whh[c * 16 + p]);
            }
        }
        finally
        {
            PackedWeights.PadRecurrent = true;
        }
    }

    private static float[] Randoms(Random random, int n) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();

    private static uint[] BitsOf(ReadOnlySpan<float> values)
    {
        var bits = new uint[values.Length];
        for (int i = 0; i < values.Length; i++) bits[i] = BitConverter.SingleToUInt32Bits(values[i]);
        return bits;
    }
}
