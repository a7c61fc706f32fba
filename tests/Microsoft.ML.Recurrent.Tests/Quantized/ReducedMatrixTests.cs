using System.Runtime.Intrinsics.X86;
using Microsoft.ML.Recurrent.Engine.Quantized;

namespace Microsoft.ML.Recurrent.Tests.Quantized;

/// <summary>The reduced weight formats on their own: quantization bounds, known roundings, the exact int8 products on
/// every kernel (scalar reference, portable, AVX-VNNI), the float epilogues against double references.</summary>
public class ReducedMatrixTests
{
    private static float[] RandomWeights(int rows, int columns, int seed)
    {
        var rng = new Random(seed);
        var w = new float[rows * columns];
        for (int r = 0; r < rows; r++)
        {
            // Rows of very different magnitudes (per-row scales matter), one all-zero row.
            double magnitude = r == 1 ? 0 : Math.Pow(10, rng.NextDouble() * 4 - 3);
            for (int c = 0; c < columns; c++) w[r * columns + c] = (float)((rng.NextDouble() * 2 - 1) * magnitude);
        }

        return w;
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 5)]
    [InlineData(37, 130)]
    [InlineData(512, 128)]
    [InlineData(137, 9)]
    public void Int8_RoundTrip_WithinHalfAScalePerRow(int rows, int columns)
    {
        var w = RandomWeights(rows, columns, seed: rows + columns);
        var m = new Int8Matrix(w, rows, columns);
        for (int r = 0; r < rows; r++)
        {
            double max = 0;
            for (int c = 0; c < columns; c++) max = Math.Max(max, Math.Abs(w[r * columns + c]));
            m.Scales[r].Should().Be((float)max / 127f, $"row {r}'s scale is max |w| / 127");
            int largest = 0, sum = 0;
            for (int c = 0; c < columns; c++)
            {
                sbyte q = m.At(r, c);
                sum += q;
                largest = Math.Max(largest, Math.Abs((int)q));
                double error = Math.Abs(w[r * columns + c] - q * (double)m.Scales[r]);
                error.Should().BeLessThanOrEqualTo(m.Scales[r] / 2.0 * (1 + 1e-6), $"w[{r}, {c}] is within half a step of its int8 value");
            }

            m.RowSums[r].Should().Be(sum);
            if (max > 0 && rows * columns > 1) largest.Should().Be(127, $"row {r}'s largest weight maps to ±127");
            if (max == 0) largest.Should().Be(0);
        }
    }

    [Fact]
    public void Int8_QuantizeVector_KnownValuesRoundHalfToEven()
    {
        // max |x| = 1: x · 127 → 127, −63.5 → −64 (tie to even), 31.75 → 32, 0.
        var q = new sbyte[8];
        Int8Kernels.QuantizeVector([1f, -0.5f, 0.25f, 0f], q).Should().Be(1f / 127f);
        q.Should().Equal(127, -64, 32, 0, 0, 0, 0, 0);
        // max |x| = 127: x · 1 → ties 2.5 → 2, −2.5 → −2, 3.5 → 4 (to even), 0.4 → 0.
        Int8Kernels.QuantizeVector([127f, 2.5f, -2.5f, 3.5f, 0.4f], q).Should().Be(1f);
        q.Should().Equal(127, 2, -2, 4, 0, 0, 0, 0);

        var zeros = new sbyte[] { 5, 5, 5, 5 };
        Int8Kernels.QuantizeVector([0f, 0f, 0f], zeros).Should().Be(0f);
        zeros.Should().Equal(0, 0, 0, 0);
    }

    [Fact]
    public void Int8_QuantizeVector_VectorBodyEqualsScalarRule()
    {
        var rng = new Random(4);
        var x = new float[101];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 6 - 3);
        var q = new sbyte[104];
        float scale = Int8Kernels.QuantizeVector(x, q);
        float max = x.Max(v => Math.Abs(v));
        scale.Should().Be(max / 127f);
        for (int i = 0; i < x.Length; i++)
            q[i].Should().Be((sbyte)Math.Clamp(MathF.Round(x[i] * (127f / max)), -127f, 127f), $"element {i}");
        q[101..].Should().Equal(0, 0, 0);
    }

    public static TheoryData<int, int> Shapes() => new() { { 1, 1 }, { 8, 4 }, { 9, 5 }, { 40, 33 }, { 512, 128 }, { 384, 64 }, { 100, 257 }, { 96, 8 }, { 136, 20 } };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Int8_Kernels_EqualTheScalarReferenceBitForBit(int rows, int columns)
    {
        var m = new Int8Matrix(RandomWeights(rows, columns, seed: 11 * rows + columns), rows, columns);
        var rng = new Random(rows * columns);
        var u = new sbyte[m.Quads * 4];
        for (int c = 0; c < columns; c++) u[c] = (sbyte)(c % 7 == 0 ? (c % 2 == 0 ? 127 : -127) : rng.Next(-127, 128));
        AssertKernelsAgree(m, u, rows);

        // A hand-checked product: q = [[127, −127, 64]] (row scale 1/127 · 127) · u = [1, 1, 2] → 127 − 127 + 128 = 128.
        var small = new Int8Matrix([1f, -1f, 64f / 127f], 1, 3);
        var known = new int[8];
        Int8Kernels.Multiply(small, [1, 1, 2, 0], known);
        known[0].Should().Be(128);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(-1)]
    [InlineData(0)]
    public void Int8_Kernels_ExtremeProducts_Exact(int agreement)
    {
        // Every weight ±127 and every u ±127 with the weight's sign (agreement 1: every product +127²), the opposite sign
        // (−1: every product −127²), or u alternating 127, 0, −127, 0 (0). The AVX2 kernel adds two products into int16
        // (|u| times q with u's sign): 2 · 127² = 32,258 is the largest such sum, just under int16's saturation.
        const int rows = 72, columns = 68; // 9 row blocks (a group of 8 and one left), 17 quads
        var w = new float[rows * columns];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++)
                w[r * columns + c] = ((r * 7 + c * 3) % 5 < 2) ? -1f : 1f;
        var m = new Int8Matrix(w, rows, columns);
        var u = new sbyte[m.Quads * 4];
        for (int c = 0; c < columns; c++)
            u[c] = agreement == 0 ? (sbyte)(c % 4 == 0 ? 127 : c % 4 == 2 ? -127 : 0) : (sbyte)(127 * Math.Sign(w[c]) * agreement);
        var reference = AssertKernelsAgree(m, u, rows);
        if (agreement != 0)
        {
            // u carries row 0's signs, so rows 0 and 5 (the sign pattern repeats every 5 rows) get ±127² at every column.
            reference[0].Should().Be(agreement * 127 * 127 * columns);
            reference[5].Should().Be(agreement * 127 * 127 * columns);
        }
    }

    /// <summary>Every int8 kernel the machine runs gives the scalar reference's sums (returned) for every row.</summary>
    private static int[] AssertKernelsAgree(Int8Matrix m, sbyte[] u, int rows)
    {
        int n = m.RowBlocks * 8;
        var reference = new int[n];
        var portable = new int[n];
        Int8Kernels.MultiplyScalar(m, u, reference);
        Int8Kernels.MultiplyPortable(m, u, portable);
        portable.AsSpan(0, rows).ToArray().Should().Equal(reference.AsSpan(0, rows).ToArray(), "integer sums are exact on every path");
        if (Avx2.IsSupported)
        {
            var avx2 = new int[n];
            Int8Kernels.MultiplyAvx2(m, u, avx2);
            avx2.Should().Equal(reference, "VPMADDUBSW's pair sums of |u|·(±q) stay under int16's saturation, and every padded row is written");
        }

        if (AvxVnni.IsSupported)
        {
            var vnni = new int[n];
            Int8Kernels.MultiplyVnni(m, u, vnni);
            vnni.AsSpan(0, rows).ToArray().Should().Equal(reference.AsSpan(0, rows).ToArray(), "VPDPBUSD with the 128 · row-sum correction is exact");
        }

        return reference;
    }

    [Fact]
    public void Int8_Multiply_IsTheDequantizedProductPlusAdd()
    {
        const int rows = 45, columns = 70;
        var w = RandomWeights(rows, columns, seed: 5);
        var m = new Int8Matrix(w, rows, columns);
        var rng = new Random(6);
        var x = Enumerable.Range(0, columns).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
        var add = Enumerable.Range(0, rows).Select(_ => (float)rng.NextDouble()).ToArray();
        var y = new float[rows];
        m.Multiply(x, y, add, new QuantizedScratch());

        float max = x.Max(v => Math.Abs(v));
        for (int r = 0; r < rows; r++)
        {
            double exact = 0, dequantized = 0, bound = 0;
            for (int c = 0; c < columns; c++)
            {
                double qx = Math.Clamp(MathF.Round(x[c] * (127f / max)), -127f, 127f) * (max / 127.0);
                exact += w[r * columns + c] * (double)x[c];
                dequantized += m.Dequantized(r, c) * qx;
                // |w·x − ŵ·x̂| ≤ |w − ŵ|·|x| + |ŵ|·|x − x̂| ≤ s_w/2 · |x| + |ŵ| · s_x/2
                bound += m.Scales[r] / 2 * Math.Abs(x[c]) + Math.Abs(m.Dequantized(r, c)) * max / 127 / 2;
            }

            y[r].Should().BeApproximately((float)(dequantized + add[r]), 1e-5f * (1 + Math.Abs((float)dequantized)), $"row {r}: only the epilogue rounds");
            Math.Abs(y[r] - add[r] - exact).Should().BeLessThanOrEqualTo(bound * 1.0001 + 1e-6, $"row {r} is within the quantization bound of the float product");
        }
    }

    [Fact]
    public void Int8_TooManyColumns_NotSupported()
    {
        Action act = () => _ = new Int8Matrix(new float[Int8Matrix.MaxColumns + 1], 1, Int8Matrix.MaxColumns + 1);
        act.Should().Throw<NotSupportedException>().WithMessage("*at most 131072 inputs*131073*");
    }

    [Theory]
    [InlineData(0x3F800000u, 0x3F80u)]   // 1
    [InlineData(0x3F808000u, 0x3F80u)]   // 1 + 2^-8: a tie, to the even 1
    [InlineData(0x3F818000u, 0x3F82u)]   // 1 + 3·2^-8: a tie, to the even neighbour above
    [InlineData(0x3F808001u, 0x3F81u)]   // just above the tie: up
    [InlineData(0x3F807FFFu, 0x3F80u)]   // just below the tie: down
    [InlineData(0xBF808001u, 0xBF81u)]   // negative: magnitude rounds the same way
    [InlineData(0x00000000u, 0x0000u)]
    [InlineData(0x7F7FFFFFu, 0x7F80u)]   // float.MaxValue rounds to +∞, as PyTorch's bfloat16 does
    public void BFloat16_Rounding_NearestEven(uint input, uint expected)
    {
        BFloat16Matrix.ToBFloat16(BitConverter.UInt32BitsToSingle(input)).Should().Be(expected);
    }

    [Fact]
    public void BFloat16_Matrix_StoresRoundedWeightsWithinHalfAnUlp_AndMultipliesThem()
    {
        const int rows = 29, columns = 37;
        var w = RandomWeights(rows, columns, seed: 9);
        var m = new BFloat16Matrix(w, rows, columns);
        var rng = new Random(10);
        var x = Enumerable.Range(0, columns).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var add = Enumerable.Range(0, rows).Select(_ => (float)rng.NextDouble()).ToArray();
        var y = new float[rows];
        m.Multiply(x, y, add, new QuantizedScratch());
        for (int r = 0; r < rows; r++)
        {
            double product = 0, magnitude = 0;
            for (int c = 0; c < columns; c++)
            {
                float stored = m.At(r, c);
                stored.Should().Be(BFloat16Matrix.FromBFloat16(BFloat16Matrix.ToBFloat16(w[r * columns + c])));
                Math.Abs(stored - w[r * columns + c]).Should().BeLessThanOrEqualTo(Math.Abs(w[r * columns + c]) / 256, "bfloat16 keeps 8 significant bits");
                product += stored * (double)x[c];
                magnitude += Math.Abs(stored * (double)x[c]);
            }

            y[r].Should().BeApproximately((float)(product + add[r]), (float)(1e-6 * (magnitude + 1)), $"row {r} accumulates the bfloat16 weights in float32");
        }
    }
}
