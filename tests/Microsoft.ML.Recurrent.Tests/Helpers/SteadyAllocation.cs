namespace Microsoft.ML.Recurrent.Tests.Helpers;

/// <summary>
/// Bytes the calling thread allocates in a steady state. The runtime can allocate once on a thread for itself (while it
/// recompiles a hot method at a higher tier, for example: one run of the split training step's test saw a single window
/// of 3,896 bytes that 400 later steps in a probe never repeated), so a steady state is a window of calls with no
/// allocation at all: up to <paramref name="windows"/> windows are measured, and the last one's count is returned
/// (0 as soon as one window allocates nothing; code that allocates on every call never returns 0).
/// </summary>
internal static class SteadyAllocation
{
    public static long Bytes(Action window, int windows = 3)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(windows, 1);
        long allocated = -1;
        for (int w = 0; w < windows && allocated != 0; w++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            window();
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        }

        return allocated;
    }
}
