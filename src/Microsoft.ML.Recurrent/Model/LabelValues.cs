using System.Globalization;
using Microsoft.ML.Data;

namespace Microsoft.ML.Recurrent.Model;

/// <summary>
/// The type of a multiclass label's key values and the conversion between those values and the invariant text the
/// model stores (<see cref="RecurrentModel.ClassNames"/>), so that <c>MapKeyToValue</c> on the predicted label gives
/// back the label's own type (a Single class label comes back Single, as with ML.NET's trainers).
/// </summary>
internal static class LabelValues
{
    /// <summary>The value kind of a key column's KeyValues annotation; <see cref="LabelValueKind.Text"/> when it has none or
    /// an unsupported type (the class names are then text, as <c>SequenceSchema</c> wrote them).</summary>
    public static LabelValueKind KindOf(DataViewSchema.Column label, IReadOnlyList<string> classNames)
    {
        var annotation = label.Annotations.Schema.GetColumnOrNull("KeyValues");
        if (annotation?.Type is not VectorDataViewType vt || vt.Size != classNames.Count) return LabelValueKind.Text;
        var kind = vt.ItemType.RawType switch
        {
            var t when t == typeof(float) => LabelValueKind.Single,
            var t when t == typeof(double) => LabelValueKind.Double,
            var t when t == typeof(int) => LabelValueKind.Int32,
            var t when t == typeof(uint) => LabelValueKind.UInt32,
            var t when t == typeof(long) => LabelValueKind.Int64,
            var t when t == typeof(ulong) => LabelValueKind.UInt64,
            var t when t == typeof(bool) => LabelValueKind.Boolean,
            _ => LabelValueKind.Text,
        };
        // The names were made distinct and non-empty for MapValueToKey; if that changed a value, keep text.
        return TryParseAll(classNames, kind, out _) ? kind : LabelValueKind.Text;
    }

    /// <summary>The class names as values of <paramref name="kind"/> (boxed; an array of that CLR type), or false when a
    /// name does not parse, a float is NaN (a missing value for <c>MapValueToKey</c>) or two values are equal.</summary>
    public static bool TryParseAll(IReadOnlyList<string> names, LabelValueKind kind, out Array values)
    {
        values = kind switch
        {
            LabelValueKind.Single => (Array?)Parse(names, (string s, out float v) => float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out v) && !float.IsNaN(v)),
            LabelValueKind.Double => Parse(names, (string s, out double v) => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out v) && !double.IsNaN(v)),
            LabelValueKind.Int32 => Parse(names, (string s, out int v) => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out v)),
            LabelValueKind.UInt32 => Parse(names, (string s, out uint v) => uint.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out v)),
            LabelValueKind.Int64 => Parse(names, (string s, out long v) => long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out v)),
            LabelValueKind.UInt64 => Parse(names, (string s, out ulong v) => ulong.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out v)),
            LabelValueKind.Boolean => Parse(names, (string s, out bool v) => (v = s == "True") || s == "False"),
            _ => Parse(names, (string s, out string v) => (v = s).Length > 0),
        } ?? Array.Empty<object>();
        return values.Length == names.Count;
    }

    private delegate bool TryParseValue<T>(string text, out T value);

    private static T[]? Parse<T>(IReadOnlyList<string> names, TryParseValue<T> parse)
    {
        var values = new T[names.Count];
        var seen = new HashSet<T>();
        for (int i = 0; i < values.Length; i++)
        {
            if (!parse(names[i], out values[i]) || !seen.Add(values[i])) return null;
        }

        return values;
    }
}
