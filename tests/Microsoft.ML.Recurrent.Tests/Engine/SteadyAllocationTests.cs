using FluentAssertions;
using Microsoft.ML.Recurrent.Tests.Helpers;
using Xunit;

namespace Microsoft.ML.Recurrent.Tests.Engine;

/// <summary>The allocation tests' window measure: it forgives one allocating window, never an allocation on every call.</summary>
public class SteadyAllocationTests
{
    private static object? s_sink;

    [Fact]
    public void SteadyAllocation_AllocatingEveryWindow_ReportsTheBytes()
        => SteadyAllocation.Bytes(() => s_sink = new float[256]).Should().BeGreaterThanOrEqualTo(256 * sizeof(float));

    [Fact]
    public void SteadyAllocation_OnlyTheFirstWindowAllocates_ReportsZero()
    {
        int calls = 0;
        SteadyAllocation.Bytes(() => { if (calls++ == 0) s_sink = new float[256]; }).Should().Be(0);
        calls.Should().Be(2);
    }

    [Fact]
    public void SteadyAllocation_NoWindow_Throws()
        => FluentActions.Invoking(() => SteadyAllocation.Bytes(() => { }, windows: 0)).Should().Throw<ArgumentOutOfRangeException>();
}
