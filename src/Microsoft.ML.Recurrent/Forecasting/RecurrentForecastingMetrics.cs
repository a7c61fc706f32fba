using Microsoft.ML.Data;

namespace Microsoft.ML.Recurrent;

/// <summary>
/// Accuracy of rolling forecasts, from <c>mlContext.Forecasting.Evaluate</c>: each row's forecast vector is matched with the
/// actual values of the rows that follow it in the same series. Every figure is given overall and per horizon step.
/// </summary>
public sealed class RecurrentForecastingMetrics
{
    internal RecurrentForecastingMetrics(double[] mae, double[] rmse, double[] smape, double[]? mase, double[]? coverage, long[] counts,
        double mae0, double rmse0, double smape0, double? mase0, double? coverage0)
    {
        MeanAbsoluteErrorPerStep = mae;
        RootMeanSquaredErrorPerStep = rmse;
        SymmetricMeanAbsolutePercentageErrorPerStep = smape;
        MeanAbsoluteScaledErrorPerStep = mase;
        CoveragePerStep = coverage;
        CountPerStep = counts;
        MeanAbsoluteError = mae0;
        RootMeanSquaredError = rmse0;
        SymmetricMeanAbsolutePercentageError = smape0;
        MeanAbsoluteScaledError = mase0;
        Coverage = coverage0;
    }

    /// <summary>Mean absolute error over every matched (forecast, actual) pair, in the series' units.</summary>
    public double MeanAbsoluteError { get; }

    /// <summary>Root mean squared error over every matched pair.</summary>
    public double RootMeanSquaredError { get; }

    /// <summary>Symmetric mean absolute percentage error in percent: mean of 200·|y − ŷ| / (|y| + |ŷ|) (pairs with both 0 count as 0).</summary>
    public double SymmetricMeanAbsolutePercentageError { get; }

    /// <summary>Mean absolute scaled error: each absolute error divided by its series' mean absolute seasonal difference
    /// |y_t − y_{t−m}| over the evaluated rows. Null without a seasonal period.</summary>
    public double? MeanAbsoluteScaledError { get; }

    /// <summary>Fraction of actual values inside [lower, upper]. Null without bound columns.</summary>
    public double? Coverage { get; }

    /// <summary>Mean absolute error of step j (index j − 1).</summary>
    public IReadOnlyList<double> MeanAbsoluteErrorPerStep { get; }

    /// <summary>Root mean squared error of each step.</summary>
    public IReadOnlyList<double> RootMeanSquaredErrorPerStep { get; }

    /// <summary>sMAPE (percent) of each step.</summary>
    public IReadOnlyList<double> SymmetricMeanAbsolutePercentageErrorPerStep { get; }

    /// <summary>MASE of each step; null without a seasonal period.</summary>
    public IReadOnlyList<double>? MeanAbsoluteScaledErrorPerStep { get; }

    /// <summary>Band coverage of each step; null without bound columns.</summary>
    public IReadOnlyList<double>? CoveragePerStep { get; }

    /// <summary>Matched pairs per step (forecasts with a NaN value and steps past the end of a series are skipped).</summary>
    public IReadOnlyList<long> CountPerStep { get; }

    /// <summary>Total matched pairs.</summary>
    public long Count => CountPerStep.Sum();

    internal static RecurrentForecastingMetrics Compute(IDataView scored, string input, string forecast, string? lower, string? upper,
        int? seasonalPeriod, string? seriesId)
    {
        ArgumentNullException.ThrowIfNull(scored);
        ArgumentException.ThrowIfNullOrWhiteSpace(input);
        ArgumentException.ThrowIfNullOrWhiteSpace(forecast);
        if ((lower is null) != (upper is null)) throw new ArgumentException("Give both bound columns or neither.", lower is null ? nameof(lower) : nameof(upper));
        if (seasonalPeriod is int p && p < 1) throw new ArgumentOutOfRangeException(nameof(seasonalPeriod), p, $"seasonalPeriod must be ≥ 1; it was {p}.");
        var schema = scored.Schema;
        var inCol = Column(schema, input, "inputColumnName");
        if (inCol.Type != NumberDataViewType.Single) throw new ArgumentOutOfRangeException("inputColumnName", $"Column '{input}' must be Single; found {inCol.Type}.");
        var fcCol = VectorColumn(schema, forecast, "forecastColumnName");
        var loCol = lower is null ? (DataViewSchema.Column?)null : VectorColumn(schema, lower, "lowerBoundColumnName");
        var hiCol = upper is null ? (DataViewSchema.Column?)null : VectorColumn(schema, upper, "upperBoundColumnName");
        DataViewSchema.Column? idCol = null;
        if (seriesId is not null)
        {
            idCol = Column(schema, seriesId, "seriesIdColumnName");
            if (!(idCol.Value.Type is TextDataViewType || (idCol.Value.Type is KeyDataViewType k && k.RawType == typeof(uint))))
                throw new ArgumentOutOfRangeException("seriesIdColumnName", $"Series id column '{seriesId}' must be text or a UInt32 key; found {idCol.Value.Type}.");
        }

        var series = new Dictionary<string, List<(float Y, float[] F, float[]? L, float[]? U)>>(StringComparer.Ordinal);
        var cols = new List<DataViewSchema.Column> { inCol, fcCol };
        if (loCol is { } lc) cols.Add(lc);
        if (hiCol is { } hc) cols.Add(hc);
        if (idCol is { } ic) cols.Add(ic);
        using (var cursor = scored.GetRowCursor(cols))
        {
            var gy = cursor.GetGetter<float>(inCol);
            var gf = cursor.GetGetter<VBuffer<float>>(fcCol);
            var gl = loCol is { } l1 ? cursor.GetGetter<VBuffer<float>>(l1) : null;
            var gu = hiCol is { } u1 ? cursor.GetGetter<VBuffer<float>>(u1) : null;
            bool keyId = idCol is { Type: KeyDataViewType };
            var gi = idCol is { } i1 && !keyId ? cursor.GetGetter<ReadOnlyMemory<char>>(i1) : null;
            var gk = idCol is { } i2 && keyId ? cursor.GetGetter<uint>(i2) : null;
            uint keyValue = 0;
            float y = 0;
            VBuffer<float> f = default, lo = default, hi = default;
            ReadOnlyMemory<char> id = default;
            while (cursor.MoveNext())
            {
                gy(ref y);
                gf(ref f);
                gl?.Invoke(ref lo);
                gu?.Invoke(ref hi);
                string key = "";
                if (gi is not null) { gi(ref id); key = id.ToString(); }
                if (gk is not null) { gk(ref keyValue); key = keyValue.ToString(System.Globalization.CultureInfo.InvariantCulture); }
                if (!series.TryGetValue(key, out var list)) series[key] = list = [];
                list.Add((y, f.DenseValues().ToArray(), gl is null ? null : lo.DenseValues().ToArray(), gu is null ? null : hi.DenseValues().ToArray()));
            }
        }

        int h = series.Values.SelectMany(s => s).Select(r => r.F.Length).DefaultIfEmpty(0).Max();
        if (h == 0) throw new ArgumentException($"Column '{forecast}' holds no forecasts.", nameof(forecast));
        var ae = new double[h]; var se = new double[h]; var sm = new double[h]; var sc = new double[h]; var cov = new double[h];
        var n = new long[h];
        bool mase = seasonalPeriod is not null;
        foreach (var rows in series.Values)
        {
            double scale = 0;
            if (mase)
            {
                int m = seasonalPeriod!.Value, k = 0;
                for (int t = m; t < rows.Count; t++) { scale += Math.Abs(rows[t].Y - rows[t - m].Y); k++; }
                scale = k > 0 ? scale / k : double.NaN;
            }

            for (int t = 0; t < rows.Count; t++)
            {
                var r = rows[t];
                for (int j = 0; j < r.F.Length && t + j + 1 < rows.Count; j++)
                {
                    float yhat = r.F[j];
                    if (float.IsNaN(yhat)) continue;
                    double yv = rows[t + j + 1].Y, e = yv - yhat;
                    ae[j] += Math.Abs(e);
                    se[j] += e * e;
                    double den = Math.Abs(yv) + Math.Abs(yhat);
                    sm[j] += den > 0 ? 200 * Math.Abs(e) / den : 0;
                    if (mase) sc[j] += Math.Abs(e) / scale;
                    if (r.L is not null && r.U is not null && yv >= r.L[j] && yv <= r.U[j]) cov[j]++;
                    n[j]++;
                }
            }
        }

        long total = n.Sum();
        if (total == 0) throw new ArgumentException($"No forecast in column '{forecast}' could be matched with actual values (all NaN, or no rows follow them).", nameof(scored));
        double[] Per(double[] a) => a.Select((v, j) => n[j] > 0 ? v / n[j] : double.NaN).ToArray();
        bool bands = loCol is not null;
        return new RecurrentForecastingMetrics(Per(ae), Per(se).Select(Math.Sqrt).ToArray(), Per(sm), mase ? Per(sc) : null, bands ? Per(cov) : null, n,
            ae.Sum() / total, Math.Sqrt(se.Sum() / total), sm.Sum() / total, mase ? sc.Sum() / total : null, bands ? cov.Sum() / total : null);
    }

    private static DataViewSchema.Column Column(DataViewSchema schema, string name, string parameter) =>
        schema.GetColumnOrNull(name) ?? throw new ArgumentOutOfRangeException(parameter, $"Column '{name}' was not found in the scored data.");

    private static DataViewSchema.Column VectorColumn(DataViewSchema schema, string name, string parameter)
    {
        var c = Column(schema, name, parameter);
        if (c.Type is not VectorDataViewType v || v.ItemType != NumberDataViewType.Single)
            throw new ArgumentOutOfRangeException(parameter, $"Column '{name}' must be a vector of Single; found {c.Type}.");
        return c;
    }
}
