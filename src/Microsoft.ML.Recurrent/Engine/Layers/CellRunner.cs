using System.Numerics.Tensors;
using Microsoft.ML.Recurrent.Engine.Kernels;

namespace Microsoft.ML.Recurrent.Engine.Layers;

/// <summary>
/// One direction of one recurrent layer: forward pass over a whole batch (BPTT storage kept) and the
/// matching backward pass. Works in "step space": step s of row r is position s for the forward
/// direction; the network gathers the reverse direction's input (position len_r − 1 − s) before calling.
/// Rows are sorted longest-first so step s touches rows [0, active(s)) only; padding rows are zero in
/// every stored buffer.
/// Structure: one GEMM projects all steps' inputs; each step does one recurrent GEMM and one
/// element-wise pass; backward stores the gate gradients of all steps, then one GEMM each for dW_ih,
/// dW_hh and dX.
/// </summary>
internal sealed class CellRunner
{
    private readonly CellKind _kind;
    private readonly int _inputSize, _hidden, _gates, _gh;
    private readonly CellSlices _slices;
    private int _capB, _capT;

    // Forward storage (capacity-sized).
    private float[] _gatesBuf = [];   // (T, B, G·H): LSTM i,f,g,o activated; GRU r,z,n activated; RNN unused
    private float[] _hs = [];         // (T+1, B, H): hs[0] = h0, hs[t+1] = h_t
    private float[] _cs = [];         // (T+1, B, H): LSTM cell states, cs[0] = c0
    private float[] _tanhC = [];      // (T, B, H): LSTM tanh(c_t)
    private float[] _ghN = [];        // (T, B, H): GRU W_hn h + b_hn
    private float[] _ghStep = [];     // (B, G·H): GRU recurrent projection of one step
    // Backward storage.
    private float[] _dGx = [];        // (T, B, G·H): gradient w.r.t. the input projection (pre-activations)
    private float[] _dGh = [];        // (T, B, G·H): GRU gradient w.r.t. the recurrent projection
    private float[] _dHCarry = [];    // (B, H)
    private float[] _dCCarry = [];    // (B, H)
    private float[] _dX = [];         // (T, B, I)
    private readonly float[] _bias;   // (G·H): folded input-projection bias

    private int _b, _t;
    private int[] _lengths = [];
    private Func<int, int> _activeAt = _ => 0;

    public CellRunner(CellKind kind, int inputSize, int hidden, CellSlices slices)
    {
        _kind = kind;
        _inputSize = inputSize;
        _hidden = hidden;
        _gates = kind switch { CellKind.Lstm => 4, CellKind.Gru => 3, _ => 1 };
        _gh = _gates * hidden;
        _slices = slices;
        _bias = new float[_gh];
    }

    /// <summary>Worker threads for this runner's GEMMs; 0 = <see cref="Gemm.DefaultThreads"/>.</summary>
    public int Threads { get; set; }

    /// <summary>(B, H) hidden state after each row's last step.</summary>
    public float[] FinalHidden { get; private set; } = [];

    /// <summary>(B, H) LSTM cell state after each row's last step.</summary>
    public float[] FinalCell { get; private set; } = [];

    /// <summary>(T, B, I) gradient w.r.t. this direction's (step-space) input, after <see cref="Backward"/>.</summary>
    public float[] InputGradient => _dX;

    /// <summary>(B, H) gradient w.r.t. h0 after <see cref="Backward"/>.</summary>
    public float[] InitialHiddenGradient => _dHCarry;

    /// <summary>(B, H) gradient w.r.t. c0 after <see cref="Backward"/> (LSTM).</summary>
    public float[] InitialCellGradient => _dCCarry;

    /// <summary>(T+1, B, H) hidden states; row block t+1 is the output of step t.</summary>
    public float[] Hidden => _hs;

    public void EnsureCapacity(int batch, int length, bool training)
    {
        if (batch <= _capB && length <= _capT && (!training || _dGx.Length > 0)) return;
        _capB = Math.Max(batch, _capB);
        _capT = Math.Max(length, _capT);
        long tb = (long)_capT * _capB;
        _gatesBuf = new float[tb * _gh];
        _hs = new float[(tb + _capB) * _hidden];
        FinalHidden = new float[_capB * _hidden];
        if (_kind == CellKind.Lstm)
        {
            _cs = new float[(tb + _capB) * _hidden];
            _tanhC = new float[tb * _hidden];
            FinalCell = new float[_capB * _hidden];
        }

        if (_kind == CellKind.Gru)
        {
            _ghN = new float[tb * _hidden];
            _ghStep = new float[_capB * _gh];
        }

        if (training || _dGx.Length > 0)
        {
            _dGx = new float[tb * _gh];
            _dGh = _kind == CellKind.Gru ? new float[tb * _gh] : _dGx;
            _dHCarry = new float[_capB * _hidden];
            _dCCarry = new float[_capB * _hidden];
            _dX = new float[tb * _inputSize];
        }
    }

    /// <summary>
    /// Runs the direction over x (T, B, I) in step space. h0/c0: (B, H) or empty for zeros.
    /// </summary>
    public void Forward(float[] parameters, ReadOnlySpan<float> x, int batch, int length, int[] lengths, Func<int, int> activeAt,
        ReadOnlySpan<float> h0, ReadOnlySpan<float> c0)
    {
        _b = batch; _t = length; _lengths = lengths; _activeAt = activeAt;
        int B = batch, T = length, H = _hidden, GH = _gh;
        var wih = _slices.WeightIh.Of(parameters);
        var whh = _slices.WeightHh.Of(parameters);
        var bih = _slices.BiasIh.Of(parameters);
        var bhh = _slices.BiasHh.Of(parameters);

        // Input projection of every step at once: (T·B, I) × (I, G·H), plus the folded bias.
        var gates = _gatesBuf.AsSpan(0, T * B * GH);
        Gemm.Multiply(false, true, T * B, GH, _inputSize, 1f, x, _inputSize, wih, _inputSize, 0f, gates, GH, threads: Threads);
        bih.CopyTo(_bias);
        if (_kind != CellKind.Gru) TensorPrimitives.Add(_bias, bhh, _bias); // GRU keeps b_hn inside r ⊙ (…)
        for (int row = 0; row < T * B; row++)
            TensorPrimitives.Add(gates.Slice(row * GH, GH), _bias, gates.Slice(row * GH, GH));

        var hs = _hs.AsSpan(0, (T + 1) * B * H);
        if (h0.IsEmpty) hs.Slice(0, B * H).Clear(); else h0.Slice(0, B * H).CopyTo(hs);
        if (_kind == CellKind.Lstm)
        {
            var cs0 = _cs.AsSpan(0, B * H);
            if (c0.IsEmpty) cs0.Clear(); else c0.Slice(0, B * H).CopyTo(cs0);
        }

        for (int t = 0; t < T; t++)
        {
            int b = activeAt(t);
            var hPrev = hs.Slice(t * B * H, b * H);
            var hCur = hs.Slice((t + 1) * B * H, B * H);
            var gt = gates.Slice(t * B * GH, B * GH);
            switch (_kind)
            {
                case CellKind.Lstm:
                    Gemm.Multiply(false, true, b, GH, H, 1f, hPrev, H, whh, H, 1f, gt, GH, threads: Threads);
                    LstmStep(gt, _cs.AsSpan(t * B * H, b * H), _cs.AsSpan((t + 1) * B * H, B * H), _tanhC.AsSpan(t * B * H, B * H), hCur, b, B);
                    break;
                case CellKind.Gru:
                    var ghs = _ghStep.AsSpan(0, b * GH);
                    Gemm.Multiply(false, true, b, GH, H, 1f, hPrev, H, whh, H, 0f, ghs, GH, threads: Threads);
                    for (int r = 0; r < b; r++) TensorPrimitives.Add(ghs.Slice(r * GH, GH), bhh, ghs.Slice(r * GH, GH));
                    GruStep(gt, ghs, hPrev, _ghN.AsSpan(t * B * H, B * H), hCur, b, B);
                    break;
                default:
                    Gemm.Multiply(false, true, b, GH, H, 1f, hPrev, H, whh, H, 1f, gt, GH, threads: Threads);
                    GateKernels.RnnForward(gt.Slice(0, b * H), hCur.Slice(0, b * H), b * H);
                    hCur.Slice(b * H).Clear();
                    gt.Slice(b * GH).Clear();
                    break;
            }
        }

        // Final states: row r finished at step len_r − 1.
        for (int r = 0; r < B; r++)
        {
            int src = (lengths[r] * B + r) * H;
            hs.Slice(src, H).CopyTo(FinalHidden.AsSpan(r * H, H));
            if (_kind == CellKind.Lstm) _cs.AsSpan(src, H).CopyTo(FinalCell.AsSpan(r * H, H));
        }
    }

    private void LstmStep(Span<float> g, ReadOnlySpan<float> cPrev, Span<float> cCur, Span<float> tanhC, Span<float> hCur, int b, int B)
    {
        int H = _hidden, GH = _gh;
        GateKernels.LstmForward(g.Slice(0, b * GH), cPrev, cCur.Slice(0, b * H), tanhC.Slice(0, b * H), hCur.Slice(0, b * H), b, H);
        g.Slice(b * GH, (B - b) * GH).Clear();
        cCur.Slice(b * H, (B - b) * H).Clear();
        tanhC.Slice(b * H, (B - b) * H).Clear();
        hCur.Slice(b * H, (B - b) * H).Clear();
    }

    private void GruStep(Span<float> g, ReadOnlySpan<float> gh, ReadOnlySpan<float> hPrev, Span<float> ghN, Span<float> hCur, int b, int B)
    {
        int H = _hidden, GH = _gh;
        GateKernels.GruForward(g.Slice(0, b * GH), gh.Slice(0, b * GH), hPrev.Slice(0, b * H), ghN.Slice(0, b * H), hCur.Slice(0, b * H), b, H);
        g.Slice(b * GH, (B - b) * GH).Clear();
        ghN.Slice(b * H, (B - b) * H).Clear();
        hCur.Slice(b * H, (B - b) * H).Clear();
    }

    /// <summary>
    /// Backpropagates through the last <see cref="Forward"/>. dOut: (T, B, H) gradient w.r.t. each step's
    /// output in step space (or empty); dFinalH/dFinalC: (B, H) gradients w.r.t. the final states (or empty).
    /// Adds weight and bias gradients into <paramref name="gradients"/>; leaves dX, dh0, dc0 in this object.
    /// </summary>
    public void Backward(float[] parameters, float[] gradients, ReadOnlySpan<float> x, ReadOnlySpan<float> dOut,
        ReadOnlySpan<float> dFinalH, ReadOnlySpan<float> dFinalC)
    {
        int B = _b, T = _t, H = _hidden, GH = _gh;
        var whh = _slices.WeightHh.Of(parameters);
        var wih = _slices.WeightIh.Of(parameters);
        var dH = _dHCarry.AsSpan(0, B * H);
        var dC = _dCCarry.AsSpan(0, B * H);
        if (dFinalH.IsEmpty) dH.Clear(); else dFinalH.Slice(0, B * H).CopyTo(dH);
        if (_kind == CellKind.Lstm) { if (dFinalC.IsEmpty) dC.Clear(); else dFinalC.Slice(0, B * H).CopyTo(dC); }

        var dGx = _dGx.AsSpan(0, T * B * GH);
        var dGh = _dGh.AsSpan(0, T * B * GH);
        var hs = _hs.AsSpan(0, (T + 1) * B * H);
        for (int t = T - 1; t >= 0; t--)
        {
            int b = _activeAt(t);
            var dgx = dGx.Slice(t * B * GH, B * GH);
            var dh = dH.Slice(0, b * H);
            if (!dOut.IsEmpty) TensorPrimitives.Add(dh, dOut.Slice(t * B * H, b * H), dh);
            var gt = _gatesBuf.AsSpan(t * B * GH, B * GH);
            switch (_kind)
            {
                case CellKind.Lstm:
                    GateKernels.LstmBackward(gt.Slice(0, b * GH), _cs.AsSpan(t * B * H, b * H), _tanhC.AsSpan(t * B * H, b * H),
                        dh, dC.Slice(0, b * H), dgx.Slice(0, b * GH), b, H);
                    dgx.Slice(b * GH).Clear();
                    Gemm.Multiply(false, false, b, H, GH, 1f, dgx, GH, whh, H, 0f, dH, H, threads: Threads);
                    break;
                case CellKind.Gru:
                    var dgh = dGh.Slice(t * B * GH, B * GH);
                    GateKernels.GruBackward(gt.Slice(0, b * GH), _ghN.AsSpan(t * B * H, b * H), hs.Slice(t * B * H, b * H),
                        dh, dgx.Slice(0, b * GH), dgh.Slice(0, b * GH), b, H);
                    dgx.Slice(b * GH).Clear();
                    dgh.Slice(b * GH).Clear();
                    Gemm.Multiply(false, false, b, H, GH, 1f, dgh, GH, whh, H, 1f, dH, H, threads: Threads);
                    break;
                default:
                    // dpre = dh ⊙ (1 − h²)
                    var h = hs.Slice((t + 1) * B * H, b * H);
                    var d = dgx.Slice(0, b * H);
                    GateKernels.RnnBackward(h, dh, d, b * H);
                    dgx.Slice(b * H).Clear();
                    Gemm.Multiply(false, false, b, H, GH, 1f, dgx, GH, whh, H, 0f, dH, H, threads: Threads);
                    break;
            }
        }

        // Weight gradients for all steps at once; padding rows of dGx/dGh are zero.
        int tb = T * B;
        var gWih = _slices.WeightIh.Of(gradients);
        var gWhh = _slices.WeightHh.Of(gradients);
        Gemm.Multiply(true, false, GH, _inputSize, tb, 1f, dGx, GH, x, _inputSize, 1f, gWih, _inputSize, threads: Threads);
        Gemm.Multiply(true, false, GH, H, tb, 1f, dGh, GH, hs.Slice(0, tb * H), H, 1f, gWhh, H, threads: Threads);
        var gBih = _slices.BiasIh.Of(gradients);
        var gBhh = _slices.BiasHh.Of(gradients);
        for (int row = 0; row < tb; row++)
        {
            TensorPrimitives.Add(gBih, dGx.Slice(row * GH, GH), gBih);
            TensorPrimitives.Add(gBhh, dGh.Slice(row * GH, GH), gBhh);
        }

        Gemm.Multiply(false, false, tb, _inputSize, GH, 1f, dGx, GH, wih, _inputSize, 0f, _dX.AsSpan(0, tb * _inputSize), _inputSize, threads: Threads);
    }
}
