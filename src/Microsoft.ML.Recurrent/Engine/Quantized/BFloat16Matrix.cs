using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Microsoft.ML.Recurrent.Engine.Quantized;

/// <summary>
/// A weight matrix W (R rows, C columns) held as bfloat16 (the upper 16 bits of a float32, rounded to nearest even), widened
/// back to float32 in registers and accumulated in float32: y = W·x + add.
/// <para>
/// Packed layout: blocks of 8 rows × 2 columns, one uint32 per (row, column pair) holding column 2k in its low half and
/// column 2k + 1 in its high half: <c>Packed[((r / 8) · Pairs + c / 2) · 8 + r % 8]</c> (rows padded to a multiple of 8, the
/// columns to an even count, with zeros). A lane widens to two floats with one shift (<c>v &lt;&lt; 16</c>) and one mask
/// (<c>v &amp; 0xFFFF0000</c>), each multiplied by a broadcast x value: the same multiply-adds as float32, half the bytes.
/// .NET 10 exposes no AVX512-BF16 intrinsics (VDPBF16PS), so every machine runs this portable kernel.
/// </para>
/// </summary>
internal sealed class BFloat16Matrix : IReducedMatrix
{
    public BFloat16Matrix(ReadOnlySpan<float> weights, int rows, int columns)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        if (weights.Length != (long)rows * columns)
            throw new ArgumentException($"Expected {(long)rows * columns} weights, got {weights.Length}.", nameof(weights));
        Rows = rows;
        Columns = columns;
        RowBlocks = (rows + 7) / 8;
        Pairs = (columns + 1) / 2;
        Packed = new uint[(long)RowBlocks * Pairs * 8];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < columns; c++)
            {
                uint bits = ToBFloat16(weights[r * columns + c]);
                Packed[Index(r, c)] |= (c & 1) == 0 ? bits : bits << 16;
            }
        }
    }

    public int Rows { get; }
    public int Columns { get; }
    public int RowBlocks { get; }
    public int Pairs { get; }

    /// <summary>The bfloat16 weights in the block layout of the class remarks.</summary>
    public uint[] Packed { get; }

    private int Index(int r, int c) => ((r / 8) * Pairs + c / 2) * 8 + r % 8;

    /// <summary>The stored weight W[r, c] as float32.</summary>
    public float At(int r, int c)
    {
        uint v = Packed[Index(r, c)];
        return BitConverter.UInt32BitsToSingle((c & 1) == 0 ? v << 16 : v & 0xFFFF0000u);
    }

    /// <summary>The bfloat16 bits of <paramref name="w"/>, rounded to nearest even (finite inputs; the largest floats round to ±∞ as in PyTorch).</summary>
    public static uint ToBFloat16(float w)
    {
        uint bits = BitConverter.SingleToUInt32Bits(w);
        if (float.IsNaN(w)) return (bits >> 16) | 0x40; // quiet NaN stays NaN
        return (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
    }

    /// <summary>float32 value of bfloat16 bits.</summary>
    public static float FromBFloat16(uint bits) => BitConverter.UInt32BitsToSingle(bits << 16);

    /// <summary>y = W·x + add over the <see cref="Rows"/> rows (add may be y itself).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Multiply(ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> add, QuantizedScratch scratch)
    {
        if (x.Length < Columns) throw new ArgumentException($"The input needs {Columns} values, got {x.Length}.", nameof(x));
        if (y.Length < Rows || add.Length < Rows) throw new ArgumentException($"The output needs {Rows} values.", nameof(y));
        var acc = scratch.FloatRows(RowBlocks * 8);
        ref uint w0 = ref MemoryMarshal.GetArrayDataReference(Packed);
        ref float x0 = ref MemoryMarshal.GetReference(x);
        ref float a0 = ref MemoryMarshal.GetReference(acc);
        int full = Columns / 2;                 // pairs with both columns inside x
        nuint stride = (nuint)Pairs * 8;
        var mask = Vector256.Create(0xFFFF0000u);
        int b = 0;
        for (; b + 2 <= RowBlocks; b += 2)
        {
            ref uint p = ref Unsafe.Add(ref w0, (nuint)b * stride);
            Vector256<float> e0 = default, o0 = default, e1 = default, o1 = default;
            for (nuint k = 0; k < (nuint)full; k++)
            {
                var xe = Vector256.Create(Unsafe.Add(ref x0, 2 * k));
                var xo = Vector256.Create(Unsafe.Add(ref x0, 2 * k + 1));
                var v0 = Vector256.LoadUnsafe(ref p, k * 8);
                var v1 = Vector256.LoadUnsafe(ref p, k * 8 + stride);
                e0 = Vector256.MultiplyAddEstimate((v0 << 16).AsSingle(), xe, e0);
                o0 = Vector256.MultiplyAddEstimate((v0 & mask).AsSingle(), xo, o0);
                e1 = Vector256.MultiplyAddEstimate((v1 << 16).AsSingle(), xe, e1);
                o1 = Vector256.MultiplyAddEstimate((v1 & mask).AsSingle(), xo, o1);
            }

            if (full < Pairs)
            {
                var xe = Vector256.Create(Unsafe.Add(ref x0, 2 * (nuint)full));
                e0 = Vector256.MultiplyAddEstimate((Vector256.LoadUnsafe(ref p, (nuint)full * 8) << 16).AsSingle(), xe, e0);
                e1 = Vector256.MultiplyAddEstimate((Vector256.LoadUnsafe(ref p, (nuint)full * 8 + stride) << 16).AsSingle(), xe, e1);
            }

            (e0 + o0).StoreUnsafe(ref a0, (nuint)b * 8);
            (e1 + o1).StoreUnsafe(ref a0, (nuint)b * 8 + 8);
        }

        for (; b < RowBlocks; b++)
        {
            ref uint p = ref Unsafe.Add(ref w0, (nuint)b * stride);
            Vector256<float> e0 = default, o0 = default;
            for (nuint k = 0; k < (nuint)full; k++)
            {
                var v0 = Vector256.LoadUnsafe(ref p, k * 8);
                e0 = Vector256.MultiplyAddEstimate((v0 << 16).AsSingle(), Vector256.Create(Unsafe.Add(ref x0, 2 * k)), e0);
                o0 = Vector256.MultiplyAddEstimate((v0 & mask).AsSingle(), Vector256.Create(Unsafe.Add(ref x0, 2 * k + 1)), o0);
            }

            if (full < Pairs)
                e0 = Vector256.MultiplyAddEstimate((Vector256.LoadUnsafe(ref p, (nuint)full * 8) << 16).AsSingle(), Vector256.Create(Unsafe.Add(ref x0, 2 * (nuint)full)), e0);
            (e0 + o0).StoreUnsafe(ref a0, (nuint)b * 8);
        }

        System.Numerics.Tensors.TensorPrimitives.Add(acc.Slice(0, Rows), add.Slice(0, Rows), y.Slice(0, Rows));
    }
}
