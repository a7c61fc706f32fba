using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.Recurrent.Serving;

/// <summary>
/// Turns a variable-length <c>Single</c> vector column that holds exactly N values on every row into a known-size
/// <c>Vector&lt;Single, N&gt;</c> column through stock ML.NET transformers only (no native runtime), optionally with slot names.
/// This is the one shared route for every known-size output of the package (multiclass Score, a featurizer's H outputs):
/// call <see cref="Append"/> where a <c>CustomMapping</c> emitted a variable-length vector.
/// </summary>
/// <remarks>
/// <para>Why: a <c>CustomMapping</c>'s output types come from attributes on fixed row classes (a size given through a
/// <c>SchemaDefinition</c> is not saved, so a loaded model would lose it), so a size known only at training time cannot
/// come from the mapping itself. Two stock routes give it:</para>
/// <list type="bullet">
/// <item><b>Blocks</b> (any N up to 2^20): N is written in binary; for each set bit 2^j a <c>CustomMapping</c> with a fixed
/// row class <c>[VectorType(2^j)]</c> copies its block (blocks in descending size, so block 2^j starts at
/// N with bits ≤ j cleared), and <c>Concatenate</c> joins the blocks into a vector of known size N. At most 21 steps.</item>
/// <item><b>Named scalars</b> (N ≤ <see cref="MaxNamedSlots"/>, with slot names): a <c>CustomMapping</c> pops the first 16
/// values of the vector into 16 scalar columns (⌈N / 16⌉ times), each value is copied into a column named after its slot
/// (<c>CopyColumns</c>), and <c>Concatenate</c> of those scalar
/// columns gives a known-size vector whose SlotNames are the column names (the way ML.NET's <c>Concatenate</c> names
/// scalar inputs). The temporary columns are dropped at the end of the chain.</item>
/// </list>
/// <para>Every contract name here is versioned and must never change once released.</para>
/// </remarks>
internal static class KnownSizeVector
{
    /// <summary>Largest size served by the named-scalar route (2 steps per slot).</summary>
    public const int MaxNamedSlots = 64;

    /// <summary>Values one pop step takes off the front of the vector (one <c>CustomMapping</c> per 16 slots).</summary>
    public const int PopWidth = 16;

    /// <summary>Largest size the block route serves (2^20, the model format's output limit).</summary>
    public const int MaxSize = 1 << 20;

    /// <summary>
    /// Appends the steps that make <paramref name="output"/> a <c>Vector&lt;Single, <paramref name="size"/>&gt;</c> copy of
    /// <paramref name="source"/> (a variable-length Single vector with exactly <paramref name="size"/> values per row).
    /// With <paramref name="slotNames"/> the output carries them as SlotNames when they are usable (see
    /// <see cref="CanName"/>); otherwise it has no slot names. Columns to drop at the end of the chain are added to
    /// <paramref name="temporaries"/>.
    /// </summary>
    public static IEstimator<ITransformer> Append(MLContext ml, IEstimator<ITransformer> chain, string source, string output, int size,
        IReadOnlyList<string>? slotNames, DataViewSchema inputSchema, ICollection<string> temporaries)
    {
        if (size < 1 || size > MaxSize)
            throw new ArgumentOutOfRangeException(nameof(size), size, $"A known-size vector must have 1 to {MaxSize} values.");
        if (slotNames is not null && CanName(slotNames, size, inputSchema, output))
            return AppendNamed(ml, chain, source, output, slotNames, temporaries);
        return AppendBlocks(ml, chain, source, output, size, temporaries);
    }

    /// <summary>
    /// Whether <paramref name="names"/> can become slot names through temporary columns of those names: at most
    /// <see cref="MaxNamedSlots"/>, one per slot, non-empty, distinct, and none equal to a column of the input schema, the
    /// output, a standard output column or an internal column (a temporary column of the same name would hide it).
    /// </summary>
    public static bool CanName(IReadOnlyList<string> names, int size, DataViewSchema inputSchema, string output)
    {
        if (names.Count != size || size > MaxNamedSlots) return false;
        var taken = new HashSet<string>(StringComparer.Ordinal)
        {
            output, ServingChain.DefaultColumnNames.Score, ServingChain.DefaultColumnNames.Probability, ServingChain.DefaultColumnNames.PredictedLabel,
        };
        foreach (var c in inputSchema) taken.Add(c.Name);
        foreach (var n in names)
        {
            if (string.IsNullOrEmpty(n) || n.StartsWith("__Recurrent", StringComparison.Ordinal) || !taken.Add(n)) return false;
        }

        return true;
    }

    private static IEstimator<ITransformer> AppendNamed(MLContext ml, IEstimator<ITransformer> chain, string source, string output,
        IReadOnlyList<string> names, ICollection<string> temporaries)
    {
        chain = chain.Append(ml.Transforms.CopyColumns(KnownSizeColumns.Rest, source));
        temporaries.Add(KnownSizeColumns.Rest);
        for (int first = 0; first < names.Count; first += PopWidth)
        {
            int count = Math.Min(PopWidth, names.Count - first);
            chain = chain.Append(ml.Transforms.CustomMapping<PopInput, PopOutput>(KnownSizeMappings.Pop, KnownSizeContracts.Pop));
            for (int i = 0; i < count; i++)
            {
                chain = chain.Append(ml.Transforms.CopyColumns(names[first + i], KnownSizeColumns.Head(i)));
                temporaries.Add(names[first + i]);
            }
        }

        for (int i = 0; i < PopWidth; i++) temporaries.Add(KnownSizeColumns.Head(i));
        return chain.Append(ml.Transforms.Concatenate(output, names.ToArray()));
    }

    private static IEstimator<ITransformer> AppendBlocks(MLContext ml, IEstimator<ITransformer> chain, string source, string output, int size,
        ICollection<string> temporaries)
    {
        chain = chain.Append(ml.Transforms.CopyColumns(KnownSizeColumns.BlockSource, source));
        temporaries.Add(KnownSizeColumns.BlockSource);
        var blocks = new List<string>();
        for (int j = 20; j >= 0; j--)
        {
            if ((size & (1 << j)) == 0) continue;
            chain = chain.Append(Block(ml, j));
            string column = KnownSizeColumns.Block(1 << j);
            blocks.Add(column);
            temporaries.Add(column);
        }

        return chain.Append(ml.Transforms.Concatenate(output, blocks.ToArray()));
    }

    /// <summary>The offset of the block of 2^j values inside a vector of <paramref name="length"/> values (blocks in
    /// descending size): <paramref name="length"/> with bits 0..j cleared.</summary>
    internal static int BlockOffset(int length, int j) => length & ~((2 << j) - 1);

    /// <summary>Copies block 2^j of <paramref name="source"/> into <paramref name="destination"/>; the length must have bit j set.</summary>
    internal static void CopyBlock(in VBuffer<float> source, int j, ref VBuffer<float> destination)
    {
        int length = source.Length, n = 1 << j;
        if ((length & n) == 0 || length > MaxSize)
            throw new InvalidOperationException(
                $"A recurrent output vector has {length} values; the model's known-size output expects a length with a block of {n} (the model's own size).");
        int offset = BlockOffset(length, j);
        var editor = VBufferEditor.Create(ref destination, n);
        if (source.IsDense)
        {
            source.GetValues().Slice(offset, n).CopyTo(editor.Values);
        }
        else
        {
            editor.Values.Clear();
            var indices = source.GetIndices();
            var values = source.GetValues();
            for (int i = 0; i < indices.Length; i++)
            {
                int k = indices[i] - offset;
                if ((uint)k < (uint)n) editor.Values[k] = values[i];
            }
        }

        destination = editor.Commit();
    }

    private static IEstimator<ITransformer> Block(MLContext ml, int j) => j switch
    {
        0 => ml.Transforms.CustomMapping<BlockInput, Block1>(KnownSizeMappings.Block1, KnownSizeContracts.Block1),
        1 => ml.Transforms.CustomMapping<BlockInput, Block2>(KnownSizeMappings.Block2, KnownSizeContracts.Block2),
        2 => ml.Transforms.CustomMapping<BlockInput, Block4>(KnownSizeMappings.Block4, KnownSizeContracts.Block4),
        3 => ml.Transforms.CustomMapping<BlockInput, Block8>(KnownSizeMappings.Block8, KnownSizeContracts.Block8),
        4 => ml.Transforms.CustomMapping<BlockInput, Block16>(KnownSizeMappings.Block16, KnownSizeContracts.Block16),
        5 => ml.Transforms.CustomMapping<BlockInput, Block32>(KnownSizeMappings.Block32, KnownSizeContracts.Block32),
        6 => ml.Transforms.CustomMapping<BlockInput, Block64>(KnownSizeMappings.Block64, KnownSizeContracts.Block64),
        7 => ml.Transforms.CustomMapping<BlockInput, Block128>(KnownSizeMappings.Block128, KnownSizeContracts.Block128),
        8 => ml.Transforms.CustomMapping<BlockInput, Block256>(KnownSizeMappings.Block256, KnownSizeContracts.Block256),
        9 => ml.Transforms.CustomMapping<BlockInput, Block512>(KnownSizeMappings.Block512, KnownSizeContracts.Block512),
        10 => ml.Transforms.CustomMapping<BlockInput, Block1024>(KnownSizeMappings.Block1024, KnownSizeContracts.Block1024),
        11 => ml.Transforms.CustomMapping<BlockInput, Block2048>(KnownSizeMappings.Block2048, KnownSizeContracts.Block2048),
        12 => ml.Transforms.CustomMapping<BlockInput, Block4096>(KnownSizeMappings.Block4096, KnownSizeContracts.Block4096),
        13 => ml.Transforms.CustomMapping<BlockInput, Block8192>(KnownSizeMappings.Block8192, KnownSizeContracts.Block8192),
        14 => ml.Transforms.CustomMapping<BlockInput, Block16384>(KnownSizeMappings.Block16384, KnownSizeContracts.Block16384),
        15 => ml.Transforms.CustomMapping<BlockInput, Block32768>(KnownSizeMappings.Block32768, KnownSizeContracts.Block32768),
        16 => ml.Transforms.CustomMapping<BlockInput, Block65536>(KnownSizeMappings.Block65536, KnownSizeContracts.Block65536),
        17 => ml.Transforms.CustomMapping<BlockInput, Block131072>(KnownSizeMappings.Block131072, KnownSizeContracts.Block131072),
        18 => ml.Transforms.CustomMapping<BlockInput, Block262144>(KnownSizeMappings.Block262144, KnownSizeContracts.Block262144),
        19 => ml.Transforms.CustomMapping<BlockInput, Block524288>(KnownSizeMappings.Block524288, KnownSizeContracts.Block524288),
        20 => ml.Transforms.CustomMapping<BlockInput, Block1048576>(KnownSizeMappings.Block1048576, KnownSizeContracts.Block1048576),
        _ => throw new ArgumentOutOfRangeException(nameof(j)),
    };
}

/// <summary>Internal column names of the known-size route: part of saved models, never rename them.</summary>
internal static class KnownSizeColumns
{
    public const string Rest = "__RecurrentKnownSizeRest_v1__";
    public static string Head(int i) => $"__RecurrentKnownSizeHead{i}_v1__";
    public const string BlockSource = "__RecurrentKnownSizeSource_v1__";

    public static string Block(int n) => $"__RecurrentKnownSizeBlock{n}_v1__";
}

/// <summary>Contract names of the known-size route's <c>CustomMapping</c> factories: stored in saved models, never change them.</summary>
internal static class KnownSizeContracts
{
    public const string Pop = "Microsoft.ML.Recurrent.KnownSize.Pop16.v1";
    public const string Block1 = "Microsoft.ML.Recurrent.KnownSize.Block1.v1";
    public const string Block2 = "Microsoft.ML.Recurrent.KnownSize.Block2.v1";
    public const string Block4 = "Microsoft.ML.Recurrent.KnownSize.Block4.v1";
    public const string Block8 = "Microsoft.ML.Recurrent.KnownSize.Block8.v1";
    public const string Block16 = "Microsoft.ML.Recurrent.KnownSize.Block16.v1";
    public const string Block32 = "Microsoft.ML.Recurrent.KnownSize.Block32.v1";
    public const string Block64 = "Microsoft.ML.Recurrent.KnownSize.Block64.v1";
    public const string Block128 = "Microsoft.ML.Recurrent.KnownSize.Block128.v1";
    public const string Block256 = "Microsoft.ML.Recurrent.KnownSize.Block256.v1";
    public const string Block512 = "Microsoft.ML.Recurrent.KnownSize.Block512.v1";
    public const string Block1024 = "Microsoft.ML.Recurrent.KnownSize.Block1024.v1";
    public const string Block2048 = "Microsoft.ML.Recurrent.KnownSize.Block2048.v1";
    public const string Block4096 = "Microsoft.ML.Recurrent.KnownSize.Block4096.v1";
    public const string Block8192 = "Microsoft.ML.Recurrent.KnownSize.Block8192.v1";
    public const string Block16384 = "Microsoft.ML.Recurrent.KnownSize.Block16384.v1";
    public const string Block32768 = "Microsoft.ML.Recurrent.KnownSize.Block32768.v1";
    public const string Block65536 = "Microsoft.ML.Recurrent.KnownSize.Block65536.v1";
    public const string Block131072 = "Microsoft.ML.Recurrent.KnownSize.Block131072.v1";
    public const string Block262144 = "Microsoft.ML.Recurrent.KnownSize.Block262144.v1";
    public const string Block524288 = "Microsoft.ML.Recurrent.KnownSize.Block524288.v1";
    public const string Block1048576 = "Microsoft.ML.Recurrent.KnownSize.Block1048576.v1";
}

internal sealed class PopInput
{
    [ColumnName(KnownSizeColumns.Rest)]
    [VectorType]
    public VBuffer<float> Rest;
}

/// <summary>The first 16 values (0 past the end) and the rest of the vector.</summary>
internal sealed class PopOutput
{
    [ColumnName("__RecurrentKnownSizeHead0_v1__")]
    public float Head0;

    [ColumnName("__RecurrentKnownSizeHead1_v1__")]
    public float Head1;

    [ColumnName("__RecurrentKnownSizeHead2_v1__")]
    public float Head2;

    [ColumnName("__RecurrentKnownSizeHead3_v1__")]
    public float Head3;

    [ColumnName("__RecurrentKnownSizeHead4_v1__")]
    public float Head4;

    [ColumnName("__RecurrentKnownSizeHead5_v1__")]
    public float Head5;

    [ColumnName("__RecurrentKnownSizeHead6_v1__")]
    public float Head6;

    [ColumnName("__RecurrentKnownSizeHead7_v1__")]
    public float Head7;

    [ColumnName("__RecurrentKnownSizeHead8_v1__")]
    public float Head8;

    [ColumnName("__RecurrentKnownSizeHead9_v1__")]
    public float Head9;

    [ColumnName("__RecurrentKnownSizeHead10_v1__")]
    public float Head10;

    [ColumnName("__RecurrentKnownSizeHead11_v1__")]
    public float Head11;

    [ColumnName("__RecurrentKnownSizeHead12_v1__")]
    public float Head12;

    [ColumnName("__RecurrentKnownSizeHead13_v1__")]
    public float Head13;

    [ColumnName("__RecurrentKnownSizeHead14_v1__")]
    public float Head14;

    [ColumnName("__RecurrentKnownSizeHead15_v1__")]
    public float Head15;

    [ColumnName(KnownSizeColumns.Rest)]
    [VectorType]
    public VBuffer<float> Rest;

    public void SetHeads(ReadOnlySpan<float> values)
    {
        Span<float> dense = stackalloc float[16];
        values.CopyTo(dense);
        dense[values.Length..].Clear();
        Head0 = dense[0];
        Head1 = dense[1];
        Head2 = dense[2];
        Head3 = dense[3];
        Head4 = dense[4];
        Head5 = dense[5];
        Head6 = dense[6];
        Head7 = dense[7];
        Head8 = dense[8];
        Head9 = dense[9];
        Head10 = dense[10];
        Head11 = dense[11];
        Head12 = dense[12];
        Head13 = dense[13];
        Head14 = dense[14];
        Head15 = dense[15];
    }
}

internal sealed class BlockInput
{
    [ColumnName(KnownSizeColumns.BlockSource)]
    [VectorType]
    public VBuffer<float> Source;
}

internal sealed class Block1
{
    [ColumnName("__RecurrentKnownSizeBlock1_v1__")]
    [VectorType(1)]
    public VBuffer<float> Values;
}

internal sealed class Block2
{
    [ColumnName("__RecurrentKnownSizeBlock2_v1__")]
    [VectorType(2)]
    public VBuffer<float> Values;
}

internal sealed class Block4
{
    [ColumnName("__RecurrentKnownSizeBlock4_v1__")]
    [VectorType(4)]
    public VBuffer<float> Values;
}

internal sealed class Block8
{
    [ColumnName("__RecurrentKnownSizeBlock8_v1__")]
    [VectorType(8)]
    public VBuffer<float> Values;
}

internal sealed class Block16
{
    [ColumnName("__RecurrentKnownSizeBlock16_v1__")]
    [VectorType(16)]
    public VBuffer<float> Values;
}

internal sealed class Block32
{
    [ColumnName("__RecurrentKnownSizeBlock32_v1__")]
    [VectorType(32)]
    public VBuffer<float> Values;
}

internal sealed class Block64
{
    [ColumnName("__RecurrentKnownSizeBlock64_v1__")]
    [VectorType(64)]
    public VBuffer<float> Values;
}

internal sealed class Block128
{
    [ColumnName("__RecurrentKnownSizeBlock128_v1__")]
    [VectorType(128)]
    public VBuffer<float> Values;
}

internal sealed class Block256
{
    [ColumnName("__RecurrentKnownSizeBlock256_v1__")]
    [VectorType(256)]
    public VBuffer<float> Values;
}

internal sealed class Block512
{
    [ColumnName("__RecurrentKnownSizeBlock512_v1__")]
    [VectorType(512)]
    public VBuffer<float> Values;
}

internal sealed class Block1024
{
    [ColumnName("__RecurrentKnownSizeBlock1024_v1__")]
    [VectorType(1024)]
    public VBuffer<float> Values;
}

internal sealed class Block2048
{
    [ColumnName("__RecurrentKnownSizeBlock2048_v1__")]
    [VectorType(2048)]
    public VBuffer<float> Values;
}

internal sealed class Block4096
{
    [ColumnName("__RecurrentKnownSizeBlock4096_v1__")]
    [VectorType(4096)]
    public VBuffer<float> Values;
}

internal sealed class Block8192
{
    [ColumnName("__RecurrentKnownSizeBlock8192_v1__")]
    [VectorType(8192)]
    public VBuffer<float> Values;
}

internal sealed class Block16384
{
    [ColumnName("__RecurrentKnownSizeBlock16384_v1__")]
    [VectorType(16384)]
    public VBuffer<float> Values;
}

internal sealed class Block32768
{
    [ColumnName("__RecurrentKnownSizeBlock32768_v1__")]
    [VectorType(32768)]
    public VBuffer<float> Values;
}

internal sealed class Block65536
{
    [ColumnName("__RecurrentKnownSizeBlock65536_v1__")]
    [VectorType(65536)]
    public VBuffer<float> Values;
}

internal sealed class Block131072
{
    [ColumnName("__RecurrentKnownSizeBlock131072_v1__")]
    [VectorType(131072)]
    public VBuffer<float> Values;
}

internal sealed class Block262144
{
    [ColumnName("__RecurrentKnownSizeBlock262144_v1__")]
    [VectorType(262144)]
    public VBuffer<float> Values;
}

internal sealed class Block524288
{
    [ColumnName("__RecurrentKnownSizeBlock524288_v1__")]
    [VectorType(524288)]
    public VBuffer<float> Values;
}

internal sealed class Block1048576
{
    [ColumnName("__RecurrentKnownSizeBlock1048576_v1__")]
    [VectorType(1048576)]
    public VBuffer<float> Values;
}

internal static class KnownSizeMappings
{
    [ThreadStatic] private static float[]? t_dense;

    /// <summary>Head0..Head15 = the first 16 values (0 past the end), Rest = the values after them.</summary>
    public static void Pop(PopInput input, PopOutput output)
    {
        var rest = input.Rest;
        int n = rest.Length, taken = Math.Min(KnownSizeVector.PopWidth, n);
        ReadOnlySpan<float> values;
        if (rest.IsDense)
        {
            values = rest.GetValues();
        }
        else
        {
            var buffer = t_dense;
            if (buffer is null || buffer.Length < n) t_dense = buffer = new float[Math.Max(n, 64)];
            rest.CopyTo(buffer);
            values = buffer.AsSpan(0, n);
        }

        output.SetHeads(values[..taken]);
        var editor = VBufferEditor.Create(ref output.Rest, n - taken);
        values[taken..].CopyTo(editor.Values);
        output.Rest = editor.Commit();
    }

    public static void Block1(BlockInput input, Block1 output) => KnownSizeVector.CopyBlock(input.Source, 0, ref output.Values);
    public static void Block2(BlockInput input, Block2 output) => KnownSizeVector.CopyBlock(input.Source, 1, ref output.Values);
    public static void Block4(BlockInput input, Block4 output) => KnownSizeVector.CopyBlock(input.Source, 2, ref output.Values);
    public static void Block8(BlockInput input, Block8 output) => KnownSizeVector.CopyBlock(input.Source, 3, ref output.Values);
    public static void Block16(BlockInput input, Block16 output) => KnownSizeVector.CopyBlock(input.Source, 4, ref output.Values);
    public static void Block32(BlockInput input, Block32 output) => KnownSizeVector.CopyBlock(input.Source, 5, ref output.Values);
    public static void Block64(BlockInput input, Block64 output) => KnownSizeVector.CopyBlock(input.Source, 6, ref output.Values);
    public static void Block128(BlockInput input, Block128 output) => KnownSizeVector.CopyBlock(input.Source, 7, ref output.Values);
    public static void Block256(BlockInput input, Block256 output) => KnownSizeVector.CopyBlock(input.Source, 8, ref output.Values);
    public static void Block512(BlockInput input, Block512 output) => KnownSizeVector.CopyBlock(input.Source, 9, ref output.Values);
    public static void Block1024(BlockInput input, Block1024 output) => KnownSizeVector.CopyBlock(input.Source, 10, ref output.Values);
    public static void Block2048(BlockInput input, Block2048 output) => KnownSizeVector.CopyBlock(input.Source, 11, ref output.Values);
    public static void Block4096(BlockInput input, Block4096 output) => KnownSizeVector.CopyBlock(input.Source, 12, ref output.Values);
    public static void Block8192(BlockInput input, Block8192 output) => KnownSizeVector.CopyBlock(input.Source, 13, ref output.Values);
    public static void Block16384(BlockInput input, Block16384 output) => KnownSizeVector.CopyBlock(input.Source, 14, ref output.Values);
    public static void Block32768(BlockInput input, Block32768 output) => KnownSizeVector.CopyBlock(input.Source, 15, ref output.Values);
    public static void Block65536(BlockInput input, Block65536 output) => KnownSizeVector.CopyBlock(input.Source, 16, ref output.Values);
    public static void Block131072(BlockInput input, Block131072 output) => KnownSizeVector.CopyBlock(input.Source, 17, ref output.Values);
    public static void Block262144(BlockInput input, Block262144 output) => KnownSizeVector.CopyBlock(input.Source, 18, ref output.Values);
    public static void Block524288(BlockInput input, Block524288 output) => KnownSizeVector.CopyBlock(input.Source, 19, ref output.Values);
    public static void Block1048576(BlockInput input, Block1048576 output) => KnownSizeVector.CopyBlock(input.Source, 20, ref output.Values);
}

// ---- Factories: found by contract name when ML.NET loads a model. ----

[CustomMappingFactoryAttribute(KnownSizeContracts.Pop)]
internal sealed class PopFactory : CustomMappingFactory<PopInput, PopOutput>
{
    public override Action<PopInput, PopOutput> GetMapping() => KnownSizeMappings.Pop;
}

[CustomMappingFactoryAttribute(KnownSizeContracts.Block1)]
internal sealed class Block1Factory : CustomMappingFactory<BlockInput, Block1>
{
    public override Action<BlockInput, Block1> GetMapping() => KnownSizeMappings.Block1;
}

[CustomMappingFactoryAttribute(KnownSizeContracts.Block2)]
internal sealed class Block2Factory : CustomMappingFactory<BlockInput, Block2>
{
    public override Action<BlockInput, Block2> GetMapping() => KnownSizeMappings.Block2;
}

[CustomMappingFactoryAttribute(KnownSizeContracts.Block4)]
internal sealed class Block4Factory : CustomMappingFactory<BlockInput, Block4>
{
    public override Action<BlockInput, Block4> GetMapping() => KnownSizeMappings.Block4;
}

[CustomMappingFactoryAttribute(KnownSizeContracts.Block8)]
internal sealed class Block8Factory : CustomMappingFactory<BlockInput, Block8>
{
    public override Action<BlockInput, Block8> GetMapping() => KnownSizeMappings.Block8;
}

[CustomMappingFactoryAttribute(KnownSizeContracts.Block16)]
internal sealed class Block16Factory : CustomMappingFactory<BlockInput, Block16>
{
    public override Action<BlockInput, Block16> GetMapping() => KnownSizeMappings.Block16;
}

[CustomMappingFactoryAttribute(KnownSizeContracts.Block32)]
internal sealed class Block32Factory : CustomMappingFactory<BlockInput, Block32>
{
    public override Action<BlockInput, Block32> GetMapping() => KnownSizeMappings.Block32;
}

[CustomMappingFactoryAttribute(KnownSizeContracts.Block64)]
internal sealed class Block64Factory : CustomMappingFactory<BlockInput, Block64>
{
    public override Action<BlockInput, Block64> GetMapping() => KnownSizeMappings.Block64;
}

[CustomMappingFactoryAttribute(KnownSizeContracts.Block128)]
internal sealed class Block128Factory : CustomMappingFactory<BlockInput, Block128>
{
    public override Action<BlockInput, Block128> GetMapping() => KnownSizeMappings.Block128;
}

[CustomMappingFactoryAttribute(KnownSizeContracts.Block256)]
internal sealed class Block256Factory : CustomMappingFactory<BlockInput, Block256>
{
    public override Action<BlockInput, Block256> GetMapping() => KnownSizeMappings.Block256;
}

[CustomMappingFactoryAttribute(KnownSizeContracts.Block512)]
internal sealed class Block512Factory : CustomMappingFactory<BlockInput, Block512>
{
    public override Action<BlockInput, Block512> GetMapping() => KnownSizeMappings.Block512;
}

[CustomMappingFactoryAttribute(KnownSizeContracts.Block1024)]
internal sealed class Block1024Factory : CustomMappingFactory<BlockInput, Block1024>
{
    public override Action<BlockInput, Block1024> GetMapping() => KnownSizeMappings.Block1024;
}

[CustomMappingFactoryAttribute(KnownSizeContracts.Block2048)]
internal sealed class Block2048Factory : CustomMappingFactory<BlockInput, Block2048>
{
    public override Action<BlockInput, Block2048> GetMapping() => KnownSizeMappings.Block2048;
}

[CustomMappingFactoryAttribute(KnownSizeContracts.Block4096)]
internal sealed class Block4096Factory : CustomMappingFactory<BlockInput, Block4096>
{
    public override Action<BlockInput, Block4096> GetMapping() => KnownSizeMappings.Block4096;
}

[CustomMappingFactoryAttribute(KnownSizeContracts.Block8192)]
internal sealed class Block8192Factory : CustomMappingFactory<BlockInput, Block8192>
{
    public override Action<BlockInput, Block8192> GetMapping() => KnownSizeMappings.Block8192;
}

[CustomMappingFactoryAttribute(KnownSizeContracts.Block16384)]
internal sealed class Block16384Factory : CustomMappingFactory<BlockInput, Block16384>
{
    public override Action<BlockInput, Block16384> GetMapping() => KnownSizeMappings.Block16384;
}

[CustomMappingFactoryAttribute(KnownSizeContracts.Block32768)]
internal sealed class Block32768Factory : CustomMappingFactory<BlockInput, Block32768>
{
    public override Action<BlockInput, Block32768> GetMapping() => KnownSizeMappings.Block32768;
}

[CustomMappingFactoryAttribute(KnownSizeContracts.Block65536)]
internal sealed class Block65536Factory : CustomMappingFactory<BlockInput, Block65536>
{
    public override Action<BlockInput, Block65536> GetMapping() => KnownSizeMappings.Block65536;
}

[CustomMappingFactoryAttribute(KnownSizeContracts.Block131072)]
internal sealed class Block131072Factory : CustomMappingFactory<BlockInput, Block131072>
{
    public override Action<BlockInput, Block131072> GetMapping() => KnownSizeMappings.Block131072;
}

[CustomMappingFactoryAttribute(KnownSizeContracts.Block262144)]
internal sealed class Block262144Factory : CustomMappingFactory<BlockInput, Block262144>
{
    public override Action<BlockInput, Block262144> GetMapping() => KnownSizeMappings.Block262144;
}

[CustomMappingFactoryAttribute(KnownSizeContracts.Block524288)]
internal sealed class Block524288Factory : CustomMappingFactory<BlockInput, Block524288>
{
    public override Action<BlockInput, Block524288> GetMapping() => KnownSizeMappings.Block524288;
}

[CustomMappingFactoryAttribute(KnownSizeContracts.Block1048576)]
internal sealed class Block1048576Factory : CustomMappingFactory<BlockInput, Block1048576>
{
    public override Action<BlockInput, Block1048576> GetMapping() => KnownSizeMappings.Block1048576;
}
