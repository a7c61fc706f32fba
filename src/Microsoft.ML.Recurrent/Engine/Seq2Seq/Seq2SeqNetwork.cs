using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using Microsoft.ML.Recurrent.Engine.Kernels;

namespace Microsoft.ML.Recurrent.Engine.Seq2Seq;

/// <summary>
/// Encoder–decoder with attention (Luong's placement): encoder network → its per-step states E and final states; the
/// decoder network starts from the encoder's final states (summed over directions) and reads the target shifted right
/// (start token, y1 … yn); at each decoder output h_t the attention weights α_t = softmax over the valid source steps of
/// score(h_t, e_s) give a context c_t = Σ α_ts e_s, and logits = W_out [h_t ‖ c_t] + b_out over C = K + 1 classes
/// (class 0 ends the sequence). Teacher-forced training is one Forward/Backward of each network over whole sequences;
/// decoding steps the same decoder network with T = 1 and the previous final states as initial states, so every step
/// runs the time loop's own kernels.
/// </summary>
/// <remarks>
/// Encoder rows are in the source batch's order (sorted by source length), decoder rows in the target batch's order;
/// <c>_encRow[r]</c> maps decoder row r to its encoder row. Padding source steps (s ≥ the row's source length) never get
/// attention weight, so padding never changes attention, outputs or gradients. One instance per thread.
/// </remarks>
internal sealed partial class Seq2SeqNetwork
{
    private readonly int _H, _D, _A, _C, _L, _dirs, _Dc, _Z;
    private readonly bool _lstm;

    // Training / shared workspaces.
    private float[] _enc = [];        // (Ts, B, D) encoder outputs
    private float[] _keys = [];       // Dot: (Ts, B, H) = E W_aᵀ; Additive: (Ts, B, A) = E W2ᵀ + b_a
    private float[] _dec = [];        // (Td, B, H) decoder outputs
    private float[] _q = [];          // Additive: (Td, B, A) = W1 h
    private float[] _u = [];          // Additive: (Td, B, Ts, A) tanh(q_t + P_s)
    private float[] _alpha = [];      // (Td, B, Ts) attention weights, zero beyond the row's source length
    private float[] _z = [];          // (Td, B, H + D_ctx) [h ‖ context]
    private float[] _logits = [];     // (Td, B, C)
    private float[] _dLogits = [];    // (Td, B, C)
    private float[] _dZ = [];         // (Td, B, H + D_ctx)
    private float[] _dDec = [];       // (Td, B, H)
    private float[] _dEnc = [];       // (Ts, B, D)
    private float[] _dKeys = [];      // (Ts, B, H or A)
    private float[] _dQ = [];         // (Td, B, A)
    private float[] _dAlpha = [];     // (Ts)
    private float[] _h0 = [], _c0 = [];          // (L, B, H) decoder initial states
    private float[] _dFinH = [], _dFinC = [];    // (L · dirs, B, H) encoder final-state gradients
    private int[] _posToEnc = [], _encRow = [];  // (B)
    private SequenceBatch? _src, _tgt;
    private int _Ts, _Td, _B;

    public Seq2SeqNetwork(Seq2SeqSpec spec, float[] encoder, float[] decoder, float[] head, bool training, int capacityBatch = 1, int capacityLength = 1)
    {
        spec.Validate();
        Spec = spec;
        HeadLayout = new Seq2SeqHeadLayout(spec);
        var encLayout = new ParameterLayout(spec.Encoder);
        var decLayout = new ParameterLayout(spec.Decoder);
        Encoder = new RecurrentNetwork(encLayout, encoder, training ? new float[encLayout.Count] : null, capacityBatch, capacityLength);
        Decoder = new RecurrentNetwork(decLayout, decoder, training ? new float[decLayout.Count] : null, capacityBatch, capacityLength);
        if (head.Length != HeadLayout.Count) throw new ArgumentException($"Expected {HeadLayout.Count} head parameters, got {head.Length}.", nameof(head));
        Head = head;
        HeadGradients = new float[HeadLayout.Count];
        _H = spec.HiddenSize; _D = spec.SourceWidth; _A = spec.AttentionSize; _C = spec.Classes; _L = spec.NumberOfLayers;
        _dirs = spec.Bidirectional ? 2 : 1; _Dc = spec.ContextWidth; _Z = _H + _Dc;
        _lstm = spec.Cell == CellKind.Lstm;
    }

    public Seq2SeqSpec Spec { get; }
    public Seq2SeqHeadLayout HeadLayout { get; }
    public RecurrentNetwork Encoder { get; }
    public RecurrentNetwork Decoder { get; }
    public float[] Head { get; }
    public float[] HeadGradients { get; }

    /// <summary>Worker threads for the GEMMs and time loops (0 = all cores).</summary>
    public int Threads
    {
        get => Encoder.Threads;
        set { Encoder.Threads = value; Decoder.Threads = value; }
    }

    /// <summary>(Td, B, C) logits of the last <see cref="Forward"/>, in the target batch's row order.</summary>
    public ReadOnlySpan<float> Logits => _logits.AsSpan(0, _Td * _B * _C);

    /// <summary>(Td, B, Ts) attention weights of the last <see cref="Forward"/>, target rows in the target batch's order.</summary>
    public ReadOnlySpan<float> Attention => _alpha.AsSpan(0, _Td * _B * _Ts);

    private static void Ensure(ref float[] buffer, long n)
    {
        if (buffer.Length < n) buffer = new float[n];
    }

    private static void Ensure(ref int[] buffer, int n)
    {
        if (buffer.Length < n) buffer = new int[n];
    }

    // ------------------------------------------------------------------------------------------------------------
    // Training: teacher forcing over whole sequences.
    // ------------------------------------------------------------------------------------------------------------

    /// <summary>
    /// Teacher-forced forward pass and mean cross-entropy over the valid target steps. <paramref name="source"/> and
    /// <paramref name="target"/> hold the same B pairs (their <c>Order</c> arrays index the same list); the target batch's
    /// inputs are decoder ids (start, y1 … yn) and its per-step targets the classes (y1 … yn, 0). Leaves d(loss)/d(logits)
    /// for <see cref="Backward"/>.
    /// </summary>
    public float Forward(SequenceBatch source, SequenceBatch target, bool training = false, Random? dropoutRandom = null)
    {
        int B = source.Count;
        if (target.Count != B) throw new ArgumentException($"The source batch has {B} rows, the target batch {target.Count}.", nameof(target));
        if (target.TargetWidth != 1) throw new ArgumentException("The target batch needs one class index per step.", nameof(target));
        _src = source; _tgt = target; _B = B; _Ts = source.MaxLength; _Td = target.MaxLength;
        int Ts = _Ts, Td = _Td, H = _H, D = _D;
        Ensure(ref _posToEnc, B); Ensure(ref _encRow, B);
        for (int r = 0; r < B; r++) _posToEnc[source.Order[r]] = r;
        for (int r = 0; r < B; r++) _encRow[r] = _posToEnc[target.Order[r]];

        EncodeAndPrepare(source, training, dropoutRandom);
        Bridge(B, _encRow, 1);
        target.InitialHidden = _h0;
        target.InitialCell = _lstm ? _c0 : null;
        var hd = Decoder.Forward(target, training, dropoutRandom);
        Ensure(ref _dec, (long)Td * B * H);
        hd.Slice(0, Td * B * H).CopyTo(_dec);

        Ensure(ref _alpha, (long)Td * B * Math.Max(Ts, 1));
        Ensure(ref _z, (long)Td * B * _Z);
        if (Spec.Attention == AttentionKind.Additive)
        {
            Ensure(ref _q, (long)Td * B * _A);
            Ensure(ref _u, (long)Td * B * Ts * _A);
            Gemm.Multiply(false, true, Td * B, _A, H, 1f, _dec, H, HeadLayout.W1.Of(Head), H, 0f, _q, _A, threads: Threads);
        }

        for (int t = 0; t < Td; t++)
        {
            int active = target.ActiveAt(t);
            for (int r = 0; r < B; r++)
            {
                int row = t * B + r;
                var z = _z.AsSpan(row * _Z, _Z);
                if (r >= active) { z.Clear(); _alpha.AsSpan(row * Ts, Ts).Clear(); continue; }
                _dec.AsSpan(row * H, H).CopyTo(z);
                if (Spec.Attention != AttentionKind.None)
                    AttendRow(row, _encRow[r], B, source.Lengths[_encRow[r]], _dec.AsSpan(row * H, H), _q.AsSpan(), _u.AsSpan(), _alpha.AsSpan(row * Ts, Ts), z.Slice(H, D));
            }
        }

        Ensure(ref _logits, (long)Td * B * _C);
        Ensure(ref _dLogits, (long)Td * B * _C);
        Project(Td * B, _logits);
        for (int t = 0; t < Td; t++)
        {
            int active = target.ActiveAt(t);
            _logits.AsSpan((t * B + active) * _C, (B - active) * _C).Clear();
        }

        return Loss.Compute(LossKind.SoftmaxCrossEntropy, _logits.AsSpan(0, Td * B * _C), target, OutputMode.EveryStep, _C, _dLogits);
    }

    /// <summary>Backpropagates the loss of the last <see cref="Forward"/>; adds into the three gradient buffers.</summary>
    public void Backward()
    {
        var source = _src ?? throw new InvalidOperationException("Backward needs a Forward pass first.");
        var target = _tgt!;
        int B = _B, Ts = _Ts, Td = _Td, H = _H, D = _D, C = _C, Z = _Z;
        var g = HeadGradients;
        var dLogits = _dLogits.AsSpan(0, Td * B * C);
        var zAll = _z.AsSpan(0, Td * B * Z);

        // Output projection: dW_out += dYᵀ Z, db += Σ dY, dZ = dY W_out (padding rows of dY are zero).
        Gemm.Multiply(true, false, C, Z, Td * B, 1f, dLogits, C, zAll, Z, 1f, HeadLayout.OutWeight.Of(g), Z, threads: Threads);
        var gb = HeadLayout.OutBias.Of(g);
        for (int row = 0; row < Td * B; row++) TensorPrimitives.Add(gb, dLogits.Slice(row * C, C), gb);
        Ensure(ref _dZ, (long)Td * B * Z);
        var dZ = _dZ.AsSpan(0, Td * B * Z);
        Gemm.Multiply(false, false, Td * B, Z, C, 1f, dLogits, C, HeadLayout.OutWeight.Of(Head), Z, 0f, dZ, Z, threads: Threads);

        Ensure(ref _dDec, (long)Td * B * H);
        Ensure(ref _dEnc, (long)Ts * B * D);
        var dDec = _dDec.AsSpan(0, Td * B * H);
        var dEnc = _dEnc.AsSpan(0, Ts * B * D);
        dEnc.Clear();
        for (int row = 0; row < Td * B; row++) dZ.Slice(row * Z, H).CopyTo(dDec.Slice(row * H, H));

        if (Spec.Attention != AttentionKind.None)
        {
            int kw = Spec.Attention == AttentionKind.Dot ? H : _A;
            Ensure(ref _dKeys, (long)Ts * B * kw);
            var dKeys = _dKeys.AsSpan(0, Ts * B * kw);
            dKeys.Clear();
            if (Spec.Attention == AttentionKind.Additive)
            {
                Ensure(ref _dQ, (long)Td * B * _A);
                _dQ.AsSpan(0, Td * B * _A).Clear();
            }

            Ensure(ref _dAlpha, Math.Max(Ts, 1));
            for (int t = 0; t < Td; t++)
            {
                int active = target.ActiveAt(t);
                for (int r = 0; r < active; r++)
                {
                    int row = t * B + r;
                    AttendRowBackward(row, _encRow[r], B, source.Lengths[_encRow[r]], dZ.Slice(row * Z + H, D), dDec.Slice(row * H, H), dEnc, dKeys);
                }
            }

            var enc = _enc.AsSpan(0, Ts * B * D);
            if (Spec.Attention == AttentionKind.Dot)
            {
                // K = E W_aᵀ: dW_a += dKᵀ E, dE += dK W_a.
                Gemm.Multiply(true, false, H, D, Ts * B, 1f, dKeys, H, enc, D, 1f, HeadLayout.WeightA.Of(g), D, threads: Threads);
                Gemm.Multiply(false, false, Ts * B, D, H, 1f, dKeys, H, HeadLayout.WeightA.Of(Head), D, 1f, dEnc, D, threads: Threads);
            }
            else
            {
                int A = _A;
                var dQ = _dQ.AsSpan(0, Td * B * A);
                // q = W1 h: dW1 += dQᵀ H_dec, dH_dec += dQ W1.
                Gemm.Multiply(true, false, A, H, Td * B, 1f, dQ, A, _dec.AsSpan(0, Td * B * H), H, 1f, HeadLayout.W1.Of(g), H, threads: Threads);
                Gemm.Multiply(false, false, Td * B, H, A, 1f, dQ, A, HeadLayout.W1.Of(Head), H, 1f, dDec, H, threads: Threads);
                // P = E W2ᵀ + b_a: dW2 += dPᵀ E, db_a += Σ dP, dE += dP W2.
                Gemm.Multiply(true, false, A, D, Ts * B, 1f, dKeys, A, enc, D, 1f, HeadLayout.W2.Of(g), D, threads: Threads);
                var gba = HeadLayout.BiasA.Of(g);
                for (int row = 0; row < Ts * B; row++) TensorPrimitives.Add(gba, dKeys.Slice(row * A, A), gba);
                Gemm.Multiply(false, false, Ts * B, D, A, 1f, dKeys, A, HeadLayout.W2.Of(Head), D, 1f, dEnc, D, threads: Threads);
            }
        }

        for (int t = 0; t < Td; t++)
        {
            int active = target.ActiveAt(t);
            dDec.Slice((t * B + active) * H, (B - active) * H).Clear();
        }

        Decoder.Backward(dDec);

        // Decoder initial state l = Σ_d encoder final state (l, d): the same gradient reaches every direction.
        int states = _L * _dirs;
        Ensure(ref _dFinH, (long)states * B * H);
        Ensure(ref _dFinC, (long)states * B * H);
        var dh0 = Decoder.InitialHiddenGradients;
        var dc0 = _lstm ? Decoder.InitialCellGradients : default;
        for (int l = 0; l < _L; l++)
        {
            for (int r = 0; r < B; r++)
            {
                int er = _encRow[r];
                for (int d = 0; d < _dirs; d++)
                {
                    int k = l * _dirs + d;
                    dh0.Slice((l * B + r) * H, H).CopyTo(_dFinH.AsSpan((k * B + er) * H, H));
                    if (_lstm) dc0.Slice((l * B + r) * H, H).CopyTo(_dFinC.AsSpan((k * B + er) * H, H));
                }
            }
        }

        Encoder.Backward(dEnc, _dFinH.AsSpan(0, states * B * H), _lstm ? _dFinC.AsSpan(0, states * B * H) : default);
    }

    /// <summary>Clears the three gradient buffers.</summary>
    public void ZeroGradients()
    {
        Array.Clear(Encoder.Gradients);
        Array.Clear(Decoder.Gradients);
        Array.Clear(HeadGradients);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Shared pieces.
    // ------------------------------------------------------------------------------------------------------------

    /// <summary>Runs the encoder, keeps its outputs and precomputes the attention keys.</summary>
    private void EncodeAndPrepare(SequenceBatch source, bool training, Random? dropoutRandom)
    {
        int B = source.Count, Ts = source.MaxLength, D = _D;
        _encB = B;
        var e = Encoder.Forward(source, training, dropoutRandom);
        Ensure(ref _enc, (long)Ts * B * D);
        e.Slice(0, Ts * B * D).CopyTo(_enc);
        if (Spec.Attention == AttentionKind.Dot)
        {
            Ensure(ref _keys, (long)Ts * B * _H);
            Gemm.Multiply(false, true, Ts * B, _H, D, 1f, _enc, D, HeadLayout.WeightA.Of(Head), D, 0f, _keys, _H, threads: Threads);
        }
        else if (Spec.Attention == AttentionKind.Additive)
        {
            Ensure(ref _keys, (long)Ts * B * _A);
            Gemm.Multiply(false, true, Ts * B, _A, D, 1f, _enc, D, HeadLayout.W2.Of(Head), D, 0f, _keys, _A, threads: Threads);
            var ba = HeadLayout.BiasA.Of(Head);
            for (int row = 0; row < Ts * B; row++) TensorPrimitives.Add(_keys.AsSpan(row * _A, _A), ba, _keys.AsSpan(row * _A, _A));
        }
    }

    /// <summary>
    /// Decoder initial states (L, R, H): row i's = Σ over directions of encoder row er's final states, er = map[i] or,
    /// without a map, i / <paramref name="divisor"/>.
    /// </summary>
    private void Bridge(int rows, int[]? map, int divisor)
    {
        int H = _H, B = _encB;
        Ensure(ref _h0, (long)_L * rows * H);
        if (_lstm) Ensure(ref _c0, (long)_L * rows * H);
        var fh = Encoder.FinalHidden;
        var fc = Encoder.FinalCell;
        for (int l = 0; l < _L; l++)
        {
            for (int i = 0; i < rows; i++)
            {
                int er = map is null ? i / divisor : map[i];
                var h = _h0.AsSpan((l * rows + i) * H, H);
                fh.Slice(((l * _dirs) * B + er) * H, H).CopyTo(h);
                if (_dirs == 2) TensorPrimitives.Add(h, fh.Slice(((l * _dirs + 1) * B + er) * H, H), h);
                if (!_lstm) continue;
                var c = _c0.AsSpan((l * rows + i) * H, H);
                fc.Slice(((l * _dirs) * B + er) * H, H).CopyTo(c);
                if (_dirs == 2) TensorPrimitives.Add(c, fc.Slice(((l * _dirs + 1) * B + er) * H, H), c);
            }
        }
    }

    private int _encB; // rows of the last encoder pass

    /// <summary>logits (rows, C) = Z W_outᵀ + b_out.</summary>
    private void Project(int rows, float[] logits)
    {
        var y = logits.AsSpan(0, rows * _C);
        Gemm.Multiply(false, true, rows, _C, _Z, 1f, _z, _Z, HeadLayout.OutWeight.Of(Head), _Z, 0f, y, _C, threads: Threads);
        var b = HeadLayout.OutBias.Of(Head);
        for (int r = 0; r < rows; r++) TensorPrimitives.Add(y.Slice(r * _C, _C), b, y.Slice(r * _C, _C));
    }

    /// <summary>Attention of one decoder output h (row <paramref name="row"/>) over encoder row <paramref name="er"/>'s first <paramref name="len"/> steps.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void AttendRow(int row, int er, int B, int len, ReadOnlySpan<float> h, Span<float> q, Span<float> u, Span<float> alpha, Span<float> context)
    {
        int Ts = alpha.Length, D = _D;
        if (Spec.Attention == AttentionKind.Dot)
        {
            for (int s = 0; s < len; s++) alpha[s] = TensorPrimitives.Dot(h, _keys.AsSpan((s * B + er) * _H, _H));
        }
        else
        {
            int A = _A;
            var qr = q.Slice(row * A, A);
            var v = HeadLayout.V.Of(Head);
            for (int s = 0; s < len; s++)
            {
                var us = u.Slice((row * Ts + s) * A, A);
                TensorPrimitives.Add(qr, _keys.AsSpan((s * B + er) * A, A), us);
                TensorPrimitives.Tanh(us, us);
                alpha[s] = TensorPrimitives.Dot(v, us);
            }
        }

        var a = alpha.Slice(0, len);
        float max = TensorPrimitives.Max(a);
        double sum = 0;
        for (int s = 0; s < len; s++) { a[s] = MathF.Exp(a[s] - max); sum += a[s]; }
        TensorPrimitives.Multiply(a, (float)(1.0 / sum), a);
        alpha.Slice(len).Clear();
        context.Clear();
        for (int s = 0; s < len; s++)
            TensorPrimitives.MultiplyAdd(_enc.AsSpan((s * B + er) * D, D), a[s], context, context);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void AttendRowBackward(int row, int er, int B, int len, ReadOnlySpan<float> dContext, Span<float> dh, Span<float> dEnc, Span<float> dKeys)
    {
        int Ts = _Ts, D = _D;
        var alpha = _alpha.AsSpan(row * Ts, len);
        var dAlpha = _dAlpha.AsSpan(0, len);
        double dot = 0;
        for (int s = 0; s < len; s++)
        {
            var es = _enc.AsSpan((s * B + er) * D, D);
            dAlpha[s] = TensorPrimitives.Dot(dContext, es);
            dot += (double)alpha[s] * dAlpha[s];
            var de = dEnc.Slice((s * B + er) * D, D);
            TensorPrimitives.MultiplyAdd(dContext, alpha[s], de, de);
        }

        // dScore_s = α_s (dα_s − Σ α dα), kept in dAlpha.
        for (int s = 0; s < len; s++) dAlpha[s] = alpha[s] * (float)(dAlpha[s] - dot);
        if (Spec.Attention == AttentionKind.Dot)
        {
            int H = _H;
            var h = _dec.AsSpan(row * H, H);
            for (int s = 0; s < len; s++)
            {
                TensorPrimitives.MultiplyAdd(_keys.AsSpan((s * B + er) * H, H), dAlpha[s], dh, dh);
                var dk = dKeys.Slice((s * B + er) * H, H);
                TensorPrimitives.MultiplyAdd(h, dAlpha[s], dk, dk);
            }
        }
        else
        {
            int A = _A;
            var v = HeadLayout.V.Of(Head);
            var gv = HeadLayout.V.Of(HeadGradients);
            var dq = _dQ.AsSpan(row * A, A);
            Span<float> du = A <= 512 ? stackalloc float[A] : new float[A];
            for (int s = 0; s < len; s++)
            {
                var us = _u.AsSpan((row * Ts + s) * A, A);
                float ds = dAlpha[s];
                TensorPrimitives.MultiplyAdd(us, ds, gv, gv);
                // du = ds · v ⊙ (1 − u²)
                TensorPrimitives.Multiply(us, us, du);
                TensorPrimitives.Subtract(1f, du, du);
                TensorPrimitives.Multiply(du, v, du);
                TensorPrimitives.Multiply(du, ds, du);
                TensorPrimitives.Add(dq, du, dq);
                var dk = dKeys.Slice((s * B + er) * A, A);
                TensorPrimitives.Add(dk, du, dk);
            }
        }
    }
}
