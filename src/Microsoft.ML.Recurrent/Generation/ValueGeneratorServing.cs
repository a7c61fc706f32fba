using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Engine.Seq2Seq;
using Microsoft.ML.Recurrent.Serving;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.Recurrent.Seq2Seq;

/// <summary>
/// Fixed internal column and contract names of the next-value generator's serving chain: part of saved models, never
/// rename them (a new layout gets new names, …v2).
/// </summary>
internal static class ValueGeneratorServingNames
{
    public const string Model = "__RecurrentValueGeneratorModel_v1__";
    public const string Prefix = "__RecurrentValueGeneratorPrefix_v1__";
    public const string Values = "__RecurrentValueGeneratorValues_v1__";
    public const string Contract = "Microsoft.ML.Recurrent.SequenceGenerator.Values.v1";
}

internal sealed class ValueGeneratorInput
{
    [ColumnName(ValueGeneratorServingNames.Model)]
    public ReadOnlyMemory<char> Model;

    [ColumnName(ValueGeneratorServingNames.Prefix)]
    [VectorType]
    public VBuffer<float> Prefix;
}

internal sealed class ValueGeneratorOutput
{
    [ColumnName(ValueGeneratorServingNames.Values)]
    [VectorType]
    public VBuffer<float> Values;
}

[CustomMappingFactoryAttribute(ValueGeneratorServingNames.Contract)]
internal sealed class ValueGeneratorFactory : CustomMappingFactory<ValueGeneratorInput, ValueGeneratorOutput>
{
    public override Action<ValueGeneratorInput, ValueGeneratorOutput> GetMapping() => (input, output) =>
    {
        var model = PayloadCache<LoadedValueGenerator>.Get(input.Model, LoadedValueGenerator.Decode);
        var prefix = input.Prefix.DenseValues().ToArray();
        model.CheckPrefix(prefix, model.PrefixColumnName);
        var generated = model.Generate(prefix, model.Model.MaximumOutputLength, model.Model.Temperature, model.RowSeed(prefix));
        var editor = VBufferEditor.Create(ref output.Values, generated.Length);
        generated.CopyTo(editor.Values);
        output.Values = editor.Commit();
    };
}

/// <summary>A decoded next-value generator, ready to generate from any number of threads (one engine workspace per thread).</summary>
internal sealed class LoadedValueGenerator
{
    private readonly ThreadLocal<NextValueSampler> _sampler;

    public LoadedValueGenerator(ValueGeneratorModel model, string? prefixColumnName = null)
    {
        Model = model;
        PrefixColumnName = prefixColumnName;
        _sampler = new ThreadLocal<NextValueSampler>(() => new NextValueSampler(model.Spec, model.Parameters));
    }

    public ValueGeneratorModel Model { get; }

    /// <summary>The prefix column named in errors (null in a loaded chain: the internal column stands for it).</summary>
    public string? PrefixColumnName { get; }

    public int FeaturesPerStep => Model.FeaturesPerStep;

    public static LoadedValueGenerator Decode(string payload) => new(Seq2SeqModelFormat.ReadValueGenerator(PayloadCache<LoadedValueGenerator>.Bytes(payload)));

    /// <summary>A prefix must be a multiple of F finite values (it may be empty).</summary>
    public void CheckPrefix(ReadOnlySpan<float> prefix, string? column)
    {
        int F = FeaturesPerStep;
        string name = column is null ? "The prefix" : $"Prefix column '{column}'";
        if (prefix.Length % F != 0)
            throw new InvalidOperationException($"{name} has {prefix.Length} values, which is not a multiple of the FeaturesPerStep = {F} the generator was trained with (column '{Model.FeatureColumnName}').");
        for (int i = 0; i < prefix.Length; i++)
        {
            if (!float.IsFinite(prefix[i]))
                throw new InvalidOperationException($"{name} holds {prefix[i]} at step {i / F}, feature {i % F}; values must be finite.");
        }
    }

    /// <summary>The per-row seed of Transform: the model's seed mixed with the prefix bits (FNV-1a), so equal rows give equal output.</summary>
    public int RowSeed(ReadOnlySpan<float> prefix)
    {
        uint h = 2166136261u ^ (uint)Model.Seed;
        foreach (float v in prefix) h = (h ^ BitConverter.SingleToUInt32Bits(v)) * 16777619u;
        return (int)(h & 0x7fffffff);
    }

    /// <summary>Generates in data units: standardises the prefix, samples, maps the continuation back. At most maximumSteps · F values.</summary>
    public float[] Generate(ReadOnlySpan<float> prefix, int maximumSteps, float temperature, int seed)
    {
        int F = FeaturesPerStep;
        var m = Model;
        var z = new float[prefix.Length];
        for (int i = 0; i < z.Length; i++) z[i] = (prefix[i] - m.Mean[i % F]) / m.Scale[i % F];
        var generated = _sampler.Value!.Generate(z, maximumSteps, temperature, m.Residual, seed);
        var result = new float[generated.Count];
        for (int i = 0; i < result.Length; i++) result[i] = m.Mean[i % F] + m.Scale[i % F] * generated[i];
        return result;
    }
}

/// <summary>Builds the stock-transformer chain that serves a next-value generator (architecture.md §1).</summary>
internal static class ValueGeneratorChain
{
    /// <summary>
    /// CustomMapping(model key) → MapValue(key → base64 model) → CopyColumns(prefix → internal) → CustomMapping(generate)
    /// → CopyColumns(output ← generated values) → DropColumns. Fitted on a schema holding only the prefix column (a
    /// variable-length vector of Single).
    /// </summary>
    public static ITransformer Build(ValueGeneratorModel model, string prefixColumn, string outputColumn)
    {
        var ml = new MLContext(seed: 0);
        string payload = Convert.ToBase64String(Seq2SeqModelFormat.Write(model));
        var chain = ml.Transforms.CustomMapping<NoInput, ModelKeyRow>(Mappings.ModelKey, Contracts.ModelKey)
            .Append(ml.Transforms.Conversion.MapValue(ValueGeneratorServingNames.Model,
                new[] { new KeyValuePair<string, string>(ServingColumns.ModelKeyValue, payload) }, ServingColumns.ModelKey))
            .Append(ml.Transforms.CopyColumns(ValueGeneratorServingNames.Prefix, prefixColumn))
            .Append(ml.Transforms.CustomMapping(new ValueGeneratorFactory().GetMapping(), ValueGeneratorServingNames.Contract))
            .Append(ml.Transforms.CopyColumns(outputColumn, ValueGeneratorServingNames.Values))
            .Append(ml.Transforms.DropColumns(ServingColumns.ModelKey, ValueGeneratorServingNames.Model, ValueGeneratorServingNames.Prefix, ValueGeneratorServingNames.Values));
        var schema = new DataViewSchema.Builder();
        schema.AddColumn(prefixColumn, new VectorDataViewType(NumberDataViewType.Single));
        return chain.Fit(new EmptyDataView(schema.ToSchema()));
    }
}
