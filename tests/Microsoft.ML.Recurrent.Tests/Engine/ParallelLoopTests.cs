using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Kernels;
using Microsoft.ML.Recurrent.Engine.Layers;
using Microsoft.ML.Recurrent.Engine.Optimizers;
using Microsoft.ML.Recurrent.Engine.Training;
using Microsoft.ML.Recurrent.Tests.Helpers;

namespace Microsoft.ML.Recurrent.Tests.Engine;

/// <summary>
/// The time loop on several threads: rows of a batch split between workers for the whole loop, a single
/// sequence's hidden units split with per-step claims. Whatever the split, every number must come out with
/// the same bits as on one thread (<see cref="RowProduct"/> gives each element one arithmetic order), the
/// batch-1 path must agree with the batched one, and concurrent callers must not disturb each other.
/// </summary>
[Collection(Microsoft.ML.Recurrent.Tests.Helpers.WorkerPoolCollection.Name)]
public class ParallelLoopTests
{
    private const int Features = 3;

    private static readonly string[] Cells = [nameof(CellKind.SimpleRnn), nameof(CellKind.Lstm), nameof(CellKind.Gru)];

    public static IEnumerable<object[]> Networks()
    {
        foreach (var cell in Cells)
            foreach (bool bidirectional in new[] { false, true })
                foreach (bool mixed in new[] { false, true })
                    foreach (var output in new[] { OutputMode.LastHidden, OutputMode.EveryStep })
                        yield return [cell, bidirectional, mixed, output.ToString()];
    }

    public static TheoryData<string> CellNames => new() { Cells[0], Cells[1], Cells[2] };

    // ---- RowProduct: one arithmetic order per element ----

    [Theory]
    [InlineData(512, 150)] // N = 9·16 + 6: full panels, single vectors, a 4-float vector and a scalar tail
    [InlineData(256, 150)]
    [InlineData(128, 150)]
    [InlineData(0, 150)]
    [InlineData(512, 300)] // a GRU's 3H for H = 100: 18 vectors + 12 columns (one 256-bit and one 128-bit vector)
    [InlineData(512, 159)] // 9·16 + 8 + 4 + 3: every narrower width, then single floats
    [InlineData(256, 159)]
    public void RowProduct_AnyShapeOffsetOrWidth_EveryElementIsTheSequentialFmaChain(int width, int N)
    {
        var random = new Random(11);
        const int M = 9, K = 37, Lda = K + 3;
        int Ldb = N + 5, Ldc = N + 2;
        var a = Randoms(random, M * Lda);
        var b = Randoms(random, K * Ldb);
        var c0 = Randoms(random, M * Ldc);

        // Reference: s = fma(A[i,p], B[p,j], s) for p = 0 … K−1 from 0, then C + s.
        var expected = (float[])c0.Clone();
        for (int i = 0; i < M; i++)
        {
            for (int j = 0; j < N; j++)
            {
                float s = 0f;
                for (int p = 0; p < K; p++) s = Step(a[i * Lda + p], b[p * Ldb + j], s);
                expected[i * Ldc + j] += s;
            }
        }

        int saved = Lanes.MaxVectorWidth;
        try
        {
            Lanes.MaxVectorWidth = width;
            var whole = (float[])c0.Clone();
            RowProduct.Multiply(M, N, K, a, Lda, b, Ldb, whole, Ldc, accumulate: true);
            BitsOf(whole).Should().Equal(BitsOf(expected), $"the full product (vector width {width})");

            // Row by row, in uneven row blocks and in column blocks that start anywhere: the same bits.
            var pieces = (float[])c0.Clone();
            foreach (var (r0, r1, j0, j1) in new[] { (0, 1, 0, N), (1, 6, 0, 17), (1, 6, 17, N), (6, 9, 0, 1), (6, 9, 1, 99), (6, 9, 99, N) })
            {
                RowProduct.Multiply(r1 - r0, j1 - j0, K, a.AsSpan(r0 * Lda), Lda, b.AsSpan(j0), Ldb, pieces.AsSpan(r0 * Ldc + j0), Ldc, accumulate: true);
            }

            BitsOf(pieces).Should().Equal(BitsOf(expected), $"pieces of the product (vector width {width})");

            // Overwrite mode stores the chain itself.
            var fresh = new float[M * Ldc];
            RowProduct.Multiply(M, N, K, a, Lda, b, Ldb, fresh, Ldc, accumulate: false);
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++)
                    BitConverter.SingleToInt32Bits(fresh[i * Ldc + j]).Should().Be(BitConverter.SingleToInt32Bits(Chain(a, b, i, j, K, Lda, Ldb)));
        }
        finally
        {
            Lanes.MaxVectorWidth = saved;
        }
    }

    [Theory]
    [InlineData(512, 32)]
    [InlineData(256, 32)]
    [InlineData(256, 16)]
    [InlineData(128, 32)]
    [InlineData(128, 16)]
    [InlineData(0, 32)]
    public unsafe void RowProduct_EveryRowCount_EveryElementIsTheSequentialFmaChain(int width, int registers)
    {
        // Every height of the row tiles and every leftover (1–7 rows after groups of 8, 1–3 after groups of 4, 1–5 after
        // groups of 6 with 16 registers), in the three forms (overwrite, accumulate, plus a bias row);
        // N = 2·2·16 + 16 + 8 + 5: 2-vector panels, a single vector, a narrower vector and a scalar tail at 512 bits.
        var random = new Random(17);
        const int K = 29, N = 2 * 2 * 16 + 16 + 8 + 5, Lda = K + 1, Ldb = N + 3, Ldc = N + 7;
        var a = Randoms(random, 19 * Lda);
        var b = Randoms(random, K * Ldb);
        var bias = Randoms(random, N);
        int saved = Lanes.MaxVectorWidth;
        try
        {
            Lanes.MaxVectorWidth = width;
            Lanes.VectorRegisters = registers;
            for (int m = 1; m <= 19; m++)
            {
                var c0 = Randoms(random, m * Ldc);
                var fresh = new float[m * Ldc];
                var accumulated = (float[])c0.Clone();
                var biased = new float[m * Ldc];
                RowProduct.Multiply(m, N, K, a, Lda, b, Ldb, fresh, Ldc, accumulate: false);
                RowProduct.Multiply(m, N, K, a, Lda, b, Ldb, accumulated, Ldc, accumulate: true);
                fixed (float* pa = a, pb = b, pc = biased, pr = bias) RowProduct.MultiplyAddRow(m, N, K, pa, Lda, pb, Ldb, pc, Ldc, pr);
                AssertThreeForms(a, b, bias, c0, fresh, accumulated, biased, m, N, K, Lda, Ldb, Ldc, $"width {width}");
            }
        }
        finally
        {
            Lanes.MaxVectorWidth = saved;
            Lanes.VectorRegisters = 0;
        }
    }

    [Theory]
    [InlineData(512, 32, 32)] // one panel = one 8-row × 2-vector tile
    [InlineData(512, 32, 16)] // a panel narrower than two vectors: the row-major code on each panel
    [InlineData(256, 16, 16)] // AVX2: one panel = one 6-row × 2-vector tile
    [InlineData(256, 32, 32)] // two tiles a panel
    [InlineData(256, 16, 8)]
    [InlineData(128, 16, 16)]
    [InlineData(128, 32, 8)]
    [InlineData(0, 16, 16)]   // scalar: each panel through the scalar chains
    [InlineData(256, 16, 128, 2 * 128 + 69)] // the batch-1 loop's wide panels: one row through the 1 × 16-vector tile
    [InlineData(512, 32, 256, 2 * 256 + 69)]
    [InlineData(128, 16, 64, 2 * 64 + 69)]
    public unsafe void RowProduct_InColumnPanels_EveryRowCount_EveryElementIsTheSequentialFmaChain(int width, int registers, int panelWidth, int N = 69)
    {
        // B in column panels (the row loop's packed weights): every tile height 1–8 of the nearly equal row tiles, full
        // panels, a last partial panel, in the three forms; N = 69 as in the row-major test above (2·2·16 + 16 + 8 + 5).
        var random = new Random(23);
        const int K = 29, Lda = K + 1;
        int Ldb = N + 3, Ldc = N + 7;
        var a = Randoms(random, 19 * Lda);
        var b = Randoms(random, K * Ldb);
        var bias = Randoms(random, N);
        var panels = new float[RowProduct.PanelFloats(K, N, panelWidth)];
        fixed (float* pb = b, pp = panels) RowProduct.PackPanels(pb, Ldb, K, N, pp, panelWidth);
        nint ps = (nint)K * panelWidth;
        int saved = Lanes.MaxVectorWidth;
        long savedOuter = RowProduct.RowTilesOuterMaxBytes;
        try
        {
            Lanes.MaxVectorWidth = width;
            Lanes.VectorRegisters = registers;
            // Both loop orders: each row tile down every panel (B within the size limit), each panel outer (limit 0).
            foreach (long outer in new[] { savedOuter, 0L })
            {
                for (int m = 1; m <= 19; m++)
                {
                    RowProduct.RowTilesOuterMaxBytes = outer;
                    var c0 = Randoms(random, m * Ldc);
                    var fresh = new float[m * Ldc];
                    var accumulated = (float[])c0.Clone();
                    var biased = new float[m * Ldc];
                    fixed (float* pa = a, pp = panels, pf = fresh, pc = accumulated, pd = biased, pr = bias)
                    {
                        RowProduct.Multiply(m, N, K, pa, Lda, pp, panelWidth, pf, Ldc, accumulate: false, ps);
                        RowProduct.Multiply(m, N, K, pa, Lda, pp, panelWidth, pc, Ldc, accumulate: true, ps);
                        RowProduct.MultiplyAddRow(m, N, K, pa, Lda, pp, panelWidth, pd, Ldc, pr, ps);
                    }

                    AssertThreeForms(a, b, bias, c0, fresh, accumulated, biased, m, N, K, Lda, Ldb, Ldc, $"width {width}, panels of {panelWidth}, limit {outer}");
                }
            }
        }
        finally
        {
            Lanes.MaxVectorWidth = saved;
            Lanes.VectorRegisters = 0;
            RowProduct.RowTilesOuterMaxBytes = savedOuter;
        }
    }

    [Fact]
    public void RowProduct_SmallIntegers_KnownProduct()
    {
        // [1 2; 3 4] · [5 6 7; 8 9 10] = [21 24 27; 47 54 61], added to C = 1.
        float[] a = [1, 2, 3, 4], b = [5, 6, 7, 8, 9, 10];
        var c = Enumerable.Repeat(1f, 6).ToArray();
        RowProduct.Multiply(2, 3, 2, a, 2, b, 3, c, 3, accumulate: true);
        c.Should().Equal(22f, 25f, 28f, 48f, 55f, 62f);
    }

    [Fact]
    public void RowProduct_ShortBuffer_ThrowsNamingTheOperand()
    {
        var act = () => RowProduct.Multiply(2, 3, 2, new float[3], 2, new float[6], 3, new float[6], 3, accumulate: false);
        act.Should().Throw<ArgumentException>().WithMessage("*a holds 3 floats*");
    }

    [Fact]
    public void PackTransposed_GateBlocksOfAUnitRange_LandAsColumns()
    {
        // W is (G·H, K) = (3·11, 13); units [4, 4 + 7) of every gate become the 21 columns of a (13, 21) matrix.
        const int G = 3, H = 11, K = 13, First = 4, Width = 7, Ldd = G * Width + 2;
        var w = Enumerable.Range(0, G * H * K).Select(i => (float)i).ToArray();
        var dst = new float[K * Ldd];
        RowProduct.PackTransposed(w, K, K, G, H, First, Width, dst, Ldd);
        for (int p = 0; p < K; p++)
            for (int g = 0; g < G; g++)
                for (int j = 0; j < Width; j++)
                    dst[p * Ldd + g * Width + j].Should().Be(w[(g * H + First + j) * K + p]);
        dst[Ldd - 1].Should().Be(0f, "the padding past G·n columns is untouched");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(128)]
    [InlineData(256)]
    [InlineData(512)]
    public unsafe void BiasGradients_AddColumns_RowsAddedInOrderOntoTheGradient(int width)
    {
        // Every column count up to 2·64 + 16 + 8 + 4 + 3 and 403 = 6·64 + 2·8 + 3, with the vector width forced on this
        // thread: every column path of every width (blocks of 4×16, 8, 4×4, 4 and the scalar tail) must give each column
        // the same chain acc + row 0 + row 1 + …, so the bits do not depend on the width.
        const int Rows = 37;
        int saved = Lanes.MaxVectorWidth;
        try
        {
            Lanes.MaxVectorWidth = width;
            foreach (int cols in Enumerable.Range(0, 2 * 64 + 16 + 8 + 4 + 3 + 1).Append(403))
            {
                int lda = cols + 7;
                var random = new Random(5 + cols);
                var a = Randoms(random, Rows * lda);
                var start = Randoms(random, cols);
                var expected = (float[])start.Clone();
                for (int r = 0; r < Rows; r++)
                    for (int j = 0; j < cols; j++)
                        expected[j] += a[r * lda + j];

                var acc = (float[])start.Clone();
                fixed (float* pa = a, pacc = acc) BiasGradients.AddColumns(pa, Rows, lda, cols, pacc);
                BitsOf(acc).Should().Equal(BitsOf(expected), $"width {width}, {cols} columns");
            }
        }
        finally
        {
            Lanes.MaxVectorWidth = saved;
        }
    }

    // ---- Row partition ----

    [Theory]
    [InlineData(new[] { 10, 10, 1, 1, 1, 1, 1, 1 }, 2, new[] { 0, 1, 8 })]   // 10 vs 16 is nearer an even split than 20 vs 6
    [InlineData(new[] { 5, 5, 5, 5 }, 2, new[] { 0, 2, 4 })]
    [InlineData(new[] { 100, 1, 1 }, 3, new[] { 0, 1, 2, 3 })]               // every part keeps a row
    [InlineData(new[] { 9, 8, 7, 6, 5, 4, 3, 2, 1 }, 3, new[] { 0, 2, 4, 9 })] // 17 | 13 | 15 of 45
    [InlineData(new[] { 3 }, 1, new[] { 0, 1 })]
    public void SplitRows_SortedLengths_BalancesWorkNotCount(int[] lengths, int parts, int[] expected)
    {
        var bounds = new int[parts + 1];
        RecurrentLayer.SplitRows(lengths, parts, bounds);
        bounds.Should().Equal(expected);
    }

    // ---- Threads 1 and 2: the same bits ----

    [Theory]
    [MemberData(nameof(Networks))]
    public void TrainingPass_TwoThreadsVersusOne_BitIdentical(string cell, bool bidirectional, bool mixedLengths, string output)
    {
        var spec = new NetworkSpec(Enum.Parse<CellKind>(cell), Features, HiddenSize: 20, NumberOfLayers: 2, bidirectional,
            OutputSize: 2, Output: Enum.Parse<OutputMode>(output));
        int[] lengths = mixedLengths ? [7, 3, 7, 1, 5] : [6, 6, 6, 6, 6];
        var problem = Problem.Create(spec, lengths, seed: cell.Length * 7 + (bidirectional ? 1 : 0) + (mixedLengths ? 2 : 0));

        var one = problem.Train(threads: 1);
        var two = problem.TrainUntilSplit(threads: 2);

        one.ForwardParts.Should().Be(1);
        two.ForwardParts.Should().Be(2, "every layer's forward loop must have been split between two threads");
        two.BackwardParts.Should().Be(2, "every layer's backward loop must have been split between two threads");
        two.AssertBitIdentical(one);
    }

    [Theory]
    [InlineData("Lstm")]
    [InlineData("Gru")]
    public void TrainingPass_RowsInPartsOfEight_SameBitsAsOnePartPerThreadAndAsOneThread(string cell)
    {
        // 37 rows of mixed lengths on 2 threads: 2 · ⌈37 / 16⌉ = 6 parts of about 6 rows (equal work), claimed in turn.
        var spec = new NetworkSpec(Enum.Parse<CellKind>(cell), Features, HiddenSize: 24, NumberOfLayers: 2, Bidirectional: true,
            OutputSize: 2, Output: OutputMode.LastHidden);
        int[] lengths = Enumerable.Range(0, 37).Select(r => 1 + r * 7 % 13).ToArray();
        var problem = Problem.Create(spec, lengths, seed: 41);
        int savedRows = RecurrentLayer.RowChunkRows;
        try
        {
            var one = problem.Train(threads: 1);
            RecurrentLayer.RowChunkRows = 0;
            var perThread = problem.TrainUntilSplit(threads: 2);
            RecurrentLayer.RowChunkRows = 8;
            var (chunked, rowParts) = TrainUntilRowParts(problem, 6);

            rowParts.Should().Be(6, "37 rows on 2 threads in parts of about 8 rows");
            chunked.ForwardParts.Should().Be(2, "the parts run on the two threads");
            perThread.ForwardParts.Should().Be(2);
            chunked.AssertBitIdentical(one);
            perThread.AssertBitIdentical(one);
        }
        finally
        {
            RecurrentLayer.RowChunkRows = savedRows;
        }
    }

    [Theory]
    [InlineData("Lstm")]
    [InlineData("Gru")]
    public void TrainingPass_SixteenRows_TwoPartsPerThreadSameBitsAsOneThread(string cell)
    {
        // 16 rows on 2 threads: one part of 8 rows per thread would put the parts that run together side by side in
        // memory, so the loop cuts 4 parts of 4 rows (RowPartMinRows) and the threads start 2 parts apart.
        var spec = new NetworkSpec(Enum.Parse<CellKind>(cell), Features, HiddenSize: 24, NumberOfLayers: 1, Bidirectional: false,
            OutputSize: 2, Output: OutputMode.LastHidden);
        int[] lengths = Enumerable.Range(0, 16).Select(r => 2 + r * 5 % 9).ToArray();
        var problem = Problem.Create(spec, lengths, seed: 17);
        var one = problem.Train(threads: 1);
        var (four, rowParts) = TrainUntilRowParts(problem, 4);

        rowParts.Should().Be(2 * 2, "two parts per thread once each holds at least RowPartMinRows rows");
        four.ForwardParts.Should().Be(2, "the parts run on the two threads");
        four.AssertBitIdentical(one);
    }

    /// <summary>Training passes on 2 threads until a forward and backward pass both ran on the pool (it is shared with other tests).</summary>
    private static (PassResult Result, int RowParts) TrainUntilRowParts(Problem problem, int expected)
    {
        PassResult result = problem.Train(threads: 2);
        int parts = problem.LastRowParts;
        for (int attempt = 0; attempt < 200 && (parts != expected || result.ForwardParts < 2 || result.BackwardParts < 2); attempt++)
        {
            Thread.Sleep(2);
            result = problem.Train(threads: 2);
            parts = problem.LastRowParts;
        }

        return (result, parts);
    }

    [Theory]
    [InlineData("Lstm", 20)]
    [InlineData("Gru", 20)]
    [InlineData("Lstm", 100)]
    public void TrainingPass_SixteenRegisterShapes_TwoThreads_SameBitsAsOneThread(string cell, int hidden)
    {
        // The AVX2 shapes (6 × 2 row tiles, gate passes in two loops of paired 256-bit vectors), forced on any machine
        // and handed to the pool's workers, through whole split passes with mixed lengths: the bits of one thread on the
        // 32-register shapes (4 × 4 tiles, one- or two-pass bodies of one vector) at the same width.
        var spec = new NetworkSpec(Enum.Parse<CellKind>(cell), Features, HiddenSize: hidden, NumberOfLayers: 1, OutputSize: 2);
        var problem = Problem.Create(spec, [9, 7, 7, 5, 5, 3, 2, 1, 8, 6, 4, 9, 3], seed: 37);
        var width = Lanes.MaxVectorWidth;
        try
        {
            Lanes.MaxVectorWidth = 256;
            Lanes.VectorRegisters = 32;
            var one = problem.Train(threads: 1);
            Lanes.VectorRegisters = 16;
            var two = problem.TrainUntilSplit(threads: 2);
            two.ForwardParts.Should().Be(2, "the forward loop must have been split between two threads");
            two.AssertBitIdentical(one);
        }
        finally
        {
            Lanes.MaxVectorWidth = width;
            Lanes.VectorRegisters = 0;
        }
    }

    [Theory]
    [InlineData("Lstm")]
    [InlineData("Gru")]
    public void TrainingPass_CallerForcesLanes_PoolWorkersUseTheSameLanes(string cell)
    {
        // The pool's workers run parts of the caller's time loop: they must use the lanes the caller forced (width and
        // family), or a split pass would mix two families' bits. The unfused family differs from the fused one in the
        // last bits, so a worker left on its defaults shows as a difference from the one-thread pass.
        var spec = new NetworkSpec(Enum.Parse<CellKind>(cell), Features, HiddenSize: 20, NumberOfLayers: 1, OutputSize: 2);
        var problem = Problem.Create(spec, [6, 6, 6, 6], seed: 31);
        var fused = problem.Train(threads: 1);
        var (width, fma) = (Lanes.MaxVectorWidth, Lanes.UseFma);
        try
        {
            Lanes.UseFma = !Lanes.HardwareFma;
            Lanes.MaxVectorWidth = 128;
            var one = problem.Train(threads: 1);
            var two = problem.TrainUntilSplit(threads: 2);
            two.ForwardParts.Should().Be(2, "the forward loop must have been split between two threads");
            two.AssertBitIdentical(one);
            one.Gradients.Should().NotEqual(fused.Gradients, "the forced family must change the bits, or this test shows nothing");
        }
        finally
        {
            Lanes.MaxVectorWidth = width;
            Lanes.UseFma = fma;
        }
    }

    [Theory]
    [MemberData(nameof(CellNames))]
    public void SingleSequence_TwoThreadsVersusOne_BitIdentical(string cell)
    {
        // H = 42 is cut into 20 + 22 units (vector tails in both); two layers, the second fed by the first's hidden states in place.
        var spec = new NetworkSpec(Enum.Parse<CellKind>(cell), Features, HiddenSize: 42, NumberOfLayers: 2, OutputSize: 3);
        var problem = Problem.Create(spec, [23], seed: 5);

        var one = problem.Train(threads: 1);
        var two = problem.TrainUntilSplit(threads: 2);

        two.ForwardParts.Should().Be(2, "the units of the single sequence must have been split between two threads");
        two.AssertBitIdentical(one);
        problem.Infer(threads: 2).Outputs.Should().Equal(one.Outputs, "inference alone computes what the training pass did");
    }

    [Theory]
    [MemberData(nameof(CellNames))]
    public void SingleSequence_AgreesWithSameSequenceInABatch(string cell)
    {
        var spec = new NetworkSpec(Enum.Parse<CellKind>(cell), Features, HiddenSize: 48, NumberOfLayers: 2, Bidirectional: true, OutputSize: 2);
        var batched = Problem.Create(spec, [9, 14, 6], seed: 8);
        var batch = batched.Infer(threads: 2);
        for (int s = 0; s < 3; s++)
        {
            var alone = batched.Single(s).Infer(threads: 2);
            var expected = batch.OutputsOf(s);
            alone.Outputs.Length.Should().Be(expected.Length);
            for (int j = 0; j < expected.Length; j++)
                alone.Outputs[j].Should().BeApproximately(expected[j], 1e-5f, $"sequence {s} output {j}");
        }
    }

    /// <summary>Two layers of <paramref name="cell"/> over five rows, of mixed lengths (7, 3, 7, 1, 5) or all 6 steps long.</summary>
    private static (NetworkSpec Spec, int[] Lengths, Problem Problem) FiveRows(string cell, bool bidirectional, bool mixedLengths, string output,
        int hidden, int seed)
    {
        var spec = new NetworkSpec(Enum.Parse<CellKind>(cell), Features, HiddenSize: hidden, NumberOfLayers: 2, bidirectional,
            OutputSize: 2, Output: Enum.Parse<OutputMode>(output));
        int[] lengths = mixedLengths ? [7, 3, 7, 1, 5] : [6, 6, 6, 6, 6];
        return (spec, lengths, Problem.Create(spec, lengths, seed));
    }

    [Theory]
    [MemberData(nameof(Networks))]
    public void SmallBatchInference_UnitLoop_SameBitsAsTrainingPass(string cell, bool bidirectional, bool mixedLengths, string output)
    {
        // A small batch of a layer whose weights outgrow L2 splits its units, not its rows, in inference (here the weight
        // limit is lowered so that a small layer takes that loop). H = 42 is cut into 20 + 22 units (vector tails in both).
        var (spec, lengths, problem) = FiveRows(cell, bidirectional, mixedLengths, output, hidden: 42, seed: 11 + cell.Length);
        var training = problem.Train(threads: 2);

        long savedBytes = RecurrentLayer.UnitSplitMinWeightBytes;
        try
        {
            RecurrentLayer.UnitSplitMinWeightBytes = 0;
            // The same network first runs a batch whose rows all run every step, so that stale states sit in the rows
            // the mixed-length batch pads (they must read as zeros).
            var full = Problem.Create(spec, [.. Enumerable.Repeat(lengths.Max(), lengths.Length)], seed: 99);
            RecurrentNetwork network = null!;
            float[] outputs = [];
            for (int attempt = 0; attempt < 200 && (attempt == 0 || network.LastLoopParts < 2); attempt++)
            {
                if (attempt > 0) Thread.Sleep(2); // the pool was busy with another test's work: the row loop ran instead
                network = problem.Network(threads: 2, training: false);
                network.Forward(full.Batch);
                outputs = network.Forward(problem.Batch).ToArray();
            }

            network.LastLoopParts.Should().Be(2, "the units must have been split between two threads");
            network.LastRowParts.Should().Be(1, "the unit loop ran, not the row loop");
            BitsOf(outputs).Should().Equal(BitsOf(training.Outputs), "outputs");
            BitsOf(network.FinalHidden.ToArray()).Should().Equal(BitsOf(training.FinalHidden), "final hidden states");
            BitsOf(network.FinalCell.ToArray()).Should().Equal(BitsOf(training.FinalCell), "final cell states");

            // Above the batch limit the row loop runs, with its parts.
            RecurrentLayer.UnitSplitMaxRows.Should().BeLessThan(9);
            var large = Problem.Create(spec, [.. Enumerable.Repeat(4, 9)], seed: 2).Infer(threads: 2);
            large.RowParts.Should().NotBe(1, "nine rows exceed the unit loop's batch limit; the row loop cut them into parts");
        }
        finally
        {
            RecurrentLayer.UnitSplitMinWeightBytes = savedBytes;
        }
    }

    [Theory]
    [MemberData(nameof(Networks))]
    public void InferencePass_SameBitsAsTrainingPass(string cell, bool bidirectional, bool mixedLengths, string output)
    {
        // Inference keeps one step of gates and two of cell states (rolling); a training pass keeps every step.
        // Outputs and final states (each row's cell state saved at its own last step) must not differ.
        var (_, _, problem) = FiveRows(cell, bidirectional, mixedLengths, output, hidden: 20, seed: 3 + cell.Length);

        var training = problem.Train(threads: 2);
        var inference = problem.Infer(threads: 2);

        BitsOf(inference.Outputs).Should().Equal(BitsOf(training.Outputs), "outputs");
        BitsOf(inference.FinalHidden).Should().Equal(BitsOf(training.FinalHidden), "final hidden states");
        BitsOf(inference.FinalCell).Should().Equal(BitsOf(training.FinalCell), "final cell states");
    }

    [Theory]
    [InlineData(nameof(CellKind.SimpleRnn), true, 5)]
    [InlineData(nameof(CellKind.Lstm), true, 5)]
    [InlineData(nameof(CellKind.Gru), true, 5)]
    [InlineData(nameof(CellKind.Lstm), false, 5)]
    [InlineData(nameof(CellKind.Gru), false, 5)]
    [InlineData(nameof(CellKind.Lstm), true, 1)]
    [InlineData(nameof(CellKind.Gru), false, 1)]
    public void Backward_AfterInferencePass_ThrowsThenATrainingPassGivesTheTrainingGradients(string cell, bool builtForTraining, int rows)
    {
        // An inference pass keeps only what inference needs (one step of gates for a batch); Backward after it must say so
        // instead of silently running the forward pass again. A training pass on the same network then works as usual
        // (one built without gradient buffers grows them on that pass).
        var spec = new NetworkSpec(Enum.Parse<CellKind>(cell), Features, HiddenSize: 20, NumberOfLayers: 2, OutputSize: 2);
        var problem = Problem.Create(spec, rows == 1 ? [7] : [7, 3, 7, 1, 5], seed: 17);
        var expected = problem.Train(threads: 2);

        var network = problem.Network(threads: 2, training: builtForTraining);
        var outputs = network.Forward(problem.Batch).ToArray(); // inference mode
        var dOutputs = new float[outputs.Length];
        Loss.Compute(LossKind.MeanSquaredError, outputs, problem.Batch, spec.Output, spec.OutputSize, dOutputs);
        var backward = () => network.Backward(dOutputs);
        backward.Should().Throw<InvalidOperationException>().WithMessage("*training forward pass*training = false*Forward(batch, training: true)*");

        network.Forward(problem.Batch, training: true).ToArray().Should().Equal(outputs);
        network.Backward(dOutputs);
        BitsOf(network.Gradients).Should().Equal(BitsOf(expected.Gradients));
        BitsOf(network.InputGradients).Should().Equal(BitsOf(expected.InputGradients));

        // And again after another inference pass: the storage of the training pass does not make Backward legal.
        network.Forward(problem.Batch);
        backward.Should().Throw<InvalidOperationException>();
    }

    // ---- Packed weights follow the parameters ----

    [Theory]
    [InlineData(nameof(CellKind.Lstm), 1)]
    [InlineData(nameof(CellKind.Gru), 1)]
    [InlineData(nameof(CellKind.Lstm), 3)]
    [InlineData(nameof(CellKind.SimpleRnn), 3)]
    [InlineData(nameof(CellKind.Gru), 3)]
    public void Forward_ParametersWrittenThenInvalidated_UsesTheNewValues(string cell, int batchSize)
    {
        var spec = new NetworkSpec(Enum.Parse<CellKind>(cell), Features, HiddenSize: 24, OutputSize: 1);
        int[] lengths = batchSize == 1 ? [12] : [12, 8, 12];
        var problem = Problem.Create(spec, lengths, seed: 21);
        var network = problem.Network(threads: 2, training: false);
        var other = problem.Network(threads: 1, training: false); // a second network over the same parameter buffer
        var before = network.Forward(problem.Batch).ToArray();
        other.Forward(problem.Batch).ToArray().Should().Equal(before);

        // Direct writes into the same array: a recurrent weight, an input weight and a bias; then the invalidation.
        var layout = new ParameterLayout(spec);
        var c = layout.Cell(0, 0);
        problem.Parameters[c.WeightHh.Offset + 30] += 0.5f;
        problem.Parameters[c.WeightIh.Offset + 7] -= 0.25f;
        problem.Parameters[c.BiasHh.Offset + 3] += 0.125f;
        network.ParametersChanged();
        var after = network.Forward(problem.Batch).ToArray();

        var fresh = problem.Network(threads: 2, training: false).Forward(problem.Batch).ToArray();
        BitsOf(after).Should().Equal(BitsOf(fresh), "the packed weights must be rebuilt from the changed parameters");
        after.Should().NotEqual(before);
        BitsOf(other.Forward(problem.Batch).ToArray()).Should().Equal(BitsOf(fresh), "the version belongs to the buffer, not to one network");
    }

    [Theory]
    [InlineData(nameof(CellKind.Lstm), 1)]
    [InlineData(nameof(CellKind.Gru), 3)]
    public void Forward_UnchangedParameters_PacksOncePerChangeNotPerPass(string cell, int batchSize)
    {
        var spec = new NetworkSpec(Enum.Parse<CellKind>(cell), Features, HiddenSize: 24, NumberOfLayers: 2, OutputSize: 1);
        var problem = Problem.Create(spec, batchSize == 1 ? [9] : [9, 4, 9], seed: 23);
        var network = problem.Network(threads: 1, training: false);
        network.Forward(problem.Batch);
        long first = network.WeightPacks;
        first.Should().BeGreaterThan(0);
        for (int i = 0; i < 3; i++) network.Forward(problem.Batch);
        network.WeightPacks.Should().Be(first, "nothing changed, so nothing is repacked (and nothing compares the weights)");
        network.ParametersChanged();
        network.Forward(problem.Batch);
        network.Forward(problem.Batch);
        network.WeightPacks.Should().Be(2 * first, "one change: every packed part is rebuilt once");
    }

    [Theory]
    [InlineData(nameof(CellKind.Lstm), 1)]
    [InlineData(nameof(CellKind.Gru), 3)]
    [InlineData(nameof(CellKind.SimpleRnn), 3)]
    public void Forward_AfterOptimizerStep_UsesTheNewValuesWithoutBeingTold(string cell, int batchSize)
    {
        // The optimizers' Step records the change itself: a training loop cannot forget to invalidate.
        var spec = new NetworkSpec(Enum.Parse<CellKind>(cell), Features, HiddenSize: 24, OutputSize: 1);
        int[] lengths = batchSize == 1 ? [12] : [12, 8, 12];
        var problem = Problem.Create(spec, lengths, seed: 22);
        var network = problem.Network(threads: 2, training: true);
        var before = network.Forward(problem.Batch, training: true).ToArray();
        var dOutputs = new float[before.Length];
        Loss.Compute(LossKind.MeanSquaredError, before, problem.Batch, spec.Output, spec.OutputSize, dOutputs);
        network.Backward(dOutputs);
        foreach (var kind in new[] { OptimizerKind.Adam, OptimizerKind.Sgd, OptimizerKind.RmsProp })
        {
            var optimizer = Optimizer.Create(kind, problem.Parameters.Length, new OptimizerSettings());
            long version = ParameterVersions.Current(problem.Parameters);
            optimizer.Step(problem.Parameters, network.Gradients, 0.05f);
            ParameterVersions.Current(problem.Parameters).Should().Be(version + 1, $"{kind}.Step records the change");
            var after = network.Forward(problem.Batch).ToArray();
            var fresh = problem.Network(threads: 2, training: false).Forward(problem.Batch).ToArray();
            BitsOf(after).Should().Equal(BitsOf(fresh), $"the forward pass after a {kind} step uses the stepped weights");
            after.Should().NotEqual(before);
            before = after;
        }
    }

    // ---- Concurrent callers ----

    [Theory]
    [InlineData(nameof(CellKind.Lstm))]
    [InlineData(nameof(CellKind.Gru))]
    public void Predict_SeveralThreadsAtOnce_EachGetsItsOwnResults(string cell)
    {
        // H = 128: large enough for the default thresholds to split each sequence's units between the pool's threads.
        var spec = new NetworkSpec(Enum.Parse<CellKind>(cell), InputSize: 8, HiddenSize: 128, OutputSize: 2);
        var layout = new ParameterLayout(spec);
        var parameters = new float[layout.Count];
        Initializer.Initialize(layout, parameters, 4);
        var random = new Random(9);
        var sequences = Enumerable.Range(0, 24).Select(i => Randoms(random, (5 + i * 3 % 37) * 8)).ToArray();

        // Expected: each sequence alone on one thread.
        var expected = sequences.Select(s =>
        {
            var batch = new SequenceBatch(1, s.Length / 8, 8, 0);
            batch.FillSingle(s);
            return new RecurrentNetwork(layout, parameters, null, 1, s.Length / 8) { Threads = 1 }.Forward(batch).ToArray();
        }).ToArray();

        var predictor = new SequencePredictor(spec, parameters);
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        using var start = new Barrier(4);
        var threads = Enumerable.Range(0, 4).Select(w => new Thread(() =>
        {
            var output = new float[2];
            start.SignalAndWait();
            for (int round = 0; round < 30; round++)
            {
                int i = (w * 7 + round * 5) % sequences.Length;
                predictor.Predict(sequences[i], output);
                if (!BitsOf(output).SequenceEqual(BitsOf(expected[i])))
                    failures.Add($"thread {w} round {round} sequence {i}: [{string.Join(", ", output)}] instead of [{string.Join(", ", expected[i])}]");
            }
        })).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();

        failures.Should().BeEmpty();
    }

    [Fact]
    public void SingleSequence_TwoThreadsScoringAtOnce_EachRunsAloneWithTheSameBits()
    {
        // Under ML.NET's parallel cursors every core already has a caller: a split would only add hand-overs.
        // Each thread's network could split its units (H = 128, two threads allowed) but must not while the other
        // thread is inside a batch-1 pass; the bits are those of one thread alone either way.
        var spec = new NetworkSpec(CellKind.Lstm, InputSize: 8, HiddenSize: 128, OutputSize: 2);
        var layout = new ParameterLayout(spec);
        var parameters = new float[layout.Count];
        Initializer.Initialize(layout, parameters, 6);
        var sequence = Randoms(new Random(3), 300 * 8);
        var batch = new SequenceBatch(1, 300, 8, 0);
        batch.FillSingle(sequence);
        var expected = BitsOf(new RecurrentNetwork(layout, parameters, null, 1, 300) { Threads = 1 }.Forward(batch));
        var alone = new RecurrentNetwork(layout, parameters, null, 1, 300) { Threads = 2 };
        alone.Forward(batch);
        alone.LastLoopParts.Should().Be(2, "a single caller splits this shape");

        // Both threads keep scoring until each has done Rounds passes, so every pass but the first and last few overlaps
        // a pass of the other thread.
        const int Rounds = 30;
        var passes = new int[2];
        var split = new int[2];
        var wrong = new int[2];
        int stop = 0;
        using var start = new Barrier(2);
        var threads = Enumerable.Range(0, 2).Select(w => new Thread(() =>
        {
            var own = new SequenceBatch(1, 300, 8, 0);
            own.FillSingle(sequence);
            var net = new RecurrentNetwork(layout, parameters, null, 1, 300) { Threads = 2 };
            start.SignalAndWait();
            while (Volatile.Read(ref stop) == 0)
            {
                var y = net.Forward(own);
                if (!BitsOf(y).SequenceEqual(expected)) wrong[w]++;
                if (net.LastLoopParts > 1) split[w]++;
                if (++passes[w] >= Rounds && Volatile.Read(ref passes[1 - w]) >= Rounds) Volatile.Write(ref stop, 1);
            }
        })).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();

        wrong.Should().Equal([0, 0]);
        int total = passes[0] + passes[1];
        (split[0] + split[1]).Should().BeLessThan(total / 4,
            $"passes that overlap another thread's batch-1 pass run on their own thread ({split[0]} + {split[1]} of {passes[0]} + {passes[1]} split)");
    }

    // ---- No allocation in steady state ----

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // 37 rows on 2 threads: the row loops cut them into 6 parts
    public void TrainingStep_SplitLoops_AllocatesNothingOnTheCallingThread(bool rowsInParts)
    {
        var spec = new NetworkSpec(CellKind.Lstm, Features, HiddenSize: 20, NumberOfLayers: 2, Bidirectional: true, OutputSize: 2);
        int[] lengths = rowsInParts ? Enumerable.Range(0, 37).Select(r => 1 + r * 5 % 11).ToArray() : [7, 3, 7, 1, 5];
        var problem = Problem.Create(spec, lengths, seed: 2);
        var network = problem.Network(threads: 2, training: true);
        var dOutputs = new float[problem.Batch.Count * spec.OutputSize];
        void Step()
        {
            Array.Clear(network.Gradients);
            var y = network.Forward(problem.Batch, training: true);
            Loss.Compute(LossKind.MeanSquaredError, y, problem.Batch, spec.Output, spec.OutputSize, dOutputs);
            network.Backward(dOutputs);
            network.Forward(problem.Batch); // an inference pass too
        }

        for (int i = 0; i < 3; i++) Step();
        SteadyAllocation.Bytes(() => { for (int i = 0; i < 10; i++) Step(); }).Should().Be(0);
    }

    [Fact]
    public void SmallBatchInference_UnitLoop_AllocatesNothingOnTheCallingThread()
    {
        var (_, _, problem) = FiveRows(nameof(CellKind.Gru), bidirectional: true, mixedLengths: true, nameof(OutputMode.EveryStep), hidden: 42, seed: 4);
        var network = problem.Network(threads: 2, training: false);
        long savedBytes = RecurrentLayer.UnitSplitMinWeightBytes;
        try
        {
            for (int i = 0; i < 3; i++) network.Forward(problem.Batch); // the row loop's storage, for a pass that falls back to it
            RecurrentLayer.UnitSplitMinWeightBytes = 0; // this small layer takes the unit loop
            for (int i = 0; i < 3; i++) network.Forward(problem.Batch);
            for (int attempt = 0; attempt < 200 && !(network.LastLoopParts == 2 && network.LastRowParts == 1); attempt++)
            {
                Thread.Sleep(2); // the pool was busy with another test's work: the row loop ran instead
                network.Forward(problem.Batch);
            }

            network.LastRowParts.Should().Be(1, "the unit loop must have run split");
            network.LastLoopParts.Should().Be(2, "the unit loop must have run split");
            SteadyAllocation.Bytes(() => { for (int i = 0; i < 10; i++) network.Forward(problem.Batch); }).Should().Be(0); // whichever loop runs
        }
        finally
        {
            RecurrentLayer.UnitSplitMinWeightBytes = savedBytes;
        }
    }

    [Fact]
    public void Predict_SteadyState_AllocatesNothingOnTheCallingThread()
    {
        var spec = new NetworkSpec(CellKind.Lstm, InputSize: 4, HiddenSize: 64, OutputSize: 1);
        var layout = new ParameterLayout(spec);
        var parameters = new float[layout.Count];
        Initializer.Initialize(layout, parameters, 1);
        var predictor = new SequencePredictor(spec, parameters);
        var sequence = Randoms(new Random(3), 30 * 4);
        var output = new float[1];
        for (int i = 0; i < 5; i++) predictor.Predict(sequence, output);
        // The first passes create what a process needs once (the pool's worker when the split is first timed, its wake
        // event): run alone, the first window of 50 allocated 1,720 bytes and every later one none.
        SteadyAllocation.Bytes(() => { for (int i = 0; i < 50; i++) predictor.Predict(sequence, output); }).Should().Be(0);
    }

    // ---- Step claims ----

    [Fact]
    public void StepClaims_LatePartner_EveryPartRunsOnceAfterTheWholePreviousStep()
    {
        // The partner thread joins a loop that is already running: until then thread 0 runs both parts; when it
        // arrives (often while thread 0 is inside one of its parts) it must neither run a part twice nor start a
        // step before every part of the previous one has finished, whoever ran it.
        const int Steps = 100;
        var claims = new StepClaims();
        for (int round = 0; round < 8; round++)
        {
            int joinAt = 10 + 9 * round;
            claims.Reset(2);
            var log = new ClaimLog(Steps);
            var late = new Thread(() =>
            {
                log.ReachedJoin.Wait();
                var op = new LoggedOp(log, home: 1);
                for (long s = 0; s < Steps; s++)
                    if (!claims.RunStep(1, s, ref op)) log.Violations.Enqueue("aborted");
            });
            late.Start();

            var own = new LoggedOp(log, home: 0);
            for (long s = 0; s < Steps; s++)
            {
                if (s == joinAt) log.ReachedJoin.Set();
                claims.RunStep(0, s, ref own).Should().BeTrue();
            }

            late.Join();
            log.Violations.Should().BeEmpty($"round {round}");
            for (int s = 0; s < Steps; s++)
            {
                log.Runs[0, s].Should().Be(1, $"part 0 of step {s} runs once (round {round})");
                log.Runs[1, s].Should().Be(1, $"part 1 of step {s} runs once (round {round})");
                log.AheadRuns[0, s].Should().Be(1, $"part 0's work ahead of step {s} runs once (round {round})");
                log.AheadRuns[1, s].Should().Be(1, $"part 1's work ahead of step {s} runs once (round {round})");
                log.AheadRunner[1, s].Should().Be(log.Runner[1, s], $"part 1's work ahead of step {s} runs on the thread that ran the step (round {round})");
            }

            for (int s = 0; s < joinAt; s++)
                log.Runner[1, s].Should().Be(0, $"before its thread started, part 1 of step {s} is taken over by thread 0 (round {round})");
        }
    }

    private sealed class ClaimLog(int steps)
    {
        public readonly int[,] Runs = new int[2, steps];
        public readonly int[,] Runner = new int[2, steps];
        public readonly int[,] Finished = new int[2, steps];
        public readonly int[,] AheadRuns = new int[2, steps];
        public readonly int[,] AheadRunner = new int[2, steps];
        public readonly int[,] AheadDone = new int[2, steps];
        public readonly System.Collections.Concurrent.ConcurrentQueue<string> Violations = new();
        public readonly ManualResetEventSlim ReachedJoin = new();
    }

    private readonly struct LoggedOp(ClaimLog log, int home) : IStepOp
    {
        public static bool HasWorkAhead => true;

        public void Run(int part, long step)
        {
            int s = (int)step;
            if (s > 0 && (Volatile.Read(ref log.Finished[0, s - 1]) == 0 || Volatile.Read(ref log.Finished[1, s - 1]) == 0))
                log.Violations.Enqueue($"part {part} of step {s} started before step {s - 1} finished");
            if (s > 0 && Volatile.Read(ref log.AheadDone[part, s - 1]) == 0)
                log.Violations.Enqueue($"part {part} of step {s} started before its work ahead of step {s - 1} finished");
            Interlocked.Increment(ref log.Runs[part, s]);
            log.Runner[part, s] = home;
            long until = System.Diagnostics.Stopwatch.GetTimestamp() + System.Diagnostics.Stopwatch.Frequency / 50_000; // 20 µs of "work"
            while (System.Diagnostics.Stopwatch.GetTimestamp() < until) Thread.SpinWait(1);
            if (s > 0 && (Volatile.Read(ref log.Finished[0, s - 1]) == 0 || Volatile.Read(ref log.Finished[1, s - 1]) == 0))
                log.Violations.Enqueue($"part {part} of step {s} overlapped an unfinished part of step {s - 1}");
            Volatile.Write(ref log.Finished[part, s], 1);
        }

        public void Ahead(int part, long step)
        {
            int s = (int)step;
            if (Volatile.Read(ref log.Finished[part, s]) == 0) log.Violations.Enqueue($"part {part}'s work ahead of step {s} started before the step finished");
            Interlocked.Increment(ref log.AheadRuns[part, s]);
            log.AheadRunner[part, s] = home;
            long until = System.Diagnostics.Stopwatch.GetTimestamp() + System.Diagnostics.Stopwatch.Frequency / 200_000; // 5 µs
            while (System.Diagnostics.Stopwatch.GetTimestamp() < until) Thread.SpinWait(1);
            Volatile.Write(ref log.AheadDone[part, s], 1);
        }
    }

    // ---- Helpers ----

    /// <summary>
    /// The row product's three forms over m rows against the reference chain, bit for bit: overwrite (C = chain),
    /// accumulate (C = C0 + chain), a bias row (C = bias + chain); and the overwritten C's columns past N left at zero.
    /// </summary>
    private static void AssertThreeForms(float[] a, float[] b, float[] bias, float[] c0, float[] fresh, float[] accumulated, float[] biased,
        int m, int n, int k, int lda, int ldb, int ldc, string context)
    {
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                float s = Chain(a, b, i, j, k, lda, ldb);
                int e = i * ldc + j;
                BitConverter.SingleToInt32Bits(fresh[e]).Should().Be(BitConverter.SingleToInt32Bits(s), $"m = {m}, element ({i}, {j}), {context}, overwrite");
                BitConverter.SingleToInt32Bits(accumulated[e]).Should().Be(BitConverter.SingleToInt32Bits(c0[e] + s), $"m = {m}, element ({i}, {j}), {context}, accumulate");
                BitConverter.SingleToInt32Bits(biased[e]).Should().Be(BitConverter.SingleToInt32Bits(bias[j] + s), $"m = {m}, element ({i}, {j}), {context}, bias row");
            }

            // Columns past N are not written.
            for (int j = n; j < ldc; j++) fresh[i * ldc + j].Should().Be(0f, $"m = {m}: column {j} lies past N");
        }
    }

    private static float Chain(float[] a, float[] b, int i, int j, int k, int lda, int ldb)
    {
        float s = 0f;
        for (int p = 0; p < k; p++) s = Step(a[i * lda + p], b[p * ldb + j], s);
        return s;
    }

    /// <summary>One step of the chain in the machine's lane family: fused (one rounding), or multiply then add without FMA.</summary>
    private static float Step(float a, float b, float s) => Lanes.UseFma ? MathF.FusedMultiplyAdd(a, b, s) : a * b + s;

    private static float[] Randoms(Random random, int count)
    {
        var x = new float[count];
        for (int i = 0; i < count; i++) x[i] = (float)(random.NextDouble() * 2 - 1);
        return x;
    }

    private static int[] BitsOf(ReadOnlySpan<float> values)
    {
        var bits = new int[values.Length];
        for (int i = 0; i < values.Length; i++) bits[i] = BitConverter.SingleToInt32Bits(values[i]);
        return bits;
    }

    /// <summary>Everything a forward + backward pass produces, copied out of the network.</summary>
    private sealed record PassResult(float[] Outputs, float[] FinalHidden, float[] FinalCell, float[] Gradients, float[] InputGradients,
        float[] InitialHiddenGradients, float[] InitialCellGradients, int ForwardParts, int BackwardParts, int[] Order, int Width)
    {
        /// <summary>Row parts of an inference pass's loop (1: the unit loop or one thread).</summary>
        public int RowParts { get; init; }

        public void AssertBitIdentical(PassResult other)
        {
            BitsOf(Outputs).Should().Equal(BitsOf(other.Outputs), "outputs");
            BitsOf(FinalHidden).Should().Equal(BitsOf(other.FinalHidden), "final hidden states");
            BitsOf(FinalCell).Should().Equal(BitsOf(other.FinalCell), "final cell states");
            BitsOf(Gradients).Should().Equal(BitsOf(other.Gradients), "parameter gradients");
            BitsOf(InputGradients).Should().Equal(BitsOf(other.InputGradients), "input gradients");
            BitsOf(InitialHiddenGradients).Should().Equal(BitsOf(other.InitialHiddenGradients), "h0 gradients");
            BitsOf(InitialCellGradients).Should().Equal(BitsOf(other.InitialCellGradients), "c0 gradients");
        }

        /// <summary>Head outputs of the sequence given as <paramref name="source"/> (many-to-one heads).</summary>
        public float[] OutputsOf(int source)
        {
            int row = Array.IndexOf(Order, source);
            return Outputs.AsSpan(row * Width, Width).ToArray();
        }
    }

    /// <summary>A spec, parameters, a filled batch (with initial states) and MSE targets.</summary>
    private sealed class Problem
    {
        private readonly float[][] _sequences, _targets;
        private readonly float[]? _h0, _c0;

        private Problem(NetworkSpec spec, float[] parameters, float[][] sequences, float[][] targets, float[]? h0, float[]? c0)
        {
            Spec = spec;
            Parameters = parameters;
            _sequences = sequences;
            _targets = targets;
            _h0 = h0;
            _c0 = c0;
            int maxLength = sequences.Max(s => s.Length / spec.InputSize);
            Batch = new SequenceBatch(sequences.Length, maxLength, spec.InputSize, spec.OutputSize);
            Batch.Fill(sequences.Length, i => sequences[i], i => targets[i], spec.Output == OutputMode.EveryStep);
            Batch.InitialHidden = h0;
            Batch.InitialCell = c0;
        }

        public NetworkSpec Spec { get; }
        public float[] Parameters { get; }
        public SequenceBatch Batch { get; }

        public static Problem Create(NetworkSpec spec, int[] lengths, int seed)
        {
            var layout = new ParameterLayout(spec);
            var random = new Random(seed);
            var parameters = Randoms(random, layout.Count);
            for (int i = 0; i < parameters.Length; i++) parameters[i] *= 0.6f;
            var sequences = lengths.Select(len => Randoms(random, len * spec.InputSize)).ToArray();
            var targets = lengths.Select(len => Randoms(random, (spec.Output == OutputMode.EveryStep ? len : 1) * spec.OutputSize)).ToArray();
            int states = spec.NumberOfLayers * spec.Directions * lengths.Length * spec.HiddenSize;
            var h0 = Randoms(random, states);
            var c0 = spec.Cell == CellKind.Lstm ? Randoms(random, states) : null;
            return new Problem(spec, parameters, sequences, targets, h0, c0);
        }

        /// <summary>Sequence <paramref name="source"/> alone, with its own initial states (many-to-one heads only).</summary>
        public Problem Single(int source)
        {
            int row = Array.IndexOf(Batch.Order, source), B = Batch.Count, H = Spec.HiddenSize, states = Spec.NumberOfLayers * Spec.Directions;
            float[]? Pick(float[]? all)
            {
                if (all is null) return null;
                var one = new float[states * H];
                for (int k = 0; k < states; k++) all.AsSpan((k * B + row) * H, H).CopyTo(one.AsSpan(k * H));
                return one;
            }

            return new Problem(Spec, Parameters, [_sequences[source]], [_targets[source]], Pick(_h0), Pick(_c0));
        }

        public RecurrentNetwork Network(int threads, bool training) =>
            new(new ParameterLayout(Spec), Parameters, training ? new float[Parameters.Length] : null, Batch.Count, Batch.MaxLength)
            {
                Threads = threads,
                RowSplitMinFlops = 0,   // split even these small shapes
                UnitSplitMinWeights = 1,
            };

        /// <summary>The row parts of the last <see cref="Train"/>'s backward pass (<see cref="RecurrentNetwork.LastRowParts"/>).</summary>
        public int LastRowParts { get; private set; }

        public PassResult Train(int threads)
        {
            var network = Network(threads, training: true);
            var outputs = network.Forward(Batch, training: true).ToArray();
            int forwardParts = network.LastLoopParts;
            var dOutputs = new float[outputs.Length];
            Loss.Compute(LossKind.MeanSquaredError, outputs, Batch, Spec.Output, Spec.OutputSize, dOutputs);
            network.Backward(dOutputs);
            LastRowParts = network.LastRowParts;
            return new PassResult(outputs, network.FinalHidden.ToArray(), network.FinalCell.ToArray(), (float[])network.Gradients.Clone(),
                network.InputGradients.ToArray(), network.InitialHiddenGradients.ToArray(), network.InitialCellGradients.ToArray(),
                forwardParts, network.LastLoopParts, (int[])Batch.Order.Clone(), Spec.OutputSize);
        }

        /// <summary>
        /// <see cref="Train"/> until both loops ran split: the pool is shared with every other test's products, and a
        /// loop that finds it busy runs on the calling thread alone (with the same bits, but then nothing was tested).
        /// </summary>
        public PassResult TrainUntilSplit(int threads)
        {
            var result = Train(threads);
            int backwardThreads = Batch.Count > 1 ? threads : 1; // one sequence's backward loop runs on one thread
            for (int attempt = 0; attempt < 200 && (result.ForwardParts < threads || result.BackwardParts < backwardThreads); attempt++)
            {
                Thread.Sleep(2);
                result = Train(threads);
            }

            return result;
        }

        public PassResult Infer(int threads)
        {
            var network = Network(threads, training: false);
            var outputs = network.Forward(Batch).ToArray();
            return new PassResult(outputs, network.FinalHidden.ToArray(), network.FinalCell.ToArray(), [], [], [], [],
                network.LastLoopParts, 0, (int[])Batch.Order.Clone(), Spec.OutputSize) { RowParts = network.LastRowParts };
        }
    }
}
