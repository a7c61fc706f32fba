using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Serving;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.Recurrent.Forecasting;

/// <summary>
/// Fixed names of the forecasting chain's internal columns and its mapping contract. They are part of saved models:
/// never rename them; a new layout gets new names (…v2).
/// </summary>
internal static class ForecastColumns
{
    public const string Model = "__RecurrentForecastModel_v1__";
    public const string Inputs = "__RecurrentForecastInputs_v1__";
    public const string Series = "__RecurrentForecastSeries_v1__";
    public const string Forecast = "__RecurrentForecast_v1__";
    public const string Lower = "__RecurrentForecastLower_v1__";
    public const string Upper = "__RecurrentForecastUpper_v1__";

    /// <summary>Contract name of the stateful forecasting mapping: must never change once released.</summary>
    public const string Contract = "Microsoft.ML.Recurrent.Forecast.Rolling.v1";
}

/// <summary>What the forecasting mapping reads from each row.</summary>
internal sealed class ForecastInput
{
    [ColumnName(ForecastColumns.Model)]
    public ReadOnlyMemory<char> Model;

    /// <summary>The series value followed by the covariates (a Concatenate of the user's Single columns).</summary>
    [ColumnName(ForecastColumns.Inputs)]
    [VectorType]
    public VBuffer<float> Inputs;

    [ColumnName(ForecastColumns.Series)]
    public ReadOnlyMemory<char> Series;
}

/// <summary>What the forecasting mapping writes: the forecast of the next horizon values and its band.</summary>
internal sealed class ForecastOutput
{
    [ColumnName(ForecastColumns.Forecast)]
    [VectorType]
    public VBuffer<float> Forecast;

    [ColumnName(ForecastColumns.Lower)]
    [VectorType]
    public VBuffer<float> Lower;

    [ColumnName(ForecastColumns.Upper)]
    [VectorType]
    public VBuffer<float> Upper;
}

/// <summary>The recent raw rows of one series (at most the model's history length).</summary>
internal sealed class SeriesHistory
{
    private readonly int _capacityRows;
    private readonly int _width;
    private float[] _buffer;
    private int _start, _rows;

    public SeriesHistory(int capacityRows, int width, ReadOnlySpan<float> initial = default)
    {
        _capacityRows = capacityRows;
        _width = width;
        _buffer = new float[capacityRows * width * 2];
        int rows = initial.Length / width;
        int skip = Math.Max(0, rows - capacityRows);
        initial.Slice(skip * width).CopyTo(_buffer);
        _rows = rows - skip;
    }

    public int Rows => _rows;

    /// <summary>The stored rows, oldest first.</summary>
    public ReadOnlySpan<float> Span => _buffer.AsSpan(_start * _width, _rows * _width);

    public void Append(ReadOnlySpan<float> row)
    {
        if (_start + _rows == _buffer.Length / _width)
        {
            // Compact: keep the newest capacity - 1 rows at the front.
            int keep = Math.Min(_rows, _capacityRows - 1);
            _buffer.AsSpan((_start + _rows - keep) * _width, keep * _width).CopyTo(_buffer);
            _start = 0;
            _rows = keep;
        }
        else if (_rows == _capacityRows)
        {
            _start++;
            _rows--;
        }

        row.CopyTo(_buffer.AsSpan((_start + _rows) * _width, _width));
        _rows++;
    }

    public SeriesHistory Clone()
    {
        var copy = new SeriesHistory(_capacityRows, _width, Span);
        return copy;
    }
}

/// <summary>Per-cursor state of the forecasting mapping: each series' recent rows and the row counter.</summary>
internal sealed class ForecastCursorState
{
    public Dictionary<string, SeriesHistory> Histories { get; } = new(StringComparer.Ordinal);
    public long Row { get; set; }
}

/// <summary>Decodes each forecasting payload once per process (keyed by the payload string instance, as <see cref="ModelCache"/>).</summary>
internal static class ForecastModelCache
{
    private static readonly ConditionalWeakTable<string, Lazy<ForecastModel>> s_byInstance = new();
    private static readonly object s_lock = new();
    private static (string Text, Lazy<ForecastModel> Model)? s_last;

    public static ForecastModel Get(ReadOnlyMemory<char> payload)
    {
        if (MemoryMarshal.TryGetString(payload, out string? text, out int start, out int length) && start == 0 && length == text.Length)
            return s_byInstance.GetValue(text, Create).Value;
        lock (s_lock)
        {
            if (s_last is { } last && payload.Span.SequenceEqual(last.Text)) return last.Model.Value;
            string copy = payload.ToString();
            var entry = Create(copy);
            s_last = (copy, entry);
            return entry.Value;
        }
    }

    private static Lazy<ForecastModel> Create(string text) => new(() => Decode(text), LazyThreadSafetyMode.ExecutionAndPublication);

    public static string Encode(ForecastModel model) => Convert.ToBase64String(ForecastModelFormat.Write(model));

    public static ForecastModel Decode(ReadOnlySpan<char> text)
    {
        if (text.IsEmpty)
            throw new InvalidDataException("The recurrent forecasting model payload is empty: the model text is missing from this ML.NET model.");
        var bytes = new byte[(int)Math.Min(int.MaxValue, (text.Length / 4L + 1) * 3)];
        if (!Convert.TryFromBase64Chars(text, bytes, out int written))
            throw new InvalidDataException($"The recurrent forecasting model payload is invalid: its {text.Length} characters are not valid base64.");
        return ForecastModelFormat.Read(bytes.AsSpan(0, written));
    }
}

/// <summary>The rolling forecast: appends each row to its series' history and forecasts from the window ending there.</summary>
internal static class ForecastMapping
{
    public static void Map(ForecastInput input, ForecastOutput output, ForecastCursorState state)
    {
        var model = ForecastModelCache.Get(input.Model);
        long row = state.Row++;
        int h = model.Horizon, w = model.RowWidth;
        if (input.Inputs.Length != w)
            throw new InvalidOperationException($"The forecasting model expects {w} input values per row (the series and {w - 1} covariates), found {input.Inputs.Length}.");
        Span<float> values = w <= 256 ? stackalloc float[w] : new float[w];
        input.Inputs.CopyTo(values);
        string id = input.Series.ToString();
        var series = model.FindSeries(id) ?? (model.SeriesIdColumnName.Length == 0 && model.Series.Count == 1 ? model.Series[0] : null);
        if (series is null)
            throw new InvalidOperationException($"Row {row}: series '{id}' of column '{model.SeriesIdColumnName}' was not in the data the forecaster was fitted on.");
        CheckRow(model, values, row);
        if (!state.Histories.TryGetValue(id, out var history))
            state.Histories[id] = history = new SeriesHistory(model.HistoryLength, w);
        history.Append(values);

        var f = VBufferEditor.Create(ref output.Forecast, h);
        var lo = VBufferEditor.Create(ref output.Lower, h);
        var hi = VBufferEditor.Create(ref output.Upper, h);
        // With known covariates the forecast needs the rows after this one, which a forward cursor has not read: NaN.
        if (history.Rows < model.HistoryLength || model.KnownCount > 0)
        {
            f.Values.Fill(float.NaN);
            lo.Values.Fill(float.NaN);
            hi.Values.Fill(float.NaN);
        }
        else
        {
            model.Forecast(series, history.Span, default, h, model.ConfidenceLevel, f.Values, lo.Values, hi.Values);
        }

        output.Forecast = f.Commit();
        output.Lower = lo.Commit();
        output.Upper = hi.Commit();
    }

    /// <summary>Rejects non-finite values (and non-positive values for a log model), naming the column and row.</summary>
    public static void CheckRow(ForecastModel model, ReadOnlySpan<float> values, long row)
    {
        for (int k = 0; k < values.Length; k++)
        {
            if (!float.IsFinite(values[k]))
            {
                string column = k == 0 ? model.InputColumnName : k <= model.CovariateColumnNames.Length
                    ? model.CovariateColumnNames[k - 1] : model.KnownCovariateColumnNames[k - 1 - model.CovariateColumnNames.Length];
                throw new InvalidOperationException($"Column '{column}' holds {values[k]} at row {row}; the forecaster needs finite values.");
            }
        }

        if (model.UseLog && values[0] <= 0)
            throw new InvalidOperationException(
                $"Column '{model.InputColumnName}' holds {values[0]} at row {row}; this forecaster was fitted with a log transform (every fitted value was > 0) and needs values > 0. Fit with LogTransform = false for series that can be ≤ 0.");
    }

    public static void Init(ForecastCursorState state)
    {
    }
}

/// <summary>Found by contract name when ML.NET loads a model.</summary>
[CustomMappingFactoryAttribute(ForecastColumns.Contract)]
internal sealed class ForecastMappingFactory : StatefulCustomMappingFactory<ForecastInput, ForecastOutput, ForecastCursorState>
{
    public override Action<ForecastInput, ForecastOutput, ForecastCursorState> GetMapping() => ForecastMapping.Map;

    public override Action<ForecastCursorState> GetStateInitAction() => ForecastMapping.Init;
}

/// <summary>
/// Builds the chain of stock transformers that serves a forecaster:
/// <code>
///   CustomMapping(constant key) → MapValue(key → model as base64 text) → Concatenate(value, covariates → inputs)
///   → CopyColumns(series id or the constant key → series) or MapKeyToValue(key series id → series) → StatefulCustomMapping(rolling forecast)
///   → CopyColumns(forecast and bounds → the user's names) → DropColumns(internal columns)
/// </code>
/// </summary>
internal static class ForecastChain
{
    public static ITransformer Build(ForecastModel model, DataViewSchema inputSchema)
    {
        var ml = new MLContext(seed: 0);
        string payload = ForecastModelCache.Encode(model);
        var inputs = new[] { model.InputColumnName }.Concat(model.CovariateColumnNames).Concat(model.KnownCovariateColumnNames).ToArray();
        IEstimator<ITransformer> chain = ml.Transforms.CustomMapping<NoInput, ModelKeyRow>(Mappings.ModelKey, Serving.Contracts.ModelKey)
            .Append(ml.Transforms.Conversion.MapValue(ForecastColumns.Model,
                new[] { new KeyValuePair<string, string>(ServingColumns.ModelKeyValue, payload) }, ServingColumns.ModelKey))
            .Append(ml.Transforms.Concatenate(ForecastColumns.Inputs, inputs))
            .Append(model.SeriesIdIsKey
                ? (IEstimator<ITransformer>)ml.Transforms.Conversion.MapKeyToValue(ForecastColumns.Series, model.SeriesIdColumnName)
                : ml.Transforms.CopyColumns(ForecastColumns.Series, model.SeriesIdColumnName.Length > 0 ? model.SeriesIdColumnName : ServingColumns.ModelKey))
            .Append(ml.Transforms.StatefulCustomMapping<ForecastInput, ForecastOutput, ForecastCursorState>(
                ForecastMapping.Map, ForecastMapping.Init, ForecastColumns.Contract))
            .Append(ml.Transforms.CopyColumns(model.OutputColumnName, ForecastColumns.Forecast));
        if (model.HasBounds)
        {
            chain = chain.Append(ml.Transforms.CopyColumns(model.LowerBoundColumnName, ForecastColumns.Lower))
                .Append(ml.Transforms.CopyColumns(model.UpperBoundColumnName, ForecastColumns.Upper));
        }

        chain = chain.Append(ml.Transforms.DropColumns(ServingColumns.ModelKey, ForecastColumns.Model, ForecastColumns.Inputs,
            ForecastColumns.Series, ForecastColumns.Forecast, ForecastColumns.Lower, ForecastColumns.Upper));
        return chain.Fit(new EmptyDataView(inputSchema));
    }
}
