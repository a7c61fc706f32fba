using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Heads;
using Microsoft.ML.Recurrent.Engine.Optimizers;

namespace Microsoft.ML.Recurrent.Tests.Engine;

/// <summary>
/// The ML.NET layer converts each public option enum to its engine twin with a plain integer cast
/// (<c>(CellKind)(int)options.CellType</c>, …): the twins must keep the same members with the same values.
/// </summary>
public class EnumTwinTests
{
    private static void AssertTwins<TPublic, TInternal>()
        where TPublic : struct, Enum where TInternal : struct, Enum
    {
        var expected = Enum.GetValues<TPublic>().Select(v => (Enum.GetName(v), Convert.ToInt64(v))).ToArray();
        var actual = Enum.GetValues<TInternal>().Select(v => (Enum.GetName(v), Convert.ToInt64(v))).ToArray();
        actual.Should().Equal(expected, $"{typeof(TInternal).Name} is cast from {typeof(TPublic).Name} by value");
    }

    [Fact]
    public void CellKind_MatchesRecurrentCellType() => AssertTwins<RecurrentCellType, CellKind>();

    [Fact]
    public void OptimizerKind_MatchesRecurrentOptimizer() => AssertTwins<RecurrentOptimizer, OptimizerKind>();

    [Fact]
    public void ScheduleKind_MatchesRecurrentLearningRateSchedule() => AssertTwins<RecurrentLearningRateSchedule, ScheduleKind>();

    [Fact]
    public void PoolingKind_MatchesRecurrentPooling() => AssertTwins<RecurrentPooling, PoolingKind>();
}
