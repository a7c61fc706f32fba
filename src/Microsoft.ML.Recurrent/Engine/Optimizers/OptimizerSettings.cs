namespace Microsoft.ML.Recurrent.Engine.Optimizers;

/// <summary>
/// Hyper-parameters of every optimizer kind; each kind reads only its own fields (and <see cref="WeightDecay"/>).
/// The learning rate is not here: it is passed to every <see cref="Optimizer.Step"/> so a schedule can change it.
/// </summary>
internal sealed class OptimizerSettings
{
    /// <summary>SGD momentum μ (PyTorch's momentum, no dampening); 0 = plain SGD.</summary>
    public float Momentum { get; set; } = 0.9f;

    /// <summary>SGD only: Nesterov momentum (needs <see cref="Momentum"/> &gt; 0).</summary>
    public bool Nesterov { get; set; }

    /// <summary>Adam: decay rate of the first-moment average.</summary>
    public float Beta1 { get; set; } = 0.9f;

    /// <summary>Adam: decay rate of the second-moment average.</summary>
    public float Beta2 { get; set; } = 0.999f;

    /// <summary>Adam: added to the bias-corrected root of the second moment.</summary>
    public float Epsilon { get; set; } = 1e-8f;

    /// <summary>RMSProp: decay rate of the squared-gradient average (PyTorch's alpha).</summary>
    public float Rho { get; set; } = 0.99f;

    /// <summary>RMSProp: added to the root of the squared-gradient average.</summary>
    public float RmsEpsilon { get; set; } = 1e-8f;

    /// <summary>RMSProp momentum (PyTorch's momentum for RMSprop); 0 = none.</summary>
    public float RmsMomentum { get; set; }

    /// <summary>
    /// Weight decay λ. SGD and RMSProp add λ·p to the gradient (L2); Adam decays the parameters directly,
    /// p ← p − lr·λ·p, before its update (decoupled, as AdamW).
    /// </summary>
    public float WeightDecay { get; set; }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first invalid field that <paramref name="kind"/> reads.</summary>
    public void Validate(OptimizerKind kind)
    {
        Check(nameof(WeightDecay), WeightDecay, WeightDecay >= 0f, "must be ≥ 0");
        switch (kind)
        {
            case OptimizerKind.Sgd:
                Check(nameof(Momentum), Momentum, Momentum >= 0f, "must be ≥ 0");
                if (Nesterov && Momentum == 0f)
                    throw new ArgumentOutOfRangeException(nameof(Nesterov), Nesterov, "Nesterov momentum needs Momentum > 0.");
                break;
            case OptimizerKind.Adam:
                Check(nameof(Beta1), Beta1, Beta1 >= 0f && Beta1 < 1f, "must be in [0, 1)");
                Check(nameof(Beta2), Beta2, Beta2 >= 0f && Beta2 < 1f, "must be in [0, 1)");
                Check(nameof(Epsilon), Epsilon, Epsilon >= 0f, "must be ≥ 0");
                break;
            case OptimizerKind.RmsProp:
                Check(nameof(Rho), Rho, Rho >= 0f && Rho < 1f, "must be in [0, 1)");
                Check(nameof(RmsEpsilon), RmsEpsilon, RmsEpsilon >= 0f, "must be ≥ 0");
                Check(nameof(RmsMomentum), RmsMomentum, RmsMomentum >= 0f, "must be ≥ 0");
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown optimizer kind.");
        }
    }

    // Comparisons are written so that NaN fails them; infinities are rejected separately.
    private static void Check(string name, float value, bool ok, string rule)
    {
        if (!ok || !float.IsFinite(value))
            throw new ArgumentOutOfRangeException(name, value, $"{name} {rule}, was {value}.");
    }
}
