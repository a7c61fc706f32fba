using System.Globalization;
using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Data;
using Microsoft.ML.Recurrent.Model;

namespace Microsoft.ML.Recurrent.Seq2Seq;

/// <summary>
/// Reads and checks the token columns of the encoder–decoder and the generator: key vectors (UInt32 keys from
/// <c>MapValueToKey</c>) whose key values are the tokens. Every failure names the column (and the row where relevant),
/// what was expected and what was found.
/// </summary>
internal static class TokenColumns
{
    public const string Expectation = "a vector of keys (UInt32, as MapValueToKey produces) whose key values are the tokens";

    /// <summary>Checks a token key-vector column of a schema and returns its K key values as distinct, non-empty text.</summary>
    public static string[] CheckTokens(DataViewSchema schema, string column, string role, string paramName)
    {
        var col = schema.GetColumnOrNull(column)
            ?? throw new ArgumentOutOfRangeException(paramName,
                $"{role} column '{column}' was not found in the input; expected {Expectation}. Columns found: {string.Join(", ", schema.Where(c => !c.IsHidden).Select(c => $"'{c.Name}'"))}.");
        if (col.Type is not VectorDataViewType { ItemType: KeyDataViewType key } || key.RawType != typeof(uint))
            throw new ArgumentOutOfRangeException(paramName, $"{role} column '{column}' has the wrong type: expected {Expectation}, found {col.Type}.");
        if (key.Count < 1 || key.Count >= (ulong)RecurrentModelFormat.Limits.OutputSize)
            throw new ArgumentOutOfRangeException(paramName, $"{role} column '{column}' has {key.Count} key values; 1 to {RecurrentModelFormat.Limits.OutputSize - 1} are supported.");
        return KeyValues(col, (int)key.Count);
    }

    /// <summary>The same check on a schema shape (GetOutputSchema).</summary>
    public static void CheckTokens(SchemaShape shape, string column, string role, string paramName)
    {
        if (!SequenceSchema.TryFind(shape, column, out var col))
            throw new ArgumentOutOfRangeException(paramName,
                $"{role} column '{column}' was not found in the input; expected {Expectation}. Columns found: {string.Join(", ", shape.Select(c => $"'{c.Name}'").Distinct())}.");
        if (col.Kind == SchemaShape.Column.VectorKind.Scalar || !col.IsKey || col.ItemType.RawType != typeof(uint))
            throw new ArgumentOutOfRangeException(paramName, $"{role} column '{column}' has the wrong type: expected {Expectation}, found {SequenceSchema.Describe(col)}.");
    }

    /// <summary>Key values as text (key k ↔ values[k − 1]), made distinct and non-empty so MapValueToKey rebuilds the same keys.</summary>
    private static string[] KeyValues(DataViewSchema.Column col, int k)
    {
        var names = new string[k];
        bool filled = false;
        var annotation = col.Annotations.Schema.GetColumnOrNull("KeyValues");
        if (annotation?.Type is VectorDataViewType vt && vt.Size == k && vt.ItemType.RawType == typeof(ReadOnlyMemory<char>))
        {
            VBuffer<ReadOnlyMemory<char>> values = default;
            col.GetKeyValues(ref values);
            int i = 0;
            foreach (var v in values.DenseValues()) names[i++] = v.ToString();
            filled = i == k;
        }
        else if (annotation is not null)
        {
            // Non-text key values: their invariant text.
            filled = TryReadAny(col, names);
        }

        if (!filled)
        {
            for (int i = 0; i < k; i++) names[i] = (i + 1).ToString(CultureInfo.InvariantCulture);
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < k; i++)
        {
            string name = names[i].Length == 0 ? $"(key {i + 1})" : names[i];
            while (!seen.Add(name)) name = $"{name} (key {i + 1})";
            names[i] = name;
        }

        return names;
    }

    private static bool TryReadAny(DataViewSchema.Column col, string[] names)
    {
        var type = ((VectorDataViewType)col.Annotations.Schema["KeyValues"].Type).ItemType.RawType;
        if (type == typeof(float)) return Read<float>(col, names, v => v.ToString("R", CultureInfo.InvariantCulture));
        if (type == typeof(double)) return Read<double>(col, names, v => v.ToString("R", CultureInfo.InvariantCulture));
        if (type == typeof(int)) return Read<int>(col, names, v => v.ToString(CultureInfo.InvariantCulture));
        if (type == typeof(uint)) return Read<uint>(col, names, v => v.ToString(CultureInfo.InvariantCulture));
        if (type == typeof(long)) return Read<long>(col, names, v => v.ToString(CultureInfo.InvariantCulture));
        return false;
    }

    private static bool Read<T>(DataViewSchema.Column col, string[] names, Func<T, string> toText)
    {
        VBuffer<T> values = default;
        col.GetKeyValues(ref values);
        if (values.Length != names.Length) return false;
        int i = 0;
        foreach (var v in values.DenseValues()) names[i++] = toText(v);
        return true;
    }

    /// <summary>
    /// Reads a token key vector per row: keys 1..K as ints; a missing key (0) is an error when <paramref name="missingIsError"/>,
    /// an empty vector is an error when <paramref name="emptyIsError"/>.
    /// </summary>
    public static List<int[]> ReadTokens(IDataView data, string column, string role, bool missingIsError, bool emptyIsError)
    {
        var col = data.Schema[column];
        var result = new List<int[]>();
        using var cursor = data.GetRowCursor([col]);
        var getter = cursor.GetGetter<VBuffer<uint>>(col);
        VBuffer<uint> buffer = default;
        long row = 0;
        while (cursor.MoveNext())
        {
            getter(ref buffer);
            if (buffer.Length == 0 && emptyIsError)
                throw new InvalidOperationException($"{role} column '{column}' is empty in row {row}; every sequence needs at least one token.");
            var tokens = new int[buffer.Length];
            int i = 0;
            foreach (uint v in buffer.DenseValues())
            {
                if (v == 0 && missingIsError)
                    throw new InvalidOperationException($"{role} column '{column}' holds a missing key (0) at step {i} of row {row}; every target token must be one of the column's key values.");
                tokens[i++] = (int)v;
            }

            result.Add(tokens);
            row++;
        }

        return result;
    }

    /// <summary>Reads the source column: token ids (key vector) or Single values, T·F per row, checked.</summary>
    public static List<float[]> ReadSource(IDataView data, string column, bool tokens, int featuresPerStep)
    {
        var col = data.Schema[column];
        var result = new List<float[]>();
        using var cursor = data.GetRowCursor([col]);
        long row = 0;
        if (tokens)
        {
            var getter = cursor.GetGetter<VBuffer<uint>>(col);
            VBuffer<uint> buffer = default;
            while (cursor.MoveNext())
            {
                getter(ref buffer);
                if (buffer.Length == 0)
                    throw new InvalidOperationException($"Feature column '{column}' is empty in row {row}; every source sequence needs at least one step.");
                var x = new float[buffer.Length];
                int i = 0;
                foreach (uint v in buffer.DenseValues()) x[i++] = v; // key 0 (missing) = the unknown token
                result.Add(x);
                row++;
            }
        }
        else
        {
            var getter = cursor.GetGetter<VBuffer<float>>(col);
            VBuffer<float> buffer = default;
            while (cursor.MoveNext())
            {
                getter(ref buffer);
                if (buffer.Length == 0)
                    throw new InvalidOperationException($"Feature column '{column}' is empty in row {row}; every source sequence needs at least one step.");
                if (buffer.Length % featuresPerStep != 0)
                    throw new InvalidOperationException($"Feature column '{column}' has {buffer.Length} values in row {row}, which is not a multiple of FeaturesPerStep = {featuresPerStep}.");
                var x = new float[buffer.Length];
                buffer.CopyTo(x);
                for (int i = 0; i < x.Length; i++)
                {
                    if (!float.IsFinite(x[i]))
                        throw new InvalidOperationException($"Feature column '{column}' holds {x[i]} in row {row} at step {i / featuresPerStep}, feature {i % featuresPerStep}; values must be finite.");
                }

                result.Add(x);
                row++;
            }
        }

        return result;
    }
}
