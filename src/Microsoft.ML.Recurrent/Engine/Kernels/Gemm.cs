using System.Runtime.Intrinsics;

namespace Microsoft.ML.Recurrent.Engine.Kernels;

/// <summary>
/// Single-precision matrix multiply on row-major storage:
/// C[m, n] = beta · C[m, n] + alpha · Σ_k op(A)[m, k] · op(B)[k, n].
/// op(A) is A (m × k, row stride lda) or, with <c>transA</c>, the transpose of a stored k × m matrix.
/// op(B) likewise (k × n, or the transpose of a stored n × k matrix). beta = 0 overwrites C (NaN in C is ignored).
/// Each C element is summed in the same k order whatever the thread count, so results are bit-identical
/// across thread counts.
/// </summary>
/// <remarks>
/// <para>Paths (chosen from the shape and the instruction set only, never from the thread count):</para>
/// <list type="bullet">
/// <item>m = 1 or n = 1, and (Vector512) m or n ≤ 4: matrix–vector kernels serving up to four vectors per pass
/// over the matrix (row-streaming for a row-contiguous operand, dot products for a column-contiguous one).</item>
/// <item>Otherwise a cache-blocked product (k blocks of <see cref="GemmCore.KC"/>) with a register tile:
/// 8 × 32 (Vector512 + FMA), 6 × 16 (Vector256 + FMA), 8 × 8 (Vector128: the ARM64 path, and x86 without FMA with
/// multiply-then-add lanes; the 8-row tiles are the generic <see cref="GemmTiles"/> bodies) or 4 × 4
/// (scalar). A is read in place (broadcasts); B is read in place when its rows are contiguous and the product
/// is small, else packed into panels (packing handles the transpose). When op(B) is a transposed weight and m is a small batch, the product
/// is computed as Cᵀ = op(B)ᵀ·op(A)ᵀ so that the weight is read in place and only the batch is packed.</item>
/// </list>
/// <para>Each C element is one sequential chain over each k block (fused multiply–add on the vector paths,
/// also in their scalar tails), the blocks added in order; the tiling is anchored at 0, so neither the
/// split between threads nor the position of an element changes its bits. The Vector128 kernels do the same
/// operations per element as the Vector256 ones (matrix–vector dot form included), so they give the same bits.</para>
/// </remarks>
internal static unsafe class Gemm
{
    /// <summary>Default thread count for large products (the machine's cores).</summary>
    public static int DefaultThreads { get; set; } = Environment.ProcessorCount;

    /// <summary>A product is split between threads only when each part gets at least this many flops.</summary>
    internal const double MinFlopsPerThread = 1_000_000;

    /// <summary>A matrix–vector product is split between threads only when each part reads at least this many bytes of the matrix.</summary>
    internal const int GemvMinBytesPerThread = 256 * 1024;

    /// <summary>Transposed-weight products with m up to this use the swapped form Cᵀ = op(B)ᵀ·op(A)ᵀ.</summary>
    internal const int SwapMaxM = 64;

    /// <summary>
    /// Products Aᵀ·B (A stored k × m, B k × n) with n up to this and n &lt; m also use the swapped form: a narrow
    /// input's weight gradient dW_ih = dGᵀ·X (I ≤ 16 columns) then runs as Xᵀ·dG, whose wide tiles stream the gate
    /// gradients row by row, instead of tiles that use at most 16 of their lanes. Each element is the same chain over k,
    /// so the bits do not change. Settable for the benchmarks' A/B (<c>shape --ab narrow-swap</c>) and the tests.
    /// </summary>
    internal static int SwapMaxNarrowN = 16;

    /// <summary>
    /// A with transposed storage is packed when at least this many B panels reuse each of its blocks, or a few when
    /// its k steps are a page or more apart (<see cref="PackAMinStride"/>). Otherwise the tile reads it in place: its MR
    /// values for one k are contiguous, and the copy cost more than the strided reads (docs/performance.md, "Gate
    /// gradients read in place"). Settable for the benchmarks' A/B only.
    /// </summary>
    internal static int PackAMinTilesN = 16;

    /// <summary>A with transposed storage whose k steps are at least this many floats apart (4 KiB) is packed from <see cref="PackAPagedMinTilesN"/> panels.</summary>
    internal const int PackAMinStride = 1024;

    /// <summary>
    /// Panels from which A with k steps a page apart is packed, as before the in-place reads (LSTM H 256's dW_hh,
    /// 8 panels at 512 bits: level alone, 0.98–1.01× in the training step read in place).
    /// </summary>
    internal const int PackAPagedMinTilesN = 4;

    /// <summary>
    /// Whether A stored transposed (its k steps <paramref name="kStride"/> floats apart) is packed rather than read in
    /// place: from <see cref="PackAMinTilesN"/> panels of B, or <see cref="PackAPagedMinTilesN"/> when the k steps are a
    /// page or more apart; never for a single row tile.
    /// </summary>
    private static bool PacksTransposedA(int tilesM, int tilesN, nint kStride) =>
        tilesM > 1 && (tilesN >= PackAMinTilesN || (tilesN >= PackAPagedMinTilesN && kStride >= PackAMinStride));

    /// <summary>
    /// Resolves <paramref name="threads"/> (0: <see cref="DefaultThreads"/>; clamped to the pool) and returns the most
    /// parts a product of <paramref name="flops"/> is cut into: one per thread, while each gets <see cref="MinFlopsPerThread"/>.
    /// </summary>
    private static int PartsFor(ref int threads, double flops)
    {
        if (threads == 0) threads = DefaultThreads;
        threads = Math.Clamp(threads, 1, WorkerPool.MaxThreads);
        return (int)Math.Min(threads, Math.Max(1.0, flops / MinFlopsPerThread));
    }

    /// <summary>Products with M at most this many register tiles read row-contiguous B in place (no packing).</summary>
    internal const int DirectBMaxTilesM = 4;

    [ThreadStatic]
    private static GemmIsa? t_maxIsa;

    [ThreadStatic]
    private static int t_lastThreads;

    /// <summary>Threads offered to the last product started on this thread (1: it ran alone; tests check splits).</summary>
    internal static int LastThreads => t_lastThreads;

    /// <summary>Best instruction set this machine runs the kernels with.</summary>
    internal static GemmIsa HardwareIsa { get; } =
        GemmAvx512.IsSupported ? GemmIsa.Vector512
        : GemmAvx2.IsSupported ? GemmIsa.Vector256
        : GemmVector128.IsSupported ? GemmIsa.Vector128
        : GemmIsa.Scalar;

    /// <summary>
    /// Caps the instruction set used by products started on the calling thread (tests and benchmarks
    /// force the fallbacks with it); defaults to <see cref="HardwareIsa"/>. Per thread, so concurrent
    /// callers are unaffected.
    /// </summary>
    internal static GemmIsa MaxIsa
    {
        get => t_maxIsa ?? HardwareIsa;
        set => t_maxIsa = value;
    }

    /// <summary>The instruction set a product started now on this thread uses.</summary>
    internal static GemmIsa EffectiveIsa => (GemmIsa)Math.Min((int)MaxIsa, (int)HardwareIsa);

    /// <summary>
    /// C = beta·C + alpha·op(A)·op(B). Leading dimensions follow BLAS: lda ≥ max(1, columns of the stored A)
    /// (k, or m with <paramref name="transA"/>), likewise ldb, and ldc ≥ max(1, n). <paramref name="threads"/> = 0
    /// means <see cref="DefaultThreads"/>; small products always run on the calling thread. C must not overlap A or B.
    /// </summary>
    public static void Multiply(
        bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc, int threads = 0)
    {
        if (m < 0) throw new ArgumentOutOfRangeException(nameof(m), m, "must be ≥ 0");
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n), n, "must be ≥ 0");
        if (k < 0) throw new ArgumentOutOfRangeException(nameof(k), k, "must be ≥ 0");
        if (threads < 0) throw new ArgumentOutOfRangeException(nameof(threads), threads, "must be ≥ 0");
        CheckMatrix(a.Length, transA ? k : m, transA ? m : k, lda, nameof(a), nameof(lda));
        CheckMatrix(b.Length, transB ? n : k, transB ? k : n, ldb, nameof(b), nameof(ldb));
        CheckMatrix(c.Length, m, n, ldc, nameof(c), nameof(ldc));
        if (m == 0 || n == 0) return;

        fixed (float* pa = a, pb = b, pc = c)
        {
            if (k == 0 || alpha == 0f)
            {
                t_lastThreads = 1;
                Scale(m, n, beta, pc, ldc);
                return;
            }

            double flops = 2.0 * m * n * k;
            int maxParts = PartsFor(ref threads, flops);
            GemmIsa isa = EffectiveIsa;

            // op(A)[i, p] = pa[i·ars + p·acs], op(B)[p, j] = pb[p·brs + j·bcs].
            nint ars = transA ? 1 : lda, acs = transA ? lda : 1;
            nint brs = transB ? 1 : ldb, bcs = transB ? ldb : 1;

            if (m == 1 || n == 1 || (isa == GemmIsa.Vector512 && Math.Min(m, n) <= GemvProblem.MaxRows))
            {
                // Matrix–vector kernels for up to four vectors: rows of op(A), or (small n) columns of op(B) with
                // the product transposed, Cᵀ = op(B)ᵀ·op(A)ᵀ.
                GemvProblem g = m <= n
                    ? new GemvProblem(m, n, k, alpha, pa, ars, acs, pb, brs, bcs, beta, pc, ldc, 1, isa)
                    : new GemvProblem(n, m, k, alpha, pb, bcs, brs, pa, acs, ars, beta, pc, 1, ldc, isa);

                // They are memory-bound: split them when the matrix outgrows one core's cache (or by flops).
                long splitBytes = 4L * g.N * k / GemvMinBytesPerThread;
                long splitFlops = (long)(flops / MinFlopsPerThread);
                RunGemv(ref g, (int)Math.Min(threads, Math.Max(1L, Math.Max(splitBytes, splitFlops))));
                return;
            }

            bool swapWeights = transB && m <= SwapMaxM && m < n;
            bool swap = swapWeights || (transA && !transB && n <= SwapMaxNarrowN && n < m);
            var p = new GemmProblem { K = k, Alpha = alpha, Beta = beta };
            if (!swap)
            {
                p.M = m; p.N = n;
                p.A = pa; p.Ars = ars; p.Acs = acs;
                p.B = pb; p.Brs = brs; p.Bcs = bcs;
                p.C = pc; p.Crs = ldc; p.Ccs = 1;
            }
            else
            {
                // Cᵀ (n × m) = op(B)ᵀ (n × k) · op(A)ᵀ (k × m).
                p.M = n; p.N = m;
                p.A = pb; p.Ars = bcs; p.Acs = brs;
                p.B = pa; p.Brs = acs; p.Bcs = ars;
                p.C = pc; p.Crs = 1; p.Ccs = ldc;
            }

            p.Tile = ChooseTile(isa, p.N, swapWeights);
            int tilesM = GemmCore.TilesM(p), tilesN = GemmCore.TilesN(p);
            p.PackB = p.Bcs != 1 || tilesM > DirectBMaxTilesM;
            // A is read in place (broadcasts) except when its k steps are whole rows apart (transposed storage,
            // the weight-gradient products) and it is reused by many B panels or its rows are a page apart.
            p.PackA = p.Ars == 1 && p.Acs > 1 && PacksTransposedA(tilesM, tilesN, p.Acs);
            p.SplitN = tilesN >= tilesM;
            RunCore(ref p, Math.Min(maxParts, p.SplitN ? tilesN : tilesM));
        }
    }

    /// <summary>
    /// C = beta·C + alpha·op(A)·B with op(A) = Aᵀ whose first <paramref name="split"/> rows come from a1 (stored k × ·,
    /// row stride lda1) and the rest from a2 (stored k × (m − split), row stride lda2); B row-major k × n. GRU's dW_hh,
    /// whose gate gradients' r and z blocks are dGx's and only the n block is kept apart. Every element gets the bits
    /// <see cref="Multiply"/> gives it over one A holding both; shapes the single product does not cover run as two.
    /// </summary>
    public static void MultiplyTransposedSplitA(int m, int n, int k, float alpha, ReadOnlySpan<float> a1, int lda1, int split,
        ReadOnlySpan<float> a2, int lda2, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc, int threads = 0)
    {
        if (split <= 0 || split >= m) throw new ArgumentOutOfRangeException(nameof(split), split, $"must lie in (0, {m})");
        CheckMatrix(a1.Length, k, split, lda1, nameof(a1), nameof(lda1));
        CheckMatrix(a2.Length, k, m - split, lda2, nameof(a2), nameof(lda2));
        CheckMatrix(b.Length, k, n, ldb, nameof(b), nameof(ldb));
        CheckMatrix(c.Length, m, n, ldc, nameof(c), nameof(ldc));
        GemmIsa isa = EffectiveIsa;
        var tile = ChooseTile(isa, n, false);
        int tilesM = (m + tile.MR - 1) / tile.MR, tilesN = (n + tile.NR - 1) / tile.NR;
        bool packA = PacksTransposedA(tilesM, tilesN, Math.Max(lda1, lda2));
        bool gemv = m == 1 || n == 1 || (isa == GemmIsa.Vector512 && Math.Min(m, n) <= GemvProblem.MaxRows);
        if (k == 0 || alpha == 0f || gemv || packA)
        {
            Multiply(true, false, split, n, k, alpha, a1, lda1, b, ldb, beta, c, ldc, threads);
            Multiply(true, false, m - split, n, k, alpha, a2, lda2, b, ldb, beta, c.Slice(split * ldc), ldc, threads);
            return;
        }

        int maxParts = PartsFor(ref threads, 2.0 * m * n * k);
        fixed (float* pa1 = a1, pa2 = a2, pb = b, pc = c)
        {
            var p = new GemmProblem
            {
                M = m, N = n, K = k, Alpha = alpha, Beta = beta, A = pa1, Ars = 1, Acs = lda1, B = pb, Brs = ldb, Bcs = 1,
                C = pc, Crs = ldc, Ccs = 1, Tile = tile, SplitRow = split, A2 = pa2, Acs2 = lda2,
            };
            p.PackB = tilesM > DirectBMaxTilesM;
            p.SplitN = tilesN >= tilesM;
            RunCore(ref p, Math.Min(maxParts, p.SplitN ? tilesN : tilesM));
        }
    }

    /// <summary>
    /// The register tile for the (possibly swapped) product with N columns. Swapped products store C through
    /// 8 × 8 transposes, which need 8-row tiles (the AVX2 wide tile has 6 rows; both Vector128 tiles have 8).
    /// </summary>
    private static GemmTile ChooseTile(GemmIsa isa, int n, bool swapped) => isa switch
    {
        GemmIsa.Vector512 => n <= 8 ? GemmAvx2.Narrow : n <= 16 ? GemmAvx512.Narrow : GemmAvx512.Wide,
        GemmIsa.Vector256 => n <= 8 || swapped ? GemmAvx2.Narrow : GemmAvx2.Wide,
        GemmIsa.Vector128 => n <= 4 ? GemmVector128.Narrow : GemmVector128.Wide,
        _ => GemmScalar.Tile,
    };

    private static void CheckMatrix(int length, int rows, int cols, int ld, string name, string ldName)
    {
        if (ld < Math.Max(1, cols))
        {
            throw new ArgumentOutOfRangeException(ldName, ld, $"must be ≥ max(1, {cols}), the columns of the stored {name}");
        }

        if (rows > 0 && cols > 0 && length < (long)(rows - 1) * ld + cols)
        {
            throw new ArgumentException(
                $"{name} holds {length} floats; a {rows} × {cols} matrix with row stride {ld} needs {(long)(rows - 1) * ld + cols}.",
                name);
        }
    }

    private static void Scale(int m, int n, float beta, float* c, int ldc)
    {
        if (beta == 1f) return;
        for (int i = 0; i < m; i++)
        {
            var row = new Span<float>(c + (nint)i * ldc, n);
            if (beta == 0f)
            {
                row.Clear();
            }
            else
            {
                System.Numerics.Tensors.TensorPrimitives.Multiply(row, beta, row);
            }
        }
    }

    /// <summary>Chunks per thread: a late worker costs at most about one chunk of waiting.</summary>
    private const int ChunksPerThread = 4;

    /// <summary>
    /// Bytes of each row of B that one chunk of a product split over N reads at least, where B's rows are contiguous
    /// along N: each chunk runs down every k step of B, so narrow chunks read a few lines of each row and skip the rest.
    /// The swapped narrow weight gradient Xᵀ·dG of LSTM H 64 (N 256, K 6,400; dG's rows 1 KiB apart) ran in 8 chunks
    /// of 128 bytes a row at 0.44–0.65 of the speed of 2 chunks of 512 (two threads, Zen 3; docs/performance.md,
    /// "Chunks of a narrow weight gradient"). Each element's chain does not depend on the chunk, so neither do the
    /// bits. Settable for the benchmarks' A/B (<c>shape --ab stream-chunks</c>; 0 lifts the limit).
    /// </summary>
    internal static int StreamChunkMinBytes = 512;

    private static void RunCore(ref GemmProblem p, int threads)
    {
        if (threads > 1 && WorkerPool.TryAcquire())
        {
            try
            {
                var job = CoreJob.Instance;
                job.Problem = p;
                // A chunk split over M packs all of B for itself: give it at least two MC blocks to amortize that.
                int tiles = p.SplitN ? GemmCore.TilesN(p) : GemmCore.TilesM(p);
                int minTiles = !p.SplitN && p.PackB ? 2 * GemmCore.McTiles : 1;
                // A whole multiple of the threads: 3 chunks on 2 threads left one thread a chunk behind (LSTM H 192's
                // dW_hh ran at 52 % of the two-core peak).
                int chunks = Math.Clamp(tiles / minTiles / threads * threads, threads, threads * ChunksPerThread);
                if (p.SplitN && p.Bcs == 1 && StreamChunkMinBytes > 0)
                {
                    int byWidth = (int)Math.Min(int.MaxValue, 4L * p.N / StreamChunkMinBytes) / threads * threads;
                    chunks = Math.Min(chunks, Math.Max(threads, byWidth));
                }
                WorkerPool.Run(job, threads, Math.Min(chunks, tiles));
            }
            finally
            {
                WorkerPool.Release();
            }

            t_lastThreads = threads;
            return;
        }

        t_lastThreads = 1;
        GemmCore.Run(p, 0, p.M, 0, p.N);
    }

    private static void RunGemv(ref GemvProblem g, int parts)
    {
        if (g.Bcs != 1 && g.Xs != 1 && g.Isa != GemmIsa.Scalar)
        {
            // The dot kernels read the vectors contiguously: gather them once (this thread's workspace).
            float* x = GemmBuffers.Get(g.Rows * g.K);
            for (int i = 0; i < g.Rows; i++)
            {
                for (int p = 0; p < g.K; p++) x[i * g.K + p] = g.X[i * g.Xr + p * g.Xs];
            }

            g.X = x;
            g.Xr = g.K;
            g.Xs = 1;
        }

        int units = (g.N + GemvProblem.Unit - 1) / GemvProblem.Unit;
        parts = Math.Min(parts, units);
        if (parts > 1 && WorkerPool.TryAcquire())
        {
            try
            {
                var job = GemvJob.Instance;
                job.Problem = g;
                WorkerPool.Run(job, parts, Math.Min(units, parts * ChunksPerThread));
            }
            finally
            {
                WorkerPool.Release();
            }

            t_lastThreads = parts;
            return;
        }

        t_lastThreads = 1;
        g.Run(0, g.N);
    }

    private sealed class CoreJob : PoolJob
    {
        // Filled in and run only while the pool is held (WorkerPool.TryAcquire).
        public static readonly CoreJob Instance = new();
        public GemmProblem Problem;

        public override void Execute(int part, int parts) => GemmCore.RunPart(Problem, part, parts);
    }

    private sealed class GemvJob : PoolJob
    {
        public static readonly GemvJob Instance = new();
        public GemvProblem Problem;

        public override void Execute(int part, int parts)
        {
            int units = (Problem.N + GemvProblem.Unit - 1) / GemvProblem.Unit;
            int j0 = (int)((long)units * part / parts) * GemvProblem.Unit;
            int j1 = Math.Min(Problem.N, (int)((long)units * (part + 1) / parts) * GemvProblem.Unit);
            Problem.Run(j0, j1);
        }
    }
}

/// <summary>
/// Matrix–vector form for R = <see cref="Rows"/> vectors: Y_i[j] = beta·Y_i[j] + alpha·Σ_p X_i[p]·B[p, j] for
/// i &lt; R, j &lt; N, p &lt; K, with X_i[p] = X[i·Xr + p·Xs], B[p, j] = B[p·Brs + j·Bcs] and Y_i[j] at Y + i·Yr + j·Ys.
/// R &gt; 1 only on the Vector512 path.
/// </summary>
internal unsafe struct GemvProblem
{
    /// <summary>Threads split N in multiples of this (a whole number of the widest row block).</summary>
    public const int Unit = 64;

    /// <summary>Most vectors one matrix–vector product serves.</summary>
    public const int MaxRows = 4;

    public GemvProblem(int rows, int n, int k, float alpha, float* x, nint xr, nint xs, float* b, nint brs, nint bcs,
        float beta, float* y, nint yr, nint ys, GemmIsa isa)
    {
        Rows = rows; N = n; K = k; Alpha = alpha; X = x; Xr = xr; Xs = xs; B = b; Brs = brs; Bcs = bcs;
        Beta = beta; Y = y; Yr = yr; Ys = ys; Isa = isa;
    }

    public int Rows, N, K;
    public float Alpha, Beta;
    public float* X;
    public nint Xr, Xs;
    public float* B;
    public nint Brs, Bcs;
    public float* Y;
    public nint Yr, Ys;
    public GemmIsa Isa;

    public readonly void Run(int j0, int j1)
    {
        if (j1 <= j0) return;
        if (Isa == GemmIsa.Vector512)
        {
            switch (Rows)
            {
                case 1: Run512<GemvRows1>(j0, j1); break;
                case 2: Run512<GemvRows2>(j0, j1); break;
                case 3: Run512<GemvRows3>(j0, j1); break;
                default: Run512<GemvRows4>(j0, j1); break;
            }

            return;
        }

        if (Isa == GemmIsa.Vector256 && Bcs == 1)
        {
            GemmTiles.GemvRows<Vector256<float>, L256>(j0, j1, K, Alpha, X, Xs, B, Brs, Beta, Y, Ys);
        }
        else if (Isa == GemmIsa.Vector256)
        {
            GemmAvx2.GemvDot(j0, j1, K, Alpha, X, B, Bcs, Beta, Y, Ys);
        }
        else if (Isa == GemmIsa.Vector128 && Bcs == 1)
        {
            if (Lanes.UseFma) GemmTiles.GemvRows<Vector128<float>, L128>(j0, j1, K, Alpha, X, Xs, B, Brs, Beta, Y, Ys);
            else GemmTiles.GemvRows<Vector128<float>, L128Unfused>(j0, j1, K, Alpha, X, Xs, B, Brs, Beta, Y, Ys);
        }
        else if (Isa == GemmIsa.Vector128)
        {
            GemmVector128.GemvDot(j0, j1, K, Alpha, X, B, Bcs, Beta, Y, Ys);
        }
        else
        {
            GemmScalar.Gemv(j0, j1, K, Alpha, X, Xs, B, Brs, Bcs, Beta, Y, Ys);
        }
    }

    private readonly void Run512<TR>(int j0, int j1)
        where TR : struct, IGemvRows
    {
        if (Bcs == 1)
        {
            GemmGemvAvx512.Rows<TR>(j0, j1, K, Alpha, X, Xr, Xs, B, Brs, Beta, Y, Yr, Ys);
        }
        else
        {
            GemmGemvAvx512.Dot<TR>(j0, j1, K, Alpha, X, Xr, B, Bcs, Beta, Y, Yr, Ys);
        }
    }
}
