using System.Diagnostics;

namespace Microsoft.ML.Recurrent.Engine.Layers;

/// <summary>
/// Chooses, call by call, whether a batch-1 time loop that could be split between threads (every step handed over
/// between them) runs split or on the calling thread alone, by timing both: the first <see cref="ProbesPerWay"/> calls
/// of every window split, the next <see cref="ProbesPerWay"/> run alone, and the rest of the window runs the way whose
/// median probe took less time per step. Windows are <see cref="MinWindow"/> calls long at first and after every change
/// of mind, and double (up to <see cref="MaxWindow"/>) each time the probes confirm the way already preferred: a choice
/// made on unlucky probes (a neighbour on the other core, a thread still asleep) is revisited after
/// <see cref="MinWindow"/> calls, not after a thousand, while a settled choice probes rarely. Measured (issue 8, thirteenth
/// session, Zen 3): the throughput runner's config 5 read 213.9 µs in one of three runs, the time of one thread, where
/// the split ran 115–122 µs in the other two; with fixed 1,024-call windows such a choice held for the whole measurement.
/// The split probes run back to back because a split right after a pass alone finds the pool's worker asleep and pays
/// its wake-up, which a run of splits does not (measured: alternated probes chose one thread for an int8 LSTM with
/// H = 256, where splitting is 1.8× faster); the median drops that first probe, and one slowed by a neighbour or by the
/// first pass's packing. Either way gives the same bits (the loops' arithmetic does not depend on the partition), so the
/// choice is only about time.
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

    /// <summary>Calls of the first window, and of the window after a change of mind (probes included).</summary>
    public const int MinWindow = 64;

    /// <summary>Calls of a window once the probes have confirmed the same way in a row (64, 128, … up to this).</summary>
    public const int MaxWindow = 1024;

    private long _calls;       // calls recorded since the current window began
    private int _window = MinWindow;
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
            long n = _calls;
            return n < ProbesPerWay || (n >= 2 * ProbesPerWay && _preferSplit);
        }
    }

    /// <summary>The way the choice currently prefers outside the probes (true: split).</summary>
    public bool PrefersSplit => _preferSplit;

    /// <summary>Calls of the current window (<see cref="MinWindow"/> … <see cref="MaxWindow"/>).</summary>
    public int Window => _window;

    /// <summary>
    /// Records a call that could have split: whether it did, how long it took (Stopwatch ticks) and over how many
    /// steps. A probe whose way differs from what <see cref="Split"/> asked (the pool was busy) counts for the way that ran.
    /// </summary>
    public void Record(bool split, long ticks, int steps)
    {
        if (!Enabled || Forced is not null) return;
        long n = _calls++;
        if (_calls == _window) _calls = 0; // the next call starts a window (of the length decided at this one's probes)
        if (n >= 2 * ProbesPerWay || steps <= 0) return;
        double perStep = (double)ticks / steps;
        (split ? _split : _alone).Add(perStep);
        if (n == 2 * ProbesPerWay - 1)
        {
            // A way that never ran in this window (the pool was busy every time) keeps the old preference and the window.
            if (_split.Count > 0 && _alone.Count > 0)
            {
                bool prefer = Median(_split) < Median(_alone);
                _window = prefer == _preferSplit ? Math.Min(2 * _window, MaxWindow) : MinWindow;
                _preferSplit = prefer;
            }

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
