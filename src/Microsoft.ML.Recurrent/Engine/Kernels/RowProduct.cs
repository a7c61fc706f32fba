using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Microsoft.ML.Recurrent.Engine.Kernels;

/// <summary>
/// The per-step products of the recurrence, C = A·B (or C += A·B, or A·B + a bias row) with A (m × k) and B (k × n) both
/// row-contiguous, computed so that every C element has ONE fixed arithmetic order whatever the shape
/// of the call: a single fused multiply–add chain s = fma(A[i, p], B[p, j], s) over p = 0 … k−1 from
/// s = 0, then C = s, C = C + s or C = bias + s. The chain does not depend on m, on the row or column offset of the
/// element, on the tile or vector width it lands in (the scalar tail uses the same family's
/// <see cref="ILanes{TV}.ScalarFma"/>), nor on how a caller splits rows or columns between threads. That is what lets the time loop hand
/// each worker its own rows (or its own hidden units) and still produce the same bits as one thread.
/// </summary>
/// <remarks>
/// Tiles: at 512 bits rows in groups of 8 × 2 vectors and the last 5–7 rows in one 5–7-row × 2-vector tile; at 128 and
/// 256 bits with 16 vector registers (<see cref="Lanes.VectorRegisters"/>: x86 without AVX-512) rows in groups of 6 × 2
/// vectors and the last 3–5 rows in one tile; otherwise (and for the rows those leave) rows in groups of 4 × 4 vectors
/// and the last 1–3 rows in one 1–3-row tile; 1 row × 16 or 8 vectors for a single row (the batch-1 mat-vec); then
/// 1-vector panels, narrower vectors and a scalar tail. Every row count passes over each panel of B once per group
/// height. Column panels are the outer loop so that a panel of B stays in L1 while every row tile of A passes over it. The tiles are written once over the engine's lane
/// types (<see cref="ILanes{TV}"/>): vector width 512, 256 or 128 bits where accelerated, else scalar, forced narrower on
/// the calling thread by the shared <see cref="Lanes.MaxVectorWidth"/> (tests); fused multiply–add, or multiply then
/// add on machines without the instruction (<see cref="Lanes.UseFma"/>), the scalar tail included. B may also come in
/// column panels (<see cref="PackPanels"/>, <see cref="PackTransposedPanels"/>), the row loop's layout: each panel's rows
/// contiguous, rows in tiles of nearly equal heights (<see cref="Panels{TV, V}"/>).
/// </remarks>
internal static unsafe class RowProduct
{
    /// <summary>
    /// C[i·ldc + j] = (accumulate ? C[i·ldc + j] : 0) + Σ_p A[i·lda + p]·B[p·ldb + j] for i &lt; m, j &lt; n, p &lt; k,
    /// each sum one fused chain over p in order (see the class remarks).
    /// </summary>
    public static void Multiply(int m, int n, int k, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
        Span<float> c, int ldc, bool accumulate)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        Check(a.Length, m, k, lda, nameof(a));
        Check(b.Length, k, n, ldb, nameof(b));
        Check(c.Length, m, n, ldc, nameof(c));
        if (m == 0 || n == 0) return;
        fixed (float* pa = a, pb = b, pc = c)
            Multiply(m, n, k, pa, lda, pb, ldb, pc, ldc, accumulate);
    }

    /// <summary>
    /// Pointer form of <see cref="Multiply(int, int, int, ReadOnlySpan{float}, int, ReadOnlySpan{float}, int, Span{float}, int, bool)"/>
    /// (no checks). With <paramref name="panelStride"/> &gt; 0, B is in column panels (<see cref="PackPanels"/>): panels of
    /// <paramref name="ldb"/> columns, panel q at b + q·panelStride, its k rows <paramref name="ldb"/> floats apart; the
    /// sums are the same chains as from B row-major.
    /// </summary>
    public static void Multiply(int m, int n, int k, float* a, nint lda, float* b, nint ldb, float* c, nint ldc, bool accumulate, nint panelStride = 0) =>
        Product(m, n, k, a, lda, b, ldb, panelStride, c, ldc, accumulate ? c : null, ldc);

    /// <summary>
    /// C[i·ldc + j] = Σ_p A[i·lda + p]·B[p·ldb + j] + row[j]: the product plus one row added to every row (a bias),
    /// the sum the same chain as in <see cref="Multiply(int, int, int, float*, nint, float*, nint, float*, nint, bool, nint)"/>,
    /// then one addition. No checks. B in column panels when <paramref name="panelStride"/> &gt; 0, as in
    /// <see cref="Multiply(int, int, int, float*, nint, float*, nint, float*, nint, bool, nint)"/>.
    /// </summary>
    public static void MultiplyAddRow(int m, int n, int k, float* a, nint lda, float* b, nint ldb, float* c, nint ldc, float* row, nint panelStride = 0) =>
        Product(m, n, k, a, lda, b, ldb, panelStride, c, ldc, row, 0);

    /// <summary>
    /// C = chain, or C = D + chain where D[i, j] = d[i·ldd + j] (d = c: accumulate; ldd = 0: a row); B row-major
    /// (ps = 0) or in panels ps apart (<see cref="Panels{TV, V}"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Product(int m, int n, int k, float* a, nint lda, float* b, nint ldb, nint ps, float* c, nint ldc, float* d, nint ldd)
    {
        if (m <= 0 || n <= 0) return;
        if (ps > 0)
        {
            if (Lanes.UseFma)
            {
                switch (Lanes.MaxVectorWidth)
                {
                    case 512: Panels<Vector512<float>, L512>(m, n, k, a, lda, b, ldb, ps, c, ldc, d, ldd); break;
                    case 256: Panels<Vector256<float>, L256>(m, n, k, a, lda, b, ldb, ps, c, ldc, d, ldd); break;
                    case 128: Panels<Vector128<float>, L128>(m, n, k, a, lda, b, ldb, ps, c, ldc, d, ldd); break;
                    default: Panels<float, L1>(m, n, k, a, lda, b, ldb, ps, c, ldc, d, ldd); break;
                }
            }
            else
            {
                switch (Lanes.MaxVectorWidth)
                {
                    case 512: Panels<Vector512<float>, L512Unfused>(m, n, k, a, lda, b, ldb, ps, c, ldc, d, ldd); break;
                    case 256: Panels<Vector256<float>, L256Unfused>(m, n, k, a, lda, b, ldb, ps, c, ldc, d, ldd); break;
                    case 128: Panels<Vector128<float>, L128Unfused>(m, n, k, a, lda, b, ldb, ps, c, ldc, d, ldd); break;
                    default: Panels<float, L1Unfused>(m, n, k, a, lda, b, ldb, ps, c, ldc, d, ldd); break;
                }
            }

            return;
        }

        if (Lanes.UseFma)
        {
            switch (Lanes.MaxVectorWidth)
            {
                case 512: Run<Vector512<float>, L512>(m, n, k, a, lda, b, ldb, c, ldc, d, ldd); break;
                case 256: Run<Vector256<float>, L256>(m, n, k, a, lda, b, ldb, c, ldc, d, ldd); break;
                case 128: Run<Vector128<float>, L128>(m, n, k, a, lda, b, ldb, c, ldc, d, ldd); break;
                default: Scalar<float, L1>(m, 0, n, k, a, lda, b, ldb, c, ldc, d, ldd); break;
            }
        }
        else
        {
            switch (Lanes.MaxVectorWidth)
            {
                case 512: Run<Vector512<float>, L512Unfused>(m, n, k, a, lda, b, ldb, c, ldc, d, ldd); break;
                case 256: Run<Vector256<float>, L256Unfused>(m, n, k, a, lda, b, ldb, c, ldc, d, ldd); break;
                case 128: Run<Vector128<float>, L128Unfused>(m, n, k, a, lda, b, ldb, c, ldc, d, ldd); break;
                default: Scalar<float, L1Unfused>(m, 0, n, k, a, lda, b, ldb, c, ldc, d, ldd); break;
            }
        }
    }

    /// <summary>
    /// Columns of one panel of a B operand packed by <see cref="PackPanels"/> or <see cref="PackTransposedPanels"/> for
    /// this machine: two of its widest accelerated vectors (32 floats with AVX-512, else 16: one 64-byte line), so that one
    /// panel is one R × 2-vector tile wide. Any lane width reads any panel width (a narrower one covers a panel in several
    /// tiles; a wider one, forced in tests, runs the row-major code on each panel); only the speed differs.
    /// </summary>
    public static readonly int PanelWidth = Lanes.WidestAccelerated >= 512 ? 32 : 16;

    /// <summary>
    /// Columns of one panel for single rows (the batch-1 loop): sixteen of the widest vectors (256 floats with AVX-512,
    /// else 128), one 1 × 16-vector tile, so that a row of h streams each panel as one contiguous block.
    /// </summary>
    public static readonly int WidePanelWidth = 8 * PanelWidth;

    /// <summary>Floats of a k × n operand in panels of <paramref name="width"/> columns (the last one padded to the full width).</summary>
    public static long PanelFloats(int k, int n, int width) => (long)(n + width - 1) / width * k * width;

    /// <summary>
    /// Copies the row-major k × n matrix src (rows <paramref name="lds"/> apart) into column panels of
    /// <paramref name="width"/> columns, panel q at dst + q·k·width: dst[q·k·width + p·width + jj] = src[p·lds + q·width + jj]
    /// for q·width + jj &lt; n. The last panel's columns past n are not written (and never read).
    /// </summary>
    public static void PackPanels(float* src, nint lds, int k, int n, float* dst, int width)
    {
        nint ps = (nint)k * width;
        for (int j0 = 0, q = 0; j0 < n; j0 += width, q++)
        {
            int cols = Math.Min(width, n - j0);
            float* d = dst + q * ps, s = src + j0;
            for (int p = 0; p < k; p++, d += width, s += lds) new ReadOnlySpan<float>(s, cols).CopyTo(new Span<float>(d, cols));
        }
    }

    /// <summary>
    /// <see cref="PackTransposed"/> into column panels: column col = g·width + jj of the (k × G·width) result lands at
    /// dst[(col / panelWidth)·k·panelWidth + p·panelWidth + col % panelWidth]. The last panel's columns past G·width are
    /// not written (and never read).
    /// </summary>
    public static void PackTransposedPanels(ReadOnlySpan<float> w, int ldw, int k, int blocks, int stride, int first, int width,
        Span<float> dst, int panelWidth)
    {
        if (blocks <= 0 || width <= 0 || k <= 0) return;
        ArgumentOutOfRangeException.ThrowIfLessThan(panelWidth, 1);
        int n = blocks * width, ps = k * panelWidth;
        if (dst.Length < PanelFloats(k, n, panelWidth)) throw new ArgumentException($"dst holds {dst.Length} floats; the panels need {PanelFloats(k, n, panelWidth)}.", nameof(dst));
        for (int col = 0; col < n;)
        {
            // The longest run of columns inside one gate block and one panel: a plain transposed pack at the panel's stride.
            int g = col / width, jj = col % width, inPanel = col % panelWidth;
            int len = Math.Min(width - jj, panelWidth - inPanel);
            PackTransposed(w, ldw, k, 1, stride, g * stride + first + jj, len, dst[(col / panelWidth * ps + inPanel)..], panelWidth);
            col += len;
        }
    }

    /// <summary>
    /// Packs rows of a row-major matrix W (ld = <paramref name="ldw"/>, k columns used) transposed:
    /// dst[p·ldd + q·width + jj] = W[(q·stride + first + jj)·ldw + p] for q &lt; blocks, jj &lt; width, p &lt; k.
    /// With blocks = G, stride = H, first = j0 and width = n this gathers the G gate blocks of hidden units
    /// [j0, j0 + n) as the columns of a (k × G·n) matrix, the B operand of <see cref="Multiply(int, int, int, float*, nint, float*, nint, float*, nint, bool, nint)"/>.
    /// </summary>
    public static void PackTransposed(ReadOnlySpan<float> w, int ldw, int k, int blocks, int stride, int first, int width, Span<float> dst, int ldd)
    {
        if (blocks <= 0 || width <= 0 || k <= 0) return;
        if (ldd < blocks * width) throw new ArgumentOutOfRangeException(nameof(ldd));
        Check(w.Length, (blocks - 1) * stride + first + width, k, ldw, nameof(w));
        Check(dst.Length, k, blocks * width, ldd, nameof(dst));
        fixed (float* pw = w, pd = dst)
        {
            for (int q = 0; q < blocks; q++)
            {
                float* src = pw + (nint)(q * stride + first) * ldw;
                float* d = pd + q * width;
                int j = 0;
                if (Avx.IsSupported)
                {
                    // 8 × 8 blocks transposed in registers: eight 32-byte reads, eight 32-byte writes.
                    for (; j + 8 <= width; j += 8)
                    {
                        int p = 0;
                        for (; p + 8 <= k; p += 8) Transpose8x8(src + (nint)j * ldw + p, ldw, d + (nint)p * ldd + j, ldd);
                        for (; p < k; p++)
                            for (int jj = 0; jj < 8; jj++) d[(nint)p * ldd + j + jj] = src[(nint)(j + jj) * ldw + p];
                    }
                }

                for (; j < width; j++)
                {
                    float* s = src + (nint)j * ldw;
                    for (int p = 0; p < k; p++) d[(nint)p * ldd + j] = s[p];
                }
            }
        }
    }

    /// <summary>dst[c·ldd + r] = src[r·lds + c] for r, c &lt; 8.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(float* src, nint lds, float* dst, nint ldd)
    {
        Vector256<float> r0 = Avx.LoadVector256(src), r1 = Avx.LoadVector256(src + lds);
        Vector256<float> r2 = Avx.LoadVector256(src + 2 * lds), r3 = Avx.LoadVector256(src + 3 * lds);
        Vector256<float> r4 = Avx.LoadVector256(src + 4 * lds), r5 = Avx.LoadVector256(src + 5 * lds);
        Vector256<float> r6 = Avx.LoadVector256(src + 6 * lds), r7 = Avx.LoadVector256(src + 7 * lds);
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1);
        Vector256<float> t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
        Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5);
        Vector256<float> t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
        Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44), u1 = Avx.Shuffle(t0, t2, 0xEE);
        Vector256<float> u2 = Avx.Shuffle(t1, t3, 0x44), u3 = Avx.Shuffle(t1, t3, 0xEE);
        Vector256<float> u4 = Avx.Shuffle(t4, t6, 0x44), u5 = Avx.Shuffle(t4, t6, 0xEE);
        Vector256<float> u6 = Avx.Shuffle(t5, t7, 0x44), u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(dst + ldd, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(dst + 2 * ldd, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(dst + 3 * ldd, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(dst + 4 * ldd, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(dst + 5 * ldd, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(dst + 6 * ldd, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(dst + 7 * ldd, Avx.Permute2x128(u3, u7, 0x31));
    }

    private static void Check(int length, int rows, int cols, int ld, string name)
    {
        if (rows <= 0 || cols <= 0) return;
        if (ld < cols) throw new ArgumentOutOfRangeException(name, ld, $"the row stride of {name} must be ≥ {cols}");
        if (length < (long)(rows - 1) * ld + cols)
            throw new ArgumentException($"{name} holds {length} floats; a {rows} × {cols} matrix with row stride {ld} needs {(long)(rows - 1) * ld + cols}.", name);
    }

    /// <summary>
    /// The row-major driver for one lane type: rows in groups of tall tiles (<see cref="Grouped{TV, V, R}"/>) or the
    /// 4-vector path (<see cref="Short{TV, V}"/>). Compiled on its own, per lane type, when first called: inlined, each of
    /// <see cref="Product"/>'s eight lane-type branches carried a copy of it, and the first product of a process spent
    /// 81–83 ms in the JIT (14–23 ms now; a fresh network's first batch-1 pass 145–157 → 68–84 ms). The extra call is one
    /// per product.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Run<TV, V>(int m, int n, int k, float* a, nint lda, float* b, nint ldb, float* c, nint ldc, float* d, nint ldd)
        where TV : struct where V : struct, ILanes<TV>
    {
        if (UseTall && V.Count == 16 && m >= 5)
        {
            // 512-bit lanes (32 registers): rows in groups of 8 with 8 × 2-vector tiles, then the last rows: 5–7 in one
            // 5–7-row tile, 1–4 in the 4-row path (one pass over B either way).
            Grouped<TV, V, Rows8>(m, 5, n, k, a, lda, b, ldb, c, ldc, d, ldd);
            return;
        }

        if (UseTall && V.Count <= 8 && Lanes.VectorRegisters < 32 && m >= 3)
        {
            // 16 vector registers (x86 without AVX-512): the 4 × 4 tile needs 21 and spilled five accumulators to the stack
            // every step of k. Rows in groups of 6 with 6 × 2-vector tiles (12 accumulators, 2 of B, 1 broadcast), then
            // the last 3–5 rows in one tile; 1–2 rows left go to the 4-vector path (R ≤ 2 fits there).
            Grouped<TV, V, Rows6>(m, 3, n, k, a, lda, b, ldb, c, ldc, d, ldd);
            return;
        }

        Short<TV, V>(m, n, k, a, lda, b, ldb, c, ldc, d, ldd);
    }

    /// <summary>
    /// B in column panels of P = ldb columns (k rows each, P floats apart; panel q at b + q·ps): every panel's k × P block
    /// is contiguous, so it streams into L1 line after line. From rows of B a power-of-two number of floats apart a column
    /// panel falls on a few L1 sets and every row of it on another page (measured, `rowproduct`, 6 rows on Zen 3: 74
    /// GFLOP/s from 528-float rows, 97 from one 16-column panel of the same size). Rows in tiles of nearly equal heights,
    /// at most 8 (32 registers) or 6 (16): 8 rows are 4 + 4, not 6 and a 2-row pass; each tile R × 2 vectors. While B fits
    /// half of L2 (<see cref="RowTilesOuterMaxBytes"/>) each row tile runs down every panel in one call (the panels stream
    /// from L2 again for the next tile; measured 1.02–1.10× whole passes against panels outer, one call a tile and panel);
    /// a larger B keeps panels outer, each panel in L1 while every row tile passes over it. One or two rows go through
    /// tiles spanning 4 or 2 panels. A lane width that does not divide the panel (a wider one forced in tests), the last
    /// partial panel and the scalar path run the row-major code on each panel. Every element's chain is the row-major one.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Panels<TV, V>(int m, int n, int k, float* a, nint lda, float* b, nint ldb, nint ps, float* c, nint ldc, float* d, nint ldd)
        where TV : struct where V : struct, ILanes<TV>
    {
        int P = (int)ldb, w = (int)V.Count, full = n / P, q = 0;
        if (m == 1 && w > 1 && P % (16 * w) == 0)
        {
            // A single row (the batch-1 loop's panels): the 1 × 16-vector tile down each panel, one contiguous stream.
            for (; q < full; q++)
            {
                float* bq = b + q * ps;
                nint j0 = (nint)q * P;
                for (int jj = 0; jj < P; jj += 16 * w) Row1x16<TV, V>(k, a, bq + jj, ldb, c + j0 + jj, At(d, j0 + jj));
            }
        }
        else if (m <= 2 && w > 1 && P == 2 * w)
        {
            // One or two rows: a 1- or 2-row tile over one panel has 2 or 4 chains, too few to hide the multiply–add's
            // latency; these tiles span 4 or 2 panels (8 chains).
            if (m == 1) for (; q + 4 <= full; q += 4) Row1Panels4<TV, V>(k, a, b + q * ps, ldb, ps, c + q * P, At(d, q * P));
            else for (; q + 2 <= full; q += 2) Rows2Panels2<TV, V>(k, a, lda, b + q * ps, ldb, ps, c + q * P, ldc, At(d, q * P), ldd);
            if (q < full) RowTile<TV, V>(m, full - q, k, a, lda, b + q * ps, ldb, ps, c + q * P, ldc, At(d, q * P), ldd);
            q = full;
        }
        else if (w > 1 && P % (2 * w) == 0 && full > 0)
        {
            int rmax = w == 16 || Lanes.VectorRegisters >= 32 ? 8 : 6;
            int tiles = (m + rmax - 1) / rmax, low = m / tiles, taller = m % tiles;
            if (P == 2 * w && (long)k * n * sizeof(float) <= RowTilesOuterMaxBytes)
            {
                for (int t = 0, i = 0; t < tiles; i += t < taller ? low + 1 : low, t++)
                    RowTile<TV, V>(t < taller ? low + 1 : low, full, k, a + i * lda, lda, b, ldb, ps, c + i * ldc, ldc, At(d, i * ldd), ldd);
            }
            else
            {
                for (; q < full; q++)
                {
                    float* bq = b + q * ps;
                    nint j0 = (nint)q * P;
                    for (int jj = 0; jj < P; jj += 2 * w)
                    {
                        for (int t = 0, i = 0; t < tiles; i += t < taller ? low + 1 : low, t++)
                            RowTile<TV, V>(t < taller ? low + 1 : low, 1, k, a + i * lda, lda, bq + jj, ldb, 0, c + i * ldc + j0 + jj, ldc, At(d, i * ldd + j0 + jj), ldd);
                    }
                }
            }

            q = full;
        }

        for (; (long)q * P < n; q++)
        {
            int j0 = q * P, cols = Math.Min(P, n - j0);
            if (w == 1) Scalar<TV, V>(m, 0, cols, k, a, lda, b + q * ps, ldb, c + j0, ldc, At(d, j0), ldd);
            else Run<TV, V>(m, cols, k, a, lda, b + q * ps, ldb, c + j0, ldc, At(d, j0), ldd);
        }
    }

    /// <summary>
    /// Largest B in column panels (bytes) for which each row tile runs down all the panels in one call rather than each
    /// panel staying in L1 for every row tile: half of one core's L2 (<see cref="CacheSizes.L2Bytes"/>), so that the
    /// panels stream from L2 for every tile. Settable for benchmarks (0: panels outer always, <c>shape --ab tiles-outer</c>)
    /// and tests; the bits do not depend on it.
    /// </summary>
    internal static long RowTilesOuterMaxBytes { get; set; } = CacheSizes.L2Bytes / 2;

    /// <summary>One row times 4 panels of 2 vectors each (panels <paramref name="ps"/> apart): 8 accumulators.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Row1Panels4<TV, V>(int k, float* a, float* b, nint ldb, nint ps, float* c, float* d)
        where TV : struct where V : struct, ILanes<TV>
    {
        int w = (int)V.Count;
        float* b1 = b + ps, b2 = b1 + ps, b3 = b2 + ps;
        TV c0 = V.Zero, c1 = V.Zero, c2 = V.Zero, c3 = V.Zero, c4 = V.Zero, c5 = V.Zero, c6 = V.Zero, c7 = V.Zero;
        for (nint p = 0, o = 0; p < k; p++, o += ldb)
        {
            TV x = V.Splat(a[p]);
            c0 = V.Fma(x, V.Load(b + o), c0); c1 = V.Fma(x, V.Load(b + o + w), c1);
            c2 = V.Fma(x, V.Load(b1 + o), c2); c3 = V.Fma(x, V.Load(b1 + o + w), c3);
            c4 = V.Fma(x, V.Load(b2 + o), c4); c5 = V.Fma(x, V.Load(b2 + o + w), c5);
            c6 = V.Fma(x, V.Load(b3 + o), c6); c7 = V.Fma(x, V.Load(b3 + o + w), c7);
        }

        Put<TV, V>(c, d, 0, c0); Put<TV, V>(c, d, w, c1); Put<TV, V>(c, d, 2 * w, c2); Put<TV, V>(c, d, 3 * w, c3);
        Put<TV, V>(c, d, 4 * w, c4); Put<TV, V>(c, d, 5 * w, c5); Put<TV, V>(c, d, 6 * w, c6); Put<TV, V>(c, d, 7 * w, c7);
    }

    /// <summary>Two rows times 2 panels of 2 vectors each (panels <paramref name="ps"/> apart): 8 accumulators.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Rows2Panels2<TV, V>(int k, float* a, nint lda, float* b, nint ldb, nint ps, float* c, nint ldc, float* d, nint ldd)
        where TV : struct where V : struct, ILanes<TV>
    {
        int w = (int)V.Count;
        float* a1 = a + lda, b1 = b + ps;
        TV c00 = V.Zero, c01 = V.Zero, c02 = V.Zero, c03 = V.Zero, c10 = V.Zero, c11 = V.Zero, c12 = V.Zero, c13 = V.Zero;
        for (nint p = 0, o = 0; p < k; p++, o += ldb)
        {
            TV v0 = V.Load(b + o), v1 = V.Load(b + o + w), v2 = V.Load(b1 + o), v3 = V.Load(b1 + o + w);
            TV x = V.Splat(a[p]);
            c00 = V.Fma(x, v0, c00); c01 = V.Fma(x, v1, c01); c02 = V.Fma(x, v2, c02); c03 = V.Fma(x, v3, c03);
            x = V.Splat(a1[p]);
            c10 = V.Fma(x, v0, c10); c11 = V.Fma(x, v1, c11); c12 = V.Fma(x, v2, c12); c13 = V.Fma(x, v3, c13);
        }

        Put<TV, V>(c, d, 0, c00); Put<TV, V>(c, d, w, c01); Put<TV, V>(c, d, 2 * w, c02); Put<TV, V>(c, d, 3 * w, c03);
        c += ldc; d = At(d, ldd);
        Put<TV, V>(c, d, 0, c10); Put<TV, V>(c, d, w, c11); Put<TV, V>(c, d, 2 * w, c12); Put<TV, V>(c, d, 3 * w, c13);
    }

    /// <summary>
    /// The R × 2-vector tile of height <paramref name="h"/> (1–8) over <paramref name="panels"/> column panels in turn
    /// (<see cref="TileRun{TV, V, R}"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RowTile<TV, V>(int h, int panels, int k, float* a, nint lda, float* b, nint ldb, nint ps, float* c, nint ldc, float* d, nint ldd)
        where TV : struct where V : struct, ILanes<TV>
    {
        switch (h)
        {
            case 1: TileRun<TV, V, Rows1>(panels, k, a, lda, b, ldb, ps, c, ldc, d, ldd); break;
            case 2: TileRun<TV, V, Rows2>(panels, k, a, lda, b, ldb, ps, c, ldc, d, ldd); break;
            case 3: TileRun<TV, V, Rows3>(panels, k, a, lda, b, ldb, ps, c, ldc, d, ldd); break;
            case 4: TileRun<TV, V, Rows4>(panels, k, a, lda, b, ldb, ps, c, ldc, d, ldd); break;
            case 5: TileRun<TV, V, Rows5>(panels, k, a, lda, b, ldb, ps, c, ldc, d, ldd); break;
            case 6: TileRun<TV, V, Rows6>(panels, k, a, lda, b, ldb, ps, c, ldc, d, ldd); break;
            case 7: TileRun<TV, V, Rows7>(panels, k, a, lda, b, ldb, ps, c, ldc, d, ldd); break;
            default: TileRun<TV, V, Rows8>(panels, k, a, lda, b, ldb, ps, c, ldc, d, ldd); break;
        }
    }

    /// <summary>
    /// m rows in groups of R through R × 2-vector tiles, then the rows left: from <paramref name="minTile"/> rows on in one
    /// × 2-vector tile of their own height (3–7), fewer in the 4-vector path (<see cref="Short{TV, V}"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Grouped<TV, V, R>(int m, int minTile, int n, int k, float* a, nint lda, float* b, nint ldb, float* c, nint ldc, float* d, nint ldd)
        where TV : struct where V : struct, ILanes<TV> where R : struct, IRowCount
    {
        int grouped = m / R.Value * R.Value, rest = m - grouped;
        if (grouped > 0) Tall<TV, V, R>(grouped, n, k, a, lda, b, ldb, c, ldc, d, ldd);
        if (rest == 0) return;
        float* ar = a + grouped * lda, cr = c + grouped * ldc, dr = At(d, grouped * ldd);
        if (rest < minTile)
        {
            Short<TV, V>(rest, n, k, ar, lda, b, ldb, cr, ldc, dr, ldd);
            return;
        }

        switch (rest)
        {
            case 3: Tall<TV, V, Rows3>(3, n, k, ar, lda, b, ldb, cr, ldc, dr, ldd); break;
            case 4: Tall<TV, V, Rows4>(4, n, k, ar, lda, b, ldb, cr, ldc, dr, ldd); break;
            case 5: Tall<TV, V, Rows5>(5, n, k, ar, lda, b, ldb, cr, ldc, dr, ldd); break;
            case 6: Tall<TV, V, Rows6>(6, n, k, ar, lda, b, ldb, cr, ldc, dr, ldd); break;
            default: Tall<TV, V, Rows7>(7, n, k, ar, lda, b, ldb, cr, ldc, dr, ldd); break;
        }
    }

    /// <summary>
    /// Any m with 4-vector panels (the path below 512 bits, and the last 1–4 rows at 512): one row alone through the
    /// 16- and 8-vector mat-vec tiles, otherwise rows in groups of 4 and the last 1–3 in one shorter tile, so every row
    /// count passes over each panel of B once (measured before the shorter tiles, one thread, n = 512, k = 128: 3 rows
    /// took 3× and 7 rows 2.5× the time of 4 and 8, each leftover row another pass over B). Compiled optimised from the
    /// first call: as the leftover rows' callee it would otherwise start unoptimised (measured: 10 to 12 rows ran 8×
    /// slower than 13 for the first half second).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Short<TV, V>(int m, int n, int k, float* a, nint lda, float* b, nint ldb, float* c, nint ldc, float* d, nint ldd)
        where TV : struct where V : struct, ILanes<TV>
    {
        int w = (int)V.Count, w4 = 4 * w, j = 0;
        if (m == 1)
        {
            // With 16 registers (AVX2) the 16 accumulators and the broadcast spill one accumulator, and the tile is still
            // faster than the 1 × 8 one on weights streamed from beyond L2 (`matvec 1024 256` on Zen 3, builds alternated:
            // 22.8–24.1 against 26.8–28.7 µs; level on a block in L2).
            for (; j + 16 * w <= n; j += 16 * w) Row1x16<TV, V>(k, a, b + j, ldb, c + j, At(d, j));
            for (; j + 8 * w <= n; j += 8 * w) Row1x8<TV, V>(k, a, b + j, ldb, c + j, At(d, j));
        }

        for (; j + w4 <= n; j += w4)
        {
            int i = 0;
            for (; i + 4 <= m; i += 4) TileRx4<TV, V, Rows4>(k, a + i * lda, lda, b + j, ldb, c + i * ldc + j, ldc, At(d, i * ldd + j), ldd);
            switch (m - i)
            {
                case 1: TileRx4<TV, V, Rows1>(k, a + i * lda, lda, b + j, ldb, c + i * ldc + j, ldc, At(d, i * ldd + j), ldd); break;
                case 2: TileRx4<TV, V, Rows2>(k, a + i * lda, lda, b + j, ldb, c + i * ldc + j, ldc, At(d, i * ldd + j), ldd); break;
                case 3: TileRx4<TV, V, Rows3>(k, a + i * lda, lda, b + j, ldb, c + i * ldc + j, ldc, At(d, i * ldd + j), ldd); break;
            }
        }

        OneVectorColumns<TV, V>(m, j, n, k, a, lda, b, ldb, c, ldc, d, ldd);
    }

    /// <summary>Columns [j0, n), fewer than 4 vectors of V: 1-vector tiles of 4 rows, then single rows, then <see cref="Narrower{TV, V}"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void OneVectorColumns<TV, V>(int m, int j, int n, int k, float* a, nint lda, float* b, nint ldb, float* c, nint ldc, float* d, nint ldd)
        where TV : struct where V : struct, ILanes<TV>
    {
        int w = (int)V.Count;
        for (; j + w <= n; j += w)
        {
            int i = 0;
            for (; i + 4 <= m; i += 4) Tile4x1<TV, V>(k, a + i * lda, lda, b + j, ldb, c + i * ldc + j, ldc, At(d, i * ldd + j), ldd);
            for (; i < m; i++) Tile1x1<TV, V>(k, a + i * lda, b + j, ldb, c + i * ldc + j, At(d, i * ldd + j));
        }

        if (j < n) Narrower<TV, V>(m, j, n, k, a, lda, b, ldb, c, ldc, d, ldd);
    }

    /// <summary>
    /// Columns [j0, n), fewer than one vector of V: with the next narrower vectors of the same family (each lane runs
    /// the same chain as a scalar would, so the bits are those of the scalar tail), then single floats. Measured: a GRU
    /// with H = 100 (3H = 300 = 18 vectors + 12 columns) spent most of its forward pass in the scalar tail's
    /// latency-bound chains.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // as a tail's callee it would otherwise start unoptimised (see Short)
    private static void Narrower<TV, V>(int m, int j0, int n, int k, float* a, nint lda, float* b, nint ldb, float* c, nint ldc, float* d, nint ldd)
        where TV : struct where V : struct, ILanes<TV>
    {
        int w = (int)V.Count, cols = n - j0;
        float* dj = At(d, j0);
        if (w > 8 && cols >= 8)
        {
            if (V.Fused) Run<Vector256<float>, L256>(m, cols, k, a, lda, b + j0, ldb, c + j0, ldc, dj, ldd);
            else Run<Vector256<float>, L256Unfused>(m, cols, k, a, lda, b + j0, ldb, c + j0, ldc, dj, ldd);
        }
        else if (w > 4 && cols >= 4)
        {
            if (V.Fused) Run<Vector128<float>, L128>(m, cols, k, a, lda, b + j0, ldb, c + j0, ldc, dj, ldd);
            else Run<Vector128<float>, L128Unfused>(m, cols, k, a, lda, b + j0, ldb, c + j0, ldc, dj, ldd);
        }
        else
        {
            Scalar<TV, V>(m, j0, n, k, a, lda, b, ldb, c, ldc, d, ldd);
        }
    }

    /// <summary>
    /// Whether rows go through <see cref="TileRx2{TV, V, R}"/> (groups of 8 at 512 bits, of 6 with 16 registers) rather
    /// than the 4 × 4 tiles (a switch for benchmarks; the bits are the same).
    /// </summary>
    internal static bool UseTall { get; set; } = true;

    /// <summary>
    /// m rows (a multiple of R): R × 2-vector tiles (R = 8 at 512 bits: 16 accumulators; R = 6 with 16 registers: 12), then
    /// the 1-vector columns and the narrower tail. Per step of k an 8-row tile loads 2 vectors of B for 16 fused multiply–adds (the 4 × 4 tile loads
    /// 4): B's rows lie 4H floats apart, a power-of-two stride that maps a panel of B onto a few L1 sets, so B comes from
    /// L2 whatever the tile, and the taller tile halves that traffic.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tall<TV, V, R>(int m, int n, int k, float* a, nint lda, float* b, nint ldb, float* c, nint ldc, float* d, nint ldd)
        where TV : struct where V : struct, ILanes<TV> where R : struct, IRowCount
    {
        int w = (int)V.Count, j = 0;
        for (; j + 2 * w <= n; j += 2 * w)
            for (int i = 0; i < m; i += R.Value) TileRx2<TV, V, R>(k, a + i * lda, lda, b + j, ldb, c + i * ldc + j, ldc, At(d, i * ldd + j), ldd);
        OneVectorColumns<TV, V>(m, j, n, k, a, lda, b, ldb, c, ldc, d, ldd);
    }

    /// <summary>
    /// R × 2-vector tile (R ≤ 8: up to 16 accumulators; R is a type so each height compiles with its unused rows
    /// removed; 5–8 are used at 512 bits, 3–6 with 16 registers; fewer rows have too few chains to hide the latency of
    /// the multiply–adds). Compiled on its
    /// own: inlined into Product it reloaded a pointer from the stack every step of k.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void TileRx2<TV, V, R>(int k, float* a, nint lda, float* b, nint ldb, float* c, nint ldc, float* d, nint ldd)
        where TV : struct where V : struct, ILanes<TV> where R : struct, IRowCount
        => TileBody<TV, V, R>(k, a, lda, b, ldb, c, ldc, d, ldd);

    /// <summary>
    /// <see cref="TileRx2{TV, V, R}"/> over <paramref name="panels"/> column panels in turn (panel q of B at b + q·ps, of
    /// C and D at column q·ldb, the panel width): one call for a row tile's pass down the panels.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void TileRun<TV, V, R>(int panels, int k, float* a, nint lda, float* b, nint ldb, nint ps, float* c, nint ldc, float* d, nint ldd)
        where TV : struct where V : struct, ILanes<TV> where R : struct, IRowCount
    {
        for (int q = 0; q < panels; q++, b += ps, c += ldb, d = At(d, ldb)) TileBody<TV, V, R>(k, a, lda, b, ldb, c, ldc, d, ldd);
    }

    /// <summary>The body of <see cref="TileRx2{TV, V, R}"/> and <see cref="TileRun{TV, V, R}"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void TileBody<TV, V, R>(int k, float* a, nint lda, float* b, nint ldb, float* c, nint ldc, float* d, nint ldd)
        where TV : struct where V : struct, ILanes<TV> where R : struct, IRowCount
    {
        int w = (int)V.Count;
        float* a0 = a, a1 = a + lda, a2 = a1 + lda, a3 = a2 + lda, a4 = a3 + lda, a5 = a4 + lda, a6 = a5 + lda, a7 = a6 + lda;
        TV c00 = V.Zero, c01 = V.Zero, c10 = V.Zero, c11 = V.Zero, c20 = V.Zero, c21 = V.Zero, c30 = V.Zero, c31 = V.Zero;
        TV c40 = V.Zero, c41 = V.Zero, c50 = V.Zero, c51 = V.Zero, c60 = V.Zero, c61 = V.Zero, c70 = V.Zero, c71 = V.Zero;
        for (int p = 0; p < k; p++, b += ldb)
        {
            TV b0 = V.Load(b), b1 = V.Load(b + w);
            TV x = V.Splat(a0[p]);
            c00 = V.Fma(x, b0, c00); c01 = V.Fma(x, b1, c01);
            if (R.Value > 1) { x = V.Splat(a1[p]); c10 = V.Fma(x, b0, c10); c11 = V.Fma(x, b1, c11); }
            if (R.Value > 2) { x = V.Splat(a2[p]); c20 = V.Fma(x, b0, c20); c21 = V.Fma(x, b1, c21); }
            if (R.Value > 3) { x = V.Splat(a3[p]); c30 = V.Fma(x, b0, c30); c31 = V.Fma(x, b1, c31); }
            if (R.Value > 4) { x = V.Splat(a4[p]); c40 = V.Fma(x, b0, c40); c41 = V.Fma(x, b1, c41); }
            if (R.Value > 5) { x = V.Splat(a5[p]); c50 = V.Fma(x, b0, c50); c51 = V.Fma(x, b1, c51); }
            if (R.Value > 6) { x = V.Splat(a6[p]); c60 = V.Fma(x, b0, c60); c61 = V.Fma(x, b1, c61); }
            if (R.Value > 7) { x = V.Splat(a7[p]); c70 = V.Fma(x, b0, c70); c71 = V.Fma(x, b1, c71); }
        }

        Put<TV, V>(c, d, 0, c00); Put<TV, V>(c, d, w, c01);
        if (R.Value == 1) return;
        c += ldc; d = At(d, ldd);
        Put<TV, V>(c, d, 0, c10); Put<TV, V>(c, d, w, c11);
        if (R.Value == 2) return;
        c += ldc; d = At(d, ldd);
        Put<TV, V>(c, d, 0, c20); Put<TV, V>(c, d, w, c21);
        if (R.Value == 3) return;
        c += ldc; d = At(d, ldd);
        Put<TV, V>(c, d, 0, c30); Put<TV, V>(c, d, w, c31);
        if (R.Value == 4) return;
        c += ldc; d = At(d, ldd);
        Put<TV, V>(c, d, 0, c40); Put<TV, V>(c, d, w, c41);
        if (R.Value == 5) return;
        c += ldc; d = At(d, ldd);
        Put<TV, V>(c, d, 0, c50); Put<TV, V>(c, d, w, c51);
        if (R.Value == 6) return;
        c += ldc; d = At(d, ldd);
        Put<TV, V>(c, d, 0, c60); Put<TV, V>(c, d, w, c61);
        if (R.Value == 7) return;
        c += ldc; d = At(d, ldd);
        Put<TV, V>(c, d, 0, c70); Put<TV, V>(c, d, w, c71);
    }

    /// <summary>d + offset, or null when there is no addend.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float* At(float* d, nint offset) => d == null ? null : d + offset;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // used from the first call (tier 0 ran its chains as calls)
    private static void Scalar<TV, V>(int m, int j0, int n, int k, float* a, nint lda, float* b, nint ldb, float* c, nint ldc, float* d, nint ldd)
        where TV : struct where V : struct, ILanes<TV>
    {
        int i0 = 0;
        // Four rows' chains side by side (each still its own chain in order): one chain alone waits on every FMA's latency.
        for (; i0 + 4 <= m; i0 += 4)
        {
            float* a0 = a + i0 * lda, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda;
            for (int j = j0; j < n; j++)
            {
                float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f;
                float* bp = b + j;
                for (int p = 0; p < k; p++, bp += ldb)
                {
                    float bv = *bp;
                    s0 = V.ScalarFma(a0[p], bv, s0); s1 = V.ScalarFma(a1[p], bv, s1);
                    s2 = V.ScalarFma(a2[p], bv, s2); s3 = V.ScalarFma(a3[p], bv, s3);
                }

                float* dr = At(d, i0 * ldd);
                c[i0 * ldc + j] = dr == null ? s0 : dr[j] + s0;
                c[(i0 + 1) * ldc + j] = dr == null ? s1 : dr[ldd + j] + s1;
                c[(i0 + 2) * ldc + j] = dr == null ? s2 : dr[2 * ldd + j] + s2;
                c[(i0 + 3) * ldc + j] = dr == null ? s3 : dr[3 * ldd + j] + s3;
            }
        }

        for (int i = i0; i < m; i++)
        {
            float* ar = a + i * lda;
            float* cr = c + i * ldc;
            float* dr = At(d, i * ldd);
            for (int j = j0; j < n; j++)
            {
                float s = 0f;
                float* bp = b + j;
                for (int p = 0; p < k; p++, bp += ldb) s = V.ScalarFma(ar[p], *bp, s);
                cr[j] = dr == null ? s : dr[j] + s;
            }
        }
    }

    /// <summary>c[off] = s, or d[off] + s.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put<TV, V>(float* c, float* d, int off, TV s) where TV : struct where V : struct, ILanes<TV>
        => V.Store(d == null ? s : V.Add(V.Load(d + off), s), c + off);

    /// <summary>R × 4-vector tile (R ≤ 4: up to 16 accumulators; R is a type, see <see cref="TileRx2{TV, V, R}"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void TileRx4<TV, V, R>(int k, float* a, nint lda, float* b, nint ldb, float* c, nint ldc, float* d, nint ldd)
        where TV : struct where V : struct, ILanes<TV> where R : struct, IRowCount
    {
        int w = (int)V.Count;
        float* a0 = a, a1 = a + lda, a2 = a1 + lda, a3 = a2 + lda;
        TV c00 = V.Zero, c01 = V.Zero, c02 = V.Zero, c03 = V.Zero;
        TV c10 = V.Zero, c11 = V.Zero, c12 = V.Zero, c13 = V.Zero;
        TV c20 = V.Zero, c21 = V.Zero, c22 = V.Zero, c23 = V.Zero;
        TV c30 = V.Zero, c31 = V.Zero, c32 = V.Zero, c33 = V.Zero;
        for (int p = 0; p < k; p++, b += ldb)
        {
            TV b0 = V.Load(b), b1 = V.Load(b + w), b2 = V.Load(b + 2 * w), b3 = V.Load(b + 3 * w);
            TV x = V.Splat(a0[p]);
            c00 = V.Fma(x, b0, c00); c01 = V.Fma(x, b1, c01); c02 = V.Fma(x, b2, c02); c03 = V.Fma(x, b3, c03);
            if (R.Value > 1)
            {
                x = V.Splat(a1[p]);
                c10 = V.Fma(x, b0, c10); c11 = V.Fma(x, b1, c11); c12 = V.Fma(x, b2, c12); c13 = V.Fma(x, b3, c13);
            }

            if (R.Value > 2)
            {
                x = V.Splat(a2[p]);
                c20 = V.Fma(x, b0, c20); c21 = V.Fma(x, b1, c21); c22 = V.Fma(x, b2, c22); c23 = V.Fma(x, b3, c23);
            }

            if (R.Value > 3)
            {
                x = V.Splat(a3[p]);
                c30 = V.Fma(x, b0, c30); c31 = V.Fma(x, b1, c31); c32 = V.Fma(x, b2, c32); c33 = V.Fma(x, b3, c33);
            }
        }

        Put<TV, V>(c, d, 0, c00); Put<TV, V>(c, d, w, c01); Put<TV, V>(c, d, 2 * w, c02); Put<TV, V>(c, d, 3 * w, c03);
        if (R.Value == 1) return;
        c += ldc; d = At(d, ldd);
        Put<TV, V>(c, d, 0, c10); Put<TV, V>(c, d, w, c11); Put<TV, V>(c, d, 2 * w, c12); Put<TV, V>(c, d, 3 * w, c13);
        if (R.Value == 2) return;
        c += ldc; d = At(d, ldd);
        Put<TV, V>(c, d, 0, c20); Put<TV, V>(c, d, w, c21); Put<TV, V>(c, d, 2 * w, c22); Put<TV, V>(c, d, 3 * w, c23);
        if (R.Value == 3) return;
        c += ldc; d = At(d, ldd);
        Put<TV, V>(c, d, 0, c30); Put<TV, V>(c, d, w, c31); Put<TV, V>(c, d, 2 * w, c32); Put<TV, V>(c, d, 3 * w, c33);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Row1x8<TV, V>(int k, float* a, float* b, nint ldb, float* c, float* d)
        where TV : struct where V : struct, ILanes<TV>
    {
        int w = (int)V.Count;
        TV c0 = V.Zero, c1 = V.Zero, c2 = V.Zero, c3 = V.Zero, c4 = V.Zero, c5 = V.Zero, c6 = V.Zero, c7 = V.Zero;
        for (int p = 0; p < k; p++, b += ldb)
        {
            TV x = V.Splat(a[p]);
            c0 = V.Fma(x, V.Load(b), c0); c1 = V.Fma(x, V.Load(b + w), c1);
            c2 = V.Fma(x, V.Load(b + 2 * w), c2); c3 = V.Fma(x, V.Load(b + 3 * w), c3);
            c4 = V.Fma(x, V.Load(b + 4 * w), c4); c5 = V.Fma(x, V.Load(b + 5 * w), c5);
            c6 = V.Fma(x, V.Load(b + 6 * w), c6); c7 = V.Fma(x, V.Load(b + 7 * w), c7);
        }

        Put<TV, V>(c, d, 0, c0); Put<TV, V>(c, d, w, c1); Put<TV, V>(c, d, 2 * w, c2); Put<TV, V>(c, d, 3 * w, c3);
        Put<TV, V>(c, d, 4 * w, c4); Put<TV, V>(c, d, 5 * w, c5); Put<TV, V>(c, d, 6 * w, c6); Put<TV, V>(c, d, 7 * w, c7);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)] // own register allocation: inlined into Product it reloaded a pointer from the stack every step of k
    private static void Row1x16<TV, V>(int k, float* a, float* b, nint ldb, float* c, float* d)
        where TV : struct where V : struct, ILanes<TV>
    {
        int w = (int)V.Count;
        TV c0 = V.Zero, c1 = V.Zero, c2 = V.Zero, c3 = V.Zero, c4 = V.Zero, c5 = V.Zero, c6 = V.Zero, c7 = V.Zero;
        TV c8 = V.Zero, c9 = V.Zero, c10 = V.Zero, c11 = V.Zero, c12 = V.Zero, c13 = V.Zero, c14 = V.Zero, c15 = V.Zero;
        for (int p = 0; p < k; p++, b += ldb)
        {
            TV x = V.Splat(a[p]);
            c0 = V.Fma(x, V.Load(b), c0); c1 = V.Fma(x, V.Load(b + w), c1);
            c2 = V.Fma(x, V.Load(b + 2 * w), c2); c3 = V.Fma(x, V.Load(b + 3 * w), c3);
            c4 = V.Fma(x, V.Load(b + 4 * w), c4); c5 = V.Fma(x, V.Load(b + 5 * w), c5);
            c6 = V.Fma(x, V.Load(b + 6 * w), c6); c7 = V.Fma(x, V.Load(b + 7 * w), c7);
            c8 = V.Fma(x, V.Load(b + 8 * w), c8); c9 = V.Fma(x, V.Load(b + 9 * w), c9);
            c10 = V.Fma(x, V.Load(b + 10 * w), c10); c11 = V.Fma(x, V.Load(b + 11 * w), c11);
            c12 = V.Fma(x, V.Load(b + 12 * w), c12); c13 = V.Fma(x, V.Load(b + 13 * w), c13);
            c14 = V.Fma(x, V.Load(b + 14 * w), c14); c15 = V.Fma(x, V.Load(b + 15 * w), c15);
        }

        Put<TV, V>(c, d, 0, c0); Put<TV, V>(c, d, w, c1); Put<TV, V>(c, d, 2 * w, c2); Put<TV, V>(c, d, 3 * w, c3);
        Put<TV, V>(c, d, 4 * w, c4); Put<TV, V>(c, d, 5 * w, c5); Put<TV, V>(c, d, 6 * w, c6); Put<TV, V>(c, d, 7 * w, c7);
        Put<TV, V>(c, d, 8 * w, c8); Put<TV, V>(c, d, 9 * w, c9); Put<TV, V>(c, d, 10 * w, c10); Put<TV, V>(c, d, 11 * w, c11);
        Put<TV, V>(c, d, 12 * w, c12); Put<TV, V>(c, d, 13 * w, c13); Put<TV, V>(c, d, 14 * w, c14); Put<TV, V>(c, d, 15 * w, c15);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tile4x1<TV, V>(int k, float* a, nint lda, float* b, nint ldb, float* c, nint ldc, float* d, nint ldd)
        where TV : struct where V : struct, ILanes<TV>
    {
        float* a0 = a, a1 = a + lda, a2 = a1 + lda, a3 = a2 + lda;
        TV c0 = V.Zero, c1 = V.Zero, c2 = V.Zero, c3 = V.Zero;
        for (int p = 0; p < k; p++, b += ldb)
        {
            TV bv = V.Load(b);
            c0 = V.Fma(V.Splat(a0[p]), bv, c0); c1 = V.Fma(V.Splat(a1[p]), bv, c1);
            c2 = V.Fma(V.Splat(a2[p]), bv, c2); c3 = V.Fma(V.Splat(a3[p]), bv, c3);
        }

        Put<TV, V>(c, d, 0, c0);
        Put<TV, V>(c + ldc, At(d, ldd), 0, c1);
        Put<TV, V>(c + 2 * ldc, At(d, 2 * ldd), 0, c2);
        Put<TV, V>(c + 3 * ldc, At(d, 3 * ldd), 0, c3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tile1x1<TV, V>(int k, float* a, float* b, nint ldb, float* c, float* d)
        where TV : struct where V : struct, ILanes<TV>
    {
        TV c0 = V.Zero;
        for (int p = 0; p < k; p++, b += ldb) c0 = V.Fma(V.Splat(a[p]), V.Load(b), c0);
        Put<TV, V>(c, d, 0, c0);
    }
}

/// <summary>A register tile's height as a type: a generic tile body compiles once per height, its unused rows removed.</summary>
internal interface IRowCount
{
    static abstract int Value { get; }
}

internal struct Rows1 : IRowCount { public static int Value => 1; }

internal struct Rows2 : IRowCount { public static int Value => 2; }

internal struct Rows3 : IRowCount { public static int Value => 3; }

internal struct Rows4 : IRowCount { public static int Value => 4; }

internal struct Rows5 : IRowCount { public static int Value => 5; }

internal struct Rows6 : IRowCount { public static int Value => 6; }

internal struct Rows7 : IRowCount { public static int Value => 7; }

internal struct Rows8 : IRowCount { public static int Value => 8; }
