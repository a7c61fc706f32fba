using Microsoft.ML.Recurrent.Engine;

namespace Microsoft.ML.Recurrent.Benchmarks;

/// <summary>
/// The roofline floor of one sequence's forward pass at batch 1: the least time the machine needs for it, from two
/// roofs measured in the same run.
/// <para>
/// At batch 1 the recurrent product is a matrix–vector product per step: every step reads all of W_hh (every layer and
/// direction, G·H × H floats each) and does only 2 flops per weight, so it is bound by how fast the cores can stream
/// those weights from their caches, not by the FMA units. The weights streamed per sequence are therefore
/// T × (bytes of W_hh), and that term is priced at the measured cache read bandwidth for a buffer of exactly W_hh's
/// size (<see cref="PeakProbe.MeasureReadBandwidthGbs"/>).
/// </para>
/// <para>
/// The input weights W_ih are not streamed per step: the input projection is applied to all T steps in one matrix
/// product (2·G·H·I_l·T flops per layer and direction, I_l = the layer's input width), which reuses each weight T times
/// and so runs at the FMA peak; that term is priced at the measured peak. Biases, the gate nonlinearities, the head and
/// the hand-over between threads are left out, so the floor is a lower bound, not a prediction.
/// </para>
/// floor = T · bytes(W_hh) / bandwidth + input-projection flops / peak.
/// </summary>
internal readonly record struct LatencyFloor(long RecurrentWeightBytes, double WeightsStreamedBytes, double InputProjectionFlops, double FloorUs)
{
    /// <summary>Bytes of the recurrent weights W_hh of every layer and direction (float32).</summary>
    public static long RecurrentBytes(NetworkSpec spec)
    {
        long perCell = (long)spec.Gates * spec.HiddenSize * spec.HiddenSize * sizeof(float);
        return perCell * spec.NumberOfLayers * spec.Directions;
    }

    /// <summary>Flops of the input projection of one sequence of <paramref name="length"/> steps (every layer and direction).</summary>
    public static double InputFlops(NetworkSpec spec, int length)
    {
        double total = 0;
        for (int l = 0; l < spec.NumberOfLayers; l++)
            total += 2.0 * spec.Gates * spec.HiddenSize * spec.LayerInputSize(l) * length * spec.Directions;
        return total;
    }

    /// <summary>The floor for one sequence of <paramref name="length"/> steps, given the two measured roofs.</summary>
    public static LatencyFloor Compute(NetworkSpec spec, int length, double cacheBandwidthGbs, double peakGflops)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        if (!(cacheBandwidthGbs > 0) || !double.IsFinite(cacheBandwidthGbs)) throw new ArgumentOutOfRangeException(nameof(cacheBandwidthGbs), cacheBandwidthGbs, "must be a positive number.");
        if (!(peakGflops > 0) || !double.IsFinite(peakGflops)) throw new ArgumentOutOfRangeException(nameof(peakGflops), peakGflops, "must be a positive number.");
        long bytes = RecurrentBytes(spec);
        double streamed = (double)bytes * length;
        double flops = InputFlops(spec, length);
        double seconds = streamed / (cacheBandwidthGbs * 1e9) + flops / (peakGflops * 1e9);
        return new LatencyFloor(bytes, streamed, flops, seconds * 1e6);
    }

    /// <summary>
    /// Threads the engine's batch-1 loop splits one sequence's units over: at most the thread count, at most 4 parts
    /// (the engine's MaxUnitParts), at most H, and only parts that multiply by ≥ <paramref name="unitSplitMinWeights"/>
    /// recurrent weights each (the largest over layers; mirrors the engine's rule, CellRunner.UnitParts).
    /// </summary>
    public static int BatchOneThreads(NetworkSpec spec, int threads, int unitSplitMinWeights)
    {
        const int maxUnitParts = 4;
        long weights = (long)spec.Gates * spec.HiddenSize * spec.HiddenSize;
        long byWork = Math.Max(1, weights / Math.Max(1, unitSplitMinWeights));
        return (int)Math.Max(1, Math.Min(Math.Min(Math.Min(threads, maxUnitParts), spec.HiddenSize), byWork));
    }
}
