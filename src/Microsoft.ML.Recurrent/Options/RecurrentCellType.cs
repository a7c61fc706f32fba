namespace Microsoft.ML.Recurrent;

/// <summary>The recurrent cell of every layer.</summary>
public enum RecurrentCellType
{
    /// <summary>Elman RNN: h' = tanh(W_ih x + b_ih + W_hh h + b_hh). Fast, forgets quickly.</summary>
    SimpleRnn = 0,

    /// <summary>Long short-term memory (gates i, f, g, o and a cell state). The default.</summary>
    Lstm = 1,

    /// <summary>Gated recurrent unit (gates r, z, n). Fewer parameters than an LSTM.</summary>
    Gru = 2,
}

/// <summary>The update rule used to train the network.</summary>
public enum RecurrentOptimizer
{
    /// <summary>Adam with decoupled weight decay (AdamW). The default.</summary>
    Adam = 0,

    /// <summary>Stochastic gradient descent with momentum 0.9.</summary>
    Sgd = 1,

    /// <summary>RMSProp (decay 0.99).</summary>
    RmsProp = 2,
}
