namespace Microsoft.ML.Recurrent.Experiments;

/// <summary>
/// Proposes the points of a search space, seeded: first the starting point (the attributes' initial values), then
/// uniform random points, then a tree-structured Parzen estimator (TPE, Bergstra et al. 2011): the finished trials are
/// split into the best quarter ("good") and the rest; candidates are drawn around good points and the one maximising
/// l(x)/g(x) — the density of good points over the density of the others, each a product of per-coordinate kernels
/// (Gaussian for ranges, smoothed counts for choices) mixed with a uniform prior — is proposed. Points already proposed
/// are never proposed again; a discrete space that is used up yields null.
/// </summary>
internal sealed class TrialProposer
{
    private const int CandidatesPerProposal = 32;
    private const double GoodFraction = 0.25;
    private const double PriorWeight = 1.0;

    private readonly SearchSpaceDescription _space;
    private readonly Random _random;
    private readonly int _randomTrials;
    private readonly HashSet<string> _proposed = [];
    private readonly long? _size;

    public TrialProposer(SearchSpaceDescription space, int seed, int randomTrials)
    {
        _space = space;
        _random = new Random(unchecked(seed * 48271 + 11));
        _randomTrials = Math.Max(1, randomTrials);
        _size = space.Size;
    }

    public int Proposed => _proposed.Count;

    /// <summary>The next point (coordinates in [0, 1]) given the finished trials' points and losses (lower is better; +∞ for a
    /// failed trial), or null when a discrete space has no unproposed point left.</summary>
    public double[]? Propose(IReadOnlyList<(double[] Point, double Loss)> finished)
    {
        if (_size is long size && _proposed.Count >= size) return null;
        var swept = _space.Swept;
        if (_proposed.Count == 0) return Accept(swept.Select(p => p.Snap(p.Start)).ToArray())!;

        bool modelBased = _proposed.Count >= _randomTrials && finished.Count(f => double.IsFinite(f.Loss)) >= 2;
        for (int attempt = 0; attempt < 200; attempt++)
        {
            var point = modelBased ? Tpe(finished) : Uniform();
            if (Accept(point) is { } accepted) return accepted;
            modelBased = attempt < 20 && modelBased; // fall back to uniform draws when TPE keeps hitting used points
        }

        return null;
    }

    private double[]? Accept(double[] point)
    {
        var snapped = new double[point.Length];
        for (int i = 0; i < point.Length; i++) snapped[i] = _space.Swept[i].Snap(point[i]);
        return _proposed.Add(SearchSpaceDescription.Key(_space.ValuesAt(snapped))) ? snapped : null;
    }

    private double[] Uniform()
    {
        var point = new double[_space.Swept.Count];
        for (int i = 0; i < point.Length; i++) point[i] = _random.NextDouble();
        return point;
    }

    private double[] Tpe(IReadOnlyList<(double[] Point, double Loss)> finished)
    {
        var ordered = finished.OrderBy(f => f.Loss).ToArray(); // stable: ties keep the trial order
        int nGood = Math.Max(1, (int)Math.Ceiling(GoodFraction * ordered.Count(f => double.IsFinite(f.Loss))));
        var good = ordered.Take(nGood).Select(f => f.Point).ToArray();
        var bad = ordered.Skip(nGood).Select(f => f.Point).ToArray();
        int d = _space.Swept.Count;
        double[] best = Uniform();
        double bestScore = double.NegativeInfinity;
        for (int c = 0; c < CandidatesPerProposal; c++)
        {
            var around = good[_random.Next(good.Length)];
            var candidate = new double[d];
            for (int i = 0; i < d; i++)
            {
                int k = _space.Swept[i].Categories;
                if (k > 0)
                    candidate[i] = _random.NextDouble() < 0.75 ? around[i] : (_random.Next(k) + 0.5) / k;
                else
                    candidate[i] = Reflect(around[i] + Bandwidth(good.Length, d) * Gaussian());
            }

            double score = LogDensity(candidate, good) - LogDensity(candidate, bad);
            if (score > bestScore)
            {
                bestScore = score;
                best = candidate;
            }
        }

        return best;
    }

    private double LogDensity(double[] x, double[][] points)
    {
        double sum = 0;
        int d = x.Length;
        for (int i = 0; i < d; i++)
        {
            int k = _space.Swept[i].Categories;
            double density = PriorWeight; // the uniform prior: density 1 on [0, 1] (or 1/k per category, times k)
            if (k > 0)
            {
                int cx = Math.Min(k - 1, (int)(x[i] * k));
                foreach (var p in points) if (Math.Min(k - 1, (int)(p[i] * k)) == cx) density += k;
            }
            else
            {
                double h = Bandwidth(points.Length, d);
                foreach (var p in points)
                {
                    double z = (x[i] - p[i]) / h;
                    density += Math.Exp(-0.5 * z * z) / (h * Math.Sqrt(2 * Math.PI));
                }
            }

            sum += Math.Log(density / (PriorWeight + points.Length));
        }

        return sum;
    }

    private static double Bandwidth(int n, int d) => Math.Max(0.03, 0.5 * Math.Pow(Math.Max(n, 1), -1.0 / (d + 4)));

    private double Gaussian()
    {
        double u1 = 1.0 - _random.NextDouble(), u2 = _random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    private static double Reflect(double u)
    {
        u = Math.Abs(u) % 2.0;
        return u > 1 ? 2 - u : u;
    }
}
