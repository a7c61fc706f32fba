using System.Globalization;
using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Model;

namespace Microsoft.ML.Recurrent.Data;

/// <summary>What the feature column holds.</summary>
/// <param name="Tokens">A vector of keys (token ids) rather than a vector of Single.</param>
/// <param name="VocabularySize">Tokens only: key count + 1 (id 0 = padding/unknown); 0 for Single features.</param>
internal sealed record FeatureInfo(bool Tokens, int VocabularySize);

/// <summary>What the label column holds.</summary>
/// <param name="Kind">The task the label belongs to.</param>
/// <param name="ClassCount">Multiclass only: the label's key count K; 0 otherwise.</param>
/// <param name="ClassNames">Multiclass only: K distinct, non-empty names (the key values as text), class k ↔ key k + 1.</param>
internal sealed record LabelInfo(PredictionKind Kind, int ClassCount, string[] ClassNames);

/// <summary>
/// Checks the feature and label columns of an input schema (a <see cref="DataViewSchema"/> at <c>Fit</c>, a
/// <see cref="SchemaShape"/> at <c>GetOutputSchema</c>). Every failure names the column, what was expected and what
/// was found, and is raised before any data is read.
/// </summary>
internal static class SequenceSchema
{
    private const string FeatureExpectation = "a vector of Single (T·F values, time-major) or a vector of keys (token ids)";

    public static string LabelExpectation(PredictionKind kind) => kind switch
    {
        PredictionKind.Regression => "Single (regression)",
        PredictionKind.BinaryClassification => "Boolean (binary classification)",
        _ => "a key with at least 2 values (multiclass classification; use MapValueToKey)",
    };

    public static FeatureInfo CheckFeatures(DataViewSchema schema, string column, int featuresPerStep, string paramName)
    {
        var col = schema.GetColumnOrNull(column)
            ?? throw Missing(paramName, "Feature", column, FeatureExpectation, schema.Where(c => !c.IsHidden).Select(c => c.Name));
        if (col.Type is not VectorDataViewType vector)
            throw WrongType(paramName, "Feature", column, FeatureExpectation, $"{col.Type}");
        if (vector.ItemType == NumberDataViewType.Single)
        {
            if (vector.Size > 0 && vector.Size % featuresPerStep != 0)
                throw new ArgumentOutOfRangeException(paramName,
                    $"Feature column '{column}' has a fixed length of {vector.Size} values, which is not a multiple of FeaturesPerStep = {featuresPerStep}.");
            return new FeatureInfo(false, 0);
        }

        if (vector.ItemType is KeyDataViewType key)
        {
            if (key.RawType != typeof(uint))
                throw WrongType(paramName, "Feature", column, "token keys of raw type UInt32 (as MapValueToKey produces)", $"{vector}");
            CheckTokenStep(featuresPerStep);
            if (key.Count < 1 || key.Count >= (ulong)RecurrentModelFormat.Limits.VocabularySize)
                throw new ArgumentOutOfRangeException(paramName,
                    $"Feature column '{column}' has {key.Count} key values; token input supports 1 to {RecurrentModelFormat.Limits.VocabularySize - 1}.");
            return new FeatureInfo(true, (int)key.Count + 1);
        }

        throw WrongType(paramName, "Feature", column, FeatureExpectation, $"{vector}", ConvertHint(column, vector.ItemType));
    }

    public static void CheckFeatures(SchemaShape shape, string column, int featuresPerStep, string paramName)
    {
        if (!TryFind(shape, column, out var col))
            throw Missing(paramName, "Feature", column, FeatureExpectation, shape.Select(c => c.Name));
        string found = Describe(col);
        if (col.Kind == SchemaShape.Column.VectorKind.Scalar)
            throw WrongType(paramName, "Feature", column, FeatureExpectation, found);
        if (col.IsKey)
        {
            if (col.ItemType.RawType != typeof(uint))
                throw WrongType(paramName, "Feature", column, "token keys of raw type UInt32 (as MapValueToKey produces)", found);
            CheckTokenStep(featuresPerStep);
            return;
        }

        if (col.ItemType != NumberDataViewType.Single)
            throw WrongType(paramName, "Feature", column, FeatureExpectation, found, ConvertHint(column, col.ItemType));
    }

    private static void CheckTokenStep(int featuresPerStep)
    {
        if (featuresPerStep != 1)
            throw new ArgumentOutOfRangeException(nameof(RecurrentTrainerOptions.FeaturesPerStep), featuresPerStep,
                $"FeaturesPerStep must be 1 for key-typed token input (one token per step); it was {featuresPerStep}.");
    }

    public static LabelInfo CheckLabel(DataViewSchema schema, string column, PredictionKind kind, string paramName)
    {
        var col = schema.GetColumnOrNull(column)
            ?? throw Missing(paramName, "Label", column, LabelExpectation(kind), schema.Where(c => !c.IsHidden).Select(c => c.Name));
        var type = col.Type;
        switch (kind)
        {
            case PredictionKind.Regression:
                if (type != NumberDataViewType.Single) throw WrongType(paramName, "Label", column, LabelExpectation(kind), $"{type}", ConvertHint(column, type));
                return new LabelInfo(kind, 0, []);
            case PredictionKind.BinaryClassification:
                if (type != BooleanDataViewType.Instance) throw WrongType(paramName, "Label", column, LabelExpectation(kind), $"{type}");
                return new LabelInfo(kind, 0, []);
            default:
                if (type is not KeyDataViewType key || key.Count < 2 || key.Count > (ulong)RecurrentModelFormat.Limits.OutputSize)
                    throw WrongType(paramName, "Label", column, LabelExpectation(kind), $"{type}");
                int k = (int)key.Count;
                return new LabelInfo(kind, k, ClassNames(col, k));
        }
    }

    public static void CheckLabel(SchemaShape shape, string column, PredictionKind kind, string paramName)
    {
        if (!TryFind(shape, column, out var col))
            throw Missing(paramName, "Label", column, LabelExpectation(kind), shape.Select(c => c.Name));
        bool ok = col.Kind == SchemaShape.Column.VectorKind.Scalar && kind switch
        {
            PredictionKind.Regression => !col.IsKey && col.ItemType == NumberDataViewType.Single,
            PredictionKind.BinaryClassification => !col.IsKey && col.ItemType == BooleanDataViewType.Instance,
            _ => col.IsKey,
        };
        if (!ok)
        {
            string hint = kind == PredictionKind.Regression && !col.IsKey && col.Kind == SchemaShape.Column.VectorKind.Scalar ? ConvertHint(column, col.ItemType) : "";
            throw WrongType(paramName, "Label", column, LabelExpectation(kind), Describe(col), hint);
        }
    }

    /// <summary>The label's key values as text (class k ↔ key k + 1), made distinct and non-empty so that
    /// <c>MapValueToKey</c> can rebuild the same keys; "0" … "K−1" when the key has no values.</summary>
    internal static string[] ClassNames(DataViewSchema.Column col, int k)
    {
        var names = new string[k];
        var annotation = col.Annotations.Schema.GetColumnOrNull("KeyValues");
        bool filled = annotation?.Type is VectorDataViewType vt && vt.Size == k && TryReadValues(col, vt.ItemType, names);
        if (!filled)
        {
            for (int i = 0; i < k; i++) names[i] = i.ToString(CultureInfo.InvariantCulture);
        }

        // MapValueToKey treats empty text as missing and merges duplicates: keep every class reachable.
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < k; i++)
        {
            string name = names[i].Length == 0 ? $"(class {i})" : names[i];
            while (!seen.Add(name)) name = $"{name} (class {i})";
            names[i] = name;
        }

        return names;
    }

    private static bool TryReadValues(DataViewSchema.Column col, DataViewType itemType, string[] names)
    {
        switch (itemType.RawType)
        {
            case var t when t == typeof(ReadOnlyMemory<char>):
                return Read<ReadOnlyMemory<char>>(col, names, v => v.ToString());
            case var t when t == typeof(float):
                return Read<float>(col, names, v => v.ToString("R", CultureInfo.InvariantCulture));
            case var t when t == typeof(double):
                return Read<double>(col, names, v => v.ToString("R", CultureInfo.InvariantCulture));
            case var t when t == typeof(int):
                return Read<int>(col, names, v => v.ToString(CultureInfo.InvariantCulture));
            case var t when t == typeof(uint):
                return Read<uint>(col, names, v => v.ToString(CultureInfo.InvariantCulture));
            case var t when t == typeof(long):
                return Read<long>(col, names, v => v.ToString(CultureInfo.InvariantCulture));
            case var t when t == typeof(ulong):
                return Read<ulong>(col, names, v => v.ToString(CultureInfo.InvariantCulture));
            case var t when t == typeof(bool):
                return Read<bool>(col, names, v => v ? "True" : "False");
            default:
                return false;
        }
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

    /// <summary>The last column of that name (SchemaShape's own lookup is internal).</summary>
    internal static bool TryFind(SchemaShape shape, string name, out SchemaShape.Column column)
    {
        column = default;
        bool found = false;
        foreach (var c in shape)
        {
            if (c.Name == name)
            {
                column = c;
                found = true;
            }
        }

        return found;
    }

    internal static string Describe(SchemaShape.Column col)
    {
        string item = col.IsKey ? $"Key<{col.ItemType.RawType.Name}>" : $"{col.ItemType}";
        return col.Kind switch
        {
            SchemaShape.Column.VectorKind.Scalar => item,
            SchemaShape.Column.VectorKind.Vector => $"Vector<{item}> (fixed length)",
            _ => $"Vector<{item}> (variable length)",
        };
    }

    private static ArgumentOutOfRangeException Missing(string paramName, string role, string column, string expected, IEnumerable<string> available) =>
        new(paramName, $"{role} column '{column}' was not found in the input; expected {expected}. Columns found: {string.Join(", ", available.Distinct().Select(n => $"'{n}'"))}.");

    private static ArgumentOutOfRangeException WrongType(string paramName, string role, string column, string expected, string found, string hint = "") =>
        new(paramName, $"{role} column '{column}' has the wrong type: expected {expected}, found {found}.{hint}");

    /// <summary>For a numeric type other than Single, how to convert it with a stock transform; empty otherwise.</summary>
    private static string ConvertHint(string column, DataViewType itemType) =>
        itemType is NumberDataViewType && itemType != NumberDataViewType.Single
            ? $" Convert it first with mlContext.Transforms.Conversion.ConvertType(\"{column}\", outputKind: DataKind.Single)."
            : "";

    private const string WeightExpectation = "Single (finite, ≥ 0)";

    /// <summary>Checks the example weight column: present and Single.</summary>
    public static void CheckWeight(DataViewSchema schema, string column, string paramName)
    {
        var col = schema.GetColumnOrNull(column)
            ?? throw Missing(paramName, "Example weight", column, WeightExpectation, schema.Where(c => !c.IsHidden).Select(c => c.Name));
        if (col.Type != NumberDataViewType.Single)
            throw WrongType(paramName, "Example weight", column, WeightExpectation, $"{col.Type}", ConvertHint(column, col.Type));
    }

    /// <summary>Checks the example weight column of a schema shape: present and a Single scalar.</summary>
    public static void CheckWeight(SchemaShape shape, string column, string paramName)
    {
        if (!TryFind(shape, column, out var col))
            throw Missing(paramName, "Example weight", column, WeightExpectation, shape.Select(c => c.Name));
        if (col.Kind != SchemaShape.Column.VectorKind.Scalar || col.IsKey || col.ItemType != NumberDataViewType.Single)
        {
            string hint = col.Kind == SchemaShape.Column.VectorKind.Scalar && !col.IsKey ? ConvertHint(column, col.ItemType) : "";
            throw WrongType(paramName, "Example weight", column, WeightExpectation, Describe(col), hint);
        }
    }
}
