using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Microsoft.ML.Recurrent.Engine.Kernels;

namespace Microsoft.ML.Recurrent.Benchmarks;

/// <summary>
/// Measures this machine's fp32 FMA peak instead of assuming a clock: each of N threads runs independent
/// fused multiply–add chains on registers (enough chains to cover the FMA latency on every pipe) for a
/// fixed time, all threads at once; the figure is the best of a few tries of total FLOPs over wall time.
/// The widest accelerated vector is used (on AVX-512 machines both 512 and 256 bits are tried and the
/// higher kept: Zen 4 splits 512-bit FMAs in two, Intel server cores may have a second 512-bit port; 128 bits where
/// nothing wider is accelerated, as on ARM64).
/// <para>
/// <see cref="MeasureReadBandwidthGbs"/> measures the other roof a batch-1 forward pass meets: how fast the threads
/// can stream a buffer of a given size that is already hot in their caches (the recurrent weights, read once per
/// step).
/// </para>
/// <para>
/// <see cref="MeasureRoundTripNs"/> measures what every split loop pays to hand data between its threads: the time for a
/// cache line to go from one thread to another and back. It depends on where the two threads' cores sit (on a shared
/// VM, where the host puts its vCPUs, which can change from one minute to the next).
/// </para>
/// </summary>
internal static unsafe class PeakProbe
{
    private const int ChainsPerIteration = 12;

    /// <summary>GFLOP/s of <paramref name="threads"/> threads running FMAs together.</summary>
    public static double MeasureGflops(int threads, double seconds = 0.15, int tries = 3)
    {
        double best = 0;
        for (int t = 0; t < tries; t++)
        {
            if (Vector512.IsHardwareAccelerated) best = Math.Max(best, Run(threads, seconds, Fma512, 16));
            if (Vector256.IsHardwareAccelerated) best = Math.Max(best, Run(threads, seconds, Fma256, 8));
            else if (Vector128.IsHardwareAccelerated) best = Math.Max(best, Run(threads, seconds, Fma128, 4)); // ARM64
        }

        return best;
    }

    private static double Run(int threads, double seconds, Func<long, float, float> kernel, int lanes)
    {
        const long iterations = 1 << 16;
        long ticks = (long)(seconds * Stopwatch.Frequency);
        var flops = new double[threads];
        using var start = new Barrier(threads + 1);
        var workers = new Thread[threads];
        float sink = 0;
        for (int i = 0; i < threads; i++)
        {
            int id = i;
            workers[i] = new Thread(() =>
            {
                kernel(1024, 1f); // JIT and warm the pipes
                start.SignalAndWait();
                long t0 = Stopwatch.GetTimestamp();
                long n = 0;
                float s = 0;
                while (Stopwatch.GetTimestamp() - t0 < ticks)
                {
                    s += kernel(iterations, 1f + id * 1e-7f);
                    n += iterations;
                }

                flops[id] = n * ChainsPerIteration * 2.0 * lanes;
                Volatile.Write(ref sink, s);
            }) { IsBackground = true };
            workers[i].Start();
        }

        start.SignalAndWait();
        long w0 = Stopwatch.GetTimestamp();
        foreach (var w in workers) w.Join();
        double wall = Stopwatch.GetElapsedTime(w0).TotalSeconds;
        GC.KeepAlive(sink);
        return flops.Sum() / wall / 1e9;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Fma512(long iterations, float seed)
    {
        var m = Vector512.Create(0.999999f);
        var a = Vector512.Create(1e-7f);
        Vector512<float> c0 = Vector512.Create(seed), c1 = c0 + a, c2 = c1 + a, c3 = c2 + a, c4 = c3 + a, c5 = c4 + a;
        Vector512<float> c6 = c5 + a, c7 = c6 + a, c8 = c7 + a, c9 = c8 + a, c10 = c9 + a, c11 = c10 + a;
        for (long i = 0; i < iterations; i++)
        {
            c0 = Vector512.FusedMultiplyAdd(c0, m, a); c1 = Vector512.FusedMultiplyAdd(c1, m, a);
            c2 = Vector512.FusedMultiplyAdd(c2, m, a); c3 = Vector512.FusedMultiplyAdd(c3, m, a);
            c4 = Vector512.FusedMultiplyAdd(c4, m, a); c5 = Vector512.FusedMultiplyAdd(c5, m, a);
            c6 = Vector512.FusedMultiplyAdd(c6, m, a); c7 = Vector512.FusedMultiplyAdd(c7, m, a);
            c8 = Vector512.FusedMultiplyAdd(c8, m, a); c9 = Vector512.FusedMultiplyAdd(c9, m, a);
            c10 = Vector512.FusedMultiplyAdd(c10, m, a); c11 = Vector512.FusedMultiplyAdd(c11, m, a);
        }

        return Vector512.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Fma256(long iterations, float seed)
    {
        var m = Vector256.Create(0.999999f);
        var a = Vector256.Create(1e-7f);
        Vector256<float> c0 = Vector256.Create(seed), c1 = c0 + a, c2 = c1 + a, c3 = c2 + a, c4 = c3 + a, c5 = c4 + a;
        Vector256<float> c6 = c5 + a, c7 = c6 + a, c8 = c7 + a, c9 = c8 + a, c10 = c9 + a, c11 = c10 + a;
        for (long i = 0; i < iterations; i++)
        {
            c0 = Vector256.FusedMultiplyAdd(c0, m, a); c1 = Vector256.FusedMultiplyAdd(c1, m, a);
            c2 = Vector256.FusedMultiplyAdd(c2, m, a); c3 = Vector256.FusedMultiplyAdd(c3, m, a);
            c4 = Vector256.FusedMultiplyAdd(c4, m, a); c5 = Vector256.FusedMultiplyAdd(c5, m, a);
            c6 = Vector256.FusedMultiplyAdd(c6, m, a); c7 = Vector256.FusedMultiplyAdd(c7, m, a);
            c8 = Vector256.FusedMultiplyAdd(c8, m, a); c9 = Vector256.FusedMultiplyAdd(c9, m, a);
            c10 = Vector256.FusedMultiplyAdd(c10, m, a); c11 = Vector256.FusedMultiplyAdd(c11, m, a);
        }

        return Vector256.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Fma128(long iterations, float seed)
    {
        var m = Vector128.Create(0.999999f);
        var a = Vector128.Create(1e-7f);
        Vector128<float> c0 = Vector128.Create(seed), c1 = c0 + a, c2 = c1 + a, c3 = c2 + a, c4 = c3 + a, c5 = c4 + a;
        Vector128<float> c6 = c5 + a, c7 = c6 + a, c8 = c7 + a, c9 = c8 + a, c10 = c9 + a, c11 = c10 + a;
        for (long i = 0; i < iterations; i++)
        {
            c0 = Vector128.FusedMultiplyAdd(c0, m, a); c1 = Vector128.FusedMultiplyAdd(c1, m, a);
            c2 = Vector128.FusedMultiplyAdd(c2, m, a); c3 = Vector128.FusedMultiplyAdd(c3, m, a);
            c4 = Vector128.FusedMultiplyAdd(c4, m, a); c5 = Vector128.FusedMultiplyAdd(c5, m, a);
            c6 = Vector128.FusedMultiplyAdd(c6, m, a); c7 = Vector128.FusedMultiplyAdd(c7, m, a);
            c8 = Vector128.FusedMultiplyAdd(c8, m, a); c9 = Vector128.FusedMultiplyAdd(c9, m, a);
            c10 = Vector128.FusedMultiplyAdd(c10, m, a); c11 = Vector128.FusedMultiplyAdd(c11, m, a);
        }

        return Vector128.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
    }

    /// <summary>
    /// Nanoseconds for one round trip of a cache line between two threads: this thread writes a counter, a partner
    /// thread waiting on it answers on a second line 128 bytes away, and this thread waits for the answer;
    /// <paramref name="roundTrips"/> of them in a row is one try, and the result is the median try's mean. Both threads
    /// spin with a pause per turn (no yield), as the engine's step hand-over does before it yields. The pause also tells
    /// two vCPUs that are hyperthreads of one core from two cores (about 40 ns against 100 ns or more on the development
    /// VM). Null on one logical core, where the partner can only run when this thread is descheduled.
    /// <paramref name="partnerDelayTicks"/> (tests) makes the partner wait that many <see cref="Stopwatch"/> ticks before
    /// each answer.
    /// </summary>
    public static double? MeasureRoundTripNs(int roundTrips = 20_000, int tries = 5, long partnerDelayTicks = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(roundTrips, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(tries, 1);
        if (Environment.ProcessorCount < 2) return null;
        var results = new double[tries];
        for (int t = 0; t < tries; t++)
        {
            var lines = new long[32]; // [0]: this thread's counter, [16]: the partner's answer (128 bytes apart)
            var partner = new Thread(() =>
            {
                for (long i = 1; i <= roundTrips; i++)
                {
                    while (Volatile.Read(ref lines[0]) != i) Pause();
                    if (partnerDelayTicks > 0)
                    {
                        long until = Stopwatch.GetTimestamp() + partnerDelayTicks;
                        while (Stopwatch.GetTimestamp() < until) { }
                    }

                    Volatile.Write(ref lines[16], i);
                }
            }) { IsBackground = true };
            partner.Start();
            // The first exchange waits for the partner to start; the timed ones start after it.
            Volatile.Write(ref lines[0], 1);
            while (Volatile.Read(ref lines[16]) != 1) Thread.SpinWait(1);
            long t0 = Stopwatch.GetTimestamp();
            for (long i = 2; i <= roundTrips; i++)
            {
                Volatile.Write(ref lines[0], i);
                while (Volatile.Read(ref lines[16]) != i) Pause();
            }

            double ns = Stopwatch.GetElapsedTime(t0).TotalNanoseconds;
            partner.Join();
            results[t] = ns / (roundTrips - 1);
        }

        return BenchStats.Median(results);
    }

    private static void Pause()
    {
        if (System.Runtime.Intrinsics.X86.X86Base.IsSupported) System.Runtime.Intrinsics.X86.X86Base.Pause();
        else Thread.SpinWait(1);
    }

    /// <summary>
    /// Read bandwidth in GB/s (10⁹ bytes/s) of <paramref name="threads"/> threads streaming a buffer of exactly
    /// <paramref name="bytes"/> bytes that is hot in their caches: the buffer is split into one contiguous part per
    /// thread (as a batch-1 loop that splits units gives each thread its own rows of the weights), each thread reads its
    /// part once untimed (to bring it into its cache) and then reads it over and over with vector loads and
    /// independent accumulators for <paramref name="seconds"/>, all threads at once; one try is the bytes read by all
    /// threads over the wall time. The widest accelerated vector is tried and, on AVX-512 machines, 256 bits as well
    /// (the higher is kept per try). Returns the median of <paramref name="tries"/> tries.
    /// </summary>
    public static double MeasureReadBandwidthGbs(long bytes, int threads, double seconds = 0.05, int tries = 5)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bytes, 64L);
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        long floats = bytes / sizeof(float);
        float* buffer = (float*)NativeMemory.AlignedAlloc((nuint)(floats * sizeof(float)), 64);
        try
        {
            var random = new Random(1);
            for (long i = 0; i < floats; i++) buffer[i] = (float)random.NextDouble();

            // Parts of whole 64-byte lines (16 floats); the last takes the remainder.
            long lines = floats / 16;
            var starts = new long[threads + 1];
            for (int t = 0; t <= threads; t++) starts[t] = Math.Min(floats, lines * t / threads * 16);
            starts[threads] = floats;

            var results = new double[tries];
            for (int t = 0; t < tries; t++)
            {
                double best = 0;
                if (Vector512.IsHardwareAccelerated) best = Math.Max(best, RunRead(buffer, starts, seconds, 512));
                if (Vector256.IsHardwareAccelerated) best = Math.Max(best, RunRead(buffer, starts, seconds, 256));
                else best = Math.Max(best, RunRead(buffer, starts, seconds, 128));
                results[t] = best;
            }

            return BenchStats.Median(results);
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
        }
    }

    private static double RunRead(float* buffer, long[] starts, double seconds, int bits)
    {
        int threads = starts.Length - 1;
        long ticks = (long)(seconds * Stopwatch.Frequency);
        var bytesRead = new double[threads];
        using var start = new Barrier(threads + 1);
        var workers = new Thread[threads];
        float sink = 0;
        nint baseAddress = (nint)buffer;
        for (int i = 0; i < threads; i++)
        {
            int id = i;
            workers[i] = new Thread(() =>
            {
                float* part = (float*)baseAddress + starts[id];
                long count = starts[id + 1] - starts[id];
                float s = Read(bits, part, count); // JIT, and the part into this core's cache
                start.SignalAndWait();
                long t0 = Stopwatch.GetTimestamp();
                long passes = 0;
                while (Stopwatch.GetTimestamp() - t0 < ticks)
                {
                    for (int k = 0; k < 16; k++) s += Read(bits, part, count);
                    passes += 16;
                }

                bytesRead[id] = (double)passes * count * sizeof(float);
                Volatile.Write(ref sink, s);
            }) { IsBackground = true };
            workers[i].Start();
        }

        start.SignalAndWait();
        long w0 = Stopwatch.GetTimestamp();
        foreach (var w in workers) w.Join();
        double wall = Stopwatch.GetElapsedTime(w0).TotalSeconds;
        GC.KeepAlive(sink);
        return bytesRead.Sum() / wall / 1e9;
    }

    private static float Read(int bits, float* p, long count) =>
        bits == 512 ? Read<Vector512<float>, L512>(p, count)
        : bits == 256 ? Read<Vector256<float>, L256>(p, count)
        : Read<Vector128<float>, L128>(p, count);

    /// <summary>Reads count floats with eight independent vector sums (enough loads in flight); the sum is only a sink.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Read<TV, O>(float* p, long count) where TV : struct where O : struct, ILanes<TV>
    {
        TV a0 = O.Zero, a1 = O.Zero, a2 = O.Zero, a3 = O.Zero, a4 = O.Zero, a5 = O.Zero, a6 = O.Zero, a7 = O.Zero;
        long w = (long)O.Count, i = 0;
        for (; i + 8 * w <= count; i += 8 * w)
        {
            a0 = O.Add(a0, O.Load(p + i)); a1 = O.Add(a1, O.Load(p + i + w));
            a2 = O.Add(a2, O.Load(p + i + 2 * w)); a3 = O.Add(a3, O.Load(p + i + 3 * w));
            a4 = O.Add(a4, O.Load(p + i + 4 * w)); a5 = O.Add(a5, O.Load(p + i + 5 * w));
            a6 = O.Add(a6, O.Load(p + i + 6 * w)); a7 = O.Add(a7, O.Load(p + i + 7 * w));
        }

        for (; i + w <= count; i += w) a0 = O.Add(a0, O.Load(p + i));
        var sum = O.Add(O.Add(O.Add(a0, a1), O.Add(a2, a3)), O.Add(O.Add(a4, a5), O.Add(a6, a7)));
        float* lanes = stackalloc float[16];
        O.Store(sum, lanes);
        float s = 0;
        for (int k = 0; k < (int)w; k++) s += lanes[k];
        for (; i < count; i++) s += p[i];
        return s;
    }
}
