using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using Microsoft.ML.Recurrent.Engine.Kernels;

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
/// </remarks>
internal sealed class QuantizedNetwork
{
    private readonly CellWeights[] _cells;       // [layer · dirs + dir]
    private readonly float[] _parameters;
    private readonly ParameterLayout _layout;

    public QuantizedNetwork(NetworkSpec spec, float[] parameters, RecurrentServingPrecision precision)
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
        int gh = spec.Gates * spec.HiddenSize;
        _cells = new CellWeights[spec.NumberOfLayers * spec.Directions];
        for (int l = 0; l < spec.NumberOfLayers; l++)
        {
            for (int d = 0; d < spec.Directions; d++)
            {
                var slices = _layout.Cell(l, d);
                int inSize = spec.LayerInputSize(l);
                var bih = slices.BiasIh.Of(parameters).ToArray();
                var bhh = slices.BiasHh.Of(parameters).ToArray();
                var sum = new float[gh];
                TensorPrimitives.Add(bih, bhh, sum);
                _cells[l * spec.Directions + d] = new CellWeights(
                    Reduce(slices.WeightIh.Of(parameters), gh, inSize, precision),
                    Reduce(slices.WeightHh.Of(parameters), gh, spec.HiddenSize, precision),
                    spec.Cell == CellKind.Gru ? bih : sum,
                    bhh);
            }
        }
    }

    public NetworkSpec Spec { get; }

    public RecurrentServingPrecision Precision { get; }

    /// <summary>The reduced input and recurrent weights of one layer-direction (tests compare them with the float32 ones).</summary>
    public (IReducedMatrix InputWeights, IReducedMatrix RecurrentWeights) Weights(int layer, int direction)
    {
        var c = _cells[layer * Spec.Directions + direction];
        return (c.Wih, c.Whh);
    }

    private static IReducedMatrix Reduce(ReadOnlySpan<float> w, int rows, int columns, RecurrentServingPrecision precision) =>
        precision == RecurrentServingPrecision.Int8 ? new Int8Matrix(w, rows, columns) : new BFloat16Matrix(w, rows, columns);

    /// <summary>A workspace for one thread (<see cref="Run"/> grows it to the sequence length).</summary>
    public Workspace CreateWorkspace() => new(Spec);

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

        ReadOnlySpan<float> input;
        int inSize = spec.LayerInputSize(0);
        if (spec.VocabularySize > 0)
        {
            Embed(sequence, T, ws.Embedded);
            input = ws.Embedded.AsSpan(0, T * inSize);
        }
        else
        {
            input = sequence.Slice(0, T * inSize);
        }

        var gates = ws.Gates.AsSpan(0, G * H);
        var gh = ws.RecurrentGates.AsSpan(0, G * H);
        for (int l = 0; l < layers; l++)
        {
            bool top = l == layers - 1;
            var layerOut = top ? default : ws.LayerOutputs[l & 1].AsSpan(0, T * D);
            for (int d = 0; d < dirs; d++)
            {
                var cell = _cells[l * dirs + d];
                var h = ws.H0.AsSpan(0, H);
                var hNext = ws.H1.AsSpan(0, H);
                var c = ws.C0.AsSpan(0, H);
                var cNext = ws.C1.AsSpan(0, H);
                h.Clear();
                c.Clear();
                for (int s = 0; s < T; s++)
                {
                    int pos = d == 0 ? s : T - 1 - s;
                    var x = input.Slice(pos * inSize, inSize);
                    Step(cell, x, h, c, hNext, cNext, gates, gh, ws, first: s == 0);
                    var t = h; h = hNext; hNext = t;
                    var u = c; c = cNext; cNext = u;
                    if (!top) h.CopyTo(layerOut.Slice(pos * D + d * H, H));
                }

                if (top) h.CopyTo(ws.HeadInput.AsSpan(d * H, H));
            }

            if (!top)
            {
                input = layerOut;
                inSize = D;
            }
        }

        // Head (float32): y = W_out · [h_fwd ‖ h_rev] + b_out.
        var w = _layout.HeadWeight.Of(_parameters);
        var b = _layout.HeadBias.Of(_parameters);
        var headIn = ws.HeadInput.AsSpan(0, D);
        for (int o = 0; o < spec.OutputSize; o++) output[o] = TensorPrimitives.Dot(w.Slice(o * D, D), headIn) + b[o];
    }

    /// <summary>One step of one layer-direction: h (and c) in, hNext (and cNext) out. The only calls into the float gate kernels.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Step(CellWeights cell, ReadOnlySpan<float> x, ReadOnlySpan<float> h, ReadOnlySpan<float> c, Span<float> hNext, Span<float> cNext,
        Span<float> gates, Span<float> gh, Workspace ws, bool first)
    {
        int H = Spec.HiddenSize;
        var scratch = ws.Scratch;
        switch (Spec.Cell)
        {
            case CellKind.Lstm:
                cell.Wih.Multiply(x, gates, cell.Bias, scratch);
                if (!first) cell.Whh.Multiply(h, gates, gates, scratch);        // h = 0 at the first step: W_hh·h = 0
                GateKernels.LstmForward(gates, c, cNext, ws.TanhC.AsSpan(0, H), hNext, 1, H);
                break;
            case CellKind.Gru:
                cell.Wih.Multiply(x, gates, cell.Bias, scratch);
                if (first) cell.BiasHh.CopyTo(gh);
                else cell.Whh.Multiply(h, gh, cell.BiasHh, scratch);
                GateKernels.GruForward(gates, gh, h, ws.GhN.AsSpan(0, H), hNext, 1, H);
                break;
            default:
                cell.Wih.Multiply(x, gates, cell.Bias, scratch);
                if (!first) cell.Whh.Multiply(h, gates, gates, scratch);
                GateKernels.RnnForward(gates, hNext, H);
                break;
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

    /// <summary>The reduced weights and float32 biases of one layer-direction. Bias: b_ih + b_hh (LSTM, RNN) or b_ih (GRU).</summary>
    private sealed record CellWeights(IReducedMatrix Wih, IReducedMatrix Whh, float[] Bias, float[] BiasHh);

    /// <summary>One thread's buffers: states, gates, the lower layers' outputs and the products' scratch.</summary>
    internal sealed class Workspace
    {
        private readonly NetworkSpec _spec;
        private int _length;

        public Workspace(NetworkSpec spec)
        {
            _spec = spec;
            int H = spec.HiddenSize, GH = spec.Gates * H;
            H0 = new float[H];
            H1 = new float[H];
            C0 = new float[H];
            C1 = new float[H];
            TanhC = new float[H];
            GhN = new float[H];
            Gates = new float[GH];
            RecurrentGates = new float[GH];
            HeadInput = new float[spec.OutputWidth];
        }

        public float[] H0 { get; }
        public float[] H1 { get; }
        public float[] C0 { get; }
        public float[] C1 { get; }
        public float[] TanhC { get; }
        public float[] GhN { get; }
        public float[] Gates { get; }
        public float[] RecurrentGates { get; }
        public float[] HeadInput { get; }
        public float[] Embedded { get; private set; } = [];
        public float[][] LayerOutputs { get; private set; } = [[], []];
        public QuantizedScratch Scratch { get; } = new();

        public void EnsureLength(int T)
        {
            if (T <= _length) return;
            int cap = Math.Max(T, Math.Max(64, _length * 2));
            if (_spec.VocabularySize > 0) Embedded = new float[(long)cap * _spec.EmbeddingSize];
            if (_spec.NumberOfLayers > 1)
                LayerOutputs = [new float[(long)cap * _spec.OutputWidth], _spec.NumberOfLayers > 2 ? new float[(long)cap * _spec.OutputWidth] : []];
            _length = cap;
        }
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

    public QuantizedPredictor(NetworkSpec spec, float[] parameters, RecurrentServingPrecision precision)
    {
        _network = new QuantizedNetwork(spec, parameters, precision);
        _workspaces = new ThreadLocal<QuantizedNetwork.Workspace>(_network.CreateWorkspace);
    }

    public NetworkSpec Spec => _network.Spec;

    public RecurrentServingPrecision Precision => _network.Precision;

    /// <summary>The network (tests read its reduced weights).</summary>
    internal QuantizedNetwork Network => _network;

    /// <summary>Runs one sequence (T · F values, time-major; token ids as floats) and writes the O head outputs.</summary>
    public void Predict(ReadOnlySpan<float> sequence, Span<float> output)
    {
        int F = Spec.InputSize;
        if (sequence.Length == 0 || sequence.Length % F != 0)
            throw new ArgumentException($"A sequence needs a positive multiple of {F} values ({F} features per step); got {sequence.Length}.", nameof(sequence));
        _network.Run(sequence, sequence.Length / F, output, _workspaces.Value!);
    }
}
