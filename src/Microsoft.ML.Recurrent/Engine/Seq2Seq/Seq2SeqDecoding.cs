using System.Numerics.Tensors;
using Microsoft.ML.Recurrent.Engine.Kernels;

namespace Microsoft.ML.Recurrent.Engine.Seq2Seq;

/// <summary>One decoded sequence: output keys 1..K (no end token) and, per emitted token, its attention over the source.</summary>
/// <param name="Tokens">Emitted keys, in order.</param>
/// <param name="Attention">(Tokens.Length, source length) row-major; empty without attention.</param>
/// <param name="SourceLength">Steps of the source sequence.</param>
/// <param name="Score">Sum of the log-probabilities of the emitted tokens (and of the end token when one ended the sequence).</param>
internal sealed record DecodedSequence(int[] Tokens, float[] Attention, int SourceLength, float Score);

internal sealed partial class Seq2SeqNetwork
{
    // Decoding workspaces (R = sources × beam width rows), sized once per shape and reused: no allocation per step.
    private SequenceBatch? _stepBatch;
    private float[] _prevTokens = [];          // (R) decoder input id of each hypothesis
    private Func<int, ReadOnlyMemory<float>>? _stepSequence;
    private float[] _sh = [], _sc = [];        // (L, R, H) hypotheses' states
    private float[] _logp = [];                // (R, C)
    private float[] _score = [];               // (R) summed log-probability, −∞ = empty slot
    private float[] _newScore = [];
    private int[] _hist = [], _newHist = [];   // (R, maxLen) emitted keys
    private float[] _histAttn = [], _newHistAttn = []; // (R, maxLen, Ts)
    private int[] _parent = [], _token = [];   // (R) chosen parent row and key of each new slot
    private bool[] _done = [];                 // (N)
    private int[] _finished = [];              // (N) finished hypotheses seen
    private float[] _bestNorm = [];            // (N) best normalised score so far
    private int[] _bestLen = [];               // (N)
    private int[] _bestTokens = [];            // (N, maxLen)
    private float[] _bestAttn = [];            // (N, maxLen, Ts)
    private float[] _bestScore = [];           // (N)
    private int[] _candidate = [];             // (W · C) candidate order scratch

    /// <summary>
    /// Decodes every source of <paramref name="source"/>: greedy (<paramref name="beamWidth"/> = 1 and
    /// <paramref name="greedy"/>) or beam search ranking finished hypotheses by their log-probability divided by their
    /// length (tokens + the end token). Each decoder step is one <see cref="RecurrentNetwork.Forward"/> of T = 1 over all
    /// live hypotheses, so it runs the time loop's own kernels. Results are in the caller's order (the batch's Order).
    /// </summary>
    public DecodedSequence[] Decode(SequenceBatch source, int beamWidth, int maximumLength, bool greedy = false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(beamWidth, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maximumLength, 1);
        if (greedy && beamWidth != 1) throw new ArgumentException("Greedy decoding has beam width 1.", nameof(beamWidth));
        int N = source.Count, W = beamWidth, R = N * W, Ts = source.MaxLength, H = _H, C = _C, M = maximumLength;
        PrepareDecoding(N, R, Ts, M);
        _Ts = Ts;
        _maxLen = M;
        _decodeSource = source;
        EncodeAndPrepare(source, training: false, dropoutRandom: null);
        Bridge(R, null, W);
        _h0.AsSpan(0, _L * R * H).CopyTo(_sh);
        if (_lstm) _c0.AsSpan(0, _L * R * H).CopyTo(_sc);
        for (int i = 0; i < R; i++)
        {
            _prevTokens[i] = Spec.StartId;
            _score[i] = i % W == 0 ? 0f : float.NegativeInfinity;
        }

        Array.Clear(_done, 0, N);
        Array.Clear(_finished, 0, N);
        Array.Clear(_bestLen, 0, N);
        _bestNorm.AsSpan(0, N).Fill(float.NegativeInfinity);
        var batch = _stepBatch!;
        int remaining = N;
        for (int t = 0; t < M && remaining > 0; t++)
        {
            StepLogProbabilities(batch, N, R, W, Ts);
            bool last = t == M - 1;
            for (int n = 0; n < N; n++)
            {
                if (_done[n]) continue;
                if (W == 1 && greedy) GreedySelect(n, t, Ts, last);
                else BeamSelect(n, W, t, Ts, last);
                if (_done[n]) remaining--;
            }

            // Move every new slot's history and state from its parent (greedy keeps rows in place).
            if (!(W == 1 && greedy)) Reorder(R, t, Ts, M);
            else
            {
                for (int i = 0; i < R; i++)
                {
                    if (_done[i]) continue;
                    _hist[i * M + t] = _token[i];
                    _alpha.AsSpan(i * Ts, Ts).CopyTo(_histAttn.AsSpan((i * M + t) * Ts, Ts));
                    _score[i] += _logp[i * C + _token[i]];
                }

                Decoder.FinalHidden.Slice(0, _L * R * H).CopyTo(_sh);
                if (_lstm) Decoder.FinalCell.Slice(0, _L * R * H).CopyTo(_sc);
            }

            for (int i = 0; i < R; i++) _prevTokens[i] = _token[i];
        }

        var results = new DecodedSequence[N];
        bool attention = Spec.Attention != AttentionKind.None;
        for (int n = 0; n < N; n++)
        {
            int len = _bestLen[n], srcLen = source.Lengths[n];
            var tokens = _bestTokens.AsSpan(n * M, len).ToArray();
            var attn = attention ? new float[len * srcLen] : [];
            for (int k = 0; attention && k < len; k++)
                _bestAttn.AsSpan((n * M + k) * Ts, srcLen).CopyTo(attn.AsSpan(k * srcLen, srcLen));
            results[source.Order[n]] = new DecodedSequence(tokens, attn, srcLen, _bestScore[n]);
        }

        return results;
    }

    private void PrepareDecoding(int N, int R, int Ts, int M)
    {
        if (_stepBatch is null || _stepBatch.CapacityBatch < R)
        {
            _stepBatch = new SequenceBatch(R, 1, 1, 0);
            _prevTokens = new float[R];
            var tokens = _prevTokens;
            _stepSequence = i => new ReadOnlyMemory<float>(tokens, i, 1);
        }

        int H = _H, C = _C;
        Ensure(ref _sh, (long)_L * R * H);
        if (_lstm) Ensure(ref _sc, (long)_L * R * H);
        Ensure(ref _logp, (long)R * C);
        Ensure(ref _score, R);
        Ensure(ref _newScore, R);
        Ensure(ref _hist, R * M);
        Ensure(ref _newHist, R * M);
        Ensure(ref _histAttn, (long)R * M * Ts);
        Ensure(ref _newHistAttn, (long)R * M * Ts);
        Ensure(ref _parent, R);
        Ensure(ref _token, R);
        if (_done.Length < N) _done = new bool[N];
        Ensure(ref _finished, N);
        Ensure(ref _bestNorm, N);
        Ensure(ref _bestLen, N);
        Ensure(ref _bestTokens, N * M);
        Ensure(ref _bestAttn, (long)N * M * Ts);
        Ensure(ref _bestScore, N);
        Ensure(ref _candidate, R / N * C);
        Ensure(ref _dec, (long)R * H);
        Ensure(ref _z, (long)R * _Z);
        Ensure(ref _alpha, (long)R * Math.Max(Ts, 1));
        Ensure(ref _logits, (long)R * C);
        if (Spec.Attention == AttentionKind.Additive)
        {
            Ensure(ref _q, (long)R * _A);
            Ensure(ref _u, (long)R * Ts * _A);
        }
    }

    private static void Ensure(ref bool[] buffer, int n)
    {
        if (buffer.Length < n) buffer = new bool[n];
    }

    /// <summary>One decoder step (T = 1) for all R rows from <c>_prevTokens</c> and <c>_sh/_sc</c>; leaves log-softmax in <c>_logp</c>.</summary>
    private void StepLogProbabilities(SequenceBatch batch, int N, int R, int W, int Ts)
    {
        int H = _H, C = _C;
        batch.Fill(R, _stepSequence!, null, perStepTargets: false);
        batch.InitialHidden = _sh;
        batch.InitialCell = _lstm ? _sc : null;
        var h = Decoder.Forward(batch);
        h.Slice(0, R * H).CopyTo(_dec);
        if (Spec.Attention == AttentionKind.Additive)
            Gemm.Multiply(false, true, R, _A, H, 1f, _dec, H, HeadLayout.W1.Of(Head), H, 0f, _q, _A, threads: Threads);
        for (int i = 0; i < R; i++)
        {
            var z = _z.AsSpan(i * _Z, _Z);
            _dec.AsSpan(i * H, H).CopyTo(z);
            if (Spec.Attention != AttentionKind.None)
            {
                int er = i / W;
                AttendRow(i, er, N, _decodeSource!.Lengths[er], _dec.AsSpan(i * H, H), _q, _u, _alpha.AsSpan(i * Ts, Ts), z.Slice(H, _D));
            }
        }

        Project(R, _logits);
        for (int i = 0; i < R; i++)
        {
            var y = _logits.AsSpan(i * C, C);
            var lp = _logp.AsSpan(i * C, C);
            float max = TensorPrimitives.Max(y);
            double sum = 0;
            for (int c = 0; c < C; c++) sum += Math.Exp(y[c] - max);
            float logZ = max + (float)Math.Log(sum);
            TensorPrimitives.Subtract(y, logZ, lp);
        }
    }

    private SequenceBatch? _decodeSource; // the source batch of the running Decode

    private void GreedySelect(int n, int t, int Ts, bool last)
    {
        int C = _C;
        var lp = _logp.AsSpan(n * C, C);
        int best = 0;
        for (int c = 1; c < C; c++) if (lp[c] > lp[best]) best = c;
        _token[n] = best;
        if (best == 0 || last)
        {
            int len = best == 0 ? t : t + 1;
            float score = _score[n] + lp[best];
            if (best != 0)
            {
                _hist[n * MaxLen + t] = best;
                _alpha.AsSpan(n * Ts, Ts).CopyTo(_histAttn.AsSpan((n * MaxLen + t) * Ts, Ts));
            }

            Finish(n, n, len, score, Ts);
            _done[n] = true;
        }
    }

    private int MaxLen => _maxLen;
    private int _maxLen; // maximum output length of the running Decode

    /// <summary>Records hypothesis row <paramref name="row"/>'s first <paramref name="len"/> tokens as source n's result.</summary>
    private void Finish(int n, int row, int len, float score, int Ts)
    {
        int M = MaxLen;
        _bestLen[n] = len;
        _bestScore[n] = score;
        _hist.AsSpan(row * M, len).CopyTo(_bestTokens.AsSpan(n * M, len));
        _histAttn.AsSpan(row * M * Ts, len * Ts).CopyTo(_bestAttn.AsSpan(n * M * Ts, len * Ts));
    }

    private void BeamSelect(int n, int W, int t, int Ts, bool last)
    {
        int C = _C, M = MaxLen, count = W * C;
        var cand = _candidate.AsSpan(0, count);
        for (int k = 0; k < count; k++) cand[k] = k;
        int baseRow = n * W;
        // Candidate (w, c) scores score_w + logp_wc; empty slots (−∞) never win. Order: best first, ties by index.
        int slot = 0;
        for (int pick = 0; pick < count && slot < W; pick++)
        {
            int bestK = -1;
            float bestV = float.NegativeInfinity;
            for (int k = pick; k < count; k++)
            {
                int ck = cand[k];
                int w = ck / C, c = ck % C;
                float v = _score[baseRow + w] + _logp[(baseRow + w) * C + c];
                if (v > bestV || (v == bestV && bestK >= 0 && ck < cand[bestK])) { bestV = v; bestK = k; }
            }

            if (bestK < 0) break; // only −∞ left
            (cand[pick], cand[bestK]) = (cand[bestK], cand[pick]);
            int pw = cand[pick] / C, pc = cand[pick] % C;
            if (pc == 0)
            {
                float norm = bestV / (t + 1);
                if (norm > _bestNorm[n]) { _bestNorm[n] = norm; CopyFinished(n, baseRow + pw, t, bestV, Ts); }
                if (++_finished[n] >= W) { _done[n] = true; break; }
                continue;
            }

            _parent[baseRow + slot] = baseRow + pw;
            _token[baseRow + slot] = pc;
            _newScore[baseRow + slot] = bestV;
            slot++;
        }

        for (int s = slot; s < W; s++)
        {
            _parent[baseRow + s] = baseRow;
            _token[baseRow + s] = 0;
            _newScore[baseRow + s] = float.NegativeInfinity;
        }

        if (_done[n]) return;
        if (slot == 0) { _done[n] = true; return; }
        if (last)
        {
            // Out of steps: the alive hypotheses (length t + 1, no end token) compete with the finished ones.
            for (int s = 0; s < slot; s++)
            {
                int row = baseRow + s;
                float norm = _newScore[row] / (t + 1);
                if (norm > _bestNorm[n])
                {
                    _bestNorm[n] = norm;
                    int parent = _parent[row];
                    _hist.AsSpan(parent * M, t).CopyTo(_bestTokens.AsSpan(n * M, t));
                    _bestTokens[n * M + t] = _token[row];
                    _histAttn.AsSpan(parent * M * Ts, t * Ts).CopyTo(_bestAttn.AsSpan(n * M * Ts, t * Ts));
                    _alpha.AsSpan(parent * Ts, Ts).CopyTo(_bestAttn.AsSpan((n * M + t) * Ts, Ts));
                    _bestLen[n] = t + 1;
                    _bestScore[n] = _newScore[row];
                }
            }

            _done[n] = true;
        }
    }

    /// <summary>A hypothesis (row's first t tokens) ended at step t.</summary>
    private void CopyFinished(int n, int row, int t, float score, int Ts)
    {
        int M = MaxLen;
        _bestLen[n] = t;
        _bestScore[n] = score;
        _hist.AsSpan(row * M, t).CopyTo(_bestTokens.AsSpan(n * M, t));
        _histAttn.AsSpan(row * M * Ts, t * Ts).CopyTo(_bestAttn.AsSpan(n * M * Ts, t * Ts));
    }

    /// <summary>New slot i takes its parent's history, the step's token and attention, and the parent's new state.</summary>
    private void Reorder(int R, int t, int Ts, int M)
    {
        int H = _H;
        var fh = Decoder.FinalHidden;
        var fc = Decoder.FinalCell;
        for (int i = 0; i < R; i++)
        {
            int p = _parent[i];
            _hist.AsSpan(p * M, t).CopyTo(_newHist.AsSpan(i * M, t));
            _newHist[i * M + t] = _token[i];
            _histAttn.AsSpan(p * M * Ts, t * Ts).CopyTo(_newHistAttn.AsSpan(i * M * Ts, t * Ts));
            _alpha.AsSpan(p * Ts, Ts).CopyTo(_newHistAttn.AsSpan((i * M + t) * Ts, Ts));
            for (int l = 0; l < _L; l++)
            {
                fh.Slice((l * R + p) * H, H).CopyTo(_sh.AsSpan((l * R + i) * H, H));
                if (_lstm) fc.Slice((l * R + p) * H, H).CopyTo(_sc.AsSpan((l * R + i) * H, H));
            }
        }

        (_hist, _newHist) = (_newHist, _hist);
        (_histAttn, _newHistAttn) = (_newHistAttn, _histAttn);
        (_score, _newScore) = (_newScore, _score);
    }
}
