using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Heads;
using Microsoft.ML.Recurrent.Tests.Helpers;

namespace Microsoft.ML.Recurrent.Tests.Tagging;

/// <summary>
/// The linear-chain CRF layer against a double-precision brute force that enumerates every tag path: log-likelihood,
/// gradients (central differences of the brute force), posterior marginals and Viterbi decoding.
/// </summary>
public class CrfTests
{
    /// <summary>Every tag path of length L over K classes.</summary>
    private static IEnumerable<int[]> Paths(int k, int length)
    {
        var path = new int[length];
        long count = (long)Math.Pow(k, length);
        for (long n = 0; n < count; n++)
        {
            long m = n;
            for (int t = 0; t < length; t++) { path[t] = (int)(m % k); m /= k; }
            yield return (int[])path.Clone();
        }
    }

    /// <summary>Path score in double: s[y0] + Σ e[t, y_t] + Σ A[y_{t−1}, y_t] + n[y_{L−1}]; emissions (L, K), parameters A, s, n.</summary>
    private static double Score(double[] e, double[] p, int k, int[] y)
    {
        int L = y.Length;
        double s = p[k * k + y[0]] + p[k * k + k + y[L - 1]];
        for (int t = 0; t < L; t++)
        {
            s += e[t * k + y[t]];
            if (t > 0) s += p[y[t - 1] * k + y[t]];
        }

        return s;
    }

    private static double BruteNll(double[] e, double[] p, int k, int[] gold)
    {
        double max = double.NegativeInfinity;
        var scores = Paths(k, gold.Length).Select(y => Score(e, p, k, y)).ToArray();
        foreach (double s in scores) max = Math.Max(max, s);
        double logZ = max + Math.Log(scores.Sum(s => Math.Exp(s - max)));
        return logZ - Score(e, p, k, gold);
    }

    private static (float[] E, float[] P, int[] Gold) Random(int k, int length, int seed)
    {
        var rng = new Random(seed);
        var e = Enumerable.Range(0, length * k).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
        var p = Enumerable.Range(0, LinearChainCrf.CountParameters(k)).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var gold = Enumerable.Range(0, length).Select(_ => rng.Next(k)).ToArray();
        return (e, p, gold);
    }

    [Theory]
    [InlineData(2, 1, 1)]
    [InlineData(3, 4, 2)]
    [InlineData(4, 5, 3)]
    [InlineData(5, 3, 4)]
    public void NegativeLogLikelihood_ValueAndGradients_MatchBruteForceFiniteDifferences(int k, int length, int seed)
    {
        var (e, p, gold) = Random(k, length, seed);
        var crf = new LinearChainCrf(k);
        var dE = new float[e.Length];
        var dP = new float[p.Length];
        double nll = crf.NegativeLogLikelihood(e, 1, 0, length, gold, p, dE, dP, scale: 1.0);

        double[] ed = e.Select(v => (double)v).ToArray(), pd = p.Select(v => (double)v).ToArray();
        nll.Should().BeApproximately(BruteNll(ed, pd, k, gold), 1e-9);
        const double h = 1e-5;
        double Central(double[] x, int i)
        {
            double keep = x[i];
            x[i] = keep + h; double plus = BruteNll(ed, pd, k, gold);
            x[i] = keep - h; double minus = BruteNll(ed, pd, k, gold);
            x[i] = keep;
            return (plus - minus) / (2 * h);
        }

        var numericE = Enumerable.Range(0, ed.Length).Select(i => Central(ed, i)).ToArray();
        var numericP = Enumerable.Range(0, pd.Length).Select(i => Central(pd, i)).ToArray();
        GradientAssert.Close("emission gradients", dE.Select(v => (double)v).ToArray(), numericE, 1e-5, 1e-6);
        GradientAssert.Close("transition/start/end gradients", dP.Select(v => (double)v).ToArray(), numericP, 1e-5, 1e-6);
        if (length > 1) numericP.Take(k * k).Max(Math.Abs).Should().BeGreaterThan(1e-3, "transitions matter when L > 1");
    }

    [Fact]
    public void NegativeLogLikelihood_ExtremeScores_FallsBackToLogSpaceAndStaysExact()
    {
        // Transitions of −900 make every path but a few underflow in probability space (exp(−900) = 0 in double): the
        // scaled pass detects it and the log-space pass gives the exact value and gradients.
        const int k = 3, length = 4;
        var (e, p, gold) = Random(k, length, 21);
        for (int i = 0; i < k * k; i++) p[i] = i % 4 == 0 ? 0f : -900f;
        for (int i = 0; i < e.Length; i++) e[i] *= 300f;
        var dE = new float[e.Length];
        var dP = new float[p.Length];
        double nll = new LinearChainCrf(k).NegativeLogLikelihood(e, 1, 0, length, gold, p, dE, dP, 1.0);
        double[] ed = e.Select(v => (double)v).ToArray(), pd = p.Select(v => (double)v).ToArray();
        nll.Should().BeApproximately(BruteNll(ed, pd, k, gold), 1e-6 * Math.Max(1, Math.Abs(nll)));
        dE.Should().OnlyContain(v => float.IsFinite(v));
        dE.Sum().Should().BeApproximately(0f, 1e-4f, "each step's marginals sum to 1, as do the gold indicators");
    }

    [Fact]
    public void NegativeLogLikelihood_StridedBatchLayout_EqualsEachSequenceAlone()
    {
        // Emissions in the engine's (T, B, K) layout, B = 3 rows of lengths 4, 2, 1: each row alone gives the same loss and gradients.
        const int k = 3, B = 3, T = 4;
        int[] lengths = [4, 2, 1];
        var rng = new Random(5);
        var batch = Enumerable.Range(0, T * B * k).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var p = Enumerable.Range(0, LinearChainCrf.CountParameters(k)).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var crf = new LinearChainCrf(k);
        var dBatch = new float[batch.Length];
        for (int r = 0; r < B; r++)
        {
            int len = lengths[r];
            var gold = Enumerable.Range(0, len).Select(_ => rng.Next(k)).ToArray();
            var alone = new float[len * k];
            for (int t = 0; t < len; t++) batch.AsSpan((t * B + r) * k, k).CopyTo(alone.AsSpan(t * k, k));
            var dAlone = new float[alone.Length];
            double expected = crf.NegativeLogLikelihood(alone, 1, 0, len, gold, p, dAlone, default, 1.0);
            crf.NegativeLogLikelihood(batch, B, r, len, gold, p, dBatch, default, 1.0).Should().Be(expected);
            for (int t = 0; t < len; t++) dBatch.AsSpan((t * B + r) * k, k).ToArray().Should().Equal(dAlone.AsSpan(t * k, k).ToArray());
        }

        for (int r = 0; r < B; r++)
            for (int t = lengths[r]; t < T; t++)
                dBatch.AsSpan((t * B + r) * k, k).ToArray().Should().OnlyContain(v => v == 0f, "padding steps get no gradient");
    }

    [Fact]
    public void Decode_SmallCases_EqualsBruteForceArgMax()
    {
        var crf = new LinearChainCrf(3);
        int checkedCases = 0;
        for (int seed = 0; seed < 60; seed++)
        {
            int k = 2 + seed % 3, length = 1 + seed % 6;
            crf = new LinearChainCrf(k);
            var (e, p, _) = Random(k, length, 100 + seed);
            var tags = new int[length];
            crf.Decode(e, 1, 0, length, p, tags);
            double[] ed = e.Select(v => (double)v).ToArray(), pd = p.Select(v => (double)v).ToArray();
            var best = Paths(k, length).MaxBy(y => Score(ed, pd, k, y))!;
            tags.Should().Equal(best, $"seed {seed}, K = {k}, L = {length}");
            checkedCases++;
        }

        checkedCases.Should().Be(60);
    }

    [Fact]
    public void Decode_TransitionsForbidAPair_AvoidsIt()
    {
        // Emissions alone say 0, 1, 0, but the transition 0 → 1 costs 100: the best path must avoid it.
        const int k = 2;
        float[] e = [2, 0, 0, 1, 2, 0];
        var p = new float[LinearChainCrf.CountParameters(k)];
        p[0 * k + 1] = -100f;
        var tags = new int[3];
        new LinearChainCrf(k).Decode(e, 1, 0, 3, p, tags);
        tags.Should().Equal(0, 0, 0);
        Array.Clear(p);
        new LinearChainCrf(k).Decode(e, 1, 0, 3, p, tags);
        tags.Should().Equal(0, 1, 0);
    }

    [Fact]
    public void Marginals_MatchBruteForcePosteriors()
    {
        const int k = 3, length = 4;
        var (e, p, _) = Random(k, length, 9);
        var marginals = new float[length * k];
        new LinearChainCrf(k).Marginals(e, 1, 0, length, p, marginals);
        double[] ed = e.Select(v => (double)v).ToArray(), pd = p.Select(v => (double)v).ToArray();
        var paths = Paths(k, length).ToArray();
        var weights = paths.Select(y => Math.Exp(Score(ed, pd, k, y))).ToArray();
        double z = weights.Sum();
        for (int t = 0; t < length; t++)
        {
            for (int c = 0; c < k; c++)
            {
                double expected = paths.Select((y, i) => y[t] == c ? weights[i] : 0).Sum() / z;
                marginals[t * k + c].Should().BeApproximately((float)expected, 1e-6f);
            }
        }
    }

    [Fact]
    public void CrfObjective_OnEngineEmissions_MatchesFiniteDifferencesOfTheNetworkLoss()
    {
        // The whole stack in float: network (every-step head) → CRF NLL averaged over valid steps. A few parameters of
        // every slice, central differences of the float loss (loose tolerance, float precision).
        var spec = new NetworkSpec(CellKind.Gru, InputSize: 2, HiddenSize: 3, Bidirectional: true, OutputSize: 3, Output: OutputMode.EveryStep);
        var layout = new ParameterLayout(spec);
        var parameters = new float[layout.Count];
        Initializer.Initialize(layout, parameters, 3);
        var rng = new Random(4);
        var objective = new CrfObjective(3);
        var extra = Enumerable.Range(0, objective.ParameterCount).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        int[] lengths = [4, 2, 3];
        var seqs = lengths.Select(l => Enumerable.Range(0, l * 2).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray()).ToArray();
        var tags = lengths.Select(l => Enumerable.Range(0, l).Select(_ => (float)rng.Next(3)).ToArray()).ToArray();
        var batch = new SequenceBatch(3, 4, 2, 1);
        batch.Fill(3, i => seqs[i], i => tags[i], perStepTargets: true);
        var network = new RecurrentNetwork(layout, parameters, new float[layout.Count], 3, 4);

        double LossAt()
        {
            network.ParametersChanged(); // the caller poked a parameter
            var y = network.Forward(batch);
            return objective.Compute(y, batch, extra, new float[extra.Length], new float[y.Length]);
        }

        var yy = network.Forward(batch, training: true);
        var dOut = new float[yy.Length];
        var dExtra = new float[extra.Length];
        objective.Compute(yy, batch, extra, dExtra, dOut);
        network.Backward(dOut);
        var analytic = (float[])network.Gradients.Clone();

        const float h = 1e-2f;
        foreach (int i in new[] { 0, 5, layout.Cells[1].WeightHh.Offset + 2, layout.HeadWeight.Offset + 1, layout.HeadBias.Offset })
        {
            float keep = parameters[i];
            parameters[i] = keep + h; double plus = LossAt();
            parameters[i] = keep - h; double minus = LossAt();
            parameters[i] = keep;
            analytic[i].Should().BeApproximately((float)((plus - minus) / (2 * h)), 2e-3f, $"parameter {i}");
        }

        for (int i = 0; i < extra.Length; i += 2)
        {
            float keep = extra[i];
            extra[i] = keep + h; double plus = LossAt();
            extra[i] = keep - h; double minus = LossAt();
            extra[i] = keep;
            dExtra[i].Should().BeApproximately((float)((plus - minus) / (2 * h)), 2e-3f, $"CRF parameter {i}");
        }
    }
}
