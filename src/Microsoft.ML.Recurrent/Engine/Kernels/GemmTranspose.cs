using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Microsoft.ML.Recurrent.Engine.Kernels;

/// <summary>In-register 8 × 8 transposes and row reductions shared by the AVX2 and AVX-512 kernels (x86 only).</summary>
internal static unsafe class GemmTranspose
{
    /// <summary>Transposes the 8 × 8 block whose rows are r0 … r7 (row i of the result is column i).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Transpose8x8(
        ref Vector256<float> r0, ref Vector256<float> r1, ref Vector256<float> r2, ref Vector256<float> r3,
        ref Vector256<float> r4, ref Vector256<float> r5, ref Vector256<float> r6, ref Vector256<float> r7)
    {
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1);
        Vector256<float> t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
        Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5);
        Vector256<float> t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
        Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44), u1 = Avx.Shuffle(t0, t2, 0xEE);
        Vector256<float> u2 = Avx.Shuffle(t1, t3, 0x44), u3 = Avx.Shuffle(t1, t3, 0xEE);
        Vector256<float> u4 = Avx.Shuffle(t4, t6, 0x44), u5 = Avx.Shuffle(t4, t6, 0xEE);
        Vector256<float> u6 = Avx.Shuffle(t5, t7, 0x44), u7 = Avx.Shuffle(t5, t7, 0xEE);
        r0 = Avx.Permute2x128(u0, u4, 0x20);
        r1 = Avx.Permute2x128(u1, u5, 0x20);
        r2 = Avx.Permute2x128(u2, u6, 0x20);
        r3 = Avx.Permute2x128(u3, u7, 0x20);
        r4 = Avx.Permute2x128(u0, u4, 0x31);
        r5 = Avx.Permute2x128(u1, u5, 0x31);
        r6 = Avx.Permute2x128(u2, u6, 0x31);
        r7 = Avx.Permute2x128(u3, u7, 0x31);
    }

    /// <summary>
    /// Copies the 8 × 8 block at src (row stride srcStride) transposed to dst (row stride dstStride).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Copy8x8(float* src, nint srcStride, float* dst, nint dstStride)
    {
        Vector256<float> r0 = Vector256.Load(src), r1 = Vector256.Load(src + srcStride);
        Vector256<float> r2 = Vector256.Load(src + 2 * srcStride), r3 = Vector256.Load(src + 3 * srcStride);
        Vector256<float> r4 = Vector256.Load(src + 4 * srcStride), r5 = Vector256.Load(src + 5 * srcStride);
        Vector256<float> r6 = Vector256.Load(src + 6 * srcStride), r7 = Vector256.Load(src + 7 * srcStride);
        Transpose8x8(ref r0, ref r1, ref r2, ref r3, ref r4, ref r5, ref r6, ref r7);
        r0.Store(dst);
        r1.Store(dst + dstStride);
        r2.Store(dst + 2 * dstStride);
        r3.Store(dst + 3 * dstStride);
        r4.Store(dst + 4 * dstStride);
        r5.Store(dst + 5 * dstStride);
        r6.Store(dst + 6 * dstStride);
        r7.Store(dst + 7 * dstStride);
    }

    /// <summary>
    /// Lane sums of four 8-lane vectors, as [Σh0, Σh1, Σh2, Σh3]. Each sum is the same pairwise tree
    /// ((l0+l1)+(l2+l3)) + ((l4+l5)+(l6+l7)) whichever slot it sits in, so one row reduced alone
    /// (<c>Sum4(h, h, h, h)</c>) gets the same bits as in a group.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Sum4(Vector256<float> h0, Vector256<float> h1, Vector256<float> h2, Vector256<float> h3)
    {
        Vector256<float> u01 = Avx.HorizontalAdd(h0, h1); // [h0 01, h0 23, h1 01, h1 23 | h0 45, h0 67, h1 45, h1 67]
        Vector256<float> u23 = Avx.HorizontalAdd(h2, h3);
        Vector256<float> w = Avx.HorizontalAdd(u01, u23);  // [h0 0-3, h1 0-3, h2 0-3, h3 0-3 | ... 4-7]
        return w.GetLower() + w.GetUpper();
    }

    /// <summary>Folds a 16-lane vector to 8 lanes: lane l + lane l+8.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Fold(Vector512<float> v) => v.GetLower() + v.GetUpper();

    /// <summary>
    /// Stores the transpose of the 8 × 8 block with rows v0 … v7 (v_r holds C[lane, r]): for each lane
    /// l &lt; lanes, the 8 contiguous floats at c + l·ccs.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreTransposed(float* c, nint ccs, int lanes,
        Vector256<float> v0, Vector256<float> v1, Vector256<float> v2, Vector256<float> v3,
        Vector256<float> v4, Vector256<float> v5, Vector256<float> v6, Vector256<float> v7, float alpha, float beta)
    {
        Transpose8x8(ref v0, ref v1, ref v2, ref v3, ref v4, ref v5, ref v6, ref v7);
        var va = Vector256.Create(alpha);
        GemmAvx2.Row(c, v0, va, beta);
        if (lanes > 1) GemmAvx2.Row(c + ccs, v1, va, beta);
        if (lanes > 2) GemmAvx2.Row(c + 2 * ccs, v2, va, beta);
        if (lanes > 3) GemmAvx2.Row(c + 3 * ccs, v3, va, beta);
        if (lanes > 4) GemmAvx2.Row(c + 4 * ccs, v4, va, beta);
        if (lanes > 5) GemmAvx2.Row(c + 5 * ccs, v5, va, beta);
        if (lanes > 6) GemmAvx2.Row(c + 6 * ccs, v6, va, beta);
        if (lanes > 7) GemmAvx2.Row(c + 7 * ccs, v7, va, beta);
    }
}
