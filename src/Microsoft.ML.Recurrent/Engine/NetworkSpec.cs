namespace Microsoft.ML.Recurrent.Engine;

/// <summary>Recurrent cell type, with PyTorch's equations and gate order.</summary>
internal enum CellKind : byte
{
    /// <summary>h' = tanh(W_ih x + b_ih + W_hh h + b_hh). One gate block (G = 1).</summary>
    SimpleRnn = 0,
    /// <summary>Gates i, f, g, o (G = 4), with a cell state.</summary>
    Lstm = 1,
    /// <summary>Gates r, z, n (G = 3); n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)).</summary>
    Gru = 2,
}

/// <summary>What the dense head reads.</summary>
internal enum OutputMode : byte
{
    /// <summary>Many-to-one: the head reads the top layer's final hidden state (forward final ‖ backward final).</summary>
    LastHidden = 0,
    /// <summary>Many-to-many aligned: the head reads the top layer's output at every step.</summary>
    EveryStep = 1,
}

/// <summary>Loss applied to the head's outputs.</summary>
internal enum LossKind : byte
{
    /// <summary>Mean squared error, averaged over every (valid) output element.</summary>
    MeanSquaredError = 0,
    /// <summary>Binary cross-entropy on logits (targets 0/1), averaged over every (valid) output element.</summary>
    BinaryCrossEntropy = 1,
    /// <summary>Softmax cross-entropy over the O outputs; the target is a class index stored as a float.</summary>
    SoftmaxCrossEntropy = 2,
}

/// <summary>
/// The shape of a network: embedding (optional) → stacked (bi)directional recurrent layers → dense head.
/// </summary>
/// <param name="Cell">Cell type of every layer.</param>
/// <param name="InputSize">Features per step F. With an embedding this must be 1 (one token id per step).</param>
/// <param name="HiddenSize">Hidden units H of every layer and direction.</param>
/// <param name="NumberOfLayers">Stacked layers L (≥ 1).</param>
/// <param name="Bidirectional">Whether each layer runs a reverse direction too (outputs concatenated, D = 2H).</param>
/// <param name="Dropout">Dropout probability applied to the outputs of every layer but the last, in training only.</param>
/// <param name="VocabularySize">Number of embedding rows V (token ids 0..V-1, id 0 = unknown: row 0 is the learned unknown-token vector; padding is handled by lengths); 0 = no embedding.</param>
/// <param name="EmbeddingSize">Embedding width E (the first layer's input size when VocabularySize &gt; 0).</param>
/// <param name="OutputSize">Head outputs O (0 = no head: the network ends at the recurrent outputs).</param>
/// <param name="Output">What the head reads.</param>
internal sealed record NetworkSpec(
    CellKind Cell,
    int InputSize,
    int HiddenSize,
    int NumberOfLayers = 1,
    bool Bidirectional = false,
    float Dropout = 0f,
    int VocabularySize = 0,
    int EmbeddingSize = 0,
    int OutputSize = 1,
    OutputMode Output = OutputMode.LastHidden)
{
    /// <summary>Gate blocks per cell: 1 (RNN), 4 (LSTM), 3 (GRU).</summary>
    public int Gates => Cell switch { CellKind.Lstm => 4, CellKind.Gru => 3, _ => 1 };

    /// <summary>Directions per layer (1 or 2).</summary>
    public int Directions => Bidirectional ? 2 : 1;

    /// <summary>Width of a layer's output, D = H · directions.</summary>
    public int OutputWidth => HiddenSize * Directions;

    /// <summary>Input width of layer <paramref name="layer"/>.</summary>
    public int LayerInputSize(int layer) => layer == 0 ? (VocabularySize > 0 ? EmbeddingSize : InputSize) : OutputWidth;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid field.</summary>
    public void Validate()
    {
        if (!Enum.IsDefined(Cell)) throw new ArgumentException($"Unknown cell type {(int)Cell}.", nameof(Cell));
        if (InputSize < 1) throw new ArgumentException($"InputSize must be ≥ 1, was {InputSize}.", nameof(InputSize));
        if (HiddenSize < 1) throw new ArgumentException($"HiddenSize must be ≥ 1, was {HiddenSize}.", nameof(HiddenSize));
        if (NumberOfLayers < 1) throw new ArgumentException($"NumberOfLayers must be ≥ 1, was {NumberOfLayers}.", nameof(NumberOfLayers));
        if (!(Dropout >= 0f && Dropout < 1f)) throw new ArgumentException($"Dropout must be in [0, 1), was {Dropout}.", nameof(Dropout));
        if (VocabularySize < 0) throw new ArgumentException($"VocabularySize must be ≥ 0, was {VocabularySize}.", nameof(VocabularySize));
        if (VocabularySize > 0 && EmbeddingSize < 1) throw new ArgumentException($"EmbeddingSize must be ≥ 1 with a vocabulary, was {EmbeddingSize}.", nameof(EmbeddingSize));
        if (VocabularySize > 0 && InputSize != 1) throw new ArgumentException($"InputSize must be 1 (one token id per step) with a vocabulary, was {InputSize}.", nameof(InputSize));
        if (OutputSize < 0) throw new ArgumentException($"OutputSize must be ≥ 0, was {OutputSize}.", nameof(OutputSize));
        if (!Enum.IsDefined(Output)) throw new ArgumentException($"Unknown output mode {(int)Output}.", nameof(Output));
    }
}

/// <summary>A named slice of the flat parameter buffer.</summary>
internal readonly record struct Slice(int Offset, int Length)
{
    public Span<float> Of(float[] buffer) => buffer.AsSpan(Offset, Length);
    public Span<double> Of(double[] buffer) => buffer.AsSpan(Offset, Length);
}

/// <summary>Offsets of one layer-direction's weights in the flat buffer (PyTorch shapes, row-major).</summary>
/// <param name="WeightIh">(G·H, I_l)</param>
/// <param name="WeightHh">(G·H, H)</param>
/// <param name="BiasIh">(G·H)</param>
/// <param name="BiasHh">(G·H)</param>
internal readonly record struct CellSlices(Slice WeightIh, Slice WeightHh, Slice BiasIh, Slice BiasHh);

/// <summary>
/// Where each parameter lives in the one flat buffer. Order: embedding (V, E); then for each layer l,
/// for each direction d (0 forward, 1 reverse): W_ih (G·H, I_l), W_hh (G·H, H), b_ih (G·H), b_hh (G·H);
/// then head W_out (O, D), b_out (O).
/// </summary>
internal sealed class ParameterLayout
{
    public ParameterLayout(NetworkSpec spec)
    {
        spec.Validate();
        Spec = spec;
        int offset = 0;
        Slice Take(long n)
        {
            if (offset + n > int.MaxValue) throw new ArgumentException("The network has more than 2^31 parameters.");
            var s = new Slice(offset, (int)n);
            offset += (int)n;
            return s;
        }

        Embedding = Take((long)spec.VocabularySize * (spec.VocabularySize > 0 ? spec.EmbeddingSize : 0));
        int gh = spec.Gates * spec.HiddenSize;
        Cells = new CellSlices[spec.NumberOfLayers * spec.Directions];
        for (int l = 0; l < spec.NumberOfLayers; l++)
        {
            for (int d = 0; d < spec.Directions; d++)
            {
                Cells[l * spec.Directions + d] = new CellSlices(
                    Take((long)gh * spec.LayerInputSize(l)),
                    Take((long)gh * spec.HiddenSize),
                    Take(gh),
                    Take(gh));
            }
        }

        HeadWeight = Take((long)spec.OutputSize * spec.OutputWidth);
        HeadBias = Take(spec.OutputSize);
        Count = offset;
    }

    public NetworkSpec Spec { get; }

    /// <summary>(V, E); empty without a vocabulary.</summary>
    public Slice Embedding { get; }

    /// <summary>Indexed by layer · directions + direction.</summary>
    public CellSlices[] Cells { get; }

    /// <summary>(O, D)</summary>
    public Slice HeadWeight { get; }

    /// <summary>(O)</summary>
    public Slice HeadBias { get; }

    /// <summary>Total number of parameters.</summary>
    public int Count { get; }

    public CellSlices Cell(int layer, int direction) => Cells[layer * Spec.Directions + direction];
}
