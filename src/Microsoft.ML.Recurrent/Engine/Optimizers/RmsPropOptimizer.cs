using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Microsoft.ML.Recurrent.Engine.Optimizers;

/// <summary>
/// RMSProp as PyTorch's torch.optim.RMSprop (uncentred):
/// g ← g + λ·p;  s ← ρ·s + (1−ρ)·g²;  a = √s + ε;
/// with momentum μ: b ← μ·b + g/a, p ← p − lr·b;  without: p ← p − lr·g/a.
/// State buffers: s, then b when μ &gt; 0.
/// </summary>
internal sealed class RmsPropOptimizer : Optimizer
{
    private readonly float _rho, _oneMinusRho, _epsilon, _momentum, _weightDecay;

    public RmsPropOptimizer(int parameterCount, OptimizerSettings settings)
        : base(OptimizerKind.RmsProp, parameterCount, settings.RmsMomentum > 0f ? 2 : 1)
    {
        _rho = settings.Rho;
        _oneMinusRho = (float)(1.0 - settings.Rho);
        _epsilon = settings.RmsEpsilon;
        _momentum = settings.RmsMomentum;
        _weightDecay = settings.WeightDecay;
    }

    protected override void Update(Span<float> parameters, ReadOnlySpan<float> gradients, float learningRate, long step)
    {
        if (StateBufferCount == 1)
            UpdateDriver.Run(new Plain(learningRate, _weightDecay, _rho, _oneMinusRho, _epsilon), parameters, gradients, State(0));
        else
            UpdateDriver.Run(new WithMomentum(learningRate, _weightDecay, _rho, _oneMinusRho, _epsilon, _momentum), parameters, gradients, State(0), State(1));
    }

    private readonly struct Plain(float lr, float wd, float rho, float oneMinusRho, float eps) : IUpdateWithState
    {
        /// <inheritdoc />
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Invoke(float p, float g, ref float s)
        {
            g += wd * p;
            s = StateFlush.Apply(rho * s + oneMinusRho * (g * g));
            return p - lr * (g / (MathF.Sqrt(s) + eps));
        }

        /// <inheritdoc />
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector128<float> Invoke(Vector128<float> p, Vector128<float> g, ref Vector128<float> s)
        {
            g += wd * p;
            s = StateFlush.Apply(rho * s + oneMinusRho * (g * g));
            return p - lr * (g / (Vector128.Sqrt(s) + Vector128.Create(eps)));
        }

        /// <inheritdoc />
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<float> Invoke(Vector256<float> p, Vector256<float> g, ref Vector256<float> s)
        {
            g += wd * p;
            s = StateFlush.Apply(rho * s + oneMinusRho * (g * g));
            return p - lr * (g / (Vector256.Sqrt(s) + Vector256.Create(eps)));
        }

        /// <inheritdoc />
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector512<float> Invoke(Vector512<float> p, Vector512<float> g, ref Vector512<float> s)
        {
            g += wd * p;
            s = StateFlush.Apply(rho * s + oneMinusRho * (g * g));
            return p - lr * (g / (Vector512.Sqrt(s) + Vector512.Create(eps)));
        }
    }

    private readonly struct WithMomentum(float lr, float wd, float rho, float oneMinusRho, float eps, float mu) : IUpdateWithTwoStates
    {
        /// <inheritdoc />
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Invoke(float p, float g, ref float s, ref float b)
        {
            g += wd * p;
            s = StateFlush.Apply(rho * s + oneMinusRho * (g * g));
            b = StateFlush.Apply(mu * b + g / (MathF.Sqrt(s) + eps));
            return p - lr * b;
        }

        /// <inheritdoc />
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector128<float> Invoke(Vector128<float> p, Vector128<float> g, ref Vector128<float> s, ref Vector128<float> b)
        {
            g += wd * p;
            s = StateFlush.Apply(rho * s + oneMinusRho * (g * g));
            b = StateFlush.Apply(mu * b + g / (Vector128.Sqrt(s) + Vector128.Create(eps)));
            return p - lr * b;
        }

        /// <inheritdoc />
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<float> Invoke(Vector256<float> p, Vector256<float> g, ref Vector256<float> s, ref Vector256<float> b)
        {
            g += wd * p;
            s = StateFlush.Apply(rho * s + oneMinusRho * (g * g));
            b = StateFlush.Apply(mu * b + g / (Vector256.Sqrt(s) + Vector256.Create(eps)));
            return p - lr * b;
        }

        /// <inheritdoc />
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector512<float> Invoke(Vector512<float> p, Vector512<float> g, ref Vector512<float> s, ref Vector512<float> b)
        {
            g += wd * p;
            s = StateFlush.Apply(rho * s + oneMinusRho * (g * g));
            b = StateFlush.Apply(mu * b + g / (Vector512.Sqrt(s) + Vector512.Create(eps)));
            return p - lr * b;
        }
    }
}
