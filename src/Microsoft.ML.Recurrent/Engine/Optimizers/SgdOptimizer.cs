using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Microsoft.ML.Recurrent.Engine.Optimizers;

/// <summary>
/// SGD as PyTorch's torch.optim.SGD (dampening 0):
/// g ← g + λ·p;  with momentum μ: b ← μ·b + g, d = g + μ·b (Nesterov) or b;  without: d = g;  p ← p − lr·d.
/// (PyTorch sets b = g on the first step; with b starting at 0, μ·0 + g is the same value.)
/// </summary>
internal sealed class SgdOptimizer : Optimizer
{
    private readonly float _momentum, _weightDecay;
    private readonly bool _nesterov;

    public SgdOptimizer(int parameterCount, OptimizerSettings settings)
        : base(OptimizerKind.Sgd, parameterCount, settings.Momentum > 0f ? 1 : 0)
    {
        _momentum = settings.Momentum;
        _nesterov = settings.Nesterov;
        _weightDecay = settings.WeightDecay;
    }

    protected override void Update(Span<float> parameters, ReadOnlySpan<float> gradients, float learningRate, long step)
    {
        if (StateBufferCount == 0)
            UpdateDriver.Run(new Plain(learningRate, _weightDecay), parameters, gradients);
        else
            UpdateDriver.Run(new WithMomentum(learningRate, _weightDecay, _momentum, _nesterov), parameters, gradients, State(0));
    }

    private readonly struct Plain(float lr, float wd) : IStatelessUpdate
    {
        /// <inheritdoc />
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Invoke(float p, float g) => p - lr * (g + wd * p);

        /// <inheritdoc />
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector128<float> Invoke(Vector128<float> p, Vector128<float> g) => p - lr * (g + wd * p);

        /// <inheritdoc />
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<float> Invoke(Vector256<float> p, Vector256<float> g) => p - lr * (g + wd * p);

        /// <inheritdoc />
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector512<float> Invoke(Vector512<float> p, Vector512<float> g) => p - lr * (g + wd * p);
    }

    private readonly struct WithMomentum(float lr, float wd, float mu, bool nesterov) : IUpdateWithState
    {
        /// <inheritdoc />
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Invoke(float p, float g, ref float b)
        {
            g += wd * p;
            b = StateFlush.Apply(mu * b + g);
            return p - lr * (nesterov ? g + mu * b : b);
        }

        /// <inheritdoc />
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector128<float> Invoke(Vector128<float> p, Vector128<float> g, ref Vector128<float> b)
        {
            g += wd * p;
            b = StateFlush.Apply(mu * b + g);
            return p - lr * (nesterov ? g + mu * b : b);
        }

        /// <inheritdoc />
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<float> Invoke(Vector256<float> p, Vector256<float> g, ref Vector256<float> b)
        {
            g += wd * p;
            b = StateFlush.Apply(mu * b + g);
            return p - lr * (nesterov ? g + mu * b : b);
        }

        /// <inheritdoc />
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector512<float> Invoke(Vector512<float> p, Vector512<float> g, ref Vector512<float> b)
        {
            g += wd * p;
            b = StateFlush.Apply(mu * b + g);
            return p - lr * (nesterov ? g + mu * b : b);
        }
    }
}
