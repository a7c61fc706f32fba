using System.Text.Json;
using Microsoft.ML.Recurrent.Benchmarks;
using Microsoft.ML.Recurrent.Engine;

namespace Microsoft.ML.Recurrent.Tests.Benchmarks;

/// <summary>The batch-1 roofline floor the throughput runner reports, from known roofs, and the comparison table's columns.</summary>
public class LatencyFloorTests
{
    [Fact]
    public void Floor_Lstm128_IsWeightsOverBandwidthPlusInputProjectionOverPeak()
    {
        var spec = new NetworkSpec(CellKind.Lstm, 32, 128, 1, OutputSize: 1);

        var f = LatencyFloor.Compute(spec, length: 50, cacheBandwidthGbs: 100, peakGflops: 100);

        f.RecurrentWeightBytes.Should().Be(4 * 128 * 128 * 4);            // W_hh: G·H × H floats
        f.WeightsStreamedBytes.Should().Be(50.0 * 262_144);               // read once per step
        f.InputProjectionFlops.Should().Be(2.0 * 4 * 128 * 32 * 50);       // 1 638 400, one product over all steps
        f.FloorUs.Should().BeApproximately(131.072 + 16.384, 1e-9);        // 13 107 200 B at 100 GB/s + 1 638 400 flops at 100 GFLOP/s
    }

    [Fact]
    public void Floor_BidirectionalTwoLayerGru_CountsEveryLayerAndDirection()
    {
        var spec = new NetworkSpec(CellKind.Gru, 3, 16, 2, Bidirectional: true, OutputSize: 1);

        var f = LatencyFloor.Compute(spec, length: 10, cacheBandwidthGbs: 1, peakGflops: 2);

        f.RecurrentWeightBytes.Should().Be(3 * 16 * 16 * 4 * 2 * 2);      // 12 288
        // Layer 0 reads 3 inputs, layer 1 reads forward ‖ reverse = 32; both directions.
        f.InputProjectionFlops.Should().Be(2.0 * 3 * 16 * 3 * 10 * 2 + 2.0 * 3 * 16 * 32 * 10 * 2);
        f.FloorUs.Should().BeApproximately(122_880 / 1e9 * 1e6 + 67_200 / 2e9 * 1e6, 1e-9);
    }

    [Fact]
    public void Floor_RejectsNonPositiveRoofs()
    {
        var spec = new NetworkSpec(CellKind.Lstm, 2, 4, 1, OutputSize: 1);
        var zeroBandwidth = () => LatencyFloor.Compute(spec, 5, 0, 100);
        var nanPeak = () => LatencyFloor.Compute(spec, 5, 100, double.NaN);
        zeroBandwidth.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("cacheBandwidthGbs");
        nanPeak.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("peakGflops");
    }

    [Theory]
    [InlineData(128, 2, 2)]   // 65 536 weights: 8 parts by work, 2 threads
    [InlineData(128, 16, 4)]  // at most 4 parts
    [InlineData(32, 2, 1)]    // 4 096 weights < 8 192: one thread
    [InlineData(64, 2, 2)]    // 16 384 weights: 2 parts
    public void BatchOneThreads_FollowsTheEnginesUnitSplitRule(int hidden, int threads, int expected)
    {
        var spec = new NetworkSpec(CellKind.Lstm, 8, hidden, 1, OutputSize: 1);
        LatencyFloor.BatchOneThreads(spec, threads, unitSplitMinWeights: 8_192).Should().Be(expected);
    }

    [Fact]
    public void CompareTable_TakesMediansAndPutsFloorAndOrtRatiosOnTheRow()
    {
        static JsonElement Row(double inference, double latency, double floor, double ort1, double ort2, string trips) => JsonDocument.Parse(
            $$"""
            {"config":5,"cell":"Lstm","batch":1,"length":50,"input":32,"hidden":128,"layers":1,"training_seq_per_s":1000,"core_round_trip_ns":[{{trips}}],
             "inference_seq_per_s":{{inference}},"latency_us":{{latency}},"gflops":50,"peak_gflops":400,"latency_floor_us":{{floor}},
             "ort1_inference_seq_per_s":{{ort1}},"ort2_inference_seq_per_s":{{ort2}},"ort1_latency_us":{{1e6 / ort1}},"ort2_latency_us":{{1e6 / ort2}}}
            """).RootElement.Clone();
        var ours = new Dictionary<int, List<JsonElement>>
        {
            [5] = [Row(10_000, 100, 50, 5_000, 2_000, "104.2, 131"), Row(8_000, 125, 40, 4_000, 1_000, "612.4, 540"), Row(12_000, 80, 60, 6_000, 3_000, "")],
        };
        var torch = new Dictionary<int, List<JsonElement>>
        {
            [5] = [JsonDocument.Parse("""{"config":5,"latency_us":250}""").RootElement.Clone()],
        };

        var lines = CompareRunner.Table(ours, torch, markdown: true).ToList();

        lines.Should().HaveCount(3);
        static string[] Cells(string line) => line.TrimEnd(' ', '|').Split(" | "); // the last cell without the closing " |"
        string[] head = Cells(lines[0]);
        string[] row = Cells(lines[2]);
        string Cell(string name) => row[Array.IndexOf(head, name)];
        Cell("latency µs").Should().Be("100.0");          // median of 80, 100, 125
        Cell("libtorch µs").Should().Be("250.0");
        Cell("floor µs").Should().Be("50.0");
        Cell("latency / floor").Should().Be("2.00×");     // 100 / 50
        Cell("ORT1 seq/s").Should().Be("5000");
        Cell("ours/ORT1").Should().Be("2.00×");           // 10 000 / 5 000
        Cell("ours/ORT2").Should().Be("5.00×");           // 10 000 / 2 000
        Cell("ORT1 µs").Should().Be("200.0");
        Cell("round trip ns").Should().Be("104–612");     // lowest and highest probe of any run; the third run has none

        var noTrips = new Dictionary<int, List<JsonElement>> { [5] = [Row(10_000, 100, 50, 5_000, 2_000, "")] };
        string[] bare = Cells(CompareRunner.Table(noTrips, torch, markdown: true).ToList()[2]);
        bare[Array.IndexOf(head, "round trip ns")].Should().Be("—");
    }
}
