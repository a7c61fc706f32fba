using System.Numerics.Tensors;
using Microsoft.ML.Recurrent.Engine.Kernels;
using Microsoft.ML.Recurrent.Engine.Layers;

namespace Microsoft.ML.Recurrent.Engine;

/// <summary>
/// Embedding (optional; row 0 is the unknown-token vector, zero in models trained before it was learned) → stacked, optionally bidirectional recurrent layers (dropout between layers in
/// training) → dense head. Holds the workspaces for one batch at a time: one instance per thread.
/// Parameters and gradients live in flat buffers laid out by <see cref="ParameterLayout"/>.
/// </summary>
internal sealed class RecurrentNetwork
{
    private readonly RecurrentLayer[] _cells;        // [layer · dirs + dir]
    private readonly int _layers, _dirs, _hidden, _width;
    private int _capB, _capT;

    private float[] _embedded = [];                  // (T, B, E)
    private float[][] _layerOut = [];                // [l] (T, B, D): position-space outputs of layer l (bidirectional only;
                                                     // a unidirectional layer's output is its cell's hidden states)
    private float[][] _layerIn = [];                 // [l ≥ 1] (T, B, D): layer l-1 outputs after dropout
    private float[][] _dropMask = [];                // [l ≥ 1] (T, B, D): 0 or 1/(1 − p)
    private float[] _reverseIn = [];                 // (T, B, I_max): gathered reverse-direction input
    private float[] _dirOut = [];                    // (T, B, H): one direction's step-space output gradient
    private float[] _dLayer = [], _dLayerNext = [];  // (T, B, max(D, I_0)): gradient flowing down the stack
    private float[] _headIn = [];                    // (B, D)
    private float[] _dHeadIn = [];                   // (B, D)
    private float[] _outputs = [];                   // (B, O) or (T, B, O)
    private float[] _finalH = [], _finalC = [];      // (L · dirs, B, H)
    private float[] _dInput = [];                    // (T, B, F)
    private float[] _dH0 = [], _dC0 = [];            // (L · dirs, B, H)
    private float[] _dFinalScratch = [];             // (B, H)
    private SequenceBatch? _batch;
    private SequenceBatch? _activeAtOwner;
    private Func<int, int>? _activeAt;
    private bool _training;                          // the last Forward was a training pass (it kept what Backward reads)
    private bool _inputGradientsPending;             // Backward left layer 0's dX to the first read of InputGradients

    public RecurrentNetwork(ParameterLayout layout, float[] parameters, float[]? gradients, int capacityBatch, int capacityLength)
    {
        if (parameters.Length != layout.Count)
            throw new ArgumentException($"Expected {layout.Count} parameters, got {parameters.Length}.", nameof(parameters));
        if (gradients is not null && gradients.Length != layout.Count)
            throw new ArgumentException($"Expected {layout.Count} gradients, got {gradients.Length}.", nameof(gradients));
        Layout = layout;
        Spec = layout.Spec;
        Parameters = parameters;
        Gradients = gradients ?? new float[layout.Count];
        _layers = Spec.NumberOfLayers;
        _dirs = Spec.Directions;
        _hidden = Spec.HiddenSize;
        _width = Spec.OutputWidth;
        _cells = new RecurrentLayer[_layers * _dirs];
        for (int l = 0; l < _layers; l++)
            for (int d = 0; d < _dirs; d++)
                _cells[l * _dirs + d] = RecurrentLayer.Create(Spec.Cell, Spec.LayerInputSize(l), _hidden, layout.Cell(l, d));
        EnsureCapacity(capacityBatch, capacityLength, training: gradients is not null);
    }

    /// <summary>Worker threads for the GEMMs; 0 = <see cref="Gemm.DefaultThreads"/> (all cores).</summary>
    public int Threads
    {
        get => _threads;
        set { _threads = value; foreach (var c in _cells) c.Threads = value; }
    }

    private int _threads;

    /// <summary>
    /// Rows of a batch are split between threads for the time loop only when each part gets at least this many
    /// flops of recurrent products (<see cref="RecurrentLayer.DefaultRowSplitMinFlops"/>; tests lower it).
    /// </summary>
    public double RowSplitMinFlops
    {
        get => _cells[0].RowSplitMinFlops;
        set { foreach (var c in _cells) c.RowSplitMinFlops = value; }
    }

    /// <summary>
    /// A single sequence's hidden units are split between threads only when each part multiplies by at least this
    /// many recurrent weights (<see cref="RecurrentLayer.DefaultUnitSplitMinWeights"/>; tests lower it).
    /// </summary>
    public int UnitSplitMinWeights
    {
        get => _cells[0].UnitSplitMinWeights;
        set { foreach (var c in _cells) c.UnitSplitMinWeights = value; }
    }

    /// <summary>
    /// Whether a single sequence's loop times split and unsplit passes and runs the faster way (the default; see
    /// <see cref="SplitChooser"/>); off, it splits whenever it can (tests that must see a split).
    /// </summary>
    public bool ChooseUnitSplit
    {
        get => _cells[0].ChooseUnitSplit;
        set { foreach (var c in _cells) c.ChooseUnitSplit = value; }
    }

    /// <summary>
    /// Says that <see cref="Parameters"/> were written outside an optimizer step (which says so itself): the layers'
    /// transposed weight copies are rebuilt on the next forward pass. Every network over the same parameter buffer sees
    /// it (the version belongs to the buffer, see <see cref="ParameterVersions"/>). Writing weights without calling it
    /// leaves the next passes on the old weights.
    /// </summary>
    public void ParametersChanged() => ParameterVersions.Changed(Parameters);

    /// <summary>Times any layer packed its weights (tests: once per change of the parameters, never per pass).</summary>
    internal long WeightPacks
    {
        get
        {
            long packs = 0;
            foreach (var c in _cells) packs += c.WeightPacks;
            return packs;
        }
    }

    /// <summary>The most parts any layer's row loop cut its rows into in the last forward or backward pass.</summary>
    public int LastRowParts
    {
        get
        {
            int parts = 1;
            foreach (var c in _cells) parts = Math.Max(parts, c.LastRowParts);
            return parts;
        }
    }

    /// <summary>The fewest threads any layer's time loop ran on in the last forward or backward pass (1: some loop ran alone).</summary>
    public int LastLoopParts
    {
        get
        {
            int parts = int.MaxValue;
            foreach (var c in _cells) parts = Math.Min(parts, c.LastLoopParts);
            return parts;
        }
    }

    public NetworkSpec Spec { get; }
    public ParameterLayout Layout { get; }
    public float[] Parameters { get; }
    public float[] Gradients { get; }

    /// <summary>(L · dirs, B, H) final hidden states of the last forward pass (PyTorch's h_n).</summary>
    public ReadOnlySpan<float> FinalHidden => _finalH.AsSpan(0, _cells.Length * (_batch?.Count ?? 0) * _hidden);

    /// <summary>(L · dirs, B, H) final LSTM cell states (PyTorch's c_n); empty for other cells.</summary>
    public ReadOnlySpan<float> FinalCell => Spec.Cell == CellKind.Lstm ? _finalC.AsSpan(0, _cells.Length * (_batch?.Count ?? 0) * _hidden) : default;

    /// <summary>(T, B, F) gradient w.r.t. the inputs after <see cref="Backward"/>; empty with an embedding.</summary>
    /// <remarks>
    /// Computed on first read after <see cref="Backward"/> (a training loop never pays for it), from the gate gradients
    /// Backward left and the input weights: read it before the parameters change.
    /// </remarks>
    public ReadOnlySpan<float> InputGradients
    {
        get
        {
            if (Spec.VocabularySize > 0 || _batch is null) return default;
            if (_inputGradientsPending) ComputeInputGradients();
            return _dInput.AsSpan(0, _batch.MaxLength * _batch.Count * Spec.InputSize);
        }
    }

    /// <summary>(L · dirs, B, H) gradient w.r.t. the initial hidden state after <see cref="Backward"/>.</summary>
    public ReadOnlySpan<float> InitialHiddenGradients => _dH0.AsSpan(0, _cells.Length * (_batch?.Count ?? 0) * _hidden);

    /// <summary>(L · dirs, B, H) gradient w.r.t. the initial LSTM cell state after <see cref="Backward"/>.</summary>
    public ReadOnlySpan<float> InitialCellGradients => _dC0.AsSpan(0, _cells.Length * (_batch?.Count ?? 0) * _hidden);

    private void EnsureCapacity(int batch, int length, bool training)
    {
        foreach (var c in _cells) c.EnsureCapacity(batch, length, training);
        if (batch <= _capB && length <= _capT && (!training || _dLayer.Length > 0)) return;
        _capB = Math.Max(batch, _capB);
        _capT = Math.Max(length, _capT);
        long tb = (long)_capB * _capT;
        int i0 = Spec.LayerInputSize(0), o = Spec.OutputSize, h = _hidden;
        if (Spec.VocabularySize > 0) _embedded = new float[tb * Spec.EmbeddingSize];
        _layerOut = new float[_layers][];
        _layerIn = new float[_layers][];
        _dropMask = new float[_layers][];
        for (int l = 0; l < _layers; l++)
        {
            _layerOut[l] = _dirs == 2 ? new float[tb * _width] : [];
            if (l > 0 && Spec.Dropout > 0f)
            {
                _layerIn[l] = new float[tb * _width];
                _dropMask[l] = new float[tb * _width];
            }
        }

        _reverseIn = _dirs == 2 ? new float[tb * Math.Max(i0, _width)] : [];
        _headIn = new float[_capB * _width];
        _outputs = new float[(Spec.Output == OutputMode.EveryStep || o == 0 ? tb : _capB) * Math.Max(o, o == 0 ? _width : 0)];
        _finalH = new float[_cells.Length * _capB * h];
        _finalC = Spec.Cell == CellKind.Lstm ? new float[_cells.Length * _capB * h] : [];
        if (training || _dLayer.Length > 0)
        {
            _dirOut = _dirs == 2 ? new float[tb * h] : [];
            _dLayer = new float[tb * Math.Max(i0, _width)];
            _dLayerNext = new float[tb * Math.Max(i0, _width)];
            _dHeadIn = new float[_capB * _width];
            _dInput = new float[tb * Spec.InputSize];
            _dH0 = new float[_cells.Length * _capB * h];
            _dC0 = new float[_cells.Length * _capB * h];
            _dFinalScratch = new float[_capB * h];
        }
    }

    /// <summary>
    /// Forward pass. Returns the head outputs: LastHidden → (B, O); EveryStep → (T, B, O); no head (O = 0) →
    /// the top layer's outputs (T, B, D). Rows are in the batch's (sorted) order.
    /// </summary>
    public ReadOnlySpan<float> Forward(SequenceBatch batch, bool training = false, Random? dropoutRandom = null)
    {
        if (batch.InputSize != Spec.InputSize)
            throw new ArgumentException($"The batch has {batch.InputSize} features per step; the network expects {Spec.InputSize}.", nameof(batch));
        int B = batch.Count, T = batch.MaxLength;
        EnsureCapacity(B, T, training);
        _batch = batch;
        _inputGradientsPending = false;
        _training = training;
        int[] lengths = batch.Lengths;
        if (!ReferenceEquals(batch, _activeAtOwner)) { _activeAtOwner = batch; _activeAt = batch.ActiveAt; } // no delegate per call
        var shape = new BatchShape(B, T, lengths, _activeAt!);

        // Layer 0 input: the raw features, or embedded token ids.
        ReadOnlySpan<float> input;
        int inSize = Spec.LayerInputSize(0);
        if (Spec.VocabularySize > 0)
        {
            Embed(batch);
            input = _embedded.AsSpan(0, T * B * inSize);
        }
        else
        {
            input = batch.Inputs.AsSpan(0, T * B * inSize);
        }

        for (int l = 0; l < _layers; l++)
        {
            if (l > 0)
            {
                inSize = _width;
                input = LayerOutput(l - 1, B, T);
                if (training && Spec.Dropout > 0f)
                {
                    ApplyDropout(l, B, T, dropoutRandom ?? throw new ArgumentNullException(nameof(dropoutRandom), "Dropout in training needs a random source."));
                    input = _layerIn[l].AsSpan(0, T * B * _width);
                }
            }

            // A unidirectional layer's output is its cell's hidden states, read in place. A bidirectional layer's
            // two directions are written side by side (position space) — unless nothing reads them (the top layer
            // under a last-hidden head).
            bool scatter = _dirs == 2 && (l < _layers - 1 || Spec.OutputSize == 0 || Spec.Output == OutputMode.EveryStep);
            var output = _dirs == 2 ? _layerOut[l].AsSpan(0, T * B * _width) : default;
            for (int d = 0; d < _dirs; d++)
            {
                var cell = _cells[l * _dirs + d];
                int k = l * _dirs + d;
                ReadOnlySpan<float> h0 = batch.InitialHidden is null ? default : batch.InitialHidden.AsSpan(k * B * _hidden, B * _hidden);
                ReadOnlySpan<float> c0 = batch.InitialCell is null || Spec.Cell != CellKind.Lstm ? default : batch.InitialCell.AsSpan(k * B * _hidden, B * _hidden);
                ReadOnlySpan<float> x = input;
                if (d == 1)
                {
                    var rev = _reverseIn.AsSpan(0, T * B * inSize);
                    Reverse(input, rev, inSize, B, T, lengths);
                    x = rev;
                }

                cell.Forward(Parameters, x, shape, h0, c0, keepForBackward: training);
                // Write the direction's outputs into columns [d·H, (d+1)·H) of the layer output (position space).
                var hs = cell.Hidden;
                for (int r = 0; scatter && r < B; r++)
                {
                    int len = lengths[r];
                    for (int s = 0; s < T; s++)
                    {
                        int pos = d == 0 ? s : len - 1 - s;
                        if (s >= len) { output.Slice((s * B + r) * _width + d * _hidden, _hidden).Clear(); continue; }
                        hs.AsSpan(((s + 1) * B + r) * _hidden, _hidden).CopyTo(output.Slice((pos * B + r) * _width + d * _hidden, _hidden));
                    }
                }

                cell.FinalHidden.AsSpan(0, B * _hidden).CopyTo(_finalH.AsSpan(k * B * _hidden));
                if (Spec.Cell == CellKind.Lstm) cell.FinalCell.AsSpan(0, B * _hidden).CopyTo(_finalC.AsSpan(k * B * _hidden));
            }
        }

        return Head(batch);
    }

    private ReadOnlySpan<float> Head(SequenceBatch batch)
    {
        int B = batch.Count, T = batch.MaxLength, O = Spec.OutputSize, D = _width;
        var top = LayerOutput(_layers - 1, B, T);
        if (O == 0) return top;
        var w = Layout.HeadWeight.Of(Parameters);
        var bias = Layout.HeadBias.Of(Parameters);
        if (Spec.Output == OutputMode.LastHidden)
        {
            var headIn = HeadInput(B);
            for (int d = 0; _dirs == 2 && d < _dirs; d++)
            {
                int k = (_layers - 1) * _dirs + d;
                for (int r = 0; r < B; r++)
                    _finalH.AsSpan((k * B + r) * _hidden, _hidden).CopyTo(_headIn.AsSpan(r * D + d * _hidden, _hidden));
            }

            var y = _outputs.AsSpan(0, B * O);
            Gemm.Multiply(false, true, B, O, D, 1f, headIn, D, w, D, 0f, y, O, threads: Threads);
            for (int r = 0; r < B; r++) TensorPrimitives.Add(y.Slice(r * O, O), bias, y.Slice(r * O, O));
            return y;
        }
        else
        {
            var y = _outputs.AsSpan(0, T * B * O);
            Gemm.Multiply(false, true, T * B, O, D, 1f, top, D, w, D, 0f, y, O, threads: Threads);
            for (int t = 0; t < T; t++)
            {
                int b = batch.ActiveAt(t);
                for (int r = 0; r < b; r++) TensorPrimitives.Add(y.Slice((t * B + r) * O, O), bias, y.Slice((t * B + r) * O, O));
                y.Slice((t * B + b) * O, (B - b) * O).Clear();
            }

            return y;
        }
    }

    /// <summary>
    /// Backpropagation through time for the last <see cref="Forward"/>, which must have been a training pass
    /// (<c>training: true</c>; an inference pass does not keep what the backward pass reads, and Backward after one
    /// throws <see cref="InvalidOperationException"/>). dOutputs has the shape Forward returned (padding entries must
    /// be zero). dFinalHidden/dFinalCell: optional (L · dirs, B, H) gradients w.r.t. the final states. Adds into
    /// <see cref="Gradients"/> (the caller zeroes them between steps).
    /// </summary>
    public void Backward(ReadOnlySpan<float> dOutputs, ReadOnlySpan<float> dFinalHidden = default, ReadOnlySpan<float> dFinalCell = default)
    {
        var batch = _batch ?? throw new InvalidOperationException("Backward needs a Forward pass first.");
        if (!_training)
            throw new InvalidOperationException("Backward needs a training forward pass: the last Forward ran with training = false, which keeps only what inference needs. Call Forward(batch, training: true) before Backward.");

        int B = batch.Count, T = batch.MaxLength, O = Spec.OutputSize, D = _width, H = _hidden;
        int[] lengths = batch.Lengths;
        var shape = new BatchShape(B, T, lengths, _activeAt!);

        // Head: gradient w.r.t. the top layer's per-step outputs (dLayer) and/or its final states (dHeadIn).
        var dTop = _dLayer.AsSpan(0, T * B * D);
        bool topHasStepGrad = true;
        var dHeadIn = _dHeadIn.AsSpan(0, B * D);
        dHeadIn.Clear();
        if (O == 0)
        {
            dOutputs.Slice(0, T * B * D).CopyTo(dTop);
        }
        else
        {
            var w = Layout.HeadWeight.Of(Parameters);
            var gw = Layout.HeadWeight.Of(Gradients);
            var gb = Layout.HeadBias.Of(Gradients);
            int rows = Spec.Output == OutputMode.LastHidden ? B : T * B;
            var dy = dOutputs.Slice(0, rows * O);
            ReadOnlySpan<float> headIn = Spec.Output == OutputMode.LastHidden ? HeadInput(B) : LayerOutput(_layers - 1, B, T);
            Gemm.Multiply(true, false, O, D, rows, 1f, dy, O, headIn, D, 1f, gw, D, threads: Threads);
            for (int r = 0; r < rows; r++) TensorPrimitives.Add(gb, dy.Slice(r * O, O), gb);
            if (Spec.Output == OutputMode.LastHidden)
            {
                Gemm.Multiply(false, false, B, D, O, 1f, dy, O, w, D, 0f, dHeadIn, D, threads: Threads);
                topHasStepGrad = false;
            }
            else
            {
                Gemm.Multiply(false, false, T * B, D, O, 1f, dy, O, w, D, 0f, dTop, D, threads: Threads);
            }
        }

        for (int l = _layers - 1; l >= 0; l--)
        {
            int inSize = Spec.LayerInputSize(l);
            ReadOnlySpan<float> input = l == 0
                ? (Spec.VocabularySize > 0 ? _embedded.AsSpan(0, T * B * inSize) : batch.Inputs.AsSpan(0, T * B * inSize))
                : _training && Spec.Dropout > 0f ? _layerIn[l].AsSpan(0, T * B * inSize) : LayerOutput(l - 1, B, T);
            bool stepGrad = l < _layers - 1 || topHasStepGrad;
            var dIn = _dLayerNext.AsSpan(0, T * B * inSize);
            for (int d = 0; d < _dirs; d++)
            {
                int k = l * _dirs + d;
                var cell = _cells[k];
                // Step-space gradient of this direction's outputs: a unidirectional layer's is the layer's own gradient
                // (the loop reads active rows only, so padding rows need not be cleared).
                var dOut = _dirs == 1 ? _dLayer.AsSpan(0, T * B * H) : _dirOut.AsSpan(0, T * B * H);
                if (stepGrad && _dirs == 2)
                {
                    for (int r = 0; r < B; r++)
                    {
                        int len = lengths[r];
                        for (int s = 0; s < T; s++)
                        {
                            var dst = dOut.Slice((s * B + r) * H, H);
                            if (s >= len) { dst.Clear(); continue; }
                            int pos = d == 0 ? s : len - 1 - s;
                            _dLayer.AsSpan((pos * B + r) * D + d * H, H).CopyTo(dst);
                        }
                    }
                }

                // Gradient w.r.t. this direction's final state: head (top layer) + caller's.
                var dFin = _dFinalScratch.AsSpan(0, B * H);
                dFin.Clear();
                bool hasFin = false;
                if (l == _layers - 1 && !topHasStepGrad)
                {
                    for (int r = 0; r < B; r++) dHeadIn.Slice(r * D + d * H, H).CopyTo(dFin.Slice(r * H, H));
                    hasFin = true;
                }

                if (!dFinalHidden.IsEmpty)
                {
                    TensorPrimitives.Add(dFin, dFinalHidden.Slice(k * B * H, B * H), dFin);
                    hasFin = true;
                }

                ReadOnlySpan<float> dFinC = dFinalCell.IsEmpty ? default : dFinalCell.Slice(k * B * H, B * H);
                ReadOnlySpan<float> x = input;
                if (d == 1)
                {
                    var rev = _reverseIn.AsSpan(0, T * B * inSize);
                    Reverse(input, rev, inSize, B, T, lengths); // forward pass overwrote it for later layers
                    x = rev;
                }

                // Layer 0's input gradient is only needed to train an embedding; otherwise it waits for InputGradients.
                bool needDx = l > 0 || Spec.VocabularySize > 0;
                cell.Backward(Parameters, Gradients, x, shape, stepGrad ? dOut : default, hasFin ? dFin : default, dFinC, computeInputGradient: needDx);
                if (needDx)
                {
                    var dx = cell.InputGradient.AsSpan(0, T * B * inSize);
                    if (d == 0) dx.CopyTo(dIn);
                    else AddReversed(dx, dIn, inSize, B, T, lengths);
                }
                cell.InitialHiddenGradient.AsSpan(0, B * H).CopyTo(_dH0.AsSpan(k * B * H));
                if (Spec.Cell == CellKind.Lstm) cell.InitialCellGradient.AsSpan(0, B * H).CopyTo(_dC0.AsSpan(k * B * H));
            }

            if (l > 0 && _training && Spec.Dropout > 0f)
                TensorPrimitives.Multiply(dIn, _dropMask[l].AsSpan(0, T * B * inSize), dIn);
            (_dLayer, _dLayerNext) = (_dLayerNext, _dLayer);
        }

        // _dLayer now holds the gradient w.r.t. layer 0's input.
        var dInput0 = _dLayer.AsSpan(0, T * B * Spec.LayerInputSize(0));
        if (Spec.VocabularySize > 0)
        {
            var gE = Layout.Embedding.Of(Gradients);
            int E = Spec.EmbeddingSize;
            for (int t = 0; t < T; t++)
            {
                int b = batch.ActiveAt(t);
                for (int r = 0; r < b; r++)
                {
                    int id = (int)batch.Inputs[t * B + r];
                    // Id 0 (unknown) trains row 0 like any other row: the learned unknown-token vector (padding is never read).
                    TensorPrimitives.Add(gE.Slice(id * E, E), dInput0.Slice((t * B + r) * E, E), gE.Slice(id * E, E));
                }
            }
        }
        else
        {
            _inputGradientsPending = true;
        }
    }

    /// <summary>(T, B, F) = Σ over layer 0's directions of its cells' dX (the reverse one mapped back to positions).</summary>
    private void ComputeInputGradients()
    {
        var batch = _batch!;
        int B = batch.Count, T = batch.MaxLength, F = Spec.InputSize;
        var dInput = _dInput.AsSpan(0, T * B * F);
        for (int d = 0; d < _dirs; d++)
        {
            _cells[d].ComputeInputGradient(Parameters);
            var dx = _cells[d].InputGradient.AsSpan(0, T * B * F);
            if (d == 0) dx.CopyTo(dInput);
            else AddReversed(dx, dInput, F, B, T, batch.Lengths);
        }

        _inputGradientsPending = false;
    }

    private void Embed(SequenceBatch batch)
    {
        int B = batch.Count, T = batch.MaxLength, E = Spec.EmbeddingSize, V = Spec.VocabularySize;
        var table = Layout.Embedding.Of(Parameters);
        var dst = _embedded.AsSpan(0, T * B * E);
        for (int t = 0; t < T; t++)
        {
            for (int r = 0; r < B; r++)
            {
                var row = dst.Slice((t * B + r) * E, E);
                float v = batch.Inputs[t * B + r];
                int id = (int)v;
                if (id != v || id < 0 || id >= V)
                    throw new ArgumentException($"Token id {v} at step {t} of sequence {batch.Order[r]} is outside [0, {V}).");
                if (t >= batch.Lengths[r]) row.Clear(); // padding; id 0 (unknown) reads row 0, the learned unknown-token vector
                else table.Slice(id * E, E).CopyTo(row);
            }
        }
    }

    private void ApplyDropout(int layer, int B, int T, Random random)
    {
        int count = T * B * _width;
        float keep = 1f - Spec.Dropout, scale = 1f / keep;
        var mask = _dropMask[layer].AsSpan(0, count);
        for (int i = 0; i < count; i++) mask[i] = random.NextSingle() < keep ? scale : 0f;
        TensorPrimitives.Multiply(LayerOutput(layer - 1, B, T), mask, _layerIn[layer].AsSpan(0, count));
    }

    /// <summary>(T, B, D) position-space outputs of layer <paramref name="l"/> from the last forward pass.</summary>
    private Span<float> LayerOutput(int l, int B, int T) =>
        _dirs == 1 ? _cells[l].Hidden.AsSpan(B * _hidden, T * B * _hidden) : _layerOut[l].AsSpan(0, T * B * _width);

    /// <summary>(B, D) what a last-hidden head reads: the top layer's final hidden states (both directions side by side).</summary>
    private Span<float> HeadInput(int B) =>
        _dirs == 1 ? _finalH.AsSpan((_layers - 1) * B * _hidden, B * _hidden) : _headIn.AsSpan(0, B * _width);

    /// <summary>dst[s, r] = src[len_r − 1 − s, r] for s &lt; len_r, zero otherwise.</summary>
    private static void Reverse(ReadOnlySpan<float> src, Span<float> dst, int width, int B, int T, int[] lengths)
    {
        for (int r = 0; r < B; r++)
        {
            int len = lengths[r];
            for (int s = 0; s < T; s++)
            {
                var d = dst.Slice((s * B + r) * width, width);
                if (s >= len) d.Clear();
                else src.Slice(((len - 1 - s) * B + r) * width, width).CopyTo(d);
            }
        }
    }

    /// <summary>dst[len_r − 1 − s, r] += src[s, r] for s &lt; len_r.</summary>
    private static void AddReversed(ReadOnlySpan<float> src, Span<float> dst, int width, int B, int T, int[] lengths)
    {
        for (int r = 0; r < B; r++)
        {
            int len = lengths[r];
            for (int s = 0; s < len; s++)
            {
                var d = dst.Slice(((len - 1 - s) * B + r) * width, width);
                TensorPrimitives.Add(d, src.Slice((s * B + r) * width, width), d);
            }
        }
    }
}
