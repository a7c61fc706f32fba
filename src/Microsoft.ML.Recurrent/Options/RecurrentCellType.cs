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

/// <summary>How the learning rate changes from epoch to epoch.</summary>
public enum RecurrentLearningRateSchedule
{
    /// <summary>The same rate every epoch. The default.</summary>
    Constant = 0,

    /// <summary>The rate halves every 10 epochs.</summary>
    Step = 1,

    /// <summary>Cosine annealing from the learning rate down to zero over the maximum number of epochs.</summary>
    Cosine = 2,

    /// <summary>The rate halves when the monitored loss (validation loss if there is a validation set, else training loss)
    /// has not improved by 0.01% for 3 epochs.</summary>
    ReduceOnPlateau = 3,
}
