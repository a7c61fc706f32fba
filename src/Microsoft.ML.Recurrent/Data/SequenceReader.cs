using System.Numerics.Tensors;
using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Model;

namespace Microsoft.ML.Recurrent.Data;

/// <summary>Sequences read out of an <see cref="IDataView"/>: features time-major (T·F) and one target per row.</summary>
internal sealed class SequenceRows
{
    public List<float[]> Features { get; } = [];

    /// <summary>Regression: the label; binary: 0 or 1; multiclass: the class index (key − 1).</summary>
    public List<float> Targets { get; } = [];

    public int Count => Features.Count;
}

/// <summary>
/// Reads the feature and label columns of an <see cref="IDataView"/> once, validating every row: sequence length a
/// positive multiple of F, finite values, token ids inside the vocabulary, labels present and finite. A failure names
/// the data set, the row, the column, what was expected and what was found.
/// </summary>
internal static class SequenceReader
{
    public static SequenceRows Read(IDataView data, string featureColumn, FeatureInfo features, int featuresPerStep,
        string labelColumn, LabelInfo label, string setName, CancellationToken cancellation)
    {
        var schema = data.Schema;
        var featureCol = schema[featureColumn];
        var labelCol = schema[labelColumn];
        var rows = new SequenceRows();
        using var cursor = data.GetRowCursor(new[] { featureCol, labelCol });
        var readFeatures = features.Tokens ? TokenGetter(cursor, featureCol, features.VocabularySize) : DenseGetter(cursor, featureCol);
        var readLabel = LabelGetter(cursor, labelCol, label);
        long row = 0;
        while (cursor.MoveNext())
        {
            if ((row & 1023) == 0) cancellation.ThrowIfCancellationRequested();
            string Where() => $"Row {row} of the {setName} data";
            float[] x = readFeatures(Where);
            if (x.Length == 0)
                throw new InvalidOperationException($"{Where()}: feature column '{featureColumn}' is empty; every sequence needs at least one step.");
            if (x.Length % featuresPerStep != 0)
                throw new InvalidOperationException(
                    $"{Where()}: feature column '{featureColumn}' has {x.Length} values, which is not a multiple of FeaturesPerStep = {featuresPerStep}.");
            rows.Features.Add(x);
            rows.Targets.Add(readLabel(Where));
            row++;
        }

        if (rows.Count == 0)
            throw new InvalidOperationException($"The {setName} data has no rows.");
        return rows;
    }

    private static Func<Func<string>, float[]> DenseGetter(DataViewRowCursor cursor, DataViewSchema.Column col)
    {
        var getter = cursor.GetGetter<VBuffer<float>>(col);
        VBuffer<float> buffer = default;
        return where =>
        {
            getter(ref buffer);
            var x = new float[buffer.Length];
            buffer.CopyTo(x);
            if (!TensorPrimitives.IsFiniteAll<float>(x))
            {
                for (int i = 0; i < x.Length; i++)
                {
                    if (!float.IsFinite(x[i]))
                        throw new InvalidOperationException($"{where()}: feature column '{col.Name}' holds {x[i]} at value {i}; features must be finite numbers.");
                }
            }

            return x;
        };
    }

    private static Func<Func<string>, float[]> TokenGetter(DataViewRowCursor cursor, DataViewSchema.Column col, int vocabularySize)
    {
        var getter = cursor.GetGetter<VBuffer<uint>>(col);
        VBuffer<uint> buffer = default;
        return where =>
        {
            getter(ref buffer);
            var ids = new uint[buffer.Length];
            buffer.CopyTo(ids);
            var x = new float[ids.Length];
            for (int i = 0; i < ids.Length; i++)
            {
                if (ids[i] >= vocabularySize)
                    throw new InvalidOperationException($"{where()}: feature column '{col.Name}' holds key {ids[i]} at step {i}, outside the key type's 0..{vocabularySize - 1}.");
                x[i] = ids[i];
            }

            return x;
        };
    }

    private static Func<Func<string>, float> LabelGetter(DataViewRowCursor cursor, DataViewSchema.Column col, LabelInfo label)
    {
        switch (label.Kind)
        {
            case PredictionKind.Regression:
            {
                var getter = cursor.GetGetter<float>(col);
                return where =>
                {
                    float y = 0;
                    getter(ref y);
                    if (!float.IsFinite(y))
                        throw new InvalidOperationException($"{where()}: label column '{col.Name}' is {y}; regression labels must be finite numbers.");
                    return y;
                };
            }

            case PredictionKind.BinaryClassification:
            {
                var getter = cursor.GetGetter<bool>(col);
                return _ =>
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
                return where =>
                {
                    ulong key = read();
                    if (key == 0)
                        throw new InvalidOperationException($"{where()}: label column '{col.Name}' is missing (key 0); every row needs one of the {label.ClassCount} classes.");
                    if (key > (ulong)label.ClassCount)
                        throw new InvalidOperationException($"{where()}: label column '{col.Name}' is key {key}, outside 1..{label.ClassCount}.");
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
