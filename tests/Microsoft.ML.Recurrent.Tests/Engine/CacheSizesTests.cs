using System.Runtime.Intrinsics.X86;
using Microsoft.ML.Recurrent.Engine.Kernels;
using Microsoft.ML.Recurrent.Engine.Layers;

namespace Microsoft.ML.Recurrent.Tests.Engine;

/// <summary>The L2 size the engine reads from the processor, and the row-part weight limit it sets.</summary>
public class CacheSizesTests
{
    [Fact]
    public void L2_FromCpuidOnX86_APlausibleWholeNumberOfKib()
    {
        long read = CacheSizes.ReadL2();
        if (X86Base.IsSupported)
        {
            // Every x86 server and desktop part since 2008 reports its L2 (256 KiB … 4 MiB a core so far).
            read.Should().BeInRange(64 * 1024, 64L * 1024 * 1024, "CPUID reports one core's L2");
            (read % 1024).Should().Be(0, "cache sizes are whole KiB");
            CacheSizes.L2Bytes.Should().Be(read);
        }
        else
        {
            read.Should().Be(0, "only x86 is asked");
            CacheSizes.L2Bytes.Should().Be(CacheSizes.FallbackL2Bytes);
        }
    }

    [Fact]
    public void RowPartWeightLimit_DefaultsToOneCoresL2()
    {
        RecurrentLayer.RowChunkMaxWeightBytes.Should().Be(CacheSizes.L2Bytes);
    }
}
