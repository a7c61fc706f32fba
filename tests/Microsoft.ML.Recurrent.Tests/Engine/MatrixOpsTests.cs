using Microsoft.ML.Recurrent.Engine.Kernels;

namespace Microsoft.ML.Recurrent.Tests.Engine;

public class MatrixOpsTests
{
    private static float[] Random(int count, int seed)
    {
        var rng = new Random(seed);
        var v = new float[count];
        for (int i = 0; i < count; i++) v[i] = (float)(rng.NextDouble() * 4 - 2);
        return v;
    }

    [Fact]
    public void ColumnSums_EveryShapeUpToTwoVectorsPlusOne_MatchesScalarReference()
    {
        for (int rows = 0; rows <= 5; rows++)
        {
            for (int cols = 0; cols <= 33; cols++)
            {
                int lda = cols + 3;
                var a = Random(Math.Max(rows * lda, 1), rows * 100 + cols);
                var acc = Random(cols + 2, cols);
                var expected = (float[])acc.Clone();
                for (int j = 0; j < cols; j++)
                {
                    float s = expected[j];
                    for (int i = 0; i < rows; i++) s += a[i * lda + j]; // rows in order, float, like the kernel
                    expected[j] = s;
                }

                MatrixOps.ColumnSums(a, rows, cols, lda, acc);
                acc.Should().Equal(expected, $"rows={rows} cols={cols}");
            }
        }
    }

    [Fact]
    public void ColumnSums_SpecialValues_PropagateLikeScalarSums()
    {
        float[] a = [1f, float.NaN, float.PositiveInfinity, 2f, 0f, float.NegativeInfinity];
        var acc = new float[3];
        MatrixOps.ColumnSums(a, 2, 3, 3, acc);
        acc[0].Should().Be(3f);
        float.IsNaN(acc[1]).Should().BeTrue();
        float.IsNaN(acc[2]).Should().BeTrue("+∞ + −∞ is NaN");
    }

    [Fact]
    public void ColumnSums_ShortBuffers_Throw()
    {
        Action shortA = () => MatrixOps.ColumnSums(new float[5], 2, 3, 3, new float[3]);
        shortA.Should().Throw<ArgumentException>().Which.ParamName.Should().Be("a");
        Action shortAcc = () => MatrixOps.ColumnSums(new float[6], 2, 3, 3, new float[2]);
        shortAcc.Should().Throw<ArgumentException>().Which.ParamName.Should().Be("accumulate");
    }

    [Fact]
    public void AddRowToRows_AddOrOverwrite_EveryRowGetsTheVectorAndPaddingIsKept()
    {
        for (int cols = 0; cols <= 33; cols++)
        {
            const int rows = 3;
            int ldc = cols + 2;
            var row = Random(cols, cols);
            var c = Random(rows * ldc, 7 + cols);
            var before = (float[])c.Clone();
            MatrixOps.AddRowToRows(row, c, rows, cols, ldc);
            for (int i = 0; i < rows; i++)
            {
                for (int j = 0; j < ldc; j++)
                {
                    float expected = j < cols ? before[i * ldc + j] + row[j] : before[i * ldc + j];
                    c[i * ldc + j].Should().Be(expected);
                }
            }

            MatrixOps.AddRowToRows(row, c, rows, cols, ldc, overwrite: true);
            for (int i = 0; i < rows; i++)
            {
                for (int j = 0; j < cols; j++) c[i * ldc + j].Should().Be(row[j]);
            }
        }
    }
}
