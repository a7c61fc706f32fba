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
    public static Standardization Fit(IReadOnlyList<float[]> sequences, int featuresPerStep)
    {
        int f = featuresPerStep;
        var sum = new double[f];
        var sumSq = new double[f];
        long steps = 0;
        foreach (var x in sequences)
        {
            for (int i = 0; i < x.Length; i++) sum[i % f] += x[i];
            steps += x.Length / f;
        }

        var mean = new double[f];
        for (int j = 0; j < f; j++) mean[j] = sum[j] / Math.Max(steps, 1);
        foreach (var x in sequences)
        {
            for (int i = 0; i < x.Length; i++)
            {
                double d = x[i] - mean[i % f];
                sumSq[i % f] += d * d;
            }
        }

        var m = new float[f];
        var s = new float[f];
        for (int j = 0; j < f; j++)
        {
            double std = Math.Sqrt(sumSq[j] / Math.Max(steps, 1));
            m[j] = (float)mean[j];
            s[j] = std < MinStd ? 1f : (float)std;
        }

        return new Standardization(m, s);
    }

    /// <summary>Standardises <paramref name="x"/> (T·F) in place.</summary>
    public void Apply(float[] x)
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
