namespace Microsoft.ML.Recurrent.Tests.Catalog;

public class RecurrentMLCatalogTests
{
    [Fact]
    public void ResolveSeed_NullSeed_FollowsTheContextSeed()
    {
        int[] Draw(int contextSeed)
        {
            var catalog = new MLContext(seed: contextSeed).Recurrent();
            return [catalog.ResolveSeed(null, "A"), catalog.ResolveSeed(null, "B"), catalog.ResolveSeed(null, "C")];
        }

        int[] first = Draw(7), again = Draw(7), other = Draw(8);
        again.Should().Equal(first, "the same context seed must give the same component seeds");
        other.Should().NotEqual(first, "another context seed must give other component seeds");
        first.Distinct().Should().HaveCount(3, "components created one after another draw different seeds");
    }

    [Fact]
    public void ResolveSeed_GivenSeed_WinsOverTheContext()
    {
        new MLContext(seed: 3).Recurrent().ResolveSeed(42, "A").Should().Be(42);
    }

    [Fact]
    public void Recurrent_NullContext_Throws()
    {
        var act = () => ((MLContext)null!).Recurrent();
        act.Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("mlContext");
    }

    [Fact]
    public void CreateLog_WritesEachReportToTheContextLog()
    {
        var ml = new MLContext(seed: 0);
        var lines = new List<string>();
        ml.Log += (_, e) => { if (e.Source == "Probe") lines.Add(e.RawMessage); };
        var report = new RecurrentEpochReport(3, 10, "mean squared error", 0.5, null, null, 100, 1e-3f);
        ml.Recurrent().CreateLog("Probe").Report(report);
        lines.Should().Contain(report.ToString());
    }
}
