using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Microsoft.ML.Recurrent.Engine.Optimizers;

/// <summary>
/// Adam with decoupled weight decay, as PyTorch's torch.optim.AdamW (amsgrad off). At step t:
/// p ← p·(1 − lr·λ);  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;
/// p ← p − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + ε).
/// State buffers: m, v.
/// </summary>
internal sealed class AdamOptimizer : Optimizer
{
    private readonly double _beta1, _beta2;
    private readonly float _epsilon, _weightDecay;

    public AdamOptimizer(int parameterCount, OptimizerSettings settings)
        : base(OptimizerKind.Adam, parameterCount, 2)
    {
        _beta1 = settings.Beta1;
        _beta2 = settings.Beta2;
        _epsilon = settings.Epsilon;
        _weightDecay = settings.WeightDecay;
    }

    protected override void Update(Span<float> parameters, ReadOnlySpan<float> gradients, float learningRate, long step)
    {
        // Per-step scalars in double, as PyTorch computes them on the host.
        double biasCorrection1 = 1.0 - Math.Pow(_beta1, step);
        double biasCorrection2 = 1.0 - Math.Pow(_beta2, step);
        var op = new Rule(
            decay: (float)(1.0 - (double)learningRate * _weightDecay),
            beta1: (float)_beta1, oneMinusBeta1: (float)(1.0 - _beta1),
            beta2: (float)_beta2, oneMinusBeta2: (float)(1.0 - _beta2),
            sqrtBiasCorrection2: (float)Math.Sqrt(biasCorrection2),
            epsilon: _epsilon,
            stepSize: (float)(learningRate / biasCorrection1));
        UpdateDriver.Run(op, parameters, gradients, State(0), State(1));
    }

    private readonly struct Rule(
        float decay, float beta1, float oneMinusBeta1, float beta2, float oneMinusBeta2,
        float sqrtBiasCorrection2, float epsilon, float stepSize) : IUpdateWithTwoStates
    {
        /// <inheritdoc />
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Invoke(float p, float g, ref float m, ref float v)
        {
            m = StateFlush.Apply(beta1 * m + oneMinusBeta1 * g);
            v = StateFlush.Apply(beta2 * v + oneMinusBeta2 * (g * g));
            float denominator = MathF.Sqrt(v) / sqrtBiasCorrection2 + epsilon;
            return p * decay - stepSize * (m / denominator);
        }

        /// <inheritdoc />
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector128<float> Invoke(Vector128<float> p, Vector128<float> g, ref Vector128<float> m, ref Vector128<float> v)
        {
            m = StateFlush.Apply(beta1 * m + oneMinusBeta1 * g);
            v = StateFlush.Apply(beta2 * v + oneMinusBeta2 * (g * g));
            var denominator = Vector128.Sqrt(v) / sqrtBiasCorrection2 + Vector128.Create(epsilon);
            return p * decay - stepSize * (m / denominator);
        }

        /// <inheritdoc />
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<float> Invoke(Vector256<float> p, Vector256<float> g, ref Vector256<float> m, ref Vector256<float> v)
        {
            m = StateFlush.Apply(beta1 * m + oneMinusBeta1 * g);
            v = StateFlush.Apply(beta2 * v + oneMinusBeta2 * (g * g));
            var denominator = Vector256.Sqrt(v) / sqrtBiasCorrection2 + Vector256.Create(epsilon);
            return p * decay - stepSize * (m / denominator);
        }

        /// <inheritdoc />
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector512<float> Invoke(Vector512<float> p, Vector512<float> g, ref Vector512<float> m, ref Vector512<float> v)
        {
            m = StateFlush.Apply(beta1 * m + oneMinusBeta1 * g);
            v = StateFlush.Apply(beta2 * v + oneMinusBeta2 * (g * g));
            var denominator = Vector512.Sqrt(v) / sqrtBiasCorrection2 + Vector512.Create(epsilon);
            return p * decay - stepSize * (m / denominator);
        }
    }
}
