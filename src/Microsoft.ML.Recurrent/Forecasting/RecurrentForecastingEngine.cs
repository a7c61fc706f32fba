using System.Reflection;
using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Forecasting;
using Microsoft.ML.Recurrent.Serving;

namespace Microsoft.ML.Recurrent;

/// <summary>
/// A stateful forecaster in the spirit of ML.NET's <c>TimeSeriesPredictionEngine</c>: it keeps the recent rows of every
/// series, takes new observations one at a time and forecasts what follows. Created by
/// <c>model.CreateForecastingEngine&lt;TSrc, TDst&gt;(mlContext)</c>.
/// </summary>
/// <typeparam name="TSrc">An observation: a class with a <see cref="float"/> field or property named after the series column
/// (or carrying <see cref="ColumnNameAttribute"/>), one per covariate, and a <see cref="string"/> one for the series id when
/// the model has one.</typeparam>
/// <typeparam name="TDst">The forecast: a class with a <see cref="float"/>[] member named after the forecast column and,
/// optionally, members for the bound columns.</typeparam>
/// <remarks>
/// A new engine continues from the state its model holds: the end of the fitted data for a fitted model (so <c>Predict()</c>
/// right away forecasts what follows the training series), or the saved state for a checkpoint. After <see cref="Reset"/>,
/// feeding a series one observation at a time gives the same forecasts as <c>Transform</c> over it. The engine is not
/// thread-safe; create one per thread.
/// </remarks>
public sealed class RecurrentForecastingEngine<TSrc, TDst>
    where TSrc : class
    where TDst : class, new()
{
    private readonly ForecastModel _model;
    private readonly Dictionary<string, SeriesHistory> _histories = new(StringComparer.Ordinal);
    private readonly Func<TSrc, float>[] _values;
    private readonly Func<TSrc, string>? _seriesId;
    private readonly Action<TDst, float[]> _setForecast;
    private readonly Action<TDst, float[]>? _setLower, _setUpper;
    private readonly float[] _row;
    private string? _lastSeries;
    private long _observations;

    internal RecurrentForecastingEngine(ForecastModel model)
    {
        _model = model;
        var names = new[] { model.InputColumnName }.Concat(model.CovariateColumnNames).Concat(model.KnownCovariateColumnNames).ToArray();
        _values = names.Select(n => Accessors.Getter<TSrc, float>(n, "the series or a covariate")).ToArray();
        if (model.SeriesIdColumnName.Length > 0) _seriesId = Accessors.Getter<TSrc, string>(model.SeriesIdColumnName, "the series id");
        _setForecast = Accessors.Setter<TDst>(model.OutputColumnName)!;
        if (model.HasBounds)
        {
            _setLower = Accessors.Setter<TDst>(model.LowerBoundColumnName, optional: true);
            _setUpper = Accessors.Setter<TDst>(model.UpperBoundColumnName, optional: true);
        }

        _row = new float[model.RowWidth];
        foreach (var s in model.Series)
        {
            if (s.Tail.Length > 0) _histories[s.Id] = new SeriesHistory(model.HistoryLength, model.RowWidth, s.Tail);
        }

        _lastSeries = model.Series.Count == 1 ? model.Series[0].Id : null;
    }

    /// <summary>The horizon the model was trained for (the most any call can forecast).</summary>
    public int Horizon => _model.Horizon;

    /// <summary>The confidence level of the bands when a call does not name one.</summary>
    public float ConfidenceLevel => _model.ConfidenceLevel;

    /// <summary>Consumes one observation (appending it to its series' history) and forecasts the values that follow it.</summary>
    public TDst Predict(TSrc observation) => Predict(observation, _model.Horizon, null);

    /// <summary>Consumes one observation and forecasts <paramref name="horizon"/> values (≤ <see cref="Horizon"/>) with bands
    /// at <paramref name="confidenceLevel"/> (null: the model's level).</summary>
    public TDst Predict(TSrc observation, int horizon, float? confidenceLevel = null) => Predict(observation, null, horizon, confidenceLevel);

    /// <summary>
    /// Consumes one observation and forecasts with the known covariates over the coming steps: <paramref name="knownAhead"/>
    /// holds the next rows (only their known-covariate members are read), at least <paramref name="horizon"/> of them; when
    /// fewer than the trained horizon are given, the last one is repeated for the steps after it.
    /// </summary>
    public TDst Predict(TSrc observation, IReadOnlyList<TSrc>? knownAhead, int? horizon = null, float? confidenceLevel = null)
    {
        ArgumentNullException.ThrowIfNull(observation);
        int hz = horizon ?? _model.Horizon;
        CheckHorizon(hz, confidenceLevel);
        var future = Future(knownAhead, hz);
        string id = SeriesOf(observation);
        for (int k = 0; k < _values.Length; k++) _row[k] = _values[k](observation);
        ForecastMapping.CheckRow(_model, _row, _observations);
        if (!_histories.TryGetValue(id, out var history))
            _histories[id] = history = new SeriesHistory(_model.HistoryLength, _model.RowWidth);
        history.Append(_row);
        _observations++;
        _lastSeries = id;
        return Forecast(id, hz, confidenceLevel ?? _model.ConfidenceLevel, future);
    }

    /// <summary>Forecasts from the current state without consuming an observation (the series last fed, or the only one).</summary>
    public TDst Predict() => Predict(_model.Horizon, null);

    /// <summary>Forecasts <paramref name="horizon"/> values from the current state with bands at <paramref name="confidenceLevel"/>.</summary>
    public TDst Predict(int horizon, float? confidenceLevel = null) => Predict((IReadOnlyList<TSrc>?)null, horizon, confidenceLevel);

    /// <summary>Forecasts from the current state with the known covariates of the coming rows (see
    /// <see cref="Predict(TSrc, IReadOnlyList{TSrc}, int?, float?)"/>).</summary>
    public TDst Predict(IReadOnlyList<TSrc>? knownAhead, int? horizon = null, float? confidenceLevel = null)
    {
        int hz = horizon ?? _model.Horizon;
        CheckHorizon(hz, confidenceLevel);
        if (_lastSeries is null)
            throw new InvalidOperationException($"The model holds {_model.Series.Count} series and none was fed yet: name the series with Predict(seriesId).");
        return Forecast(_lastSeries, hz, confidenceLevel ?? _model.ConfidenceLevel, Future(knownAhead, hz));
    }

    /// <summary>Forecasts the series <paramref name="seriesId"/> from its current state (many-series models).</summary>
    public TDst Predict(string seriesId, int? horizon = null, float? confidenceLevel = null) => Predict(seriesId, null, horizon, confidenceLevel);

    /// <summary>Forecasts the series <paramref name="seriesId"/> from its current state with the known covariates of its coming rows.</summary>
    public TDst Predict(string seriesId, IReadOnlyList<TSrc>? knownAhead, int? horizon = null, float? confidenceLevel = null)
    {
        ArgumentNullException.ThrowIfNull(seriesId);
        int hz = horizon ?? _model.Horizon;
        CheckHorizon(hz, confidenceLevel);
        Known(seriesId);
        return Forecast(seriesId, hz, confidenceLevel ?? _model.ConfidenceLevel, Future(knownAhead, hz));
    }

    /// <summary>The known covariates over the trained horizon (Horizon · K values), from the coming rows.</summary>
    private float[] Future(IReadOnlyList<TSrc>? rows, int horizon)
    {
        int k = _model.KnownCount;
        if (k == 0) return [];
        string names = string.Join("', '", _model.KnownCovariateColumnNames);
        if (rows is null || rows.Count < horizon)
            throw new ArgumentException(
                $"Known covariate(s) '{names}' missing: this model reads their values over the horizon, so Predict needs the coming {horizon} row(s) in knownAhead (got {rows?.Count ?? 0}).", "knownAhead");
        var future = new float[_model.Horizon * k];
        int c0 = 1 + _model.CovariateColumnNames.Length;
        for (int j = 0; j < _model.Horizon; j++)
        {
            var row = rows[Math.Min(j, rows.Count - 1)] ?? throw new ArgumentException($"knownAhead[{j}] is null.", "knownAhead");
            for (int q = 0; q < k; q++)
            {
                float v = _values[c0 + q](row);
                if (!float.IsFinite(v))
                    throw new ArgumentException($"Known covariate '{_model.KnownCovariateColumnNames[q]}' holds {v} in knownAhead[{j}]; the forecaster needs finite values.", "knownAhead");
                future[j * k + q] = v;
            }
        }

        return future;
    }

    /// <summary>Forgets all history: the engine then stands before the first row of every series.</summary>
    public void Reset()
    {
        _histories.Clear();
        _lastSeries = null;
        _observations = 0;
    }

    /// <summary>Saves the model with the engine's current state as an ML.NET model file; <c>mlContext.Model.Load</c> and a new
    /// engine continue with exactly the same forecasts.</summary>
    public void CheckPoint(MLContext mlContext, string modelPath)
    {
        ArgumentNullException.ThrowIfNull(modelPath);
        using var stream = File.Create(modelPath);
        CheckPoint(mlContext, stream);
    }

    /// <summary>Saves the model with the engine's current state to <paramref name="stream"/>.</summary>
    public void CheckPoint(MLContext mlContext, Stream stream)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(stream);
        var series = _model.Series.Select(s => new SeriesState
        {
            Id = s.Id,
            Mean = s.Mean,
            Scale = s.Scale,
            CovariateMean = s.CovariateMean,
            CovariateScale = s.CovariateScale,
            Tail = _histories.TryGetValue(s.Id, out var h) ? h.Span.ToArray() : [],
        }).ToList();
        var state = ForecastEngineFactory.WithSeries(_model, series);
        var schema = ForecastEngineFactory.InputSchema(state);
        mlContext.Model.Save(ForecastChain.Build(state, schema), schema, stream);
    }

    private string SeriesOf(TSrc observation)
    {
        if (_seriesId is null) return _model.Series[0].Id;
        string id = _seriesId(observation) ?? throw new ArgumentException($"The observation's series id ('{_model.SeriesIdColumnName}') is null.", nameof(observation));
        Known(id);
        return id;
    }

    private void Known(string id)
    {
        if (_model.FindSeries(id) is null)
            throw new ArgumentException($"Series '{id}' was not in the data the forecaster was fitted on (column '{_model.SeriesIdColumnName}').", nameof(id));
    }

    private void CheckHorizon(int horizon, float? level)
    {
        if (horizon < 1 || horizon > _model.Horizon)
            throw new ArgumentOutOfRangeException(nameof(horizon), horizon, $"horizon must be in [1, {_model.Horizon}] (the trained horizon); it was {horizon}.");
        if (level is float l && !(l > 0f && l < 1f))
            throw new ArgumentOutOfRangeException("confidenceLevel", l, $"confidenceLevel must be in (0, 1); it was {l}.");
    }

    private TDst Forecast(string id, int horizon, float level, float[] future)
    {
        var point = new float[horizon];
        var lower = new float[horizon];
        var upper = new float[horizon];
        var series = _model.FindSeries(id)!;
        if (!_histories.TryGetValue(id, out var history) || history.Rows < _model.HistoryLength)
        {
            Array.Fill(point, float.NaN);
            Array.Fill(lower, float.NaN);
            Array.Fill(upper, float.NaN);
        }
        else
        {
            _model.Forecast(series, history.Span, future, horizon, level, point, lower, upper);
        }

        var result = new TDst();
        _setForecast(result, point);
        _setLower?.Invoke(result, lower);
        _setUpper?.Invoke(result, upper);
        return result;
    }

    /// <summary>Reads and writes members of the user's row classes by column name.</summary>
    private static class Accessors
    {
        private static MemberInfo? Find(Type type, string column, string role, bool optional = false)
        {
            const BindingFlags flags = BindingFlags.Public | BindingFlags.Instance;
            foreach (var m in type.GetFields(flags).Cast<MemberInfo>().Concat(type.GetProperties(flags)))
            {
                string name = m.GetCustomAttributesData().FirstOrDefault(a => a.AttributeType == typeof(ColumnNameAttribute))
                    ?.ConstructorArguments.FirstOrDefault().Value as string ?? m.Name;
                if (name == column) return m;
            }

            return optional ? null : throw new InvalidOperationException($"Type {type.Name} has no public field or property for column '{column}' ({role}).");
        }

        public static Func<TObj, TValue> Getter<TObj, TValue>(string column, string role)
        {
            var m = Find(typeof(TObj), column, role)!;
            Type t = m is FieldInfo f ? f.FieldType : ((PropertyInfo)m).PropertyType;
            if (typeof(TValue) == typeof(string) && t == typeof(ReadOnlyMemory<char>))
            {
                if (m is FieldInfo fm) return o => (TValue)(object)((ReadOnlyMemory<char>)fm.GetValue(o)!).ToString();
                var pm = (PropertyInfo)m;
                return o => (TValue)(object)((ReadOnlyMemory<char>)pm.GetValue(o)!).ToString();
            }

            if (t != typeof(TValue))
                throw new InvalidOperationException($"Member {typeof(TObj).Name}.{m.Name} for column '{column}' ({role}) is {t.Name}; it must be {typeof(TValue).Name}.");
            if (m is FieldInfo field) return o => (TValue)field.GetValue(o)!;
            var getter = ((PropertyInfo)m).GetGetMethod()!.CreateDelegate<Func<TObj, TValue>>();
            return getter;
        }

        public static Action<TObj, float[]>? Setter<TObj>(string column, bool optional = false)
        {
            var m = Find(typeof(TObj), column, "a forecast output", optional);
            if (m is null) return null;
            Type t = m is FieldInfo f ? f.FieldType : ((PropertyInfo)m).PropertyType;
            if (t != typeof(float[]))
                throw new InvalidOperationException($"Member {typeof(TObj).Name}.{m.Name} for column '{column}' is {t.Name}; it must be Single[].");
            if (m is FieldInfo field) return (o, v) => field.SetValue(o, v);
            return ((PropertyInfo)m).GetSetMethod()!.CreateDelegate<Action<TObj, float[]>>();
        }
    }
}

/// <summary>Finds the forecasting model inside a fitted or loaded transformer and builds engines and checkpoint schemas.</summary>
internal static class ForecastEngineFactory
{
    public static ForecastModel Find(ITransformer model)
    {
        foreach (var t in Flatten(model))
        {
            if (t is RecurrentForecastingTransformer f) return f.Model;
        }

        // A loaded model is a chain of stock transformers: run its steps on a one-row view until the payload column appears.
        var ml = new MLContext(seed: 0);
        IDataView view = ml.Data.LoadFromEnumerable(new[] { new Probe() });
        foreach (var t in Flatten(model))
        {
            IDataView next;
            try
            {
                next = t.Transform(view);
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException)
            {
                continue;
            }

            view = next;
            if (view.Schema.GetColumnOrNull(ForecastColumns.Model) is { } column && column.Type is TextDataViewType)
            {
                using var cursor = view.GetRowCursor(new[] { column });
                var getter = cursor.GetGetter<ReadOnlyMemory<char>>(column);
                ReadOnlyMemory<char> payload = default;
                if (!cursor.MoveNext()) break;
                getter(ref payload);
                return ForecastModelCache.Get(payload);
            }
        }

        throw new ArgumentException("The model holds no recurrent forecaster (fit one with mlContext.Forecasting.ForecastByRecurrent, or load a model saved from one).", nameof(model));
    }

    private static IEnumerable<ITransformer> Flatten(ITransformer model)
    {
        if (model is IEnumerable<ITransformer> chain)
        {
            foreach (var t in chain)
                foreach (var inner in Flatten(t)) yield return inner;
        }
        else
        {
            yield return model;
        }
    }

    /// <summary>A copy of <paramref name="m"/> whose series carry other tails (the engine's state).</summary>
    public static ForecastModel WithSeries(ForecastModel m, List<SeriesState> series) => new()
    {
        Spec = m.Spec,
        Networks = m.Networks,
        WindowSize = m.WindowSize,
        Horizon = m.Horizon,
        SeasonalPeriod = m.SeasonalPeriod,
        Stationarization = m.Stationarization,
        UseLog = m.UseLog,
        ConfidenceLevel = m.ConfidenceLevel,
        InputColumnName = m.InputColumnName,
        OutputColumnName = m.OutputColumnName,
        LowerBoundColumnName = m.LowerBoundColumnName,
        UpperBoundColumnName = m.UpperBoundColumnName,
        SeriesIdColumnName = m.SeriesIdColumnName,
        SeriesIdIsKey = m.SeriesIdIsKey,
        CovariateColumnNames = m.CovariateColumnNames,
        KnownCovariateColumnNames = m.KnownCovariateColumnNames,
        Residuals = m.Residuals,
        Series = series,
    };

    /// <summary>The input schema a forecaster reads: the series and covariates (Single) and the series id (text, or a key with text key values).</summary>
    public static DataViewSchema InputSchema(ForecastModel m)
    {
        var b = new DataViewSchema.Builder();
        b.AddColumn(m.InputColumnName, NumberDataViewType.Single);
        foreach (var c in m.CovariateColumnNames.Concat(m.KnownCovariateColumnNames)) b.AddColumn(c, NumberDataViewType.Single);
        if (m.SeriesIdColumnName.Length > 0) b.AddColumn(m.SeriesIdColumnName, TextDataViewType.Instance);
        var schema = b.ToSchema();
        if (!m.SeriesIdIsKey) return schema;

        // A key over the series ids, described by the stock MapValueToKey (the chain's MapKeyToValue reads the key values
        // of the data it transforms, so any key column with text key values fits).
        var ml = new MLContext(seed: 0);
        var ids = ml.Data.LoadFromEnumerable(m.Series.Select(s => new IdRow { Id = s.Id }));
        return ml.Transforms.Conversion.MapValueToKey(m.SeriesIdColumnName, m.SeriesIdColumnName, keyData: ids)
            .Fit(new Serving.EmptyDataView(schema)).GetOutputSchema(schema);

    }

    private sealed class IdRow
    {
        public string Id { get; set; } = "";
    }

    private sealed class Probe
    {
        public float ProbeValue { get; set; }
    }
}
