namespace Microsoft.ML.Recurrent.Engine.Seq2Seq;

/// <summary>How the decoder looks at the encoder's states.</summary>
internal enum AttentionKind : byte
{
    /// <summary>No attention: the encoder reaches the decoder through its final states only.</summary>
    None = 0,
    /// <summary>Bahdanau's score v·tanh(W1 h_dec + W2 h_enc + b), Luong's placement (on the decoder's outputs).</summary>
    Additive = 1,
    /// <summary>Luong's "general" score h_dec · (W_a h_enc).</summary>
    Dot = 2,
}

/// <summary>
/// Shape of an encoder–decoder. The encoder is the engine's stacked (bi)directional network without a head; the decoder
/// a unidirectional network of the same cell, H and L with an embedding of the target tokens; its initial state for
/// layer l is the sum of the encoder's final states of layer l over directions. Target keys 1..K are decoder ids 1..K,
/// id K + 1 is the start token; output classes are 0 = end of sequence and k = key k.
/// </summary>
internal sealed record Seq2SeqSpec(
    CellKind Cell,
    int InputSize,
    int SourceVocabulary,
    int SourceEmbedding,
    int HiddenSize,
    int NumberOfLayers,
    bool Bidirectional,
    float Dropout,
    int TargetKeys,
    int TargetEmbedding,
    AttentionKind Attention)
{
    /// <summary>The encoder network: no head, outputs of every step.</summary>
    public NetworkSpec Encoder => new(Cell, SourceVocabulary > 0 ? 1 : InputSize, HiddenSize, NumberOfLayers, Bidirectional, Dropout,
        SourceVocabulary, SourceVocabulary > 0 ? SourceEmbedding : 0, 0, OutputMode.EveryStep);

    /// <summary>The decoder network: token embedding (K + 2 rows), no head, outputs of every step.</summary>
    public NetworkSpec Decoder => new(Cell, 1, HiddenSize, NumberOfLayers, false, Dropout, TargetKeys + 2, TargetEmbedding, 0, OutputMode.EveryStep);

    /// <summary>Output classes C = K + 1 (class 0 ends the sequence).</summary>
    public int Classes => TargetKeys + 1;

    /// <summary>Decoder input id of the start token.</summary>
    public int StartId => TargetKeys + 1;

    /// <summary>Width of an encoder state D = H · directions.</summary>
    public int SourceWidth => HiddenSize * (Bidirectional ? 2 : 1);

    /// <summary>Hidden width A of the additive score.</summary>
    public int AttentionSize => HiddenSize;

    /// <summary>Width of the context vector (0 without attention).</summary>
    public int ContextWidth => Attention == AttentionKind.None ? 0 : SourceWidth;

    public void Validate()
    {
        if (!Enum.IsDefined(Attention)) throw new ArgumentException($"Unknown attention kind {(int)Attention}.", nameof(Attention));
        if (TargetKeys < 1) throw new ArgumentException($"TargetKeys must be ≥ 1, was {TargetKeys}.", nameof(TargetKeys));
        if (TargetEmbedding < 1) throw new ArgumentException($"TargetEmbedding must be ≥ 1, was {TargetEmbedding}.", nameof(TargetEmbedding));
        Encoder.Validate();
        Decoder.Validate();
    }
}

/// <summary>
/// The attention and output parameters in one flat buffer: Dot: W_a (H, D); Additive: W1 (A, H), W2 (A, D), b_a (A),
/// v (A); then W_out (C, H + D_ctx) reading [h_dec ‖ context], b_out (C).
/// </summary>
internal sealed class Seq2SeqHeadLayout
{
    public Seq2SeqHeadLayout(Seq2SeqSpec spec)
    {
        spec.Validate();
        Spec = spec;
        int offset = 0;
        Slice Take(long n)
        {
            if (offset + n > int.MaxValue) throw new ArgumentException("The attention head has more than 2^31 parameters.");
            var s = new Slice(offset, (int)n);
            offset += (int)n;
            return s;
        }

        int H = spec.HiddenSize, D = spec.SourceWidth, A = spec.AttentionSize, C = spec.Classes;
        WeightA = Take(spec.Attention == AttentionKind.Dot ? (long)H * D : 0);
        W1 = Take(spec.Attention == AttentionKind.Additive ? (long)A * H : 0);
        W2 = Take(spec.Attention == AttentionKind.Additive ? (long)A * D : 0);
        BiasA = Take(spec.Attention == AttentionKind.Additive ? A : 0);
        V = Take(spec.Attention == AttentionKind.Additive ? A : 0);
        OutWeight = Take((long)C * (H + spec.ContextWidth));
        OutBias = Take(C);
        Count = offset;
    }

    public Seq2SeqSpec Spec { get; }

    /// <summary>(H, D) Dot only.</summary>
    public Slice WeightA { get; }

    /// <summary>(A, H) Additive only.</summary>
    public Slice W1 { get; }

    /// <summary>(A, D) Additive only.</summary>
    public Slice W2 { get; }

    /// <summary>(A) Additive only.</summary>
    public Slice BiasA { get; }

    /// <summary>(A) Additive only.</summary>
    public Slice V { get; }

    /// <summary>(C, H + D_ctx)</summary>
    public Slice OutWeight { get; }

    /// <summary>(C)</summary>
    public Slice OutBias { get; }

    public int Count { get; }

    /// <summary>Glorot-uniform matrices, zero biases.</summary>
    public void Initialize(float[] head, int seed)
    {
        var random = new Random(seed);
        Array.Clear(head);
        int H = Spec.HiddenSize, D = Spec.SourceWidth, A = Spec.AttentionSize, C = Spec.Classes;
        Fill(WeightA.Of(head), H, D);
        Fill(W1.Of(head), A, H);
        Fill(W2.Of(head), A, D);
        Fill(V.Of(head), A, 1);
        Fill(OutWeight.Of(head), C, H + Spec.ContextWidth);

        void Fill(Span<float> w, int rows, int cols)
        {
            float a = MathF.Sqrt(6f / (rows + cols));
            for (int i = 0; i < w.Length; i++) w[i] = (float)((random.NextDouble() * 2 - 1) * a);
        }
    }
}
