namespace Microsoft.ML.Recurrent.Engine.Heads;

/// <summary>How a sequence of per-step states (T, D) becomes one vector (D).</summary>
internal enum PoolingKind : byte
{
    /// <summary>The last state: the forward direction's state at the last step ‖ the reverse direction's at step 0
    /// (what a many-to-one head reads).</summary>
    Last = 0,
    /// <summary>The mean of the valid steps' states.</summary>
    Mean = 1,
    /// <summary>The element-wise maximum over the valid steps (the gradient goes to the arg-max step).</summary>
    Max = 2,
    /// <summary>A learned query q (D) scores every step, e_t = q·h_t / √D; α = softmax over the valid steps; the pooled
    /// vector is Σ α_t h_t.</summary>
    Attention = 3,
}

/// <summary>
/// Pools the top layer's per-step outputs (T, B, D) (position space, rows in the batch's order, padding never read)
/// into (B, D), with the backward pass side by side. Attention owns one parameter vector, the query q (D), which
/// lives outside the network's flat buffer (the caller passes it and its gradient).
/// </summary>
internal sealed class SequencePooling
{
    private readonly PoolingKind _kind;
    private readonly int _width, _hidden, _directions;
    private float[] _pooled = [];   // (B, D)
    private float[] _alpha = [];    // (T, B) attention weights
    private int[] _argMax = [];     // (B, D) step of the maximum

    public SequencePooling(PoolingKind kind, int hidden, int directions)
    {
        if (!Enum.IsDefined(kind)) throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown pooling.");
        _kind = kind;
        _hidden = hidden;
        _directions = directions;
        _width = hidden * directions;
    }

    public PoolingKind Kind => _kind;

    /// <summary>Parameters the pooling owns: D for attention (the query), 0 otherwise.</summary>
    public int ParameterCount => _kind == PoolingKind.Attention ? _width : 0;

    /// <summary>(T, B) attention weights of the last forward pass (time-major; zero on padding).</summary>
    public ReadOnlySpan<float> Weights => _alpha;

    /// <summary>Pools <paramref name="top"/> (T, B, D) into (B, D). <paramref name="query"/>: (D) for attention.</summary>
    public ReadOnlySpan<float> Forward(ReadOnlySpan<float> top, int B, int T, int[] lengths, ReadOnlySpan<float> query)
    {
        int D = _width;
        if (_pooled.Length < B * D) { _pooled = new float[B * D]; _argMax = new int[B * D]; }
        if (_alpha.Length < T * B) _alpha = new float[T * B];
        var pooled = _pooled.AsSpan(0, B * D);
        pooled.Clear();
        for (int r = 0; r < B; r++)
        {
            int len = lengths[r];
            if (len < 1) throw new ArgumentException($"Pooling needs at least one step; sequence {r} has {len}.");
            var p = pooled.Slice(r * D, D);
            switch (_kind)
            {
                case PoolingKind.Last:
                    for (int d = 0; d < _directions; d++)
                    {
                        int pos = d == 0 ? len - 1 : 0;
                        top.Slice((pos * B + r) * D + d * _hidden, _hidden).CopyTo(p.Slice(d * _hidden, _hidden));
                    }

                    break;
                case PoolingKind.Mean:
                {
                    var acc = new double[D];
                    for (int t = 0; t < len; t++)
                    {
                        var h = top.Slice((t * B + r) * D, D);
                        for (int j = 0; j < D; j++) acc[j] += h[j];
                    }

                    for (int j = 0; j < D; j++) p[j] = (float)(acc[j] / len);
                    break;
                }

                case PoolingKind.Max:
                {
                    var arg = _argMax.AsSpan(r * D, D);
                    top.Slice(r * D, D).CopyTo(p);
                    arg.Clear();
                    for (int t = 1; t < len; t++)
                    {
                        var h = top.Slice((t * B + r) * D, D);
                        for (int j = 0; j < D; j++)
                        {
                            if (h[j] > p[j]) { p[j] = h[j]; arg[j] = t; }
                        }
                    }

                    break;
                }

                default:
                {
                    double scale = 1.0 / Math.Sqrt(D), max = double.NegativeInfinity;
                    Span<double> e = len <= 512 ? stackalloc double[len] : new double[len];
                    for (int t = 0; t < len; t++)
                    {
                        var h = top.Slice((t * B + r) * D, D);
                        double s = 0;
                        for (int j = 0; j < D; j++) s += (double)query[j] * h[j];
                        e[t] = s * scale;
                        max = Math.Max(max, e[t]);
                    }

                    double sum = 0;
                    for (int t = 0; t < len; t++) { e[t] = Math.Exp(e[t] - max); sum += e[t]; }
                    var acc = new double[D];
                    for (int t = 0; t < len; t++)
                    {
                        double a = e[t] / sum;
                        _alpha[t * B + r] = (float)a;
                        var h = top.Slice((t * B + r) * D, D);
                        for (int j = 0; j < D; j++) acc[j] += a * h[j];
                    }

                    for (int t = len; t < T; t++) _alpha[t * B + r] = 0f;
                    for (int j = 0; j < D; j++) p[j] = (float)acc[j];
                    break;
                }
            }
        }

        return pooled;
    }

    /// <summary>
    /// Backward of the last <see cref="Forward"/>: writes d(loss)/d(top) into <paramref name="dTop"/> (T, B, D; zero on
    /// padding and on steps the pooling did not read) and adds d(loss)/d(query) into <paramref name="dQuery"/>.
    /// </summary>
    public void Backward(ReadOnlySpan<float> top, ReadOnlySpan<float> dPooled, int B, int T, int[] lengths,
        ReadOnlySpan<float> query, Span<float> dTop, Span<float> dQuery)
    {
        int D = _width;
        dTop.Slice(0, T * B * D).Clear();
        for (int r = 0; r < B; r++)
        {
            int len = lengths[r];
            var g = dPooled.Slice(r * D, D);
            switch (_kind)
            {
                case PoolingKind.Last:
                    for (int d = 0; d < _directions; d++)
                    {
                        int pos = d == 0 ? len - 1 : 0;
                        g.Slice(d * _hidden, _hidden).CopyTo(dTop.Slice((pos * B + r) * D + d * _hidden, _hidden));
                    }

                    break;
                case PoolingKind.Mean:
                    for (int t = 0; t < len; t++)
                    {
                        var dh = dTop.Slice((t * B + r) * D, D);
                        for (int j = 0; j < D; j++) dh[j] = g[j] / len;
                    }

                    break;
                case PoolingKind.Max:
                {
                    var arg = _argMax.AsSpan(r * D, D);
                    for (int j = 0; j < D; j++) dTop[(arg[j] * B + r) * D + j] += g[j];
                    break;
                }

                default:
                {
                    // pooled = Σ α_t h_t, α = softmax(e), e_t = q·h_t / √D.
                    // dα_t = g·h_t; de_t = α_t (dα_t − Σ_s α_s dα_s); dh_t = α_t g + de_t q / √D; dq = Σ_t de_t h_t / √D.
                    double scale = 1.0 / Math.Sqrt(D), c = 0;
                    Span<double> da = len <= 512 ? stackalloc double[len] : new double[len];
                    for (int t = 0; t < len; t++)
                    {
                        var h = top.Slice((t * B + r) * D, D);
                        double s = 0;
                        for (int j = 0; j < D; j++) s += (double)g[j] * h[j];
                        da[t] = s;
                        c += _alpha[t * B + r] * s;
                    }

                    for (int t = 0; t < len; t++)
                    {
                        double a = _alpha[t * B + r];
                        double de = a * (da[t] - c) * scale;
                        var h = top.Slice((t * B + r) * D, D);
                        var dh = dTop.Slice((t * B + r) * D, D);
                        for (int j = 0; j < D; j++)
                        {
                            dh[j] = (float)(a * g[j] + de * query[j]);
                            dQuery[j] += (float)(de * h[j]);
                        }
                    }

                    break;
                }
            }
        }
    }
}
