using System.Runtime.Intrinsics;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Kernels;
using Microsoft.ML.Recurrent.Engine.Optimizers;
using Microsoft.ML.Recurrent.Tests.Helpers;

namespace Microsoft.ML.Recurrent.Tests.Engine;

public class OptimizerTests
{
    private static readonly int MaxLength = 2 * Vector512<float>.Count + 1;

    public static TheoryData<string> Configurations => new()
    {
        "sgd", "sgd-wd", "sgd-momentum", "sgd-nesterov", "adam", "adamw", "rmsprop", "rmsprop-momentum-wd",
    };

    private static (OptimizerKind Kind, OptimizerSettings Settings) Configuration(string name) => name switch
    {
        "sgd" => (OptimizerKind.Sgd, new OptimizerSettings { Momentum = 0f }),
        "sgd-wd" => (OptimizerKind.Sgd, new OptimizerSettings { Momentum = 0f, WeightDecay = 0.05f }),
        "sgd-momentum" => (OptimizerKind.Sgd, new OptimizerSettings { Momentum = 0.9f, WeightDecay = 0.01f }),
        "sgd-nesterov" => (OptimizerKind.Sgd, new OptimizerSettings { Momentum = 0.9f, Nesterov = true, WeightDecay = 0.01f }),
        "adam" => (OptimizerKind.Adam, new OptimizerSettings()),
        "adamw" => (OptimizerKind.Adam, new OptimizerSettings { Beta1 = 0.8f, Beta2 = 0.99f, Epsilon = 1e-6f, WeightDecay = 0.1f }),
        "rmsprop" => (OptimizerKind.RmsProp, new OptimizerSettings()),
        "rmsprop-momentum-wd" => (OptimizerKind.RmsProp, new OptimizerSettings { Rho = 0.9f, RmsMomentum = 0.5f, WeightDecay = 0.01f }),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, null),
    };

    private static float LearningRateFor(OptimizerKind kind) => kind switch
    {
        OptimizerKind.Sgd => 0.1f,
        OptimizerKind.Adam => 0.01f,
        _ => 0.01f,
    };

    // ---------------------------------------------------------------- hand-computed values

    [Fact]
    public void Sgd_MomentumWithConstantGradient_FirstThreeStepsMatchHandValues()
    {
        // b1 = 0.5, p1 = 1 − 0.05 = 0.95; b2 = 0.45 + 0.5 = 0.95, p2 = 0.855; b3 = 0.855 + 0.5 = 1.355, p3 = 0.7195.
        var optimizer = Optimizer.Create(OptimizerKind.Sgd, 1, new OptimizerSettings { Momentum = 0.9f });
        float[] p = [1f];
        float[] expected = [0.95f, 0.855f, 0.7195f];
        foreach (float value in expected)
        {
            optimizer.Step(p, [0.5f], 0.1f);
            p[0].Should().BeApproximately(value, 1e-6f);
        }
    }

    [Fact]
    public void Sgd_NesterovWithConstantGradient_FirstThreeStepsMatchHandValues()
    {
        // d = g + μ·b: 0.5 + 0.45 = 0.95 → 0.905; 0.5 + 0.855 = 1.355 → 0.7695; 0.5 + 1.2195 = 1.7195 → 0.59755.
        var optimizer = Optimizer.Create(OptimizerKind.Sgd, 1, new OptimizerSettings { Momentum = 0.9f, Nesterov = true });
        float[] p = [1f];
        float[] expected = [0.905f, 0.7695f, 0.59755f];
        foreach (float value in expected)
        {
            optimizer.Step(p, [0.5f], 0.1f);
            p[0].Should().BeApproximately(value, 1e-6f);
        }
    }

    [Fact]
    public void Adam_ConstantGradient_MovesEveryParameterByLearningRateEachStep()
    {
        // With a constant gradient the bias-corrected moments are exactly g and g², so each step is
        // lr · g / (|g| + ε) ≈ lr · sign(g), whatever the gradient's magnitude.
        var optimizer = Optimizer.Create(OptimizerKind.Adam, 3, new OptimizerSettings());
        float[] p = [1f, 1f, 1f];
        float[] g = [1e-3f, -2f, 50f];
        for (int step = 1; step <= 3; step++)
        {
            optimizer.Step(p, g, 0.01f);
            p[0].Should().BeApproximately(1f - 0.01f * step, 1e-5f);
            p[1].Should().BeApproximately(1f + 0.01f * step, 1e-5f);
            p[2].Should().BeApproximately(1f - 0.01f * step, 1e-5f);
        }
    }

    [Fact]
    public void Adam_DecoupledDecayWithConstantGradient_ShrinksThenSteps()
    {
        // p ← p·(1 − lr·λ) − lr·sign(g): 5 → 4.985 → 4.970015 → 4.955045 (lr 0.01, λ 0.1).
        var optimizer = Optimizer.Create(OptimizerKind.Adam, 1, new OptimizerSettings { WeightDecay = 0.1f });
        float[] p = [5f];
        float[] expected = [4.985f, 4.970015f, 4.955045f];
        foreach (float value in expected)
        {
            optimizer.Step(p, [0.01f], 0.01f);
            p[0].Should().BeApproximately(value, 1e-5f);
        }
    }

    [Fact]
    public void RmsProp_ConstantGradient_FirstThreeStepsMatchHandValues()
    {
        // s1 = 0.01·0.25 = 0.0025, √s1 = 0.05, p1 = 1 − 0.01·0.5/0.05 = 0.9;
        // s2 = 0.004975 → p2 = 0.8291119; s3 = 0.00742525 → p3 = 0.7710870.
        var optimizer = Optimizer.Create(OptimizerKind.RmsProp, 1, new OptimizerSettings());
        float[] p = [1f];
        float[] expected = [0.9f, 0.8291119f, 0.7710870f];
        foreach (float value in expected)
        {
            optimizer.Step(p, [0.5f], 0.01f);
            p[0].Should().BeApproximately(value, 1e-6f);
        }
    }

    // ---------------------------------------------------------------- independent reference

    [Theory]
    [MemberData(nameof(Configurations))]
    public void Step_FirstThreeSteps_MatchDoublePrecisionReference(string configuration)
    {
        var (kind, settings) = Configuration(configuration);
        float lr = LearningRateFor(kind);
        var random = new Random(11);
        float[] p = RandomVector(random, 7, 2f);
        var reference = new ReferenceOptimizer(kind, settings, p.Length);
        double[] expected = Array.ConvertAll(p, x => (double)x);
        var optimizer = Optimizer.Create(kind, p.Length, settings);
        for (int step = 1; step <= 3; step++)
        {
            float[] g = RandomVector(random, p.Length, 1f);
            optimizer.Step(p, g, lr);
            reference.Step(expected, g, lr);
            optimizer.StepCount.Should().Be(step);
            for (int i = 0; i < p.Length; i++)
                p[i].Should().BeApproximately((float)expected[i], 2e-6f, $"step {step}, element {i}");
        }
    }

    [Fact]
    public void Adam_DecoupledWeightDecay_DiffersFromL2Penalty()
    {
        var settings = new OptimizerSettings { WeightDecay = 0.1f };
        float[] p = [5f, 5f, -3f];
        float[][] gradients = [[0.01f, -0.01f, 0.2f], [0.02f, -0.01f, 0.1f], [0.01f, -0.02f, 0.3f]];
        var decoupled = new ReferenceOptimizer(OptimizerKind.Adam, settings, 3);
        var l2 = new ReferenceOptimizer(OptimizerKind.Adam, settings, 3, adamWithL2: true);
        double[] expectedDecoupled = [5, 5, -3], expectedL2 = [5, 5, -3];
        var optimizer = Optimizer.Create(OptimizerKind.Adam, 3, settings);
        foreach (var g in gradients)
        {
            optimizer.Step(p, g, 0.01f);
            decoupled.Step(expectedDecoupled, g, 0.01f);
            l2.Step(expectedL2, g, 0.01f);
        }

        for (int i = 0; i < 3; i++)
        {
            p[i].Should().BeApproximately((float)expectedDecoupled[i], 1e-5f);
            Math.Abs(p[i] - expectedL2[i]).Should().BeGreaterThan(1e-2, $"element {i} must not follow the L2-penalty rule");
        }
    }

    [Theory]
    [MemberData(nameof(Configurations))]
    public void Step_EveryLength_MatchesReferenceAndScalarPathBitwise(string configuration)
    {
        var (kind, settings) = Configuration(configuration);
        float lr = LearningRateFor(kind);
        for (int n = 0; n <= MaxLength; n++)
        {
            var random = new Random(100 + n);
            float[] p = RandomVector(random, n, 2f);
            float[][] g = [RandomVector(random, n, 1f), RandomVector(random, n, 1f), RandomVector(random, n, 1f)];

            double[] expected = Array.ConvertAll(p, x => (double)x);
            var reference = new ReferenceOptimizer(kind, settings, n);
            float[] scalar = (float[])p.Clone();
            var singles = new Optimizer[n];
            for (int i = 0; i < n; i++) singles[i] = Optimizer.Create(kind, 1, settings);

            var optimizer = Optimizer.Create(kind, n, settings);
            foreach (var gradient in g)
            {
                optimizer.Step(p, gradient, lr);
                reference.Step(expected, gradient, lr);
                for (int i = 0; i < n; i++)
                {
                    float[] one = [scalar[i]];
                    singles[i].Step(one, gradient.AsSpan(i, 1), lr);
                    scalar[i] = one[0];
                }
            }

            for (int i = 0; i < n; i++)
            {
                p[i].Should().BeApproximately((float)expected[i], 2e-6f, $"length {n}, element {i}");
                BitConverter.SingleToInt32Bits(p[i]).Should().Be(BitConverter.SingleToInt32Bits(scalar[i]),
                    $"length {n}, element {i}: a vector lane and the scalar path must agree exactly");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Configurations))]
    public void Step_EveryVectorWidth_BitIdenticalToScalarPath(string configuration)
    {
        // Each width forced on this thread (Lanes.MaxVectorWidth), so the Vector128 path (ARM64's) and the
        // Vector256 one run here too; every element and every state value must come out with the scalar path's bits,
        // with finite inputs and with NaN/±∞ mixed in.
        var (kind, settings) = Configuration(configuration);
        float lr = LearningRateFor(kind);
        int[] widths = [0, 128, 256, 512];
        foreach (bool specials in new[] { false, true })
        {
            for (int n = 0; n <= MaxLength; n++)
            {
                var results = widths.Select(width => RunAtWidth(width, kind, settings, lr, n, specials)).ToArray();
                if (specials && n >= 16) results[0].Parameters.Should().Contain(float.NaN, "the special values must reach the parameters");
                for (int w = 1; w < widths.Length; w++)
                {
                    for (int other = 0; other < w; other++)
                    {
                        string against = widths[other] == 0 ? "scalar" : $"width {widths[other]}";
                        string because = $"length {n}{(specials ? " with NaN/±∞" : "")}: width {widths[w]} against {against}";
                        Bits(results[w].Parameters).Should().Equal(Bits(results[other].Parameters), because + " (parameters)");
                        Bits(results[w].State).Should().Equal(Bits(results[other].State), because + " (state)");
                    }
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Configurations))]
    public void Step_VanishingGradients_StateNeverSubnormal(string configuration)
    {
        // After convergence the gradients vanish and every state value decays geometrically; unflushed, Adam's m
        // (×0.9 a step) and v turn subnormal within a few hundred steps. Tiny gradients (g² underflows) first, then zeros.
        var (kind, settings) = Configuration(configuration);
        float lr = LearningRateFor(kind);
        const int n = 37; // vector blocks and a scalar tail at every width
        foreach (int width in new[] { 0, 128, 256, 512 })
        {
            int saved = Lanes.MaxVectorWidth;
            try
            {
                Lanes.MaxVectorWidth = width;
                var random = new Random(77);
                float[] p = RandomVector(random, n, 1f);
                var optimizer = Optimizer.Create(kind, n, settings);
                float[] g = RandomVector(random, n, 1e-3f);
                int subnormal = 0;
                for (int step = 0; step < 3000; step++)
                {
                    if (step == 1) for (int i = 0; i < n; i++) g[i] = (i % 2 == 0 ? 1e-20f : -3e-25f);
                    if (step == 5) Array.Clear(g);
                    optimizer.Step(p, g, lr);
                    foreach (float v in optimizer.GetState()) if (float.IsSubnormal(v)) subnormal++;
                    p.Should().OnlyContain(v => float.IsFinite(v) && !float.IsSubnormal(v));
                }

                subnormal.Should().Be(0, $"width {width}: no state value may be stored subnormal");
            }
            finally
            {
                Lanes.MaxVectorWidth = saved;
            }
        }
    }

    [Fact]
    public void MaxVectorWidth_DefaultAndUnsupportedValue()
    {
        int widest = Vector512.IsHardwareAccelerated ? 512 : Vector256.IsHardwareAccelerated ? 256 : Vector128.IsHardwareAccelerated ? 128 : 0;
        Lanes.MaxVectorWidth.Should().Be(widest);
        var act = () => Lanes.MaxVectorWidth = 64;
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*0, 128, 256 or 512*");
        Lanes.MaxVectorWidth.Should().Be(widest);
    }

    // ---------------------------------------------------------------- minimising a quadratic

    [Theory]
    [InlineData("Sgd", 0.1f, 300)]
    [InlineData("Adam", 0.05f, 500)]
    [InlineData("RmsProp", 0.01f, 500)]
    public void Step_Quadratic_ConvergesToMinimum(string kindName, float lr, int steps)
    {
        var kind = Enum.Parse<OptimizerKind>(kindName);
        // f(p) = ½ Σ a_i (p_i − c_i)², ∇f = a ⊙ (p − c).
        const int n = 10;
        var random = new Random(5);
        float[] a = new float[n], c = new float[n], p = new float[n], g = new float[n];
        for (int i = 0; i < n; i++)
        {
            a[i] = 0.5f + 1.5f * (float)random.NextDouble();
            c[i] = 2f * (float)random.NextDouble() - 1f;
        }

        var optimizer = Optimizer.Create(kind, n, new OptimizerSettings());
        for (int step = 0; step < steps; step++)
        {
            for (int i = 0; i < n; i++) g[i] = a[i] * (p[i] - c[i]);
            optimizer.Step(p, g, lr);
        }

        for (int i = 0; i < n; i++)
            p[i].Should().BeApproximately(c[i], 1e-3f, $"{kind} element {i}");
    }

    // ---------------------------------------------------------------- state, allocation, validation

    [Theory]
    [MemberData(nameof(Configurations))]
    public void SetState_SnapshotOfTwoSteps_ContinuesBitIdentically(string configuration)
    {
        var (kind, settings) = Configuration(configuration);
        float lr = LearningRateFor(kind);
        var random = new Random(3);
        const int n = 37;
        float[] p = RandomVector(random, n, 1f);
        float[][] g = Enumerable.Range(0, 5).Select(_ => RandomVector(random, n, 1f)).ToArray();

        var original = Optimizer.Create(kind, n, settings);
        original.Step(p, g[0], lr);
        original.Step(p, g[1], lr);
        float[] state = original.GetState();
        float[] pCopy = (float[])p.Clone();
        for (int k = 2; k < 5; k++) original.Step(p, g[k], lr);

        var restored = Optimizer.Create(kind, n, settings);
        restored.SetState(state);
        restored.StepCount.Should().Be(2);
        for (int k = 2; k < 5; k++) restored.Step(pCopy, g[k], lr);

        pCopy.Should().Equal(p);
        restored.GetState().Should().Equal(original.GetState());
    }

    [Fact]
    public void SetState_LargeStepCount_RoundTrips()
    {
        var optimizer = Optimizer.Create(OptimizerKind.Adam, 2, new OptimizerSettings());
        float[] state = optimizer.GetState();
        long steps = (3L << 24) + 12345;
        state[2] = steps & ((1 << 24) - 1);
        state[3] = steps >> 24;
        optimizer.SetState(state);
        optimizer.StepCount.Should().Be(steps);
        optimizer.GetState().Should().Equal(state);
    }

    [Fact]
    public void SetState_WrongKindOrLength_ThrowsNamingTheProblem()
    {
        var adam = Optimizer.Create(OptimizerKind.Adam, 4, new OptimizerSettings());
        var rms = Optimizer.Create(OptimizerKind.RmsProp, 4, new OptimizerSettings { RmsMomentum = 0.5f });
        rms.StateBufferCount.Should().Be(2);
        adam.StateBufferCount.Should().Be(2);

        var wrongKind = () => adam.SetState(rms.GetState());
        wrongKind.Should().Throw<ArgumentException>().WithMessage("*kind*").And.ParamName.Should().Be("state");
        var wrongLength = () => adam.SetState(new float[5]);
        wrongLength.Should().Throw<ArgumentException>().WithMessage("*5 values*expects 12*");
    }

    [Fact]
    public void Reset_AfterSteps_BehavesLikeAFreshOptimizer()
    {
        var settings = new OptimizerSettings();
        var used = Optimizer.Create(OptimizerKind.Adam, 3, settings);
        float[] p = [1f, 2f, 3f];
        used.Step(p, [0.1f, 0.2f, 0.3f], 0.01f);
        used.Reset();
        used.StepCount.Should().Be(0);

        var fresh = Optimizer.Create(OptimizerKind.Adam, 3, settings);
        float[] a = [1f, 2f, 3f], b = [1f, 2f, 3f];
        used.Step(a, [0.5f, -0.5f, 0.25f], 0.01f);
        fresh.Step(b, [0.5f, -0.5f, 0.25f], 0.01f);
        a.Should().Equal(b);
    }

    [Theory]
    [MemberData(nameof(Configurations))]
    public void Step_AfterWarmUp_DoesNotAllocate(string configuration)
    {
        var (kind, settings) = Configuration(configuration);
        const int n = 1000;
        var random = new Random(2);
        float[] p = RandomVector(random, n, 1f), g = RandomVector(random, n, 1e-3f);
        var optimizer = Optimizer.Create(kind, n, settings);
        optimizer.Step(p, g, 1e-3f);

        SteadyAllocation.Bytes(() => { for (int i = 0; i < 20; i++) optimizer.Step(p, g, 1e-3f); }).Should().Be(0);
    }

    [Fact]
    public void Step_MismatchedLengthsOrBadRate_Throws()
    {
        var optimizer = Optimizer.Create(OptimizerKind.Sgd, 3, new OptimizerSettings());
        var shortParameters = () => optimizer.Step(new float[2], new float[3], 0.1f);
        shortParameters.Should().Throw<ArgumentException>().WithMessage("Expected 3 parameters, got 2*").And.ParamName.Should().Be("parameters");
        var shortGradients = () => optimizer.Step(new float[3], new float[4], 0.1f);
        shortGradients.Should().Throw<ArgumentException>().And.ParamName.Should().Be("gradients");
        var negativeRate = () => optimizer.Step(new float[3], new float[3], -0.1f);
        negativeRate.Should().Throw<ArgumentOutOfRangeException>().And.ParamName.Should().Be("learningRate");
        var nanRate = () => optimizer.Step(new float[3], new float[3], float.NaN);
        nanRate.Should().Throw<ArgumentOutOfRangeException>();
        optimizer.StepCount.Should().Be(0);
    }

    [Theory]
    [InlineData("Adam", "Beta1")]
    [InlineData("Adam", "Beta2")]
    [InlineData("Adam", "Epsilon")]
    [InlineData("Sgd", "Momentum")]
    [InlineData("Sgd", "Nesterov")]
    [InlineData("RmsProp", "Rho")]
    [InlineData("RmsProp", "RmsMomentum")]
    [InlineData("RmsProp", "WeightDecay")]
    public void Create_InvalidSetting_ThrowsNamingIt(string kindName, string field)
    {
        var kind = Enum.Parse<OptimizerKind>(kindName);
        var settings = new OptimizerSettings();
        switch (field)
        {
            case "Beta1": settings.Beta1 = 1f; break;
            case "Beta2": settings.Beta2 = float.NaN; break;
            case "Epsilon": settings.Epsilon = -1e-8f; break;
            case "Momentum": settings.Momentum = -0.1f; break;
            case "Nesterov": settings.Momentum = 0f; settings.Nesterov = true; break;
            case "Rho": settings.Rho = 1f; break;
            case "RmsMomentum": settings.RmsMomentum = float.PositiveInfinity; break;
            case "WeightDecay": settings.WeightDecay = -0.01f; break;
        }

        var create = () => Optimizer.Create(kind, 4, settings);
        create.Should().Throw<ArgumentOutOfRangeException>().And.ParamName.Should().Be(field);
    }

    [Fact]
    public void Create_SettingOfAnotherKind_IsIgnored()
    {
        // Adam does not read Momentum; an SGD-only setting out of range must not stop it.
        var optimizer = Optimizer.Create(OptimizerKind.Adam, 2, new OptimizerSettings { Momentum = -1f });
        optimizer.Kind.Should().Be(OptimizerKind.Adam);
    }

    // ---------------------------------------------------------------- helpers

    /// <summary>Three steps of an optimizer of length n with <see cref="Lanes.MaxVectorWidth"/> forced on this thread.</summary>
    private static (float[] Parameters, float[] State) RunAtWidth(int width, OptimizerKind kind, OptimizerSettings settings, float lr, int n, bool specials)
    {
        var random = new Random(200 + n);
        float[] p = RandomVector(random, n, 2f);
        float[][] g = [RandomVector(random, n, 1f), RandomVector(random, n, 1f), RandomVector(random, n, 1f)];
        if (specials)
        {
            // Sparse, at positions that land in vector blocks and in the tail, each step its own.
            for (int i = 0; i < n; i++)
            {
                if (i % 11 == 3) g[0][i] = float.NaN;
                if (i % 13 == 7) g[1][i] = float.PositiveInfinity;
                if (i % 17 == 9) g[2][i] = float.NegativeInfinity;
                if (i % 19 == 14) p[i] = float.MaxValue;
                if (i % 23 == 5) g[1][i] = 3e38f; // g² overflows to +∞
            }
        }

        int saved = Lanes.MaxVectorWidth;
        try
        {
            Lanes.MaxVectorWidth = width;
            var optimizer = Optimizer.Create(kind, n, settings);
            foreach (var gradient in g) optimizer.Step(p, gradient, lr);
            return (p, optimizer.GetState());
        }
        finally
        {
            Lanes.MaxVectorWidth = saved;
        }
    }

    private static int[] Bits(float[] x) => Array.ConvertAll(x, BitConverter.SingleToInt32Bits);

    private static float[] RandomVector(Random random, int n, float scale)
    {
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = scale * (2f * (float)random.NextDouble() - 1f);
        return v;
    }

    /// <summary>
    /// Double-precision, one element at a time, written from PyTorch's documented update equations
    /// (torch.optim.SGD, AdamW / Adam, RMSprop), independently of the engine's vector code.
    /// </summary>
    private sealed class ReferenceOptimizer
    {
        private readonly OptimizerKind _kind;
        private readonly OptimizerSettings _s;
        private readonly bool _adamWithL2;
        private readonly double[] _a, _b; // SGD: momentum buffer; Adam: m, v; RMSProp: square average, momentum buffer
        private int _t;

        public ReferenceOptimizer(OptimizerKind kind, OptimizerSettings settings, int n, bool adamWithL2 = false)
        {
            _kind = kind;
            _s = settings;
            _adamWithL2 = adamWithL2;
            _a = new double[n];
            _b = new double[n];
        }

        public void Step(double[] p, float[] gradient, float learningRate)
        {
            _t++;
            double lr = learningRate, wd = _s.WeightDecay;
            for (int i = 0; i < p.Length; i++)
            {
                double g = gradient[i];
                switch (_kind)
                {
                    case OptimizerKind.Sgd:
                    {
                        g += wd * p[i];
                        double mu = _s.Momentum;
                        if (mu != 0)
                        {
                            _a[i] = _t == 1 ? g : mu * _a[i] + g; // PyTorch: buf = clone(g) on the first step
                            g = _s.Nesterov ? g + mu * _a[i] : _a[i];
                        }

                        p[i] -= lr * g;
                        break;
                    }

                    case OptimizerKind.Adam:
                    {
                        double b1 = _s.Beta1, b2 = _s.Beta2;
                        if (_adamWithL2) g += wd * p[i];
                        else p[i] *= 1 - lr * wd;
                        _a[i] = b1 * _a[i] + (1 - b1) * g;
                        _b[i] = b2 * _b[i] + (1 - b2) * g * g;
                        double bc1 = 1 - Math.Pow(b1, _t), bc2 = 1 - Math.Pow(b2, _t);
                        p[i] -= lr / bc1 * _a[i] / (Math.Sqrt(_b[i]) / Math.Sqrt(bc2) + _s.Epsilon);
                        break;
                    }

                    case OptimizerKind.RmsProp:
                    {
                        double alpha = _s.Rho;
                        g += wd * p[i];
                        _a[i] = alpha * _a[i] + (1 - alpha) * g * g;
                        double avg = Math.Sqrt(_a[i]) + _s.RmsEpsilon;
                        if (_s.RmsMomentum > 0)
                        {
                            _b[i] = _s.RmsMomentum * _b[i] + g / avg;
                            p[i] -= lr * _b[i];
                        }
                        else
                        {
                            p[i] -= lr * g / avg;
                        }

                        break;
                    }
                }
            }
        }
    }
}
