using System.Runtime.Intrinsics.X86;

namespace Microsoft.ML.Recurrent.Engine.Kernels;

/// <summary>
/// The size of one core's L2 cache, read from the processor (CPUID) on x86: AMD's extended leaf 0x80000006, Intel's
/// deterministic cache parameters (leaf 4). Elsewhere, or when the processor does not say, <see cref="FallbackL2Bytes"/>.
/// Read once; the engine uses it to decide what must fit a core's cache (<see cref="Layers.RecurrentLayer.RowChunkMaxWeightBytes"/>).
/// </summary>
internal static class CacheSizes
{
    /// <summary>Assumed when the processor cannot be asked: 1 MiB, a core's L2 on current server parts (Zen 4/5, Skylake-SP).</summary>
    public const long FallbackL2Bytes = 1L << 20;

    /// <summary>One core's L2 in bytes (see the class remarks).</summary>
    public static long L2Bytes { get; } = ReadL2() is > 0 and var bytes ? bytes : FallbackL2Bytes;

    /// <summary>The L2 size CPUID reports, or 0 when it reports none (or this is not x86).</summary>
    internal static long ReadL2()
    {
        if (!X86Base.IsSupported) return 0;
        var (maxLeaf, vendorB, vendorC, vendorD) = X86Base.CpuId(0, 0);
        bool intel = vendorB == 0x756E6547 && vendorD == 0x49656E69 && vendorC == 0x6C65746E; // "GenuineIntel"
        if (!intel)
        {
            // AMD (and Hygon): leaf 0x80000006, ECX[31:16] = L2 size in KiB.
            var (maxExtended, _, _, _) = X86Base.CpuId(unchecked((int)0x80000000), 0);
            if ((uint)maxExtended < 0x80000006) return 0;
            var (_, _, ecx, _) = X86Base.CpuId(unchecked((int)0x80000006), 0);
            return (long)((uint)ecx >> 16) * 1024;
        }

        // Intel: leaf 4, one sub-leaf per cache until type 0; size = ways · partitions · line · sets.
        if (maxLeaf < 4) return 0;
        for (int sub = 0; sub < 16; sub++)
        {
            var (eax, ebx, ecx, _) = X86Base.CpuId(4, sub);
            int type = eax & 0x1F, level = (eax >> 5) & 0x7;
            if (type == 0) break;
            if (level != 2 || type == 2) continue; // type 2: instruction cache
            long ways = ((uint)ebx >> 22) + 1L, partitions = ((ebx >> 12) & 0x3FF) + 1L, line = (ebx & 0xFFF) + 1L, sets = (uint)ecx + 1L;
            return ways * partitions * line * sets;
        }

        return 0;
    }
}
