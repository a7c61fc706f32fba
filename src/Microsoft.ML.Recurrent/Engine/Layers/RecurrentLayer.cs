using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using Microsoft.ML.Recurrent.Engine.Cells;
using Microsoft.ML.Recurrent.Engine.Kernels;

namespace Microsoft.ML.Recurrent.Engine.Layers;

/// <summary>The batch a layer pass runs over: B rows sorted longest-first, T steps, each row's length.</summary>
internal readonly struct BatchShape(int batch, int length, int[] lengths, Func<int, int> activeAt)
{
    /// <summary>B: rows.</summary>
    public int Batch { get; } = batch;

    /// <summary>T: steps of the longest row.</summary>
    public int Length { get; } = length;

    /// <summary>[B] each row's length, non-increasing.</summary>
    public int[] Lengths { get; } = lengths;

    /// <summary>Rows still running at step t (a prefix, since rows are sorted longest-first).</summary>
    public Func<int, int> ActiveAt { get; } = activeAt;
}

/// <summary>
/// One direction of one recurrent layer, whatever the cell: forward pass over a whole batch (BPTT storage kept when
/// asked) and the matching backward pass. Works in "step space": step s of row r is position s for the forward
/// direction; the network gathers the reverse direction's input (position len_r − 1 − s) before calling. Rows are
/// sorted longest-first so step s touches rows [0, active(s)) only; padding rows are zero in every stored buffer.
/// The cell itself (its equations, element-wise bodies, carry rule, storage needs) lives in <c>Engine/Cells</c>; the
/// loop is <see cref="RecurrentLayer{TCell}"/>, instantiated once per cell type.
/// <para>
/// Structure: each step projects its input (<see cref="RowProduct.MultiplyAddRow"/>, on a transposed copy of W_ih
/// with the folded bias) and hands the step to the cell (<see cref="IRecurrentCell.Forward"/>: recurrent product on a
/// transposed copy of W_hh, then one fused element-wise pass); backward stores the gate gradients of all steps
/// (<see cref="IRecurrentCell.Backward"/>: element-wise pass, then the carry product), then one GEMM each for dW_ih,
/// dW_hh and (when it is needed) dX. A training pass keeps every step's gates and cell states for the backward pass;
/// an inference pass over a batch reuses one step's worth. The transposed weight copies (<see cref="PackedWeights"/>)
/// are rebuilt when the parameters' version (<see cref="ParameterVersions"/>) moved since they were packed.
/// </para>
/// <para>
/// Threads across the time loop. Rows of a batch never interact in the recurrence, so for B ≥ 2 the rows are cut into
/// contiguous ranges of about equal work (Σ lengths) and each worker runs every step of its rows (recurrent product on
/// one thread, gate pass) with no synchronisation between steps; forward and backward alike. A single sequence (B = 1)
/// has no rows to share, so its hidden units are cut instead (so are an inference pass's, for a batch of up to
/// <see cref="RecurrentLayer.UnitSplitMaxRows"/> rows of a layer whose weights outgrow one core's L2, where the row
/// split would stream all the weights from L3 on every core at every step): worker q owns units [j0, j1), always multiplies by the
/// same slice of W_hh (its gate rows g·H + j, packed as panels of at most <see cref="RecurrentLayer.PanelColumns"/>
/// gate columns with contiguous rows), runs the gate pass of its units and waits, spinning, for the other parts of each
/// step before the next (<see cref="StepClaims"/>: a part whose thread is late is taken over, so a busy machine costs
/// time, not a stall); it splits only while that measures faster than one thread (<see cref="SplitChooser"/>). Both loops call the same cell step (<see cref="IRecurrentCell.Forward"/>) and run on
/// <see cref="WorkerPool"/>'s threads (part 0 on the caller); when the pool is busy with another caller's work, the
/// calling thread runs every part itself. A pass's inputs travel in an arguments struct (<c>LoopArgs</c>) handed to the
/// pool job; the layer's fields hold only its storage and what that storage holds.
/// </para>
/// <para>
/// Determinism: every recurrent product goes through <see cref="RowProduct"/>, whose elements have one fixed arithmetic
/// order whatever the rows, columns or offsets of the call, and the cells' element-wise passes are element-wise; the
/// input projection and weight-gradient GEMMs are the same calls whatever the thread count. So any partition — and any
/// thread count — gives the same bits.
/// </para>
/// </summary>
internal abstract class RecurrentLayer
{
    /// <summary>Rows are split between threads only when each part gets at least this many flops of recurrent products.</summary>
    public const double DefaultRowSplitMinFlops = 2_000_000;

    /// <summary>
    /// Rows of a part of the row loop on two threads or more (about: the rows are cut by equal work into a whole multiple
    /// of the threads), when the layer's packed weights fit <see cref="RowChunkMaxWeightBytes"/>; the threads claim the
    /// parts in turn, each part running all its steps. 0: one part per thread. Measured (AMD EPYC Zen 5, 2 threads, in
    /// one process alternated with one part per thread, four processes): LSTM B 64 H 128 forward 1.44–1.47× faster,
    /// training step 1.04–1.17×; GRU B 64 H 128 1.24–1.29× and 1.03–1.10×; LSTM B 32 H 64 T 200 1.77–1.97× and
    /// 1.17–1.19×. On one thread the same parts changed nothing (0.98–1.02×). With 1.25 MiB of weights (LSTM H 256, two
    /// layers) they cost 1–3.5 % of a training step on two threads and 13 % of a forward pass on one (each part streams
    /// the weights from beyond L2 at every step), hence the weight limit. Settable for benchmarks (the <c>row-chunks</c>
    /// verb, <c>shape --ab row-chunks</c>); the bits do not depend on it.
    /// </summary>
    internal static int RowChunkRows { get; set; } = 8;

    /// <summary>
    /// Largest packed weights (W_hhᵀ and W_ihᵀ, bytes) for which the row loop uses parts of <see cref="RowChunkRows"/>
    /// rows: one core's L2 (<see cref="CacheSizes.L2Bytes"/>), since every part reads all the weights at every step.
    /// Measured on a 1 MiB L2 (2 threads, alternated in one process): LSTM H 192 (688 KiB) forward 1.21×, H 224 (917 KiB)
    /// 1.14×, training steps 1.00–1.02×, GRU H 256 (885 KiB) 0.99–1.01×; config 4's layers (1.3 and 2.1 MiB) lost.
    /// </summary>
    internal static long RowChunkMaxWeightBytes { get; set; } = CacheSizes.L2Bytes;

    /// <summary>
    /// Fewest rows of a part when the row loop cuts a small batch into two parts per thread instead of one. The pool
    /// starts thread r at part r·parts/threads, so with two parts per thread the parts that run at the same time are
    /// never neighbours in memory. Neighbours are slow: two cores writing the adjacent rows of the same step's h, c and
    /// gate blocks pull each other's lines (the hardware prefetchers read past the end of a thread's rows). Measured
    /// (AMD EPYC Zen 5, 2 threads, LSTM H 64 T 200, B 32 in 4 parts): the same parts run with the two threads' first
    /// parts adjacent took 1.54–1.58 ms a forward pass against 1.27–1.28 ms apart. Alternated in one process, two parts
    /// per thread against one: B 16 (parts of 4 rows) forward 1.17–1.38×, training step 1.11× (H 128); B 24 (6 rows)
    /// forward 1.13–1.17×, training 0.99–1.00×; B 12 (3 rows) 0.91–1.13× and B 8 (2 rows) 0.74–0.94×, hence 4 rows.
    /// Large layers (one part per thread) showed nothing: LSTM H 256 B 128, 1.00×.
    /// </summary>
    internal const int RowPartMinRows = 4;

    /// <summary>
    /// A single sequence's units are split only when each part multiplies by at least this many recurrent weights.
    /// Measured on 2 cores (Zen 4): LSTM H = 64 (2 × 8192 weights) runs 49 → 34 µs for 50 steps on two threads,
    /// GRU H = 64 (2 × 6144) breaks even, LSTM H = 48 and smaller lose (the per-step hand-over costs ~0.2 µs).
    /// </summary>
    public const int DefaultUnitSplitMinWeights = 8_192;

    /// <summary>
    /// Most gate columns of one panel of the batch-1 loop: a panel's packed W_hhᵀ is a (H, G·n) block of its own with
    /// contiguous rows of at most this many floats (one 1 × 16-vector tile of the row product at 512 bits). Measured
    /// (one thread, 1 × 128 mat-vec): a 256-column block with its own 1 KiB rows streams at 160 GB/s, the same 256
    /// columns read out of 2 KiB rows at 95 GB/s, so one part of 512 columns (LSTM H = 128 on one thread) took 2.7 µs a
    /// step where two 256-column panels take 1.6 µs. Each panel is in wide column panels (<see cref="RowProduct.WidePanelWidth"/>)
    /// inside. On AVX2 (a 128-column tile) 128-column panels measured 0.95× at LSTM H = 128 and 1.12× at H = 256 against
    /// 256 (more parts to hand over), so 256 stays. Settable for benchmarks (<c>shape --ab unit-panels:N</c>); the bits do
    /// not depend on it.
    /// </summary>
    internal static int PanelColumns { get; set; } = 256;

    /// <summary>
    /// Largest batch whose inference pass splits the hidden units between threads, as a single sequence does, when the
    /// layer's packed weights outgrow one core's L2 (<see cref="UnitSplitMinWeightBytes"/>). Measured (AMD EPYC Zen 5,
    /// 2 threads, alternated in one process against the row loop): LSTM H 256 B 2 1.88×, B 4 1.75×, B 6 1.36×, B 8
    /// 1.07–1.11×, B 16 0.93×; LSTM H 512 B 2 1.75×, B 8 1.11×, B 16 0.95×. Settable for benchmarks (<c>shape --ab
    /// unit-split</c>); the bits do not depend on it.
    /// </summary>
    internal static int UnitSplitMaxRows { get; set; } = 8;

    /// <summary>
    /// A small batch's inference pass takes the unit loop only when the layer's packed weights (W_hhᵀ and W_ihᵀ, bytes)
    /// exceed this: one core's L2 (<see cref="CacheSizes.L2Bytes"/>). Below it the row loop's parts of eight rows keep
    /// the weights in each core's L2 already. Settable for tests.
    /// </summary>
    internal static long UnitSplitMinWeightBytes { get; set; } = CacheSizes.L2Bytes;

    /// <summary>Most threads one sequence's loop uses: every step waits for every part, so more parts cost more hand-overs.</summary>
    public const int MaxUnitParts = 4;

    /// <summary>The layer loop for <paramref name="kind"/>.</summary>
    public static RecurrentLayer Create(CellKind kind, int inputSize, int hidden, CellSlices slices) => kind switch
    {
        CellKind.Lstm => new RecurrentLayer<LstmCell>(inputSize, hidden, slices),
        CellKind.Gru => new RecurrentLayer<GruCell>(inputSize, hidden, slices),
        CellKind.SimpleRnn => new RecurrentLayer<RnnCell>(inputSize, hidden, slices),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown cell kind."),
    };

    /// <summary>Worker threads for this layer's GEMMs and time loop; 0 = <see cref="Gemm.DefaultThreads"/>.</summary>
    public int Threads { get; set; }

    /// <summary>See <see cref="DefaultRowSplitMinFlops"/> (tests lower it to exercise the split on small shapes).</summary>
    public double RowSplitMinFlops { get; set; } = DefaultRowSplitMinFlops;

    /// <summary>See <see cref="DefaultUnitSplitMinWeights"/>.</summary>
    public int UnitSplitMinWeights { get; set; } = DefaultUnitSplitMinWeights;

    /// <summary>
    /// Whether the batch-1 loop times split and unsplit passes and runs the faster (<see cref="SplitChooser"/>); off, it
    /// splits whenever it can (tests that must see a split).
    /// </summary>
    public abstract bool ChooseUnitSplit { get; set; }

    /// <summary>Threads the last forward or backward time loop ran on (1 = the calling thread alone).</summary>
    public int LastLoopParts { get; protected set; } = 1;

    /// <summary>Parts the last row loop (B ≥ 2) cut its rows into for its threads (1 = the calling thread ran them all).</summary>
    public int LastRowParts { get; protected set; } = 1;

    /// <summary>Times this layer packed (transposed) its weights: once per change of the parameters it runs over.</summary>
    public abstract long WeightPacks { get; }

    /// <summary>(B, H) hidden state after each row's last step.</summary>
    public abstract float[] FinalHidden { get; }

    /// <summary>(B, H) LSTM cell state after each row's last step.</summary>
    public abstract float[] FinalCell { get; }

    /// <summary>(T, B, I) gradient w.r.t. this direction's (step-space) input, after <see cref="Backward"/>.</summary>
    public abstract float[] InputGradient { get; }

    /// <summary>(B, H) gradient w.r.t. h0 after <see cref="Backward"/>.</summary>
    public abstract float[] InitialHiddenGradient { get; }

    /// <summary>(B, H) gradient w.r.t. c0 after <see cref="Backward"/> (LSTM).</summary>
    public abstract float[] InitialCellGradient { get; }

    /// <summary>(T+1, B, H) hidden states; row block t+1 is the output of step t (zero for rows past their length).</summary>
    public abstract float[] Hidden { get; }

    /// <summary>Grows the storage to a batch of <paramref name="batch"/> rows of up to <paramref name="length"/> steps.</summary>
    public abstract void EnsureCapacity(int batch, int length, bool training);

    /// <summary>
    /// Runs the direction over x (T, B, I) in step space. h0/c0: (B, H) or empty for zeros. With
    /// <paramref name="keepForBackward"/> every step's gates and cell states are kept for <see cref="Backward"/>;
    /// without it (inference) a batch's loop reuses one step's worth of those buffers, which stays in cache, and
    /// <see cref="Backward"/> refuses to run. The hidden states are always kept.
    /// </summary>
    public abstract void Forward(float[] parameters, ReadOnlySpan<float> x, in BatchShape shape, ReadOnlySpan<float> h0, ReadOnlySpan<float> c0,
        bool keepForBackward);

    /// <summary>
    /// Backpropagates through the last <see cref="Forward"/>, which must have run over the same batch shape with
    /// keepForBackward (otherwise <see cref="InvalidOperationException"/>). dOut: (T, B, H) gradient w.r.t. each step's
    /// output in step space (or empty); dFinalH/dFinalC: (B, H) gradients w.r.t. the final states (or empty). Adds
    /// weight and bias gradients into <paramref name="gradients"/>; leaves dh0, dc0 and (unless
    /// <paramref name="computeInputGradient"/> is false: see <see cref="ComputeInputGradient"/>) dX in this object;
    /// the loop computes each step's dX rows right after their gate gradients, while those are in cache. Each step's gate
    /// gradients are written over the activations they were computed from (one (T, B, G·H) buffer instead of two), so a
    /// forward pass serves one Backward: a second one throws <see cref="InvalidOperationException"/>.
    /// </summary>
    public abstract void Backward(float[] parameters, float[] gradients, ReadOnlySpan<float> x, in BatchShape shape, ReadOnlySpan<float> dOut,
        ReadOnlySpan<float> dFinalH, ReadOnlySpan<float> dFinalC, bool computeInputGradient);

    /// <summary>
    /// dX = dGx · W_ih (T, B, I) for the last <see cref="Backward"/> (which may leave it to this call): reads the
    /// gate gradients still held here and W_ih from <paramref name="parameters"/>, which must be unchanged since.
    /// </summary>
    public abstract void ComputeInputGradient(float[] parameters);

    /// <summary>Threads a loop may use.</summary>
    protected int ThreadCount => Math.Clamp(Threads == 0 ? Gemm.DefaultThreads : Threads, 1, WorkerPool.MaxThreads);

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

    /// <summary>Most floats one prefetch asks for: more would push the weights (the hot operand) out of L2.</summary>
    private const int MaxPrefetchFloats = 8192;

    /// <summary>
    /// Asks for the cache lines of [p, p + min(floats, <see cref="MaxPrefetchFloats"/>)) (a hint; nothing where the
    /// instruction is missing). The start of a far region is what stalls; the hardware prefetcher follows the stream.
    /// </summary>
    protected static unsafe void Prefetch(float* p, int floats)
    {
        if (!System.Runtime.Intrinsics.X86.Sse.IsSupported) return;
        floats = Math.Min(floats, MaxPrefetchFloats);
        for (int i = 0; i < floats; i += 16) System.Runtime.Intrinsics.X86.Sse.Prefetch0(p + i);
    }

    /// <summary>Threads now inside a unit loop's forward pass (any layer): the loop splits only while it is the only one.</summary>
    protected static int s_unitLoopCallers;
}

/// <summary>The layer loop of <see cref="RecurrentLayer"/> for one cell type (see there).</summary>
internal sealed unsafe class RecurrentLayer<TCell> : RecurrentLayer where TCell : struct, IRecurrentCell
{
    private readonly int _inputSize, _hidden, _gh;
    private readonly CellSlices _slices;
    private int _capB, _capT;

    // Forward storage (capacity-sized).
    private float[] _gatesBuf = [];   // (T, B, G·H): the cell's activations (simple RNN: pre-activations, unused); after a backward pass, the gate gradients (_dGx)
    private float[] _hs = [];         // (T+1, B, H): hs[0] = h0, hs[t+1] = h_t
    private float[] _cs = [];         // (T+1, B, H): cell states, cs[0] = c0 (CarriesCellState)
    private float[] _tanhC = [];      // (T, B, H): tanh(c_t) (CarriesCellState)
    private float[] _ghN = [];        // (T, B, H): W_hn h + b_hn (SeparateRecurrentProjection); after a backward pass, _dGh
    private float[] _ghStep = [];     // (B, G·H): recurrent projection of one step (SeparateRecurrentProjection)
    private float[] _finalHidden = [], _finalCell = []; // (B, H)
    // Backward storage.
    private float[] _dGx = [];        // (T, B, G·H): gradient w.r.t. the input projection (pre-activations). Training storage: _gatesBuf
                                      // itself, each step's gradients written over the activations they were computed from
    private float[] _dGh = [];        // (T, B, H): the last gate block of the gradient w.r.t. the recurrent projection (SeparateRecurrentProjection: its other blocks are _dGx's; else _dGx itself).
                                      // Training storage: _ghN itself, each step's block written over the gh_n it was computed from
    private float[] _dGhRows = [];    // (B, G·H): one step's whole recurrent-projection gradient, for the carry product (SeparateRecurrentProjection)
    private float[] _dHCarry = [];    // (B, H)
    private float[] _dCCarry = [];    // (B, H)
    private float[] _dX = [];         // (T, B, I)
    private float[] _biasRows = [];   // (B, G·H): each row's Σ over its steps of dGx (the bias gradient before the rows are added)
    private float[] _biasRowsH = [];  // (B, H): the same for dGh's last gate block (SeparateRecurrentProjection: its other blocks are dGx's, so _biasRows holds their sums; else _biasRows)

    // Time-loop threading (storage reused from call to call; a call's inputs travel in LoopArgs).
    private readonly PackedWeights _rowWeights;   // W_hhᵀ (H, G·H), W_ihᵀ (I, G·H), biases, one part: the row-partitioned loop
    private readonly PackedWeights _unitWeights;  // W_hhᵀ, W_ihᵀ and biases cut by hidden units into panels: the batch-1 loop
    private readonly LoopJob _job;
    private readonly StepClaims _claims = new();
    private int _rowThreads = 1;                  // threads of the row loop's last partition (PartitionRows)
    private readonly SplitChooser _splitChooser = new();  // whether the batch-1 loop splits (measured both ways)
    private int[] _bounds = [0, 0];               // rows [bounds[q], bounds[q+1]) belong to part q (scratch of the current call)
    private int[] _rowClaimed = [];               // [q] 1 once some thread took part q's rows (scratch of the current call)
    private readonly AlignedBuffer _backPanelsHh = new(), _backPanelsIh = new(); // W_hh (G·H, H) and W_ih (G·H, I) in column panels for the backward loop's products
    private AlignedBuffer[] _panelGates = [];      // [q] (T, G·n_q): the batch-1 loop's gates of panel q's units
    private AlignedBuffer[] _panelGh = [];         // [q] (G·n_q): GRU recurrent projection of panel q's units

    // What the storage holds: the last forward's shape, whether it kept every step for a backward pass, and where the
    // batch-1 loop's gates are.
    private int _storedBatch = -1, _storedLength = -1;
    private bool _storedForBackward;
    private bool _gatesInPanels;                   // the gates of the last forward are in _panelGates (batch-1 loop), not yet in _gatesBuf
    private bool _gradientsInGates;                // a backward pass has (or began to) overwrite the last forward's activations with dGx

    public RecurrentLayer(int inputSize, int hidden, CellSlices slices)
    {
        _inputSize = inputSize;
        _hidden = hidden;
        _gh = TCell.Gates * hidden;
        _slices = slices;
        bool fold = !TCell.SeparateRecurrentProjection;
        _rowWeights = new PackedWeights(TCell.Gates, inputSize, hidden, slices, withInput: true, foldHiddenBias: fold, panelWidth: RowProduct.PanelWidth);
        _unitWeights = new PackedWeights(TCell.Gates, inputSize, hidden, slices, withInput: true, foldHiddenBias: fold, panelWidth: RowProduct.WidePanelWidth);
        _job = new LoopJob(this);
    }

    /// <inheritdoc/>
    public override long WeightPacks => _rowWeights.PackCount + _unitWeights.PackCount;

    /// <inheritdoc/>
    public override bool ChooseUnitSplit
    {
        get => _splitChooser.Enabled;
        set => _splitChooser.Enabled = value;
    }

    /// <inheritdoc/>
    public override float[] FinalHidden => _finalHidden;

    /// <inheritdoc/>
    public override float[] FinalCell => _finalCell;

    /// <inheritdoc/>
    public override float[] InputGradient => _dX;

    /// <inheritdoc/>
    public override float[] InitialHiddenGradient => _dHCarry;

    /// <inheritdoc/>
    public override float[] InitialCellGradient => _dCCarry;

    /// <inheritdoc/>
    public override float[] Hidden => _hs;

    /// <inheritdoc/>
    public override void EnsureCapacity(int batch, int length, bool training)
    {
        if (batch <= _capB && length <= _capT && (!training || _dGx.Length > 0)) return;
        _capB = Math.Max(batch, _capB);
        _capT = Math.Max(length, _capT);
        long tb = (long)_capT * _capB;
        _gatesBuf = new float[tb * _gh];
        _hs = new float[(tb + _capB) * _hidden];
        _finalHidden = new float[_capB * _hidden];
        if (TCell.CarriesCellState)
        {
            _cs = new float[(tb + _capB) * _hidden];
            _tanhC = new float[tb * _hidden];
            _finalCell = new float[_capB * _hidden];
        }

        if (TCell.SeparateRecurrentProjection)
        {
            _ghN = new float[tb * _hidden];
            _ghStep = new float[_capB * _gh];
        }

        if (training || _dGx.Length > 0)
        {
            _dGx = _gatesBuf; // (see _dGx): the backward step reads a step's activations, then writes its gate gradients over them
            _dGh = TCell.SeparateRecurrentProjection ? _ghN : _dGx; // (see _dGh): read, then overwritten, by the same step
            _dGhRows = TCell.SeparateRecurrentProjection ? new float[_capB * _gh] : [];
            _dHCarry = new float[_capB * _hidden];
            _dCCarry = new float[_capB * _hidden];
            _dX = new float[tb * _inputSize];
            _biasRows = new float[_capB * _gh];
            _biasRowsH = TCell.SeparateRecurrentProjection ? new float[_capB * _hidden] : _biasRows;
        }

        // New buffers: nothing of the last forward pass survives.
        _storedBatch = _storedLength = -1;
        _storedForBackward = false;
        _gatesInPanels = false;
        _gradientsInGates = false;
    }

    /// <inheritdoc/>
    public override void Forward(float[] parameters, ReadOnlySpan<float> x, in BatchShape shape, ReadOnlySpan<float> h0, ReadOnlySpan<float> c0,
        bool keepForBackward)
    {
        int B = shape.Batch, T = shape.Length, H = _hidden;
        if (B > _capB || T > _capT) throw new InvalidOperationException($"The batch ({B} rows, {T} steps) exceeds the layer's capacity ({_capB}, {_capT}).");
        _storedBatch = _storedLength = -1; // until this pass completes
        _gatesInPanels = false;
        _gradientsInGates = false;
        var hs = _hs.AsSpan(0, (T + 1) * B * H);
        if (h0.IsEmpty) hs.Slice(0, B * H).Clear(); else h0.Slice(0, B * H).CopyTo(hs);
        if (TCell.CarriesCellState)
        {
            var cs0 = _cs.AsSpan(0, B * H);
            if (c0.IsEmpty) cs0.Clear(); else c0.Slice(0, B * H).CopyTo(cs0);
        }

        // The unit loop (batch 1, or a small batch of a large layer in inference) keeps every step's states and its own
        // per-panel gates either way.
        bool keep = keepForBackward;
        fixed (float* px = x)
        {
            var args = new LoopArgs
            {
                Batch = B, Length = T, Lengths = shape.Lengths, ActiveAt = shape.ActiveAt, X = px, Parameters = parameters,
                Version = ParameterVersions.Current(parameters), Keep = keepForBackward,
            };
            if (B == 1)
            {
                ForwardSingle(ref args);
                _gatesInPanels = true;
                keep = true;
            }
            else if (!keepForBackward && UnitSplitFits(B) && TryForwardUnits(ref args))
            {
                keep = true;
            }
            else
            {
                _rowWeights.Configure(1);
                _rowWeights.Refresh(0, parameters, args.Version);
                args.Mode = LoopMode.ForwardRows;
                args.Parts = PartitionRows(shape);
                RunRows(in args);
            }
        }

        // Final states: row r finished at step len_r − 1 (without storage the loop saved each final cell state).
        for (int r = 0; r < B; r++)
        {
            int src = (shape.Lengths[r] * B + r) * H;
            hs.Slice(src, H).CopyTo(_finalHidden.AsSpan(r * H, H));
            if (TCell.CarriesCellState && keep) _cs.AsSpan(src, H).CopyTo(_finalCell.AsSpan(r * H, H));
        }

        _storedBatch = B;
        _storedLength = T;
        _storedForBackward = keepForBackward;
    }

    /// <inheritdoc/>
    public override void Backward(float[] parameters, float[] gradients, ReadOnlySpan<float> x, in BatchShape shape, ReadOnlySpan<float> dOut,
        ReadOnlySpan<float> dFinalH, ReadOnlySpan<float> dFinalC, bool computeInputGradient)
    {
        if (!_storedForBackward)
            throw new InvalidOperationException("Backward needs a forward pass that kept its storage (a training pass); the last forward pass was an inference pass or did not complete.");
        int B = shape.Batch, T = shape.Length, H = _hidden, GH = _gh;
        if (B != _storedBatch || T != _storedLength)
            throw new InvalidOperationException($"Backward was called for a batch of {B} rows and {T} steps; the last forward pass ran over {_storedBatch} rows and {_storedLength} steps.");
        if (_dGx.Length == 0) throw new InvalidOperationException("Backward needs the layer's training storage (EnsureCapacity with training).");
        if (_gradientsInGates)
            throw new InvalidOperationException("Backward already ran for the last forward pass: its gate gradients were written over the stored activations. Run a training forward pass again before the next Backward.");
        var dH = _dHCarry.AsSpan(0, B * H);
        var dC = _dCCarry.AsSpan(0, B * H);
        if (dFinalH.IsEmpty) dH.Clear(); else dFinalH.Slice(0, B * H).CopyTo(dH);
        if (TCell.CarriesCellState) { if (dFinalC.IsEmpty) dC.Clear(); else dFinalC.Slice(0, B * H).CopyTo(dC); }
        if (_gatesInPanels)
        {
            ScatterPanelGates(T);
            _gatesInPanels = false;
        }

        _gradientsInGates = true; // from here on the activations are being overwritten, whether or not the loop completes
        fixed (float* pd = dOut, par = parameters)
        {
            float* panelsHh = null, panelsIh = null;
            if (PackedWeights.UsePanels)
            {
                // The carry product dh = dG·W_hh and dX = dG·W_ih read their weights in column panels (as the forward reads
                // W_hhᵀ): a copy per pass, 4·G·H·(H + I) bytes, against the loop's T·B·G·H·(H + I) multiply–adds.
                int width = RowProduct.PanelWidth;
                _backPanelsHh.Ensure(checked((int)RowProduct.PanelFloats(GH, H, width)));
                RowProduct.PackPanels(par + _slices.WeightHh.Offset, H, GH, H, _backPanelsHh.Pointer, width);
                panelsHh = _backPanelsHh.Pointer;
                if (computeInputGradient)
                {
                    _backPanelsIh.Ensure(checked((int)RowProduct.PanelFloats(GH, _inputSize, width)));
                    RowProduct.PackPanels(par + _slices.WeightIh.Offset, _inputSize, GH, _inputSize, _backPanelsIh.Pointer, width);
                    panelsIh = _backPanelsIh.Pointer;
                }
            }

            var args = new LoopArgs
            {
                Mode = LoopMode.BackwardRows, Batch = B, Length = T, Lengths = shape.Lengths, ActiveAt = shape.ActiveAt, DOut = pd,
                ParameterPointer = par, Parameters = parameters, Keep = true, InputGradient = computeInputGradient,
                RecurrentPanels = panelsHh, InputPanels = panelsIh,
                Parts = B == 1 ? 1 : PartitionRows(shape),
            };
            if (B == 1) { _bounds[0] = 0; _bounds[1] = 1; }
            RunRows(in args);
        }

        // Weight gradients for all steps at once; padding rows of dGx/dGh are zero.
        var dGx = _dGx.AsSpan(0, T * B * GH);
        var dGh = _dGh.AsSpan(0, T * B * (TCell.SeparateRecurrentProjection ? H : GH));
        var hs = _hs.AsSpan(0, (T + 1) * B * H);
        int tb = T * B;
        var gWih = _slices.WeightIh.Of(gradients);
        var gWhh = _slices.WeightHh.Of(gradients);
        Gemm.Multiply(true, false, GH, _inputSize, tb, 1f, dGx, GH, x, _inputSize, 1f, gWih, _inputSize, threads: Threads);
        if (TCell.SeparateRecurrentProjection)
        {
            // dGh's first G − 1 gate blocks are dGx's; only its last block is kept apart: one product over both.
            Gemm.MultiplyTransposedSplitA(GH, H, tb, 1f, dGx, GH, GH - H, dGh, H, hs.Slice(0, tb * H), H, 1f, gWhh, H, threads: Threads);
        }
        else
        {
            Gemm.Multiply(true, false, GH, H, tb, 1f, dGh, GH, hs.Slice(0, tb * H), H, 1f, gWhh, H, threads: Threads);
        }
        // Bias gradients: the loop left each row's sum over its steps; add the rows in order.
        fixed (float* rows = _biasRows, rowsH = _biasRowsH, gBih = _slices.BiasIh.Of(gradients), gBhh = _slices.BiasHh.Of(gradients))
        {
            BiasGradients.AddColumns(rows, B, GH, GH, gBih);
            if (TCell.SeparateRecurrentProjection)
            {
                // dGh's first G − 1 blocks are dGx's (the same values in the same order), so are their sums.
                BiasGradients.AddColumns(rows, B, GH, GH - H, gBhh);
                BiasGradients.AddColumns(rowsH, B, H, H, gBhh + GH - H);
            }
            else
            {
                BiasGradients.AddColumns(rowsH, B, GH, GH, gBhh);
            }
        }
    }

    /// <inheritdoc/>
    public override void ComputeInputGradient(float[] parameters)
    {
        if (!_storedForBackward || !_gradientsInGates) throw new InvalidOperationException("The input gradient needs a training forward pass and its Backward first.");
        int tb = _storedLength * _storedBatch;
        Gemm.Multiply(false, false, tb, _inputSize, _gh, 1f, _dGx.AsSpan(0, tb * _gh), _gh, _slices.WeightIh.Of(parameters), _inputSize,
            0f, _dX.AsSpan(0, tb * _inputSize), _inputSize, threads: Threads);
    }

    // ---- Row-partitioned loop (B ≥ 2) ----

    /// <summary>
    /// Chooses the threads of the row loop (enough flops per thread) and cuts the rows into parts: one per thread, or,
    /// on two threads or more when the packed weights are small (<see cref="RecurrentLayer.RowChunkMaxWeightBytes"/>),
    /// parts of about <see cref="RecurrentLayer.RowChunkRows"/> rows, a whole multiple of the threads (at least two per
    /// thread from <see cref="RecurrentLayer.RowPartMinRows"/> rows a part), which the threads claim in turn. Returns the
    /// parts; <see cref="_rowThreads"/> gets the threads.
    /// </summary>
    private int PartitionRows(in BatchShape shape)
    {
        int B = shape.Batch;
        long work = 0;
        for (int r = 0; r < B; r++) work += shape.Lengths[r];
        double flops = 2.0 * _gh * _hidden * work;
        int threads = (int)Math.Min(Math.Min(ThreadCount, B), Math.Max(1.0, flops / Math.Max(RowSplitMinFlops, 1.0)));
        int parts = threads;
        long weightBytes = 4L * _gh * (_hidden + _inputSize);
        if (threads > 1 && RowChunkRows > 0 && weightBytes <= RowChunkMaxWeightBytes)
        {
            long perThread = Math.Max(1, (B + (long)threads * RowChunkRows - 1) / ((long)threads * RowChunkRows));
            if (perThread < 2 && B >= 2L * threads * RowPartMinRows) perThread = 2; // see RowPartMinRows
            parts = (int)Math.Min(B, threads * perThread);
        }
        _rowThreads = threads;
        // Sized for the most parts the capacity allows (parts ≤ B), so that a change of partition never allocates.
        if (_bounds.Length < parts + 1) _bounds = new int[Math.Max(parts, _capB) + 1];
        SplitRows(shape.Lengths.AsSpan(0, B), parts, _bounds);
        return parts;
    }

    private void RunRows(in LoopArgs args)
    {
        int parts = args.Parts, threads = Math.Min(_rowThreads, parts);
        if (threads > 1 && !WorkerPool.IsHeldByCurrentThread)
        {
            if (_rowClaimed.Length < parts) _rowClaimed = new int[Math.Max(parts, _capB)];
            Array.Clear(_rowClaimed, 0, parts);
            _claims.Reset(threads); // the row loop uses only its abort flag; one slot per thread, as the unit loop
            if (RunOnPool(in args, threads, parts))
            {
                LastLoopParts = threads;
                LastRowParts = parts;
                return;
            }
        }

        // The pool is busy (another caller) or one thread is enough: the calling thread runs every row; the
        // rows' arithmetic does not depend on the partition, so the bits are the same.
        LastLoopParts = 1;
        LastRowParts = 1;
        RunRowRange(in args, 0, args.Batch);
    }

    /// <summary>
    /// Hands <paramref name="args"/> to the pool job, <paramref name="parts"/> parts on <paramref name="threads"/>
    /// threads, and runs it; false (nothing ran) when the pool is busy.
    /// </summary>
    private bool RunOnPool(in LoopArgs args, int threads, int parts)
    {
        if (!WorkerPool.TryAcquire()) return false;
        _job.Args = args;
        _job.Failure = null;
        try
        {
            WorkerPool.Run(_job, threads, parts);
            _job.Failure?.Throw();
            return true;
        }
        finally
        {
            WorkerPool.Release();
            _job.Args = default;
            _job.Failure = null;
        }
    }

    /// <summary>
    /// Thread side of the row loop: its own part, then any part no thread has claimed yet, in order (a thread that
    /// finishes early takes the next part, so a slow thread costs at most one part).
    /// </summary>
    private void RunRowsPart(in LoopArgs args, int home, int parts)
    {
        for (int k = 0; k < parts && !_claims.Aborted; k++)
        {
            int q = (home + k) % parts;
            if (Interlocked.Exchange(ref _rowClaimed[q], 1) == 0) RunRowRange(in args, _bounds[q], _bounds[q + 1]);
        }
    }

    private void RunRowRange(in LoopArgs args, int r0, int r1)
    {
        if (args.Mode == LoopMode.ForwardRows) ForwardRows(in args, r0, r1);
        else BackwardRows(in args, r0, r1);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ForwardRows(in LoopArgs args, int r0, int r1)
    {
        int B = args.Batch, T = args.Length, H = _hidden, GH = _gh, I = _inputSize;
        bool keep = args.Keep;
        var activeAt = args.ActiveAt;
        float* whhT = _rowWeights.Recurrent(0), wihT = _rowWeights.Input(0), bias = _rowWeights.Bias(0), bhh = _rowWeights.HiddenBias(0);
        int ldHh = _rowWeights.RecurrentStride(0), ldIh = _rowWeights.InputStride(0);
        nint panelHh = _rowWeights.RecurrentPanelStride(0), panelIh = _rowWeights.InputPanelStride(0);
        float* x = args.X;
        fixed (float* gates = _gatesBuf, hs = _hs, cs = _cs, tanhC = _tanhC, ghN = _ghN, ghStep = _ghStep, finalC = _finalCell)
        {
            for (int t = 0; t < T; t++)
            {
                int b = activeAt(t), bNext = t + 1 < T ? activeAt(t + 1) : 0;
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

                    // The step's input projection for these rows, plus the (folded) bias; then the cell's step.
                    RowProduct.MultiplyAddRow(rows, GH, I, x + ((nint)t * B + r0) * I, I, wihT, ldIh, gates + gt, GH, bias, panelIh);
                    TCell.Forward(new ForwardStep
                    {
                        Rows = rows, Units = H, Hidden = H, HPrev = hs + ht, RecurrentT = whhT, RecurrentStride = ldHh, RecurrentPanelStride = panelHh, HiddenBias = bhh,
                        Gates = gates + gt, Recurrent = ghStep + (nint)r0 * GH,
                        CPrev = cs + ct, C = cs + cn, TanhC = tanhC + st, GhN = ghN + st, H = hs + hn,
                    });
                    if (TCell.CarriesCellState && !keep)
                    {
                        // Rows whose sequence ends at this step: their cell state will not survive the next steps.
                        for (int r = Math.Max(r0, bNext); r < r0 + rows; r++)
                            new ReadOnlySpan<float>(cs + cn + (nint)(r - r0) * H, H).CopyTo(new Span<float>(finalC + (nint)r * H, H));
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
                        if (TCell.CarriesCellState)
                        {
                            new Span<float>(cs + cn + off * H, n * H).Clear();
                            new Span<float>(tanhC + st + off * H, n * H).Clear();
                        }

                        if (TCell.SeparateRecurrentProjection) new Span<float>(ghN + st + off * H, n * H).Clear();
                    }
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void BackwardRows(in LoopArgs args, int r0, int r1)
    {
        int B = args.Batch, T = args.Length, H = _hidden, GH = _gh, I = _inputSize;
        var activeAt = args.ActiveAt;
        bool separate = TCell.SeparateRecurrentProjection;
        fixed (float* gates = _gatesBuf, hs = _hs, cs = _cs, tanhC = _tanhC, ghN = _ghN,
            dGx = _dGx, dGh = _dGh, dGhRows = _dGhRows, dH = _dHCarry, dC = _dCCarry, biasRows = _biasRows, biasRowsH = _biasRowsH, dX = _dX)
        {
            // The weights in column panels when the caller packed them, else the parameters' rows.
            int width = RowProduct.PanelWidth;
            float* whh = args.RecurrentPanels != null ? args.RecurrentPanels : args.ParameterPointer + _slices.WeightHh.Offset;
            float* wih = args.InputPanels != null ? args.InputPanels : args.ParameterPointer + _slices.WeightIh.Offset;
            int ldHh = args.RecurrentPanels != null ? width : H, ldIh = args.InputPanels != null ? width : I;
            nint panelHh = args.RecurrentPanels != null ? (nint)GH * width : 0, panelIh = args.InputPanels != null ? (nint)GH * width : 0;
            float* dOut = args.DOut;
            bool dx = args.InputGradient;
            new Span<float>(biasRows + (nint)r0 * GH, (r1 - r0) * GH).Clear();
            if (separate) new Span<float>(biasRowsH + (nint)r0 * H, (r1 - r0) * H).Clear();
            for (int t = T - 1; t >= 0; t--)
            {
                int b = activeAt(t);
                int rows = Math.Min(r1, b) - r0;
                nint gt = (nint)t * B * GH + (nint)r0 * GH, ht = (nint)t * B * H + (nint)r0 * H;
                if (rows > 0)
                {
                    int prevRows = t > 0 ? Math.Min(r1, activeAt(t - 1)) - r0 : 0;
                    if (prevRows > 0)
                    {
                        // The previous step's gates (read, then overwritten by their gradients) are far back in a big buffer.
                        Prefetch(gates + gt - (nint)B * GH, prevRows * GH);
                    }

                    float* dh = dH + (nint)r0 * H;
                    var dhs = new Span<float>(dh, rows * H);
                    if (dOut != null) TensorPrimitives.Add(dhs, new ReadOnlySpan<float>(dOut + ht, rows * H), dhs);
                    TCell.Backward(new BackwardStep
                    {
                        Rows = rows, Hidden = H, Recurrent = whh, RecurrentStride = ldHh, RecurrentPanelStride = panelHh, Gates = gates + gt, HPrev = hs + ht, H = hs + ht + (nint)B * H,
                        CPrev = cs + ht, TanhC = tanhC + ht, GhN = ghN + ht, DH = dh, DC = dC + (nint)r0 * H, DGx = dGx + gt,
                        DGh = separate ? dGhRows + (nint)r0 * GH : dGx + gt, DGhKept = separate ? dGh + ht : null,
                    });

                    // These rows' input gradient dX = dGx · W_ih, and their bias-gradient sums, while the step's gate
                    // gradients are in cache.
                    if (dx) RowProduct.Multiply(rows, I, GH, dGx + gt, GH, wih, ldIh, dX + ((nint)t * B + r0) * I, I, accumulate: false, panelIh);
                    var acc = new Span<float>(biasRows + (nint)r0 * GH, rows * GH);
                    TensorPrimitives.Add(acc, new ReadOnlySpan<float>(dGx + gt, rows * GH), acc);
                    if (separate)
                    {
                        // Only the last block: the kept copy of it is contiguous (the others are summed in biasRows).
                        var accH = new Span<float>(biasRowsH + (nint)r0 * H, rows * H);
                        TensorPrimitives.Add(accH, new ReadOnlySpan<float>(dGh + ht, rows * H), accH);
                    }
                }

                int pad0 = Math.Max(r0, b);
                if (pad0 < r1)
                {
                    nint gp = (nint)t * B * GH + (nint)pad0 * GH;
                    new Span<float>(dGx + gp, (r1 - pad0) * GH).Clear();
                    if (separate) new Span<float>(dGh + (nint)t * B * H + (nint)pad0 * H, (r1 - pad0) * H).Clear();
                    if (dx) new Span<float>(dX + ((nint)t * B + pad0) * I, (r1 - pad0) * I).Clear();
                }
            }
        }
    }

    // ---- Unit-partitioned loop (B = 1) ----

    /// <summary>Parts for one sequence: each must multiply by at least <see cref="RecurrentLayer.UnitSplitMinWeights"/> recurrent weights.</summary>
    private int UnitParts()
    {
        long weights = (long)_gh * _hidden;
        long byWork = Math.Max(1, weights / Math.Max(1, UnitSplitMinWeights));
        return (int)Math.Min(Math.Min(Math.Min(ThreadCount, MaxUnitParts), _hidden), byWork);
    }

    /// <summary>Panels of the batch-1 loop: at least one per part, and enough that none is wider than <see cref="RecurrentLayer.PanelColumns"/>.</summary>
    private int UnitPanels(int parts) => Math.Min(_hidden, Math.Max(parts, (_gh + PanelColumns - 1) / PanelColumns));

    /// <summary>Part q of <paramref name="parts"/> runs panels [First, End) of <paramref name="panels"/> (about equal shares).</summary>
    private static (int First, int End) PanelsOf(int q, int parts, int panels) => (q * panels / parts, (q + 1) * panels / parts);

    /// <summary>
    /// Whether an inference pass over <paramref name="batch"/> ≥ 2 rows splits the units rather than the rows: when the
    /// packed weights outgrow one core's L2 (<see cref="RecurrentLayer.UnitSplitMinWeightBytes"/>) the row split makes
    /// every core stream all of them (W_ih included) from L3 at every step, while each unit part keeps only its panels of
    /// W_hhᵀ, in its own L2, the input projection having run for all steps before the loop.
    /// </summary>
    private bool UnitSplitFits(int batch)
        => batch <= UnitSplitMaxRows && 4L * _gh * (_hidden + _inputSize) > UnitSplitMinWeightBytes && UnitParts() > 1;

    /// <summary>Cuts the units into panels for <paramref name="parts"/> parts and sizes their gate storage for the call.</summary>
    private int PreparePanels(int parts, int batch, int length)
    {
        int panels = UnitPanels(parts);
        _unitWeights.Configure(panels);
        if (_panelGates.Length != panels)
        {
            _panelGates = new AlignedBuffer[panels];
            _panelGh = new AlignedBuffer[panels];
            for (int q = 0; q < panels; q++) { _panelGates[q] = new AlignedBuffer(); _panelGh[q] = new AlignedBuffer(); }
        }

        for (int q = 0; q < panels; q++)
        {
            int gn = TCell.Gates * _unitWeights.Units(q);
            _panelGates[q].Ensure(Math.Max(_capT, length) * batch * gn);
            if (TCell.SeparateRecurrentProjection) _panelGh[q].Ensure(batch * gn);
        }

        return panels;
    }

    private void ForwardSingle(ref LoopArgs args)
    {
        int parts = UnitParts(), panels = PreparePanels(parts, 1, args.Length);
        args.Mode = LoopMode.ForwardUnits;
        args.Parts = parts;
        bool alone = Interlocked.Increment(ref s_unitLoopCallers) == 1;
        try
        {
            // Split only when no other thread is scoring a single sequence (under ML.NET's parallel cursors every core
            // already has a caller, and a split would only add hand-overs between them), and when splitting measured
            // faster than one thread on this machine (see SplitChooser).
            bool could = parts > 1 && alone && !WorkerPool.IsHeldByCurrentThread;
            long start = could ? SplitChooser.Now : 0; // timed only when the chooser records it
            if (could && _splitChooser.Split)
            {
                _claims.Reset(parts);
                if (RunOnPool(in args, parts, parts))
                {
                    LastLoopParts = parts;
                    _splitChooser.Record(split: true, SplitChooser.Now - start, args.Length);
                    return;
                }
            }

            // One thread: every panel's work in turn, step by step (the same arithmetic, so the same bits).
            LastLoopParts = 1;
            args.Parts = 1;
            for (int q = 0; q < panels; q++)
            {
                _unitWeights.Refresh(q, args.Parameters, args.Version);
                ProjectUnits(in args, q, 0, args.Length);
            }

            for (int t = 0; t < args.Length; t++)
                for (int q = 0; q < panels; q++) StepUnits(in args, q, t, shared: false);
            if (could) _splitChooser.Record(split: false, SplitChooser.Now - start, args.Length);
        }
        finally
        {
            Interlocked.Decrement(ref s_unitLoopCallers);
        }
    }

    /// <summary>
    /// The unit loop over a small batch (inference, see <see cref="UnitSplitFits"/>): each part runs its panels for every
    /// running row at every step. False (nothing ran) when it cannot split now: another caller runs a unit loop or holds
    /// the pool; the caller then runs the row loop, which gives the same bits.
    /// </summary>
    private bool TryForwardUnits(ref LoopArgs args)
    {
        bool alone = Interlocked.Increment(ref s_unitLoopCallers) == 1;
        try
        {
            if (!alone || WorkerPool.IsHeldByCurrentThread) return false;
            int parts = UnitParts();
            PreparePanels(parts, args.Batch, args.Length);
            args.Mode = LoopMode.ForwardUnits;
            args.Parts = parts;
            _claims.Reset(parts);
            if (!RunOnPool(in args, parts, parts)) return false;
            LastLoopParts = parts;
            LastRowParts = 1;
            return true;
        }
        finally
        {
            Interlocked.Decrement(ref s_unitLoopCallers);
        }
    }

    /// <summary>Thread side of the batch-1 loop: op 0 refreshes a part's panels and projects every step's input onto their
    /// gate columns, op s + 1 is time step s (see <see cref="StepClaims"/>).</summary>
    private void RunUnitsPart(in LoopArgs args, int home)
    {
        var op = new UnitOp(this, args);
        for (long s = 0; s <= args.Length; s++)
            if (!_claims.RunStep(home, s, ref op)) return;
    }

    private readonly struct UnitOp(RecurrentLayer<TCell> owner, LoopArgs args) : IStepOp
    {
        public void Run(int part, long step)
        {
            var (first, end) = PanelsOf(part, args.Parts, owner._unitWeights.Parts);
            for (int q = first; q < end; q++)
            {
                if (step == 0)
                {
                    owner._unitWeights.Refresh(q, args.Parameters, args.Version);
                    owner.ProjectUnits(in args, q, 0, args.Length);
                }
                else
                {
                    owner.StepUnits(in args, q, (int)step - 1, shared: true);
                }
            }
        }

        /// <summary>None: op 0 projected every step's input at once (one product over all steps' rows measured faster
        /// than a one-row product in each step's wait, docs/performance.md).</summary>
        public static bool HasWorkAhead => false;

        public void Ahead(int part, long step)
        {
        }
    }

    /// <summary>Projects steps [t0, t0 + steps) of the input onto panel q's gate columns (W_ih·x + bias, every row).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ProjectUnits(in LoopArgs args, int q, int t0, int steps)
    {
        int B = args.Batch, gn = TCell.Gates * _unitWeights.Units(q);
        nint first = (nint)t0 * B;
        RowProduct.MultiplyAddRow(steps * B, gn, _inputSize, args.X + first * _inputSize, _inputSize, _unitWeights.Input(q), _unitWeights.InputStride(q),
            _panelGates[q].Pointer + first * gn, gn, _unitWeights.Bias(q), _unitWeights.InputPanelStride(q));
    }

    /// <summary>
    /// Step t for panel q's units: the cell's step on their gate columns for every running row (the same step function as
    /// the row loop). <paramref name="shared"/>: other threads run the other panels (h_{t−1} was partly written on other
    /// cores). Rows whose sequence has ended keep zero hidden states in the panel's units.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void StepUnits(in LoopArgs args, int q, int t, bool shared)
    {
        int B = args.Batch, H = _hidden, j0 = _unitWeights.First(q), n = _unitWeights.Units(q), gn = TCell.Gates * n;
        int rows = B == 1 ? 1 : args.ActiveAt(t);
        fixed (float* hs = _hs, cs = _cs, tanhC = _tanhC, ghN = _ghN)
        {
            float* hPrev = hs + (nint)t * B * H;
            nint ht = (nint)t * B * H + j0, hn = ht + (nint)B * H;
            // The other parts' units of h_{t−1} were just written on other cores: ask for all of its lines now, so those
            // transfers overlap instead of stalling the product one by one when it reaches them.
            if (shared) Prefetch(hPrev, rows * H);
            TCell.Forward(new ForwardStep
            {
                Rows = rows, Units = n, Hidden = H, HPrev = hPrev, First = j0, RecurrentT = _unitWeights.Recurrent(q), RecurrentStride = _unitWeights.RecurrentStride(q), RecurrentPanelStride = _unitWeights.RecurrentPanelStride(q), HiddenBias = _unitWeights.HiddenBias(q),
                Gates = _panelGates[q].Pointer + (nint)t * B * gn, Recurrent = _panelGh[q].Pointer,
                CPrev = cs + ht, C = cs + hn, TanhC = tanhC + ht, GhN = ghN + ht, H = hs + hn,
            });
            for (int r = rows; r < B; r++) new Span<float>(hs + hn + (nint)r * H, n).Clear();
        }
    }

    /// <summary>Copies the batch-1 loop's per-panel gates into the (T, 1, G·H) layout the backward pass reads.</summary>
    private void ScatterPanelGates(int T)
    {
        int H = _hidden, GH = _gh, G = TCell.Gates;
        for (int q = 0; q < _unitWeights.Parts; q++)
        {
            int j0 = _unitWeights.First(q), n = _unitWeights.Units(q), gn = G * n;
            float* src = _panelGates[q].Pointer;
            for (int t = 0; t < T; t++)
                for (int g = 0; g < G; g++)
                    new ReadOnlySpan<float>(src + (nint)t * gn + g * n, n).CopyTo(_gatesBuf.AsSpan(t * GH + g * H + j0, n));
        }
    }

    private enum LoopMode { ForwardRows, BackwardRows, ForwardUnits }

    /// <summary>Everything one pass of a time loop reads besides the layer's storage: built per call, handed to the pool job.</summary>
    private struct LoopArgs
    {
        public LoopMode Mode;
        public int Batch, Length;
        public int[] Lengths;
        public Func<int, int> ActiveAt;
        public float* X;                  // (T, B, I) step-space input (forward)
        public float* DOut;               // (T, B, H) step-space output gradient or null (backward)
        public float[] Parameters;        // the flat parameter buffer
        public float* ParameterPointer;   // pinned Parameters (backward)
        public long Version;              // ParameterVersions.Current(Parameters) when the pass started
        public bool Keep;                 // every step's storage is kept (forward)
        public bool InputGradient;        // the backward loop computes dX row by row
        public float* RecurrentPanels;    // W_hh (G·H, H) in column panels of RowProduct.PanelWidth, or null: the parameters' rows (backward)
        public float* InputPanels;        // W_ih (G·H, I) likewise, when InputGradient (backward)
        public int Parts;                 // parts the loop is cut into (row ranges in _bounds, or unit ranges of _unitWeights)
    }

    /// <summary>One part of a time loop, run by <see cref="WorkerPool"/> (part 0 on the calling thread) with the call's arguments.</summary>
    private sealed class LoopJob(RecurrentLayer<TCell> owner) : PoolJob
    {
        public LoopArgs Args;
        public ExceptionDispatchInfo? Failure;

        public override void Execute(int part, int parts)
        {
            try
            {
                if (Args.Mode == LoopMode.ForwardUnits) owner.RunUnitsPart(in Args, part);
                else owner.RunRowsPart(in Args, part, parts);
            }
            catch (Exception e)
            {
                // Never leave a partner waiting for this part; the caller rethrows after every part has returned.
                owner._claims.Abort();
                Interlocked.CompareExchange(ref Failure, ExceptionDispatchInfo.Capture(e), null);
            }
        }
    }
}
