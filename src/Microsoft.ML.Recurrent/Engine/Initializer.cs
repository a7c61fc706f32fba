namespace Microsoft.ML.Recurrent.Engine;

/// <summary>
/// Seeded parameter initialisation. Schemes:
/// <list type="bullet">
/// <item>W_ih: Glorot/Xavier uniform per gate block, U(±√(6 / (I + H))).</item>
/// <item>W_hh: a random orthogonal H × H matrix per gate block (Gram–Schmidt on a Gaussian matrix), which keeps
/// the recurrent Jacobian well conditioned at the start.</item>
/// <item>Biases: zero, except the LSTM forget gate's b_ih = 1 (remember by default; Jozefowicz et al. 2015).</item>
/// <item>Embedding: U(±√(3 / E)) (unit-variance rows), row 0 (the unknown token) starts at zero.</item>
/// <item>Head: Glorot uniform, bias zero.</item>
/// </list>
/// The same seed gives the same parameters on every machine (System.Random with a seed is deterministic).
/// </summary>
internal static class Initializer
{
    public static void Initialize(ParameterLayout layout, float[] parameters, int seed)
    {
        if (parameters.Length != layout.Count) throw new ArgumentException($"Expected {layout.Count} parameters, got {parameters.Length}.");
        var spec = layout.Spec;
        var random = new Random(seed);
        Array.Clear(parameters);
        int H = spec.HiddenSize, G = spec.Gates;
        if (spec.VocabularySize > 0)
        {
            var e = layout.Embedding.Of(parameters);
            float a = MathF.Sqrt(3f / spec.EmbeddingSize);
            for (int i = spec.EmbeddingSize; i < e.Length; i++) e[i] = Uniform(random, a);
        }

        for (int l = 0; l < spec.NumberOfLayers; l++)
        {
            int I = spec.LayerInputSize(l);
            for (int d = 0; d < spec.Directions; d++)
            {
                var s = layout.Cell(l, d);
                var wih = s.WeightIh.Of(parameters);
                float a = MathF.Sqrt(6f / (I + H));
                for (int i = 0; i < wih.Length; i++) wih[i] = Uniform(random, a);
                var whh = s.WeightHh.Of(parameters);
                for (int g = 0; g < G; g++) Orthogonal(random, whh.Slice(g * H * H, H * H), H);
                if (spec.Cell == CellKind.Lstm) s.BiasIh.Of(parameters).Slice(H, H).Fill(1f);
            }
        }

        var w = layout.HeadWeight.Of(parameters);
        if (w.Length > 0)
        {
            float a = MathF.Sqrt(6f / (spec.OutputWidth + spec.OutputSize));
            for (int i = 0; i < w.Length; i++) w[i] = Uniform(random, a);
        }
    }

    private static float Uniform(Random random, float limit) => (float)((random.NextDouble() * 2 - 1) * limit);

    /// <summary>Fills an n × n row-major block with orthonormal rows.</summary>
    private static void Orthogonal(Random random, Span<float> block, int n)
    {
        var m = new double[n * n];
        for (int i = 0; i < m.Length; i++) m[i] = Gaussian(random);
        for (int i = 0; i < n; i++)
        {
            var row = m.AsSpan(i * n, n);
            for (int pass = 0; pass < 2; pass++) // re-orthogonalise once for accuracy
            {
                for (int j = 0; j < i; j++)
                {
                    var prev = m.AsSpan(j * n, n);
                    double dot = 0;
                    for (int k = 0; k < n; k++) dot += row[k] * prev[k];
                    for (int k = 0; k < n; k++) row[k] -= dot * prev[k];
                }
            }

            double norm = 0;
            for (int k = 0; k < n; k++) norm += row[k] * row[k];
            norm = Math.Sqrt(norm);
            if (norm < 1e-12) { row.Clear(); row[i] = 1; continue; }
            for (int k = 0; k < n; k++) row[k] /= norm;
        }

        for (int i = 0; i < m.Length; i++) block[i] = (float)m[i];
    }

    private static double Gaussian(Random random)
    {
        double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
