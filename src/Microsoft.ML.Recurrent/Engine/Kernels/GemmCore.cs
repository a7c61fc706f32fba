using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Microsoft.ML.Recurrent.Engine.Kernels;

/// <summary>
/// Instruction sets the GEMM kernels are written for, in increasing order of capability (a cap of
/// <see cref="Gemm.MaxIsa"/> compares them by value).
/// </summary>
internal enum GemmIsa
{
    /// <summary>Plain scalar arithmetic (<see cref="GemmScalar"/>).</summary>
    Scalar = 0,

    /// <summary>Portable Vector128 (<see cref="GemmVector128"/>: ARM64 AdvSimd, x86 without FMA, or x86 for testing).</summary>
    Vector128 = 1,

    /// <summary>Vector256 + FMA on AVX2 (<see cref="GemmAvx2"/>).</summary>
    Vector256 = 2,

    /// <summary>Vector512 + FMA on AVX-512 (<see cref="GemmAvx512"/>, <see cref="GemmGemvAvx512"/>).</summary>
    Vector512 = 3,
}

/// <summary>
/// The blocked product every non-vector case reduces to, in stride form:
/// C[i, j] = beta·C[i, j] + alpha·Σ_p A[i, p]·B[p, j] for i &lt; M, j &lt; N, p &lt; K, where
/// A[i, p] = A[i·Ars + p·Acs], B[p, j] = B[p·Brs + j·Bcs] and C[i, j] = C[i·Crs + j·Ccs].
/// Transposes and the swapped form (Cᵀ = op(B)ᵀ·op(A)ᵀ) are only different strides.
/// </summary>
internal unsafe struct GemmProblem
{
    public int M, N, K;
    public float Alpha, Beta;
    public float* A;
    public nint Ars, Acs;
    public float* B;
    public nint Brs, Bcs;
    public float* C;
    public nint Crs, Ccs;

    /// <summary>Copy B into NR-wide panels (always when Bcs ≠ 1); otherwise full panels are read in place.</summary>
    public bool PackB;

    /// <summary>
    /// Copy each MC × KC block of A into MR-row panels (when it is reused by several B panels). Only for A stored
    /// transposed (<see cref="Ars"/> = 1), which <see cref="GemmCore.PackA"/> assumes.
    /// </summary>
    public bool PackA;

    public GemmTile Tile;

    /// <summary>Threads split N (panels of NR columns) rather than M (tiles of MR rows).</summary>
    public bool SplitN;

    /// <summary>
    /// 0, or the first row of A read from <see cref="A2"/> (A is then read in place): row i ≥ SplitRow of A is
    /// A2[(i − SplitRow)·Ars + p·Acs2]. Lets one product take A's rows from two buffers.
    /// </summary>
    public int SplitRow;
    public float* A2;
    public nint Acs2;
}

/// <summary>
/// A register-blocked tile kernel: the MR × NR block of C at <c>c</c> (only mValid rows and nValid columns
/// are written) gets beta·C + alpha·Σ_{p &lt; kc} A[r, p]·B[p, j], with A[r, p] = a[r·ars + p·acs]
/// (rows ≥ mValid are never read) and B[p, j] = b[p·bs + j] for all j &lt; NR (all NR must be readable).
/// Every element is a sequential chain over p, so it does not depend on where the tile sits.
/// </summary>
internal readonly unsafe struct GemmTile
{
    public GemmTile(
        delegate*<int, float*, nint, nint, int, float*, nint, float*, nint, nint, int, float, float, float*, void> kernel,
        int mr, int nr)
    {
        Kernel = kernel;
        MR = mr;
        NR = nr;
    }

    public readonly delegate*<int, float*, nint, nint, int, float*, nint, float*, nint, nint, int, float, float, float*, void> Kernel;
    public readonly int MR;
    public readonly int NR;
}

/// <summary>Cache-blocked driver (BLIS loop order jc → pc → ic → jr → ir) and packing.</summary>
internal static unsafe class GemmCore
{
    /// <summary>Depth of one k block: every C element is the sum of per-block chains, added in block order.</summary>
    public const int KC = 256;

    /// <summary>Rows of A per block (in MR tiles: MC = MR · McTiles).</summary>
    public const int McTiles = 16;

    /// <summary>Columns of B per packed block.</summary>
    public const int NC = 1024;

    public static int TilesM(in GemmProblem p) => (p.M + p.Tile.MR - 1) / p.Tile.MR;

    public static int TilesN(in GemmProblem p) => (p.N + p.Tile.NR - 1) / p.Tile.NR;

    /// <summary>Runs part <paramref name="part"/> of <paramref name="parts"/>: a contiguous range of whole tiles.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RunPart(in GemmProblem p, int part, int parts)
    {
        if (p.SplitN)
        {
            int tiles = TilesN(p);
            int t0 = (int)((long)tiles * part / parts), t1 = (int)((long)tiles * (part + 1) / parts);
            Run(p, 0, p.M, t0 * p.Tile.NR, Math.Min(p.N, t1 * p.Tile.NR));
        }
        else
        {
            int tiles = TilesM(p);
            int t0 = (int)((long)tiles * part / parts), t1 = (int)((long)tiles * (part + 1) / parts);
            Run(p, t0 * p.Tile.MR, Math.Min(p.M, t1 * p.Tile.MR), 0, p.N);
        }
    }

    /// <summary>Computes C[i0..i1, j0..j1]; i0 and j0 are multiples of MR and NR.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(in GemmProblem p, int i0, int i1, int j0, int j1)
    {
        if (i1 <= i0 || j1 <= j0) return;
        int mr = p.Tile.MR, nr = p.Tile.NR, mcMax = mr * McTiles;
        var kernel = p.Tile.Kernel;
        int kcMax = Math.Min(KC, p.K);
        // Sized for the whole problem, not this part: a thread that runs the whole product (the pool was busy) then needs
        // no larger workspace than it had for its part, so a steady state never allocates.
        int ncMax = Math.Min(NC, p.N);
        int ncPadded = (ncMax + nr - 1) / nr * nr;

        // Thread-local pinned workspace: [scratch tile | edge panel | packed block].
        int scratchLen = 512; // ≥ MR·NR of every kernel
        int edgeLen = kcMax * nr;
        int packLen = p.PackB ? kcMax * ncPadded : 0;
        int packALen = p.PackA ? (int)PackedAStride(kcMax, mr) * McTiles : 0;
        float* scratch = GemmBuffers.Get(scratchLen + edgeLen + packLen + packALen);
        float* edge = scratch + scratchLen;
        float* packed = edge + edgeLen;
        float* packedA = packed + packLen;

        for (int jc = j0; jc < j1; jc += NC)
        {
            int nc = Math.Min(NC, j1 - jc);
            int ncFull = nc - nc % nr;
            for (int pc = 0; pc < p.K; pc += KC)
            {
                int kc = Math.Min(KC, p.K - pc);
                float beta = pc == 0 ? p.Beta : 1f;
                float* bBlock = p.B + pc * p.Brs + jc * p.Bcs;
                if (p.PackB)
                {
                    PackPanels(packed, kc, nc, nr, bBlock, p.Brs, p.Bcs);
                }
                else if (ncFull < nc)
                {
                    PackPanels(edge, kc, nc - ncFull, nr, bBlock + ncFull, p.Brs, 1);
                }

                float* aCol = p.A + pc * p.Acs;
                for (int ic = i0; ic < i1; ic += mcMax)
                {
                    int mc = Math.Min(mcMax, i1 - ic);
                    float* aBlock = aCol + ic * p.Ars;
                    nint ars = p.Ars, acs = p.Acs, tileStride = mr * p.Ars;
                    if (p.PackA)
                    {
                        PackA(packedA, kc, mc, mr, aBlock, p.Acs);
                        aBlock = packedA;
                        ars = 1;
                        acs = mr;
                        tileStride = PackedAStride(kc, mr);
                    }

                    for (int jr = 0; jr < nc; jr += nr)
                    {
                        int nValid = Math.Min(nr, nc - jr);
                        float* panel;
                        nint bs;
                        if (p.PackB)
                        {
                            panel = packed + (nint)(jr / nr) * kc * nr;
                            bs = nr;
                        }
                        else if (nValid == nr)
                        {
                            panel = bBlock + jr;
                            bs = p.Brs;
                        }
                        else
                        {
                            panel = edge;
                            bs = nr;
                        }

                        float* cPanel = p.C + ic * p.Crs + (jc + jr) * p.Ccs;
                        float* aTile = aBlock;
                        if (p.SplitRow == 0)
                        {
                            for (int ir = 0; ir < mc; ir += mr, aTile += tileStride)
                            {
                                kernel(kc, aTile, ars, acs, Math.Min(mr, mc - ir),
                                    panel, bs, cPanel + ir * p.Crs, p.Crs, p.Ccs, nValid, p.Alpha, beta, scratch);
                            }
                        }
                        else
                        {
                            // Rows from SplitRow on come from A2; the tile that holds SplitRow runs as two shorter tiles
                            // (each element's chain does not depend on the tile it sits in).
                            for (int ir = 0; ir < mc; ir += mr, aTile += tileStride)
                            {
                                int i = ic + ir, rows = Math.Min(mr, mc - ir), first = Math.Clamp(p.SplitRow - i, 0, rows);
                                if (first > 0)
                                {
                                    kernel(kc, aTile, ars, acs, first,
                                        panel, bs, cPanel + ir * p.Crs, p.Crs, p.Ccs, nValid, p.Alpha, beta, scratch);
                                }

                                if (first < rows)
                                {
                                    float* at = p.A2 + pc * p.Acs2 + (i + first - p.SplitRow) * p.Ars;
                                    kernel(kc, at, ars, p.Acs2, rows - first,
                                        panel, bs, cPanel + (ir + first) * p.Crs, p.Crs, p.Ccs, nValid, p.Alpha, beta, scratch);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// Floats between one packed A panel and the next beyond its kc × mr values. Without it a panel of 256 steps × 8 rows
    /// is 8 KiB, a power of two, and the packing's stores to the mc/mr panels of one k step all fall in the same L1 set.
    /// </summary>
    public const int PackedAPad = 16;

    /// <summary>Floats from one packed A panel of <paramref name="kc"/> × <paramref name="mr"/> to the next.</summary>
    public static nint PackedAStride(int kc, int mr) => (nint)mr * kc + PackedAPad;

    /// <summary>Rows of A ahead of the one being packed whose cache lines the packing asks for.</summary>
    private const int PackAPrefetchRows = 4;

    /// <summary>
    /// Packs A[0..mc, 0..kc], stored transposed (A[i, p] = a[i + p·acs]: one k step's values contiguous), into ⌈mc/mr⌉
    /// panels <see cref="PackedAStride"/> floats apart, panel element [p·mr + r] = A[tile·mr + r, p]; rows past mc in the
    /// last panel are left unset (the kernels never read rows ≥ mValid). It reads A one k step at a time, each step's
    /// mc values contiguous, and asks for the lines of the step <see cref="PackAPrefetchRows"/> ahead: the k steps of
    /// a weight gradient's A are whole rows of the gate gradients apart (4 KiB at 4H = 1024), where reading a tile's
    /// column of A down the steps, as this did before, found no hardware prefetch and took twice as long
    /// (docs/performance.md, "Packing the weight gradients' A").
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackA(float* dst, int kc, int mc, int mr, float* a, nint acs)
    {
        nint panel = PackedAStride(kc, mr);
        int full = mc / mr, rest = mc - full * mr;
        bool vector8 = mr == 8 && Vector256.IsHardwareAccelerated;
        for (int q = 0; q < kc; q++, dst += mr)
        {
            float* src = a + q * acs;
            if (System.Runtime.Intrinsics.X86.Sse.IsSupported && q + PackAPrefetchRows < kc)
            {
                float* ahead = src + PackAPrefetchRows * acs;
                for (int j = 0; j < mc; j += 16) System.Runtime.Intrinsics.X86.Sse.Prefetch0(ahead + j);
            }

            float* d = dst;
            if (vector8)
            {
                for (int t = 0; t < full; t++, src += 8, d += panel) Vector256.Store(Vector256.Load(src), d);
            }
            else
            {
                for (int t = 0; t < full; t++, src += mr, d += panel)
                {
                    for (int r = 0; r < mr; r++) d[r] = src[r];
                }
            }

            for (int r = 0; r < rest; r++) d[r] = src[r];
        }
    }

    /// <summary>
    /// Packs B[0..kc, 0..nc] (B[p, j] = b[p·brs + j·bcs]) into ⌈nc/nr⌉ panels of kc × nr floats,
    /// row p of a panel contiguous, zero-padded past nc.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackPanels(float* dst, int kc, int nc, int nr, float* b, nint brs, nint bcs)
    {
        for (int j0 = 0; j0 < nc; j0 += nr)
        {
            int w = Math.Min(nr, nc - j0);
            float* panel = dst + (nint)(j0 / nr) * kc * nr;
            if (bcs == 1)
            {
                float* src = b + j0;
                if (w == nr)
                {
                    for (int q = 0; q < kc; q++)
                    {
                        CopyRow(panel + q * nr, src + q * brs, nr);
                    }
                }
                else
                {
                    for (int q = 0; q < kc; q++)
                    {
                        float* d = panel + q * nr;
                        float* s = src + q * brs;
                        int j = 0;
                        for (; j < w; j++) d[j] = s[j];
                        for (; j < nr; j++) d[j] = 0f;
                    }
                }
            }
            else
            {
                PackTransposed(panel, kc, w, nr, b + j0 * bcs, brs, bcs);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CopyRow(float* d, float* s, int nr)
    {
        int j = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; j + 16 <= nr; j += 16) Vector512.Store(Vector512.Load(s + j), d + j);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; j + 8 <= nr; j += 8) Vector256.Store(Vector256.Load(s + j), d + j);
        }

        for (; j < nr; j++) d[j] = s[j];
    }

    /// <summary>Panel from column-contiguous B (column j of the panel is b[j·bcs + p], brs = 1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackTransposed(float* panel, int kc, int w, int nr, float* b, nint brs, nint bcs)
    {
        int j = 0;
        if (System.Runtime.Intrinsics.X86.Avx.IsSupported && brs == 1)
        {
            // 8 × 8 blocks transposed in registers.
            int kc8 = kc & ~7;
            for (; j + 8 <= w; j += 8)
            {
                float* src = b + j * bcs;
                float* dst = panel + j;
                for (int k = 0; k < kc8; k += 8) GemmTranspose.Copy8x8(src + k, bcs, dst + (nint)k * nr, nr);
                for (int k = kc8; k < kc; k++)
                {
                    float* d = dst + (nint)k * nr;
                    for (int jj = 0; jj < 8; jj++) d[jj] = src[jj * bcs + k];
                }
            }
        }

        // Four source columns at a time: four sequential read streams, stores four apart per row.
        for (; j + 4 <= w; j += 4)
        {
            float* s0 = b + j * bcs, s1 = s0 + bcs, s2 = s1 + bcs, s3 = s2 + bcs;
            float* d = panel + j;
            nint q = 0;
            for (int k = 0; k < kc; k++, q += brs, d += nr)
            {
                d[0] = s0[q];
                d[1] = s1[q];
                d[2] = s2[q];
                d[3] = s3[q];
            }
        }

        for (; j < w; j++)
        {
            float* s = b + j * bcs;
            float* d = panel + j;
            nint q = 0;
            for (int k = 0; k < kc; k++, q += brs, d += nr) *d = s[q];
        }

        if (w < nr)
        {
            for (int k = 0; k < kc; k++)
            {
                float* d = panel + k * nr;
                for (int jj = w; jj < nr; jj++) d[jj] = 0f;
            }
        }
    }

    /// <summary>
    /// Writes an mValid × nValid block kept row-major in <paramref name="acc"/> (row stride ldAcc):
    /// C = alpha·acc (beta = 0), C + alpha·acc (beta = 1) or beta·C + alpha·acc; the same two roundings
    /// as the vector stores.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void StoreScalar(float* acc, int ldAcc, int mValid, int nValid,
        float* c, nint crs, nint ccs, float alpha, float beta)
    {
        for (int r = 0; r < mValid; r++)
        {
            float* src = acc + r * ldAcc;
            float* dst = c + r * crs;
            for (int j = 0; j < nValid; j++)
            {
                float t = alpha * src[j];
                ref float cj = ref dst[j * ccs];
                if (beta != 0f)
                {
                    float o = cj;
                    if (beta != 1f) o *= beta;
                    t += o;
                }

                cj = t;
            }
        }
    }

    /// <summary>Writes one value with the same roundings as <see cref="StoreScalar"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreOne(float* c, float sum, float alpha, float beta)
    {
        float t = alpha * sum;
        if (beta != 0f)
        {
            float o = *c;
            if (beta != 1f) o *= beta;
            t += o;
        }

        *c = t;
    }
}

/// <summary>Per-thread pinned, 64-byte aligned workspace (packed panels, scratch tiles), grown on demand.</summary>
internal static unsafe class GemmBuffers
{
    [ThreadStatic]
    private static float[]? t_array;

    [ThreadStatic]
    private static nint t_aligned;

    [ThreadStatic]
    private static int t_capacity;

    /// <summary>Floats this thread's workspace holds now (0 before its first product; tests check who allocated it).</summary>
    internal static int ThreadCapacity => t_capacity;

    /// <summary>At least <paramref name="floats"/> floats, valid until the next call on this thread.</summary>
    public static float* Get(int floats)
    {
        if (floats > t_capacity || t_array is null)
        {
            int capacity = Math.Max(floats, 4096);
            capacity = Math.Max(capacity, t_capacity + t_capacity / 2);
            var array = GC.AllocateUninitializedArray<float>(capacity + 16, pinned: true);
            nint start = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(array));
            t_aligned = (start + 63) & ~(nint)63;
            t_array = array;
            t_capacity = capacity;
        }

        return (float*)t_aligned;
    }
}
