using System.Runtime.ExceptionServices;

namespace Microsoft.ML.Recurrent.Engine.Kernels;

/// <summary>A unit of GEMM work split into parts that write disjoint parts of C.</summary>
internal abstract class GemmJob
{
    public abstract void Execute(int part, int parts);
}

/// <summary>
/// A small pool of dedicated background threads for large products. One job runs at a time: a caller
/// that finds the pool busy (another thread's product) runs its product alone, which gives the same
/// bits because no C element depends on the split. Workers spin briefly between jobs, since per-step
/// products arrive every few microseconds in a training loop, then sleep. Nothing is allocated per job.
/// </summary>
internal static class GemmWorkers
{
    /// <summary>Spin iterations a worker or the waiting caller tries before blocking.</summary>
    private const int SpinCount = 2047;

    private static readonly object s_gate = new();
    private static readonly ManualResetEventSlim s_done = new(false, SpinCount);
    private static Worker[] s_workers = [];
    private static int s_remaining;
    private static ExceptionDispatchInfo? s_failure;

    /// <summary>Largest number of threads (caller included) a job may use.</summary>
    public const int MaxThreads = 64;

    /// <summary>
    /// Runs parts 0 … parts−1 of <paramref name="job"/>, part 0 on the calling thread.
    /// Returns false, having run nothing, when the pool is busy with another caller's job.
    /// </summary>
    public static bool TryRun(GemmJob job, int parts)
    {
        if (!Monitor.TryEnter(s_gate)) return false;
        try
        {
            EnsureWorkers(parts - 1);
            s_failure = null;
            s_done.Reset();
            Volatile.Write(ref s_remaining, parts - 1);
            for (int w = 0; w < parts - 1; w++) s_workers[w].Start(job, w + 1, parts);

            job.Execute(0, parts);

            var spin = default(SpinWait);
            while (Volatile.Read(ref s_remaining) != 0)
            {
                if (spin.Count >= 200)
                {
                    s_done.Wait();
                    break;
                }

                spin.SpinOnce(sleep1Threshold: -1);
            }

            s_failure?.Throw();
            return true;
        }
        finally
        {
            Monitor.Exit(s_gate);
        }
    }

    /// <summary>True while the calling thread is running a pooled job (e.g. a nested product).</summary>
    public static bool IsHeldByCurrentThread => Monitor.IsEntered(s_gate);

    private static void EnsureWorkers(int count)
    {
        if (s_workers.Length >= count) return;
        var workers = new Worker[count];
        Array.Copy(s_workers, workers, s_workers.Length);
        for (int w = s_workers.Length; w < count; w++) workers[w] = new Worker(w);
        s_workers = workers;
    }

    private static void Finish()
    {
        if (Interlocked.Decrement(ref s_remaining) == 0) s_done.Set();
    }

    private sealed class Worker
    {
        private readonly ManualResetEventSlim _go = new(false, SpinCount);
        private GemmJob? _job;
        private int _part, _parts;

        public Worker(int index)
        {
            var thread = new Thread(Loop) { IsBackground = true, Name = $"Gemm worker {index + 1}" };
            thread.Start();
        }

        public void Start(GemmJob job, int part, int parts)
        {
            _job = job;
            _part = part;
            _parts = parts;
            _go.Set();
        }

        private void Loop()
        {
            while (true)
            {
                _go.Wait();
                _go.Reset();
                try
                {
                    _job!.Execute(_part, _parts);
                }
                catch (Exception e)
                {
                    s_failure = ExceptionDispatchInfo.Capture(e);
                }
                finally
                {
                    _job = null;
                    Finish();
                }
            }
        }
    }
}
