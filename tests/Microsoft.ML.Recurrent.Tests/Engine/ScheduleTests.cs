using Microsoft.ML.Recurrent.Engine.Optimizers;

namespace Microsoft.ML.Recurrent.Tests.Engine;

public class ScheduleTests
{
    [Fact]
    public void Constant_AnyEpoch_ReturnsBaseRate()
    {
        var schedule = new LearningRateSchedule(new ScheduleSettings { Kind = ScheduleKind.Constant, BaseRate = 0.01f });
        foreach (int epoch in new[] { 0, 1, 7, 1000 })
            schedule.RateForEpoch(epoch).Should().Be(0.01f);
    }

    [Theory]
    [InlineData(0, 0.1f)]
    [InlineData(9, 0.1f)]
    [InlineData(10, 0.05f)]
    [InlineData(19, 0.05f)]
    [InlineData(20, 0.025f)]
    [InlineData(35, 0.0125f)]
    public void Step_KnownEpochs_HalvesEveryStepSize(int epoch, float expected)
    {
        var schedule = new LearningRateSchedule(new ScheduleSettings { Kind = ScheduleKind.Step, BaseRate = 0.1f, StepSize = 10, Gamma = 0.5f });
        schedule.RateForEpoch(epoch).Should().BeApproximately(expected, 1e-8f);
    }

    [Fact]
    public void Step_BelowMinRate_StaysAtMinRate()
    {
        var schedule = new LearningRateSchedule(new ScheduleSettings { Kind = ScheduleKind.Step, BaseRate = 0.1f, StepSize = 10, Gamma = 0.5f, MinRate = 0.03f });
        schedule.RateForEpoch(10).Should().BeApproximately(0.05f, 1e-8f);
        schedule.RateForEpoch(20).Should().Be(0.03f);
        schedule.RateForEpoch(90).Should().Be(0.03f);
    }

    [Theory]
    [InlineData(0, 1f)]
    [InlineData(2, 0.9140576f)]   // 0.1 + 0.45·(1 + cos 0.2π)
    [InlineData(5, 0.55f)]
    [InlineData(8, 0.1859424f)]   // 0.1 + 0.45·(1 − cos 0.2π)
    [InlineData(10, 0.1f)]
    [InlineData(14, 0.1f)]
    public void Cosine_KnownEpochs_FollowsHalfCosineToMinRate(int epoch, float expected)
    {
        var schedule = new LearningRateSchedule(new ScheduleSettings { Kind = ScheduleKind.Cosine, BaseRate = 1f, MinRate = 0.1f, TotalEpochs = 10 });
        schedule.RateForEpoch(epoch).Should().BeApproximately(expected, 1e-6f);
    }

    [Fact]
    public void ReduceOnPlateau_NoRelativeImprovement_ReducesAfterPatienceEpochsAndNotBefore()
    {
        var schedule = Plateau(patience: 2);
        Report(schedule, 0, 1.0).Should().Be(1f);      // first loss: best = 1
        Report(schedule, 1, 1.0).Should().Be(1f);      // bad 1
        Report(schedule, 2, 0.99995).Should().Be(1f);  // better, but by less than the relative threshold 1e-4: bad 2
        Report(schedule, 3, 1.2).Should().Be(0.5f);    // bad 3 > patience 2: reduced
        schedule.Reductions.Should().Be(1);

        // The count restarts after a reduction.
        Report(schedule, 4, 1.1).Should().Be(0.5f);
        Report(schedule, 5, 1.1).Should().Be(0.5f);
        Report(schedule, 6, 1.1).Should().Be(0.25f);
        schedule.Reductions.Should().Be(2);
    }

    [Fact]
    public void ReduceOnPlateau_Improvement_RestartsTheCount()
    {
        var schedule = Plateau(patience: 2);
        Report(schedule, 0, 1.0).Should().Be(1f);
        Report(schedule, 1, 1.0).Should().Be(1f);      // bad 1
        Report(schedule, 2, 1.0).Should().Be(1f);      // bad 2
        Report(schedule, 3, 0.99).Should().Be(1f);     // improvement (1 % > 1e-4): count back to 0
        Report(schedule, 4, 0.99).Should().Be(1f);     // bad 1
        Report(schedule, 5, 0.995).Should().Be(1f);    // bad 2
        Report(schedule, 6, 0.99).Should().Be(0.5f);   // bad 3
    }

    [Fact]
    public void ReduceOnPlateau_ZeroPatience_ReducesOnTheFirstBadEpoch()
    {
        var schedule = Plateau(patience: 0);
        Report(schedule, 0, 2.0).Should().Be(1f);
        Report(schedule, 1, 1.0).Should().Be(1f);
        Report(schedule, 2, 1.5).Should().Be(0.5f);
    }

    [Fact]
    public void ReduceOnPlateau_NaNLoss_CountsAsBadEpoch()
    {
        var schedule = Plateau(patience: 1);
        Report(schedule, 0, 1.0).Should().Be(1f);
        Report(schedule, 1, double.NaN).Should().Be(1f);
        Report(schedule, 2, double.NaN).Should().Be(0.5f);
    }

    [Fact]
    public void ReduceOnPlateau_ManyReductions_StopAtMinRate()
    {
        var schedule = new LearningRateSchedule(new ScheduleSettings
        {
            Kind = ScheduleKind.ReduceOnPlateau, BaseRate = 1f, PlateauPatience = 0, PlateauFactor = 0.1f, MinRate = 0.005f,
        });
        schedule.ReportEpoch(0, 1.0);
        float[] expected = [0.1f, 0.01f, 0.005f, 0.005f];
        for (int i = 0; i < expected.Length; i++)
        {
            schedule.ReportEpoch(i + 1, 1.0);
            schedule.RateForEpoch(i + 2).Should().BeApproximately(expected[i], 1e-8f);
        }

        schedule.Reductions.Should().Be(3);
    }

    [Fact]
    public void ReportEpoch_OtherKinds_DoesNotChangeTheRate()
    {
        var schedule = new LearningRateSchedule(new ScheduleSettings { Kind = ScheduleKind.Step, BaseRate = 0.1f, StepSize = 10 });
        for (int epoch = 0; epoch < 8; epoch++) schedule.ReportEpoch(epoch, 1.0 + epoch);
        schedule.RateForEpoch(8).Should().Be(0.1f);
        schedule.Reductions.Should().Be(0);
    }

    [Fact]
    public void Warmup_FirstEpochs_RampLinearlyToTheScheduledRate()
    {
        var schedule = new LearningRateSchedule(new ScheduleSettings { Kind = ScheduleKind.Constant, BaseRate = 1f, WarmupEpochs = 3 });
        schedule.RateForEpoch(0).Should().BeApproximately(0.25f, 1e-7f);
        schedule.RateForEpoch(1).Should().BeApproximately(0.5f, 1e-7f);
        schedule.RateForEpoch(2).Should().BeApproximately(0.75f, 1e-7f);
        schedule.RateForEpoch(3).Should().Be(1f);
    }

    [Theory]
    [InlineData("Constant", "BaseRate")]
    [InlineData("Step", "StepSize")]
    [InlineData("Step", "Gamma")]
    [InlineData("Cosine", "TotalEpochs")]
    [InlineData("Cosine", "MinRate")]
    [InlineData("ReduceOnPlateau", "PlateauPatience")]
    [InlineData("ReduceOnPlateau", "PlateauFactor")]
    [InlineData("ReduceOnPlateau", "PlateauThreshold")]
    [InlineData("Constant", "WarmupEpochs")]
    public void Constructor_InvalidSetting_ThrowsNamingIt(string kindName, string field)
    {
        var kind = Enum.Parse<ScheduleKind>(kindName);
        var settings = new ScheduleSettings { Kind = kind, BaseRate = 0.1f, TotalEpochs = 10 };
        switch (field)
        {
            case "BaseRate": settings.BaseRate = 0f; break;
            case "StepSize": settings.StepSize = 0; break;
            case "Gamma": settings.Gamma = 1.5f; break;
            case "TotalEpochs": settings.TotalEpochs = 0; break;
            case "MinRate": settings.MinRate = 0.2f; break;
            case "PlateauPatience": settings.PlateauPatience = -1; break;
            case "PlateauFactor": settings.PlateauFactor = 1f; break;
            case "PlateauThreshold": settings.PlateauThreshold = float.NaN; break;
            case "WarmupEpochs": settings.WarmupEpochs = -2; break;
        }

        var create = () => new LearningRateSchedule(settings);
        create.Should().Throw<ArgumentOutOfRangeException>().And.ParamName.Should().Be(field);
    }

    private static LearningRateSchedule Plateau(int patience) => new(new ScheduleSettings
    {
        Kind = ScheduleKind.ReduceOnPlateau, BaseRate = 1f, PlateauPatience = patience, PlateauFactor = 0.5f, PlateauThreshold = 1e-4f,
    });

    // Reports the end of `epoch` and returns the rate for the next one.
    private static float Report(LearningRateSchedule schedule, int epoch, double loss)
    {
        schedule.ReportEpoch(epoch, loss);
        return schedule.RateForEpoch(epoch + 1);
    }
}
