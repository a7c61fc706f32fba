using Microsoft.ML.Recurrent.Engine;

namespace Microsoft.ML.Recurrent.Data;

/// <summary>
/// Per-feature standardisation of the training sequences, x' = (x − mean) / std over every step of every sequence,
/// and the exact folding of it into the first layer's input weights afterwards:
/// W·x' + b = (W / std)·x + (b − W·(mean / std)). Regression labels are standardised the same way and folded into
/// the head: y = std·(W h + b) + mean. The stored model therefore reads raw features and predicts raw labels.
/// </summary>
internal sealed class Standardization
{
    /// <summary>Below this, a feature is treated as constant (only centred, not scaled).</summary>
    private const double MinStd = 1e-6;

    public Standardization(float[] mean, float[] std)
    {
        Mean = mean;
        Std = std;
    }

    /// <summary>(F)</summary>
    public float[] Mean { get; }

    /// <summary>(F), every entry &gt; 0.</summary>
    public float[] Std { get; }

    /// <summary>Statistics over every step of <paramref name="sequences"/> (each T_i·F, time-major).</summary>
    /// <remarks>With <paramref name="weights"/>, sequence i counts weights[i] times (as its loss does), so a row of weight
    /// 2 gives the statistics of that row written twice.</remarks>
    public static Standardization Fit(IReadOnlyList<float[]> sequences, int featuresPerStep, IReadOnlyList<float>? weights = null)
    {
        var statistics = new Accumulator(featuresPerStep);
        for (int i = 0; i < sequences.Count; i++) statistics.AddToMean(sequences[i], weights?[i] ?? 1f);
        statistics.FinishMean();
        for (int i = 0; i < sequences.Count; i++) statistics.AddToVariance(sequences[i], weights?[i] ?? 1f);
        return statistics.Result();
    }

    /// <summary>
    /// The statistics of <see cref="Fit"/> gathered one sequence at a time in two passes (sums, then squared deviations
    /// from the mean), so that data streamed twice gives the same bits as data held in memory.
    /// </summary>
    internal sealed class Accumulator(int featuresPerStep)
    {
        private readonly int _f = featuresPerStep;
        private readonly double[] _sum = new double[featuresPerStep];
        private readonly double[] _sumSq = new double[featuresPerStep];
        private readonly double[] _mean = new double[featuresPerStep];
        private double _steps;

        /// <summary>First pass. A weight of 1 gives exactly the unweighted arithmetic (1·x is x).</summary>
        public void AddToMean(ReadOnlySpan<float> x, float weight = 1f)
        {
            double w = weight;
            for (int i = 0; i < x.Length; i++) _sum[i % _f] += w * x[i];
            _steps += w * (x.Length / _f);
        }

        public void FinishMean()
        {
            for (int j = 0; j < _f; j++) _mean[j] = _sum[j] / (_steps > 0 ? _steps : 1);
        }

        public void AddToVariance(ReadOnlySpan<float> x, float weight = 1f)
        {
            double w = weight;
            for (int i = 0; i < x.Length; i++)
            {
                double d = x[i] - _mean[i % _f];
                _sumSq[i % _f] += w * d * d;
            }
        }

        public Standardization Result()
        {
            var m = new float[_f];
            var s = new float[_f];
            for (int j = 0; j < _f; j++)
            {
                double std = Math.Sqrt(_sumSq[j] / (_steps > 0 ? _steps : 1));
                m[j] = (float)_mean[j];
                s[j] = std < MinStd ? 1f : (float)std;
            }

            return new Standardization(m, s);
        }
    }

    /// <summary>The two-pass label statistics of <c>LabelStatistics</c>, one label at a time.</summary>
    internal sealed class LabelAccumulator
    {
        private double _sum, _sq, _mean, _count;

        public void AddToMean(float y, float weight = 1f)
        {
            _sum += (double)weight * y;
            _count += weight;
        }

        public void FinishMean() => _mean = _sum / (_count > 0 ? _count : 1);

        public void AddToVariance(float y, float weight = 1f) => _sq += weight * (y - _mean) * (y - _mean);

        public (float Mean, float Std) Result()
        {
            double std = Math.Sqrt(_sq / (_count > 0 ? _count : 1));
            return ((float)_mean, std < MinStd ? 1f : (float)std);
        }
    }

    /// <summary>Standardises <paramref name="x"/> (T·F) in place.</summary>
    public void Apply(float[] x) => Apply(x.AsSpan());

    /// <summary>Standardises <paramref name="x"/> (T·F) in place.</summary>
    public void Apply(Span<float> x)
    {
        int f = Mean.Length;
        for (int i = 0; i < x.Length; i++) x[i] = (x[i] - Mean[i % f]) / Std[i % f];
    }

    /// <summary>Folds the feature statistics into layer 0's W_ih and b_ih (every direction) of a dense-input network.</summary>
    public void FoldIntoInput(ParameterLayout layout, float[] parameters)
    {
        var spec = layout.Spec;
        if (spec.VocabularySize > 0) throw new InvalidOperationException("Token input is not standardised.");
        int f = spec.InputSize, rows = spec.Gates * spec.HiddenSize;
        for (int d = 0; d < spec.Directions; d++)
        {
            var cell = layout.Cell(0, d);
            var w = cell.WeightIh.Of(parameters); // (G·H, F)
            var b = cell.BiasIh.Of(parameters);   // (G·H)
            for (int r = 0; r < rows; r++)
            {
                double shift = 0;
                for (int j = 0; j < f; j++)
                {
                    float scaled = w[r * f + j] / Std[j];
                    shift += (double)scaled * Mean[j];
                    w[r * f + j] = scaled;
                }

                b[r] = (float)(b[r] - shift);
            }
        }
    }

    /// <summary>Folds a label standardisation (mean, std) into the head of a one-output network: y = std·out + mean.</summary>
    public static void FoldIntoHead(ParameterLayout layout, float[] parameters, float mean, float std)
    {
        var w = layout.HeadWeight.Of(parameters); // (O, D)
        var b = layout.HeadBias.Of(parameters);   // (O)
        for (int i = 0; i < w.Length; i++) w[i] *= std;
        for (int o = 0; o < b.Length; o++) b[o] = b[o] * std + mean;
    }

    /// <summary>Mean and standard deviation of regression labels, label i counting weights[i] times (std 1 for constant labels).</summary>
    public static (float Mean, float Std) LabelStatistics(IReadOnlyList<float> labels, IReadOnlyList<float>? weights)
    {
        if (weights is null) return LabelStatistics(labels);
        var statistics = new LabelAccumulator();
        for (int i = 0; i < labels.Count; i++) statistics.AddToMean(labels[i], weights[i]);
        statistics.FinishMean();
        for (int i = 0; i < labels.Count; i++) statistics.AddToVariance(labels[i], weights[i]);
        return statistics.Result();
    }

    /// <summary>Mean and standard deviation of regression labels (std 1 for constant labels).</summary>
    public static (float Mean, float Std) LabelStatistics(IReadOnlyList<float> labels)
    {
        double sum = 0;
        foreach (float y in labels) sum += y;
        double mean = sum / Math.Max(labels.Count, 1);
        double sq = 0;
        foreach (float y in labels) sq += (y - mean) * (y - mean);
        double std = Math.Sqrt(sq / Math.Max(labels.Count, 1));
        return ((float)mean, std < MinStd ? 1f : (float)std);
    }
}
