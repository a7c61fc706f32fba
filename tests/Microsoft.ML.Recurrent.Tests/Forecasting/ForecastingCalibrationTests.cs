namespace Microsoft.ML.Recurrent.Tests.Forecasting;

/// <summary>
/// The band's calibration residuals: rolling origin over the whole held-out tail, every horizon step whose target is
/// observed (so step j of a tail of v rows gets v − j + 1 residuals), each equal to the held-out forecast's scaled error.
/// </summary>
public sealed class ForecastingCalibrationTests
{
    [Fact]
    public void Residuals_EveryTailOriginAndObservedStep_EqualScaledErrorsOfTheHeldOutForecasts()
    {
        var ml = new MLContext(seed: 0);
        var y = ForecastData.NoisySeason(200, 12, seed: 3);
        var o = new RecurrentForecastingEstimator.Options
        {
            InputColumnName = nameof(Step.Value),
            OutputColumnName = nameof(PointPrediction.Forecast),
            WindowSize = 12,
            Horizon = 3,
            Stationarization = RecurrentForecastingStationarization.Differencing,
            LogTransform = false,
            HiddenSize = 8,
            MaximumNumberOfEpochs = 5,
            NumberOfModels = 1,
            NumberOfThreads = 1,
            // The networks that calibrate are then the ones that forecast, so Transform shows their held-out errors.
            RefitOnAllData = false,
            Seed = 4,
        };
        var model = ml.Forecasting.ForecastByRecurrent(o).Fit(ForecastData.View(ml, y));
        var forecasts = ForecastData.Column(model.Transform(ForecastData.View(ml, y)), nameof(PointPrediction.Forecast));

        int n = y.Length, heldOut = 40, cut = n - heldOut;
        float scale = model.Model.Series[0].Scale;
        for (int j = 1; j <= 3; j++)
        {
            var expected = new List<float>();
            for (int t = cut - 1; t + j <= n - 1; t++) expected.Add(Math.Abs(y[t + j] - forecasts[t][j - 1]) / scale);
            expected.Sort();
            var actual = model.Model.Residuals[j - 1];
            actual.Length.Should().Be(heldOut - j + 1, $"step {j} has one residual per tail origin whose target is observed");
            for (int i = 0; i < actual.Length; i++) actual[i].Should().BeApproximately(expected[i], 1e-3f + 1e-4f * expected[i]);
        }
    }

    [Fact]
    public void Residuals_WithKnownCovariates_OnlyOriginsWithTheWholeHorizonAhead()
    {
        var ml = new MLContext(seed: 0);
        var r = new Random(8);
        var rows = new List<SalesStep>();
        for (int t = 0; t < 150; t++)
        {
            float price = (float)(4 + 2 * r.NextDouble());
            rows.Add(new SalesStep { Price = price, Sales = (float)(60 - 6 * price + 3 * Math.Sin(2 * Math.PI * t / 7) + 0.3 * ForecastData.Gaussian(r)) });
        }

        var o = new RecurrentForecastingEstimator.Options
        {
            InputColumnName = nameof(SalesStep.Sales),
            OutputColumnName = nameof(PointPrediction.Forecast),
            KnownCovariateColumnNames = [nameof(SalesStep.Price)],
            WindowSize = 7,
            Horizon = 3,
            HiddenSize = 8,
            MaximumNumberOfEpochs = 2,
            NumberOfModels = 1,
            NumberOfThreads = 1,
            Seed = 4,
        };
        var model = ml.Forecasting.ForecastByRecurrent(o).Fit(ml.Data.LoadFromEnumerable(rows));

        // Held out: 30 rows; an input needs the known covariates of all 3 coming steps, so 30 − 3 + 1 origins each.
        foreach (var step in model.Model.Residuals) step.Length.Should().Be(28);
    }
}
