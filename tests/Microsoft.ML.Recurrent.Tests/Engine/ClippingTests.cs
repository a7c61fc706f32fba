using System.Runtime.Intrinsics;
using Microsoft.ML.Recurrent.Engine.Optimizers;

namespace Microsoft.ML.Recurrent.Tests.Engine;

public class ClippingTests
{
    private static readonly int MaxLength = 2 * Vector512<float>.Count + 1;

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

    [Fact]
    public void AllFinite_EveryLengthAndPosition_FindsNaNAndInfinities()
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
            NumericChecks.AllFinite(x).Should().BeTrue($"length {n} is all finite");

            for (int i = 0; i < n; i++)
            {
                foreach (float special in specials)
                {
                    float saved = x[i];
                    x[i] = special;
                    NumericChecks.AllFinite(x).Should().BeFalse($"length {n}, {special} at {i}");
                    x[i] = saved;
                }
            }
        }
    }

    private static float[] RandomVector(Random random, int n, float scale)
    {
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = scale * (2f * (float)random.NextDouble() - 1f);
        return v;
    }
}
