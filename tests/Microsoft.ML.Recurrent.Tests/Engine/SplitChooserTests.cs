using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Layers;

namespace Microsoft.ML.Recurrent.Tests.Engine;

/// <summary>
/// The batch-1 loop's choice between splitting a sequence's units over threads and running them on the calling thread
/// (<see cref="SplitChooser"/>), and its packing of each part's units as panels with contiguous rows
/// (<see cref="RecurrentLayer.PanelColumns"/>).
/// </summary>
[Collection(Microsoft.ML.Recurrent.Tests.Helpers.WorkerPoolCollection.Name)]
public class SplitChooserTests
{
    [Fact]
    public void Probes_SplitsThenAlone_ThenTheFasterWayPerStepIsKept()
    {
        var chooser = new SplitChooser();
        var asked = new List<bool>();
        for (int i = 0; i < 2 * SplitChooser.ProbesPerWay; i++)
        {
            bool split = chooser.Split;
            asked.Add(split);
            // Split passes: 300 ticks a step; alone: 200 a step (different lengths: the comparison is per step).
            chooser.Record(split, split ? 300 * 50 : 200 * 20, split ? 50 : 20);
        }

        asked.Should().Equal(Enumerable.Range(0, 2 * SplitChooser.ProbesPerWay).Select(i => i < SplitChooser.ProbesPerWay),
            "the split probes run back to back, then the probes alone");
        chooser.PrefersSplit.Should().BeFalse("alone took 200 ticks a step against 300");
        chooser.Split.Should().BeFalse();
        chooser.Window.Should().Be(SplitChooser.MinWindow, "the probes changed the choice (split was assumed): a short window");
        for (int i = 2 * SplitChooser.ProbesPerWay; i < SplitChooser.MinWindow; i++)
        {
            chooser.Split.Should().BeFalse($"call {i} of the window is past the probes");
            chooser.Record(false, 1000, 1);
        }

        // The next window probes again; now the split is faster (the other core became free, say).
        for (int i = 0; i < 2 * SplitChooser.ProbesPerWay; i++)
        {
            bool split = chooser.Split;
            split.Should().Be(i < SplitChooser.ProbesPerWay, $"probe {i} of the second window");
            chooser.Record(split, split ? 100 : 400, 1);
        }

        chooser.PrefersSplit.Should().BeTrue();
        chooser.Split.Should().BeTrue();
    }

    [Fact]
    public void Windows_DoubleWhileTheProbesAgree_AndShrinkWhenTheyChangeTheirMind()
    {
        var chooser = new SplitChooser();
        var lengths = new List<int>();
        var splitFaster = new[] { true, true, true, true, true, true, false, false, true };
        foreach (bool faster in splitFaster)
        {
            // One whole window: probes (split 100 or 300 ticks a step, alone 200), then the rest of it the chosen way.
            int calls = 0;
            do
            {
                bool split = chooser.Split;
                chooser.Record(split, split ? (faster ? 100 : 300) : 200, 1);
                calls++;
            }
            while (chooser.Window > calls);

            lengths.Add(calls);
            chooser.PrefersSplit.Should().Be(faster);
        }

        lengths.Should().Equal(128, 256, 512, 1024, 1024, 1024, 64, 128, 64);
        // The length of each window was decided by its own probes: confirmed (the default is split) 128, 256, … up to
        // 1,024; alone found faster: 64; alone again: 128; split again: 64.
    }

    [Fact]
    public void Windows_AChoiceOnUnluckyProbes_IsRevisitedAfterTheShortestWindow()
    {
        // Splitting is faster, but one window's split probes all ran slow (the other core was busy for a moment): the
        // calls run alone for the rest of a 64-call window only, then the probes choose the split again.
        var chooser = new SplitChooser();
        int Window(bool unlucky)
        {
            int calls = 0, alone = 0;
            do
            {
                bool split = chooser.Split;
                chooser.Record(split, split ? (unlucky ? 500 : 100) : 200, 1);
                if (!split) alone++;
                calls++;
            }
            while (chooser.Window > calls);

            return alone;
        }

        for (int w = 0; w < 6; w++) Window(unlucky: false);
        chooser.Window.Should().Be(SplitChooser.MaxWindow, "six confirmations in a row");

        int wrong = Window(unlucky: true);
        chooser.PrefersSplit.Should().BeFalse("the probes saw the split slower");
        wrong.Should().Be(SplitChooser.MinWindow - SplitChooser.ProbesPerWay, "alone for the rest of one short window");
        Window(unlucky: false).Should().Be(SplitChooser.ProbesPerWay, "the next window's probes choose the split again");
        chooser.PrefersSplit.Should().BeTrue();
    }

    [Fact]
    public void Probes_OneWayNeverRan_KeepsThePreviousPreference()
    {
        // The pool was busy at every split probe, so every call ran alone: nothing to compare, the preference stays.
        var chooser = new SplitChooser();
        for (int i = 0; i < 2 * SplitChooser.ProbesPerWay; i++) chooser.Record(false, 10, 1);
        chooser.PrefersSplit.Should().BeTrue();
    }

    [Fact]
    public void Probes_MedianDecides_NotOneSlowOrFastProbe()
    {
        // One split probe hit by a neighbour (10× slower) does not hide that splitting is faster…
        var chooser = new SplitChooser();
        var slowOnce = Enumerable.Repeat(100L, SplitChooser.ProbesPerWay).ToArray();
        slowOnce[0] = 1000;
        for (int i = 0; i < SplitChooser.ProbesPerWay; i++)
        {
            chooser.Record(true, slowOnce[i], 1);
            chooser.Record(false, 150, 1);
        }

        chooser.PrefersSplit.Should().BeTrue();

        // …and one lucky split probe does not hide that it is usually slower.
        for (long i = 2 * SplitChooser.ProbesPerWay; i < chooser.Window; i++) chooser.Record(true, 1, 1);
        var fastOnce = Enumerable.Repeat(200L, SplitChooser.ProbesPerWay).ToArray();
        fastOnce[1] = 10;
        for (int i = 0; i < SplitChooser.ProbesPerWay; i++)
        {
            chooser.Record(true, fastOnce[i], 1);
            chooser.Record(false, 150, 1);
        }

        chooser.PrefersSplit.Should().BeFalse();
    }

    [Fact]
    public void Disabled_AlwaysSplits_AndRecordsNothing()
    {
        var chooser = new SplitChooser { Enabled = false };
        for (int i = 0; i < 20; i++)
        {
            chooser.Split.Should().BeTrue();
            chooser.Record(true, 1_000_000, 1);
            chooser.Record(false, 1, 1);
        }

        chooser.PrefersSplit.Should().BeTrue();
    }

    [Fact]
    public void SingleSequence_ChoosingWhetherToSplit_EveryPassHasTheBitsOfOneThread()
    {
        // Whatever the chooser picks, pass after pass (probes both ways, then the choice), the bits are those of one thread.
        var spec = new NetworkSpec(CellKind.Lstm, InputSize: 8, HiddenSize: 128, OutputSize: 2);
        var layout = new ParameterLayout(spec);
        var parameters = new float[layout.Count];
        Initializer.Initialize(layout, parameters, 4);
        var random = new Random(5);
        var sequence = Enumerable.Range(0, 40 * 8).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var batch = new SequenceBatch(1, 40, 8, 0);
        batch.FillSingle(sequence);
        var expected = new RecurrentNetwork(layout, parameters, null, 1, 40) { Threads = 1 }.Forward(batch).ToArray();
        var network = new RecurrentNetwork(layout, parameters, null, 1, 40) { Threads = 2 };
        network.ChooseUnitSplit.Should().BeTrue("choosing is the default");
        var parts = new HashSet<int>();
        for (int pass = 0; pass < 3 * SplitChooser.ProbesPerWay; pass++)
        {
            network.Forward(batch).ToArray().Should().Equal(expected, $"pass {pass}");
            parts.Add(network.LastLoopParts);
        }

        parts.Should().Contain(1, "the probes ran the sequence on one thread at least once");
    }

    [Theory]
    [InlineData(nameof(CellKind.Lstm), 128, 1, 2)] // 4H = 512 columns: two panels of 256 even on one thread
    [InlineData(nameof(CellKind.Lstm), 64, 1, 1)]  // 256 columns: one panel
    [InlineData(nameof(CellKind.Gru), 128, 1, 2)]  // 384 columns: two panels of 192
    [InlineData(nameof(CellKind.Lstm), 256, 1, 4)] // 1024 columns
    [InlineData(nameof(CellKind.Lstm), 256, 2, 4)] // two parts of two panels each
    [InlineData(nameof(CellKind.SimpleRnn), 300, 1, 2)]
    public void SingleSequence_UnitsPackedAsPanelsOfAtMost256Columns(string cell, int hidden, int threads, int panels)
    {
        var spec = new NetworkSpec(Enum.Parse<CellKind>(cell), InputSize: 4, HiddenSize: hidden, OutputSize: 1);
        var layout = new ParameterLayout(spec);
        var parameters = new float[layout.Count];
        Initializer.Initialize(layout, parameters, 2);
        var batch = new SequenceBatch(1, 5, 4, 0);
        batch.FillSingle(Enumerable.Range(0, 20).Select(i => 0.05f * i).ToArray());
        var network = new RecurrentNetwork(layout, parameters, null, 1, 5) { Threads = threads };
        var y = network.Forward(batch).ToArray();
        network.WeightPacks.Should().Be(panels, "each panel is packed once");
        var reference = new RecurrentNetwork(layout, parameters, null, 2, 5) { Threads = 1 };
        var two = new SequenceBatch(2, 5, 4, 0);
        var rows = new[] { Enumerable.Range(0, 20).Select(i => 0.05f * i).ToArray(), new float[20] };
        two.Fill(2, r => rows[r], null, perStepTargets: false);
        reference.Forward(two).ToArray().AsSpan(0, y.Length).ToArray().Should().Equal(y, "the row loop over the same sequence gives the same bits");
    }
}
