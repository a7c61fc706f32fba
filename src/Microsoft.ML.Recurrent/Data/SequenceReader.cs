namespace Microsoft.ML.Recurrent.Data;

/// <summary>Sequences read out of an <see cref="IDataView"/>: features time-major (T·F) and one target per row.</summary>
internal sealed class SequenceRows
{
    public List<float[]> Features { get; } = [];

    /// <summary>Regression: the label; binary: 0 or 1; multiclass: the class index (key − 1).</summary>
    public List<float> Targets { get; } = [];

    /// <summary>Each row's example weight, or null without a weight column.</summary>
    public List<float>? Weights { get; set; }

    public int Count => Features.Count;
}

/// <summary>
/// Reads the feature and label columns of an <see cref="IDataView"/> once into memory, validating every row (see
/// <see cref="SequenceRowReader"/>): sequence length a positive multiple of F, finite values, token ids inside the
/// vocabulary, labels present and finite. A failure names the data set, the row, the column, what was expected and
/// what was found.
/// </summary>
internal static class SequenceReader
{
    /// <summary>What one in-memory row costs besides its values: the array header, the list slots, the target.</summary>
    internal const int RowOverheadBytes = 48;

    public static SequenceRows Read(IDataView data, string featureColumn, FeatureInfo features, int featuresPerStep,
        string labelColumn, LabelInfo label, string setName, CancellationToken cancellation, string? weightColumn = null) =>
        TryRead(data, new SequenceColumns(featureColumn, features, featuresPerStep, labelColumn, label, weightColumn), setName, long.MaxValue, cancellation)!;

    /// <summary>
    /// Reads every row into memory, or returns null as soon as the copy would exceed <paramref name="budgetBytes"/> (4 bytes
    /// per value plus <see cref="RowOverheadBytes"/> per row): the caller then streams the data instead.
    /// </summary>
    public static SequenceRows? TryRead(IDataView data, SequenceColumns columns, string setName, long budgetBytes, CancellationToken cancellation)
    {
        var rows = new SequenceRows();
        using var cursor = data.GetRowCursor(SequenceRowReader.Needed(data.Schema, columns));
        var reader = new SequenceRowReader(cursor, columns, setName);
        if (reader.HasWeights) rows.Weights = [];
        long row = 0, bytes = 0;
        float[] x = [];
        while (cursor.MoveNext())
        {
            if ((row & 1023) == 0) cancellation.ThrowIfCancellationRequested();
            reader.Row = row;
            int n = reader.ReadFeatures(ref x, exact: true);
            bytes += 4L * n + RowOverheadBytes;
            if (bytes > budgetBytes) return null;
            rows.Features.Add(x);
            x = [];
            rows.Targets.Add(reader.ReadLabel());
            rows.Weights?.Add(reader.ReadWeight());
            row++;
        }

        if (rows.Count == 0)
            throw new InvalidOperationException($"The {setName} data has no rows.");
        return rows;
    }
}
