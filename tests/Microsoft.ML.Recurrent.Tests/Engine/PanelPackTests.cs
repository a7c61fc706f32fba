using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Kernels;
using Microsoft.ML.Recurrent.Engine.Layers;

namespace Microsoft.ML.Recurrent.Tests.Engine;

/// <summary>
/// The row loop's weights in column panels (<see cref="PackedWeights.UsePanels"/>): the packs put every weight where the
/// row product reads it, a whole training pass gives every output and gradient the bits it has from plain rows (the
/// row product's chain does not depend on B's layout), and the batch-1 loop's parts stay in rows. In the worker-pool
/// collection (runs alone): it flips the process-wide switch.
/// </summary>
[Collection(Microsoft.ML.Recurrent.Tests.Helpers.WorkerPoolCollection.Name)]
public class PanelPackTests
{
    [Theory]
    [InlineData(4, 128, 0, 128, 16, 16)] // LSTM H = 128, one part: every panel inside one gate block
    [InlineData(3, 100, 0, 100, 16, 32)] // GRU H = 100: panels straddle the gate blocks, a partial last panel
    [InlineData(4, 10, 3, 5, 8, 7)]      // a part of 5 units from unit 3, panels of 8
    [InlineData(1, 7, 0, 7, 32, 3)]      // one panel wider than the matrix
    public void PackTransposedPanels_EveryWeightLandsInItsPanel(int gates, int hidden, int first, int units, int panelWidth, int k)
    {
        var random = new Random(3);
        int ldw = k + 2;
        var w = Randoms(random, gates * hidden * ldw);
        int n = gates * units;
        var panels = new float[RowProduct.PanelFloats(k, n, panelWidth)];
        RowProduct.PackTransposedPanels(w, ldw, k, gates, hidden, first, units, panels, panelWidth);
        int wrong = 0;
        for (int col = 0; col < n; col++)
        {
            int source = (col / units) * hidden + first + col % units;
            for (int p = 0; p < k; p++)
                if (BitConverter.SingleToUInt32Bits(panels[(col / panelWidth) * k * panelWidth + p * panelWidth + col % panelWidth]) != BitConverter.SingleToUInt32Bits(w[source * ldw + p]))
                    wrong++;
        }

        wrong.Should().Be(0);
        var act = () => RowProduct.PackTransposedPanels(w, ldw, k, gates, hidden, first, units, new float[panels.Length - 1], panelWidth);
        act.Should().Throw<ArgumentException>().WithMessage("*dst holds*");
    }

    [Fact]
    public unsafe void PackPanels_CopiesEachRowsColumnsIntoTheirPanel()
    {
        var random = new Random(4);
        const int K = 6, N = 37, Lds = 40, Width = 16;
        var src = Randoms(random, K * Lds);
        var panels = new float[RowProduct.PanelFloats(K, N, Width)];
        fixed (float* s = src, d = panels) RowProduct.PackPanels(s, Lds, K, N, d, Width);
        for (int p = 0; p < K; p++)
            for (int j = 0; j < N; j++)
                panels[(j / Width) * K * Width + p * Width + j % Width].Should().Be(src[p * Lds + j], $"row {p}, column {j}");
        panels.Length.Should().Be(3 * K * Width, "37 columns take three panels of 16");
    }

    [Theory]
    [InlineData(nameof(CellKind.Lstm), 128)]      // G·H = 512: 32 whole panels
    [InlineData(nameof(CellKind.Gru), 100)]       // G·H = 300: panels across the gate blocks, a partial last one
    [InlineData(nameof(CellKind.SimpleRnn), 37)]
    public void TrainingPass_PanelsAndRows_SameBits(string cell, int hidden)
    {
        // Two layers (layer 2's backward pass also multiplies by W_ih for dX), mixed lengths, two threads (rows split).
        var spec = new NetworkSpec(Enum.Parse<CellKind>(cell), InputSize: 32, HiddenSize: hidden, NumberOfLayers: 2, OutputSize: 2);
        var layout = new ParameterLayout(spec);
        var parameters = new float[layout.Count];
        Initializer.Initialize(layout, parameters, 3);
        var random = new Random(11);
        var sequences = Enumerable.Range(0, 6).Select(r => Randoms(random, (7 - r % 3) * 32)).ToArray();
        var batch = new SequenceBatch(6, 7, 32, 0);
        batch.Fill(6, r => sequences[r], null, perStepTargets: false);
        var dOut = Randoms(random, 6 * 2);

        (uint[] Outputs, uint[] Gradients) Pass(bool panels)
        {
            PackedWeights.UsePanels = panels;
            try
            {
                var network = new RecurrentNetwork(layout, parameters, new float[layout.Count], 6, 7) { Threads = 2 };
                var y = BitsOf(network.Forward(batch, training: true));
                network.Backward(dOut);
                return (y, BitsOf(network.Gradients));
            }
            finally
            {
                PackedWeights.UsePanels = true;
            }
        }

        var inPanels = Pass(true);
        var inRows = Pass(false);
        inPanels.Outputs.Should().Equal(inRows.Outputs);
        inPanels.Gradients.Should().Equal(inRows.Gradients);
        inPanels.Outputs.Should().Contain(b => b != 0, "the outputs are not all zero");
        inPanels.Gradients.Should().Contain(b => b != 0, "the gradients are not all zero");
    }

    [Fact]
    public unsafe void SwitchFlipped_SameWeights_RepacksInTheNewLayout()
    {
        var spec = new NetworkSpec(CellKind.Lstm, InputSize: 8, HiddenSize: 128, OutputSize: 1);
        var layout = new ParameterLayout(spec);
        var parameters = new float[layout.Count];
        Initializer.Initialize(layout, parameters, 1);
        var whh = layout.Cell(0, 0).WeightHh.Of(parameters);
        int width = RowProduct.PanelWidth;
        var weights = new PackedWeights(4, 8, 128, layout.Cell(0, 0), withInput: true, foldHiddenBias: true, panelWidth: width);
        try
        {
            weights.Configure(1);
            weights.Refresh(0, parameters, 1);
            weights.RecurrentStride(0).Should().Be(width);
            weights.RecurrentPanelStride(0).Should().Be(128 * width);
            weights.InputPanelStride(0).Should().Be(8 * width);
            Mismatches(weights, whh, c => (c / width) * 128 * width, width).Should().Be(0);
            weights.Refresh(0, parameters, 1);
            weights.PackCount.Should().Be(1, "same buffer, same version, same layout: no repack");
            PackedWeights.UsePanels = false;
            weights.Refresh(0, parameters, 1);
            weights.PackCount.Should().Be(2, "a changed layout repacks");
            weights.RecurrentStride(0).Should().Be(512);
            weights.RecurrentPanelStride(0).Should().Be(0);
            Mismatches(weights, whh, c => c - c % width, 512).Should().Be(0);
        }
        finally
        {
            PackedWeights.UsePanels = true;
        }

        // The batch-1 loop's parts: wide panels (one 1 × 16-vector tile each), two parts of 64 units (256 columns each).
        int wide = RowProduct.WidePanelWidth;
        var unit = new PackedWeights(4, 8, 128, layout.Cell(0, 0), withInput: true, foldHiddenBias: true, panelWidth: wide);
        unit.Configure(2);
        unit.Refresh(1, parameters, 1);
        unit.RecurrentStride(1).Should().Be(wide);
        unit.RecurrentPanelStride(1).Should().Be(128 * wide);
        unit.InputPanelStride(1).Should().Be(8 * wide);
        float* packed = unit.Recurrent(1);
        int wrong = 0;
        for (int col = 0; col < 256; col++)
        {
            int source = (col / 64) * 128 + 64 + col % 64; // gate g's unit 64 + j: row g·H + 64 + j of W_hh
            for (int p = 0; p < 128; p++)
                if (BitConverter.SingleToUInt32Bits(packed[(col / wide) * 128 * wide + p * wide + col % wide]) != BitConverter.SingleToUInt32Bits(whh[source * 128 + p]))
                    wrong++;
        }

        wrong.Should().Be(0);
    }

    /// <summary>
    /// Column c of the packed W_hhᵀ must hold W_hh[c, :]: element (p, c) at panelStart(c) + p·ld + c mod width (rows: the
    /// panel start is c rounded down and ld = G·H, which is the plain row-major index).
    /// </summary>
    private static unsafe int Mismatches(PackedWeights weights, ReadOnlySpan<float> whh, Func<int, int> panelStart, int ld)
    {
        float* packed = weights.Recurrent(0);
        int width = RowProduct.PanelWidth, wrong = 0;
        for (int p = 0; p < 128; p++)
            for (int c = 0; c < 512; c++)
                if (BitConverter.SingleToUInt32Bits(packed[panelStart(c) + p * ld + c % width]) != BitConverter.SingleToUInt32Bits(whh[c * 128 + p])) wrong++;
        return wrong;
    }

    private static float[] Randoms(Random random, int n) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();

    private static uint[] BitsOf(ReadOnlySpan<float> values)
    {
        var bits = new uint[values.Length];
        for (int i = 0; i < values.Length; i++) bits[i] = BitConverter.SingleToUInt32Bits(values[i]);
        return bits;
    }
}
