using System.Text;
using Xunit.Sdk;

namespace Microsoft.ML.Recurrent.Tests.Helpers;

/// <summary>Element-wise comparison of an analytical (float32 engine) and a numerical (double reference) vector.</summary>
internal static class GradientAssert
{
    /// <summary>|a − n| ≤ relative · max(|a|, |n|) + absolute, for every element; names the first mismatches.</summary>
    public static void Close(string what, IReadOnlyList<double> actual, IReadOnlyList<double> expected, double relative, double absolute,
        Func<int, string>? name = null, Func<int, bool>? include = null)
    {
        if (actual.Count != expected.Count)
            throw new XunitException($"{what}: engine gave {actual.Count} values, reference {expected.Count}.");
        var sb = new StringBuilder();
        int bad = 0, checkedCount = 0;
        double worst = 0;
        for (int i = 0; i < expected.Count; i++)
        {
            if (include is not null && !include(i)) continue;
            checkedCount++;
            double a = actual[i], n = expected[i];
            double err = Math.Abs(a - n), allowed = relative * Math.Max(Math.Abs(a), Math.Abs(n)) + absolute;
            if (!(err <= allowed))
            {
                if (bad < 12) sb.AppendLine($"  {name?.Invoke(i) ?? $"[{i}]"}: engine {a:G9}, reference {n:G9}, |diff| {err:G3} > {allowed:G3}");
                bad++;
            }

            worst = Math.Max(worst, err / allowed);
        }

        if (bad > 0)
            throw new XunitException($"{what}: {bad} of {checkedCount} values differ (worst error / allowance {worst:G3}):{Environment.NewLine}{sb}");
    }

    /// <summary>The same for per-sequence vectors; names are "sequence i [j]" unless <paramref name="name"/> says otherwise.</summary>
    public static void Close(string what, IReadOnlyList<double[]> actual, IReadOnlyList<double[]> expected, double relative, double absolute,
        Func<int, int, string>? name = null)
    {
        if (actual.Count != expected.Count)
            throw new XunitException($"{what}: engine gave {actual.Count} sequences, reference {expected.Count}.");
        for (int s = 0; s < expected.Count; s++)
        {
            int seq = s;
            Close($"{what} (sequence {s})", actual[s], expected[s], relative, absolute, name is null ? null : j => name(seq, j));
        }
    }
}
