using Microsoft.ML.Recurrent.Engine.Kernels;

namespace Microsoft.ML.Recurrent.Tests.Engine;

/// <summary>The worker pool runs every chunk of every job exactly once, whatever the chunk counts of consecutive jobs.</summary>
[Collection(Microsoft.ML.Recurrent.Tests.Helpers.WorkerPoolCollection.Name)]
public class WorkerPoolTests
{
    /// <summary>Counts how many times each chunk ran and spins a little in each, so that workers stay busy across jobs.</summary>
    private sealed class CountingJob(int maxChunks) : PoolJob
    {
        public readonly int[] Runs = new int[maxChunks];

        public override void Execute(int chunk, int chunks)
        {
            Interlocked.Increment(ref Runs[chunk]);
            Thread.SpinWait(50);
        }
    }

    [Fact]
    public async Task Run_JobsOfTwoThenEightChunks_EveryChunkOnceAndEveryJobCompletes()
    {
        // Jobs of 2 and 8 chunks alternate on 2 threads. A worker still leaving the last job (it has read a share's
        // state and not yet claimed) must not claim a chunk of the next job through the old state: that ran a chunk
        // twice and counted one completion too many, and a caller waiting for exactly the job's count could wait
        // forever (seen once as a hang of the whole test run).
        var jobs = new[] { new CountingJob(2), new CountingJob(8) };
        var failures = new List<string>();
        var runner = Task.Run(() =>
        {
            for (int round = 0; round < 100_000 && failures.Count == 0; round++)
            {
                var job = jobs[round % 2];
                int chunks = job.Runs.Length;
                Array.Clear(job.Runs);
                if (!WorkerPool.TryAcquire()) { Thread.Sleep(1); continue; } // another test's product holds the pool
                try
                {
                    WorkerPool.Run(job, threads: 2, chunks);
                }
                finally
                {
                    WorkerPool.Release();
                }

                for (int c = 0; c < chunks; c++)
                {
                    if (job.Runs[c] != 1) failures.Add($"round {round}: chunk {c} of {chunks} ran {job.Runs[c]} times");
                }
            }
        });

        (await Task.WhenAny(runner, Task.Delay(TimeSpan.FromMinutes(1)))).Should().BeSameAs(runner, "every job must complete");
        failures.Should().BeEmpty();
    }
}
