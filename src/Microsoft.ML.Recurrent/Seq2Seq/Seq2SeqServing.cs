using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Seq2Seq;
using Microsoft.ML.Recurrent.Serving;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.Recurrent.Seq2Seq;

/// <summary>
/// Fixed internal column and contract names of the encoder–decoder and generator serving chains. They are part of saved
/// models: never rename them (a new layout gets new names, …v2).
/// </summary>
internal static class Seq2SeqServingNames
{
    public const string Seq2SeqModel = "__RecurrentSeq2SeqModel_v1__";
    public const string Seq2SeqFeatures = "__RecurrentSeq2SeqFeatures_v1__";
    public const string Seq2SeqTokens = "__RecurrentSeq2SeqTokens_v1__";
    public const string Seq2SeqAttention = "__RecurrentSeq2SeqAttention_v1__";
    public const string GeneratorModel = "__RecurrentGeneratorModel_v1__";
    public const string GeneratorPrefix = "__RecurrentGeneratorPrefix_v1__";
    public const string GeneratorTokens = "__RecurrentGeneratorTokens_v1__";
    public const string GeneratorCondition = "__RecurrentGeneratorCondition_v1__";

    public const string Seq2SeqDenseContract = "Microsoft.ML.Recurrent.EncoderDecoder.Dense.v1";
    public const string Seq2SeqTokenContract = "Microsoft.ML.Recurrent.EncoderDecoder.Tokens.v1";
    public const string GeneratorContract = "Microsoft.ML.Recurrent.SequenceGenerator.v1";
    public const string ConditionedGeneratorContract = "Microsoft.ML.Recurrent.SequenceGenerator.Conditioned.v1";
}

internal sealed class Seq2SeqDenseInput
{
    [ColumnName(Seq2SeqServingNames.Seq2SeqModel)]
    public ReadOnlyMemory<char> Model;

    [ColumnName(Seq2SeqServingNames.Seq2SeqFeatures)]
    [VectorType]
    public VBuffer<float> Features;
}

internal sealed class Seq2SeqTokenInput
{
    [ColumnName(Seq2SeqServingNames.Seq2SeqModel)]
    public ReadOnlyMemory<char> Model;

    /// <summary>Bound by raw type (UInt32); the vocabulary size travels in the payload (see <see cref="TokenInput"/>).</summary>
    [ColumnName(Seq2SeqServingNames.Seq2SeqFeatures)]
    [KeyType(1)]
    [VectorType]
    public VBuffer<uint> Features;
}

internal sealed class Seq2SeqOutput
{
    /// <summary>The decoded tokens as the target's key values; MapValueToKey turns them into the PredictedLabel keys.</summary>
    [ColumnName(Seq2SeqServingNames.Seq2SeqTokens)]
    [VectorType]
    public VBuffer<ReadOnlyMemory<char>> Tokens;

    /// <summary>(output length × source length) attention weights, row-major; empty without attention.</summary>
    [ColumnName(Seq2SeqServingNames.Seq2SeqAttention)]
    [VectorType]
    public VBuffer<float> Attention;
}

internal sealed class GeneratorInput
{
    [ColumnName(Seq2SeqServingNames.GeneratorModel)]
    public ReadOnlyMemory<char> Model;

    [ColumnName(Seq2SeqServingNames.GeneratorPrefix)]
    [KeyType(1)]
    [VectorType]
    public VBuffer<uint> Prefix;
}

internal sealed class ConditionedGeneratorInput
{
    [ColumnName(Seq2SeqServingNames.GeneratorModel)]
    public ReadOnlyMemory<char> Model;

    [ColumnName(Seq2SeqServingNames.GeneratorPrefix)]
    [KeyType(1)]
    [VectorType]
    public VBuffer<uint> Prefix;

    [ColumnName(Seq2SeqServingNames.GeneratorCondition)]
    [VectorType]
    public VBuffer<float> Condition;
}

internal sealed class GeneratorOutput
{
    [ColumnName(Seq2SeqServingNames.GeneratorTokens)]
    [VectorType]
    public VBuffer<ReadOnlyMemory<char>> Tokens;
}

[CustomMappingFactoryAttribute(Seq2SeqServingNames.Seq2SeqDenseContract)]
internal sealed class Seq2SeqDenseFactory : CustomMappingFactory<Seq2SeqDenseInput, Seq2SeqOutput>
{
    public override Action<Seq2SeqDenseInput, Seq2SeqOutput> GetMapping() => (input, output) =>
    {
        var model = PayloadCache<LoadedSeq2Seq>.Get(input.Model, LoadedSeq2Seq.Decode);
        var values = input.Features.DenseValues().ToArray();
        model.Decode(values, tokens: false, output);
    };
}

[CustomMappingFactoryAttribute(Seq2SeqServingNames.Seq2SeqTokenContract)]
internal sealed class Seq2SeqTokenFactory : CustomMappingFactory<Seq2SeqTokenInput, Seq2SeqOutput>
{
    public override Action<Seq2SeqTokenInput, Seq2SeqOutput> GetMapping() => (input, output) =>
    {
        var model = PayloadCache<LoadedSeq2Seq>.Get(input.Model, LoadedSeq2Seq.Decode);
        var values = new float[input.Features.Length];
        int i = 0;
        foreach (uint v in input.Features.DenseValues()) values[i++] = v;
        model.Decode(values, tokens: true, output);
    };
}

[CustomMappingFactoryAttribute(Seq2SeqServingNames.GeneratorContract)]
internal sealed class GeneratorFactory : CustomMappingFactory<GeneratorInput, GeneratorOutput>
{
    public override Action<GeneratorInput, GeneratorOutput> GetMapping() => (input, output) =>
    {
        var model = PayloadCache<LoadedGenerator>.Get(input.Model, LoadedGenerator.Decode);
        var prefix = new int[input.Prefix.Length];
        int i = 0;
        foreach (uint v in input.Prefix.DenseValues()) prefix[i++] = (int)v;
        model.CheckPrefix(prefix);
        var generated = model.Generate(prefix, default, model.MaximumOutputLength, model.Temperature, model.TopK, model.RowSeed(prefix));
        Write(model, generated, output);
    };

    internal static void Write(LoadedGenerator model, List<int> generated, GeneratorOutput output)
    {
        var editor = VBufferEditor.Create(ref output.Tokens, generated.Count);
        for (int k = 0; k < generated.Count; k++) editor.Values[k] = model.TokenValues[generated[k] - 1].AsMemory();
        output.Tokens = editor.Commit();
    }
}

[CustomMappingFactoryAttribute(Seq2SeqServingNames.ConditionedGeneratorContract)]
internal sealed class ConditionedGeneratorFactory : CustomMappingFactory<ConditionedGeneratorInput, GeneratorOutput>
{
    public override Action<ConditionedGeneratorInput, GeneratorOutput> GetMapping() => (input, output) =>
    {
        var model = PayloadCache<LoadedGenerator>.Get(input.Model, LoadedGenerator.DecodeConditioned);
        var prefix = new int[input.Prefix.Length];
        int i = 0;
        foreach (uint v in input.Prefix.DenseValues()) prefix[i++] = (int)v;
        model.CheckPrefix(prefix);
        var condition = input.Condition.DenseValues().ToArray();
        model.CheckCondition(condition);
        var generated = model.Generate(prefix, condition, model.MaximumOutputLength, model.Temperature, model.TopK, model.RowSeed(prefix, condition));
        GeneratorFactory.Write(model, generated, output);
    };
}

/// <summary>
/// Decodes each payload once per process and keeps it while the payload string lives (the same scheme as the trainers'
/// <c>ModelCache</c>: keyed by the string instance ML.NET hands every row, with a small by-content fallback).
/// </summary>
internal static class PayloadCache<T> where T : class
{
    private static readonly ConditionalWeakTable<string, Lazy<T>> s_byInstance = new();
    private static readonly object s_lock = new();
    private static readonly List<(string Text, Lazy<T> Value)> s_byContent = [];

    public static T Get(ReadOnlyMemory<char> payload, Func<string, T> decode)
    {
        if (MemoryMarshal.TryGetString(payload, out string? text, out int start, out int length) && start == 0 && length == text.Length)
            return s_byInstance.GetValue(text, t => new Lazy<T>(() => decode(t), LazyThreadSafetyMode.ExecutionAndPublication)).Value;
        lock (s_lock)
        {
            foreach (var (t, v) in s_byContent)
                if (payload.Span.SequenceEqual(t)) return v.Value;
            if (s_byContent.Count >= 8) s_byContent.RemoveAt(0);
            string copy = payload.ToString();
            var entry = new Lazy<T>(() => decode(copy), LazyThreadSafetyMode.ExecutionAndPublication);
            s_byContent.Add((copy, entry));
            return entry.Value;
        }
    }

    /// <summary>base64 → bytes, with the empty-payload error every chain gives.</summary>
    public static byte[] Bytes(string text)
    {
        if (text.Length == 0)
            throw new InvalidDataException("The recurrent sequence model payload is empty: the model text is missing from this ML.NET model (was the zip altered?).");
        var bytes = new byte[(int)Math.Min(int.MaxValue, (text.Length / 4L + 1) * 3)];
        if (!Convert.TryFromBase64Chars(text, bytes, out int written))
            throw new InvalidDataException($"The recurrent sequence model payload is invalid: its {text.Length} characters are not valid base64.");
        return bytes.AsSpan(0, written).ToArray();
    }
}

/// <summary>A decoded encoder–decoder ready to decode one source per call from any number of threads.</summary>
internal sealed class LoadedSeq2Seq
{
    private readonly ThreadLocal<(Seq2SeqNetwork Net, SequenceBatch[] Batch)> _workspace;

    public LoadedSeq2Seq(Seq2SeqModel model)
    {
        Model = model;
        _workspace = new ThreadLocal<(Seq2SeqNetwork, SequenceBatch[])>(() =>
            (new Seq2SeqNetwork(model.Spec, model.Encoder, model.Decoder, model.Head, training: false), new SequenceBatch[1]));
    }

    public Seq2SeqModel Model { get; }

    public static LoadedSeq2Seq Decode(string payload) => new(Seq2SeqModelFormat.ReadSeq2Seq(PayloadCache<LoadedSeq2Seq>.Bytes(payload)));

    /// <summary>Checks one source (T·F values or token ids) and decodes it with the model's beam width.</summary>
    public DecodedSequence Decode(float[] source, bool tokens)
    {
        string column = Model.FeatureColumnName;
        if (tokens != Model.UsesTokens)
            throw new InvalidOperationException(Model.UsesTokens
                ? $"The encoder–decoder was trained on key-typed tokens in column '{column}' but received a vector of Single."
                : $"The encoder–decoder was trained on a vector of Single in column '{column}' but received keys.");
        int F = Model.Spec.Encoder.InputSize;
        if (source.Length == 0) throw new InvalidOperationException($"Feature column '{column}' is empty; the encoder–decoder needs at least one source step.");
        if (source.Length % F != 0)
            throw new InvalidOperationException($"Feature column '{column}' has {source.Length} values, which is not a multiple of the {F} features per step the model was trained with.");
        for (int i = 0; i < source.Length; i++)
        {
            float v = source[i];
            if (tokens && v >= Model.Spec.SourceVocabulary)
                throw new InvalidOperationException(
                    $"Feature column '{column}' holds key {v} at step {i}; the model knows keys 0..{Model.Spec.SourceVocabulary - 1} (0 = unknown). Map tokens with the same key mapping as in training.");
            if (!float.IsFinite(v))
                throw new InvalidOperationException($"Feature column '{column}' holds {v} at step {i / F}, feature {i % F}; values must be finite.");
        }

        var (net, holder) = _workspace.Value;
        int steps = source.Length / F;
        if (holder[0] is null || holder[0].CapacityLength < steps) holder[0] = new SequenceBatch(1, Math.Max(steps, 16), F, 0);
        holder[0].FillSingle(source);
        return net.Decode(holder[0], Model.BeamWidth, Model.MaximumOutputLength, greedy: Model.BeamWidth == 1)[0];
    }

    public void Decode(float[] source, bool tokens, Seq2SeqOutput output)
    {
        var decoded = Decode(source, tokens);
        var editor = VBufferEditor.Create(ref output.Tokens, decoded.Tokens.Length);
        for (int k = 0; k < decoded.Tokens.Length; k++) editor.Values[k] = Model.TargetValues[decoded.Tokens[k] - 1].AsMemory();
        output.Tokens = editor.Commit();
        var attention = VBufferEditor.Create(ref output.Attention, decoded.Attention.Length);
        decoded.Attention.CopyTo(attention.Values);
        output.Attention = attention.Commit();
    }
}

/// <summary>Builds the stock-transformer chain that serves an encoder–decoder or a generator (architecture.md §1).</summary>
internal static class Seq2SeqChain
{
    private sealed class ValueRow
    {
        public string Value { get; set; } = "";
    }

    /// <summary>
    /// CustomMapping(model key) → MapValue(key → base64 model) → CopyColumns(features → internal) → CustomMapping(decode)
    /// → MapValueToKey(PredictedLabel ← decoded tokens, keys = the target's key values) → [CopyColumns(attention)] → DropColumns.
    /// </summary>
    public static ITransformer BuildEncoderDecoder(Seq2SeqModel model, DataViewSchema inputSchema, string predictedLabelColumn, string? attentionColumn)
    {
        var ml = new MLContext(seed: 0);
        string payload = Convert.ToBase64String(Seq2SeqModelFormat.Write(model));
        IEstimator<ITransformer> chain = ml.Transforms.CustomMapping<NoInput, ModelKeyRow>(Mappings.ModelKey, Contracts.ModelKey)
            .Append(ml.Transforms.Conversion.MapValue(Seq2SeqServingNames.Seq2SeqModel,
                new[] { new KeyValuePair<string, string>(ServingColumns.ModelKeyValue, payload) }, ServingColumns.ModelKey))
            .Append(ml.Transforms.CopyColumns(Seq2SeqServingNames.Seq2SeqFeatures, model.FeatureColumnName));
        chain = model.UsesTokens
            ? chain.Append(ml.Transforms.CustomMapping(new Seq2SeqTokenFactory().GetMapping(), Seq2SeqServingNames.Seq2SeqTokenContract))
            : chain.Append(ml.Transforms.CustomMapping(new Seq2SeqDenseFactory().GetMapping(), Seq2SeqServingNames.Seq2SeqDenseContract));
        var keys = ml.Data.LoadFromEnumerable(model.TargetValues.Select(v => new ValueRow { Value = v }));
        chain = chain.Append(ml.Transforms.Conversion.MapValueToKey(predictedLabelColumn, Seq2SeqServingNames.Seq2SeqTokens, keyData: keys));
        if (attentionColumn is not null) chain = chain.Append(ml.Transforms.CopyColumns(attentionColumn, Seq2SeqServingNames.Seq2SeqAttention));
        chain = chain.Append(ml.Transforms.DropColumns(ServingColumns.ModelKey, Seq2SeqServingNames.Seq2SeqModel, Seq2SeqServingNames.Seq2SeqFeatures,
            Seq2SeqServingNames.Seq2SeqTokens, Seq2SeqServingNames.Seq2SeqAttention));
        return chain.Fit(new EmptyDataView(inputSchema));
    }

    /// <summary>
    /// CustomMapping(model key) → MapValue(key → base64 model) → CopyColumns(prefix → internal) → CustomMapping(generate)
    /// → MapValueToKey(output ← generated tokens, keys = the training column's key values) → DropColumns. Fitted on a
    /// schema holding only the prefix column, so any input with that key-vector column can be transformed.
    /// </summary>
    public static ITransformer BuildGenerator(GeneratorModel? plain, ConditionedGeneratorModel? conditioned, string prefixColumn, string outputColumn)
    {
        var ml = new MLContext(seed: 0);
        string payload = Convert.ToBase64String(plain is not null ? Seq2SeqModelFormat.Write(plain) : Seq2SeqModelFormat.Write(conditioned!));
        var tokens = plain?.TokenValues ?? conditioned!.Network.TargetValues;
        var keys = ml.Data.LoadFromEnumerable(tokens.Select(v => new ValueRow { Value = v }));
        IEstimator<ITransformer> chain = ml.Transforms.CustomMapping<NoInput, ModelKeyRow>(Mappings.ModelKey, Contracts.ModelKey)
            .Append(ml.Transforms.Conversion.MapValue(Seq2SeqServingNames.GeneratorModel,
                new[] { new KeyValuePair<string, string>(ServingColumns.ModelKeyValue, payload) }, ServingColumns.ModelKey))
            .Append(ml.Transforms.CopyColumns(Seq2SeqServingNames.GeneratorPrefix, prefixColumn));
        chain = conditioned is null
            ? chain.Append(ml.Transforms.CustomMapping(new GeneratorFactory().GetMapping(), Seq2SeqServingNames.GeneratorContract))
            : chain.Append(ml.Transforms.CopyColumns(Seq2SeqServingNames.GeneratorCondition, conditioned.ConditionColumnName))
                .Append(ml.Transforms.CustomMapping(new ConditionedGeneratorFactory().GetMapping(), Seq2SeqServingNames.ConditionedGeneratorContract));
        chain = chain
            .Append(ml.Transforms.Conversion.MapValueToKey(outputColumn, Seq2SeqServingNames.GeneratorTokens, keyData: keys))
            .Append(ml.Transforms.DropColumns(conditioned is null
                ? [ServingColumns.ModelKey, Seq2SeqServingNames.GeneratorModel, Seq2SeqServingNames.GeneratorPrefix, Seq2SeqServingNames.GeneratorTokens]
                : [ServingColumns.ModelKey, Seq2SeqServingNames.GeneratorModel, Seq2SeqServingNames.GeneratorPrefix, Seq2SeqServingNames.GeneratorTokens,
                    Seq2SeqServingNames.GeneratorCondition]));
        return chain.Fit(new EmptyDataView(PrefixSchema(prefixColumn, tokens, conditioned?.ConditionColumnName, conditioned?.ConditionSize ?? 0)));
    }

    /// <summary>
    /// A schema with one key-vector column carrying <paramref name="values"/> as its key values (and, when given, a Single
    /// vector column of <paramref name="conditionSize"/> values).
    /// </summary>
    internal static DataViewSchema PrefixSchema(string column, string[] values, string? conditionColumn = null, int conditionSize = 0)
    {
        var annotations = new DataViewSchema.Annotations.Builder();
        var text = values.Select(v => v.AsMemory()).ToArray();
        ValueGetter<VBuffer<ReadOnlyMemory<char>>> getter = (ref VBuffer<ReadOnlyMemory<char>> dst) => dst = new VBuffer<ReadOnlyMemory<char>>(text.Length, text);
        annotations.Add("KeyValues", new VectorDataViewType(TextDataViewType.Instance, text.Length), getter);
        var builder = new DataViewSchema.Builder();
        builder.AddColumn(column, new VectorDataViewType(new KeyDataViewType(typeof(uint), values.Length)), annotations.ToAnnotations());
        if (conditionColumn is not null && conditionColumn != column)
            builder.AddColumn(conditionColumn, new VectorDataViewType(NumberDataViewType.Single, conditionSize));
        return builder.ToSchema();
    }
}
