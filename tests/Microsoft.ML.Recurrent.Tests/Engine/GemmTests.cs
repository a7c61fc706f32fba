using Microsoft.ML.Recurrent.Engine.Kernels;
using Microsoft.ML.Recurrent.Tests.Helpers;

namespace Microsoft.ML.Recurrent.Tests.Engine;

[Collection(Microsoft.ML.Recurrent.Tests.Helpers.WorkerPoolCollection.Name)]
public class GemmTests
{
    // ISA names (GemmIsa is internal, theory parameters of public methods cannot be).
    public static TheoryData<string> Isas => new() { "Scalar", "Vector128", "Vector256", "Vector512" };

    public static TheoryData<string, bool, bool> IsasAndTransposes
    {
        get
        {
            var data = new TheoryData<string, bool, bool>();
            foreach (var isa in new[] { "Scalar", "Vector128", "Vector256", "Vector512" })
            {
                foreach (bool ta in new[] { false, true })
                {
                    foreach (bool tb in new[] { false, true }) data.Add(isa, ta, tb);
                }
            }

            return data;
        }
    }

    /// <summary>One product's operands, stored with the given padding beyond the needed row length.</summary>
    private sealed class Case
    {
        public Case(bool transA, bool transB, int m, int n, int k, int padA, int padB, int padC, int seed)
        {
            TransA = transA; TransB = transB; M = m; N = n; K = k;
            Lda = Math.Max(1, transA ? m : k) + padA;
            Ldb = Math.Max(1, transB ? k : n) + padB;
            Ldc = Math.Max(1, n) + padC;
            var rng = new Random(seed);
            A = Fill(rng, (transA ? k : m) * Lda);
            B = Fill(rng, (transB ? n : k) * Ldb);
            C = Fill(rng, m * Ldc);
        }

        public bool TransA, TransB;
        public int M, N, K, Lda, Ldb, Ldc;
        public float[] A, B, C;

        public double OpA(int i, int p) => TransA ? A[p * Lda + i] : A[i * Lda + p];

        public double OpB(int p, int j) => TransB ? B[j * Ldb + p] : B[p * Ldb + j];

        /// <summary>Double-precision reference of one element, and the bound on its float rounding error.</summary>
        public (double Value, double Bound) Reference(int i, int j, float alpha, float beta, float[] cBefore)
        {
            double sum = 0, abs = 0;
            for (int p = 0; p < K; p++)
            {
                double t = OpA(i, p) * OpB(p, j);
                sum += t;
                abs += Math.Abs(t);
            }

            double betaC = beta == 0f ? 0 : beta * (double)cBefore[i * Ldc + j]; // beta = 0 ignores C (NaN too)
            double value = alpha * sum + betaC;
            double bound = 1e-5 * Math.Sqrt(Math.Max(K, 1)) * (Math.Abs(alpha) * abs + Math.Abs(betaC)) + 1e-30;
            return (value, bound);
        }

        public float[] Run(float alpha, float beta, int threads, float[]? cStart = null)
        {
            var c = (float[])(cStart ?? C).Clone();
            Gemm.Multiply(TransA, TransB, M, N, K, alpha, A, Lda, B, Ldb, beta, c, Ldc, threads);
            return c;
        }

        /// <summary>Checks every (or every <paramref name="stride"/>-th) element and that the padding of C is untouched.</summary>
        public void Verify(float[] result, float alpha, float beta, float[] cBefore, int stride = 1, string label = "")
        {
            for (int i = 0; i < M; i++)
            {
                for (int j = 0; j < Ldc; j++)
                {
                    int idx = i * Ldc + j;
                    if (j >= N)
                    {
                        result[idx].Should().Be(cBefore[idx], $"padding of C at ({i}, {j}) must stay untouched {label}");
                        continue;
                    }

                    if ((i * N + j) % stride != 0) continue;
                    var (value, bound) = Reference(i, j, alpha, beta, cBefore);
                    float got = result[idx];
                    if (!(Math.Abs(got - value) <= bound))
                    {
                        Assert.Fail($"{label} C[{i},{j}] = {got}, reference {value} (bound {bound}); " +
                            $"transA={TransA} transB={TransB} m={M} n={N} k={K} alpha={alpha} beta={beta}");
                    }
                }
            }
        }

        private static float[] Fill(Random rng, int count)
        {
            var v = new float[Math.Max(count, 0)];
            for (int i = 0; i < v.Length; i++) v[i] = (float)(rng.NextDouble() * 2 - 1);
            return v;
        }
    }

    private static T WithIsa<T>(string isa, Func<T> body) => WithIsa(Enum.Parse<GemmIsa>(isa), body);

    private static void WithIsa(string isa, Action body) => WithIsa(Enum.Parse<GemmIsa>(isa), body);

    private static T WithIsa<T>(GemmIsa isa, Func<T> body)
    {
        var saved = Gemm.MaxIsa;
        Gemm.MaxIsa = isa;
        try
        {
            return body();
        }
        finally
        {
            Gemm.MaxIsa = saved;
        }
    }

    private static void WithIsa(GemmIsa isa, Action body) => WithIsa(isa, () => { body(); return 0; });

    [Theory]
    [MemberData(nameof(IsasAndTransposes))]
    public void Multiply_EveryMAndNUpToTwoTilesPlusOne_MatchesDoubleReference(string isa, bool transA, bool transB)
    {
        WithIsa(isa, () =>
        {
            foreach (int k in new[] { 1, 5, 19 })
            {
                for (int m = 0; m <= 33; m++)
                {
                    for (int n = 0; n <= 33; n++)
                    {
                        var cs = new Case(transA, transB, m, n, k, padA: 0, padB: 0, padC: 0, seed: m * 131 + n * 7 + k);
                        var result = cs.Run(1f, 0f, threads: 1);
                        cs.Verify(result, 1f, 0f, cs.C, label: $"[{isa}]");
                    }
                }
            }
        });
    }

    [Theory]
    [MemberData(nameof(IsasAndTransposes))]
    public void Multiply_AlphaBetaVariantsWithPaddedStrides_MatchDoubleReference(string isa, bool transA, bool transB)
    {
        var shapes = new (int M, int N, int K)[]
        {
            (1, 1, 1), (1, 37, 70), (37, 1, 70), (2, 3, 0), (7, 9, 33), (8, 32, 16), (13, 47, 300), (65, 70, 129),
            (3, 100, 64), (40, 17, 530), (70, 40, 3), (4, 100, 70), (2, 300, 17), (100, 3, 70), (90, 2, 300),
        };
        var ab = new (float Alpha, float Beta)[] { (1f, 0f), (1f, 1f), (-2.5f, 0.75f), (0.5f, -1f), (0f, 0.5f), (0f, 0f) };
        WithIsa(isa, () =>
        {
            int seed = 0;
            foreach (var (m, n, k) in shapes)
            {
                foreach (var (alpha, beta) in ab)
                {
                    var cs = new Case(transA, transB, m, n, k, padA: 3, padB: 5, padC: 2, seed: ++seed);
                    var cBefore = (float[])cs.C.Clone();
                    if (beta == 0f)
                    {
                        // beta = 0 must overwrite: NaN in C (not in its padding) is ignored.
                        for (int i = 0; i < m; i++)
                        {
                            for (int j = 0; j < n; j++) cBefore[i * cs.Ldc + j] = float.NaN;
                        }
                    }

                    var result = cs.Run(alpha, beta, threads: 1, cBefore);
                    cs.Verify(result, alpha, beta, cBefore, label: $"[{isa}]");
                }
            }
        });
    }

    [Theory]
    [MemberData(nameof(Isas))]
    public void Multiply_EngineShapes_MatchDoubleReferenceOnSampledElements(string isa)
    {
        // (transA, transB, m, n, k): recurrent steps, input projection, weight gradients, dX.
        var shapes = new (bool, bool, int, int, int)[]
        {
            (false, true, 1, 1024, 256), (false, true, 8, 512, 128), (false, true, 32, 384, 128),
            (false, true, 64, 1024, 256), (false, true, 128, 512, 128), (false, false, 1, 128, 512),
            (false, false, 32, 128, 512), (false, true, 1600, 512, 32), (false, true, 1600, 300, 100),
            (true, false, 512, 32, 1600), (true, false, 300, 100, 1600), (false, false, 1600, 64, 400),
            (true, true, 96, 200, 300), (true, false, 1030, 130, 300),
        };
        WithIsa(isa, () =>
        {
            int seed = 100;
            foreach (var (ta, tb, m, n, k) in shapes)
            {
                var cs = new Case(ta, tb, m, n, k, padA: 1, padB: 0, padC: 3, seed: ++seed);
                var result = cs.Run(1f, 1f, threads: 0);
                cs.Verify(result, 1f, 1f, cs.C, stride: 97, label: $"[{isa}]");
            }
        });
    }

    [Theory]
    [MemberData(nameof(IsasAndTransposes))]
    public void Multiply_TwoThreadsVersusOne_BitIdentical(string isa, bool transA, bool transB)
    {
        // Shapes big enough to be split (≥ 2 MFLOP): wide, tall, matrix–vector both ways, swapped small batch,
        // several k blocks, and sizes that are not multiples of any tile.
        var shapes = new (int M, int N, int K)[]
        {
            (1, 3000, 700), (3000, 1, 700), (3, 2000, 300), (2000, 4, 300), (24, 1000, 300), (200, 301, 77),
            (131, 45, 600), (45, 131, 600),
        };
        WithIsa(isa, () =>
        {
            foreach (var (m, n, k) in shapes)
            {
                var cs = new Case(transA, transB, m, n, k, padA: 2, padB: 1, padC: 1, seed: m + n + k);
                foreach (float beta in new[] { 0f, 0.5f })
                {
                    var one = cs.Run(1.5f, beta, threads: 1);
                    Gemm.LastThreads.Should().Be(1);
                    float[] two = cs.Run(1.5f, beta, threads: 2);
                    for (int attempt = 0; attempt < 20 && Gemm.LastThreads != 2; attempt++)
                    {
                        // Another test's product held the pool; the call ran alone. Try again.
                        Thread.Sleep(5);
                        two = cs.Run(1.5f, beta, threads: 2);
                    }

                    Gemm.LastThreads.Should().Be(2, $"a {m}×{n}×{k} product must be split");
                    two.Should().Equal(one, $"[{isa}] transA={transA} transB={transB} m={m} n={n} k={k} beta={beta}");
                }
            }
        });
    }

    [Fact]
    public void Multiply_ConcurrentCallers_EachGetTheSingleThreadBits()
    {
        // Callers race for the worker pool: the loser runs alone, the winner splits; all get the same bits.
        var cases = new[]
        {
            new Case(false, true, 48, 700, 128, 0, 0, 0, seed: 1), new Case(true, false, 300, 64, 500, 0, 0, 0, seed: 2),
            new Case(false, false, 1, 4000, 300, 0, 0, 0, seed: 3), new Case(false, false, 90, 90, 300, 0, 0, 0, seed: 4),
        };
        var expected = cases.Select(cs => cs.Run(1f, 0f, threads: 1)).ToArray();
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        var threads = Enumerable.Range(0, cases.Length).Select(t => new Thread(() =>
        {
            for (int it = 0; it < 25; it++)
            {
                var cs = cases[(t + it) % cases.Length];
                var got = cs.Run(1f, 0f, threads: 2);
                if (!got.AsSpan().SequenceEqual(expected[(t + it) % cases.Length])) failures.Add($"thread {t} iteration {it}");
            }
        })).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        failures.Should().BeEmpty();
    }

    [Fact]
    public void Multiply_SteadyState_DoesNotAllocateOnTheCallingThread()
    {
        // Core (direct and packed B, swapped), batched matrix–vector and split products, after a warm-up call.
        var cases = new[]
        {
            new Case(false, true, 32, 512, 128, 0, 0, 0, 1), new Case(false, false, 64, 256, 300, 0, 0, 0, 2),
            new Case(true, false, 200, 64, 400, 0, 0, 0, 3), new Case(false, true, 1, 512, 128, 0, 0, 0, 4),
            new Case(true, true, 3, 300, 64, 0, 0, 0, 5), new Case(false, false, 128, 512, 128, 0, 0, 0, 6),
        };
        foreach (var cs in cases)
        {
            foreach (int threads in new[] { 1, 2 })
            {
                Gemm.Multiply(cs.TransA, cs.TransB, cs.M, cs.N, cs.K, 1f, cs.A, cs.Lda, cs.B, cs.Ldb, 0f, cs.C, cs.Ldc, threads);
                long allocated = SteadyAllocation.Bytes(() =>
                {
                    for (int r = 0; r < 5; r++)
                        Gemm.Multiply(cs.TransA, cs.TransB, cs.M, cs.N, cs.K, 1f, cs.A, cs.Lda, cs.B, cs.Ldb, 0f, cs.C, cs.Ldc, threads);
                });
                allocated.Should().Be(0, $"m={cs.M} n={cs.N} k={cs.K} threads={threads}");
            }
        }
    }

    [Fact]
    public void Multiply_SmallProduct_RunsOnCallingThread()
    {
        var cs = new Case(false, true, 4, 16, 16, 0, 0, 0, seed: 3);
        cs.Run(1f, 0f, threads: 2);
        Gemm.LastThreads.Should().Be(1);
    }

    [Theory]
    [MemberData(nameof(Isas))]
    public void Multiply_SameRowAtDifferentTilePositions_SameBits(string isa)
    {
        // Each element is one fused chain over k (k within one block here) whatever its position in a tile or
        // vector: a row multiplied inside a 21-row block (register tiles) or as a pair of copies (m = 2: the
        // batched matrix–vector kernel on Vector512, a partly filled tile otherwise) gets the same bits.
        WithIsa(isa, () =>
        {
            var big = new Case(false, false, 21, 75, 40, 0, 0, 0, seed: 9);
            var all = big.Run(1f, 0f, threads: 1);
            for (int i = 0; i < big.M; i += 5)
            {
                var a2 = new float[2 * big.K];
                Array.Copy(big.A, i * big.Lda, a2, 0, big.K);
                Array.Copy(big.A, i * big.Lda, a2, big.K, big.K);
                var c2 = new float[2 * big.N];
                Gemm.Multiply(false, false, 2, big.N, big.K, 1f, a2, big.K, big.B, big.Ldb, 0f, c2, big.N, 1);
                c2.AsSpan(0, big.N).ToArray().Should().Equal(all.AsSpan(i * big.Ldc, big.N).ToArray(), $"row {i} [{isa}]");
            }
        });
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void Multiply_BatchOfUpToFourVectors_SameBitsAsOneVectorAtATime(bool transA, bool transB)
    {
        // Vector512 serves up to four rows of op(A) per pass over B with the kernels of the single vector: the same bits.
        // Without AVX-512 (DOTNET_EnableAVX512=0) there are no such kernels: 2–4 rows go through the register tiles, whose
        // transposed-weight (swapped) form sums in another order than the one-vector kernels, so there the rows agree
        // to rounding only.
        bool sameKernels = Gemm.HardwareIsa == GemmIsa.Vector512;
        WithIsa(GemmIsa.Vector512, () =>
        {
            foreach (int m in new[] { 2, 3, 4 })
            {
                var cs = new Case(transA, transB, m, 77, 53, 1, 2, 3, seed: m);
                var all = cs.Run(0.5f, 0f, threads: 1);
                for (int i = 0; i < m; i++)
                {
                    // Row i of op(A) alone, stored as the same kind of matrix (1 × k, or k × 1).
                    var ai = new float[cs.K];
                    for (int p = 0; p < cs.K; p++) ai[p] = (float)cs.OpA(i, p);
                    var ci = new float[cs.N];
                    Gemm.Multiply(transA, transB, 1, cs.N, cs.K, 0.5f, ai, transA ? 1 : cs.K, cs.B, cs.Ldb, 0f, ci, cs.N, 1);
                    var batched = all.AsSpan(i * cs.Ldc, cs.N).ToArray();
                    if (sameKernels)
                    {
                        ci.Should().Equal(batched, $"row {i} of {m}, transA={transA} transB={transB}");
                        continue;
                    }

                    for (int j = 0; j < cs.N; j++)
                        ci[j].Should().BeApproximately(batched[j], 1e-5f * (1 + Math.Abs(batched[j])), $"row {i} of {m}, column {j}");
                }
            }
        });
    }

    [Fact]
    public void MaxIsa_CappedOnThisThread_EffectiveIsaNeverExceedsCap()
    {
        var saved = Gemm.MaxIsa;
        try
        {
            // The enum is ordered by capability: the effective ISA is the lower of the cap and the hardware's.
            ((int)GemmIsa.Scalar).Should().BeLessThan((int)GemmIsa.Vector128);
            ((int)GemmIsa.Vector128).Should().BeLessThan((int)GemmIsa.Vector256);
            ((int)GemmIsa.Vector256).Should().BeLessThan((int)GemmIsa.Vector512);
            foreach (var cap in Enum.GetValues<GemmIsa>())
            {
                Gemm.MaxIsa = cap;
                Gemm.EffectiveIsa.Should().Be(Gemm.HardwareIsa < cap ? Gemm.HardwareIsa : cap, $"cap {cap}");
            }

            Gemm.MaxIsa = GemmIsa.Scalar;
            Gemm.EffectiveIsa.Should().Be(GemmIsa.Scalar);
            Gemm.MaxIsa = GemmIsa.Vector128;
            Gemm.EffectiveIsa.Should().Be(Gemm.HardwareIsa >= GemmIsa.Vector128 ? GemmIsa.Vector128 : GemmIsa.Scalar);
            Gemm.MaxIsa = GemmIsa.Vector256;
            Gemm.EffectiveIsa.Should().Be(Gemm.HardwareIsa >= GemmIsa.Vector256 ? GemmIsa.Vector256 : Gemm.HardwareIsa);

            // The best supported path is the hardware ISA: each vector path runs wherever a wider one does.
            Gemm.HardwareIsa.Should().Be(
                GemmAvx512.IsSupported ? GemmIsa.Vector512 : GemmAvx2.IsSupported ? GemmIsa.Vector256
                : GemmVector128.IsSupported ? GemmIsa.Vector128 : GemmIsa.Scalar);
            if (GemmAvx2.IsSupported) GemmVector128.IsSupported.Should().BeTrue();
            GemmIsa other = GemmIsa.Scalar;
            var thread = new Thread(() => other = Gemm.MaxIsa);
            thread.Start();
            thread.Join();
            other.Should().Be(Gemm.HardwareIsa, "the cap is per thread");
        }
        finally
        {
            Gemm.MaxIsa = saved;
        }
    }

    [Theory]
    [MemberData(nameof(Isas))]
    public void Multiply_DifferentIsas_AgreeWithinTolerance(string isa)
    {
        var cs = new Case(false, true, 33, 70, 200, 0, 0, 0, seed: 5);
        var scalar = WithIsa(GemmIsa.Scalar, () => cs.Run(1f, 0f, 1));
        var vector = WithIsa(isa, () => cs.Run(1f, 0f, 1));
        for (int i = 0; i < scalar.Length; i++) vector[i].Should().BeApproximately(scalar[i], 1e-4f);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void Multiply_Vector128_SameBitsAsVector256AndVector512(bool transA, bool transB)
    {
        // The Vector128 kernels (the ARM64 path) do per element the operations of the Vector256 ones: the same bits
        // for every shape, matrix–vector forms (m or n = 1, row-streaming and dot) and several k blocks included.
        // Vector512 differs only in its matrix–vector dot form (16-lane chains) and serves m or n ≤ 4 by matrix–vector
        // kernels: elsewhere it gets the same bits too. (Where the hardware lacks a path the cap falls back to a
        // lower one, and the comparison holds trivially.)
        var ab = new (float Alpha, float Beta)[] { (1f, 0f), (1f, 1f), (-2.5f, 0.75f), (0.5f, -1f) };
        void Compare(Case cs, float alpha, float beta, int threads)
        {
            string label = $"transA={transA} transB={transB} m={cs.M} n={cs.N} k={cs.K} alpha={alpha} beta={beta} threads={threads}";
            var v128 = WithIsa(GemmIsa.Vector128, () => cs.Run(alpha, beta, threads));
            var v256 = WithIsa(GemmIsa.Vector256, () => cs.Run(alpha, beta, threads));
            v128.Should().Equal(v256, $"Vector128 vs Vector256, {label}");
            if (Math.Min(cs.M, cs.N) > GemvProblem.MaxRows)
            {
                var v512 = WithIsa(GemmIsa.Vector512, () => cs.Run(alpha, beta, threads));
                v128.Should().Equal(v512, $"Vector128 vs Vector512, {label}");
            }
        }

        foreach (int k in new[] { 1, 7, 8, 19, 300 })
        {
            for (int m = 1; m <= 33; m++)
            {
                for (int n = 1; n <= 33; n++)
                {
                    var (alpha, beta) = ab[(m + n + k) % ab.Length];
                    var cs = new Case(transA, transB, m, n, k, padA: 1, padB: 2, padC: 1, seed: m * 131 + n * 7 + k);
                    Compare(cs, alpha, beta, threads: 1);
                }
            }
        }

        // Engine-sized products: batch-1 steps, swapped small batches, packed A and B, split between threads.
        var shapes = new (int M, int N, int K)[]
        {
            (1, 1024, 256), (1024, 1, 256), (3, 700, 300), (8, 512, 128), (64, 1024, 256), (200, 301, 77),
            (512, 128, 600), (131, 45, 600), (72, 530, 300), (1030, 100, 40),
        };
        int seed = 1000;
        foreach (var (m, n, k) in shapes)
        {
            var cs = new Case(transA, transB, m, n, k, padA: 2, padB: 1, padC: 3, seed: ++seed);
            Compare(cs, 1.5f, 0.5f, threads: 2);
        }
    }

    [Fact]
    public void Multiply_ZeroDimensions_LeaveCUntouchedOrScaled()
    {
        // m or n = 0: nothing is touched, empty spans are fine.
        Gemm.Multiply(false, false, 0, 5, 3, 1f, [], 3, new float[15], 5, 0f, [], 5);
        Gemm.Multiply(false, false, 4, 0, 3, 1f, new float[12], 3, [], 1, 0f, new float[4], 1);

        // k = 0: C = beta·C (beta = 0 clears, NaN included).
        var c = new[] { 1f, float.NaN, 3f, 4f };
        Gemm.Multiply(false, false, 2, 2, 0, 1f, [], 1, [], 2, 0f, c, 2);
        c.Should().Equal(0f, 0f, 0f, 0f);
        c = [1f, 2f, 3f, 4f];
        Gemm.Multiply(true, true, 2, 2, 0, 1f, [], 2, [], 1, 2f, c, 2);
        c.Should().Equal(2f, 4f, 6f, 8f);
    }

    [Fact]
    public void Multiply_InvalidArguments_ThrowNamingTheArgument()
    {
        var a = new float[6];
        var b = new float[6];
        var c = new float[4];
        Action badLda = () => Gemm.Multiply(false, false, 2, 2, 3, 1f, a, 2, b, 2, 0f, c, 2);
        badLda.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("lda");
        Action shortB = () => Gemm.Multiply(false, false, 2, 2, 3, 1f, a, 3, new float[5], 2, 0f, c, 2);
        shortB.Should().Throw<ArgumentException>().Which.ParamName.Should().Be("b");
        Action shortC = () => Gemm.Multiply(false, false, 2, 2, 3, 1f, a, 3, b, 2, 0f, new float[3], 2);
        shortC.Should().Throw<ArgumentException>().Which.ParamName.Should().Be("c");
        Action badLdcT = () => Gemm.Multiply(true, true, 2, 2, 3, 1f, a, 2, b, 3, 0f, c, 1);
        badLdcT.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("ldc");
        Action negative = () => Gemm.Multiply(false, false, -1, 2, 3, 1f, a, 3, b, 2, 0f, c, 2);
        negative.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("m");
    }

    [Fact]
    public void Multiply_KnownSmallProduct_ExactValues()
    {
        // [1 2 3; 4 5 6] · [1 0; 0 1; 1 1] = [4 5; 10 11]; transposed operands give the same product.
        float[] a = [1, 2, 3, 4, 5, 6], aT = [1, 4, 2, 5, 3, 6];
        float[] b = [1, 0, 0, 1, 1, 1], bT = [1, 0, 1, 0, 1, 1];
        foreach (var isa in new[] { GemmIsa.Scalar, GemmIsa.Vector128, GemmIsa.Vector256, GemmIsa.Vector512 })
        {
            WithIsa(isa, () =>
            {
                var c = new float[4];
                Gemm.Multiply(false, false, 2, 2, 3, 1f, a, 3, b, 2, 0f, c, 2);
                c.Should().Equal(4f, 5f, 10f, 11f);
                Gemm.Multiply(true, true, 2, 2, 3, 2f, aT, 2, bT, 3, -1f, c, 2);
                c.Should().Equal(4f, 5f, 10f, 11f);
                Gemm.Multiply(true, false, 2, 2, 3, 1f, aT, 2, b, 2, 1f, c, 2);
                c.Should().Equal(8f, 10f, 20f, 22f);
                Gemm.Multiply(false, true, 2, 2, 3, 0.5f, a, 3, bT, 3, 0f, c, 2);
                c.Should().Equal(2f, 2.5f, 5f, 5.5f);
            });
        }
    }

    [Fact]
    public void Multiply_WholeProductAfterSplitParts_AllocatesNothing()
    {
        // A thread that ran its part of a split product and then runs the whole product alone (as it does when the pool is
        // busy) must find its workspace large enough: a steady state under contention never allocates. Split over N
        // (8 row tiles, 32 column panels at 512 bits), so each part packs half of B's columns.
        // Each try runs on a fresh thread, whose workspace is empty. After a split product the thread has a workspace
        // only if it ran a part itself: the worker may take every chunk when the calling thread starts late, and the
        // pool may be busy (then the product runs whole). Only a try where the calling thread ran a part measures.
        const int M = 64, N = 1024, K = 256;
        var random = new Random(3);
        float[] a = [.. Enumerable.Range(0, M * K).Select(_ => (float)random.NextDouble())];
        float[] b = [.. Enumerable.Range(0, K * N).Select(_ => (float)random.NextDouble())];
        var c = new float[M * N];
        long allocated = -1;
        int partSize = 0;
        for (int attempt = 0; attempt < 200 && allocated < 0; attempt++)
        {
            var thread = new Thread(() =>
            {
                Gemm.Multiply(false, false, M, N, K, 1f, a, K, b, N, 0f, c, N, threads: 2);
                if (Gemm.LastThreads != 2 || GemmBuffers.ThreadCapacity == 0) return;
                partSize = GemmBuffers.ThreadCapacity;
                long before = GC.GetAllocatedBytesForCurrentThread();
                Gemm.Multiply(false, false, M, N, K, 1f, a, K, b, N, 0f, c, N, threads: 1);
                allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            });
            thread.Start();
            thread.Join();
            if (allocated < 0) Thread.Sleep(2);
        }

        partSize.Should().BeGreaterThan(0, "the calling thread must have run a part of a split product in one of the tries");
        allocated.Should().Be(0, "the part's workspace ({0} floats) is sized for the whole product", partSize);
    }

    [Theory]
    [InlineData("Scalar")]
    [InlineData("Vector128")]
    [InlineData("Vector256")]
    [InlineData("Vector512")]
    public void MultiplyTransposedSplitA_RowsFromTwoBuffers_SameBitsAsOneBuffer(string isa)
    {
        // GRU's dW_hh: the first rows of op(A) = Aᵀ from one buffer (dGx, wider rows), the rest from another (dGh's n block).
        // Split rows on and off the register tiles' edges, single-tile and multi-block shapes, N on the matrix–vector path.
        var shapes = new (int M, int N, int K, int Split)[]
        {
            (384, 128, 600, 256), (15, 5, 70, 10), (21, 7, 40, 14), (120, 40, 300, 80), (9, 3, 33, 6), (48, 1, 20, 32), (30, 50, 9, 7),
        };
        var random = new Random(7);
        float[] Randoms(int count) => [.. Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 2 - 1))];
        foreach (var (m, n, k, split) in shapes)
        {
            int lda1 = m + 3, lda2 = m - split + 1; // the first buffer's rows are wider (dGx holds every gate block)
            var whole = Randoms(k * m);
            var a1 = new float[k * lda1];
            var a2 = new float[k * lda2];
            for (int p = 0; p < k; p++)
            {
                whole.AsSpan(p * m, split).CopyTo(a1.AsSpan(p * lda1));
                whole.AsSpan(p * m + split, m - split).CopyTo(a2.AsSpan(p * lda2));
            }

            var b = Randoms(k * n);
            AssertSameBitsForEachRun(isa, Randoms(m * n), $"m={m} n={n} k={k} split={split}",
                (threads, alpha, beta, c) => Gemm.Multiply(true, false, m, n, k, alpha, whole, m, b, n, beta, c, n, threads),
                (threads, alpha, beta, c) => Gemm.MultiplyTransposedSplitA(m, n, k, alpha, a1, lda1, split, a2, lda2, b, n, beta, c, n, threads));
        }

        Action outOfRange = () => Gemm.MultiplyTransposedSplitA(4, 4, 4, 1f, new float[16], 4, 4, new float[16], 4, new float[16], 4, 0f, new float[16], 4);
        outOfRange.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("split");
    }

    [Theory]
    [MemberData(nameof(Isas))]
    public void Multiply_NarrowWeightGradients_SwappedFormSameBitsAsDirect(string isa)
    {
        // dW_ih = dGᵀ·X with few input columns runs as Xᵀ·dG (Gemm.SwapMaxNarrowN): the same chain per element, so the
        // same bits as the direct form, for every width, thread count, alpha and beta, and C's row stride.
        var shapes = new (int M, int N, int K)[] { (256, 8, 700), (512, 16, 300), (300, 5, 37), (64, 12, 129), (17, 9, 50), (96, 16, 1) };
        int saved = Gemm.SwapMaxNarrowN;
        AssertTransposedAProductSameBitsEitherWay(isa, shapes, seed: 11, v => Gemm.SwapMaxNarrowN = v, off: 0, on: 16, saved);
    }

    [Theory]
    [MemberData(nameof(Isas))]
    public void Multiply_ChunksOverNOfAStreamedB_SameBitsWhateverTheirWidth(string isa)
    {
        // A product split over N whose B rows are contiguous (the swapped narrow weight gradients: Xᵀ·dG) takes chunks
        // of at least Gemm.StreamChunkMinBytes of each B row: fewer, wider chunks than without the limit, one per thread
        // at 1 MiB. Every chunk boundary is a whole tile, so the bits are those of any other cut.
        var shapes = new (int M, int N, int K)[] { (256, 8, 700), (520, 12, 300), (1000, 3, 400), (136, 16, 1100), (1030, 5, 300) };
        int saved = Gemm.StreamChunkMinBytes;
        AssertTransposedAProductSameBitsEitherWay(isa, shapes, seed: 29, v => Gemm.StreamChunkMinBytes = v, off: 0, on: 512, saved);
        AssertTransposedAProductSameBitsEitherWay(isa, shapes, seed: 31, v => Gemm.StreamChunkMinBytes = v, off: 0, on: 1 << 20, saved);
    }

    [Theory]
    [MemberData(nameof(Isas))]
    public void Multiply_TransposedAPacked_SameBitsAsReadInPlace(string isa)
    {
        // A stored transposed (the weight gradients' dGᵀ) is packed into row panels when many B panels reuse it
        // (Gemm.PackAMinTilesN); the packing copies one k step at a time into panels spaced off a power of two. The
        // tiles then read the same values in the same order, so the bits equal those of A read in place: for row counts
        // that fill no tile, leave one row or several in the last panel, k blocks cut short, one and two threads.
        var shapes = new (int M, int N, int K)[] { (300, 70, 600), (133, 520, 300), (17, 40, 257), (9, 33, 5), (64, 96, 513), (250, 64, 1) };
        int saved = Gemm.PackAMinTilesN; // k steps of A less than a page apart (lda = m + 2 < 1024): only PackAMinTilesN decides
        AssertTransposedAProductSameBitsEitherWay(isa, shapes, seed: 23, v => Gemm.PackAMinTilesN = v, off: int.MaxValue, on: 1, saved);
    }

    /// <summary>
    /// Aᵀ·B (A stored k × m with row stride m + 2, C with row stride n + 3) for each shape, with a GEMM switch set to
    /// <paramref name="off"/> and to <paramref name="on"/>: the same bits every time (<see cref="AssertSameBitsForEachRun"/>);
    /// the switch is set back to <paramref name="saved"/> afterwards.
    /// </summary>
    private static void AssertTransposedAProductSameBitsEitherWay(string isa, (int M, int N, int K)[] shapes, int seed, Action<int> set,
        int off, int on, int saved)
    {
        var random = new Random(seed);
        float[] Randoms(int count) => [.. Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 2 - 1))];
        try
        {
            foreach (var (m, n, k) in shapes)
            {
                int lda = m + 2, ldc = n + 3;
                var a = Randoms(k * lda);
                var b = Randoms(k * n);
                void Product(int threads, float alpha, float beta, float[] c, int value)
                {
                    set(value);
                    Gemm.Multiply(true, false, m, n, k, alpha, a, lda, b, n, beta, c, ldc, threads);
                }

                AssertSameBitsForEachRun(isa, Randoms(m * ldc), $"m={m} n={n} k={k}",
                    (threads, alpha, beta, c) => Product(threads, alpha, beta, c, off),
                    (threads, alpha, beta, c) => Product(threads, alpha, beta, c, on));
            }
        }
        finally
        {
            set(saved);
        }
    }

    /// <summary>
    /// Runs <paramref name="expected"/> and <paramref name="actual"/> (threads, alpha, beta, C) on copies of
    /// <paramref name="c0"/> at <paramref name="isa"/>, on 1 and 2 threads and three alpha/beta pairs, and asserts the
    /// same bits every time.
    /// </summary>
    private static void AssertSameBitsForEachRun(string isa, float[] c0, string shape, Action<int, float, float, float[]> expected,
        Action<int, float, float, float[]> actual)
    {
        foreach (int threads in new[] { 1, 2 })
        {
            foreach (var (alpha, beta) in new[] { (1f, 1f), (0.5f, 0f), (-1.5f, 0.25f) })
            {
                var want = (float[])c0.Clone();
                var got = (float[])c0.Clone();
                WithIsa(isa, () =>
                {
                    expected(threads, alpha, beta, want);
                    actual(threads, alpha, beta, got);
                });
                BitsOf(got).Should().Equal(BitsOf(want), $"{isa} {shape} threads={threads} alpha={alpha} beta={beta}");
            }
        }
    }

    private static int[] BitsOf(float[] values) => [.. values.Select(BitConverter.SingleToInt32Bits)];
}
