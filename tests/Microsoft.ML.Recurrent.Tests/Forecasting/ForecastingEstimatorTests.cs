using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Tests.Estimators;
using Microsoft.ML.Recurrent.Tests.Serialization;

namespace Microsoft.ML.Recurrent.Tests.Forecasting;

/// <summary>One small forecaster fitted once for the workout tests (trend + season, 200 steps).</summary>
public sealed class ForecastFixture
{
    public ForecastFixture()
    {
        Ml = new MLContext(seed: 0);
        Series = ForecastData.TrendSeason(200, 12, 0.2, 8, 1.0, seed: 3);
        Train = ForecastData.View(Ml, Series.Take(160));
        All = ForecastData.View(Ml, Series);
        Options = SmallOptions();
        Model = Ml.Forecasting.ForecastByRecurrent(Options).Fit(Train);
    }

    public MLContext Ml { get; }
    public float[] Series { get; }
    public IDataView Train { get; }
    public IDataView All { get; }
    public RecurrentForecastingEstimator.Options Options { get; }
    public RecurrentForecastingTransformer Model { get; }

    public static RecurrentForecastingEstimator.Options SmallOptions() => new()
    {
        InputColumnName = nameof(Step.Value),
        OutputColumnName = nameof(Prediction.Forecast),
        ConfidenceLowerBoundColumn = nameof(Prediction.Lower),
        ConfidenceUpperBoundColumn = nameof(Prediction.Upper),
        ConfidenceLevel = 0.9f,
        WindowSize = 12,
        Horizon = 6,
        SeasonalPeriod = 12,
        HiddenSize = 8,
        MaximumNumberOfEpochs = 30,
        NumberOfModels = 1,
        NumberOfThreads = 1,
        Seed = 1,
    };
}

public sealed class ForecastingEstimatorTests : IClassFixture<ForecastFixture>
{
    private readonly ForecastFixture _f;

    public ForecastingEstimatorTests(ForecastFixture fixture) => _f = fixture;

    [Fact]
    public void OutputSchema_FromShapeAndFromFit_AddsForecastAndBoundVectors()
    {
        var est = _f.Ml.Forecasting.ForecastByRecurrent(_f.Options);
        var shape = est.GetOutputSchema(TestHelpers.ShapeOf<Step>(_f.Ml));
        foreach (var name in new[] { "Forecast", "Lower", "Upper" })
        {
            Microsoft.ML.Recurrent.Data.SequenceSchema.TryFind(shape, name, out var col).Should().BeTrue(name);
            col.ItemType.Should().Be(NumberDataViewType.Single);
            col.Kind.Should().Be(SchemaShape.Column.VectorKind.VariableVector);
        }

        var schema = _f.Model.GetOutputSchema(_f.Train.Schema);
        TestHelpers.VisibleColumns(schema).Should().Equal("Value", "Forecast", "Lower", "Upper");
    }

    [Fact]
    public void Transform_EveryRow_ForecastsHorizonValuesAndRowsBeforeTheFirstWindowAreNaN()
    {
        var forecasts = ForecastData.Column(_f.Model.Transform(_f.All), "Forecast");
        forecasts.Should().HaveCount(200);
        forecasts.Should().OnlyContain(f => f.Length == 6);
        // Seasonal differencing: the first forecast needs window (12) + period (12) rows.
        forecasts.Take(23).Should().OnlyContain(f => f.All(float.IsNaN));
        forecasts.Skip(23).Should().OnlyContain(f => f.All(float.IsFinite));
        var lower = ForecastData.Column(_f.Model.Transform(_f.All), "Lower");
        var upper = ForecastData.Column(_f.Model.Transform(_f.All), "Upper");
        for (int t = 23; t < 200; t++)
            for (int j = 0; j < 6; j++)
                (lower[t][j] <= forecasts[t][j] && forecasts[t][j] <= upper[t][j]).Should().BeTrue($"row {t} step {j + 1}");
    }

    [Fact]
    public void Model_TrendPlusSeason_BeatsSeasonalNaiveOnUnseenSteps()
    {
        var scored = _f.Model.Transform(_f.All);
        var metrics = _f.Ml.Forecasting.Evaluate(_f.Ml.Data.SkipRows(scored, 159), "Value", "Forecast", "Lower", "Upper", seasonalPeriod: 12);
        double naive = 0;
        int count = 0;
        for (int t = 159; t < 199; t++)
        {
            for (int j = 1; j <= 6 && t + j < 200; j++, count++)
                naive += Math.Abs(_f.Series[t + j] - _f.Series[t + j - 12]);
        }

        naive /= count;
        metrics.Count.Should().Be(count);
        metrics.MeanAbsoluteError.Should().BeLessThan(0.6 * naive, "the seasonal naive forecast misses the trend (0.2 per step, 2.4 per season)");
    }

    [Fact]
    public void SaveLoad_InProcess_SameOutputs()
    {
        using var dir = new TempDirectory();
        string path = dir.File("forecaster.zip");
        _f.Ml.Model.Save(_f.Model, _f.Train.Schema, path);
        var loaded = new MLContext(seed: 5).Model.Load(path, out var schema);
        TestHelpers.VisibleColumns(schema).Should().Equal("Value");
        loaded.Transform(_f.All).ShouldHaveSameColumnsAndData(_f.Model.Transform(_f.All), "Forecast", "Lower", "Upper");
    }

    [Fact]
    public void SaveLoad_FreshProcess_IdenticalForecasts()
    {
        using var dir = new TempDirectory();
        string path = dir.File("forecaster.zip");
        _f.Ml.Model.Save(_f.Model, _f.Train.Schema, path);
        var result = FreshProcess.Transform(_f.Ml, path, _f.All, dir.Path);
        result.ExitCode.Should().Be(0, result.StandardError);
        result.StandardOutput.Should().Contain("Forecast: Vector<Single>");
        _f.Ml.Data.LoadFromBinary(result.OutputPath).ShouldHaveSameColumnsAndData(_f.Model.Transform(_f.All), "Forecast", "Lower", "Upper");
    }

    [Fact]
    public void Engine_AfterReset_SteppingEqualsTransform()
    {
        var engine = _f.Model.CreateForecastingEngine<Step, Prediction>(_f.Ml);
        engine.Reset();
        var expected = ForecastData.Column(_f.Model.Transform(_f.All), "Forecast");
        var lower = ForecastData.Column(_f.Model.Transform(_f.All), "Lower");
        for (int t = 0; t < _f.Series.Length; t++)
        {
            var p = engine.Predict(new Step { Value = _f.Series[t] });
            p.Forecast.Should().Equal(expected[t], (a, b) => float.IsNaN(a) ? float.IsNaN(b) : Math.Abs(a - b) <= 1e-4f, $"row {t}");
            p.Lower.Should().Equal(lower[t], (a, b) => float.IsNaN(a) ? float.IsNaN(b) : Math.Abs(a - b) <= 1e-4f, $"row {t}");
        }
    }

    [Fact]
    public void Engine_FromFittedModel_ContinuesFromTheEndOfTheTrainingSeries()
    {
        var engine = _f.Model.CreateForecastingEngine<Step, Prediction>(_f.Ml);
        var lastTrainingRow = ForecastData.Column(_f.Model.Transform(_f.Train), "Forecast")[^1];
        engine.Predict().Forecast.Should().Equal(lastTrainingRow);
        // Shorter horizon and another level: a prefix of the forecast, a band nested in the 90 % one.
        var p50 = engine.Predict(3, 0.5f);
        p50.Forecast.Should().Equal(lastTrainingRow.Take(3));
        var p90 = engine.Predict();
        for (int j = 0; j < 3; j++)
        {
            p50.Lower[j].Should().BeGreaterThanOrEqualTo(p90.Lower[j]);
            p50.Upper[j].Should().BeLessThanOrEqualTo(p90.Upper[j]);
        }

        // The next observation equals Transform over the training rows plus that row.
        var extended = ForecastData.Column(_f.Model.Transform(ForecastData.View(_f.Ml, _f.Series.Take(161))), "Forecast")[^1];
        engine.Predict(new Step { Value = _f.Series[160] }).Forecast.Should().Equal(extended);
    }

    [Fact]
    public void Engine_CheckPoint_LoadedEngineContinuesWithTheSameForecasts()
    {
        var engine = _f.Model.CreateForecastingEngine<Step, Prediction>(_f.Ml);
        for (int t = 160; t < 170; t++) engine.Predict(new Step { Value = _f.Series[t] });
        using var dir = new TempDirectory();
        string path = dir.File("checkpoint.zip");
        engine.CheckPoint(_f.Ml, path);
        var stream = new MemoryStream();
        engine.CheckPoint(_f.Ml, stream);

        var ml2 = new MLContext(seed: 9);
        var resumed = ml2.Model.Load(path, out _).CreateForecastingEngine<Step, Prediction>(ml2);
        stream.Position = 0;
        var fromStream = ml2.Model.Load(stream, out _).CreateForecastingEngine<Step, Prediction>(ml2);
        resumed.Predict().Forecast.Should().Equal(engine.Predict().Forecast);
        for (int t = 170; t < 200; t++)
        {
            var expected = engine.Predict(new Step { Value = _f.Series[t] });
            resumed.Predict(new Step { Value = _f.Series[t] }).Forecast.Should().Equal(expected.Forecast, $"row {t}");
            fromStream.Predict(new Step { Value = _f.Series[t] }).Upper.Should().Equal(expected.Upper, $"row {t}");
        }
    }

    [Fact]
    public void Engine_BadCalls_NameTheProblem()
    {
        var engine = _f.Model.CreateForecastingEngine<Step, Prediction>(_f.Ml);
        engine.Invoking(e => e.Predict(7)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*horizon must be in [1, 6]*7*");
        engine.Invoking(e => e.Predict(0)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*horizon*");
        engine.Invoking(e => e.Predict(3, 1.5f)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*confidenceLevel*");
        engine.Invoking(e => e.Predict(new Step { Value = float.NaN })).Should().Throw<InvalidOperationException>().WithMessage("*'Value'*NaN*");
        _f.Model.Invoking(m => m.CreateForecastingEngine<SeriesStep, Step>(_f.Ml)).Should().Throw<InvalidOperationException>().WithMessage("*Step*'Forecast'*");
        new MLContext().Transforms.CopyColumns("a", "Value").Fit(_f.Train)
            .Invoking(m => m.CreateForecastingEngine<Step, Prediction>(_f.Ml)).Should().Throw<ArgumentException>().WithMessage("*no recurrent forecaster*");
    }

    [Fact]
    public void Transform_NaNInTheSeries_NamesColumnAndRow()
    {
        var values = _f.Series.Take(40).ToArray();
        values[30] = float.NaN;
        var data = _f.Model.Transform(ForecastData.View(_f.Ml, values));
        var error = FluentActions.Invoking(() => ForecastData.Column(data, "Forecast")).Should().Throw<Exception>().Which;
        // ML.NET may wrap the mapping's exception (its cursor runs on a worker thread): the message is in the chain.
        var messages = new List<string>();
        for (Exception? e = error; e is not null; e = e.InnerException) messages.Add(e.Message);
        messages.Should().Contain(m => m.Contains("'Value'") && m.Contains("NaN") && m.Contains("row 30"));
    }

    [Fact]
    public void Evaluate_KnownForecasts_GivesKnownMetrics()
    {
        // Series 1, 2, 3, 4; forecasts of 2 steps; row 0 forecasts (2, 4) against (2, 3); row 1 forecasts (3, 3) against (3, 4).
        var rows = new[]
        {
            new Scored { Y = 1, F = [2, 4], L = [1, 3.5f], U = [3, 5] },
            new Scored { Y = 2, F = [3, 3], L = [2, 2], U = [4, 3.5f] },
            new Scored { Y = 3, F = [float.NaN, float.NaN], L = [0, 0], U = [0, 0] },
            new Scored { Y = 4, F = [5, 6], L = [0, 0], U = [9, 9] },
        };
        var view = _f.Ml.Data.LoadFromEnumerable(rows);
        var m = _f.Ml.Forecasting.Evaluate(view, "Y", "F", "L", "U", seasonalPeriod: 1);
        // Step 1: rows 0 and 1 forecast 2 and 3 for actuals 2 and 3; step 2: they forecast 4 and 3 for actuals 3 and 4.
        m.CountPerStep.Should().Equal(2L, 2L);
        m.MeanAbsoluteErrorPerStep[0].Should().BeApproximately(0, 1e-12);
        m.MeanAbsoluteErrorPerStep[1].Should().BeApproximately(1, 1e-12);
        m.RootMeanSquaredErrorPerStep.Should().Equal(0.0, 1.0);
        m.SymmetricMeanAbsolutePercentageErrorPerStep[0].Should().Be(0);
        m.SymmetricMeanAbsolutePercentageErrorPerStep[1].Should().BeApproximately(200.0 / 7, 1e-9, "|4 − 3| and |3 − 4| over (3 + 4) / 2");
        m.MeanAbsoluteScaledErrorPerStep!.Should().Equal(0.0, 1.0);
        m.Count.Should().Be(4);
        m.MeanAbsoluteError.Should().BeApproximately(0.5, 1e-12);
        m.RootMeanSquaredError.Should().BeApproximately(Math.Sqrt(0.5), 1e-12);
        m.SymmetricMeanAbsolutePercentageError.Should().BeApproximately(100.0 / 7, 1e-9, "two errors of 200·1/7 and two of 0");
        m.MeanAbsoluteScaledError.Should().BeApproximately(0.5, 1e-12, "the one-step naive scale of 1, 2, 3, 4 is 1");
        m.CoveragePerStep!.Should().Equal(1.0, 0.0);
        m.Coverage.Should().BeApproximately(0.5, 1e-12);
    }

    private sealed class Scored
    {
        public float Y { get; set; }
        [VectorType] public float[] F { get; set; } = [];
        [VectorType] public float[] L { get; set; } = [];
        [VectorType] public float[] U { get; set; } = [];
    }
}
