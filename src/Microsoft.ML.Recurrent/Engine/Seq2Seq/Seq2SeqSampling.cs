namespace Microsoft.ML.Recurrent.Engine.Seq2Seq;

internal sealed partial class Seq2SeqNetwork
{
    private float[] _sampleLogits = [], _sampleScratch = [], _sampleToken = new float[1];
    private SequenceBatch? _sampleSource, _samplePrefix, _sampleStep;

    /// <summary>
    /// Conditioned generation: encodes <paramref name="source"/> (one source, T·F values), starts the decoder from the
    /// encoder's final states, runs the decoder over (start, <paramref name="prefix"/>) in one pass, then samples one token
    /// per T = 1 decoder pass (softmax of logits / temperature over the top-k classes) until the end class or
    /// <paramref name="maximumLength"/> tokens. Returns the sampled keys (no prefix, no end token).
    /// </summary>
    public List<int> Sample(ReadOnlySpan<float> source, ReadOnlySpan<int> prefix, int maximumLength, float temperature, int topK, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maximumLength, 1);
        if (!(temperature > 0f) || !float.IsFinite(temperature)) throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "must be a finite number > 0");
        int F = Spec.Encoder.InputSize, H = _H, C = _C, steps = source.Length / F;
        if (_sampleSource is null || _sampleSource.CapacityLength < steps) _sampleSource = new SequenceBatch(1, Math.Max(steps, 4), F, 0);
        if (_samplePrefix is null || _samplePrefix.CapacityLength < prefix.Length + 1) _samplePrefix = new SequenceBatch(1, Math.Max(prefix.Length + 1, 16), 1, 0);
        _sampleStep ??= new SequenceBatch(1, 1, 1, 0);
        if (_sampleLogits.Length != C) { _sampleLogits = new float[C]; _sampleScratch = new float[C]; }

        _sampleSource.FillSingle(source);
        _Ts = steps;
        EncodeAndPrepare(_sampleSource, training: false, dropoutRandom: null);
        Bridge(1, null, 1);
        var input = new float[prefix.Length + 1];
        input[0] = Spec.StartId;
        for (int i = 0; i < prefix.Length; i++)
        {
            if (prefix[i] < 0 || prefix[i] > Spec.TargetKeys) throw new ArgumentOutOfRangeException(nameof(prefix), $"Token {prefix[i]} at step {i} is outside 0..{Spec.TargetKeys}.");
            input[i + 1] = prefix[i];
        }

        _samplePrefix.FillSingle(input);
        _samplePrefix.InitialHidden = _h0;
        _samplePrefix.InitialCell = _lstm ? _c0 : null;
        var hs = Decoder.Forward(_samplePrefix);
        Ensure(ref _dec, H);
        hs.Slice(prefix.Length * H, H).CopyTo(_dec);
        var random = new Random(seed);
        var result = new List<int>();
        while (true)
        {
            LogitsOfLastOutput();
            int next = NextTokenSampler.Sample(_sampleLogits, _sampleScratch, temperature, topK, random);
            if (next == 0) break;
            result.Add(next);
            if (result.Count >= maximumLength) break;
            Decoder.FinalHidden.CopyTo(_h0);
            if (_lstm) Decoder.FinalCell.CopyTo(_c0);
            _sampleToken[0] = next;
            _sampleStep.FillSingle(_sampleToken);
            _sampleStep.InitialHidden = _h0;
            _sampleStep.InitialCell = _lstm ? _c0 : null;
            Decoder.Forward(_sampleStep).Slice(0, H).CopyTo(_dec);
        }

        return result;
    }

    /// <summary>Logits of the decoder output in <c>_dec[0..H)</c> (attention over the one encoded source when the spec has it).</summary>
    private void LogitsOfLastOutput()
    {
        int H = _H;
        Ensure(ref _z, _Z);
        var z = _z.AsSpan(0, _Z);
        _dec.AsSpan(0, H).CopyTo(z);
        if (Spec.Attention != AttentionKind.None)
        {
            Ensure(ref _alpha, Math.Max(_Ts, 1));
            if (Spec.Attention == AttentionKind.Additive)
            {
                Ensure(ref _q, _A);
                Ensure(ref _u, (long)_Ts * _A);
                Kernels.Gemm.Multiply(false, true, 1, _A, H, 1f, _dec, H, HeadLayout.W1.Of(Head), H, 0f, _q, _A, threads: Threads);
            }

            AttendRow(0, 0, 1, _Ts, _dec.AsSpan(0, H), _q, _u, _alpha.AsSpan(0, _Ts), z.Slice(H, _D));
        }

        Ensure(ref _logits, _C);
        Project(1, _logits);
        _logits.AsSpan(0, _C).CopyTo(_sampleLogits);
    }
}
