using System.Runtime.CompilerServices;
using System.Numerics.Tensors;
using System.Runtime.ExceptionServices;
using Microsoft.ML.Recurrent.Engine.Kernels;

namespace Microsoft.ML.Recurrent.Engine.Layers;

/// <summary>
/// One direction of one recurrent layer: forward pass over a whole batch (BPTT storage kept) and the
/// matching backward pass. Works in "step space": step s of row r is position s for the forward
/// direction; the network gathers the reverse direction's input (position len_r − 1 − s) before calling.
/// Rows are sorted longest-first so step s touches rows [0, active(s)) only; padding rows are zero in
/// every stored buffer.
/// <para>
/// Structure: each step projects its input and multiplies the previous hidden state by W_hh (both with
/// <see cref="RowProduct"/>, on transposed copies of the weights that are rebuilt only when the weights
/// change), then runs one fused element-wise pass; backward stores the gate gradients of all steps, then
/// one GEMM each for dW_ih, dW_hh and (when it is needed) dX. A training pass keeps every step's gates
/// and cell states for the backward pass; an inference pass over a batch reuses one step's worth.
/// </para>
/// <para>
/// Threads across the time loop. Rows of a batch never interact in the recurrence, so for B ≥ 2 the rows
/// are cut into contiguous ranges of about equal work (Σ lengths) and each worker runs every step of its
/// rows (recurrent product on one thread, gate pass) with no synchronisation between steps; forward and
/// backward alike. A single sequence (B = 1) has no rows to share, so its hidden units are cut instead:
/// worker q owns units [j0, j1), always multiplies by the same slice of W_hh (its gate rows g·H + j),
/// runs the gate pass of its units and waits, spinning, for the other parts of each step before the next
/// (<see cref="StepClaims"/>: a part whose thread is late is taken over, so a busy machine costs time, not a stall).
/// Both loops run on <see cref="WorkerPool"/>' threads (part 0 on the caller); when the pool is busy with
/// another caller's work, the calling thread runs every part itself.
/// </para>
/// <para>
/// Determinism: every recurrent product goes through <see cref="RowProduct"/>, whose elements have one
/// fixed arithmetic order whatever the rows, columns or offsets of the call, and the gate kernels are
/// element-wise; the input projection and weight-gradient GEMMs are the same calls whatever the thread
/// count. So any partition — and any thread count — gives the same bits.
/// </para>
/// </summary>
internal sealed unsafe class CellRunner
{
    /// <summary>Rows are split between threads only when each part gets at least this many flops of recurrent products.</summary>
    public const double DefaultRowSplitMinFlops = 2_000_000;

    /// <summary>
    /// A single sequence's units are split only when each part multiplies by at least this many recurrent weights.
    /// Measured on 2 cores (Zen 4): LSTM H = 64 (2 × 8192 weights) runs 49 → 34 µs for 50 steps on two threads,
    /// GRU H = 64 (2 × 6144) breaks even, LSTM H = 48 and smaller lose (the per-step hand-over costs ~0.2 µs).
    /// </summary>
    public const int DefaultUnitSplitMinWeights = 8_192;

    private readonly CellKind _kind;
    private readonly int _inputSize, _hidden, _gates, _gh;
    private readonly CellSlices _slices;
    private int _capB, _capT;

    // Forward storage (capacity-sized).
    private float[] _gatesBuf = [];   // (T, B, G·H): LSTM i,f,g,o activated; GRU r,z,n activated; RNN pre-activation (unused)
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
    private float[] _biasRows = [];   // (B, G·H): each row's Σ over its steps of dGx (the bias gradient before the rows are added)
    private float[] _biasRowsH = [];  // (B, G·H): the same for dGh (GRU; other cells share _biasRows)

    // Time-loop threading.
    private readonly PackedWeights _rowWeights;   // W_hhᵀ (H, G·H), W_ihᵀ (I, G·H), biases, one part: the row-partitioned loop
    private readonly PackedWeights _unitWeights;  // W_hhᵀ, W_ihᵀ and biases cut by hidden units: the batch-1 loop
    private readonly LoopJob _job;
    private readonly StepClaims _claims = new();
    private int[] _bounds = [0, 0];               // rows [bounds[q], bounds[q+1]) belong to part q
    private int[] _rowClaimed = [];               // [q] 1 once some thread took part q's rows
    private int _rowParts = 1;
    private AlignedBuffer[] _partGates = [];      // [q] (T, G·n_q): the batch-1 loop's gates of part q's units
    private AlignedBuffer[] _partGh = [];         // [q] (G·n_q): GRU recurrent projection of part q's units
    private bool _unitLoop;                       // the last forward ran the batch-1 loop (gates are in _partGates)
    private bool _keep = true;                    // the last forward kept every step's gates and cell states
    private bool _gatesScattered;
    private float[] _parameters = [];
    private float* _x, _dOut;
    private bool _loopInputGradient;              // the backward loop computes dX row by row
    private ExceptionDispatchInfo? _failure;

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
        _rowWeights = new PackedWeights(_gates, inputSize, hidden, slices, withInput: true, foldHiddenBias: kind != CellKind.Gru);
        _unitWeights = new PackedWeights(_gates, inputSize, hidden, slices, withInput: true, foldHiddenBias: kind != CellKind.Gru);
        _job = new LoopJob(this);
    }

    /// <summary>Worker threads for this runner's GEMMs and time loop; 0 = <see cref="Gemm.DefaultThreads"/>.</summary>
    public int Threads { get; set; }

    /// <summary>See <see cref="DefaultRowSplitMinFlops"/> (tests lower it to exercise the split on small shapes).</summary>
    public double RowSplitMinFlops { get; set; } = DefaultRowSplitMinFlops;

    /// <summary>See <see cref="DefaultUnitSplitMinWeights"/>.</summary>
    public int UnitSplitMinWeights { get; set; } = DefaultUnitSplitMinWeights;

    /// <summary>The weights never change after the first pass (inference over fixed parameters): skip the check for changes.</summary>
    public bool FrozenWeights
    {
        get => _unitWeights.Frozen;
        set { _unitWeights.Frozen = value; _rowWeights.Frozen = value; }
    }

    /// <summary>Parts the last forward or backward time loop was handed to the pool as (1 = the calling thread alone).</summary>
    public int LastLoopParts { get; private set; } = 1;

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

    /// <summary>(T+1, B, H) hidden states; row block t+1 is the output of step t (zero for rows past their length).</summary>
    public float[] Hidden => _hs;

    private int ThreadCount => Math.Clamp(Threads == 0 ? Gemm.DefaultThreads : Threads, 1, WorkerPool.MaxThreads);

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
            _biasRows = new float[_capB * _gh];
            _biasRowsH = _kind == CellKind.Gru ? new float[_capB * _gh] : _biasRows;
        }

        _unitLoop = false;
        _keep = false; // new buffers: nothing of the last forward pass survives
    }

    /// <summary>
    /// Runs the direction over x (T, B, I) in step space. h0/c0: (B, H) or empty for zeros. With
    /// <paramref name="keepForBackward"/> every step's gates and cell states are kept for <see cref="Backward"/>;
    /// without it (inference) a batch's loop reuses one step's worth of those buffers, which stays in cache.
    /// The hidden states are always kept.
    /// </summary>
    public void Forward(float[] parameters, ReadOnlySpan<float> x, int batch, int length, int[] lengths, Func<int, int> activeAt,
        ReadOnlySpan<float> h0, ReadOnlySpan<float> c0, bool keepForBackward = true)
    {
        _b = batch; _t = length; _lengths = lengths; _activeAt = activeAt;
        _keep = keepForBackward || batch == 1; // the batch-1 loop keeps its own per-part gates either way
        int B = batch, T = length, H = _hidden, GH = _gh;
        _parameters = parameters;

        var hs = _hs.AsSpan(0, (T + 1) * B * H);
        if (h0.IsEmpty) hs.Slice(0, B * H).Clear(); else h0.Slice(0, B * H).CopyTo(hs);
        if (_kind == CellKind.Lstm)
        {
            var cs0 = _cs.AsSpan(0, B * H);
            if (c0.IsEmpty) cs0.Clear(); else c0.Slice(0, B * H).CopyTo(cs0);
        }

        if (B == 1)
        {
            fixed (float* px = x) ForwardSingle(px);
        }
        else
        {
            _unitLoop = false;
            _rowWeights.Configure(1);
            _rowWeights.Refresh(0, parameters);
            PartitionRows();
            fixed (float* px = x)
            {
                _x = px;
                RunRows(LoopMode.ForwardRows);
                _x = null;
            }
        }

        // Final states: row r finished at step len_r − 1 (without storage the loop saved each final cell state).
        for (int r = 0; r < B; r++)
        {
            int src = (lengths[r] * B + r) * H;
            hs.Slice(src, H).CopyTo(FinalHidden.AsSpan(r * H, H));
            if (_kind == CellKind.Lstm && _keep) _cs.AsSpan(src, H).CopyTo(FinalCell.AsSpan(r * H, H));
        }
    }

    /// <summary>Whether the last <see cref="Forward"/> kept what <see cref="Backward"/> reads.</summary>
    public bool KeptForBackward => _keep;

    /// <summary>
    /// Backpropagates through the last <see cref="Forward"/>. dOut: (T, B, H) gradient w.r.t. each step's
    /// output in step space (or empty); dFinalH/dFinalC: (B, H) gradients w.r.t. the final states (or empty).
    /// Adds weight and bias gradients into <paramref name="gradients"/>; leaves dh0, dc0 and (unless
    /// <paramref name="computeInputGradient"/> is false: see <see cref="ComputeInputGradient"/>) dX in this object;
    /// the loop computes each step's dX rows right after their gate gradients, while those are in cache.
    /// </summary>
    public void Backward(float[] parameters, float[] gradients, ReadOnlySpan<float> x, ReadOnlySpan<float> dOut,
        ReadOnlySpan<float> dFinalH, ReadOnlySpan<float> dFinalC, bool computeInputGradient = true)
    {
        if (!_keep) throw new InvalidOperationException("Backward needs a Forward that kept its storage (keepForBackward).");
        int B = _b, T = _t, H = _hidden, GH = _gh;
        _parameters = parameters;
        var dH = _dHCarry.AsSpan(0, B * H);
        var dC = _dCCarry.AsSpan(0, B * H);
        if (dFinalH.IsEmpty) dH.Clear(); else dFinalH.Slice(0, B * H).CopyTo(dH);
        if (_kind == CellKind.Lstm) { if (dFinalC.IsEmpty) dC.Clear(); else dFinalC.Slice(0, B * H).CopyTo(dC); }
        if (_unitLoop && !_gatesScattered) ScatterPartGates();
        if (B == 1) { _rowParts = 1; _bounds[0] = 0; _bounds[1] = 1; }

        _loopInputGradient = computeInputGradient;
        fixed (float* pd = dOut)
        {
            _dOut = pd;
            RunRows(LoopMode.BackwardRows);
            _dOut = null;
        }

        // Weight gradients for all steps at once; padding rows of dGx/dGh are zero.
        var dGx = _dGx.AsSpan(0, T * B * GH);
        var dGh = _dGh.AsSpan(0, T * B * GH);
        var hs = _hs.AsSpan(0, (T + 1) * B * H);
        int tb = T * B;
        var gWih = _slices.WeightIh.Of(gradients);
        var gWhh = _slices.WeightHh.Of(gradients);
        Gemm.Multiply(true, false, GH, _inputSize, tb, 1f, dGx, GH, x, _inputSize, 1f, gWih, _inputSize, threads: Threads);
        Gemm.Multiply(true, false, GH, H, tb, 1f, dGh, GH, hs.Slice(0, tb * H), H, 1f, gWhh, H, threads: Threads);
        // Bias gradients: the loop left each row's sum over its steps; add the rows in order.
        fixed (float* rows = _biasRows, rowsH = _biasRowsH, gBih = _slices.BiasIh.Of(gradients), gBhh = _slices.BiasHh.Of(gradients))
        {
            BiasGradients.AddColumns(rows, B, GH, GH, gBih);
            BiasGradients.AddColumns(rowsH, B, GH, GH, gBhh);
        }

    }

    /// <summary>
    /// dX = dGx · W_ih (T, B, I) for the last <see cref="Backward"/> (which may leave it to this call): reads the
    /// gate gradients still held here and W_ih from <paramref name="parameters"/>, which must be unchanged since.
    /// </summary>
    public void ComputeInputGradient(float[] parameters)
    {
        int tb = _t * _b;
        Gemm.Multiply(false, false, tb, _inputSize, _gh, 1f, _dGx.AsSpan(0, tb * _gh), _gh, _slices.WeightIh.Of(parameters), _inputSize,
            0f, _dX.AsSpan(0, tb * _inputSize), _inputSize, threads: Threads);
    }

    // ---- Row-partitioned loop (B ≥ 2) ----

    /// <summary>Chooses the parts of the row loop (enough flops per part) and cuts the rows between them.</summary>
    private void PartitionRows()
    {
        int B = _b;
        long work = 0;
        for (int r = 0; r < B; r++) work += _lengths[r];
        double flops = 2.0 * _gh * _hidden * work;
        int parts = (int)Math.Min(Math.Min(ThreadCount, B), Math.Max(1.0, flops / Math.Max(RowSplitMinFlops, 1.0)));
        if (_bounds.Length < parts + 1) _bounds = new int[parts + 1];
        SplitRows(_lengths.AsSpan(0, B), parts, _bounds);
        _rowParts = parts;
    }

    /// <summary>
    /// Cuts rows with the given (non-increasing) lengths into <paramref name="parts"/> contiguous ranges of about
    /// equal work Σ lengths — the work of a row in the time loop — each with at least one row:
    /// part q gets rows [bounds[q], bounds[q + 1]).
    /// </summary>
    internal static void SplitRows(ReadOnlySpan<int> lengths, int parts, Span<int> bounds)
    {
        int B = lengths.Length;
        if (parts < 1 || parts > B) throw new ArgumentOutOfRangeException(nameof(parts), parts, $"must be in [1, {B}]");
        long work = 0;
        foreach (int len in lengths) work += len;
        bounds[0] = 0;
        long cum = 0;
        int row = 0;
        for (int q = 1; q < parts; q++)
        {
            // The boundary whose cumulative work is nearest to q/parts of the total.
            double target = (double)work * q / parts;
            while (row < B && cum + lengths[row] <= target) cum += lengths[row++];
            if (row < B && target - cum > cum + lengths[row] - target) cum += lengths[row++];
            int clamped = Math.Clamp(row, bounds[q - 1] + 1, B - (parts - q)); // every part keeps at least one row
            for (; row < clamped; row++) cum += lengths[row];
            for (; row > clamped; row--) cum -= lengths[row - 1];
            bounds[q] = row;
        }

        bounds[parts] = B;
    }

    private void RunRows(LoopMode mode)
    {
        int parts = _rowParts;
        _failure = null;
        _job.Mode = mode;
        if (parts > 1 && !WorkerPool.IsHeldByCurrentThread)
        {
            if (_rowClaimed.Length < parts) _rowClaimed = new int[parts];
            Array.Clear(_rowClaimed, 0, parts);
            _claims.Reset(parts);
            if (WorkerPool.TryRun(_job, parts))
            {
                LastLoopParts = parts;
                _failure?.Throw();
                return;
            }
        }

        // The pool is busy (another caller) or one part is enough: the calling thread runs every row; the
        // rows' arithmetic does not depend on the partition, so the bits are the same.
        LastLoopParts = 1;
        RunRowRange(mode, 0, _b);
    }

    /// <summary>Thread side of the row loop: its own rows, then any part whose thread has not started yet.</summary>
    private void RunRowsPart(LoopMode mode, int home, int parts)
    {
        for (int k = 0; k < parts && !_claims.Aborted; k++)
        {
            int q = (home + k) % parts;
            if (Interlocked.Exchange(ref _rowClaimed[q], 1) == 0) RunRowRange(mode, _bounds[q], _bounds[q + 1]);
        }
    }

    private void RunRowRange(LoopMode mode, int r0, int r1)
    {
        if (mode == LoopMode.ForwardRows) ForwardRows(r0, r1);
        else BackwardRows(r0, r1);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ForwardRows(int r0, int r1)
    {
        int B = _b, T = _t, H = _hidden, GH = _gh, I = _inputSize;
        bool keep = _keep;
        float* whhT = _rowWeights.Recurrent(0), wihT = _rowWeights.Input(0), bias = _rowWeights.Bias(0);
        var bhh = new ReadOnlySpan<float>(_rowWeights.HiddenBias(0), GH);
        float* x = _x;
        fixed (float* gates = _gatesBuf, hs = _hs, cs = _cs, tanhC = _tanhC, ghN = _ghN, ghStep = _ghStep, finalC = FinalCell)
        {
            for (int t = 0; t < T; t++)
            {
                int b = _activeAt(t), bNext = t + 1 < T ? _activeAt(t + 1) : 0;
                int rows = Math.Min(r1, b) - r0;
                // Step t's row blocks: every step has its own when kept; otherwise one gate block (and tanh c, gh_n) is
                // reused and the cell state alternates between two, so the loop's working set stays in cache.
                nint ht = (nint)t * B * H + (nint)r0 * H, hn = ht + (nint)B * H;
                nint gt = (keep ? (nint)t * B * GH : 0) + (nint)r0 * GH;
                nint st = (keep ? (nint)t * B * H : 0) + (nint)r0 * H;
                nint ct = (keep ? (nint)t * B * H : (t & 1) * (nint)B * H) + (nint)r0 * H;
                nint cn = (keep ? (nint)(t + 1) * B * H : ((t + 1) & 1) * (nint)B * H) + (nint)r0 * H;
                if (rows > 0)
                {
                    if (keep && t + 1 < T)
                    {
                        // The next step's gate rows are first written by its input projection: ask for them now, so that
                        // those stores do not wait for memory (the (T, B, G·H) buffer is larger than the caches).
                        int nextRows = Math.Min(r1, bNext) - r0;
                        if (nextRows > 0) Prefetch(gates + gt + (nint)B * GH, nextRows * GH);
                    }

                    // The step's input projection for these rows, plus the (folded) bias; then the recurrent product.
                    RowProduct.MultiplyAddRow(rows, GH, I, x + ((nint)t * B + r0) * I, I, wihT, GH, gates + gt, GH, bias);
                    switch (_kind)
                    {
                        case CellKind.Lstm:
                            RowProduct.Multiply(rows, GH, H, hs + ht, H, whhT, GH, gates + gt, GH, accumulate: true);
                            GateKernels.LstmForward(new Span<float>(gates + gt, rows * GH), new ReadOnlySpan<float>(cs + ct, rows * H),
                                new Span<float>(cs + cn, rows * H), new Span<float>(tanhC + st, rows * H), new Span<float>(hs + hn, rows * H), rows, H);
                            if (!keep)
                            {
                                // Rows whose sequence ends at this step: their cell state will not survive the next steps.
                                for (int r = Math.Max(r0, bNext); r < r0 + rows; r++)
                                    new ReadOnlySpan<float>(cs + cn + (nint)(r - r0) * H, H).CopyTo(new Span<float>(finalC + (nint)r * H, H));
                            }

                            break;
                        case CellKind.Gru:
                            float* ghs = ghStep + (nint)r0 * GH;
                            RowProduct.Multiply(rows, GH, H, hs + ht, H, whhT, GH, ghs, GH, accumulate: false);
                            for (int r = 0; r < rows; r++)
                            {
                                var row = new Span<float>(ghs + (nint)r * GH, GH);
                                TensorPrimitives.Add(row, bhh, row);
                            }

                            GateKernels.GruForward(new Span<float>(gates + gt, rows * GH), new ReadOnlySpan<float>(ghs, rows * GH),
                                new ReadOnlySpan<float>(hs + ht, rows * H), new Span<float>(ghN + st, rows * H), new Span<float>(hs + hn, rows * H), rows, H);
                            break;
                        default:
                            RowProduct.Multiply(rows, GH, H, hs + ht, H, whhT, GH, gates + gt, GH, accumulate: true);
                            GateKernels.RnnForward(new ReadOnlySpan<float>(gates + gt, rows * H), new Span<float>(hs + hn, rows * H), rows * H);
                            break;
                    }
                }

                // Padding rows of this part (sequences that ended before step t) stay zero: in the hidden states always,
                // in the per-step storage when it is kept for the backward pass.
                int pad0 = Math.Max(r0, b);
                if (pad0 < r1)
                {
                    int n = r1 - pad0;
                    nint off = (nint)(pad0 - r0);
                    new Span<float>(hs + hn + off * H, n * H).Clear();
                    if (keep)
                    {
                        new Span<float>(gates + gt + off * GH, n * GH).Clear();
                        if (_kind == CellKind.Lstm)
                        {
                            new Span<float>(cs + cn + off * H, n * H).Clear();
                            new Span<float>(tanhC + st + off * H, n * H).Clear();
                        }
                        else if (_kind == CellKind.Gru)
                        {
                            new Span<float>(ghN + st + off * H, n * H).Clear();
                        }
                    }
                }
            }
        }
    }

    /// <summary>Most floats one prefetch asks for: more would push the weights (the hot operand) out of L2.</summary>
    private const int MaxPrefetchFloats = 8192;

    /// <summary>
    /// Asks for the cache lines of [p, p + min(floats, <see cref="MaxPrefetchFloats"/>)) (a hint; nothing where the
    /// instruction is missing). The start of a far region is what stalls; the hardware prefetcher follows the stream.
    /// </summary>
    private static void Prefetch(float* p, int floats)
    {
        if (!System.Runtime.Intrinsics.X86.Sse.IsSupported) return;
        floats = Math.Min(floats, MaxPrefetchFloats);
        for (int i = 0; i < floats; i += 16) System.Runtime.Intrinsics.X86.Sse.Prefetch0(p + i);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void BackwardRows(int r0, int r1)
    {
        int B = _b, T = _t, H = _hidden, GH = _gh;
        fixed (float* par = _parameters, gates = _gatesBuf, hs = _hs, cs = _cs, tanhC = _tanhC, ghN = _ghN,
            dGx = _dGx, dGh = _dGh, dH = _dHCarry, dC = _dCCarry, biasRows = _biasRows, biasRowsH = _biasRowsH, dX = _dX)
        {
            float* whh = par + _slices.WeightHh.Offset, wih = par + _slices.WeightIh.Offset;
            float* dOut = _dOut;
            int I = _inputSize;
            bool dx = _loopInputGradient;
            bool gru = _kind == CellKind.Gru;
            new Span<float>(biasRows + (nint)r0 * GH, (r1 - r0) * GH).Clear();
            if (gru) new Span<float>(biasRowsH + (nint)r0 * GH, (r1 - r0) * GH).Clear();
            for (int t = T - 1; t >= 0; t--)
            {
                int b = _activeAt(t);
                int rows = Math.Min(r1, b) - r0;
                nint gt = (nint)t * B * GH + (nint)r0 * GH, ht = (nint)t * B * H + (nint)r0 * H;
                if (rows > 0)
                {
                    int prevRows = t > 0 ? Math.Min(r1, _activeAt(t - 1)) - r0 : 0;
                    if (prevRows > 0)
                    {
                        // The previous step's gates (read) and gate gradients (written) are far back in big buffers.
                        Prefetch(gates + gt - (nint)B * GH, prevRows * GH);
                        Prefetch(dGx + gt - (nint)B * GH, prevRows * GH);
                    }

                    float* dh = dH + (nint)r0 * H;
                    var dhs = new Span<float>(dh, rows * H);
                    if (dOut != null) TensorPrimitives.Add(dhs, new ReadOnlySpan<float>(dOut + ht, rows * H), dhs);
                    switch (_kind)
                    {
                        case CellKind.Lstm:
                            GateKernels.LstmBackward(new ReadOnlySpan<float>(gates + gt, rows * GH), new ReadOnlySpan<float>(cs + ht, rows * H),
                                new ReadOnlySpan<float>(tanhC + ht, rows * H), dhs, new Span<float>(dC + (nint)r0 * H, rows * H),
                                new Span<float>(dGx + gt, rows * GH), rows, H);
                            RowProduct.Multiply(rows, H, GH, dGx + gt, GH, whh, H, dh, H, accumulate: false);
                            break;
                        case CellKind.Gru:
                            GateKernels.GruBackward(new ReadOnlySpan<float>(gates + gt, rows * GH), new ReadOnlySpan<float>(ghN + ht, rows * H),
                                new ReadOnlySpan<float>(hs + ht, rows * H), dhs, new Span<float>(dGx + gt, rows * GH), new Span<float>(dGh + gt, rows * GH), rows, H);
                            RowProduct.Multiply(rows, H, GH, dGh + gt, GH, whh, H, dh, H, accumulate: true);
                            break;
                        default:
                            // dpre = dh ⊙ (1 − h²)
                            GateKernels.RnnBackward(new ReadOnlySpan<float>(hs + ht + (nint)B * H, rows * H), dhs, new Span<float>(dGx + gt, rows * H), rows * H);
                            RowProduct.Multiply(rows, H, GH, dGx + gt, GH, whh, H, dh, H, accumulate: false);
                            break;
                    }

                    // These rows' input gradient dX = dGx · W_ih, and their bias-gradient sums, while the step's gate
                    // gradients are in cache.
                    if (dx) RowProduct.Multiply(rows, I, GH, dGx + gt, GH, wih, I, dX + ((nint)t * B + r0) * I, I, accumulate: false);
                    var acc = new Span<float>(biasRows + (nint)r0 * GH, rows * GH);
                    TensorPrimitives.Add(acc, new ReadOnlySpan<float>(dGx + gt, rows * GH), acc);
                    if (gru)
                    {
                        var accH = new Span<float>(biasRowsH + (nint)r0 * GH, rows * GH);
                        TensorPrimitives.Add(accH, new ReadOnlySpan<float>(dGh + gt, rows * GH), accH);
                    }
                }

                int pad0 = Math.Max(r0, b);
                if (pad0 < r1)
                {
                    nint gp = (nint)t * B * GH + (nint)pad0 * GH;
                    new Span<float>(dGx + gp, (r1 - pad0) * GH).Clear();
                    if (_kind == CellKind.Gru) new Span<float>(dGh + gp, (r1 - pad0) * GH).Clear();
                    if (dx) new Span<float>(dX + ((nint)t * B + pad0) * I, (r1 - pad0) * I).Clear();
                }
            }
        }
    }

    // ---- Unit-partitioned loop (B = 1) ----

    /// <summary>Threads now inside a batch-1 forward pass (any runner): the loop splits only while it is the only one.</summary>
    private static int s_singleSequenceCallers;

    /// <summary>Most threads one sequence's loop uses: every step waits for every part, so more parts cost more hand-overs.</summary>
    public const int MaxUnitParts = 4;

    /// <summary>Parts for one sequence: each must multiply by at least <see cref="UnitSplitMinWeights"/> recurrent weights.</summary>
    private int UnitParts()
    {
        long weights = (long)_gh * _hidden;
        long byWork = Math.Max(1, weights / Math.Max(1, UnitSplitMinWeights));
        return (int)Math.Min(Math.Min(Math.Min(ThreadCount, MaxUnitParts), _hidden), byWork);
    }

    private void ForwardSingle(float* x)
    {
        int parts = UnitParts();
        _unitWeights.Configure(parts);
        if (_partGates.Length != parts)
        {
            _partGates = new AlignedBuffer[parts];
            _partGh = new AlignedBuffer[parts];
            for (int q = 0; q < parts; q++) { _partGates[q] = new AlignedBuffer(); _partGh[q] = new AlignedBuffer(); }
        }

        for (int q = 0; q < parts; q++)
        {
            int gn = _gates * _unitWeights.Units(q);
            _partGates[q].Ensure(Math.Max(_capT, _t) * gn);
            if (_kind == CellKind.Gru) _partGh[q].Ensure(gn);
        }

        _unitLoop = true;
        _gatesScattered = false;
        _x = x;
        _failure = null;
        bool alone = Interlocked.Increment(ref s_singleSequenceCallers) == 1;
        try
        {
            // Split only when no other thread is scoring a single sequence: under ML.NET's parallel cursors
            // (Transform) every core already has a caller, and a split would only add hand-overs between them.
            if (parts > 1 && alone && !WorkerPool.IsHeldByCurrentThread)
            {
                _claims.Reset(parts);
                _job.Mode = LoopMode.ForwardUnits;
                if (WorkerPool.TryRun(_job, parts))
                {
                    LastLoopParts = parts;
                    _failure?.Throw();
                    return;
                }
            }

            // One thread: every part's work in turn, step by step (the same arithmetic, so the same bits).
            LastLoopParts = 1;
            for (int q = 0; q < parts; q++) PrepareUnits(q);
            for (int t = 0; t < _t; t++)
                for (int q = 0; q < parts; q++) StepUnits(q, t);
        }
        finally
        {
            _x = null;
            Interlocked.Decrement(ref s_singleSequenceCallers);
        }
    }

    /// <summary>Thread side of the batch-1 loop: op 0 prepares a part, op s + 1 is time step s (see <see cref="StepClaims"/>).</summary>
    private void RunUnitsPart(int home)
    {
        var op = new UnitOp(this);
        for (long s = 0; s <= _t; s++)
            if (!_claims.RunStep(home, s, ref op)) return;
    }

    private readonly struct UnitOp(CellRunner owner) : IStepOp
    {
        public void Run(int part, long step)
        {
            if (step == 0) owner.PrepareUnits(part);
            else owner.StepUnits(part, (int)step - 1);
        }
    }

    /// <summary>Refreshes part q's packed weights and projects every step's input onto its gate columns.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void PrepareUnits(int q)
    {
        _unitWeights.Refresh(q, _parameters);
        int T = _t, gn = _gates * _unitWeights.Units(q);
        float* g = _partGates[q].Pointer;
        RowProduct.MultiplyAddRow(T, gn, _inputSize, _x, _inputSize, _unitWeights.Input(q), gn, g, gn, _unitWeights.Bias(q));
    }

    /// <summary>Step t for part q's units: their gate rows of W_hh·h_{t−1}, then their element-wise pass.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void StepUnits(int q, int t)
    {
        int H = _hidden, j0 = _unitWeights.First(q), n = _unitWeights.Units(q), gn = _gates * n;
        float* g = _partGates[q].Pointer + (nint)t * gn;
        float* wT = _unitWeights.Recurrent(q);
        fixed (float* hs = _hs, cs = _cs, tanhC = _tanhC, ghN = _ghN)
        {
            float* hPrev = hs + (nint)t * H;
            nint ht = (nint)t * H + j0, hn = ht + H;
            // The other parts' units of h_{t−1} were just written on other cores: ask for all of its lines now, so those
            // transfers overlap instead of stalling the product one by one when it reaches them.
            if (_unitWeights.Parts > 1) Prefetch(hPrev, H);
            switch (_kind)
            {
                case CellKind.Lstm:
                    RowProduct.Multiply(1, gn, H, hPrev, H, wT, gn, g, gn, accumulate: true);
                    GateKernels.LstmForward(new Span<float>(g, gn), new ReadOnlySpan<float>(cs + ht, n), new Span<float>(cs + hn, n),
                        new Span<float>(tanhC + ht, n), new Span<float>(hs + hn, n), 1, n);
                    break;
                case CellKind.Gru:
                    float* ghs = _partGh[q].Pointer;
                    RowProduct.Multiply(1, gn, H, hPrev, H, wT, gn, ghs, gn, accumulate: false);
                    var ghRow = new Span<float>(ghs, gn);
                    TensorPrimitives.Add(ghRow, new ReadOnlySpan<float>(_unitWeights.HiddenBias(q), gn), ghRow);
                    GateKernels.GruForward(new Span<float>(g, gn), ghRow, new ReadOnlySpan<float>(hs + ht, n), new Span<float>(ghN + ht, n),
                        new Span<float>(hs + hn, n), 1, n);
                    break;
                default:
                    RowProduct.Multiply(1, gn, H, hPrev, H, wT, gn, g, gn, accumulate: true);
                    GateKernels.RnnForward(new ReadOnlySpan<float>(g, n), new Span<float>(hs + hn, n), n);
                    break;
            }
        }
    }

    /// <summary>Copies the batch-1 loop's per-part gates into the (T, 1, G·H) layout the backward pass reads.</summary>
    private void ScatterPartGates()
    {
        int T = _t, H = _hidden, GH = _gh;
        for (int q = 0; q < _unitWeights.Parts; q++)
        {
            int j0 = _unitWeights.First(q), n = _unitWeights.Units(q), gn = _gates * n;
            float* src = _partGates[q].Pointer;
            for (int t = 0; t < T; t++)
                for (int g = 0; g < _gates; g++)
                    new ReadOnlySpan<float>(src + (nint)t * gn + g * n, n).CopyTo(_gatesBuf.AsSpan(t * GH + g * H + j0, n));
        }

        _gatesScattered = true;
    }

    private enum LoopMode { ForwardRows, BackwardRows, ForwardUnits }

    /// <summary>One part of a time loop, run by <see cref="WorkerPool"/> (part 0 on the calling thread).</summary>
    private sealed class LoopJob(CellRunner owner) : PoolJob
    {
        public LoopMode Mode;

        public override void Execute(int part, int parts)
        {
            try
            {
                if (Mode == LoopMode.ForwardUnits) owner.RunUnitsPart(part);
                else owner.RunRowsPart(Mode, part, parts);
            }
            catch (Exception e)
            {
                // Never leave a partner waiting for this part; the caller rethrows after every part has returned.
                owner._claims.Abort();
                Interlocked.CompareExchange(ref owner._failure, ExceptionDispatchInfo.Capture(e), null);
            }
        }
    }
}
