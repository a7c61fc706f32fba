namespace Microsoft.ML.Recurrent.Engine.Cells;

/// <summary>
/// A recurrent cell as the layer loop (<see cref="Layers.RecurrentLayer{TCell}"/>) sees it: a struct type whose
/// static members are the cell's shape, its storage needs and its step (forward and backward). The layer is
/// instantiated once per cell type, so every member below is a constant or a direct call for the JIT: no branch
/// on the cell kind survives in the loops.
/// <para>
/// Buffer conventions of every step: row-major. A step covers <c>rows</c> batch rows and <c>n</c> hidden units; a gate
/// buffer row holds the G gate blocks of those units one after the other (LSTM i, f, g, o; GRU r, z, n), G·n floats,
/// rows contiguous; a state buffer row holds the step's n units of a row whose rows are H floats apart. The row-split
/// loop passes all H units of a range of rows; the unit-split loop (B = 1, and small batches of large layers in
/// inference) passes every running row and a range of units, whose recurrent weights are packed with the same
/// gate-major layout (see <see cref="Layers.PackedWeights"/>).
/// </para>
/// </summary>
internal interface IRecurrentCell
{
    /// <summary>The public kind this cell implements.</summary>
    static abstract CellKind Kind { get; }

    /// <summary>G: gate blocks per unit (LSTM 4, GRU 3, simple RNN 1).</summary>
    static abstract int Gates { get; }

    /// <summary>
    /// The cell carries a second state (the LSTM cell state c): the layer keeps c and tanh(c) per step for the backward
    /// pass, carries dc backwards and reports c_n.
    /// </summary>
    static abstract bool CarriesCellState { get; }

    /// <summary>
    /// The recurrent projection W_hh·h + b_hh is kept apart from the input projection (GRU, where r multiplies its
    /// n block): b_hh is not folded into the input bias, gh_n is kept per step, and the recurrent gradient dGh differs
    /// from the input-projection gradient dGx.
    /// </summary>
    static abstract bool SeparateRecurrentProjection { get; }

    /// <summary>One forward step (recurrent product, then the element-wise pass); see <see cref="ForwardStep"/>.</summary>
    static abstract unsafe void Forward(in ForwardStep step);

    /// <summary>One backward step (element-wise pass, then the carry product); see <see cref="BackwardStep"/>.</summary>
    static abstract unsafe void Backward(in BackwardStep step);
}

/// <summary>
/// The buffers of one forward step over <see cref="Rows"/> rows and <see cref="Units"/> hidden units. Pointers a cell
/// does not use are null.
/// </summary>
internal unsafe readonly struct ForwardStep
{
    /// <summary>Batch rows of the step.</summary>
    public int Rows { get; init; }

    /// <summary>n: hidden units of the step (H in the row-split loop, the part's units in the unit-split loop).</summary>
    public int Units { get; init; }

    /// <summary>H: the layer's hidden size (the recurrent product's depth and the row stride of <see cref="HPrev"/>).</summary>
    public int Hidden { get; init; }

    /// <summary>(rows, H) h_{t−1}, row stride H: every unit of the previous hidden state.</summary>
    public float* HPrev { get; init; }

    /// <summary>The step's first unit: <see cref="HPrevUnits"/> starts there (0 in the row-split loop).</summary>
    public int First { get; init; }

    /// <summary>(rows, n) h_{t−1} of the step's units, row stride H.</summary>
    public float* HPrevUnits => HPrev + First;

    /// <summary>(H, G·n) W_hhᵀ restricted to the step's units, gate-major columns, row stride <see cref="RecurrentStride"/>.</summary>
    public float* RecurrentT { get; init; }

    /// <summary>Row stride of <see cref="RecurrentT"/> (G·n), or the width of its column panels.</summary>
    public int RecurrentStride { get; init; }

    /// <summary>0: <see cref="RecurrentT"/> is row-major; otherwise it is in column panels this many floats apart (<see cref="Kernels.RowProduct.PackTransposedPanels"/>).</summary>
    public nint RecurrentPanelStride { get; init; }

    /// <summary>(G·n) b_hh of the step's units (GRU only; the other cells fold it into the input bias).</summary>
    public float* HiddenBias { get; init; }

    /// <summary>(rows, G·n) in: the input projection plus bias; out: the gate activations the backward pass reads.</summary>
    public float* Gates { get; init; }

    /// <summary>(rows, G·n) scratch for the recurrent projection (GRU).</summary>
    public float* Recurrent { get; init; }

    /// <summary>(rows, n) c_{t−1} (LSTM), row stride H.</summary>
    public float* CPrev { get; init; }

    /// <summary>(rows, n) c_t out (LSTM), row stride H.</summary>
    public float* C { get; init; }

    /// <summary>(rows, n) tanh(c_t) out (LSTM), row stride H.</summary>
    public float* TanhC { get; init; }

    /// <summary>(rows, n) gh_n = (W_hn·h_{t−1} + b_hn) out (GRU), row stride H.</summary>
    public float* GhN { get; init; }

    /// <summary>(rows, n) h_t out, row stride H.</summary>
    public float* H { get; init; }
}

/// <summary>The buffers of one backward step over <see cref="Rows"/> rows and all H units (the row-split loop).</summary>
internal unsafe readonly struct BackwardStep
{
    /// <summary>Batch rows of the step.</summary>
    public int Rows { get; init; }

    /// <summary>H: hidden units.</summary>
    public int Hidden { get; init; }

    /// <summary>
    /// (G·H, H) W_hh untransposed (the carry product multiplies by it): the parameters' rows (<see cref="RecurrentStride"/>
    /// = H), or a copy in column panels.
    /// </summary>
    public float* Recurrent { get; init; }

    /// <summary>Row stride of <see cref="Recurrent"/>: H, or the width of its column panels.</summary>
    public int RecurrentStride { get; init; }

    /// <summary>0: <see cref="Recurrent"/> is row-major; otherwise it is in column panels this many floats apart (<see cref="Kernels.RowProduct.PackPanels"/>).</summary>
    public nint RecurrentPanelStride { get; init; }

    /// <summary>(rows, G·H) the step's gate activations, as the forward step left them.</summary>
    public float* Gates { get; init; }

    /// <summary>(rows, H) h_{t−1}.</summary>
    public float* HPrev { get; init; }

    /// <summary>(rows, H) h_t (simple RNN: its derivative is read from the output).</summary>
    public float* H { get; init; }

    /// <summary>(rows, H) c_{t−1} (LSTM).</summary>
    public float* CPrev { get; init; }

    /// <summary>(rows, H) tanh(c_t) (LSTM).</summary>
    public float* TanhC { get; init; }

    /// <summary>(rows, H) gh_n (GRU).</summary>
    public float* GhN { get; init; }

    /// <summary>(rows, H) in: dL/dh_t (the carry plus the step's output gradient); out: the carry dL/dh_{t−1}.</summary>
    public float* DH { get; init; }

    /// <summary>(rows, H) in: the carried dL/dc_t; out: dL/dc_{t−1} (LSTM).</summary>
    public float* DC { get; init; }

    /// <summary>(rows, G·H) out: gradient w.r.t. the input projection (pre-activations), kept for dW_ih, b_ih and dX.</summary>
    public float* DGx { get; init; }

    /// <summary>
    /// (rows, G·H) out: gradient w.r.t. the recurrent projection, the step's scratch for the carry product (GRU; the other
    /// cells share <see cref="DGx"/>).
    /// </summary>
    public float* DGh { get; init; }

    /// <summary>
    /// (rows, H) out, or null: the block of <see cref="DGh"/> that differs from <see cref="DGx"/> (GRU: dn·r; its r and z
    /// blocks are DGx's), kept per step for dW_hh.
    /// </summary>
    public float* DGhKept { get; init; }
}

/// <summary>How the cells' two-pass forward bodies cut a step's rows (LSTM from <c>TwoPassMinUnits</c>, both cells on 16 registers).</summary>
internal static class TwoPassGroups
{
    /// <summary>A group's gate rows, read back by the second pass while still in L1.</summary>
    public const int GateBytes = 16 * 1024;

    /// <summary>Rows per group for gate rows of <paramref name="gateFloats"/> floats (at least one).</summary>
    public static int Rows(int gateFloats) => Math.Max(1, GateBytes / (gateFloats * sizeof(float)));
}
