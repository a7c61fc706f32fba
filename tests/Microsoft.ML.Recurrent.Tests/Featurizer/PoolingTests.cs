using Microsoft.ML.Recurrent.Engine.Heads;
using Microsoft.ML.Recurrent.Tests.Helpers;

namespace Microsoft.ML.Recurrent.Tests.Featurizer;

/// <summary>
/// Pooling of per-step states (T, B, D) against a double-precision reference: values, and the gradients of
/// L = Σ g ⊙ pooled w.r.t. the states and the attention query against central differences of the reference.
/// </summary>
public class PoolingTests
{
    private const int Hidden = 3, Directions = 2, D = Hidden * Directions, T = 5, B = 3;
    private static readonly int[] Lengths = [5, 3, 1];

    /// <summary>Reference pooling of row r in double.</summary>
    private static double[] Reference(PoolingKind kind, double[] top, double[] q, int r)
    {
        int len = Lengths[r];
        double[] H(int t) => top.AsSpan((t * B + r) * D, D).ToArray();
        var p = new double[D];
        switch (kind)
        {
            case PoolingKind.Last:
                for (int j = 0; j < Hidden; j++) { p[j] = H(len - 1)[j]; p[Hidden + j] = H(0)[Hidden + j]; }
                break;
            case PoolingKind.Mean:
                for (int t = 0; t < len; t++) for (int j = 0; j < D; j++) p[j] += H(t)[j] / len;
                break;
            case PoolingKind.Max:
                for (int j = 0; j < D; j++) p[j] = Enumerable.Range(0, len).Max(t => H(t)[j]);
                break;
            default:
                var e = Enumerable.Range(0, len).Select(t => H(t).Zip(q, (a, b) => a * b).Sum() / Math.Sqrt(D)).ToArray();
                double max = e.Max(), sum = e.Sum(v => Math.Exp(v - max));
                for (int t = 0; t < len; t++) for (int j = 0; j < D; j++) p[j] += Math.Exp(e[t] - max) / sum * H(t)[j];
                break;
        }

        return p;
    }

    private static double Objective(PoolingKind kind, double[] top, double[] q, double[] g) =>
        Enumerable.Range(0, B).Sum(r => Reference(kind, top, q, r).Select((v, j) => v * g[r * D + j]).Sum());

    [Theory]
    [InlineData(nameof(PoolingKind.Last))]
    [InlineData(nameof(PoolingKind.Mean))]
    [InlineData(nameof(PoolingKind.Max))]
    [InlineData(nameof(PoolingKind.Attention))]
    public void ForwardBackward_MatchDoubleReferenceAndFiniteDifferences(string poolingName)
    {
        var kind = Enum.Parse<PoolingKind>(poolingName);
        var rng = new Random(11 + (int)kind);
        var top = Enumerable.Range(0, T * B * D).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        for (int r = 0; r < B; r++)
            for (int t = Lengths[r]; t < T; t++) top.AsSpan((t * B + r) * D, D).Fill(50f); // padding: must never be read
        var q = Enumerable.Range(0, D).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
        var g = Enumerable.Range(0, B * D).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var pooling = new SequencePooling(kind, Hidden, Directions);
        var query = kind == PoolingKind.Attention ? q : [];

        var pooled = pooling.Forward(top, B, T, Lengths, query).ToArray();
        double[] topD = top.Select(v => (double)v).ToArray(), qD = q.Select(v => (double)v).ToArray(), gD = g.Select(v => (double)v).ToArray();
        for (int r = 0; r < B; r++)
            GradientAssert.Close($"pooled row {r}", pooled.AsSpan(r * D, D).ToArray().Select(v => (double)v).ToArray(), Reference(kind, topD, qD, r), 0, 1e-6);

        var dTop = new float[T * B * D];
        var dQuery = new float[query.Length];
        pooling.Backward(top, g, B, T, Lengths, query, dTop, dQuery);

        const double h = 1e-6;
        double Central(double[] x, int i)
        {
            double keep = x[i];
            x[i] = keep + h; double plus = Objective(kind, topD, qD, gD);
            x[i] = keep - h; double minus = Objective(kind, topD, qD, gD);
            x[i] = keep;
            return (plus - minus) / (2 * h);
        }

        var numericTop = Enumerable.Range(0, topD.Length).Select(i => Central(topD, i)).ToArray();
        GradientAssert.Close("state gradients", dTop.Select(v => (double)v).ToArray(), numericTop, 1e-4, 1e-6);
        if (kind == PoolingKind.Attention)
        {
            var numericQ = Enumerable.Range(0, qD.Length).Select(i => Central(qD, i)).ToArray();
            GradientAssert.Close("query gradients", dQuery.Select(v => (double)v).ToArray(), numericQ, 1e-4, 1e-6);
            numericQ.Max(Math.Abs).Should().BeGreaterThan(1e-3, "the query must matter");
            var weights = pooling.Weights.ToArray();
            for (int r = 0; r < B; r++)
            {
                Enumerable.Range(0, T).Sum(t => weights[t * B + r]).Should().BeApproximately(1f, 1e-6f);
                for (int t = Lengths[r]; t < T; t++) weights[t * B + r].Should().Be(0f, "padding gets no attention");
            }
        }
    }
}
