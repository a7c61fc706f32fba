using Microsoft.ML.Recurrent.Tests.Forecasting;
using Microsoft.ML.SearchSpace;
using Xunit.Abstractions;

namespace Microsoft.ML.Recurrent.Tests.Experiments;

public class ForecastingExperimentTests(ITestOutputHelper output)
{
    private const int TrainSteps = 144, ValidSteps = 36, Period = 12, Horizon = 6;

    private static (MLContext Ml, float[] Series, IDataView Train, IDataView Valid) Seasonal()
    {
        var ml = new MLContext(seed: 0);
        var y = ForecastData.TrendSeason(TrainSteps + ValidSteps, Period, trend: 0.2, amplitude: 6, noise: 0.3, seed: 11);
        return (ml, y, ForecastData.View(ml, y.Take(TrainSteps)), ForecastData.View(ml, y.Skip(TrainSteps)));
    }

    /// <summary>The seasonal naive MAE on the experiment's backtest: origins at every validation row, steps that stay inside it.</summary>
    private static (double Mae, int Count) SeasonalNaive(float[] y)
    {
        double sum = 0;
        int count = 0;
        for (int t = TrainSteps; t < y.Length; t++)
        {
            for (int j = 1; j <= Horizon && t + j < y.Length; j++, count++)
                sum += Math.Abs(y[t + j] - y[t + j - Period * (int)Math.Ceiling(j / (double)Period)]);
        }

        return (sum / count, count);
    }

    /// <summary>A small forecasting space: two window sizes and two learning rates, epochs 3 … 9; the rest fixed.</summary>
    private sealed class SmallForecastingSpace : RecurrentForecastingSearchSpace
    {
        [Choice(new object[] { 12, 24 }, 24)]
        public new int WindowSize { get; set; } = 24;

        [Choice(new object[] { 0.003f, 0.01f }, 0.01f)]
        public new float LearningRate { get; set; } = 0.01f;

        [Range(3, 9, 9, true)]
        public new int MaximumNumberOfEpochs { get; set; } = 9;

        public new RecurrentCellType CellType { get; set; } = RecurrentCellType.Gru;

        public new int HiddenSize { get; set; } = 16;

        public new int NumberOfLayers { get; set; } = 1;

        public new float Dropout { get; set; }

        public new int BatchSize { get; set; } = 16;
    }

    [Fact]
    public void Run_SeasonalSeries_WinnerBeatsSeasonalNaiveOnTheValidationRows_AndSavesReloadsWithIdenticalForecasts()
    {
        var (ml, y, train, valid) = Seasonal();
        var space = new SmallForecastingSpace();
        var result = ml.Recurrent().CreateExperiment()
            .SetDataset(train, valid)
            .SetForecastingMetric(ForecastingMetric.MeanAbsoluteError, "Value", horizon: Horizon, seasonalPeriod: Period)
            .SetSearchSpace(space)
            .SetTrainingTimeInSeconds(120)
            .SetSeed(3)
            .Run();

        result.HigherIsBetter.Should().BeFalse();
        result.StopReason.Should().Be(RecurrentExperimentStopReason.SearchSpaceExhausted);
        result.Trials.Should().HaveCount(4, "2 window sizes × 2 learning rates");
        var best = result.BestTrial;
        best.ForecastingOptions.Should().NotBeNull();
        best.ForecastingOptions!.Horizon.Should().Be(Horizon, "SetForecastingMetric's horizon overrides the search space's 12");
        best.ForecastingOptions.SeasonalPeriod.Should().Be(Period);
        best.ForecastingOptions.WindowSize.Should().BeOneOf(12, 24);
        best.Parameters.Should().ContainKey("WindowSize");
        best.Options.HiddenSize.Should().Be(16);
        best.Epochs.Should().Be(9, "the best trial is trained up to the maximum of the epochs range");
        best.ForecastingOptions.MaximumNumberOfEpochs.Should().Be(9);

        // The metric is the backtest of the validation rows, in the series' units; it beats seasonal naive there.
        var (naive, count) = SeasonalNaive(y);
        var forecaster = best.Model.Should().BeOfType<RecurrentForecastingTransformer>().Subject;
        var all = ForecastData.View(ml, y);
        var check = ml.Forecasting.Evaluate(ml.Data.SkipRows(forecaster.Transform(all), TrainSteps), "Value", "Forecast");
        check.Count.Should().Be(count);
        best.Metric.Should().BeApproximately(check.MeanAbsoluteError, 1e-6, "the trial's metric is the backtest of the validation rows from the training history");
        foreach (var trial in result.Trials) output.WriteLine(trial.ToString());
        output.WriteLine($"best MAE {best.Metric:F3}, seasonal naive MAE {naive:F3} on {count} pairs");
        best.Metric.Should().BeLessThan(0.7 * naive, "seasonal naive misses the trend (0.2 per step, 2.4 per season)");

        // The winner saves and reloads with identical forecasts.
        using var stream = new MemoryStream();
        ml.Model.Save(best.Model!, train.Schema, stream);
        stream.Position = 0;
        var loaded = new MLContext(seed: 5).Model.Load(stream, out _);
        ForecastData.Column(loaded.Transform(all), "Forecast").Should().BeEquivalentTo(ForecastData.Column(forecaster.Transform(all), "Forecast"),
            o => o.WithStrictOrdering());
    }

    /// <summary>Sweeps the learning rate only, 5 epochs, window 12, two series by id.</summary>
    private sealed class TwoSeriesSpace : RecurrentForecastingSearchSpace
    {
        [Choice(new object[] { 0.003f, 0.01f }, 0.01f)]
        public new float LearningRate { get; set; } = 0.01f;

        public new int MaximumNumberOfEpochs { get; set; } = 5;

        public new int WindowSize { get; set; } = 12;

        public new RecurrentCellType CellType { get; set; } = RecurrentCellType.Gru;

        public new int HiddenSize { get; set; } = 8;

        public new int NumberOfLayers { get; set; } = 1;

        public new float Dropout { get; set; }

        public new int BatchSize { get; set; } = 16;
    }

    [Fact]
    public void Run_ManySeries_MetricIsTheBacktestOfEachSeriesValidationRowsFromItsOwnHistory()
    {
        var ml = new MLContext(seed: 0);
        const int n = 72, v = 24;
        var a = ForecastData.TrendSeason(n + v, Period, 0.1, 5, 0.3, seed: 1);
        var b = ForecastData.TrendSeason(n + v, Period, -0.1, 20, 0.5, seed: 2).Select(x => x + 100).ToArray();
        SeriesStep Row(string id, float x) => new() { Store = id, Value = x };
        // Training rows interleave the two series; validation rows follow each series' training rows.
        var trainRows = Enumerable.Range(0, n).SelectMany(t => new[] { Row("a", a[t]), Row("b", b[t]) }).ToList();
        var validRows = Enumerable.Range(n, v).SelectMany(t => new[] { Row("a", a[t]), Row("b", b[t]) }).ToList();
        var result = ml.Recurrent().CreateExperiment()
            .SetDataset(ml.Data.LoadFromEnumerable(trainRows), ml.Data.LoadFromEnumerable(validRows))
            .SetForecastingMetric(ForecastingMetric.RootMeanSquaredError, "Value", horizon: 3, seasonalPeriod: Period, seriesIdColumnName: "Store")
            .SetSearchSpace(new TwoSeriesSpace())
            .SetSeed(2)
            .Run();
        result.Trials.Should().HaveCount(2);
        var best = result.BestTrial;
        best.ForecastingOptions!.SeriesIdColumnName.Should().Be("Store");

        // Independent backtest: each series alone, whole, through the winner; origins at its validation rows only.
        double sum = 0;
        int count = 0;
        foreach (var (id, y) in new[] { ("a", a), ("b", b) })
        {
            var view = ml.Data.LoadFromEnumerable(y.Select(x => Row(id, x)).ToList());
            var forecasts = ForecastData.Column(best.Model!.Transform(view), "Forecast");
            for (int t = n; t < n + v; t++)
            {
                for (int j = 1; j <= 3 && t + j < n + v; j++, count++)
                    sum += Math.Pow(forecasts[t][j - 1] - y[t + j], 2);
            }
        }

        best.Metric.Should().BeApproximately(Math.Sqrt(sum / count), 1e-4);
        result.Trials.Should().OnlyContain(t => t.Succeeded && t.Epochs == 5);
    }

    [Fact]
    public void Run_TwoParallelTrials_SameTrialsAndMetricsAsSerial()
    {
        var (ml, _, train, valid) = Seasonal();
        RecurrentExperimentResult Run(int parallel) => ml.Recurrent().CreateExperiment()
            .SetDataset(train, valid)
            .SetForecastingMetric(ForecastingMetric.MeanAbsoluteScaledError, "Value", horizon: Horizon, seasonalPeriod: Period)
            .SetSearchSpace(new SmallForecastingSpace())
            .SetNumberOfParallelTrials(parallel)
            .SetSeed(4)
            .Run();
        var serial = Run(1);
        var parallel = Run(2);
        parallel.Trials.Select(t => (t.Id, t.Metric, t.Epochs)).Should().Equal(serial.Trials.Select(t => (t.Id, t.Metric, t.Epochs)));
        serial.Trials.Should().OnlyContain(t => t.Metric > 0 && t.Metric < 1, "MASE below 1 beats the validation rows' seasonal naive scale");
    }

    /// <summary>One trial of 100,000 epochs: far beyond a one-second budget.</summary>
    private sealed class EndlessSpace : RecurrentForecastingSearchSpace
    {
        public new int MaximumNumberOfEpochs { get; set; } = 100_000;
    }

    [Fact]
    public void Run_BudgetTooSmallForOneTrial_StopsTheRunningFitAndIsATimeoutException()
    {
        var (ml, _, train, valid) = Seasonal();
        ml.Recurrent().CreateExperiment()
            .SetDataset(train, valid)
            .SetForecastingMetric(ForecastingMetric.MeanAbsoluteError, "Value", horizon: Horizon, seasonalPeriod: Period)
            .SetSearchSpace(new EndlessSpace())
            .SetTrainingTimeInSeconds(1)
            .SetMaximumNumberOfTrials(1)
            .Invoking(e => e.Run()).Should().Throw<TimeoutException>().WithMessage("*ran out before any trial finished its first rung of 100000 epochs*");
    }

    [Fact]
    public void SearchSpace_ToOptions_CarriesEveryProperty_AndTheWindowSizeIsSwept()
    {
        var space = new RecurrentForecastingSearchSpace { InputColumnName = "Sales", Horizon = 7, SeasonalPeriod = 7, WindowSize = 36, HiddenSize = 20 };
        var o = space.ToOptions();
        (o.InputColumnName, o.Horizon, o.SeasonalPeriod, o.WindowSize, o.HiddenSize, o.NumberOfModels, o.EarlyStoppingPatience)
            .Should().Be(("Sales", 7, (int?)7, 36, 20, 1, 0));
        typeof(RecurrentForecastingSearchSpace).GetProperty("WindowSize")!.GetCustomAttributes(typeof(ChoiceAttribute), false).Should().ContainSingle();
        typeof(RecurrentForecastingSearchSpace).GetProperty("Horizon")!.GetCustomAttributes(true).Should().BeEmpty("the horizon is fixed");
    }

    [Fact]
    public void Run_MetricThatDoesNotFitTheSearchSpace_IsAClearError()
    {
        var (ml, _, train, valid) = Seasonal();
        var forecastingWithRegressionSpace = ml.Recurrent().CreateExperiment().SetDataset(train, valid)
            .SetForecastingMetric(ForecastingMetric.RootMeanSquaredError, "Value", horizon: Horizon)
            .SetSearchSpace(new RecurrentRegressionSearchSpace());
        forecastingWithRegressionSpace.Invoking(e => e.Run()).Should().Throw<ArgumentException>()
            .WithMessage("*RecurrentRegressionSearchSpace is for regression*RootMeanSquaredError is for forecasting*RecurrentForecastingSearchSpace*");

        var regressionWithForecastingSpace = ml.Recurrent().CreateExperiment().SetDataset(train, valid)
            .SetRegressionMetric(RegressionMetric.MeanAbsoluteError, "Value")
            .SetSearchSpace(new RecurrentForecastingSearchSpace());
        regressionWithForecastingSpace.Invoking(e => e.Run()).Should().Throw<ArgumentException>()
            .WithMessage("*RecurrentForecastingSearchSpace is for forecasting*MeanAbsoluteError is for regression*SetForecastingMetric*");
    }

    private sealed class ZeroWindowSpace : RecurrentForecastingSearchSpace
    {
        [Range(0, 12, 6, false)]
        public new int WindowSize { get; set; } = 6;
    }

    [Fact]
    public void Run_BadWindowSizeOrFoldsOrMissingColumn_IsAClearError()
    {
        var (ml, _, train, valid) = Seasonal();
        ml.Recurrent().CreateExperiment().SetDataset(train, valid)
            .SetForecastingMetric(ForecastingMetric.MeanAbsoluteError, "Value", horizon: Horizon)
            .SetSearchSpace(new ZeroWindowSpace())
            .Invoking(e => e.Run()).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*allows WindowSize 0*must be ≥ 1*");

        var fixedBadWindow = new RecurrentForecastingSearchSpace();
        ml.Recurrent().CreateExperiment().SetDataset(train, valid)
            .SetForecastingMetric(ForecastingMetric.MeanAbsoluteError, "Value", horizon: Horizon)
            .SetSearchSpace(new FixedWindowSpace { WindowSize = -3 })
            .Invoking(e => e.Run()).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*WindowSize must be ≥ 1; it was -3*");

        ml.Recurrent().CreateExperiment().SetDataset(ml.Data.LoadFromEnumerable(new[] { new Step() }), 3)
            .SetForecastingMetric(ForecastingMetric.MeanAbsoluteError, "Value")
            .SetSearchSpace(fixedBadWindow)
            .Invoking(e => e.Run()).Should().Throw<InvalidOperationException>().WithMessage("*folds are not supported for forecasting*SetDataset(train, validation)*");

        ml.Recurrent().CreateExperiment().SetDataset(train, valid)
            .SetForecastingMetric(ForecastingMetric.MeanAbsoluteError, "Sales", horizon: Horizon)
            .SetSearchSpace(new RecurrentForecastingSearchSpace())
            .Invoking(e => e.Run()).Should().Throw<ArgumentException>().WithMessage("*Sales*");

        ml.Recurrent().CreateExperiment().Invoking(e => e.SetForecastingMetric(ForecastingMetric.MeanAbsoluteError, "Value", horizon: 0))
            .Should().Throw<ArgumentOutOfRangeException>().WithMessage("*horizon must be ≥ 1; it was 0*");
    }

    /// <summary>Sweeps only the cell; the window size is fixed at the instance's value.</summary>
    private sealed class FixedWindowSpace : RecurrentForecastingSearchSpace
    {
        public new int WindowSize { get; set; } = 12;

        public new int HiddenSize { get; set; } = 8;

        public new int NumberOfLayers { get; set; } = 1;

        public new float Dropout { get; set; }

        public new float LearningRate { get; set; } = 0.01f;

        public new int BatchSize { get; set; } = 32;
    }
}
