namespace Microsoft.ML.Recurrent.Engine.Heads;

/// <summary>
/// A linear-chain conditional random field over per-step emission scores (the BiLSTM-CRF tagger's output layer).
/// Parameters (K = classes), one flat span in this order: transitions A (K, K) with A[i, j] the score of class i
/// followed by class j, start scores s (K), end scores n (K). A tag path y of length L scores
/// <c>s[y_0] + Σ_t e[t, y_t] + Σ_{t≥1} A[y_{t−1}, y_t] + n[y_{L−1}]</c>; the loss is the negative log-likelihood
/// log Z − score(y), with log Z by the forward algorithm (log-sum-exp in double). Decoding is Viterbi.
/// Emissions are read in the engine's time-major layout (T, B, K) for row r of a batch, or (L, K) for one sequence.
/// </summary>
internal sealed class LinearChainCrf
{
    private readonly int _k;
    private double[] _alpha = [], _beta = [];
    private double[] _psi = [], _scale = [], _m = [];   // scaled pass: exp(e − max_t) (L, K), normalisers c_t (L), exp(A − max A) (K, K)

    public LinearChainCrf(int classes)
    {
        if (classes < 2) throw new ArgumentOutOfRangeException(nameof(classes), classes, "A CRF needs at least 2 classes.");
        _k = classes;
    }

    public int Classes => _k;

    /// <summary>Parameters: K² transitions + K start + K end.</summary>
    public int ParameterCount => _k * _k + 2 * _k;

    public static int CountParameters(int classes) => classes * classes + 2 * classes;

    private void Ensure(int length)
    {
        if (_alpha.Length < length * _k)
        {
            _alpha = new double[length * _k];
            _beta = new double[length * _k];
            _psi = new double[length * _k];
            _scale = new double[length];
        }

        if (_m.Length < _k * _k) _m = new double[_k * _k];
    }

    /// <summary>
    /// Negative log-likelihood of <paramref name="tags"/> for one sequence of <paramref name="length"/> steps whose step-t
    /// emissions are at <c>emissions[(t · stride + offset) · K ..]</c>; adds <paramref name="scale"/> · d(NLL)/d(emissions)
    /// into <paramref name="dEmissions"/> (same indexing) and scale · d(NLL)/d(parameters) into <paramref name="dParameters"/>
    /// (either may be empty to skip it). Returns the unscaled NLL.
    /// </summary>
    public double NegativeLogLikelihood(ReadOnlySpan<float> emissions, int stride, int offset, int length, ReadOnlySpan<int> tags,
        ReadOnlySpan<float> parameters, Span<float> dEmissions, Span<float> dParameters, double scale)
    {
        int K = _k, L = length;
        Ensure(L);
        var A = parameters.Slice(0, K * K);
        var start = parameters.Slice(K * K, K);
        var end = parameters.Slice(K * K + K, K);
        int Row(int t) => (t * stride + offset) * K;

        double logZ = ScaledForwardBackward(emissions, stride, offset, L, parameters);
        bool scaled = !double.IsNaN(logZ);
        if (!scaled)
        {
            logZ = Forward(emissions, stride, offset, L, parameters);
            Backward(emissions, stride, offset, L, parameters);
        }

        double gold = (double)start[tags[0]] + end[tags[L - 1]];
        for (int t = 0; t < L; t++)
        {
            gold += emissions[Row(t) + tags[t]];
            if (t > 0) gold += A[tags[t - 1] * K + tags[t]];
        }

        if (!dEmissions.IsEmpty || !dParameters.IsEmpty)
        {
            for (int t = 0; t < L; t++)
            {
                for (int k = 0; k < K; k++)
                {
                    double p = scaled ? _alpha[t * K + k] * _beta[t * K + k] : Math.Exp(_alpha[t * K + k] + _beta[t * K + k] - logZ);
                    double g = p - (tags[t] == k ? 1 : 0);
                    if (!dEmissions.IsEmpty) dEmissions[Row(t) + k] += (float)(scale * g);
                    if (!dParameters.IsEmpty)
                    {
                        if (t == 0) dParameters[K * K + k] += (float)(scale * g);
                        if (t == L - 1) dParameters[K * K + K + k] += (float)(scale * g);
                    }
                }
            }

            if (!dParameters.IsEmpty)
            {
                for (int t = 1; t < L; t++)
                {
                    for (int i = 0; i < K; i++)
                    {
                        if (scaled)
                        {
                            // p_t(i, j) = α̂_{t−1}(i) M(i, j) ψ_t(j) β̂_t(j) / c_t
                            double ai = _alpha[(t - 1) * K + i] / _scale[t] * scale;
                            for (int j = 0; j < K; j++)
                                dParameters[i * K + j] += (float)(ai * _m[i * K + j] * _psi[t * K + j] * _beta[t * K + j]);
                        }
                        else
                        {
                            double ai = _alpha[(t - 1) * K + i];
                            for (int j = 0; j < K; j++)
                            {
                                double p = Math.Exp(ai + A[i * K + j] + emissions[Row(t) + j] + _beta[t * K + j] - logZ);
                                dParameters[i * K + j] += (float)(scale * p);
                            }
                        }
                    }

                    dParameters[tags[t - 1] * K + tags[t]] -= (float)scale;
                }
            }
        }

        return logZ - gold;
    }

    /// <summary>Writes the per-step posterior marginals p(y_t = k | x) (L, K) of one sequence into <paramref name="marginals"/>.</summary>
    public void Marginals(ReadOnlySpan<float> emissions, int stride, int offset, int length, ReadOnlySpan<float> parameters, Span<float> marginals)
    {
        int K = _k;
        Ensure(length);
        double logZ = ScaledForwardBackward(emissions, stride, offset, length, parameters);
        if (!double.IsNaN(logZ))
        {
            for (int i = 0; i < length * K; i++) marginals[i] = (float)(_alpha[i] * _beta[i]);
            return;
        }

        logZ = Forward(emissions, stride, offset, length, parameters);
        Backward(emissions, stride, offset, length, parameters);
        for (int t = 0; t < length; t++)
            for (int k = 0; k < K; k++)
                marginals[t * K + k] = (float)Math.Exp(_alpha[t * K + k] + _beta[t * K + k] - logZ);
    }

    /// <summary>The highest-scoring tag path of one sequence (Viterbi); ties go to the lower class index.</summary>
    public void Decode(ReadOnlySpan<float> emissions, int stride, int offset, int length, ReadOnlySpan<float> parameters, Span<int> tags)
    {
        int K = _k, L = length;
        Ensure(L);
        var A = parameters.Slice(0, K * K);
        var start = parameters.Slice(K * K, K);
        var end = parameters.Slice(K * K + K, K);
        var delta = _alpha;
        var back = new int[L * K];
        for (int k = 0; k < K; k++) delta[k] = (double)start[k] + emissions[offset * K + k];
        for (int t = 1; t < L; t++)
        {
            for (int j = 0; j < K; j++)
            {
                double best = double.NegativeInfinity;
                int arg = 0;
                for (int i = 0; i < K; i++)
                {
                    double v = delta[(t - 1) * K + i] + A[i * K + j];
                    if (v > best) { best = v; arg = i; }
                }

                delta[t * K + j] = best + emissions[(t * stride + offset) * K + j];
                back[t * K + j] = arg;
            }
        }

        double top = double.NegativeInfinity;
        int last = 0;
        for (int k = 0; k < K; k++)
        {
            double v = delta[(L - 1) * K + k] + end[k];
            if (v > top) { top = v; last = k; }
        }

        tags[L - 1] = last;
        for (int t = L - 1; t > 0; t--) tags[t - 1] = back[t * K + tags[t]];
    }

    /// <summary>
    /// Forward–backward in probability space with per-step normalisation (Rabiner's scaling): ψ_t = exp(e_t − max e_t),
    /// M = exp(A − max A); α̂_t = ψ_t ⊙ (α̂_{t−1} M) / c_t; β̂ with the same c_t, so that α̂_t ⊙ β̂_t are the marginals. It
    /// needs T·K + K² + 2K exponentials instead of the log-space pass's ~2·T·K². Returns log Z, or NaN when a normaliser
    /// under- or overflows (extreme scores): the caller then runs the log-space pass.
    /// </summary>
    private double ScaledForwardBackward(ReadOnlySpan<float> emissions, int stride, int offset, int L, ReadOnlySpan<float> parameters)
    {
        int K = _k;
        var A = parameters.Slice(0, K * K);
        var start = parameters.Slice(K * K, K);
        var end = parameters.Slice(K * K + K, K);
        double logZ = 0;
        double mA = double.NegativeInfinity;
        for (int i = 0; i < K * K; i++) mA = Math.Max(mA, A[i]);
        for (int i = 0; i < K * K; i++) _m[i] = Math.Exp(A[i] - mA);
        for (int t = 0; t < L; t++)
        {
            int row = (t * stride + offset) * K;
            double me = double.NegativeInfinity;
            for (int k = 0; k < K; k++) me = Math.Max(me, emissions[row + k]);
            for (int k = 0; k < K; k++) _psi[t * K + k] = Math.Exp(emissions[row + k] - me);
            logZ += me + (t > 0 ? mA : 0);
        }

        double ms = double.NegativeInfinity, mn = double.NegativeInfinity;
        for (int k = 0; k < K; k++) { ms = Math.Max(ms, start[k]); mn = Math.Max(mn, end[k]); }
        logZ += ms + mn;
        for (int t = 0; t < L; t++)
        {
            double c = 0;
            for (int j = 0; j < K; j++)
            {
                double a;
                if (t == 0)
                {
                    a = Math.Exp(start[j] - ms);
                }
                else
                {
                    a = 0;
                    for (int i = 0; i < K; i++) a += _alpha[(t - 1) * K + i] * _m[i * K + j];
                }

                a *= _psi[t * K + j];
                _alpha[t * K + j] = a;
                c += a;
            }

            if (!(c > 1e-280) || !double.IsFinite(c)) return double.NaN;
            _scale[t] = c;
            double inv = 1 / c;
            for (int j = 0; j < K; j++) _alpha[t * K + j] *= inv;
            logZ += Math.Log(c);
        }

        double zEnd = 0;
        for (int k = 0; k < K; k++) zEnd += _alpha[(L - 1) * K + k] * Math.Exp(end[k] - mn);
        if (!(zEnd > 1e-280) || !double.IsFinite(zEnd)) return double.NaN;
        logZ += Math.Log(zEnd);
        for (int k = 0; k < K; k++) _beta[(L - 1) * K + k] = Math.Exp(end[k] - mn) / zEnd;
        for (int t = L - 2; t >= 0; t--)
        {
            double inv = 1 / _scale[t + 1];
            for (int i = 0; i < K; i++)
            {
                double b = 0;
                for (int j = 0; j < K; j++) b += _m[i * K + j] * _psi[(t + 1) * K + j] * _beta[(t + 1) * K + j];
                _beta[t * K + i] = b * inv;
            }
        }

        return logZ;
    }

    /// <summary>α_t[k] = log Σ over paths ending in k at t (without the end score); returns log Z.</summary>
    private double Forward(ReadOnlySpan<float> emissions, int stride, int offset, int L, ReadOnlySpan<float> parameters)
    {
        int K = _k;
        var A = parameters.Slice(0, K * K);
        var start = parameters.Slice(K * K, K);
        var end = parameters.Slice(K * K + K, K);
        Span<double> tmp = K <= 256 ? stackalloc double[K] : new double[K];
        for (int k = 0; k < K; k++) _alpha[k] = (double)start[k] + emissions[offset * K + k];
        for (int t = 1; t < L; t++)
        {
            for (int j = 0; j < K; j++)
            {
                for (int i = 0; i < K; i++) tmp[i] = _alpha[(t - 1) * K + i] + A[i * K + j];
                _alpha[t * K + j] = LogSumExp(tmp) + emissions[(t * stride + offset) * K + j];
            }
        }

        for (int k = 0; k < K; k++) tmp[k] = _alpha[(L - 1) * K + k] + end[k];
        return LogSumExp(tmp);
    }

    /// <summary>β_t[i] = log Σ over continuations from class i at t (including the end score).</summary>
    private void Backward(ReadOnlySpan<float> emissions, int stride, int offset, int L, ReadOnlySpan<float> parameters)
    {
        int K = _k;
        var A = parameters.Slice(0, K * K);
        var end = parameters.Slice(K * K + K, K);
        Span<double> tmp = K <= 256 ? stackalloc double[K] : new double[K];
        for (int k = 0; k < K; k++) _beta[(L - 1) * K + k] = end[k];
        for (int t = L - 2; t >= 0; t--)
        {
            for (int i = 0; i < K; i++)
            {
                for (int j = 0; j < K; j++)
                    tmp[j] = (double)A[i * K + j] + emissions[((t + 1) * stride + offset) * K + j] + _beta[(t + 1) * K + j];
                _beta[t * K + i] = LogSumExp(tmp);
            }
        }
    }

    private static double LogSumExp(ReadOnlySpan<double> v)
    {
        double max = double.NegativeInfinity;
        foreach (double x in v) max = Math.Max(max, x);
        if (double.IsNegativeInfinity(max)) return max;
        double sum = 0;
        foreach (double x in v) sum += Math.Exp(x - max);
        return max + Math.Log(sum);
    }
}
