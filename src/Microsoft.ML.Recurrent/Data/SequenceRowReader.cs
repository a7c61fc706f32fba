using System.Numerics.Tensors;
using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Model;

namespace Microsoft.ML.Recurrent.Data;

/// <summary>Which columns a training read takes and what they hold (checked by <see cref="SequenceSchema"/>).</summary>
/// <param name="FeatureColumn">The feature column's name.</param>
/// <param name="Features">What the feature column holds.</param>
/// <param name="FeaturesPerStep">F (1 for tokens).</param>
/// <param name="LabelColumn">The label column's name.</param>
/// <param name="Label">What the label column holds.</param>
/// <param name="WeightColumn">The example weight column (Single), or null for none.</param>
internal sealed record SequenceColumns(string FeatureColumn, FeatureInfo Features, int FeaturesPerStep, string LabelColumn, LabelInfo Label, string? WeightColumn);

/// <summary>
/// Reads one row at a time from a cursor, validating it: sequence length a positive multiple of F, finite values, token
/// ids inside the vocabulary, label present and finite, example weight finite and ≥ 0. A failure names the data set,
/// the row, the column, what was expected and what was found. Shared by the in-memory read and the streaming source.
/// </summary>
internal sealed class SequenceRowReader
{
    private readonly SequenceColumns _columns;
    private readonly string _setName;
    private readonly ValueGetter<VBuffer<float>>? _dense;
    private readonly ValueGetter<VBuffer<uint>>? _tokens;
    private readonly Func<float> _label;
    private readonly ValueGetter<float>? _weight;
    private VBuffer<float> _denseBuffer;
    private VBuffer<uint> _tokenBuffer;

    public SequenceRowReader(DataViewRowCursor cursor, SequenceColumns columns, string setName)
    {
        _columns = columns;
        _setName = setName;
        var schema = cursor.Schema;
        var featureCol = schema[columns.FeatureColumn];
        if (columns.Features.Tokens) _tokens = cursor.GetGetter<VBuffer<uint>>(featureCol);
        else _dense = cursor.GetGetter<VBuffer<float>>(featureCol);
        _label = LabelGetter(cursor, schema[columns.LabelColumn], columns.Label);
        if (columns.WeightColumn is string w) _weight = cursor.GetGetter<float>(schema[w]);
    }

    /// <summary>The columns a cursor must serve for this reader.</summary>
    public static DataViewSchema.Column[] Needed(DataViewSchema schema, SequenceColumns columns) =>
        columns.WeightColumn is string w
            ? [schema[columns.FeatureColumn], schema[columns.LabelColumn], schema[w]]
            : [schema[columns.FeatureColumn], schema[columns.LabelColumn]];

    /// <summary>The row being read (0-based position in the view), for error messages.</summary>
    public long Row { get; set; }

    public bool HasWeights => _weight is not null;

    private string Where() => $"Row {Row} of the {_setName} data";

    /// <summary>
    /// Reads the current row's sequence into <paramref name="buffer"/> (replaced by a larger array when too small; by one of
    /// exactly the right length when <paramref name="exact"/>) and returns its length in values.
    /// </summary>
    public int ReadFeatures(ref float[] buffer, bool exact)
    {
        int n;
        if (_dense is not null)
        {
            _dense(ref _denseBuffer);
            n = _denseBuffer.Length;
            if (exact ? buffer.Length != n : buffer.Length < n) buffer = new float[n];
            _denseBuffer.CopyTo(buffer);
            var x = buffer.AsSpan(0, n);
            if (!TensorPrimitives.IsFiniteAll<float>(x))
            {
                for (int i = 0; i < n; i++)
                {
                    if (!float.IsFinite(x[i]))
                        throw new InvalidOperationException($"{Where()}: feature column '{_columns.FeatureColumn}' holds {x[i]} at value {i}; features must be finite numbers.");
                }
            }
        }
        else
        {
            _tokens!(ref _tokenBuffer);
            n = _tokenBuffer.Length;
            if (exact ? buffer.Length != n : buffer.Length < n) buffer = new float[n];
            int vocabularySize = _columns.Features.VocabularySize;
            int i = 0;
            foreach (uint id in _tokenBuffer.DenseValues())
            {
                if (id >= vocabularySize)
                    throw new InvalidOperationException($"{Where()}: feature column '{_columns.FeatureColumn}' holds key {id} at step {i}, outside the key type's 0..{vocabularySize - 1}.");
                buffer[i++] = id;
            }
        }

        if (n == 0)
            throw new InvalidOperationException($"{Where()}: feature column '{_columns.FeatureColumn}' is empty; every sequence needs at least one step.");
        if (n % _columns.FeaturesPerStep != 0)
            throw new InvalidOperationException(
                $"{Where()}: feature column '{_columns.FeatureColumn}' has {n} values, which is not a multiple of FeaturesPerStep = {_columns.FeaturesPerStep}.");
        return n;
    }

    /// <summary>The current row's target: the regression label, 0/1, or the class index (key − 1).</summary>
    public float ReadLabel() => _label();

    /// <summary>The current row's example weight (1 without a weight column).</summary>
    public float ReadWeight()
    {
        if (_weight is null) return 1f;
        float w = 0;
        _weight(ref w);
        if (!float.IsFinite(w) || w < 0)
            throw new InvalidOperationException($"{Where()}: example weight column '{_columns.WeightColumn}' is {w}; weights must be finite numbers ≥ 0.");
        return w;
    }

    private Func<float> LabelGetter(DataViewRowCursor cursor, DataViewSchema.Column col, LabelInfo label)
    {
        switch (label.Kind)
        {
            case PredictionKind.Regression:
            {
                var getter = cursor.GetGetter<float>(col);
                return () =>
                {
                    float y = 0;
                    getter(ref y);
                    if (!float.IsFinite(y))
                        throw new InvalidOperationException($"{Where()}: label column '{col.Name}' is {y}; regression labels must be finite numbers.");
                    return y;
                };
            }

            case PredictionKind.BinaryClassification:
            {
                var getter = cursor.GetGetter<bool>(col);
                return () =>
                {
                    bool y = false;
                    getter(ref y);
                    return y ? 1f : 0f;
                };
            }

            default:
            {
                var raw = ((KeyDataViewType)col.Type).RawType;
                Func<ulong> read = raw == typeof(uint) ? Key<uint>(cursor, col, v => v)
                    : raw == typeof(byte) ? Key<byte>(cursor, col, v => v)
                    : raw == typeof(ushort) ? Key<ushort>(cursor, col, v => v)
                    : Key<ulong>(cursor, col, v => v);
                return () =>
                {
                    ulong key = read();
                    if (key == 0)
                        throw new InvalidOperationException($"{Where()}: label column '{col.Name}' is missing (key 0); every row needs one of the {label.ClassCount} classes.");
                    if (key > (ulong)label.ClassCount)
                        throw new InvalidOperationException($"{Where()}: label column '{col.Name}' is key {key}, outside 1..{label.ClassCount}.");
                    return key - 1;
                };
            }
        }
    }

    private static Func<ulong> Key<T>(DataViewRowCursor cursor, DataViewSchema.Column col, Func<T, ulong> widen)
    {
        var getter = cursor.GetGetter<T>(col);
        T value = default!;
        return () =>
        {
            getter(ref value);
            return widen(value);
        };
    }
}
