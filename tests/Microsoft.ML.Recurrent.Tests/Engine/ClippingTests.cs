using System.Runtime.Intrinsics;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Kernels;
using Microsoft.ML.Recurrent.Engine.Optimizers;

namespace Microsoft.ML.Recurrent.Tests.Engine;

public class ClippingTests
{
    private static readonly int MaxLength = 2 * Vector512<float>.Count + 1;

    /// <summary>Every path of the element-wise loops (<see cref="Lanes.MaxVectorWidth"/>), forced on this thread.</summary>
    public static TheoryData<int> Widths => new() { 0, 128, 256, 512 };

    [Fact]
    public void GlobalNorm_KnownVector_ReturnsEuclideanNorm()
    {
        GradientClipping.GlobalNorm([3f, 4f, 12f]).Should().Be(13f);
        GradientClipping.GlobalNorm([]).Should().Be(0f);
        GradientClipping.GlobalNorm([-2f]).Should().Be(2f);
    }

    [Fact]
    public void GlobalNorm_EveryLength_MatchesDoubleReference()
    {
        for (int n = 0; n <= MaxLength; n++)
        {
            float[] g = RandomVector(new Random(n), n, 3f);
            double expected = 0;
            foreach (float x in g) expected += (double)x * x;
            expected = Math.Sqrt(expected);
            GradientClipping.GlobalNorm(g).Should().BeApproximately((float)expected, (float)(1e-7 * expected + 1e-30), $"length {n}");
        }
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void GlobalNorm_EveryWidthAndLength_MatchesDoubleReference(int width)
    {
        for (int n = 0; n <= MaxLength; n++)
        {
            float[] g = RandomVector(new Random(n), n, 3f);
            double expected = 0;
            foreach (float x in g) expected += (double)x * x;
            expected = Math.Sqrt(expected);
            float norm = WithWidth(width, () => GradientClipping.GlobalNorm(g));
            norm.Should().BeApproximately((float)expected, (float)(1e-7 * expected + 1e-30), $"width {width}, length {n}");
            WithWidth(width, () => GradientClipping.GlobalNorm(g)).Should().Be(norm, "the same length and width give the same bits");
        }
    }

    [Fact]
    public void SumOfSquares_ScalarAnd128BitPaths_SumInTheDocumentedOrder()
    {
        // The order is part of the contract (deterministic for a length and a width): width 0 adds the squares one
        // at a time; the 128-bit path (ARM64's) keeps partial sums of the elements 0, 1, 2, 3 modulo 4 over the whole
        // blocks of 4, adds them as (s0 + s2) + (s1 + s3), then the tail one at a time. The double sums must match
        // those orders bit for bit. (Widths 256 and 512 group by 8 and 16 and reduce with VectorNNN.Sum, whose order
        // is the runtime's; they are checked against the reference above.) Magnitudes spread over six decades make
        // the two orders round differently, so the check tells them apart.
        int differing = 0;
        for (int n = 0; n <= MaxLength; n++)
        {
            float[] g = RandomVector(new Random(50 + n), n, 1f);
            for (int i = 0; i < n; i += 3) g[i] *= 1e3f;

            double sequential = 0;
            foreach (float x in g) sequential += (double)x * x;
            double[] lanes = new double[4];
            int blocks = n / 4 * 4, j = 0;
            for (; j < blocks; j++) lanes[j % 4] += (double)g[j] * g[j];
            double grouped = (lanes[0] + lanes[2]) + (lanes[1] + lanes[3]);
            for (; j < n; j++) grouped += (double)g[j] * g[j];
            if (grouped != sequential) differing++;

            BitConverter.DoubleToInt64Bits(WithWidth(0, () => GradientClipping.SumOfSquares(g)))
                .Should().Be(BitConverter.DoubleToInt64Bits(sequential), $"scalar, length {n}");
            BitConverter.DoubleToInt64Bits(WithWidth(128, () => GradientClipping.SumOfSquares(g)))
                .Should().Be(BitConverter.DoubleToInt64Bits(grouped), $"width 128, length {n}");
        }

        differing.Should().BeGreaterThan(MaxLength / 4, "the inputs must make the two orders differ");
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void ClipByGlobalNorm_EveryWidth_NonFiniteAnywhereGivesNonFiniteNormAndLeavesGradient(int width)
    {
        for (int n = 1; n <= MaxLength; n++)
        {
            float[] clean = RandomVector(new Random(n), n, 100f);
            for (int i = 0; i < n; i++)
            {
                foreach (float special in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity })
                {
                    float[] g = (float[])clean.Clone();
                    g[i] = special;
                    float[] before = (float[])g.Clone();
                    float norm = WithWidth(width, () => GradientClipping.ClipByGlobalNorm(g, 1f));
                    if (float.IsNaN(special)) float.IsNaN(norm).Should().BeTrue($"width {width}, length {n}, NaN at {i}");
                    else norm.Should().Be(float.PositiveInfinity, $"width {width}, length {n}, {special} at {i}");
                    g.Should().Equal(before);
                }
            }

            // Finite values whose squares overflow float: the double sum does not.
            float[] huge = (float[])clean.Clone();
            huge[n - 1] = 3e38f;
            WithWidth(width, () => GradientClipping.GlobalNorm(huge)).Should().BeApproximately(3e38f, 3e38f * 1e-6f, $"width {width}, length {n}");
        }
    }

    [Fact]
    public void GlobalNorm_HugeValues_DoesNotOverflow()
    {
        // 3e30² overflows float; accumulated in double the norm is exact to float precision.
        float[] g = new float[40];
        g[7] = 3e30f;
        g[33] = -4e30f;
        GradientClipping.GlobalNorm(g).Should().BeApproximately(5e30f, 5e30f * 1e-6f);
    }

    [Fact]
    public void ClipByGlobalNorm_SmallGradient_LeavesItUntouched()
    {
        float[] g = RandomVector(new Random(1), 50, 0.1f);
        float[] before = (float[])g.Clone();
        float norm = GradientClipping.ClipByGlobalNorm(g, 10f);
        norm.Should().Be(GradientClipping.GlobalNorm(before));
        g.Should().Equal(before);
    }

    [Fact]
    public void ClipByGlobalNorm_LargeGradient_ScalesToExactlyMaxNorm()
    {
        for (int n = 1; n <= MaxLength; n++)
        {
            float[] g = RandomVector(new Random(n), n, 100f);
            g[n - 1] = 100f; // norm ≥ 100 > maxNorm
            float[] before = (float[])g.Clone();
            float expectedNorm = GradientClipping.GlobalNorm(before);

            GradientClipping.ClipByGlobalNorm(g, 1.5f).Should().Be(expectedNorm);

            GradientClipping.GlobalNorm(g).Should().BeApproximately(1.5f, 1e-6f, $"length {n}");
            for (int i = 0; i < n; i++)
                g[i].Should().BeApproximately(before[i] * 1.5f / expectedNorm, 1e-6f, $"length {n}: the direction is kept");
        }
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(-1f)]
    public void ClipByGlobalNorm_NonPositiveMaxNorm_IsNoOp(float maxNorm)
    {
        float[] g = [30f, 40f];
        GradientClipping.ClipByGlobalNorm(g, maxNorm).Should().Be(50f);
        g.Should().Equal(30f, 40f);
    }

    [Fact]
    public void ClipByGlobalNorm_NormEqualToMaxNorm_IsNoOp()
    {
        float[] g = [3f, 4f];
        GradientClipping.ClipByGlobalNorm(g, 5f).Should().Be(5f);
        g.Should().Equal(3f, 4f);
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NegativeInfinity)]
    public void ClipByGlobalNorm_NonFiniteGradient_ReturnsNonFiniteNormAndLeavesGradient(float special)
    {
        float[] g = [1f, special, 2f];
        float norm = GradientClipping.ClipByGlobalNorm(g, 1f);
        float.IsFinite(norm).Should().BeFalse();
        g[0].Should().Be(1f);
        g[2].Should().Be(2f);
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void AllFinite_EveryWidthLengthAndPosition_FindsNaNAndInfinities(int width)
    {
        int saved = Lanes.MaxVectorWidth;
        Lanes.MaxVectorWidth = width;
        try { AllFiniteEveryLengthAndPosition(width); }
        finally { Lanes.MaxVectorWidth = saved; }
    }

    private static void AllFiniteEveryLengthAndPosition(int width)
    {
        float[] specials = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, BitConverter.Int32BitsToSingle(unchecked((int)0xFFC00001))];
        for (int n = 0; n <= MaxLength; n++)
        {
            float[] x = RandomVector(new Random(n), n, 1e3f);
            // Finite extremes must not be flagged.
            if (n > 0) x[0] = float.MaxValue;
            if (n > 1) x[1] = -float.MaxValue;
            if (n > 2) x[2] = float.Epsilon;
            if (n > 3) x[3] = -0f;
            NumericChecks.AllFinite(x).Should().BeTrue($"width {width}: length {n} is all finite");

            for (int i = 0; i < n; i++)
            {
                foreach (float special in specials)
                {
                    float saved = x[i];
                    x[i] = special;
                    NumericChecks.AllFinite(x).Should().BeFalse($"width {width}: length {n}, {special} at {i}");
                    x[i] = saved;
                }
            }
        }
    }

    private static T WithWidth<T>(int width, Func<T> action)
    {
        int saved = Lanes.MaxVectorWidth;
        Lanes.MaxVectorWidth = width;
        try { return action(); }
        finally { Lanes.MaxVectorWidth = saved; }
    }

    private static float[] RandomVector(Random random, int n, float scale)
    {
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = scale * (2f * (float)random.NextDouble() - 1f);
        return v;
    }
}
