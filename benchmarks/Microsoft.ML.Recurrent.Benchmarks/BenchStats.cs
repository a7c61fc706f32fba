namespace Microsoft.ML.Recurrent.Benchmarks;

/// <summary>Small helpers every runner here shares.</summary>
internal static class BenchStats
{
    /// <summary>The middle value (the mean of the two middle values for an even count). Throws for no values.</summary>
    public static double Median(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        if (v.Length == 0) throw new ArgumentException("no values", nameof(values));
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }

    /// <summary>A full collection with finalizers run, so one measurement does not pay for the previous one's garbage.</summary>
    public static void FullCollect()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }
}
