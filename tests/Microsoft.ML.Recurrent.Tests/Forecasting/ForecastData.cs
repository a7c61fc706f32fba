using Microsoft.ML.Data;

namespace Microsoft.ML.Recurrent.Tests.Forecasting;

/// <summary>One row per time step.</summary>
public sealed class Step
{
    public float Value { get; set; }
}

/// <summary>One row per time step of one of many series, with a covariate.</summary>
public sealed class SeriesStep
{
    public string Store { get; set; } = "";
    public float Value { get; set; }
    public float Driver { get; set; }
}

public sealed class Prediction
{
    public float[] Forecast { get; set; } = [];
    public float[] Lower { get; set; } = [];
    public float[] Upper { get; set; } = [];
}

public sealed class PointPrediction
{
    public float[] Forecast { get; set; } = [];
}

/// <summary>Generated series with known structure (fixed seeds).</summary>
internal static class ForecastData
{
    /// <summary>Level + trend + a season of <paramref name="period"/> steps + Gaussian noise.</summary>
    public static float[] TrendSeason(int n, int period, double trend, double amplitude, double noise, int seed)
    {
        var r = new Random(seed);
        var y = new float[n];
        for (int t = 0; t < n; t++)
            y[t] = (float)(50 + trend * t + amplitude * Math.Sin(2 * Math.PI * t / period) + 0.5 * amplitude * Math.Cos(4 * Math.PI * t / period) + noise * Gaussian(r));
        return y;
    }

    /// <summary>An AR(1) series with a season: the noise makes a calibrated band measurable.</summary>
    public static float[] NoisySeason(int n, int period, int seed)
    {
        var r = new Random(seed);
        var y = new float[n];
        double e = 0;
        for (int t = 0; t < n; t++)
        {
            e = 0.5 * e + Gaussian(r);
            y[t] = (float)(20 + 5 * Math.Sin(2 * Math.PI * t / period) + e);
        }

        return y;
    }

    public static double Gaussian(Random r) => Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble());

    public static IDataView View(MLContext ml, IEnumerable<float> values) => ml.Data.LoadFromEnumerable(values.Select(v => new Step { Value = v }).ToList());

    /// <summary>Forecast vectors of every row.</summary>
    public static List<float[]> Column(IDataView data, string name)
    {
        var col = data.Schema[name];
        var list = new List<float[]>();
        using var cursor = data.GetRowCursor([col]);
        var getter = cursor.GetGetter<VBuffer<float>>(col);
        VBuffer<float> v = default;
        while (cursor.MoveNext())
        {
            getter(ref v);
            list.Add(v.DenseValues().ToArray());
        }

        return list;
    }
}

/// <summary>Sales driven by a price that is planned ahead.</summary>
public sealed class SalesStep
{
    public float Sales { get; set; }
    public float Price { get; set; }
}
