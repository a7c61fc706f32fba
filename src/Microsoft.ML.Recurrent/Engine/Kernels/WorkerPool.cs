using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace Microsoft.ML.Recurrent.Engine.Kernels;

/// <summary>A unit of work (a GEMM, or one time loop of a recurrent layer) cut into chunks that write disjoint outputs.</summary>
internal abstract class PoolJob
{
    public abstract void Execute(int chunk, int chunks);
}

/// <summary>
/// The engine's pool of dedicated background threads: large products and the time loops of recurrent layers. One job runs at a time; a caller
/// that finds the pool busy runs its product alone (no C element depends on the split, so the bits are
/// the same). A job is cut into more chunks than threads; participant r (the caller is 0) owns the
/// r-th contiguous share of chunks and claims them first, so with punctual workers every thread gets
/// the same rows of C (and of the weights) at every call and keeps them in its own cache; then it
/// steals the other shares' unclaimed chunks. A worker that is late (asleep, or descheduled on a busy
/// machine) simply gets fewer chunks, and the caller only ever waits for chunks already being computed.
/// Workers spin (pause, no yield) for a short while after a job, since per-step products arrive every
/// few microseconds in a training loop, then sleep. Nothing is allocated per job.
/// </summary>
internal static class WorkerPool
{
    /// <summary>Largest number of threads (caller included) a job may use.</summary>
    public const int MaxThreads = 64;

    /// <summary>How long an idle worker, or the caller waiting for the last chunks, spins before sleeping.</summary>
    private static readonly long SpinTicks = Stopwatch.Frequency / 5_000; // 200 µs

    private static readonly object s_gate = new();
    private static readonly ManualResetEventSlim s_done = CreateDoneEvent();
    private static Worker[] s_workers = [];

    // Per share r (padded to a cache line each): (generation << 32) | next unclaimed chunk of the share.
    // s_generation is bumped after the shares are reset, publishing a new job.
    private const int Pad = 8;
    private static readonly long[] s_next = new long[MaxThreads * Pad];
    private static int s_generation;
    private static PoolJob? s_job;
    private static int s_chunks;
    private static (int Width, int Fma, int Registers) s_laneOverrides; // the caller's Lanes overrides, published with the job
    private static int s_threads;
    private static int s_completed;
    private static int s_callerSleeping;
    private static ExceptionDispatchInfo? s_failure;

    /// <summary>
    /// Takes the pool for one job, or returns false at once when another caller holds it. The job object
    /// may be filled in only after this succeeds; <see cref="Release"/> in a finally block.
    /// </summary>
    public static bool TryAcquire() => !Monitor.IsEntered(s_gate) && Monitor.TryEnter(s_gate);

    public static void Release()
    {
        s_job = null;
        Monitor.Exit(s_gate);
    }

    /// <summary>True while the calling thread holds the pool (e.g. a product nested inside a pooled job).</summary>
    public static bool IsHeldByCurrentThread => Monitor.IsEntered(s_gate);

    /// <summary>
    /// Runs parts 0 … parts−1 of <paramref name="job"/> as one chunk each, shared between the calling thread and up
    /// to parts−1 workers (a late worker's part is taken by another thread, so a part may run after another on the
    /// same thread). Returns false, having run nothing, when the pool is busy.
    /// </summary>
    public static bool TryRun(PoolJob job, int parts)
    {
        if (!TryAcquire()) return false;
        try
        {
            Run(job, parts, parts);
            return true;
        }
        finally
        {
            Release();
        }
    }

    /// <summary>
    /// Runs chunks 0 … chunks−1 of <paramref name="job"/> on the calling thread and up to threads−1 workers.
    /// The pool must be held (<see cref="TryAcquire"/>).
    /// </summary>
    public static void Run(PoolJob job, int threads, int chunks)
    {
        if (!Monitor.IsEntered(s_gate)) throw new InvalidOperationException("The GEMM pool is not held by this thread.");
        EnsureWorkers(threads - 1);
        int generation = s_generation + 1;

        // Move every share to the new generation BEFORE the job's fields change. A worker may still be leaving the last
        // job: it read a share's old state, then reads s_job and s_chunks, and claims with a compare-exchange on that
        // state. Had the fields changed first, that claim could succeed on a share not yet reset and run a chunk of the
        // new job twice, one completion too many (a caller waiting for exactly `chunks` completions then waited forever:
        // seen as a hang of the test run, reproduced by WorkerPoolTests). Shares the last job had and this one has not
        // are closed as well (no chunk claimable).
        int shares = Math.Max(threads, s_threads);
        for (int r = 0; r < shares; r++)
        {
            int start = r < threads ? ShareStart(r, threads, chunks) : chunks;
            Volatile.Write(ref s_next[r * Pad], ((long)generation << 32) | (uint)start);
        }

        Interlocked.MemoryBarrier(); // the shares are visible before the fields below
        s_job = job;
        s_laneOverrides = Lanes.Overrides;
        s_chunks = chunks;
        s_threads = threads;
        s_failure = null;
        Volatile.Write(ref s_completed, 0);
        Interlocked.Exchange(ref s_generation, generation); // publishes the fields above
        for (int w = 0; w < threads - 1; w++) s_workers[w].Wake();

        Participate(generation, 0);
        WaitForCompletion(chunks);
        s_failure?.Throw();
    }

    private static int CurrentGeneration => Volatile.Read(ref s_generation);

    private static int ShareStart(int rank, int threads, int chunks) => (int)((long)chunks * rank / threads);

    /// <summary>Claims and runs chunks of generation <paramref name="generation"/>: its own share, then the others'.</summary>
    /// <param name="generation">The job's generation.</param>
    /// <param name="rank">0 for the caller, 1 + index for a worker; only ranks below the job's thread count take part.</param>
    private static void Participate(int generation, int rank)
    {
        int threads = s_threads;
        if (rank >= threads) return;
        if (rank > 0) Lanes.Apply(s_laneOverrides); // a worker runs the kernels its caller forced (tests), not its defaults
        for (int i = 0; i < threads; i++)
        {
            int share = rank + i < threads ? rank + i : rank + i - threads;
            while (true)
            {
                ref long next = ref s_next[share * Pad];
                long state = Volatile.Read(ref next);
                if ((int)(state >> 32) != generation) return; // a newer job: this one is long finished
                var job = s_job;
                int chunks = s_chunks;
                int chunk = (int)state;
                if (job is null || chunk >= ShareStart(share + 1, threads, chunks)) break;

                // The claim succeeds only if no one moved the counter since it was read, so job, chunks and
                // threads (read after a state of this generation) belong to this job: the next job is
                // published only after every chunk of this one has been claimed and completed.
                if (Interlocked.CompareExchange(ref next, state + 1, state) != state) continue;
                try
                {
                    job.Execute(chunk, chunks);
                }
                catch (Exception e)
                {
                    s_failure = ExceptionDispatchInfo.Capture(e);
                }

                if (Interlocked.Increment(ref s_completed) == chunks && Volatile.Read(ref s_callerSleeping) == 1)
                {
                    s_done.Set();
                }
            }
        }
    }

    private static void WaitForCompletion(int chunks)
    {
        long start = Stopwatch.GetTimestamp();
        while (Volatile.Read(ref s_completed) != chunks)
        {
            if (Stopwatch.GetTimestamp() - start < SpinTicks)
            {
                Thread.SpinWait(16);
                continue;
            }

            Volatile.Write(ref s_callerSleeping, 1);
            Interlocked.MemoryBarrier();
            if (Volatile.Read(ref s_completed) != chunks) s_done.Wait();
            s_done.Reset();
            Volatile.Write(ref s_callerSleeping, 0);
        }
    }

    /// <summary>
    /// The caller's completion event, with its lock object created up front: ManualResetEventSlim creates it on the
    /// first blocking wait, which would otherwise be an allocation inside some later steady-state call.
    /// </summary>
    private static ManualResetEventSlim CreateDoneEvent()
    {
        var done = new ManualResetEventSlim(false, 0);
        done.Wait(1);
        return done;
    }

    private static void EnsureWorkers(int count)
    {
        if (s_workers.Length >= count) return;
        var workers = new Worker[count];
        Array.Copy(s_workers, workers, s_workers.Length);
        for (int w = s_workers.Length; w < count; w++) workers[w] = new Worker(w, CurrentGeneration);
        s_workers = workers;
    }

    private sealed class Worker
    {
        private readonly ManualResetEventSlim _wake = new(false, 0);
        private readonly int _rank;
        private int _sleeping;
        private int _seen;

        public Worker(int index, int generation)
        {
            _rank = index + 1;
            _seen = generation;
            var thread = new Thread(Loop) { IsBackground = true, Name = $"Gemm worker {index + 1}" };
            thread.Start();
        }

        /// <summary>Called after a new generation is published.</summary>
        public void Wake()
        {
            Interlocked.MemoryBarrier();
            if (Volatile.Read(ref _sleeping) == 1) _wake.Set();
        }

        private void Loop()
        {
            while (true)
            {
                int generation = WaitForWork();
                _seen = generation;
                Participate(generation, _rank);
            }
        }

        private int WaitForWork()
        {
            long start = Stopwatch.GetTimestamp();
            while (true)
            {
                int generation = CurrentGeneration;
                if (generation != _seen) return generation;
                if (Stopwatch.GetTimestamp() - start < SpinTicks)
                {
                    Thread.SpinWait(16);
                    continue;
                }

                // Sleep; the re-check after raising the flag pairs with Wake's barrier (no lost wake-up).
                Volatile.Write(ref _sleeping, 1);
                Interlocked.MemoryBarrier();
                if (CurrentGeneration == _seen) _wake.Wait();
                _wake.Reset();
                Volatile.Write(ref _sleeping, 0);
                start = Stopwatch.GetTimestamp();
            }
        }
    }
}
