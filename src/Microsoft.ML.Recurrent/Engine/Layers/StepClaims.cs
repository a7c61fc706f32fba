using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace Microsoft.ML.Recurrent.Engine.Layers;

/// <summary>
/// Who runs which part of which step of a time loop shared by a few threads. Every part of step s depends
/// on every part of step s − 1 (the next mat-vec reads the whole hidden state), and nothing else. Each
/// thread has a home part that it claims first at every step (so it keeps multiplying by the same slice
/// of the weights, hot in its own cache); then it waits for the other parts of the step, spinning on
/// their "finished" counters (pause, then yielding the core). A part still unclaimed after a short grace
/// period belongs to a thread that is late (not woken yet, or descheduled on a busy machine): the waiting
/// thread claims and runs it itself. Which thread runs a part never changes its arithmetic. Counters are
/// per part and monotonic (steps claimed / finished), each in its own cache line; a waiting thread spins on
/// the partners' "finished" lines and reads their "claimed" lines only now and then, so a punctual partner's
/// claim stays local and a step costs one cache-line hand-over per partner and no kernel call.
/// <para>
/// Whoever runs a part of a step also runs that part's work ahead (<see cref="IStepOp.Ahead"/>: the next step's input
/// projection, which needs no partner), after publishing the part finished and before waiting for the partners, so that
/// work fills the hand-over's wait instead of lengthening the next step. The next step of the part starts only once its
/// work ahead is done, whichever thread did it.
/// </para>
/// </summary>
internal sealed class StepClaims
{
    // Longs per part: its "claimed" counter at [q·Stride], its "ahead" counter at [q·Stride + AheadAt] and its "finished"
    // counter at [q·Stride + FinishedAt], each in a line of its own, so a waiting thread spinning on a partner's "finished"
    // line leaves the lines the partner claims its next step on in the partner's cache (the claim stays a local
    // compare-exchange instead of a transfer between cores).
    private const int Stride = 32;
    private const int AheadAt = 8;
    private const int FinishedAt = 16;
    private const int PauseSpins = 8192;    // pause iterations before a waiting thread starts yielding its core
    private const int ClaimCheckSpins = 16; // a waiting thread looks at a partner's claim (for a take-over) only every so many spins

    /// <summary>A part unclaimed this long after its thread could have claimed it is taken over.</summary>
    private static readonly long GraceTicks = Math.Max(1, Stopwatch.Frequency / 500_000); // 2 µs

    private long[] _slots = new long[2 * Stride]; // [q·Stride]: steps claimed by part q; + AheadAt: steps whose work ahead is done; + FinishedAt: steps finished
    private int _parts;
    private volatile bool _aborted;

    public bool Aborted => _aborted;

    /// <summary>Prepares a loop of <paramref name="parts"/> parts (called before the threads start).</summary>
    public void Reset(int parts)
    {
        if (_slots.Length < parts * Stride) _slots = new long[parts * Stride];
        Array.Clear(_slots, 0, parts * Stride);
        _parts = parts;
        _aborted = false;
    }

    /// <summary>Makes every waiting thread give up (a part failed).</summary>
    public void Abort() => _aborted = true;

    /// <summary>Claims part <paramref name="part"/> of step <paramref name="step"/>; false if someone else has.</summary>
    private bool TryClaim(int part, long step) => Interlocked.CompareExchange(ref _slots[part * Stride], step + 1, step) == step;

    /// <summary>Publishes that the claimed part is done (its writes become visible to whoever sees the count).</summary>
    private void Finish(int part, long step) => Volatile.Write(ref _slots[part * Stride + FinishedAt], step + 1);

    /// <summary>
    /// Runs a claimed part: without work ahead (a constant of the op type, so the JIT keeps one branch), the step and its
    /// "finished" count; with it, first waits for the work ahead of the part's previous step (another thread's when that
    /// step was taken over, or when this part is), runs the step, publishes it finished, then runs and publishes its work
    /// ahead. False if the loop was aborted while waiting.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool RunClaimed<TOp>(int part, long step, ref TOp op) where TOp : struct, IStepOp
    {
        if (!TOp.HasWorkAhead)
        {
            op.Run(part, step);
            Finish(part, step);
            return true;
        }

        return RunClaimedWithWorkAhead(part, step, ref op);
    }

    /// <summary>The form of <see cref="RunClaimed{TOp}"/> for ops with work ahead.</summary>
    private bool RunClaimedWithWorkAhead<TOp>(int part, long step, ref TOp op) where TOp : struct, IStepOp
    {
        ref long ahead = ref _slots[part * Stride + AheadAt];
        int spins = 0;
        while (Volatile.Read(ref ahead) < step)
        {
            if (_aborted) return false;
            Spin(ref spins);
        }

        op.Run(part, step);
        Finish(part, step);
        op.Ahead(part, step);
        Volatile.Write(ref ahead, step + 1);
        return true;
    }

    /// <summary>
    /// Runs step <paramref name="step"/> from thread <paramref name="home"/>'s side: its own part if still free,
    /// then waits until every part of the step has finished (whoever runs it), taking over any that stays
    /// unclaimed past the grace period. On return the whole step is done. Returns false if the loop was aborted.
    /// </summary>
    public bool RunStep<TOp>(int home, long step, ref TOp op) where TOp : struct, IStepOp
    {
        if (TryClaim(home, step) && !RunClaimed(home, step, ref op)) return false;

        // Every part, the home part included: another thread may have taken it over and still be running it.
        for (int k = 0; k < _parts; k++)
        {
            int q = (home + k) % _parts;
            long unclaimedSince = 0;
            int spins = 0;
            while (Volatile.Read(ref _slots[q * Stride + FinishedAt]) <= step)
            {
                if (_aborted) return false;
                if (spins % ClaimCheckSpins == ClaimCheckSpins - 1 && Volatile.Read(ref _slots[q * Stride]) <= step)
                {
                    long now = Stopwatch.GetTimestamp();
                    if (unclaimedSince == 0) unclaimedSince = now;
                    else if (now - unclaimedSince > GraceTicks && TryClaim(q, step))
                    {
                        if (!RunClaimed(q, step, ref op)) return false;
                        break;
                    }
                }

                Spin(ref spins);
            }
        }

        return !_aborted;
    }

    /// <summary>One turn of a wait: a pause for the first <see cref="PauseSpins"/> turns, then yielding the core.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Spin(ref int spins)
    {
        if (++spins < PauseSpins)
        {
            if (X86Base.IsSupported) X86Base.Pause();
            else Thread.SpinWait(1);
        }
        else
        {
            Thread.Yield();
        }
    }
}

/// <summary>Part <c>part</c> of step <c>step</c> of a loop driven by <see cref="StepClaims"/>.</summary>
internal interface IStepOp
{
    /// <summary>Whether <see cref="Ahead"/> does anything (false: the loop keeps no count of it; a constant per op type).</summary>
    static abstract bool HasWorkAhead { get; }

    /// <summary>The part's share of the step (reads every part of the previous step).</summary>
    void Run(int part, long step);

    /// <summary>
    /// Work of the part for its next step that reads nothing the partners write (the next input's projection), run by
    /// whoever ran <see cref="Run"/> for this part and step, after the step was published finished; the part's next step
    /// starts after it.
    /// </summary>
    void Ahead(int part, long step);
}
