using System.Text.Json;
using Microsoft.ML.Recurrent.Benchmarks;
using Microsoft.ML.Recurrent.Engine;

namespace Microsoft.ML.Recurrent.Tests.Benchmarks;

/// <summary>
/// One short run of the throughput runner (configs 5 and 2, tiny timing budget, peak given): its JSON rows carry the
/// batch-1 floor computed from the bandwidth and peak they report, and ORT's figures on outputs that agree with ours.
/// In the worker-pool collection because the runner sets <see cref="Engine.Kernels.Gemm.DefaultThreads"/> while it runs.
/// </summary>
[Collection(Helpers.WorkerPoolCollection.Name)]
public class ThroughputJsonTests
{
    [Fact]
    public void ThroughputJson_HasFloorAndOrtFields_Consistent()
    {
        string path = Path.Combine(Path.GetTempPath(), $"throughput-{Guid.NewGuid():N}.json");
        try
        {
            int rc = ThroughputRunner.Run(["--configs", "5,2", "--repeats", "1", "--min-time", "0.01", "--peak", "400", "--json", path]);
            rc.Should().Be(0);

            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var rows = doc.RootElement.EnumerateArray().ToDictionary(e => e.GetProperty("config").GetInt32());
            rows.Keys.Should().BeEquivalentTo([5, 2]);

            var b1 = rows[5];
            double bandwidth = b1.GetProperty("cache_bandwidth_gbs").GetDouble();
            bandwidth.Should().BePositive();
            b1.GetProperty("peak_gflops").GetDouble().Should().Be(400);
            b1.GetProperty("recurrent_weight_bytes").GetInt64().Should().Be(4 * 128 * 128 * 4);
            double expectedFloor = LatencyFloor.Compute(new NetworkSpec(CellKind.Lstm, 32, 128, 1, OutputSize: 1), 50, bandwidth, 400).FloorUs;
            // The JSON rounds the bandwidth to 0.1 GB/s (relative error ≤ 0.05 / bandwidth) and the floor to 0.01 µs.
            b1.GetProperty("latency_floor_us").GetDouble().Should().BeApproximately(expectedFloor, expectedFloor * 0.051 / bandwidth + 0.01);
            double latency = b1.GetProperty("latency_us").GetDouble();
            b1.GetProperty("latency_over_floor").GetDouble().Should().BeApproximately(latency / b1.GetProperty("latency_floor_us").GetDouble(), 0.01);
            foreach (string name in new[] { "gflops", "inference_gflops", "ort1_inference_seq_per_s", "ort2_inference_seq_per_s", "ort1_latency_us", "ort2_latency_us" })
                b1.GetProperty(name).GetDouble().Should().BePositive(name);
            b1.GetProperty("ort1_latency_us").GetDouble().Should().BeApproximately(1e6 / b1.GetProperty("ort1_inference_seq_per_s").GetDouble(), 0.1);

            var batch = rows[2];
            batch.GetProperty("latency_floor_us").ValueKind.Should().Be(JsonValueKind.Null, "the floor is a batch-1 figure");
            batch.GetProperty("ort1_latency_us").ValueKind.Should().Be(JsonValueKind.Null);
            batch.GetProperty("ort2_inference_seq_per_s").GetDouble().Should().BePositive();

            // The same network through ORT: the comparison is of the same computation.
            foreach (var row in rows.Values) row.GetProperty("ort_max_abs_diff").GetDouble().Should().BeLessThan(1e-5);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void ThroughputJson_PeakProbed_IsTheHighestProbeAndFloorsUseIt()
    {
        // Without --peak the runner probes the FMA peak at the start and after each configuration, and divides by the
        // highest probe: every row reports that one value, and the batch-1 floor is computed with it.
        string path = Path.Combine(Path.GetTempPath(), $"throughput-{Guid.NewGuid():N}.json");
        try
        {
            ThroughputRunner.Run(["--configs", "5,3", "--repeats", "1", "--min-time", "0.01", "--no-ort", "--json", path]).Should().Be(0);
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var rows = doc.RootElement.EnumerateArray().ToList();
            rows.Should().HaveCount(2);
            foreach (var row in rows)
            {
                var probes = row.GetProperty("peak_probes_gflops").EnumerateArray().Select(p => p.GetDouble()).ToList();
                probes.Should().HaveCount(3, "one probe at the start and one after each of the 2 configurations");
                probes.Should().OnlyContain(p => p > 0);
                row.GetProperty("peak_gflops").GetDouble().Should().Be(probes.Max());
                double fraction = row.GetProperty("gflops").GetDouble() / row.GetProperty("peak_gflops").GetDouble();
                fraction.Should().BeInRange(0, 1.5, "a fraction of the highest probe");
            }

            // One thread's peak probed beside the first (two threads, no --peak), and the warnings field always present.
            foreach (var row in rows)
            {
                if (Environment.ProcessorCount >= 2) row.GetProperty("peak_one_thread_gflops").GetDouble().Should().BePositive();
                row.GetProperty("peak_warnings").ValueKind.Should().Be(JsonValueKind.Array);
            }

            // Two threads (the runner's default, the machine's logical cores): a round trip probed before and after each row.
            foreach (var row in rows)
            {
                var trips = row.GetProperty("core_round_trip_ns").EnumerateArray().Select(p => p.GetDouble()).ToList();
                if (Environment.ProcessorCount >= 2) trips.Should().HaveCount(2).And.OnlyContain(ns => ns > 0 && double.IsFinite(ns));
                else trips.Should().BeEmpty("one logical core has no partner thread to probe");
            }

            var b1 = rows.Single(r => r.GetProperty("config").GetInt32() == 5);
            double peak = b1.GetProperty("peak_gflops").GetDouble(), bandwidth = b1.GetProperty("cache_bandwidth_gbs").GetDouble();
            double expectedFloor = LatencyFloor.Compute(new NetworkSpec(CellKind.Lstm, 32, 128, 1, OutputSize: 1), 50, bandwidth, peak).FloorUs;
            b1.GetProperty("latency_floor_us").GetDouble().Should().BeApproximately(expectedFloor, expectedFloor * 0.051 / bandwidth + 0.02);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void ThroughputJson_NoOrt_LeavesOrtFieldsNull()
    {
        string path = Path.Combine(Path.GetTempPath(), $"throughput-{Guid.NewGuid():N}.json");
        try
        {
            ThroughputRunner.Run(["--configs", "5", "--repeats", "1", "--min-time", "0.01", "--peak", "400", "--no-ort", "--json", path]).Should().Be(0);
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var row = doc.RootElement[0];
            row.GetProperty("ort1_inference_seq_per_s").ValueKind.Should().Be(JsonValueKind.Null);
            row.GetProperty("ort_max_abs_diff").ValueKind.Should().Be(JsonValueKind.Null);
            row.GetProperty("latency_floor_us").GetDouble().Should().BePositive();
            row.GetProperty("peak_probes_gflops").GetArrayLength().Should().Be(0, "--peak fixes the peak: nothing is probed");
            row.GetProperty("peak_one_thread_gflops").ValueKind.Should().Be(JsonValueKind.Null);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void ThroughputJson_OneThread_ProbesNoRoundTrip()
    {
        string path = Path.Combine(Path.GetTempPath(), $"throughput-{Guid.NewGuid():N}.json");
        try
        {
            ThroughputRunner.Run(["--configs", "5", "--repeats", "1", "--min-time", "0.01", "--peak", "400", "--no-ort", "--threads", "1", "--json", path]).Should().Be(0);
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            doc.RootElement[0].GetProperty("core_round_trip_ns").GetArrayLength().Should().Be(0, "one thread hands nothing between cores");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void RoundTripProbe_TimesTheWholeExchange()
    {
        // A partner that holds each answer for 20 µs: every round trip takes at least that, so the probe must read at
        // least that (it would read less if it timed only its own side, or divided by the wrong count).
        FluentActions.Invoking(() => PeakProbe.MeasureRoundTripNs(roundTrips: 1)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("roundTrips");
        long delay = System.Diagnostics.Stopwatch.Frequency / 50_000;
        double? delayed = PeakProbe.MeasureRoundTripNs(roundTrips: 200, tries: 3, partnerDelayTicks: delay);
        double? plain = PeakProbe.MeasureRoundTripNs(roundTrips: 2_000, tries: 3);
        if (Environment.ProcessorCount < 2)
        {
            delayed.Should().BeNull();
            return;
        }

        delayed!.Value.Should().BeGreaterThanOrEqualTo(20_000);
        plain!.Value.Should().BePositive();
    }

    [Fact]
    public void PeakWarnings_NameAChangedMachineAndThreadsWithoutACoreEach()
    {
        ThroughputRunner.PeakWarnings([462, 455, 470], onePeak: 232, threads: 2).Should().BeEmpty("two cores, steady");

        var changed = ThroughputRunner.PeakWarnings([228.5, 446.8, 446.4], onePeak: 230, threads: 2);
        changed.Should().ContainSingle().Which.Should().Contain("range from 228 to 447 GFLOP/s (2.0×)");

        var shared = ThroughputRunner.PeakWarnings([234.5, 232.8], onePeak: 231, threads: 2);
        shared.Should().ContainSingle().Which.Should().Contain("2 threads reached only 1.02× one thread's FMA peak (231 GFLOP/s)");

        ThroughputRunner.PeakWarnings([234.5], onePeak: null, threads: 2).Should().BeEmpty("no one-thread probe (--peak), one probe");
        ThroughputRunner.PeakWarnings([230], onePeak: 230, threads: 1).Should().BeEmpty("one thread is compared with nothing");
    }
}
