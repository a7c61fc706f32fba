using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Forecasting;
using Microsoft.ML.Recurrent.Tests.Estimators;

namespace Microsoft.ML.Recurrent.Tests.Forecasting;

public sealed class ForecastingBehaviourTests
{
    private static RecurrentForecastingEstimator.Options Small(int window = 12, int horizon = 3, int? period = 12) => new()
    {
        InputColumnName = nameof(Step.Value),
        OutputColumnName = nameof(Prediction.Forecast),
        ConfidenceLowerBoundColumn = nameof(Prediction.Lower),
        ConfidenceUpperBoundColumn = nameof(Prediction.Upper),
        ConfidenceLevel = 0.9f,
        WindowSize = window,
        Horizon = horizon,
        SeasonalPeriod = period,
        HiddenSize = 8,
        MaximumNumberOfEpochs = 15,
        NumberOfModels = 1,
        NumberOfThreads = 1,
        Seed = 2,
    };

    [Fact]
    public void Band_Calibrated90_CoversBetween85And95PercentOfUnseenPoints()
    {
        var ml = new MLContext(seed: 0);
        var y = ForecastData.NoisySeason(900, 12, seed: 11);
        var model = ml.Forecasting.ForecastByRecurrent(Small()).Fit(ForecastData.View(ml, y.Take(600)));
        var scored = ml.Data.SkipRows(model.Transform(ForecastData.View(ml, y)), 599);
        var metrics = ml.Forecasting.Evaluate(scored, "Value", "Forecast", "Lower", "Upper");
        metrics.Count.Should().Be(3 * 300 - 3);
        metrics.Coverage!.Value.Should().BeInRange(0.85, 0.95);
        foreach (double c in metrics.CoveragePerStep!) c.Should().BeInRange(0.82, 0.98);
    }

    [Fact]
    public void Covariate_ThatDecidesTheNextValue_ModelWithItClearlyBeatsModelWithout()
    {
        var ml = new MLContext(seed: 0);
        var rows = new List<SeriesStep>();
        var r = new Random(5);
        var x = new Dictionary<string, double> { ["a"] = 0, ["b"] = 0 };
        var level = new Dictionary<string, double> { ["a"] = 10, ["b"] = 100 };
        var scale = new Dictionary<string, double> { ["a"] = 4, ["b"] = 40 };
        for (int t = 0; t < 400; t++)
        {
            foreach (var s in new[] { "a", "b" })
            {
                // The value follows last step's driver; the driver is seen with the series (only its past is used).
                float value = (float)(level[s] + scale[s] * x[s] + 0.05 * scale[s] * ForecastData.Gaussian(r));
                x[s] = ForecastData.Gaussian(r);
                rows.Add(new SeriesStep { Store = s, Value = value, Driver = (float)x[s] });
            }
        }

        var all = ml.Data.LoadFromEnumerable(rows);
        var train = ml.Data.TakeRows(all, 600);
        RecurrentForecastingEstimator.Options Options(bool withDriver)
        {
            var o = Small(window: 4, horizon: 1, period: null);
            o.SeriesIdColumnName = nameof(SeriesStep.Store);
            o.CovariateColumnNames = withDriver ? [nameof(SeriesStep.Driver)] : [];
            o.MaximumNumberOfEpochs = 30;
            return o;
        }

        var with = ml.Forecasting.ForecastByRecurrent(Options(true)).Fit(train);
        var without = ml.Forecasting.ForecastByRecurrent(Options(false)).Fit(train);
        with.SeriesIds.Should().Equal("a", "b");
        var test = ml.Data.SkipRows(all, 500);
        var mWith = ml.Forecasting.Evaluate(ml.Data.SkipRows(with.Transform(all), 500), "Value", "Forecast", seriesIdColumnName: "Store");
        var mWithout = ml.Forecasting.Evaluate(ml.Data.SkipRows(without.Transform(all), 500), "Value", "Forecast", seriesIdColumnName: "Store");
        mWith.MeanAbsoluteError.Should().BeLessThan(0.3 * mWithout.MeanAbsoluteError);

        // Many series: the engine continues each series from its own end and takes the series id.
        var engine = with.CreateForecastingEngine<SeriesStep, PointPrediction>(ml);
        var transformed = ForecastData.Column(with.Transform(train), "Forecast");
        engine.Predict("b").Forecast.Should().Equal(transformed[^1]);
        engine.Predict("a").Forecast.Should().Equal(transformed[^2]);
        engine.Invoking(e => e.Predict("c")).Should().Throw<ArgumentException>().WithMessage("*'c'*Store*");
        FluentActions.Invoking(() => ForecastData.Column(with.Transform(ml.Data.LoadFromEnumerable(new[] { new SeriesStep { Store = "c" } })), "Forecast"))
            .Should().Throw<Exception>();
    }

    [Fact]
    public void KnownCovariate_PlannedPrice_EngineWithItsFutureValuesClearlyBeatsModelWithout()
    {
        var ml = new MLContext(seed: 0);
        var r = new Random(8);
        var rows = new List<SalesStep>();
        for (int t = 0; t < 400; t++)
        {
            // Sales respond to the same step's price, which is planned (known) ahead; a weekly season on top.
            float price = (float)(4 + 2 * r.NextDouble());
            rows.Add(new SalesStep { Price = price, Sales = (float)(60 - 6 * price + 3 * Math.Sin(2 * Math.PI * t / 7) + 0.3 * ForecastData.Gaussian(r)) });
        }

        RecurrentForecastingEstimator.Options Options(bool known)
        {
            var o = Small(window: 7, horizon: 3, period: null);
            o.InputColumnName = nameof(SalesStep.Sales);
            o.KnownCovariateColumnNames = known ? [nameof(SalesStep.Price)] : [];
            o.MaximumNumberOfEpochs = 100;
            o.LearningRate = 0.01f;
            o.HiddenSize = 16;
            return o;
        }

        var train = ml.Data.LoadFromEnumerable(rows.Take(300));
        var with = ml.Forecasting.ForecastByRecurrent(Options(true)).Fit(train);
        var without = ml.Forecasting.ForecastByRecurrent(Options(false)).Fit(train);
        var eWith = with.CreateForecastingEngine<SalesStep, PointPrediction>(ml);
        var eWithout = without.CreateForecastingEngine<SalesStep, PointPrediction>(ml);
        double errWith = 0, errWithout = 0;
        int count = 0;
        // Both engines continue from the end of the fitted rows; each consumes row t and forecasts t+1..t+3.
        for (int t = 300; t + 3 < rows.Count; t++)
        {
            var pWith = eWith.Predict(rows[t], rows.GetRange(t + 1, 3));
            var pWithout = eWithout.Predict(rows[t]);
            for (int j = 0; j < 3; j++, count++)
            {
                errWith += Math.Abs(rows[t + 1 + j].Sales - pWith.Forecast[j]);
                errWithout += Math.Abs(rows[t + 1 + j].Sales - pWithout.Forecast[j]);
            }
        }

        (errWith / count).Should().BeLessThan(0.3 * errWithout / count, "the price decides most of the next values");
        eWith.Invoking(e => e.Predict(rows[0])).Should().Throw<ArgumentException>().WithMessage("*Known covariate*'Price'*missing*");
        eWith.Invoking(e => e.Predict(rows.GetRange(0, 2), horizon: 3)).Should().Throw<ArgumentException>().WithMessage("*'Price'*3 row(s)*got 2*");
        // A forward Transform cannot see the coming rows: its forecasts are NaN (documented).
        ForecastData.Column(with.Transform(train), "Forecast").Should().OnlyContain(f => f.All(float.IsNaN));
    }

    [Fact]
    public void Transform_LongSeriesAndParallelCursorSets_StayInRowOrderAndEqualTheEngine()
    {
        var ml = new MLContext(seed: 0);
        var y = ForecastData.NoisySeason(6000, 12, seed: 21);
        var o = Small(window: 6, horizon: 2, period: null);
        o.HiddenSize = 4;
        o.MaximumNumberOfEpochs = 2;
        var model = ml.Forecasting.ForecastByRecurrent(o).Fit(ForecastData.View(ml, y.Take(200)));
        var scored = model.Transform(ForecastData.View(ml, y));

        // Asked for 4 parallel cursors, ML.NET computes the stateful mapping on one sequential cursor and splits its rows
        // among the consumers: drained concurrently, every row (found by its row id) holds the forecast of its own history.
        var col = scored.Schema["Forecast"];
        var cursors = scored.GetRowCursorSet([col, scored.Schema["Value"]], 4);
        var byRow = new System.Collections.Concurrent.ConcurrentDictionary<ulong, (float Value, float[] Forecast)>();
        Parallel.ForEach(cursors, new ParallelOptions { MaxDegreeOfParallelism = cursors.Length }, cursor =>
        {
            using (cursor)
            {
                var getter = cursor.GetGetter<VBuffer<float>>(col);
                var value = cursor.GetGetter<float>(scored.Schema["Value"]);
                var id = cursor.GetIdGetter();
                VBuffer<float> f = default;
                float v = 0;
                DataViewRowId rowId = default;
                while (cursor.MoveNext())
                {
                    getter(ref f);
                    value(ref v);
                    id(ref rowId);
                    byRow[rowId.Low] = (v, f.DenseValues().ToArray());
                }
            }
        });

        byRow.Should().HaveCount(6000);
        var engine = model.CreateForecastingEngine<Step, Prediction>(ml);
        engine.Reset();
        for (int t = 0; t < y.Length; t++)
        {
            var expected = engine.Predict(new Step { Value = y[t] }).Forecast;
            byRow[(ulong)t].Value.Should().Be(y[t]);
            if (t >= 7) byRow[(ulong)t].Forecast.Should().Equal(expected, $"row {t}");
        }
    }

    [Fact]
    public void Fit_SameSeed_SameForecasts_ProgressReportsEveryEpoch_CancellationStops()
    {
        var ml = new MLContext(seed: 0);
        var data = ForecastData.View(ml, ForecastData.NoisySeason(150, 12, seed: 6));
        var reports = new List<RecurrentEpochReport>();
        var o = Small();
        o.MaximumNumberOfEpochs = 4;
        o.EarlyStoppingPatience = 0;
        o.Progress = new Progress(reports);
        var a = ml.Forecasting.ForecastByRecurrent(o).Fit(data);
        o.Progress = null;
        var b = ml.Forecasting.ForecastByRecurrent(o).Fit(data);
        ForecastData.Column(a.Transform(data), "Forecast").Should().BeEquivalentTo(ForecastData.Column(b.Transform(data), "Forecast"), x => x.WithStrictOrdering());
        reports.Should().HaveCount(8, "4 epochs of the validated run, then 4 of the refit");
        a.TrainingHistory.Should().HaveCount(8);
        reports.Take(4).Should().OnlyContain(r => r.ValidationLoss.HasValue);
        o.Seed = 3;
        var c = ml.Forecasting.ForecastByRecurrent(o).Fit(data);
        ForecastData.Column(c.Transform(data), "Forecast")[^1].Should().NotEqual(ForecastData.Column(a.Transform(data), "Forecast")[^1]);

        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        o.CancellationToken = cancel.Token;
        ml.Forecasting.ForecastByRecurrent(o).Invoking(e => e.Fit(data)).Should().Throw<OperationCanceledException>();
    }

    private sealed class Progress(List<RecurrentEpochReport> sink) : IProgress<RecurrentEpochReport>
    {
        public void Report(RecurrentEpochReport value) => sink.Add(value);
    }

    [Fact]
    public void SeriesId_KeyWithTextValues_SameForecastsAsText_AndCheckpointReadsKeys()
    {
        var ml = new MLContext(seed: 0);
        var a = ForecastData.NoisySeason(120, 12, seed: 1);
        var b = ForecastData.NoisySeason(120, 12, seed: 2);
        var rows = Enumerable.Range(0, 120).SelectMany(t => new[] { new SeriesStep { Store = "a", Value = a[t] }, new SeriesStep { Store = "b", Value = 3 * b[t] } }).ToList();
        var text = ml.Data.LoadFromEnumerable(rows);
        var keyed = ml.Transforms.Conversion.MapValueToKey("Store").Fit(text).Transform(text);
        keyed.Schema["Store"].Type.Should().BeOfType<KeyDataViewType>();
        var o = Small(window: 6, horizon: 2, period: null);
        o.InputColumnName = nameof(SeriesStep.Value);
        o.SeriesIdColumnName = nameof(SeriesStep.Store);
        o.MaximumNumberOfEpochs = 3;
        var fromText = ml.Forecasting.ForecastByRecurrent(o).Fit(text);
        var fromKey = ml.Forecasting.ForecastByRecurrent(o).Fit(keyed);
        ForecastData.Column(fromKey.Transform(keyed), "Forecast").Should().BeEquivalentTo(ForecastData.Column(fromText.Transform(text), "Forecast"), x => x.WithStrictOrdering());

        var byKey = ml.Forecasting.Evaluate(fromKey.Transform(keyed), "Value", "Forecast", seriesIdColumnName: "Store");
        var byText = ml.Forecasting.Evaluate(fromText.Transform(text), "Value", "Forecast", seriesIdColumnName: "Store");
        byKey.MeanAbsoluteError.Should().Be(byText.MeanAbsoluteError);
        byKey.Count.Should().Be(2 * (113 + 112), "rows 6..118 of each series have a next value, rows 6..117 two");

        var engine = fromKey.CreateForecastingEngine<SeriesStep, PointPrediction>(ml);
        engine.Predict(new SeriesStep { Store = "b", Value = 60 });
        var stream = new MemoryStream();
        engine.CheckPoint(ml, stream);
        stream.Position = 0;
        var loaded = ml.Model.Load(stream, out var schema);
        schema["Store"].Type.Should().BeOfType<KeyDataViewType>();
        ForecastData.Column(loaded.Transform(keyed), "Forecast").Should().BeEquivalentTo(ForecastData.Column(fromKey.Transform(keyed), "Forecast"), x => x.WithStrictOrdering());
        loaded.CreateForecastingEngine<SeriesStep, PointPrediction>(ml).Predict("b").Forecast.Should().Equal(engine.Predict("b").Forecast);
    }

    [Fact]
    public void Options_Invalid_ThrowNamingTheOption()
    {
        var ml = new MLContext();
        RecurrentForecastingEstimator Make(Action<RecurrentForecastingEstimator.Options> change)
        {
            var o = Small();
            change(o);
            return ml.Forecasting.ForecastByRecurrent(o);
        }

        FluentActions.Invoking(() => ml.Forecasting.ForecastByRecurrent("F", "Value", 12, 0)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("Horizon");
        FluentActions.Invoking(() => Make(o => o.WindowSize = 0)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("WindowSize");
        FluentActions.Invoking(() => Make(o => o.ConfidenceLevel = 1f)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("ConfidenceLevel");
        FluentActions.Invoking(() => Make(o => o.SeasonalPeriod = 1)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("SeasonalPeriod");
        FluentActions.Invoking(() => Make(o => o.ConfidenceUpperBoundColumn = null)).Should().Throw<ArgumentException>().WithMessage("*both*");
        FluentActions.Invoking(() => Make(o => { o.SeasonalPeriod = null; o.Stationarization = RecurrentForecastingStationarization.SeasonalDifferencing; }))
            .Should().Throw<ArgumentException>().WithParameterName("Stationarization");
        FluentActions.Invoking(() => Make(o => o.NumberOfModels = 0)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("NumberOfModels");
    }

    [Fact]
    public void Fit_BadData_NamesColumnRowAndWhatIsNeeded()
    {
        var ml = new MLContext();
        var y = ForecastData.NoisySeason(100, 12, seed: 1);

        // Window longer than the series.
        var tooLong = Small(window: 120);
        FluentActions.Invoking(() => ml.Forecasting.ForecastByRecurrent(tooLong).Fit(ForecastData.View(ml, y)))
            .Should().Throw<ArgumentException>().WithMessage("*100 rows*at least*WindowSize (120)*");
        // Series shorter than lag + window + horizon + validation.
        FluentActions.Invoking(() => ml.Forecasting.ForecastByRecurrent(Small()).Fit(ForecastData.View(ml, y.Take(30))))
            .Should().Throw<ArgumentException>().WithMessage("*30 rows*at least 33*lag (12) + WindowSize (12) + Horizon (3)*6 held out*");
        // NaN in the series, with its row.
        var nan = y.ToArray();
        nan[42] = float.NaN;
        FluentActions.Invoking(() => ml.Forecasting.ForecastByRecurrent(Small()).Fit(ForecastData.View(ml, nan)))
            .Should().Throw<ArgumentException>().WithMessage("*'Value'*NaN*row 42*");
        // NaN in a covariate.
        var rows = y.Select((v, t) => new SeriesStep { Store = "s", Value = v, Driver = t == 17 ? float.NaN : 1 }).ToList();
        var o = Small();
        o.CovariateColumnNames = [nameof(SeriesStep.Driver)];
        FluentActions.Invoking(() => ml.Forecasting.ForecastByRecurrent(o).Fit(ml.Data.LoadFromEnumerable(rows)))
            .Should().Throw<ArgumentException>().WithMessage("*'Driver'*NaN*row 17*");
    }

    [Fact]
    public void Schema_NonSingleColumn_SuggestsConvertTypeAtShapeAndFit()
    {
        var ml = new MLContext();
        var data = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 80).Select(i => new DoubleStep { Value = i }));
        var est = ml.Forecasting.ForecastByRecurrent(Small());
        est.Invoking(e => e.GetOutputSchema(TestHelpers.ShapeOf<DoubleStep>(ml))).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*'Value'*Single*Double*ConvertType*");
        est.Invoking(e => e.Fit(data)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*'Value'*Single*Double*ConvertType*");
        var missing = Small();
        missing.CovariateColumnNames = ["Nope"];
        ml.Forecasting.ForecastByRecurrent(missing).Invoking(e => e.Fit(ForecastData.View(ml, new float[80]))).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*'Nope'*not found*");
        var idNumber = Small();
        idNumber.SeriesIdColumnName = "Value";
        ml.Forecasting.ForecastByRecurrent(idNumber).Invoking(e => e.Fit(ForecastData.View(ml, new float[80]))).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*'Value'*text*");
    }

    [Fact]
    public void Format_RoundTripsAndRejectsTruncatedOrCorruptedBytes()
    {
        var ml = new MLContext();
        var model = ml.Forecasting.ForecastByRecurrent(Small()).Fit(ForecastData.View(ml, ForecastData.NoisySeason(120, 12, seed: 4)));
        byte[] bytes = ForecastModelFormat.Write(model.Model);
        var back = ForecastModelFormat.Read(bytes);
        ForecastModelFormat.Write(back).Should().Equal(bytes);
        back.Series.Single().Tail.Should().HaveCount(24, "window (12) + period (12) rows of the fitted data");

        for (int cut = 0; cut < bytes.Length; cut += 97)
            FluentActions.Invoking(() => ForecastModelFormat.Read(bytes.AsSpan(0, cut))).Should().Throw<InvalidDataException>();
        var flipped = bytes.ToArray();
        flipped[40] ^= 0x10;
        FluentActions.Invoking(() => ForecastModelFormat.Read(flipped)).Should().Throw<InvalidDataException>().WithMessage("*checksum*");
        FluentActions.Invoking(() => ForecastModelCache.Decode("")).Should().Throw<InvalidDataException>().WithMessage("*empty*");
    }

    [Fact]
    public void Format_HostileSizesWithValidChecksum_RejectedBeforeAllocating()
    {
        var ml = new MLContext();
        var model = ml.Forecasting.ForecastByRecurrent(Small()).Fit(ForecastData.View(ml, ForecastData.NoisySeason(120, 12, seed: 4)));
        byte[] bytes = ForecastModelFormat.Write(model.Model);
        // The ensemble size sits after the fixed header and the names; find it by re-writing with a known marker is fragile,
        // so patch the hidden size (offset 20) to the limit and fix the checksum: the parameter count then mismatches.
        var hostile = bytes.ToArray();
        BitConverter.GetBytes(1 << 16).CopyTo(hostile, 20);
        BitConverter.GetBytes(Model.Crc32.Compute(hostile.AsSpan(0, hostile.Length - 4))).CopyTo(hostile, hostile.Length - 4);
        FluentActions.Invoking(() => ForecastModelFormat.Read(hostile)).Should().Throw<InvalidDataException>().WithMessage("*parameter count*");
    }

    private sealed class DoubleStep
    {
        public double Value { get; set; }
    }
}
