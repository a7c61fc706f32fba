using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Layers;

namespace Microsoft.ML.Recurrent.Tests.Engine;

/// <summary>
/// The packed weight copies' padded row stride (<see cref="PackedWeights.StrideFor"/>): the rule itself, and that a
/// padded pack gives every output and gradient the bits of an unpadded one (the row product's chain does not depend
/// on its ldb) through a whole training pass, and that the batch-1 loop's parts stay unpadded. The golden tests' H = 6
/// never pads, so this is where padding meets the bits. In the worker-pool collection (runs alone): it flips the
/// process-wide padding switches.
/// </summary>
[Collection(Microsoft.ML.Recurrent.Tests.Helpers.WorkerPoolCollection.Name)]
public class PaddedPackTests
{
    [Theory]
    [InlineData(512, 528)]   // LSTM H = 128: 2 KiB rows, every row on the same two L1 sets → 33 lines
    [InlineData(1024, 1040)] // LSTM H = 256: 4 KiB rows, all on one set
    [InlineData(768, 784)]   // GRU H = 256
    [InlineData(640, 656)]
    [InlineData(384, 384)]   // GRU H = 128: under the 2 KiB floor
    [InlineData(256, 256)]   // LSTM H = 64 (measured slower padded)
    [InlineData(576, 576)]   // 36 lines: not a multiple of 8
    [InlineData(24, 24)]     // LSTM H = 6 (the golden tests)
    public void StrideFor_RowsOf2KiBAndMultiplesOf512Bytes_GetOneLineMore(int gn, int expected)
    {
        PackedWeights.StrideFor(gn, pad: true).Should().Be(expected);
        PackedWeights.StrideFor(gn, pad: false).Should().Be(gn, "the switch off keeps the plain G·n stride");
    }

    [Theory]
    [InlineData(nameof(CellKind.Lstm), 128)]      // G·H = 512
    [InlineData(nameof(CellKind.Gru), 256)]       // G·H = 768
    [InlineData(nameof(CellKind.SimpleRnn), 512)] // G·H = 512
    public void TrainingPass_PaddedAndUnpadded_SameBits(string cell, int hidden)
    {
        // Every layer's packs padded (W_ihᵀ of layer 1 too: I = 32 rows of G·H). Mixed lengths, two threads (rows split).
        var spec = new NetworkSpec(Enum.Parse<CellKind>(cell), InputSize: 32, HiddenSize: hidden, NumberOfLayers: 2, OutputSize: 2);
        PackedWeights.StrideFor(Gates(spec.Cell) * hidden, pad: true).Should().BeGreaterThan(Gates(spec.Cell) * hidden, "the case must pad");
        var layout = new ParameterLayout(spec);
        var parameters = new float[layout.Count];
        Initializer.Initialize(layout, parameters, 3);
        var random = new Random(11);
        var sequences = Enumerable.Range(0, 6).Select(r => Randoms(random, (7 - r % 3) * 32)).ToArray();
        var batch = new SequenceBatch(6, 7, 32, 0);
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

    [Fact]
    public void SwitchFlipped_SameWeights_RepacksAtTheNewStride()
    {
        var spec = new NetworkSpec(CellKind.Lstm, InputSize: 8, HiddenSize: 128, OutputSize: 1);
        var layout = new ParameterLayout(spec);
        var parameters = new float[layout.Count];
        Initializer.Initialize(layout, parameters, 1);
        var weights = new PackedWeights(4, 8, 128, layout.Cell(0, 0), withInput: true, foldHiddenBias: true);
        try
        {
            weights.Configure(1);
            weights.Refresh(0, parameters, 1);
            weights.RecurrentStride(0).Should().Be(528);
            weights.InputStride(0).Should().Be(528);
            Mismatches(weights, layout.Cell(0, 0).WeightHh.Of(parameters), 528).Should().Be(0);
            weights.Refresh(0, parameters, 1);
            weights.PackCount.Should().Be(1, "same buffer, same version, same stride: no repack");
            PackedWeights.PadRecurrent = false;
            weights.Refresh(0, parameters, 1);
            weights.PackCount.Should().Be(2, "a changed stride repacks");
            weights.RecurrentStride(0).Should().Be(512);
            weights.InputStride(0).Should().Be(528);
            Mismatches(weights, layout.Cell(0, 0).WeightHh.Of(parameters), 512).Should().Be(0);
        }
        finally
        {
            PackedWeights.PadRecurrent = true;
        }

        // The batch-1 loop's parts are never padded: one row of h streams each part once per step.
        var unit = new PackedWeights(4, 8, 128, layout.Cell(0, 0), withInput: true, foldHiddenBias: true, padRows: false);
        unit.Configure(1);
        unit.Refresh(0, parameters, 1);
        unit.RecurrentStride(0).Should().Be(512);
        unit.InputStride(0).Should().Be(512);
    }

    /// <summary>Row p of the packed W_hhᵀ must hold W_hh[:, p] (one gate-major column per row of W_hh), at stride ld.</summary>
    private static unsafe int Mismatches(PackedWeights weights, ReadOnlySpan<float> whh, int ld)
    {
        float* packed = weights.Recurrent(0);
        int wrong = 0;
        for (int p = 0; p < 128; p++)
            for (int c = 0; c < 512; c++)
                if (BitConverter.SingleToUInt32Bits(packed[p * ld + c]) != BitConverter.SingleToUInt32Bits(whh[c * 128 + p])) wrong++;
        return wrong;
    }

    private static int Gates(CellKind cell) => cell switch { CellKind.Lstm => 4, CellKind.Gru => 3, _ => 1 };

    private static float[] Randoms(Random random, int n) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();

    private static uint[] BitsOf(ReadOnlySpan<float> values)
    {
        var bits = new uint[values.Length];
        for (int i = 0; i < values.Length; i++) bits[i] = BitConverter.SingleToUInt32Bits(values[i]);
        return bits;
    }
}
