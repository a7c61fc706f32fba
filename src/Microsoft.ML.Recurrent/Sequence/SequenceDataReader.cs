using System.Numerics.Tensors;
using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Data;

namespace Microsoft.ML.Recurrent.Sequence;

/// <summary>What a tagger's or featurizer's label column holds.</summary>
internal enum SequenceLabelKind
{
    /// <summary>No label (self-supervised featurizer).</summary>
    None,
    /// <summary>A vector of keys, one class per step (class tagger).</summary>
    StepClasses,
    /// <summary>A vector of Single, one value per step (value tagger).</summary>
    StepValues,
    /// <summary>A key, one class per sequence (featurizer with a class label).</summary>
    Classes,
    /// <summary>A Single, one value per sequence (featurizer with a regression label).</summary>
    Value,
}

/// <summary>The label column's kind, its class count and the class names (the key values as text).</summary>
internal sealed record SequenceLabelInfo(SequenceLabelKind Kind, int ClassCount, string[] ClassNames)
{
    public bool IsClasses => Kind is SequenceLabelKind.StepClasses or SequenceLabelKind.Classes;
}

/// <summary>Sequences read out of an <see cref="IDataView"/>: features (T·F, time-major) and targets (per step or per sequence).</summary>
internal sealed class SequenceTable
{
    public List<float[]> Features { get; } = [];

    /// <summary>Per step: T class indices (key − 1) or T values; per sequence: one; none: empty arrays.</summary>
    public List<float[]> Targets { get; } = [];

    public int Count => Features.Count;
}

/// <summary>
/// Schema checks and reading for the tagger and the featurizer. Every failure names the column, the row (when reading),
/// what was expected and what was found.
/// </summary>
internal static class SequenceDataReader
{
    public const string TaggerLabelExpectation = "a vector of keys (one class per step; use MapValueToKey) or a vector of Single (one value per step)";
    public const string FeaturizerLabelExpectation = "a key (classes; use MapValueToKey) or Single (regression)";

    public static SequenceLabelInfo CheckTaggerLabel(DataViewSchema schema, string column, string paramName)
    {
        var col = schema.GetColumnOrNull(column) ?? throw Missing(paramName, column, TaggerLabelExpectation, schema.Where(c => !c.IsHidden).Select(c => c.Name));
        if (col.Type is VectorDataViewType v)
        {
            if (v.ItemType == NumberDataViewType.Single) return new SequenceLabelInfo(SequenceLabelKind.StepValues, 0, []);
            if (v.ItemType is KeyDataViewType key && key.Count >= 2 && key.Count <= (ulong)Model.RecurrentModelFormat.Limits.OutputSize)
                return new SequenceLabelInfo(SequenceLabelKind.StepClasses, (int)key.Count, SequenceSchema.ClassNames(col, (int)key.Count));
        }

        throw WrongType(paramName, column, TaggerLabelExpectation, $"{col.Type}");
    }

    public static void CheckTaggerLabel(SchemaShape shape, string column, string paramName)
    {
        if (!SequenceSchema.TryFind(shape, column, out var col)) throw Missing(paramName, column, TaggerLabelExpectation, shape.Select(c => c.Name));
        bool ok = col.Kind != SchemaShape.Column.VectorKind.Scalar && (col.IsKey || col.ItemType == NumberDataViewType.Single);
        if (!ok) throw WrongType(paramName, column, TaggerLabelExpectation, SequenceSchema.Describe(col));
    }

    public static SequenceLabelInfo CheckFeaturizerLabel(DataViewSchema schema, string column, string paramName)
    {
        var col = schema.GetColumnOrNull(column) ?? throw Missing(paramName, column, FeaturizerLabelExpectation, schema.Where(c => !c.IsHidden).Select(c => c.Name));
        if (col.Type == NumberDataViewType.Single) return new SequenceLabelInfo(SequenceLabelKind.Value, 0, []);
        if (col.Type is KeyDataViewType key && key.Count >= 2 && key.Count <= (ulong)Model.RecurrentModelFormat.Limits.OutputSize)
            return new SequenceLabelInfo(SequenceLabelKind.Classes, (int)key.Count, SequenceSchema.ClassNames(col, (int)key.Count));
        throw WrongType(paramName, column, FeaturizerLabelExpectation, $"{col.Type}");
    }

    public static void CheckFeaturizerLabel(SchemaShape shape, string column, string paramName)
    {
        if (!SequenceSchema.TryFind(shape, column, out var col)) throw Missing(paramName, column, FeaturizerLabelExpectation, shape.Select(c => c.Name));
        bool ok = col.Kind == SchemaShape.Column.VectorKind.Scalar && (col.IsKey || col.ItemType == NumberDataViewType.Single);
        if (!ok) throw WrongType(paramName, column, FeaturizerLabelExpectation, SequenceSchema.Describe(col));
    }

    /// <summary>Reads every row once, validating features (and the label against the sequence's length for per-step labels).</summary>
    public static SequenceTable Read(IDataView data, string featureColumn, FeatureInfo features, int featuresPerStep,
        string? labelColumn, SequenceLabelInfo label, string setName, CancellationToken cancellation)
    {
        var schema = data.Schema;
        var featureCol = schema[featureColumn];
        var columns = new List<DataViewSchema.Column> { featureCol };
        DataViewSchema.Column? labelCol = label.Kind == SequenceLabelKind.None ? null : schema[labelColumn!];
        if (labelCol is DataViewSchema.Column lc) columns.Add(lc);
        var table = new SequenceTable();
        using var cursor = data.GetRowCursor(columns);
        Func<long, float[]> readFeatures = features.Tokens ? TokenGetter(cursor, featureCol, features.VocabularySize, setName) : DenseGetter(cursor, featureCol, setName);
        Func<long, int, float[]> readLabel = labelCol is DataViewSchema.Column l ? LabelGetter(cursor, l, label, setName) : (_, _) => [];
        long row = 0;
        while (cursor.MoveNext())
        {
            if ((row & 1023) == 0) cancellation.ThrowIfCancellationRequested();
            float[] x = readFeatures(row);
            if (x.Length == 0)
                throw new InvalidOperationException($"Row {row} of the {setName} data: feature column '{featureColumn}' is empty; every sequence needs at least one step.");
            if (x.Length % featuresPerStep != 0)
                throw new InvalidOperationException(
                    $"Row {row} of the {setName} data: feature column '{featureColumn}' has {x.Length} values, which is not a multiple of FeaturesPerStep = {featuresPerStep}.");
            table.Features.Add(x);
            table.Targets.Add(readLabel(row, x.Length / featuresPerStep));
            row++;
        }

        if (table.Count == 0) throw new InvalidOperationException($"The {setName} data has no rows.");
        return table;
    }

    private static Func<long, float[]> DenseGetter(DataViewRowCursor cursor, DataViewSchema.Column col, string setName)
    {
        var getter = cursor.GetGetter<VBuffer<float>>(col);
        VBuffer<float> buffer = default;
        return row =>
        {
            getter(ref buffer);
            var x = new float[buffer.Length];
            buffer.CopyTo(x);
            if (!TensorPrimitives.IsFiniteAll<float>(x))
            {
                for (int i = 0; i < x.Length; i++)
                {
                    if (!float.IsFinite(x[i]))
                        throw new InvalidOperationException($"Row {row} of the {setName} data: feature column '{col.Name}' holds {x[i]} at value {i}; features must be finite numbers.");
                }
            }

            return x;
        };
    }

    private static Func<long, float[]> TokenGetter(DataViewRowCursor cursor, DataViewSchema.Column col, int vocabularySize, string setName)
    {
        var getter = cursor.GetGetter<VBuffer<uint>>(col);
        VBuffer<uint> buffer = default;
        return row =>
        {
            getter(ref buffer);
            var ids = new uint[buffer.Length];
            buffer.CopyTo(ids);
            var x = new float[ids.Length];
            for (int i = 0; i < ids.Length; i++)
            {
                if (ids[i] >= vocabularySize)
                    throw new InvalidOperationException($"Row {row} of the {setName} data: feature column '{col.Name}' holds key {ids[i]} at step {i}, outside the key type's 0..{vocabularySize - 1}.");
                x[i] = ids[i];
            }

            return x;
        };
    }

    private static Func<long, int, float[]> LabelGetter(DataViewRowCursor cursor, DataViewSchema.Column col, SequenceLabelInfo label, string setName)
    {
        string Where(long row) => $"Row {row} of the {setName} data";
        switch (label.Kind)
        {
            case SequenceLabelKind.Value:
            {
                var getter = cursor.GetGetter<float>(col);
                return (row, _) =>
                {
                    float y = 0;
                    getter(ref y);
                    if (!float.IsFinite(y)) throw new InvalidOperationException($"{Where(row)}: label column '{col.Name}' is {y}; regression labels must be finite numbers.");
                    return [y];
                };
            }

            case SequenceLabelKind.Classes:
            {
                var read = KeyReader(cursor, col);
                return (row, _) =>
                {
                    ulong key = read();
                    if (key == 0) throw new InvalidOperationException($"{Where(row)}: label column '{col.Name}' is missing (key 0); every row needs one of the {label.ClassCount} classes.");
                    return [key - 1];
                };
            }

            case SequenceLabelKind.StepValues:
            {
                var getter = cursor.GetGetter<VBuffer<float>>(col);
                VBuffer<float> buffer = default;
                return (row, steps) =>
                {
                    getter(ref buffer);
                    if (buffer.Length != steps)
                        throw new InvalidOperationException($"{Where(row)}: label column '{col.Name}' has {buffer.Length} values, but the sequence has {steps} steps; a tagging label needs one value per step.");
                    var y = new float[steps];
                    buffer.CopyTo(y);
                    for (int t = 0; t < steps; t++)
                    {
                        if (!float.IsFinite(y[t])) throw new InvalidOperationException($"{Where(row)}: label column '{col.Name}' holds {y[t]} at step {t}; labels must be finite numbers.");
                    }

                    return y;
                };
            }

            default:
            {
                var raw = ((KeyDataViewType)((VectorDataViewType)col.Type).ItemType).RawType;
                Func<ulong[]> read = raw == typeof(uint) ? Keys<uint>(cursor, col, v => v)
                    : raw == typeof(byte) ? Keys<byte>(cursor, col, v => v)
                    : raw == typeof(ushort) ? Keys<ushort>(cursor, col, v => v)
                    : Keys<ulong>(cursor, col, v => v);
                return (row, steps) =>
                {
                    var keys = read();
                    if (keys.Length != steps)
                        throw new InvalidOperationException($"{Where(row)}: label column '{col.Name}' has {keys.Length} tags, but the sequence has {steps} steps; a tagging label needs one class per step.");
                    var y = new float[steps];
                    for (int t = 0; t < steps; t++)
                    {
                        if (keys[t] == 0)
                            throw new InvalidOperationException($"{Where(row)}: label column '{col.Name}' is missing (key 0) at step {t}; every step needs one of the {label.ClassCount} classes.");
                        y[t] = keys[t] - 1;
                    }

                    return y;
                };
            }
        }
    }

    private static Func<ulong> KeyReader(DataViewRowCursor cursor, DataViewSchema.Column col)
    {
        var raw = ((KeyDataViewType)col.Type).RawType;
        return raw == typeof(uint) ? Key<uint>(cursor, col, v => v)
            : raw == typeof(byte) ? Key<byte>(cursor, col, v => v)
            : raw == typeof(ushort) ? Key<ushort>(cursor, col, v => v)
            : Key<ulong>(cursor, col, v => v);
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

    private static Func<ulong[]> Keys<T>(DataViewRowCursor cursor, DataViewSchema.Column col, Func<T, ulong> widen)
    {
        var getter = cursor.GetGetter<VBuffer<T>>(col);
        VBuffer<T> buffer = default;
        return () =>
        {
            getter(ref buffer);
            var result = new ulong[buffer.Length];
            int i = 0;
            foreach (var v in buffer.DenseValues()) result[i++] = widen(v);
            return result;
        };
    }

    private static ArgumentOutOfRangeException Missing(string paramName, string column, string expected, IEnumerable<string> available) =>
        new(paramName, $"Label column '{column}' was not found in the input; expected {expected}. Columns found: {string.Join(", ", available.Distinct().Select(n => $"'{n}'"))}.");

    private static ArgumentOutOfRangeException WrongType(string paramName, string column, string expected, string found) =>
        new(paramName, $"Label column '{column}' has the wrong type: expected {expected}, found {found}.");
}
