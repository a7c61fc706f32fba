namespace Microsoft.ML.Recurrent.Engine.Seq2Seq;

/// <summary>
/// Samples continuations from a next-token network (embedding of K + 2 ids → recurrent layers → head of K + 1 classes on
/// every step; id K + 1 starts a sequence, class 0 ends one). The prefix runs as one forward pass; each further token is
/// one forward pass of T = 1 from the previous final states, so generation uses the time loop's own kernels. One
/// instance per thread; buffers are reused (no allocation per generated token besides the result list).
/// </summary>
internal sealed class NextTokenSampler
{
    private readonly RecurrentNetwork _net;
    private readonly int _keys, _classes, _states;
    private readonly float[] _h, _c;          // (L, 1, H)
    private readonly float[] _logits;         // (C)
    private readonly float[] _probabilities;  // (C)
    private readonly float[] _token = new float[1];
    private readonly SequenceBatch _step;
    private SequenceBatch _prefix;

    public NextTokenSampler(NetworkSpec spec, float[] parameters)
    {
        if (spec.Output != OutputMode.EveryStep || spec.VocabularySize != spec.OutputSize + 1)
            throw new ArgumentException("A next-token network has K + 2 ids and K + 1 outputs on every step.", nameof(spec));
        _net = new RecurrentNetwork(new ParameterLayout(spec), parameters, null, 1, 16);
        _keys = spec.OutputSize - 1;
        _classes = spec.OutputSize;
        _states = spec.NumberOfLayers * spec.HiddenSize;
        _h = new float[_states];
        _c = new float[_states];
        _logits = new float[_classes];
        _probabilities = new float[_classes];
        _step = new SequenceBatch(1, 1, 1, 0);
        _prefix = new SequenceBatch(1, 16, 1, 0);
    }

    /// <summary>
    /// Up to <paramref name="maximumLength"/> tokens (keys 1..K) after <paramref name="prefix"/> (keys; 0 = unknown),
    /// drawn from softmax(logits / temperature) restricted to the <paramref name="topK"/> most likely classes (0 = all),
    /// stopping at the end token. The same seed gives the same tokens.
    /// </summary>
    public List<int> Generate(ReadOnlySpan<int> prefix, int maximumLength, float temperature, int topK, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maximumLength, 1);
        if (!(temperature > 0f) || !float.IsFinite(temperature)) throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "must be a finite number > 0");
        int steps = prefix.Length + 1;
        if (_prefix.CapacityLength < steps) _prefix = new SequenceBatch(1, Math.Max(steps, 2 * _prefix.CapacityLength), 1, 0);
        var input = new float[steps];
        input[0] = _keys + 1;
        for (int i = 0; i < prefix.Length; i++)
        {
            if (prefix[i] < 0 || prefix[i] > _keys) throw new ArgumentOutOfRangeException(nameof(prefix), $"Token {prefix[i]} at step {i} is outside 0..{_keys}.");
            input[i + 1] = prefix[i];
        }

        _prefix.FillSingle(input);
        var y = _net.Forward(_prefix);
        y.Slice((steps - 1) * _classes, _classes).CopyTo(_logits);
        KeepStates();
        var random = new Random(seed);
        var result = new List<int>();
        while (true)
        {
            int next = Sample(_logits, _probabilities, temperature, topK, random);
            if (next == 0) break;
            result.Add(next);
            if (result.Count >= maximumLength) break;
            _token[0] = next;
            _step.FillSingle(_token);
            _step.InitialHidden = _h;
            _step.InitialCell = _net.Spec.Cell == CellKind.Lstm ? _c : null;
            _net.Forward(_step).Slice(0, _classes).CopyTo(_logits);
            KeepStates();
        }

        return result;
    }

    private void KeepStates()
    {
        _net.FinalHidden.CopyTo(_h);
        if (_net.Spec.Cell == CellKind.Lstm) _net.FinalCell.CopyTo(_c);
    }

    /// <summary>
    /// Draws a class from softmax(<paramref name="logits"/> / temperature) restricted to the <paramref name="topK"/> largest
    /// logits (0 = all; ties at the threshold kept by class index). <paramref name="scratch"/> has the logits' length.
    /// </summary>
    internal static int Sample(float[] logits, float[] scratch, float temperature, int topK, Random random)
    {
        int C = logits.Length;
        float threshold = float.NegativeInfinity;
        int tiesAllowed = C;
        if (topK > 0 && topK < C)
        {
            // The k-th largest logit (a sort of a copy: C is a vocabulary, and nothing is allocated).
            logits.CopyTo(scratch, 0);
            Array.Sort(scratch);
            threshold = scratch[C - topK];
            int above = 0;
            for (int c = 0; c < C; c++) if (logits[c] > threshold) above++;
            tiesAllowed = topK - above; // classes equal to the threshold that still fit in the k, first by class index
        }

        float max = float.NegativeInfinity;
        for (int c = 0; c < C; c++) max = Math.Max(max, logits[c]);
        double sum = 0;
        int ties = 0;
        for (int c = 0; c < C; c++)
        {
            bool keep = logits[c] > threshold || (logits[c] == threshold && ties++ < tiesAllowed);
            double p = keep ? Math.Exp((logits[c] - max) / temperature) : 0;
            scratch[c] = (float)p;
            sum += p;
        }

        double u = random.NextDouble() * sum, acc = 0;
        int last = 0;
        for (int c = 0; c < C; c++)
        {
            if (scratch[c] <= 0) continue;
            last = c;
            acc += scratch[c];
            if (u < acc) return c;
        }

        return last;
    }
}
