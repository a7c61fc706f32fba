namespace Microsoft.ML.Recurrent.Engine.Optimizers;

/// <summary>Which update rule <see cref="Optimizer.Create"/> builds. Equations follow PyTorch's torch.optim.</summary>
internal enum OptimizerKind : byte
{
    /// <summary>Adam with decoupled weight decay (PyTorch's AdamW).</summary>
    Adam = 0,
    /// <summary>Stochastic gradient descent with (optionally Nesterov) momentum and L2 weight decay.</summary>
    Sgd = 1,
    /// <summary>RMSProp (uncentred) with optional momentum and L2 weight decay.</summary>
    RmsProp = 2,
}
