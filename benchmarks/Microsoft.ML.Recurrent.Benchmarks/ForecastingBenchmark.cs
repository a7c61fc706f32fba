using System.Diagnostics;
using Microsoft.ML.Data;

namespace Microsoft.ML.Recurrent.Benchmarks;

/// <summary>
/// <c>forecasting</c> verb: Fit seconds on the airline series and on 100 series × 500 steps with a covariate; rolling backtest
/// forecasts per second through one <c>Transform</c> over a 100,000-step series (horizon 12, window 24, H 64); the engine's
/// <c>Predict(observation)</c> in µs per call. Medians of <c>--repeats</c> runs.
/// </summary>
internal static class ForecastingBenchmark
{
    private sealed class Step
    {
        public float Value { get; set; }
    }

    private sealed class SeriesStep
    {
        public string Store { get; set; } = "";
        public float Value { get; set; }
        public float Price { get; set; }
    }

    private sealed class Output
    {
        public float[] Forecast { get; set; } = [];
    }

    public static int Run(string[] args)
    {
        int repeats = 3, steps = 100_000, calls = 20_000;
        string? only = null;
        for (int i = 0; i < args.Length - 1; i++)
        {
            if (args[i] == "--repeats") repeats = int.Parse(args[i + 1]);
            if (args[i] == "--steps") steps = int.Parse(args[i + 1]);
            if (args[i] == "--calls") calls = int.Parse(args[i + 1]);
            if (args[i] == "--only") only = args[i + 1];
            if (args[i] == "--threads") Microsoft.ML.Recurrent.Engine.Kernels.Gemm.DefaultThreads = int.Parse(args[i + 1]);
        }

        Console.WriteLine($"forecasting benchmark: {Environment.ProcessorCount} cores, engine threads {Microsoft.ML.Recurrent.Engine.Kernels.Gemm.DefaultThreads}, repeats {repeats} (medians)");
        var ml = new MLContext(seed: 0);
        if (only is null or "fit")
        {
            var airline = Airline();
            var fitAirline = Median(repeats, () =>
            {
                var o = Options(window: 12, horizon: 12, hidden: 32);
                o.SeasonalPeriod = 12;
                ml.Forecasting.ForecastByRecurrent(o).Fit(ml.Data.LoadFromEnumerable(airline.Select(v => new Step { Value = v })));
            });
            Console.WriteLine($"Fit, airline (144 months, window 12, horizon 12, H 32, 3 models, defaults otherwise): {fitAirline:F2} s");

            var many = ManySeries(100, 500);
            var fitMany = Median(Math.Min(repeats, 1), () =>
            {
                var o = Options(window: 24, horizon: 12, hidden: 32);
                o.SeriesIdColumnName = nameof(SeriesStep.Store);
                o.CovariateColumnNames = [nameof(SeriesStep.Price)];
                o.SeasonalPeriod = 7;
                o.MaximumNumberOfEpochs = 10;
                o.NumberOfModels = 1;
                ml.Forecasting.ForecastByRecurrent(o).Fit(ml.Data.LoadFromEnumerable(many));
            });
            Console.WriteLine($"Fit, 100 series × 500 steps + 1 covariate (window 24, horizon 12, H 32, 10 epochs, 1 model): {fitMany:F2} s");
        }

        if (only == "stationarization")
        {
            Stationarization(ml);
            return 0;
        }

        // A model of the benchmark's shape: trained briefly (speed does not depend on the weights' values).
        var series = Enumerable.Range(0, steps).Select(t => (float)(100 + 10 * Math.Sin(t * 2 * Math.PI / 24) + 0.01 * t + Math.Sin(t * 0.37))).ToArray();
        var shape = Options(window: 24, horizon: 12, hidden: 64);
        shape.MaximumNumberOfEpochs = 1;
        shape.NumberOfModels = 1;
        shape.LogTransform = false;
        shape.Stationarization = RecurrentForecastingStationarization.Differencing;
        var model = ml.Forecasting.ForecastByRecurrent(shape).Fit(ml.Data.LoadFromEnumerable(series.Take(600).Select(v => new Step { Value = v })));

        if (only is null or "backtest")
        {
            var view = ml.Data.LoadFromEnumerable(series.Select(v => new Step { Value = v }));
            var scored = model.Transform(view);
            long rows = 0;
            double seconds = Median(repeats, () =>
            {
                var col = scored.Schema["Forecast"];
                using var cursor = scored.GetRowCursor([col]);
                var getter = cursor.GetGetter<VBuffer<float>>(col);
                VBuffer<float> v = default;
                rows = 0;
                while (cursor.MoveNext())
                {
                    getter(ref v);
                    rows++;
                }
            });
            Console.WriteLine($"Backtest through Transform: {rows:N0} rows (horizon 12, window 24, LSTM H 64) in {seconds:F2} s = {rows / seconds:N0} forecasts/s");
        }

        if (only is null or "engine")
        {
            var engine = model.CreateForecastingEngine<Step, Output>(ml);
            var fm = model.Model;
            var x = new float[24 * fm.FeatureWidth];
            var y = new float[12];
            var scratch = new float[12];
            var st = fm.Series[0];
            var hist = series.Take(fm.HistoryLength).ToArray();
            var p1 = new float[12];
            var p2 = new float[12];
            var p3 = new float[12];
            int k = 0;
            // The same network with the engine's default threads (what the forecaster used before it pinned inference to
            // the calling thread): the batch-1 unit split across every core, handed over per step by spinning.
            var shared = new Microsoft.ML.Recurrent.Engine.Training.SequencePredictor(fm.Spec, fm.Networks[0]);
            var cases = new (string Name, Action Call)[]
            {
                ("the network's forward pass alone over one window (baseline)", () => fm.RunNetworks(x, y, scratch)),
                ($"the same forward pass with the engine's default threads ({Microsoft.ML.Recurrent.Engine.Kernels.Gemm.DefaultThreads}; the forecaster before)", () => shared.Predict(x, y)),
                ("the forecast computed directly from a window of rows (scaling, network, inverse, band)", () => fm.Forecast(st, hist, default, 12, 0.9f, p1, p2, p3)),
                ("engine Predict() (forecast from the state, result object)", () => engine.Predict()),
                ("engine Predict(observation)", () => engine.Predict(new Step { Value = series[k++ % series.Length] })),
            };
            // Warm-up first (tiered compilation finishes late on a loaded machine), then the cases interleaved, repeatedly.
            foreach (var c in cases) for (int i = 0; i < calls; i++) c.Call();
            var times = cases.Select(_ => new List<double>()).ToArray();
            for (int r = 0; r < Math.Max(5, repeats); r++)
            {
                for (int q = 0; q < cases.Length; q++)
                {
                    var clock = Stopwatch.StartNew();
                    for (int i = 0; i < calls; i++) cases[q].Call();
                    times[q].Add(clock.Elapsed.TotalMilliseconds * 1000 / calls);
                }
            }

            Console.WriteLine($"Horizon 12, window 24, LSTM H 64, 1 network; µs per call, median of {times[0].Count} interleaved batches of {calls:N0}:");
            for (int q = 0; q < cases.Length; q++) Console.WriteLine($"  {BenchStats.Median(times[q]),8:F2}  {cases[q].Name}");
        }

        return 0;
    }

    /// <summary>
    /// The measurement behind the Auto default: each stationarization forced in turn (and Auto), fitted on the first 80 % of a
    /// series, scored by the MAE of the 1..12-step forecasts whose origins lie in the last 20 %.
    /// </summary>
    private static void Stationarization(MLContext ml)
    {
        var r = new Random(3);
        double G() => Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble());
        var additive = Enumerable.Range(0, 240).Select(t => (float)(50 + 0.2 * t + 8 * Math.Sin(2 * Math.PI * t / 12) + G())).ToArray();
        var multiplicative = Enumerable.Range(0, 240).Select(t => (float)(Math.Exp(3 + 0.01 * t) * (1 + 0.25 * Math.Sin(2 * Math.PI * t / 12)) * (1 + 0.03 * G()))).ToArray();
        var seriesSet = new (string Name, float[] Y)[] { ("airline (144)", Airline()), ("additive trend+season (240)", additive), ("multiplicative trend×season (240)", multiplicative) };
        var variants = new (string Name, RecurrentForecastingStationarization Mode, bool? Log)[]
        {
            ("Auto", RecurrentForecastingStationarization.Auto, null),
            ("Differencing", RecurrentForecastingStationarization.Differencing, false),
            ("Differencing of log", RecurrentForecastingStationarization.Differencing, true),
            ("SeasonalDifferencing (seasonal-naive residual)", RecurrentForecastingStationarization.SeasonalDifferencing, false),
            ("SeasonalDifferencing of log", RecurrentForecastingStationarization.SeasonalDifferencing, true),
        };
        Console.WriteLine("MAE of 1..12-step forecasts from origins in the last 20 % (window 12, H 32, 3 models, seed 1)");
        foreach (var (name, y) in seriesSet)
        {
            int train = (int)(y.Length * 0.8);
            var all = ml.Data.LoadFromEnumerable(y.Select(v => new Step { Value = v }));
            Console.Write($"  {name,-36}");
            foreach (var v in variants)
            {
                var o = Options(window: 12, horizon: 12, hidden: 32);
                o.SeasonalPeriod = 12;
                o.Stationarization = v.Mode;
                o.LogTransform = v.Log;
                var model = ml.Forecasting.ForecastByRecurrent(o).Fit(ml.Data.TakeRows(all, train));
                var m = ml.Forecasting.Evaluate(ml.Data.SkipRows(model.Transform(all), train - 1), "Value", "Forecast");
                string chosen = v.Mode == RecurrentForecastingStationarization.Auto ? $" ({model.Stationarization}{(model.UsesLogTransform ? "+log" : "")})" : "";
                Console.Write($" | {v.Name}{chosen}: {m.MeanAbsoluteError:F2}");
            }

            Console.WriteLine();
        }
    }

    private static RecurrentForecastingEstimator.Options Options(int window, int horizon, int hidden) => new()
    {
        InputColumnName = "Value",
        OutputColumnName = "Forecast",
        WindowSize = window,
        Horizon = horizon,
        HiddenSize = hidden,
        Seed = 1,
    };

    private static double Median(int repeats, Action action)
    {
        var times = new List<double>();
        for (int r = 0; r < repeats; r++)
        {
            BenchStats.FullCollect();
            var clock = Stopwatch.StartNew();
            action();
            times.Add(clock.Elapsed.TotalSeconds);
        }

        return BenchStats.Median(times);
    }

    private static List<SeriesStep> ManySeries(int count, int length)
    {
        var r = new Random(1);
        var rows = new List<SeriesStep>(count * length);
        for (int t = 0; t < length; t++)
        {
            for (int s = 0; s < count; s++)
            {
                float price = (float)(5 + r.NextDouble());
                float value = (float)(20 + s + 5 * Math.Sin(2 * Math.PI * t / 7) - 3 * price + r.NextDouble());
                rows.Add(new SeriesStep { Store = $"s{s}", Value = value, Price = price });
            }
        }

        return rows;
    }

    /// <summary>samples/Forecasting/airline-passengers.csv, found by walking up from the working directory.</summary>
    private static float[] Airline()
    {
        for (var dir = new DirectoryInfo(Environment.CurrentDirectory); dir is not null; dir = dir.Parent)
        {
            string path = Path.Combine(dir.FullName, "samples", "Forecasting", "airline-passengers.csv");
            if (File.Exists(path)) return File.ReadLines(path).Skip(1).Select(l => float.Parse(l.Split(',')[1], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        }

        throw new FileNotFoundException("samples/Forecasting/airline-passengers.csv not found above the working directory.");
    }
}
