using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.ML.Recurrent.Engine.Kernels;

namespace Microsoft.ML.Recurrent.Engine.Layers;

/// <summary>A pinned float buffer whose first element sits on a 64-byte boundary (whole-vector loads never split a cache line).</summary>
internal sealed unsafe class AlignedBuffer
{
    private float[] _array = [];

    public float* Pointer { get; private set; }

    public int Length { get; private set; }

    /// <summary>Grows to at least <paramref name="length"/> floats (contents are not kept; new memory is zero).</summary>
    public void Ensure(int length)
    {
        if (length <= Length && _array.Length > 0) return;
        _array = GC.AllocateArray<float>(Math.Max(length, 1) + 16, pinned: true);
        nint start = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_array));
        Pointer = (float*)((start + 63) & ~(nint)63);
        Length = length;
    }

    public Span<float> AsSpan(int start, int length) => new(Pointer + start, length);
}

/// <summary>
/// Transposed copies of one layer-direction's weights for the time loop's row products
/// (<see cref="RowProduct"/> wants B = Wᵀ), cut by hidden units into parts: part q owns
/// units [First(q), First(q) + Units(q)) and holds the columns {g·H + j} of every gate g for those units,
/// gate-major: column g·n + (j − First(q)). One part is the plain Wᵀ (H, G·H). The copies are row-major, or in column
/// panels (<see cref="RowProduct.PackTransposedPanels"/>) for the row-split loop. A part remembers the parameter
/// buffer and its <see cref="ParameterVersions"/> version it was packed from and is rebuilt only when either
/// differs: whoever writes the weights says so (the optimizers' step does), so inference over fixed weights packs
/// once, a training step repacks, and no pass compares the weights themselves.
/// </summary>
internal sealed unsafe class PackedWeights
{
    private readonly int _gates, _hidden, _input;
    private readonly CellSlices _slices;
    private readonly bool _withInput, _foldHiddenBias;
    private readonly int _panelWidth;
    private Part[] _parts = [];

    /// <param name="gates">G: gate blocks of the cell.</param>
    /// <param name="inputSize">I: the layer's input width.</param>
    /// <param name="hidden">H: hidden units.</param>
    /// <param name="slices">Where the layer-direction's weights sit in the flat parameter buffer.</param>
    /// <param name="withInput">Also pack W_ihᵀ (I, G·n) and the biases (the batch-1 loop does its own input projection).</param>
    /// <param name="foldHiddenBias">The input-projection bias is b_ih + b_hh (false for GRU, whose b_hn stays inside r ⊙ (…)).</param>
    /// <param name="panelWidth">
    /// Columns of the copies' column panels (while <see cref="UsePanels"/>; 0: rows): <see cref="RowProduct.PanelWidth"/>
    /// for the row-split loop, whose row tiles reuse each panel over many rows of h; <see cref="RowProduct.WidePanelWidth"/>
    /// for the batch-1 loop, whose one row streams each part once per step through the 1 × 16-vector tile, one contiguous
    /// panel after the other.
    /// </param>
    public PackedWeights(int gates, int inputSize, int hidden, CellSlices slices, bool withInput, bool foldHiddenBias, int panelWidth)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(panelWidth);
        _panelWidth = panelWidth;
        _foldHiddenBias = foldHiddenBias;
        _gates = gates;
        _input = inputSize;
        _hidden = hidden;
        _slices = slices;
        _withInput = withInput;
    }

    public int Parts => _parts.Length;

    /// <summary>
    /// The row-split loop's copies in column panels, and its backward products' weights too (else plain rows); benchmarks
    /// turn it off for a same-process A/B, tests to compare the bits. The bits do not depend on it. Why panels: from rows
    /// a power-of-two number of floats apart (G·n = 512: 2 KiB) a column panel of the copy falls on a few L1 sets and
    /// each of its rows on another page, so every row tile streams it again from L2 at a fraction of the speed; a
    /// panel's k × 16 floats are contiguous (docs/performance.md, "Weights in column panels"). They replace rows padded by
    /// one line (G·n ≥ 512), which spread the sets but not the pages.
    /// </summary>
    internal static bool UsePanels = true;

    private long _packCount;

    /// <summary>Times any part was packed (tests: a change of the weights is seen, an unchanged buffer is not repacked).</summary>
    public long PackCount => Volatile.Read(ref _packCount);

    /// <summary>
    /// Cuts the hidden units into <paramref name="parts"/> nearly equal ranges, boundaries on multiples of 4 units
    /// where the ranges stay at least 4 wide (whole 16-float vectors of LSTM gate columns).
    /// </summary>
    public void Configure(int parts)
    {
        if (parts == _parts.Length) return;
        if (parts < 1 || parts > _hidden) throw new ArgumentOutOfRangeException(nameof(parts), parts, $"must be in [1, {_hidden}]");
        var list = new Part[parts];
        for (int q = 0, first = 0; q < parts; q++)
        {
            int end = (int)((long)_hidden * (q + 1) / parts);
            if (q < parts - 1 && _hidden / parts >= 8) end -= end % 4;
            int n = end - first;
            list[q] = new Part(first, n, _gates, _hidden, _withInput ? _input : 0);
            list[q].SetLayout(Layout);
            first += n;
        }

        _parts = list;
    }

    public int First(int part) => _parts[part].First;

    public int Units(int part) => _parts[part].Units;

    /// <summary>(H, G·n) W_hhᵀ of part <paramref name="part"/>, row stride <see cref="RecurrentStride"/>, in panels <see cref="RecurrentPanelStride"/> apart.</summary>
    public float* Recurrent(int part) => _parts[part].Whh.Pointer;

    /// <summary>Row stride of <see cref="Recurrent"/>: G·n, or the panel width in panels; valid after <see cref="Refresh"/>.</summary>
    public int RecurrentStride(int part) => _parts[part].LdHh;

    /// <summary>0 (row-major), or the distance of <see cref="Recurrent"/>'s column panels (H · panel width floats).</summary>
    public nint RecurrentPanelStride(int part) => _parts[part].PanelHh;

    /// <summary>(I, G·n) W_ihᵀ of the part, row stride <see cref="InputStride"/>, in panels <see cref="InputPanelStride"/> apart (only with input).</summary>
    public float* Input(int part) => _parts[part].Wih.Pointer;

    /// <summary>Row stride of <see cref="Input"/>, as <see cref="RecurrentStride"/>; valid after <see cref="Refresh"/>.</summary>
    public int InputStride(int part) => _parts[part].LdIh;

    /// <summary>0 (row-major), or the distance of <see cref="Input"/>'s column panels (I · panel width floats).</summary>
    public nint InputPanelStride(int part) => _parts[part].PanelIh;

    /// <summary>The layout the switch asks for now: the panel width, or 0 (rows).</summary>
    private int Layout => UsePanels ? _panelWidth : 0;

    /// <summary>(G·n) input-projection bias: b_ih + b_hh (b_ih alone for GRU, whose b_hn stays inside r ⊙ (…)).</summary>
    public float* Bias(int part) => _parts[part].Bias.Pointer;

    /// <summary>(G·n) b_hh of the part (GRU).</summary>
    public float* HiddenBias(int part) => _parts[part].Bhh.Pointer;

    /// <summary>
    /// Brings part <paramref name="part"/> up to date with <paramref name="parameters"/> at <paramref name="version"/>
    /// (<see cref="ParameterVersions.Current"/>, read once per pass). Touches only that part (workers refresh their own).
    /// </summary>
    public void Refresh(int part, float[] parameters, long version)
    {
        var p = _parts[part];
        bool strides = p.SetLayout(Layout);
        if (!strides && ReferenceEquals(p.Source, parameters) && p.Version == version) return;
        p.Pack(this, parameters);
        p.Source = parameters;
        p.Version = version;
        Interlocked.Increment(ref _packCount);
    }

    private sealed class Part
    {
        public readonly int First, Units;
        private readonly int _gn, _hidden, _input;
        public readonly AlignedBuffer Whh = new(), Wih = new(), Bias = new(), Bhh = new();
        public float[]? Source;   // the parameter buffer the part was packed from (null: never packed)
        public long Version;      // its version then
        public int LdHh, LdIh;        // row strides of Whh and Wih (0: not sized yet): G·n, or the panel width in panels
        public nint PanelHh, PanelIh; // 0 (rows), or the distance of the panels

        public Part(int first, int units, int gates, int hidden, int input)
        {
            First = first;
            Units = units;
            _gn = gates * units;
            _hidden = hidden;
            _input = input;
            if (input > 0)
            {
                Bias.Ensure(_gn);
                Bhh.Ensure(_gn);
            }
        }

        /// <summary>Sizes the weight copies for the layout (panels of <paramref name="width"/> columns, or rows: 0); true when it changed (repack).</summary>
        public bool SetLayout(int width)
        {
            bool panels = width > 0;
            int ld = panels ? width : _gn;
            nint panelHh = panels ? (nint)_hidden * width : 0, panelIh = panels ? (nint)_input * width : 0;
            if (ld == LdHh && panelHh == PanelHh && panelIh == PanelIh) return false;
            (LdHh, LdIh, PanelHh, PanelIh) = (ld, ld, panelHh, panelIh);
            Whh.Ensure(panels ? checked((int)RowProduct.PanelFloats(_hidden, _gn, width)) : _hidden * _gn);
            if (_input > 0) Wih.Ensure(panels ? checked((int)RowProduct.PanelFloats(_input, _gn, width)) : _input * _gn);
            return true;
        }

        public void Pack(PackedWeights w, float[] parameters)
        {
            int G = w._gates, H = w._hidden, I = w._input, n = Units;
            if (PanelHh > 0) RowProduct.PackTransposedPanels(w._slices.WeightHh.Of(parameters), H, H, G, H, First, n, Whh.AsSpan(0, Whh.Length), LdHh);
            else RowProduct.PackTransposed(w._slices.WeightHh.Of(parameters), H, H, G, H, First, n, Whh.AsSpan(0, H * LdHh), LdHh);
            if (w._withInput)
            {
                if (PanelIh > 0) RowProduct.PackTransposedPanels(w._slices.WeightIh.Of(parameters), I, I, G, H, First, n, Wih.AsSpan(0, Wih.Length), LdIh);
                else RowProduct.PackTransposed(w._slices.WeightIh.Of(parameters), I, I, G, H, First, n, Wih.AsSpan(0, I * LdIh), LdIh);
                var bih = w._slices.BiasIh.Of(parameters);
                var bhh = w._slices.BiasHh.Of(parameters);
                bool fold = w._foldHiddenBias;
                for (int g = 0; g < G; g++)
                {
                    for (int j = 0; j < n; j++)
                    {
                        float bi = bih[g * H + First + j], bh = bhh[g * H + First + j];
                        Bias.Pointer[g * n + j] = fold ? bi + bh : bi;
                        Bhh.Pointer[g * n + j] = bh;
                    }
                }
            }
        }
    }
}
