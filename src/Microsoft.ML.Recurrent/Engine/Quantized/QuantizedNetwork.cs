using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using Microsoft.ML.Recurrent.Engine.Cells;
using Microsoft.ML.Recurrent.Engine.Kernels;
using Microsoft.ML.Recurrent.Engine.Layers;

namespace Microsoft.ML.Recurrent.Engine.Quantized;

/// <summary>
/// Inference-only forward pass of a many-to-one network (embedding or dense input → stacked, optionally bidirectional
/// RNN/LSTM/GRU layers → dense head on the top layer's final hidden states) with the input and recurrent weights of every
/// layer and direction held in a reduced format (<see cref="Int8Matrix"/> or <see cref="BFloat16Matrix"/>). It serves one
/// sequence at a time on the calling thread (batch 1 is what serving runs; a batch loops its rows).
/// </summary>
/// <remarks>
/// One time step of one layer-direction, with x the step's input and h the previous hidden state (zero at step 0):
/// <code>
///   LSTM, RNN:  pre = W_ih·x + (b_ih + b_hh);  pre = W_hh·h + pre        → LstmForward / RnnForward (float32)
///   GRU:        pre = W_ih·x + b_ih;            gh  = W_hh·h + b_hh       → GruForward (float32)
/// </code>
/// Only the two products read reduced weights; the biases, the gate activations, the cell state, the embedding table and
/// the head stay float32. The reverse direction reads the positions last to first, as the float engine does, and a lower
/// layer's outputs (both directions side by side, position order) feed the next layer. The float32 model this is built
/// from is neither changed nor copied (apart from the packed reduced weights and the folded biases).
/// <para>
/// Unit split (as the float engine's batch-1 loop): with several threads and enough recurrent weights, the hidden units
/// of every layer-direction are cut into contiguous parts, each with its own reduced copy of its units' gate rows of
/// W_ih and W_hh. At every step each part quantizes the whole previous h itself, multiplies by its rows and runs the
/// gate pass on its units; <see cref="StepClaims"/> hands the steps over between the threads of a <see cref="WorkerPool"/>
/// job (a late thread's part is taken over). A row's arithmetic does not depend on which part holds it or which thread
/// runs it (exact int32 sums; the same per-lane float chains), so the outputs are the same bits for any number of parts.
/// </para>
/// </remarks>
internal sealed class QuantizedNetwork
{
    /// <summary>The fewest recurrent weights (G·H·H) for which the units are split between threads.</summary>
    public const int DefaultUnitSplitMinWeights = 1 << 15;

    /// <summary>The fewest units a part gets.</summary>
    private const int MinUnitsPerPart = 32;

    private static int s_singleSequenceCallers;

    private readonly PartWeights[][] _cells;     // [layer · dirs + dir][part]
    private readonly PartWeights[][] _whole;     // [layer · dirs + dir][0]: all units as one part (the loop run alone); _cells when Parts = 1
    private readonly float[] _parameters;
    private readonly ParameterLayout _layout;

    /// <param name="spec">A many-to-one network.</param>
    /// <param name="parameters">Its float32 parameters (read, never written or kept beyond the head and embedding).</param>
    /// <param name="precision">Int8 or BFloat16.</param>
    /// <param name="threads">Threads of the unit split; 0 = <see cref="Gemm.DefaultThreads"/> (all cores), 1 = the calling thread only.</param>
    /// <param name="unitSplitMinWeights">The fewest recurrent weights per layer-direction for a split (tests lower it).</param>
    public QuantizedNetwork(NetworkSpec spec, float[] parameters, RecurrentServingPrecision precision, int threads = 1,
        int unitSplitMinWeights = DefaultUnitSplitMinWeights)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(parameters);
        if (precision is not (RecurrentServingPrecision.Int8 or RecurrentServingPrecision.BFloat16))
            throw new ArgumentOutOfRangeException(nameof(precision), precision, $"A reduced-precision network is Int8 or BFloat16; {precision} is not.");
        if (spec.Output != OutputMode.LastHidden || spec.OutputSize < 1)
            throw new NotSupportedException("Reduced-precision serving covers many-to-one networks (a head on the last hidden state).");
        _layout = new ParameterLayout(spec);
        if (parameters.Length != _layout.Count)
            throw new ArgumentException($"The network needs {_layout.Count} parameters, got {parameters.Length}.", nameof(parameters));
        Spec = spec;
        Precision = precision;
        _parameters = parameters;
        ArgumentOutOfRangeException.ThrowIfNegative(threads);
        int H = spec.HiddenSize, G = spec.Gates;
        int wanted = Math.Clamp(threads == 0 ? Gemm.DefaultThreads : threads, 1, WorkerPool.MaxThreads);
        Parts = (long)G * H * H >= unitSplitMinWeights ? Math.Max(1, Math.Min(wanted, H / MinUnitsPerPart)) : 1;
        _cells = Build(Parts);
        // The calling thread alone runs one part of all the units (the split chooser found one thread faster, or another
        // thread is scoring): run in turn, the parts' layout would quantize h once per part and call every kernel once per
        // part and step (measured: int8 LSTM H 128, 74.3 µs against 65.0 µs as one part).
        _whole = Parts > 1 ? Build(1) : _cells;
    }

    /// <summary>Every layer-direction's weights cut into <paramref name="parts"/> unit ranges.</summary>
    private PartWeights[][] Build(int parts)
    {
        var spec = Spec;
        var parameters = _parameters;
        int H = spec.HiddenSize, G = spec.Gates;
        var cells = new PartWeights[spec.NumberOfLayers * spec.Directions][];
        for (int l = 0; l < spec.NumberOfLayers; l++)
        {
            for (int d = 0; d < spec.Directions; d++)
            {
                var slices = _layout.Cell(l, d);
                int inSize = spec.LayerInputSize(l);
                var list = new PartWeights[parts];
                for (int q = 0; q < parts; q++)
                {
                    // Units [u0, u0 + n): their rows of every gate block, gate block by gate block (the gate kernels' layout for n units).
                    int u0 = (int)((long)H * q / parts), n = (int)((long)H * (q + 1) / parts) - u0;
                    var bih = GatherRows(slices.BiasIh.Of(parameters), 1, G, H, u0, n);
                    var bhh = GatherRows(slices.BiasHh.Of(parameters), 1, G, H, u0, n);
                    var sum = new float[G * n];
                    TensorPrimitives.Add(bih, bhh, sum);
                    list[q] = new PartWeights(u0, n,
                        Reduce(GatherRows(slices.WeightIh.Of(parameters), inSize, G, H, u0, n), G * n, inSize, Precision),
                        Reduce(GatherRows(slices.WeightHh.Of(parameters), H, G, H, u0, n), G * n, H, Precision),
                        spec.Cell == CellKind.Gru ? bih : sum,
                        bhh);
                }

                cells[l * spec.Directions + d] = list;
            }
        }

        return cells;
    }

    /// <summary>Rows g·H + u0 … g·H + u0 + n − 1 of every gate block g of a (G·H, columns) matrix, as a (G·n, columns) matrix.</summary>
    private static float[] GatherRows(ReadOnlySpan<float> w, int columns, int gates, int hidden, int u0, int n)
    {
        var rows = new float[gates * n * columns];
        for (int g = 0; g < gates; g++)
            w.Slice((g * hidden + u0) * columns, n * columns).CopyTo(rows.AsSpan(g * n * columns));
        return rows;
    }

    /// <summary>Parts the hidden units of every layer-direction are cut into (1: no split).</summary>
    public int Parts { get; }

    /// <summary>The threads the last <see cref="Run"/> on this thread's workspace used for its time loops (1: alone).</summary>
    public int LastLoopParts(Workspace ws) => ws.LastLoopParts;

    public NetworkSpec Spec { get; }

    public RecurrentServingPrecision Precision { get; }

    /// <summary>The reduced input and recurrent weights of one part of one layer-direction (its units' gate rows).</summary>
    public (IReducedMatrix InputWeights, IReducedMatrix RecurrentWeights) Weights(int layer, int direction, int part = 0)
    {
        var c = _cells[layer * Spec.Directions + direction][part];
        return (c.Wih, c.Whh);
    }

    private static IReducedMatrix Reduce(ReadOnlySpan<float> w, int rows, int columns, RecurrentServingPrecision precision) =>
        precision == RecurrentServingPrecision.Int8 ? new Int8Matrix(w, rows, columns) : new BFloat16Matrix(w, rows, columns);

    /// <summary>A workspace for one thread (<see cref="Run"/> grows it to the sequence length).</summary>
    public Workspace CreateWorkspace()
    {
        var ws = new Workspace(Spec, _cells[0], _whole[0][0]);
        ws.Attach(this);
        return ws;
    }

    /// <summary>
    /// Runs one sequence of <paramref name="steps"/> steps (dense: steps · F values, time-major; tokens: steps ids stored as
    /// floats) and writes the O head outputs to <paramref name="output"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // a short inference run may never tier it up (measured: 2× on one step under load)
    public void Run(ReadOnlySpan<float> sequence, int steps, Span<float> output, Workspace ws)
    {
        var spec = Spec;
        int T = steps, H = spec.HiddenSize, G = spec.Gates, D = spec.OutputWidth, dirs = spec.Directions, layers = spec.NumberOfLayers;
        if (T < 1) throw new ArgumentOutOfRangeException(nameof(steps), steps, "A sequence needs at least one step.");
        if (sequence.Length < (long)T * spec.InputSize)
            throw new ArgumentException($"{T} steps need {(long)T * spec.InputSize} values, got {sequence.Length}.", nameof(sequence));
        if (output.Length < spec.OutputSize)
            throw new ArgumentException($"The output needs {spec.OutputSize} values, got {output.Length}.", nameof(output));
        ws.EnsureLength(T);

        // The loop state lives in the workspace (threads of a split loop read it), so the input is an array: the
        // embedded tokens, or a copy of the dense sequence (T·F floats, small beside one step's products).
        ReadOnlyMemory<float> input;
        int inSize = spec.LayerInputSize(0);
        if (spec.VocabularySize > 0)
        {
            Embed(sequence, T, ws.Embedded);
            input = new ReadOnlyMemory<float>(ws.Embedded, 0, T * inSize);
        }
        else
        {
            sequence.Slice(0, T * inSize).CopyTo(ws.Sequence);
            input = new ReadOnlyMemory<float>(ws.Sequence, 0, T * inSize);
        }

        for (int l = 0; l < layers; l++)
        {
            bool top = l == layers - 1;
            float[]? layerOut = top ? null : ws.LayerOutputs[l & 1];
            for (int d = 0; d < dirs; d++)
            {
                ws.Loop = new LoopState(_cells[l * dirs + d], _whole[l * dirs + d][0], input, inSize, T, d, layerOut, d * H);
                RunLoop(ws);
                if (top) ws.H[T & 1].AsSpan(0, H).CopyTo(ws.HeadInput.AsSpan(d * H, H));
            }

            if (!top)
            {
                input = new ReadOnlyMemory<float>(layerOut!, 0, T * D);
                inSize = D;
            }
        }

        // Head (float32): y = W_out · [h_fwd ‖ h_rev] + b_out.
        var w = _layout.HeadWeight.Of(_parameters);
        var b = _layout.HeadBias.Of(_parameters);
        var headIn = ws.HeadInput.AsSpan(0, D);
        for (int o = 0; o < spec.OutputSize; o++) output[o] = TensorPrimitives.Dot(w.Slice(o * D, D), headIn) + b[o];
    }

    /// <summary>One layer-direction's time loop: split between threads when the network has parts and no other thread is
    /// scoring a single sequence (under ML.NET's parallel cursors every core already has a caller), else every part in turn.</summary>
    private void RunLoop(Workspace ws)
    {
        int T = ws.Loop.Steps;
        ws.H[0].AsSpan().Clear();  // h = 0 and c = 0 before the first step
        ws.C[0].AsSpan().Clear();
        bool alone = Interlocked.Increment(ref s_singleSequenceCallers) == 1;
        try
        {
            // Split only while alone, and while splitting measures faster than one thread here (SplitChooser).
            bool could = Parts > 1 && alone && !WorkerPool.IsHeldByCurrentThread;
            long start = could ? SplitChooser.Now : 0; // timed only when the chooser records it
            if (could && ws.Chooser.Split)
            {
                ws.Claims.Reset(Parts);
                ws.Failure = null;
                if (WorkerPool.TryRun(ws.Job, Parts))
                {
                    ws.LastLoopParts = Parts;
                    ws.Failure?.Throw();
                    ws.Chooser.Record(split: true, SplitChooser.Now - start, T);
                    return;
                }
            }

            ws.LastLoopParts = 1;
            for (int s = 0; s < T; s++) StepPart(ws, ws.Loop.Whole, ws.WholeBuffer, s, projected: false);
            if (could) ws.Chooser.Record(split: false, SplitChooser.Now - start, T);
        }
        finally
        {
            Interlocked.Decrement(ref s_singleSequenceCallers);
        }
    }

    /// <summary>
    /// Step s of part q of the current loop: its units' gate rows of W_ih·x (unless <paramref name="projected"/>: already
    /// in the part's gates, see <see cref="Project"/>) and W_hh·h_{s−1} (the whole h, quantized by this part itself), then
    /// the float gate pass on its units. The only calls into the float gate kernels.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void StepPart(Workspace ws, PartWeights part, PartBuffer buffers, int s, bool projected)
    {
        ref readonly var loop = ref ws.Loop;
        int H = Spec.HiddenSize, n = part.Units, u0 = part.First, gn = Spec.Gates * n, pos = loop.Position(s);
        var hPrev = ws.H[s & 1].AsSpan(0, H);
        var hNext = ws.H[(s + 1) & 1].AsSpan(u0, n);
        var cPrev = ws.C[s & 1].AsSpan(u0, n);
        var cNext = ws.C[(s + 1) & 1].AsSpan(u0, n);
        var gates = buffers.Gates.AsSpan(0, gn);
        var scratch = buffers.Scratch;
        bool first = s == 0;                                                   // h = 0: W_hh·h = 0
        if (!projected) Project(ws, part, buffers, s);
        switch (Spec.Cell)
        {
            case CellKind.Lstm:
                if (!first) part.Whh.Multiply(hPrev, gates, gates, scratch);
                LstmCell.Forward(gates, cPrev, cNext, buffers.TanhC.AsSpan(0, n), hNext, 1, n);
                break;
            case CellKind.Gru:
                var gh = buffers.RecurrentGates.AsSpan(0, gn);
                if (first) part.BiasHh.CopyTo(gh);
                else part.Whh.Multiply(hPrev, gh, part.BiasHh, scratch);
                GruCell.Forward(gates, gh, hPrev.Slice(u0, n), buffers.GhN.AsSpan(0, n), hNext, 1, n);
                break;
            default:
                if (!first) part.Whh.Multiply(hPrev, gates, gates, scratch);
                RnnCell.Forward(gates, hNext, n);
                break;
        }

        if (loop.Output is not null) hNext.CopyTo(loop.Output.AsSpan(pos * Spec.OutputWidth + loop.OutputColumn + u0, n));
    }

    /// <summary>Part q's gate rows for step s: W_ih·x_s + bias into its gates buffer (reads no hidden state, so a split loop
    /// runs it for the next step while the partners finish the current one).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Project(Workspace ws, PartWeights part, PartBuffer buffers, int s)
    {
        ref readonly var loop = ref ws.Loop;
        var x = loop.Input.Span.Slice(loop.Position(s) * loop.InputSize, loop.InputSize);
        part.Wih.Multiply(x, buffers.Gates.AsSpan(0, Spec.Gates * part.Units), part.Bias, buffers.Scratch);
    }

    /// <summary>Thread side of a split loop: every step of part <paramref name="home"/> (see <see cref="StepClaims"/>).</summary>
    private void RunPart(Workspace ws, int home)
    {
        var op = new PartOp(this, ws);
        for (long s = 0; s < ws.Loop.Steps; s++)
            if (!ws.Claims.RunStep(home, s, ref op)) return;
    }

    private readonly struct PartOp(QuantizedNetwork owner, Workspace ws) : IStepOp
    {
        public void Run(int part, long step) => owner.StepPart(ws, ws.Loop.Cell[part], ws.PartBuffers[part], (int)step, projected: step > 0);

        public static bool HasWorkAhead => true;

        /// <summary>The next step's input projection, while the partners finish this step.</summary>
        public void Ahead(int part, long step)
        {
            if (step + 1 < ws.Loop.Steps) owner.Project(ws, ws.Loop.Cell[part], ws.PartBuffers[part], (int)step + 1);
        }
    }

    /// <summary>One part of a split loop, run by <see cref="WorkerPool"/> (part 0 on the calling thread).</summary>
    internal sealed class LoopJob(QuantizedNetwork owner, Workspace ws) : PoolJob
    {
        public override void Execute(int part, int parts)
        {
            try
            {
                owner.RunPart(ws, part);
            }
            catch (Exception e)
            {
                ws.Claims.Abort(); // never leave a partner waiting for this part; the caller rethrows
                Interlocked.CompareExchange(ref ws.Failure, ExceptionDispatchInfo.Capture(e), null);
            }
        }
    }

    private void Embed(ReadOnlySpan<float> ids, int T, float[] embedded)
    {
        int E = Spec.EmbeddingSize, V = Spec.VocabularySize;
        var table = _layout.Embedding.Of(_parameters);
        for (int t = 0; t < T; t++)
        {
            float v = ids[t];
            int id = (int)v;
            if (id != v || id < 0 || id >= V)
                throw new ArgumentException($"Token id {v} at step {t} is outside [0, {V}).");
            table.Slice(id * E, E).CopyTo(embedded.AsSpan(t * E, E));
        }
    }

    /// <summary>The reduced weights and float32 biases of units [First, First + Units) of one layer-direction (their rows of
    /// every gate block). Bias: b_ih + b_hh (LSTM, RNN) or b_ih (GRU).</summary>
    internal sealed record PartWeights(int First, int Units, IReducedMatrix Wih, IReducedMatrix Whh, float[] Bias, float[] BiasHh);

    /// <summary>The loop a workspace is running: a layer-direction's parts, its input (T × inputSize, position order), and
    /// where its hidden states go (a lower layer's (T × D) output at column OutputColumn; null for the top layer).</summary>
    internal readonly record struct LoopState(PartWeights[] Cell, PartWeights Whole, ReadOnlyMemory<float> Input, int InputSize, int Steps,
        int Direction, float[]? Output, int OutputColumn)
    {
        /// <summary>The sequence position of step s (the reverse direction reads last to first).</summary>
        public int Position(int s) => Direction == 0 ? s : Steps - 1 - s;
    }

    /// <summary>One thread's buffers: states, per-part gates and scratch, the lower layers' outputs, the loop's hand-over state.</summary>
    internal sealed class Workspace
    {
        private readonly NetworkSpec _spec;
        private int _length;

        internal Workspace(NetworkSpec spec, PartWeights[] parts, PartWeights whole)
        {
            _spec = spec;
            int H = spec.HiddenSize;
            H = Math.Max(H, 1);
            this.H = [new float[H], new float[H]];
            C = [new float[H], new float[H]];
            HeadInput = new float[spec.OutputWidth];
            PartBuffers = parts.Select(p => new PartBuffer(spec.Gates * p.Units, p.Units)).ToArray();
            WholeBuffer = parts.Length == 1 ? PartBuffers[0] : new PartBuffer(spec.Gates * whole.Units, whole.Units);
        }

        /// <summary>h at even and odd steps: step s reads H[s &amp; 1] and writes H[(s + 1) &amp; 1].</summary>
        public float[][] H { get; }

        /// <summary>The LSTM cell state, in the same two buffers.</summary>
        public float[][] C { get; }

        public float[] HeadInput { get; }
        public float[] Embedded { get; private set; } = [];
        public float[] Sequence { get; private set; } = [];
        public float[][] LayerOutputs { get; private set; } = [[], []];
        internal PartBuffer[] PartBuffers { get; }
        internal PartBuffer WholeBuffer { get; }  // the buffers of the one-part layout (the loop run alone)
        internal LoopState Loop;
        internal StepClaims Claims { get; } = new();
        internal SplitChooser Chooser { get; } = new();  // whether this workspace's loops split (measured both ways)
        internal ExceptionDispatchInfo? Failure;
        internal int LastLoopParts { get; set; } = 1;
        private LoopJob? _job;
        internal LoopJob Job => _job ?? throw new InvalidOperationException("The workspace has no owner.");

        internal void Attach(QuantizedNetwork owner) => _job = new LoopJob(owner, this);

        public void EnsureLength(int T)
        {
            if (T <= _length) return;
            int cap = Math.Max(T, Math.Max(64, _length * 2));
            if (_spec.VocabularySize > 0) Embedded = new float[(long)cap * _spec.EmbeddingSize];
            else Sequence = new float[(long)cap * _spec.InputSize];
            if (_spec.NumberOfLayers > 1)
                LayerOutputs = [new float[(long)cap * _spec.OutputWidth], _spec.NumberOfLayers > 2 ? new float[(long)cap * _spec.OutputWidth] : []];
            _length = cap;
        }
    }

    /// <summary>One part's gate buffers and product scratch (each thread of a split loop writes only its part's).</summary>
    internal sealed class PartBuffer(int gateCount, int units)
    {
        public float[] Gates { get; } = new float[gateCount];
        public float[] RecurrentGates { get; } = new float[gateCount];
        public float[] TanhC { get; } = new float[units];
        public float[] GhN { get; } = new float[units];
        public QuantizedScratch Scratch { get; } = new();
    }
}

/// <summary>
/// Thread-safe one-sequence-at-a-time reduced-precision inference (the reduced twin of <see cref="Training.SequencePredictor"/>):
/// the packed weights are shared, each thread gets its own <see cref="QuantizedNetwork.Workspace"/>.
/// </summary>
internal sealed class QuantizedPredictor
{
    private readonly QuantizedNetwork _network;
    private readonly ThreadLocal<QuantizedNetwork.Workspace> _workspaces;

    /// <param name="spec">A many-to-one network.</param>
    /// <param name="parameters">Its float32 parameters.</param>
    /// <param name="precision">Int8 or BFloat16.</param>
    /// <param name="threads">Threads of the unit split; 1 (the default) = the calling thread, 0 = all cores (what serving
    /// builds, as for float32: the split runs only while no other thread scores a single sequence). Quiet, the split
    /// measured 43.5 µs against 65.1 µs on one thread for an LSTM with H = 128; under heavy load it was 2–3× slower than
    /// one thread (its per-step hand-overs spin), as the float engine's split is (docs/performance.md, "Reduced-precision
    /// serving").</param>
    /// <param name="unitSplitMinWeights">The fewest recurrent weights per layer-direction for a split (tests lower it).</param>
    public QuantizedPredictor(NetworkSpec spec, float[] parameters, RecurrentServingPrecision precision, int threads = 1,
        int unitSplitMinWeights = QuantizedNetwork.DefaultUnitSplitMinWeights)
    {
        _network = new QuantizedNetwork(spec, parameters, precision, threads, unitSplitMinWeights);
        _workspaces = new ThreadLocal<QuantizedNetwork.Workspace>(_network.CreateWorkspace);
    }

    public NetworkSpec Spec => _network.Spec;

    public RecurrentServingPrecision Precision => _network.Precision;

    /// <summary>The network (tests read its reduced weights).</summary>
    internal QuantizedNetwork Network => _network;

    /// <summary>Threads the calling thread's last <see cref="Predict"/> ran its time loops on (1: alone).</summary>
    internal int LastLoopParts => _network.LastLoopParts(_workspaces.Value!);

    /// <summary>Runs one sequence (T · F values, time-major; token ids as floats) and writes the O head outputs.</summary>
    public void Predict(ReadOnlySpan<float> sequence, Span<float> output)
    {
        int F = Spec.InputSize;
        if (sequence.Length == 0 || sequence.Length % F != 0)
            throw new ArgumentException($"A sequence needs a positive multiple of {F} values ({F} features per step); got {sequence.Length}.", nameof(sequence));
        _network.Run(sequence, sequence.Length / F, output, _workspaces.Value!);
    }
}
