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
/// (<see cref="RowProduct"/> wants B = Wᵀ, row-contiguous), cut by hidden units into parts: part q owns
/// units [First(q), First(q) + Units(q)) and holds the columns {g·H + j} of every gate g for those units,
/// gate-major: column g·n + (j − First(q)). One part is the plain Wᵀ (H, G·H). A part remembers the parameter
/// buffer and its <see cref="ParameterVersions"/> version it was packed from and is rebuilt only when either
/// differs: whoever writes the weights says so (the optimizers' step does), so inference over fixed weights packs
/// once, a training step repacks, and no pass compares the weights themselves.
/// </summary>
internal sealed unsafe class PackedWeights
{
    private readonly int _gates, _hidden, _input;
    private readonly CellSlices _slices;
    private readonly bool _withInput, _foldHiddenBias, _padRows;
    private Part[] _parts = [];

    /// <param name="gates">G: gate blocks of the cell.</param>
    /// <param name="inputSize">I: the layer's input width.</param>
    /// <param name="hidden">H: hidden units.</param>
    /// <param name="slices">Where the layer-direction's weights sit in the flat parameter buffer.</param>
    /// <param name="withInput">Also pack W_ihᵀ (I, G·n) and the biases (the batch-1 loop does its own input projection).</param>
    /// <param name="foldHiddenBias">The input-projection bias is b_ih + b_hh (false for GRU, whose b_hn stays inside r ⊙ (…)).</param>
    /// <param name="padRows">
    /// Pad the copies' rows per <see cref="StrideFor"/>: for the row-split loop, whose products reuse each panel of the
    /// copy over many rows of h. The batch-1 loop streams its part once per step (one row of h: no reuse to keep in L1)
    /// and keeps the plain contiguous stride (measured: padding its 1 KiB rows was 2–6 % slower).
    /// </param>
    public PackedWeights(int gates, int inputSize, int hidden, CellSlices slices, bool withInput, bool foldHiddenBias, bool padRows = true)
    {
        _padRows = padRows;
        _foldHiddenBias = foldHiddenBias;
        _gates = gates;
        _input = inputSize;
        _hidden = hidden;
        _slices = slices;
        _withInput = withInput;
    }

    public int Parts => _parts.Length;

    /// <summary>Pad the rows of the packed W_hhᵀ per <see cref="StrideFor"/> (benchmarks turn it off for a same-process A/B).</summary>
    internal static bool PadRecurrent = true;

    /// <summary>Pad the rows of the packed W_ihᵀ per <see cref="StrideFor"/> (benchmarks turn it off for a same-process A/B).</summary>
    internal static bool PadInput = true;

    /// <summary>
    /// Row stride of a packed (k, G·n) copy: G·n, plus 16 floats (one cache line) when the rows are 2 KiB or longer and
    /// a multiple of 512 bytes (G·n ≥ 512 and a multiple of 128 floats), and <paramref name="pad"/>. Why: such a stride
    /// maps the k rows of a column panel onto at most 8 of the 64 L1 sets (Zen 4: 32 KiB, 8-way, every 4 KiB aliases;
    /// a 4 KiB row, LSTM H = 256, puts them all on one set, and the L2 sets alias the same way), so the panel cannot
    /// stay in cache between the rows of A; one line more makes the stride an odd number of lines and the rows spread
    /// over every set. Chosen from the same-process A/B of the kernel-breakdown verb (docs/performance.md, "Padded
    /// weight packs"): whole forward passes of LSTM H = 256 (G·n = 1024) 1.05–1.11× faster, G·n = 512 and 384 within
    /// noise, G·n = 256 (LSTM H = 64) 3–5 % slower, hence the 2 KiB floor. The padding columns are never read and the
    /// arithmetic of every element is unchanged (the row product's chain does not depend on its ldb).
    /// </summary>
    internal static int StrideFor(int gn, bool pad) => pad && gn >= 512 && gn % 128 == 0 ? gn + 16 : gn;

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
            list[q].SetStrides(_padRows && PadRecurrent, _padRows && PadInput);
            first += n;
        }

        _parts = list;
    }

    public int First(int part) => _parts[part].First;

    public int Units(int part) => _parts[part].Units;

    /// <summary>(H, G·n) W_hhᵀ of part <paramref name="part"/>, row stride <see cref="RecurrentStride"/>.</summary>
    public float* Recurrent(int part) => _parts[part].Whh.Pointer;

    /// <summary>Row stride of <see cref="Recurrent"/> (G·n, padded per <see cref="StrideFor"/>); valid after <see cref="Refresh"/>.</summary>
    public int RecurrentStride(int part) => _parts[part].LdHh;

    /// <summary>(I, G·n) W_ihᵀ of the part, row stride <see cref="InputStride"/> (only with input).</summary>
    public float* Input(int part) => _parts[part].Wih.Pointer;

    /// <summary>Row stride of <see cref="Input"/> (G·n, padded per <see cref="StrideFor"/>); valid after <see cref="Refresh"/>.</summary>
    public int InputStride(int part) => _parts[part].LdIh;

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
        bool strides = p.SetStrides(_padRows && PadRecurrent, _padRows && PadInput);
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
        public int LdHh, LdIh;    // row strides of Whh and Wih (0: not sized yet)

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

        /// <summary>Sizes the weight copies for the strides the switches ask for; true when a stride changed (repack).</summary>
        public bool SetStrides(bool padRecurrent, bool padInput)
        {
            int hh = StrideFor(_gn, padRecurrent), ih = StrideFor(_gn, padInput);
            if (hh == LdHh && ih == LdIh) return false;
            LdHh = hh;
            LdIh = ih;
            Whh.Ensure(_hidden * hh);
            if (_input > 0) Wih.Ensure(_input * ih);
            return true;
        }

        public void Pack(PackedWeights w, float[] parameters)
        {
            int G = w._gates, H = w._hidden, I = w._input, n = Units;
            RowProduct.PackTransposed(w._slices.WeightHh.Of(parameters), H, H, G, H, First, n, Whh.AsSpan(0, H * LdHh), LdHh);
            if (w._withInput)
            {
                RowProduct.PackTransposed(w._slices.WeightIh.Of(parameters), I, I, G, H, First, n, Wih.AsSpan(0, I * LdIh), LdIh);
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
