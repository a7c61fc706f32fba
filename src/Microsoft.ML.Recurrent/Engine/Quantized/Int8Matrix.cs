using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Microsoft.ML.Recurrent.Engine.Quantized;

/// <summary>
/// A weight matrix W (R rows, C columns, PyTorch's (out, in) layout) held as int8 with one scale per row, multiplied by
/// a float vector that is itself quantized to int8 on the fly (dynamic quantization, as PyTorch's
/// <c>quantize_dynamic</c> does for <c>nn.LSTM</c>):
/// <code>
///   s_r = max_c |W[r, c]| / 127          q[r, c] = round_even(W[r, c] / s_r) ∈ [−127, 127]   (s_r = 0: q = 0)
///   s_x = max_c |x[c]| / 127             u[c]    = round_even(x[c] · 127 / max |x|) ∈ [−127, 127]
///   y[r] = (float)(Σ_c q[r, c] · u[c]) · s_r · s_x + add[r]
/// </code>
/// The integer sum is exact (int32, modulo 2^32, and the true value fits while C ≤ <see cref="MaxColumns"/>), so every
/// kernel that computes it — the AVX-VNNI one (VPDPBUSD), the portable Vector256 one and the scalar reference — gives
/// the same bits; only the float epilogue rounds.
/// <para>
/// Packed layout: blocks of 8 rows × 4 columns, 32 bytes each (rows padded to a multiple of 8, columns to a multiple of 4,
/// with zeros), in groups of up to <see cref="GroupBlocks"/> row blocks; inside a group the blocks of one column quad lie
/// side by side, quad after quad, so the kernel reads each group as one forward stream:
/// <c>Packed[(8·g·Quads + (c / 4)·nb + b % 8) · 32 + (r % 8) · 4 + c % 4] = q[r, c]</c> for row block b = r / 8 in group
/// g = b / 8 of nb blocks (8 except in the last group). One 256-bit VPDPBUSD multiplies a block by the broadcast 4 values
/// u[4k..4k+3] and adds the four products of each row into that row's int32 lane: no horizontal sums. VPDPBUSD multiplies
/// unsigned by signed bytes, so the kernel feeds u + 128 (u XOR 0x80) and subtracts 128 · Σ_c q[r, c]
/// (<see cref="RowSums"/>) at the end.
/// </para>
/// </summary>
internal sealed unsafe class Int8Matrix : IReducedMatrix
{
    /// <summary>Rows per packed block (one 256-bit vector of int32 lanes).</summary>
    public const int BlockRows = 8;

    /// <summary>Alignment of the packed blocks in bytes (a cache line).</summary>
    private const int Alignment = 64;

    private readonly sbyte[] _storage;  // pinned; the packed bytes start at _offset
    private readonly int _offset, _length;

    /// <summary>Columns per packed block (VPDPBUSD sums 4 byte products per lane).</summary>
    public const int BlockColumns = 4;

    /// <summary>Row blocks per group: the blocks of one column quad lie side by side within a group (eight accumulators).</summary>
    public const int GroupBlocks = 8;

    /// <summary>The most columns for which Σ q·u is guaranteed to fit in int32 (127 · 127 · C &lt; 2^31).</summary>
    public const int MaxColumns = 1 << 17;

    public Int8Matrix(ReadOnlySpan<float> weights, int rows, int columns)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        if (columns > MaxColumns)
            throw new NotSupportedException($"Int8 serving supports layers with at most {MaxColumns} inputs; this layer has {columns}.");
        if (weights.Length != (long)rows * columns)
            throw new ArgumentException($"Expected {(long)rows * columns} weights, got {weights.Length}.", nameof(weights));
        Rows = rows;
        Columns = columns;
        RowBlocks = (rows + BlockRows - 1) / BlockRows;
        Quads = (columns + BlockColumns - 1) / BlockColumns;
        long length = (long)RowBlocks * Quads * BlockRows * BlockColumns;
        if (length > Array.MaxLength - Alignment)
            throw new NotSupportedException($"Int8 serving supports weight matrices of at most {Array.MaxLength - Alignment} packed bytes; this one needs {length}.");
        // Pinned (the pinned heap never moves it), so the blocks can start on a cache line: a 32-byte load at 8, 16 or 24
        // bytes past a line boundary splits every other load over two lines (measured 1.26× slower for a 64 × 128 block).
        _storage = GC.AllocateArray<sbyte>((int)length + Alignment, pinned: true);
        _offset = (int)((Alignment - (nint)Unsafe.AsPointer(ref _storage[0]) % Alignment) % Alignment);
        _length = (int)length;
        Scales = new float[RowBlocks * BlockRows];
        RowSums = new int[RowBlocks * BlockRows];
        for (int r = 0; r < rows; r++)
        {
            var row = weights.Slice(r * columns, columns);
            float scale = RowScale(row);
            Scales[r] = scale;
            int sum = 0;
            for (int c = 0; c < columns; c++)
            {
                sbyte q = Quantize(row[c], scale);
                _storage[_offset + Index(r, c)] = q;
                sum += q;
            }

            RowSums[r] = sum;
        }
    }

    public int Rows { get; }
    public int Columns { get; }

    /// <summary>Row blocks of <see cref="BlockRows"/> rows (the last one padded with zero rows).</summary>
    public int RowBlocks { get; }

    /// <summary>Column groups of <see cref="BlockColumns"/> columns (the last one padded with zero columns).</summary>
    public int Quads { get; }

    /// <summary>The quantized weights in the block layout of the class remarks.</summary>
    public ReadOnlySpan<sbyte> Packed => _storage.AsSpan(_offset, _length);

    /// <summary>The first packed byte, 64-byte aligned (for the kernels).</summary>
    internal ref sbyte PackedStart => ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_storage), _offset);

    /// <summary>(rows padded to 8) per-row scale s_r = max |W[r, ·]| / 127 (0 for an all-zero row and for padding).</summary>
    public float[] Scales { get; }

    /// <summary>(rows padded to 8) Σ_c q[r, c], for the unsigned-input correction of the VNNI kernel.</summary>
    public int[] RowSums { get; }

    /// <summary>Position of q[r, c] in <see cref="Packed"/>.</summary>
    public int Index(int r, int c)
    {
        int b = r / BlockRows, first = b - b % GroupBlocks;
        return ((first * Quads + (c / BlockColumns) * GroupSize(first)) + b - first) * (BlockRows * BlockColumns) + (r % BlockRows) * BlockColumns + c % BlockColumns;
    }

    /// <summary>Row blocks in the group that starts at block <paramref name="first"/> (<see cref="GroupBlocks"/> but in the last group).</summary>
    public int GroupSize(int first) => Math.Min(GroupBlocks, RowBlocks - first);

    /// <summary>q[r, c].</summary>
    public sbyte At(int r, int c) => _storage[_offset + Index(r, c)];

    /// <summary>The dequantized weight q[r, c] · s_r.</summary>
    public float Dequantized(int r, int c) => At(r, c) * Scales[r];

    /// <summary>max |w| / 127.</summary>
    public static float RowScale(ReadOnlySpan<float> row) => MathF.Abs(TensorPrimitives.MaxMagnitude(row)) / 127f;

    /// <summary>round_even(w / scale), clamped to [−127, 127]; 0 when scale is 0.</summary>
    public static sbyte Quantize(float w, float scale)
    {
        if (scale == 0f) return 0;
        double q = Math.Round(w / (double)scale, MidpointRounding.ToEven);
        return (sbyte)Math.Clamp(q, -127, 127);
    }

    /// <summary>y = W·x + add over the <see cref="Rows"/> rows (add may be y itself).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Multiply(ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> add, QuantizedScratch scratch)
    {
        var q = scratch.Int8Input(Quads * BlockColumns);
        float sx = Int8Kernels.QuantizeVector(x.Slice(0, Columns), q);
        var acc = scratch.Int32Rows(RowBlocks * BlockRows);
        Int8Kernels.Multiply(this, q, acc);
        Int8Kernels.Dequantize(acc.Slice(0, Rows), Scales.AsSpan(0, Rows), sx, add.Slice(0, Rows), y.Slice(0, Rows));
    }
}

/// <summary>The int8 kernels of <see cref="Int8Matrix"/>: vector quantization, the three exact integer products, the float epilogue.</summary>
internal static unsafe class Int8Kernels
{
    [ThreadStatic] private static bool t_portableOnly;

    /// <summary>Whether <see cref="Multiply"/> uses the AVX-VNNI kernel on this machine (and this thread has not turned it off).</summary>
    public static bool UsesVnni => AvxVnni.IsSupported && !t_portableOnly;

    /// <summary>Tests and benchmarks: true makes <see cref="Multiply"/> use the portable kernel on the calling thread.</summary>
    public static bool PortableOnly
    {
        get => t_portableOnly;
        set => t_portableOnly = value;
    }

    /// <summary>
    /// q[c] = round_even(x[c] · (127 / max |x|)) clamped to [−127, 127] for c &lt; |x|, 0 for the padding up to |q|; returns
    /// the scale max |x| / 127 (0 and all-zero q when x is all zeros). The vector and scalar parts round the same way.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float QuantizeVector(ReadOnlySpan<float> x, Span<sbyte> q)
    {
        int n = x.Length;
        if (q.Length < n) throw new ArgumentException($"The quantized vector needs {n} values, got {q.Length}.", nameof(q));
        float max = MaxAbs(x);
        if (!(max > 0f))
        {
            q.Clear();
            return 0f;
        }

        float inv = 127f / max;
        ref float x0 = ref MemoryMarshal.GetReference(x);
        ref sbyte q0 = ref MemoryMarshal.GetReference(q);
        int i = 0;
        if (Avx2.IsSupported)
        {
            // vcvtps2dq rounds to nearest even (the default MXCSR mode .NET never changes), then two saturating packs and
            // one permute put the 32 bytes back in order. |x · inv| ≤ 127 (+ a rounding), so neither pack saturates and
            // the result equals the portable Round + clamp + narrow below.
            var vInv = Vector256.Create(inv);
            var order = Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7);
            var lo = Vector256.Create(-127);
            var hi = Vector256.Create(127);
            for (; i + 32 <= n; i += 32)
            {
                var a = Vector256.Min(Vector256.Max(Avx.ConvertToVector256Int32(Vector256.LoadUnsafe(ref x0, (nuint)i) * vInv), lo), hi);
                var b = Vector256.Min(Vector256.Max(Avx.ConvertToVector256Int32(Vector256.LoadUnsafe(ref x0, (nuint)(i + 8)) * vInv), lo), hi);
                var c = Vector256.Min(Vector256.Max(Avx.ConvertToVector256Int32(Vector256.LoadUnsafe(ref x0, (nuint)(i + 16)) * vInv), lo), hi);
                var d = Vector256.Min(Vector256.Max(Avx.ConvertToVector256Int32(Vector256.LoadUnsafe(ref x0, (nuint)(i + 24)) * vInv), lo), hi);
                var bytes = Avx2.PackSignedSaturate(Avx2.PackSignedSaturate(a, b), Avx2.PackSignedSaturate(c, d));
                Avx2.PermuteVar8x32(bytes.AsInt32(), order).AsSByte().StoreUnsafe(ref q0, (nuint)i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var vInv = Vector256.Create(inv);
            var lo = Vector256.Create(-127f);
            var hi = Vector256.Create(127f);
            for (; i + 32 <= n; i += 32)
            {
                var a = Vector256.ConvertToInt32(Vector256.Min(Vector256.Max(Vector256.Round(Vector256.LoadUnsafe(ref x0, (nuint)i) * vInv), lo), hi));
                var b = Vector256.ConvertToInt32(Vector256.Min(Vector256.Max(Vector256.Round(Vector256.LoadUnsafe(ref x0, (nuint)(i + 8)) * vInv), lo), hi));
                var c = Vector256.ConvertToInt32(Vector256.Min(Vector256.Max(Vector256.Round(Vector256.LoadUnsafe(ref x0, (nuint)(i + 16)) * vInv), lo), hi));
                var d = Vector256.ConvertToInt32(Vector256.Min(Vector256.Max(Vector256.Round(Vector256.LoadUnsafe(ref x0, (nuint)(i + 24)) * vInv), lo), hi));
                Vector256.Narrow(Vector256.Narrow(a, b), Vector256.Narrow(c, d)).StoreUnsafe(ref q0, (nuint)i);
            }
        }

        for (; i < n; i++) q[i] = (sbyte)Math.Clamp(MathF.Round(x[i] * inv), -127f, 127f);
        q.Slice(n).Clear();
        return max / 127f;
    }

    /// <summary>max |x| (x finite; 0 for an empty span): one vector pass without TensorPrimitives' NaN bookkeeping.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float MaxAbs(ReadOnlySpan<float> x)
    {
        int n = x.Length, i = 0;
        float max = 0f;
        ref float x0 = ref MemoryMarshal.GetReference(x);
        if (Vector256.IsHardwareAccelerated && n >= 16)
        {
            Vector256<float> m0 = default, m1 = default;
            for (; i + 16 <= n; i += 16)
            {
                m0 = Vector256.Max(m0, Vector256.Abs(Vector256.LoadUnsafe(ref x0, (nuint)i)));
                m1 = Vector256.Max(m1, Vector256.Abs(Vector256.LoadUnsafe(ref x0, (nuint)(i + 8))));
            }

            var m = Vector256.Max(m0, m1);
            for (int k = 0; k < 8; k++) max = Math.Max(max, m.GetElement(k));
        }

        for (; i < n; i++) max = Math.Max(max, Math.Abs(x[i]));
        return max;
    }

    /// <summary>acc[r] = Σ_c q[r, c] · u[c] for every padded row (acc: ≥ RowBlocks · 8; u: ≥ Quads · 4, zero padded).</summary>
    public static void Multiply(Int8Matrix m, ReadOnlySpan<sbyte> u, Span<int> acc)
    {
        if (UsesVnni) MultiplyVnni(m, u, acc);
        else if (Avx2.IsSupported && !t_portableOnly) MultiplyAvx2(m, u, acc);
        else MultiplyPortable(m, u, acc);
    }

    /// <summary>
    /// The AVX2 kernel for machines without AVX-VNNI. Per column quad, u[4k..4k+3] is broadcast to the 8 rows of a block;
    /// VPSIGNB moves u's signs onto the weights and VPABSB takes |u|, so VPMADDUBSW (unsigned bytes times signed bytes,
    /// adjacent products added into int16) computes |u|·(±q) = u·q exactly: a pair's sum is at most 2 · 127² = 32,258 in
    /// magnitude (u and q lie in [−127, 127]), under int16's saturation. VPMADDWD by ones then adds a row's two pairs into
    /// its int32 lane, so each accumulator holds 8 rows, as the VNNI kernel's do. Eight blocks at a time share the quad
    /// (eight accumulators, the signs, |u| and the ones: within AVX2's 16 registers) and read the group's 256 bytes a quad
    /// in one forward stream. The integer sums, and so the bits, are those of every other kernel.
    /// Measured (docs/performance.md, "The int8 product on AVX2 without VNNI"): the kernel before widened each 16 weights to
    /// int16 first (VPMOVSXBW, a cross-lane shuffle) and took 1.5 µs for the 512 × 128 product on Zen 3.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void MultiplyAvx2(Int8Matrix m, ReadOnlySpan<sbyte> u, Span<int> acc)
    {
        if (!Avx2.IsSupported) throw new PlatformNotSupportedException("AVX2 is not supported on this machine.");
        int quads = m.Quads, blocks = m.RowBlocks;
        CheckSizes(m, u, acc);
        sbyte* w0 = (sbyte*)Unsafe.AsPointer(ref m.PackedStart); // pinned storage (Int8Matrix)
        fixed (sbyte* x0 = u)
        fixed (int* a0 = acc)
        {
            for (int first = 0; first < blocks; first += Int8Matrix.GroupBlocks)
            {
                int nb = m.GroupSize(first);
                sbyte* group = w0 + (nint)first * quads * 32;
                int* rows = a0 + first * 8;
                if (nb == Int8Matrix.GroupBlocks)
                {
                    Blocks8(group, quads, x0, rows);
                    continue;
                }

                // The last group's nb < 8 blocks: a quad's blocks are nb · 32 bytes apart.
                nint step = (nint)nb * 32;
                int b = 0;
                for (; b + 4 <= nb; b += 4) Blocks4(group + (nint)b * 32, step, quads, x0, rows + b * 8);
                for (; b < nb; b++) Block1(group + (nint)b * 32, step, quads, x0, rows + b * 8);
            }
        }

        // Σ over one quad of u·q for the 8 rows of a block: |u| · (q with u's signs), pairs into int16, then into int32.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector256<int> Dot(sbyte* w, Vector256<sbyte> signs, Vector256<byte> magnitudes, Vector256<short> ones) =>
            Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(magnitudes, Avx2.Sign(Vector256.Load(w), signs)), ones);

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        static void Blocks8(sbyte* p, int quads, sbyte* x, int* rows)
        {
            var ones = Vector256.Create((short)1);
            Vector256<int> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
            for (int k = 0; k < quads; k++, p += 256, x += 4)
            {
                var signs = Vector256.Create(*(int*)x).AsSByte();
                var magnitudes = Avx2.Abs(signs);
                c0 += Dot(p, signs, magnitudes, ones); c1 += Dot(p + 32, signs, magnitudes, ones);
                c2 += Dot(p + 64, signs, magnitudes, ones); c3 += Dot(p + 96, signs, magnitudes, ones);
                c4 += Dot(p + 128, signs, magnitudes, ones); c5 += Dot(p + 160, signs, magnitudes, ones);
                c6 += Dot(p + 192, signs, magnitudes, ones); c7 += Dot(p + 224, signs, magnitudes, ones);
            }

            c0.Store(rows); c1.Store(rows + 8); c2.Store(rows + 16); c3.Store(rows + 24);
            c4.Store(rows + 32); c5.Store(rows + 40); c6.Store(rows + 48); c7.Store(rows + 56);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        static void Blocks4(sbyte* p, nint step, int quads, sbyte* x, int* rows)
        {
            var ones = Vector256.Create((short)1);
            Vector256<int> c0 = default, c1 = default, c2 = default, c3 = default;
            for (int k = 0; k < quads; k++, p += step, x += 4)
            {
                var signs = Vector256.Create(*(int*)x).AsSByte();
                var magnitudes = Avx2.Abs(signs);
                c0 += Dot(p, signs, magnitudes, ones); c1 += Dot(p + 32, signs, magnitudes, ones);
                c2 += Dot(p + 64, signs, magnitudes, ones); c3 += Dot(p + 96, signs, magnitudes, ones);
            }

            c0.Store(rows); c1.Store(rows + 8); c2.Store(rows + 16); c3.Store(rows + 24);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        static void Block1(sbyte* p, nint step, int quads, sbyte* x, int* rows)
        {
            var ones = Vector256.Create((short)1);
            Vector256<int> c0 = default, c1 = default;  // even and odd quads: two chains
            int k = 0;
            for (; k + 2 <= quads; k += 2, p += 2 * step, x += 8)
            {
                var s0 = Vector256.Create(*(int*)x).AsSByte();
                var s1 = Vector256.Create(*(int*)(x + 4)).AsSByte();
                c0 += Dot(p, s0, Avx2.Abs(s0), ones);
                c1 += Dot(p + step, s1, Avx2.Abs(s1), ones);
            }

            if (k < quads)
            {
                var s0 = Vector256.Create(*(int*)x).AsSByte();
                c0 += Dot(p, s0, Avx2.Abs(s0), ones);
            }

            (c0 + c1).Store(rows);
        }
    }

    /// <summary>
    /// The AVX-VNNI kernel (VPDPBUSD on unsigned u + 128, corrected by 128 · row sums). A full group of eight row blocks
    /// shares each broadcast and reads its 256 bytes per quad in one forward stream (eight independent chains); the blocks
    /// of a last, smaller group run four or one at a time.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void MultiplyVnni(Int8Matrix m, ReadOnlySpan<sbyte> u, Span<int> acc)
    {
        if (!AvxVnni.IsSupported) throw new PlatformNotSupportedException("AVX-VNNI is not supported on this machine.");
        int quads = m.Quads, blocks = m.RowBlocks;
        CheckSizes(m, u, acc);
        ref sbyte w0 = ref m.PackedStart;
        ref int x0 = ref Unsafe.As<sbyte, int>(ref MemoryMarshal.GetReference(u));
        ref int a0 = ref MemoryMarshal.GetReference(acc);
        ref int s0 = ref MemoryMarshal.GetArrayDataReference(m.RowSums);
        var flip = Vector256.Create(unchecked((int)0x80808080));
        for (int first = 0; first < blocks; first += Int8Matrix.GroupBlocks)
        {
            int nb = m.GroupSize(first);
            ref sbyte p = ref Unsafe.Add(ref w0, (nuint)first * (nuint)quads * 32);
            nuint r = (nuint)first * 8;
            if (nb == Int8Matrix.GroupBlocks)
            {
                Vector256<int> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
                ref int xk = ref x0;
                for (int k = 0; k < quads; k++)
                {
                    var xv = (Vector256.Create(xk) ^ flip).AsByte();
                    c0 = AvxVnni.MultiplyWideningAndAdd(c0, xv, Vector256.LoadUnsafe(ref p));
                    c1 = AvxVnni.MultiplyWideningAndAdd(c1, xv, Vector256.LoadUnsafe(ref p, 32));
                    c2 = AvxVnni.MultiplyWideningAndAdd(c2, xv, Vector256.LoadUnsafe(ref p, 64));
                    c3 = AvxVnni.MultiplyWideningAndAdd(c3, xv, Vector256.LoadUnsafe(ref p, 96));
                    c4 = AvxVnni.MultiplyWideningAndAdd(c4, xv, Vector256.LoadUnsafe(ref p, 128));
                    c5 = AvxVnni.MultiplyWideningAndAdd(c5, xv, Vector256.LoadUnsafe(ref p, 160));
                    c6 = AvxVnni.MultiplyWideningAndAdd(c6, xv, Vector256.LoadUnsafe(ref p, 192));
                    c7 = AvxVnni.MultiplyWideningAndAdd(c7, xv, Vector256.LoadUnsafe(ref p, 224));
                    p = ref Unsafe.Add(ref p, 256);
                    xk = ref Unsafe.Add(ref xk, 1);
                }

                (c0 - (Vector256.LoadUnsafe(ref s0, r) << 7)).StoreUnsafe(ref a0, r);
                (c1 - (Vector256.LoadUnsafe(ref s0, r + 8) << 7)).StoreUnsafe(ref a0, r + 8);
                (c2 - (Vector256.LoadUnsafe(ref s0, r + 16) << 7)).StoreUnsafe(ref a0, r + 16);
                (c3 - (Vector256.LoadUnsafe(ref s0, r + 24) << 7)).StoreUnsafe(ref a0, r + 24);
                (c4 - (Vector256.LoadUnsafe(ref s0, r + 32) << 7)).StoreUnsafe(ref a0, r + 32);
                (c5 - (Vector256.LoadUnsafe(ref s0, r + 40) << 7)).StoreUnsafe(ref a0, r + 40);
                (c6 - (Vector256.LoadUnsafe(ref s0, r + 48) << 7)).StoreUnsafe(ref a0, r + 48);
                (c7 - (Vector256.LoadUnsafe(ref s0, r + 56) << 7)).StoreUnsafe(ref a0, r + 56);
                continue;
            }

            // The last group's nb < 8 blocks: a quad's blocks are nb · 32 bytes apart.
            nuint step = (nuint)nb * 32;
            int b = 0;
            for (; b + 4 <= nb; b += 4)
            {
                ref sbyte q = ref Unsafe.Add(ref p, (nuint)b * 32);
                Vector256<int> c0 = default, c1 = default, c2 = default, c3 = default;
                for (nuint k = 0; k < (nuint)quads; k++)
                {
                    var xv = (Vector256.Create(Unsafe.Add(ref x0, k)) ^ flip).AsByte();
                    c0 = AvxVnni.MultiplyWideningAndAdd(c0, xv, Vector256.LoadUnsafe(ref q));
                    c1 = AvxVnni.MultiplyWideningAndAdd(c1, xv, Vector256.LoadUnsafe(ref q, 32));
                    c2 = AvxVnni.MultiplyWideningAndAdd(c2, xv, Vector256.LoadUnsafe(ref q, 64));
                    c3 = AvxVnni.MultiplyWideningAndAdd(c3, xv, Vector256.LoadUnsafe(ref q, 96));
                    q = ref Unsafe.Add(ref q, step);
                }

                nuint rb = r + (nuint)b * 8;
                (c0 - (Vector256.LoadUnsafe(ref s0, rb) << 7)).StoreUnsafe(ref a0, rb);
                (c1 - (Vector256.LoadUnsafe(ref s0, rb + 8) << 7)).StoreUnsafe(ref a0, rb + 8);
                (c2 - (Vector256.LoadUnsafe(ref s0, rb + 16) << 7)).StoreUnsafe(ref a0, rb + 16);
                (c3 - (Vector256.LoadUnsafe(ref s0, rb + 24) << 7)).StoreUnsafe(ref a0, rb + 24);
            }

            for (; b < nb; b++)
            {
                ref sbyte q = ref Unsafe.Add(ref p, (nuint)b * 32);
                Vector256<int> c0 = default, c1 = default;   // even and odd quads: two chains
                nuint k = 0;
                for (; k + 2 <= (nuint)quads; k += 2)
                {
                    c0 = AvxVnni.MultiplyWideningAndAdd(c0, (Vector256.Create(Unsafe.Add(ref x0, k)) ^ flip).AsByte(), Vector256.LoadUnsafe(ref q));
                    c1 = AvxVnni.MultiplyWideningAndAdd(c1, (Vector256.Create(Unsafe.Add(ref x0, k + 1)) ^ flip).AsByte(), Vector256.LoadUnsafe(ref q, step));
                    q = ref Unsafe.Add(ref q, 2 * step);
                }

                if (k < (nuint)quads)
                    c0 = AvxVnni.MultiplyWideningAndAdd(c0, (Vector256.Create(Unsafe.Add(ref x0, k)) ^ flip).AsByte(), Vector256.LoadUnsafe(ref q));
                nuint rb = r + (nuint)b * 8;
                (c0 + c1 - (Vector256.LoadUnsafe(ref s0, rb) << 7)).StoreUnsafe(ref a0, rb);
            }
        }
    }

    /// <summary>The portable kernel: bytes widened to int16 (products are exact in int16: |q · u| ≤ 127²), then to int32
    /// lanes that each hold one (row, column mod 4) partial sum; the four lanes of a row are added at the end.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void MultiplyPortable(Int8Matrix m, ReadOnlySpan<sbyte> u, Span<int> acc)
    {
        int quads = m.Quads, blocks = m.RowBlocks;
        CheckSizes(m, u, acc);
        ref sbyte w0 = ref m.PackedStart;
        ref int x0 = ref Unsafe.As<sbyte, int>(ref MemoryMarshal.GetReference(u));
        for (int first = 0; first < blocks; first += Int8Matrix.GroupBlocks)
        {
            int nb = m.GroupSize(first);
            nuint step = (nuint)nb * 32;
            for (int b = first; b < first + nb; b++)
            {
                ref sbyte p = ref Unsafe.Add(ref w0, ((nuint)first * (nuint)quads + (nuint)(b - first)) * 32);
                Vector256<int> r01 = default, r23 = default, r45 = default, r67 = default;
                for (nuint k = 0; k < (nuint)quads; k++)
                {
                    var (wl, wh) = Vector256.Widen(Vector256.LoadUnsafe(ref p, k * step));
                    var (xl, xh) = Vector256.Widen(Vector256.Create(Unsafe.Add(ref x0, k)).AsSByte());
                    var (p0, p1) = Vector256.Widen(wl * xl);
                    var (p2, p3) = Vector256.Widen(wh * xh);
                    r01 += p0;
                    r23 += p1;
                    r45 += p2;
                    r67 += p3;
                }

                var rows = acc.Slice(b * 8, 8);
                Reduce(r01, rows, 0);
                Reduce(r23, rows, 2);
                Reduce(r45, rows, 4);
                Reduce(r67, rows, 6);
            }
        }

        static void Reduce(Vector256<int> v, Span<int> rows, int first)
        {
            rows[first] = unchecked(v.GetElement(0) + v.GetElement(1) + v.GetElement(2) + v.GetElement(3));
            rows[first + 1] = unchecked(v.GetElement(4) + v.GetElement(5) + v.GetElement(6) + v.GetElement(7));
        }
    }

    /// <summary>The scalar reference: acc[r] = Σ_c q[r, c] · u[c], one product at a time.</summary>
    public static void MultiplyScalar(Int8Matrix m, ReadOnlySpan<sbyte> u, Span<int> acc)
    {
        CheckSizes(m, u, acc);
        acc.Slice(0, m.RowBlocks * 8).Clear();
        for (int r = 0; r < m.Rows; r++)
        {
            int sum = 0;
            for (int c = 0; c < m.Columns; c++) sum = unchecked(sum + m.At(r, c) * u[c]);
            acc[r] = sum;
        }
    }

    /// <summary>y[r] = (float)acc[r] · scale[r] · sx + add[r] (add may alias y).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dequantize(ReadOnlySpan<int> acc, ReadOnlySpan<float> scale, float sx, ReadOnlySpan<float> add, Span<float> y)
    {
        int n = y.Length, i = 0;
        if (acc.Length < n || scale.Length < n || add.Length < n) throw new ArgumentException("The epilogue's buffers are shorter than the output.");
        ref int a0 = ref MemoryMarshal.GetReference(acc);
        ref float s0 = ref MemoryMarshal.GetReference(scale);
        ref float b0 = ref MemoryMarshal.GetReference(add);
        ref float y0 = ref MemoryMarshal.GetReference(y);
        if (Vector256.IsHardwareAccelerated)
        {
            var vs = Vector256.Create(sx);
            for (; i + 8 <= n; i += 8)
            {
                var v = Vector256.ConvertToSingle(Vector256.LoadUnsafe(ref a0, (nuint)i)) * Vector256.LoadUnsafe(ref s0, (nuint)i) * vs + Vector256.LoadUnsafe(ref b0, (nuint)i);
                v.StoreUnsafe(ref y0, (nuint)i);
            }
        }

        for (; i < n; i++) y[i] = (float)acc[i] * scale[i] * sx + add[i];
    }

    private static void CheckSizes(Int8Matrix m, ReadOnlySpan<sbyte> u, Span<int> acc)
    {
        if (u.Length < m.Quads * 4) throw new ArgumentException($"The quantized input needs {m.Quads * 4} values (zero padded), got {u.Length}.", nameof(u));
        if (acc.Length < m.RowBlocks * 8) throw new ArgumentException($"The accumulator needs {m.RowBlocks * 8} values, got {acc.Length}.", nameof(acc));
    }
}
