using Microsoft.ML.Recurrent.Engine.Heads;

namespace Microsoft.ML.Recurrent.Engine.Seq2Seq;

/// <summary>
/// The objective of a next-value generator. The network reads F + 1 inputs per step (F values, then a start flag that is 1
/// on the start step only) and writes F + 1 outputs on every step: the predicted next F values and the logit of "the
/// sequence ends here". Per-step targets have F + 2 values: the next F values, the end flag (0/1) and a value mask (1 when
/// a next value exists, 0 on the end step). The loss is the mean over valid steps of
/// mask · (1/F) Σ_f (y_f − t_f)² + BCE(sigmoid(y_F), end).
/// </summary>
internal sealed class NextValueObjective(int featuresPerStep) : ISequenceObjective
{
    public int ParameterCount => 0;

    public void Initialize(Span<float> parameters, Random random)
    {
    }

    public double Compute(ReadOnlySpan<float> outputs, SequenceBatch batch, ReadOnlySpan<float> parameters, Span<float> dParameters, Span<float> dOutputs)
    {
        int F = featuresPerStep, O = F + 1, W = F + 2, B = batch.Count, T = batch.MaxLength;
        long steps = 0;
        for (int r = 0; r < B; r++) steps += batch.Lengths[r];
        double scale = 1.0 / Math.Max(steps, 1), total = 0;
        var targets = batch.Targets;
        for (int t = 0; t < T; t++)
        {
            int active = batch.ActiveAt(t);
            for (int r = 0; r < B; r++)
            {
                int row = t * B + r;
                var y = outputs.Slice(row * O, O);
                var dy = dOutputs.Slice(row * O, O);
                if (r >= active) { dy.Clear(); continue; }
                var target = targets.AsSpan(row * W, W);
                float mask = target[F + 1];
                for (int f = 0; f < F; f++)
                {
                    double diff = y[f] - target[f];
                    total += mask * diff * diff / F;
                    dy[f] = (float)(mask * 2 * diff / F * scale);
                }

                double z = y[F], e = target[F];
                total += Math.Max(z, 0) - z * e + Math.Log(1 + Math.Exp(-Math.Abs(z)));
                dy[F] = (float)((1 / (1 + Math.Exp(-z)) - e) * scale);
            }
        }

        return total * scale;
    }

    /// <summary>The network of a next-value generator over F values per step.</summary>
    public static NetworkSpec Spec(CellKind cell, int featuresPerStep, int hidden, int layers, float dropout) =>
        new(cell, featuresPerStep + 1, hidden, layers, false, dropout, 0, 0, featuresPerStep + 1, OutputMode.EveryStep);

    /// <summary>
    /// Network inputs ((n + 1)·(F + 1)) and per-step targets ((n + 1)·(F + 2)) of one standardised sequence of n steps:
    /// start → x1 … xn, predicting x1 … xn, then the end.
    /// </summary>
    public static (float[] Inputs, float[] Targets) Example(ReadOnlySpan<float> sequence, int featuresPerStep)
    {
        int F = featuresPerStep, n = sequence.Length / F;
        var x = new float[(n + 1) * (F + 1)];
        var y = new float[(n + 1) * (F + 2)];
        x[F] = 1f;
        for (int t = 0; t < n; t++)
        {
            sequence.Slice(t * F, F).CopyTo(x.AsSpan((t + 1) * (F + 1), F));
            sequence.Slice(t * F, F).CopyTo(y.AsSpan(t * (F + 2), F));
            y[t * (F + 2) + F + 1] = 1f;
        }

        y[n * (F + 2) + F] = 1f;
        return (x, y);
    }
}

/// <summary>
/// Generates continuations from a next-value network (see <see cref="NextValueObjective"/>), in standardised units. The
/// prefix runs as one forward pass; each further step is one forward pass of T = 1 from the previous final states. One
/// instance per thread.
/// </summary>
internal sealed class NextValueSampler
{
    private readonly RecurrentNetwork _net;
    private readonly int _features;
    private readonly float[] _h, _c, _out, _stepInput;
    private readonly SequenceBatch _step;
    private SequenceBatch _prefix;

    public NextValueSampler(NetworkSpec spec, float[] parameters)
    {
        if (spec.Output != OutputMode.EveryStep || spec.VocabularySize != 0 || spec.OutputSize != spec.InputSize || spec.InputSize < 2)
            throw new ArgumentException("A next-value network reads F + 1 inputs and writes F + 1 outputs on every step.", nameof(spec));
        _features = spec.InputSize - 1;
        _net = new RecurrentNetwork(new ParameterLayout(spec), parameters, null, 1, 16);
        int states = spec.NumberOfLayers * spec.HiddenSize;
        _h = new float[states];
        _c = new float[states];
        _out = new float[_features + 1];
        _stepInput = new float[_features + 1];
        _step = new SequenceBatch(1, 1, _features + 1, 0);
        _prefix = new SequenceBatch(1, 16, _features + 1, 0);
    }

    /// <summary>
    /// Up to <paramref name="maximumSteps"/> steps (F values each, standardised) after <paramref name="prefix"/>
    /// (standardised, a multiple of F): each step is the predicted mean plus N(0, 1) · temperature · residual[f]; generation
    /// stops when the end probability exceeds 0.5. The same seed gives the same values.
    /// </summary>
    public List<float> Generate(ReadOnlySpan<float> prefix, int maximumSteps, float temperature, ReadOnlySpan<float> residual, int seed)
    {
        int F = _features;
        if (prefix.Length % F != 0) throw new ArgumentException($"The prefix has {prefix.Length} values, not a multiple of {F}.", nameof(prefix));
        int steps = prefix.Length / F + 1;
        if (_prefix.CapacityLength < steps) _prefix = new SequenceBatch(1, Math.Max(steps, 2 * _prefix.CapacityLength), F + 1, 0);
        var input = new float[steps * (F + 1)];
        input[F] = 1f;
        for (int t = 1; t < steps; t++) prefix.Slice((t - 1) * F, F).CopyTo(input.AsSpan(t * (F + 1), F));
        _prefix.FillSingle(input);
        _net.Forward(_prefix).Slice((steps - 1) * (F + 1), F + 1).CopyTo(_out);
        KeepStates();
        var random = new Random(seed);
        var result = new List<float>();
        for (int n = 0; n < maximumSteps; n++)
        {
            if (_out[F] > 0f) break; // sigmoid(z) > 0.5
            for (int f = 0; f < F; f++)
            {
                float v = _out[f] + temperature * residual[f] * Gaussian(random);
                result.Add(v);
                _stepInput[f] = v;
            }

            if (n + 1 >= maximumSteps) break;
            _stepInput[F] = 0f;
            _step.FillSingle(_stepInput);
            _step.InitialHidden = _h;
            _step.InitialCell = _net.Spec.Cell == CellKind.Lstm ? _c : null;
            _net.Forward(_step).Slice(0, F + 1).CopyTo(_out);
            KeepStates();
        }

        return result;
    }

    /// <summary>A standard normal draw (Box–Muller; two uniform draws per value, so the stream is fixed by the seed).</summary>
    private static float Gaussian(Random random)
    {
        double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
        return (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
    }

    private void KeepStates()
    {
        _net.FinalHidden.CopyTo(_h);
        if (_net.Spec.Cell == CellKind.Lstm) _net.FinalCell.CopyTo(_c);
    }
}
