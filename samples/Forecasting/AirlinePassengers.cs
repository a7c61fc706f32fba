using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Recurrent;

namespace Samples.Forecasting;

/// <summary>
/// Monthly airline passengers 1949–1960 (thousands; Box &amp; Jenkins, "Time Series Analysis: Forecasting and Control",
/// series G; public data, shipped as airline-passengers.csv). Fit on the first 120 months, forecast the last 24 with one
/// Transform (a rolling backtest), compare with three naive baselines, then fit on all 144 months and forecast 1961 with a
/// 90 % band, drawn as a PNG.
/// </summary>
public static class AirlinePassengers
{
    private sealed class Month
    {
        [LoadColumn(0)] public string MonthName { get; set; } = "";
        [LoadColumn(1)] public float Passengers { get; set; }
    }

    private sealed class Forecast
    {
        public float[] PassengersForecast { get; set; } = [];
        public float[] Lower { get; set; } = [];
        public float[] Upper { get; set; } = [];
    }

    public static void Example(string[] args)
    {
        var ml = new MLContext(seed: 0);
        string csv = Path.Combine(AppContext.BaseDirectory, "airline-passengers.csv");
        var all = ml.Data.LoadFromTextFile<Month>(csv, hasHeader: true, separatorChar: ',');
        var months = ml.Data.CreateEnumerable<Month>(all, reuseRowObject: false).ToList();
        float[] y = months.Select(m => m.Passengers).ToArray();
        const int train = 120, horizon = 12;

        var options = new RecurrentForecastingEstimator.Options
        {
            InputColumnName = nameof(Month.Passengers),
            OutputColumnName = nameof(Forecast.PassengersForecast),
            ConfidenceLowerBoundColumn = nameof(Forecast.Lower),
            ConfidenceUpperBoundColumn = nameof(Forecast.Upper),
            ConfidenceLevel = 0.9f,
            WindowSize = 12,
            Horizon = horizon,
            SeasonalPeriod = 12,
        };
        for (int i = 0; i < args.Length - 1; i++)
        {
            if (args[i] == "--stationarization") options.Stationarization = Enum.Parse<RecurrentForecastingStationarization>(args[i + 1]);
            if (args[i] == "--log") options.LogTransform = bool.Parse(args[i + 1]);
            if (args[i] == "--models") options.NumberOfModels = int.Parse(args[i + 1]);
            if (args[i] == "--window") options.WindowSize = int.Parse(args[i + 1]);
            if (args[i] == "--hidden") options.HiddenSize = int.Parse(args[i + 1]);
            if (args[i] == "--cell") options.CellType = Enum.Parse<RecurrentCellType>(args[i + 1]);
        }

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var model = ml.Forecasting.ForecastByRecurrent(options).Fit(ml.Data.TakeRows(all, train));
        Console.WriteLine($"Fit on 1949–1958 in {clock.Elapsed.TotalSeconds:F1} s: {model.Stationarization}{(model.UsesLogTransform ? " of log" : "")} " +
            $"(reference errors measured: {string.Join(", ", model.StationarizationErrors.Select(e => $"{e.Key} {e.Value:F3}"))})");

        // One Transform over all 144 months is a rolling backtest: row t holds the forecast of months t+1..t+12.
        var scored = ml.Data.CreateEnumerable<Forecast>(model.Transform(all), reuseRowObject: false).ToList();

        // One-step forecasts of the 24 unseen months (1959–1960), and 12-step forecasts from the origins whose year lies inside them.
        Console.WriteLine();
        Console.WriteLine("One-step forecasts of 1959–1960 (thousands of passengers)   RMSE     MAE   sMAPE %");
        Report("recurrent forecaster", t => scored[t].PassengersForecast[0], y, train, 1);
        Report("persistence (last month)", t => y[t], y, train, 1);
        Report("seasonal naive (last year)", t => y[t - 11], y, train, 1);
        Report("seasonal naive with growth", t => y[t - 11] * Growth(y, t), y, train, 1);
        Console.WriteLine();
        Console.WriteLine("1- to 12-step forecasts made from 1958-12 … 1959-12 (13 origins × 12 steps)");
        Report("recurrent forecaster", (t, j) => scored[t].PassengersForecast[j - 1], y, train, horizon);
        Report("persistence (last month)", (t, j) => y[t], y, train, horizon);
        Report("seasonal naive (last year)", (t, j) => y[t + j - 12], y, train, horizon);
        Report("seasonal naive with growth", (t, j) => y[t + j - 12] * Growth(y, t), y, train, horizon);
        int inside = 0, count = 0;
        for (int t = train - 1; t + horizon < y.Length; t++)
            for (int j = 1; j <= horizon; j++, count++)
                if (y[t + j] >= scored[t].Lower[j - 1] && y[t + j] <= scored[t].Upper[j - 1]) inside++;
        Console.WriteLine($"90 % band coverage on those unseen months: {100.0 * inside / count:F0} % of {count}");

        // Refit on all 144 months; the engine continues from the end of the series: Predict() forecasts 1961.
        var full = ml.Forecasting.ForecastByRecurrent(options).Fit(all);
        var engine = full.CreateForecastingEngine<Month, Forecast>(ml);
        var next = engine.Predict();
        Console.WriteLine();
        Console.WriteLine("1961 forecast with its 90 % band:");
        for (int j = 0; j < horizon; j++)
            Console.WriteLine($"  1961-{j + 1:00}  {next.PassengersForecast[j],6:F0}  [{next.Lower[j],4:F0}, {next.Upper[j],4:F0}]");

        string png = Path.Combine(AppContext.BaseDirectory, "airline-forecast.png");
        Draw(y, next, png);
        Console.WriteLine($"Chart: {png}");
    }

    /// <summary>Year-on-year growth at month t: the last 12 months' total over the 12 before.</summary>
    private static float Growth(float[] y, int t)
    {
        float last = 0, before = 0;
        for (int k = 0; k < 12; k++) { last += y[t - k]; before += y[t - 12 - k]; }
        return last / before;
    }

    private static void Report(string name, Func<int, float> oneStep, float[] y, int train, int _) =>
        Print(name, Enumerable.Range(train - 1, y.Length - train).Select(t => (y[t + 1], oneStep(t))));

    private static void Report(string name, Func<int, int, float> forecast, float[] y, int train, int horizon) =>
        Print(name, Enumerable.Range(train - 1, y.Length - train - horizon + 1)
            .SelectMany(t => Enumerable.Range(1, horizon).Select(j => (y[t + j], forecast(t, j)))));

    private static void Print(string name, IEnumerable<(float Actual, float Forecast)> pairs)
    {
        var p = pairs.ToList();
        double rmse = Math.Sqrt(p.Average(x => (double)(x.Actual - x.Forecast) * (x.Actual - x.Forecast)));
        double mae = p.Average(x => (double)Math.Abs(x.Actual - x.Forecast));
        double smape = p.Average(x => 200.0 * Math.Abs(x.Actual - x.Forecast) / (Math.Abs(x.Actual) + Math.Abs(x.Forecast)));
        Console.WriteLine($"  {name,-30} {rmse,26:F1} {mae,7:F1} {smape,9:F2}");
    }

    private static void Draw(float[] y, Forecast next, string path)
    {
        var plot = new ScottPlot.Plot();
        double[] xs = Enumerable.Range(0, y.Length).Select(i => 1949 + i / 12.0).ToArray();
        double[] fx = Enumerable.Range(0, next.PassengersForecast.Length).Select(j => 1949 + (y.Length + j) / 12.0).ToArray();
        var band = plot.Add.FillY(fx, next.Lower.Select(v => (double)v).ToArray(), next.Upper.Select(v => (double)v).ToArray());
        band.LegendText = "90 % band";
        band.FillStyle.Color = ScottPlot.Colors.SteelBlue.WithAlpha(0.3);
        band.LineStyle.Width = 0;
        var history = plot.Add.Scatter(xs, y.Select(v => (double)v).ToArray());
        history.LegendText = "passengers (thousands)";
        var forecast = plot.Add.Scatter(fx, next.PassengersForecast.Select(v => (double)v).ToArray());
        forecast.LegendText = "recurrent forecast";
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { LabelFormatter = v => v.ToString("0") };
        plot.Title("Airline passengers: history and 1961 forecast");
        plot.ShowLegend();
        plot.SavePng(path, 900, 500);
    }
}

// Expected output (timings vary):
// Fit on 1949–1958 in 1.1 s: SeasonalDifferencing of log (reference errors measured: Differencing 3.319, Differencing+Log 3.590, SeasonalDifferencing 0.778, SeasonalDifferencing+Log 1.224, VarianceDrift 0.420, VarianceDrift+Log 0.039)
//
// One-step forecasts of 1959–1960 (thousands of passengers)   RMSE     MAE   sMAPE %
//   recurrent forecaster                                 19.3    15.0      3.32
//   persistence (last month)                             51.8    44.2      9.70
//   seasonal naive (last year)                           50.0    47.6     11.17
//   seasonal naive with growth                           21.4    18.0      4.21
//
// 1- to 12-step forecasts made from 1958-12 … 1959-12 (13 origins × 12 steps)
//   recurrent forecaster                                 18.6    13.6      2.96
//   persistence (last month)                             99.2    77.8     17.31
//   seasonal naive (last year)                           53.4    51.5     12.23
//   seasonal naive with growth                           29.8    27.0      6.41
// 90 % band coverage on those unseen months: 100 % of 156
//
// 1961 forecast with its 90 % band:
//   1961-01     458  [ 430,  485]
//   1961-02     430  [ 399,  461]
//   1961-03     454  [ 423,  485]
//   1961-04     494  [ 467,  522]
//   1961-05     512  [ 483,  540]
//   1961-06     581  [ 553,  608]
//   1961-07     670  [ 639,  702]
//   1961-08     654  [ 624,  684]
//   1961-09     552  [ 522,  582]
//   1961-10     506  [ 470,  542]
//   1961-11     427  [ 400,  454]
//   1961-12     466  [ 430,  501]
// Chart: <output folder>/airline-forecast.png
