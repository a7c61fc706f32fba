using Microsoft.ML.Recurrent.Engine.Seq2Seq;

namespace Microsoft.ML.Recurrent.Seq2Seq;

/// <summary>
/// A decoded generator — a next-token model, or one conditioned on a vector (an encoder–decoder whose source is the
/// vector) — ready to sample from any number of threads (one engine workspace per thread).
/// </summary>
internal sealed class LoadedGenerator
{
    private readonly ThreadLocal<NextTokenSampler>? _sampler;
    private readonly ThreadLocal<Seq2SeqNetwork>? _conditioned;
    private readonly Dictionary<string, int> _ids;

    public LoadedGenerator(GeneratorModel model)
        : this(model.TokenValues, model.FeatureColumnName, model.Temperature, model.TopK, model.MaximumOutputLength, model.Seed, null, 0)
    {
        Plain = model;
        _sampler = new ThreadLocal<NextTokenSampler>(() => new NextTokenSampler(model.Spec, model.Parameters));
    }

    public LoadedGenerator(ConditionedGeneratorModel model)
        : this(model.Network.TargetValues, model.Network.FeatureColumnName, model.Temperature, model.TopK, model.MaximumOutputLength, model.Seed,
            model.ConditionColumnName, model.ConditionSize)
    {
        Conditioned = model;
        var n = model.Network;
        _conditioned = new ThreadLocal<Seq2SeqNetwork>(() => new Seq2SeqNetwork(n.Spec, n.Encoder, n.Decoder, n.Head, training: false));
    }

    private LoadedGenerator(string[] tokens, string column, float temperature, int topK, int maximumOutputLength, int seed, string? conditionColumn, int conditionSize)
    {
        TokenValues = tokens;
        FeatureColumnName = column;
        Temperature = temperature;
        TopK = topK;
        MaximumOutputLength = maximumOutputLength;
        Seed = seed;
        ConditionColumnName = conditionColumn;
        ConditionSize = conditionSize;
        _ids = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int k = 0; k < tokens.Length; k++) _ids[tokens[k]] = k + 1;
    }

    public GeneratorModel? Plain { get; }
    public ConditionedGeneratorModel? Conditioned { get; }
    public string[] TokenValues { get; }
    public int Keys => TokenValues.Length;
    public string FeatureColumnName { get; }
    public float Temperature { get; }
    public int TopK { get; }
    public int MaximumOutputLength { get; }
    public int Seed { get; }

    /// <summary>The conditioning column; null for a plain next-token generator.</summary>
    public string? ConditionColumnName { get; }

    /// <summary>Values of the conditioning vector (0 for a plain generator).</summary>
    public int ConditionSize { get; }

    public static LoadedGenerator Decode(string payload) => new(Seq2SeqModelFormat.ReadGenerator(PayloadCache<LoadedGenerator>.Bytes(payload)));

    public static LoadedGenerator DecodeConditioned(string payload) => new(Seq2SeqModelFormat.ReadConditioned(PayloadCache<LoadedGenerator>.Bytes(payload)));

    /// <summary>Prefix keys must be 0 (unknown) or one of the K training keys.</summary>
    public void CheckPrefix(int[] prefix, string? column = null)
    {
        for (int i = 0; i < prefix.Length; i++)
        {
            if (prefix[i] > Keys)
                throw new InvalidOperationException(
                    $"Prefix column '{column ?? "(prefix)"}' holds key {prefix[i]} at step {i}; the generator knows keys 0..{Keys} (0 = unknown). Map tokens with the training column's key values.");
        }
    }

    /// <summary>A conditioning vector must have the training length and finite values.</summary>
    public void CheckCondition(ReadOnlySpan<float> condition)
    {
        if (condition.Length != ConditionSize)
            throw new InvalidOperationException($"Condition column '{ConditionColumnName}' has {condition.Length} values; the generator was trained on {ConditionSize}.");
        for (int i = 0; i < condition.Length; i++)
        {
            if (!float.IsFinite(condition[i]))
                throw new InvalidOperationException($"Condition column '{ConditionColumnName}' holds {condition[i]} at position {i}; values must be finite.");
        }
    }

    /// <summary>Key ids of token strings; a string that is not one of the training column's key values is an error naming it.</summary>
    public int[] Ids(IReadOnlyList<string> prefix)
    {
        var ids = new int[prefix.Count];
        for (int i = 0; i < prefix.Count; i++)
        {
            if (prefix[i] is null || !_ids.TryGetValue(prefix[i], out ids[i]))
                throw new ArgumentException($"Prefix token '{prefix[i]}' at position {i} is not one of the {Keys} tokens of column '{FeatureColumnName}' the generator was trained on.", nameof(prefix));
        }

        return ids;
    }

    /// <summary>The per-row seed of Transform: the model's seed mixed with the prefix and condition (FNV-1a), so equal rows give equal output.</summary>
    public int RowSeed(int[] prefix, ReadOnlySpan<float> condition = default)
    {
        uint h = 2166136261u ^ (uint)Seed;
        foreach (int id in prefix) h = (h ^ (uint)id) * 16777619u;
        foreach (float v in condition) h = (h ^ BitConverter.SingleToUInt32Bits(v)) * 16777619u;
        return (int)(h & 0x7fffffff);
    }

    public List<int> Generate(int[] prefix, ReadOnlySpan<float> condition, int maximumLength, float temperature, int topK, int seed) =>
        _conditioned is not null
            ? _conditioned.Value!.Sample(condition, prefix, maximumLength, temperature, topK, seed)
            : _sampler!.Value!.Generate(prefix, maximumLength, temperature, topK, seed);
}
