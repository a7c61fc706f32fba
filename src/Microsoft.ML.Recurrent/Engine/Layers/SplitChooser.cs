using System.Diagnostics;

namespace Microsoft.ML.Recurrent.Engine.Layers;

/// <summary>
/// Chooses, call by call, whether a batch-1 time loop that could be split between threads (every step handed over
/// between them) runs split or on the calling thread alone, by timing both: the first <see cref="ProbesPerWay"/> calls
/// of every window of <see cref="Window"/> calls split, the next <see cref="ProbesPerWay"/> run alone, and the rest of
/// the window runs the way whose median probe took less time per step. The split probes run back to back because a
/// split right after a pass alone finds the pool's worker asleep and pays its wake-up, which a run of splits does not
/// (measured: alternated probes chose one thread for an int8 LSTM with H = 256, where splitting is 1.8× faster); the
/// median drops that first probe, and one slowed by a neighbour or by the first pass's packing. Either way gives the same bits (the loops' arithmetic does not
/// depend on the partition), so the choice is only about time.
/// <para>
/// Why measured and not fixed: what a split saves is half the step's work, what it costs is one hand-over between two
/// cores per step, and that cost is a property of the machine and its neighbours. Measured on the same kind of 2-vCPU
/// VM in two sessions: the split of an LSTM with H = 128 gave 43.5 against 65.1 µs (int8) in one, and in another its
/// hand-over alone took 0.85 µs a step, as long as the step's work, so that one thread was as fast (float32) or faster
/// (int8: 64.5 against 88.5 µs) — docs/performance.md, "Batch-1 loop". Re-probing every window follows a machine
/// whose other core gets busy or free.
/// </para>
/// Not thread-safe: one per loop owner, used by one caller at a time (as the layer and workspace it belongs to).
/// </summary>
internal sealed class SplitChooser
{
    /// <summary>Probe calls each way at the start of every window.</summary>
    public const int ProbesPerWay = 5;

    /// <summary>Calls per window (probes included).</summary>
    public const int Window = 1024;

    private long _calls;
    private readonly List<double> _split = new(ProbesPerWay * 2), _alone = new(ProbesPerWay * 2); // per-step ticks of this window's probes
    private bool _preferSplit = true;

    /// <summary>Whether choosing is on (tests that need a split every time turn it off; then <see cref="Split"/> is always true).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// Benchmarks only: null (the default) lets every chooser choose; true or false makes every enabled chooser split, or
    /// run alone, on every call (recording nothing), so that both ways can be timed alternately in one process.
    /// </summary>
    internal static bool? Forced { get; set; }

    /// <summary>Whether the next call should split (when it can).</summary>
    public bool Split
    {
        get
        {
            if (!Enabled) return true;
            if (Forced is bool way) return way;
            long n = _calls % Window;
            return n < ProbesPerWay || (n >= 2 * ProbesPerWay && _preferSplit);
        }
    }

    /// <summary>The way the choice currently prefers outside the probes (true: split).</summary>
    public bool PrefersSplit => _preferSplit;

    /// <summary>
    /// Records a call that could have split: whether it did, how long it took (Stopwatch ticks) and over how many
    /// steps. A probe whose way differs from what <see cref="Split"/> asked (the pool was busy) counts for the way that ran.
    /// </summary>
    public void Record(bool split, long ticks, int steps)
    {
        if (!Enabled || Forced is not null) return;
        long n = _calls++ % Window;
        if (n >= 2 * ProbesPerWay || steps <= 0) return;
        double perStep = (double)ticks / steps;
        (split ? _split : _alone).Add(perStep);
        if (n == 2 * ProbesPerWay - 1)
        {
            // A way that never ran in this window (the pool was busy every time) keeps the old preference.
            if (_split.Count > 0 && _alone.Count > 0) _preferSplit = Median(_split) < Median(_alone);
            _split.Clear();
            _alone.Clear();
        }
    }

    private static double Median(List<double> values)
    {
        values.Sort();
        int n = values.Count;
        return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
    }

    /// <summary>Now, in Stopwatch ticks.</summary>
    public static long Now => Stopwatch.GetTimestamp();
}
