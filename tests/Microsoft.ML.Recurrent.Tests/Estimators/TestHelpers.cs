using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.Recurrent.Tests.Estimators;

/// <summary>Helpers that only use ML.NET's public API.</summary>
internal static class TestHelpers
{
    private sealed class Nothing
    {
    }

    /// <summary>
    /// The <see cref="SchemaShape"/> of a row class (SchemaShape.Create is internal): a stock CustomMapping estimator
    /// with no input describes its output columns from the class's attributes.
    /// </summary>
    public static SchemaShape ShapeOf<TRow>(MLContext ml)
        where TRow : class, new() =>
        ml.Transforms.CustomMapping<Nothing, TRow>((_, _) => { }, contractName: null).GetOutputSchema(new SchemaShape([]));

    /// <summary>Every value of a column, boxed, so columns of any type compare.</summary>
    public static List<object?> Column(IDataView data, string name)
    {
        var col = data.Schema[name];
        Type raw = col.Type.RawType;
        if (raw == typeof(float)) return Read<float>(data, col);
        if (raw == typeof(double)) return Read<double>(data, col);
        if (raw == typeof(bool)) return Read<bool>(data, col);
        if (raw == typeof(uint)) return Read<uint>(data, col);
        if (raw == typeof(ReadOnlyMemory<char>)) return Read<ReadOnlyMemory<char>>(data, col);
        if (raw == typeof(VBuffer<float>)) return Read<VBuffer<float>>(data, col);
        throw new NotSupportedException($"Column {name} has raw type {raw}; add it to TestHelpers.Column.");
    }

    private static List<object?> Read<T>(IDataView data, DataViewSchema.Column col)
    {
        var values = new List<object?>();
        using var cursor = data.GetRowCursor([col]);
        var getter = cursor.GetGetter<T>(col);
        T value = default!;
        while (cursor.MoveNext())
        {
            getter(ref value);
            values.Add(value is VBuffer<float> v ? v.DenseValues().ToArray() : value is ReadOnlyMemory<char> m ? m.ToString() : value);
        }

        return values;
    }

    /// <summary>Asserts two views have the same visible columns (names and types) and the same values, bit for bit.</summary>
    public static void ShouldHaveSameColumnsAndData(this IDataView actual, IDataView expected, params string[] columns)
    {
        foreach (string name in columns)
        {
            actual.Schema[name].Type.Should().Be(expected.Schema[name].Type, $"column {name} keeps its type");
            Column(actual, name).Should().BeEquivalentTo(Column(expected, name), o => o.WithStrictOrdering(), $"column {name} keeps its values");
        }
    }

    public static string[] VisibleColumns(DataViewSchema schema) => schema.Where(c => !c.IsHidden).Select(c => c.Name).ToArray();
}

/// <summary>Synchronous progress sink (Progress&lt;T&gt; posts asynchronously).</summary>
public sealed class ListProgress : IProgress<RecurrentEpochReport>
{
    public List<RecurrentEpochReport> Reports { get; } = [];

    public Action<RecurrentEpochReport>? OnReport { get; set; }

    public void Report(RecurrentEpochReport value)
    {
        Reports.Add(value);
        OnReport?.Invoke(value);
    }
}
