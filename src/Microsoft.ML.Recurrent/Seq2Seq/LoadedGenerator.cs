using Microsoft.ML.Recurrent.Engine.Seq2Seq;

namespace Microsoft.ML.Recurrent.Seq2Seq;

/// <summary>A decoded generator ready to sample from any number of threads (one sampler per thread).</summary>
internal sealed class LoadedGenerator
{
    private readonly ThreadLocal<NextTokenSampler> _sampler;
    private readonly Dictionary<string, int> _ids;

    public LoadedGenerator(GeneratorModel model)
    {
        Model = model;
        _sampler = new ThreadLocal<NextTokenSampler>(() => new NextTokenSampler(model.Spec, model.Parameters));
        _ids = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int k = 0; k < model.TokenValues.Length; k++) _ids[model.TokenValues[k]] = k + 1;
    }

    public GeneratorModel Model { get; }

    public static LoadedGenerator Decode(string payload) => new(Seq2SeqModelFormat.ReadGenerator(PayloadCache<LoadedGenerator>.Bytes(payload)));

    /// <summary>Prefix keys must be 0 (unknown) or one of the K training keys.</summary>
    public void CheckPrefix(int[] prefix, string? column = null)
    {
        for (int i = 0; i < prefix.Length; i++)
        {
            if (prefix[i] > Model.Keys)
                throw new InvalidOperationException(
                    $"Prefix column '{column ?? "(prefix)"}' holds key {prefix[i]} at step {i}; the generator knows keys 0..{Model.Keys} (0 = unknown). Map tokens with the training column's key values.");
        }
    }

    /// <summary>Key ids of token strings; a string that is not one of the training column's key values is an error naming it.</summary>
    public int[] Ids(IReadOnlyList<string> prefix)
    {
        var ids = new int[prefix.Count];
        for (int i = 0; i < prefix.Count; i++)
        {
            if (prefix[i] is null || !_ids.TryGetValue(prefix[i], out ids[i]))
                throw new ArgumentException($"Prefix token '{prefix[i]}' at position {i} is not one of the {Model.Keys} tokens of column '{Model.FeatureColumnName}' the generator was trained on.", nameof(prefix));
        }

        return ids;
    }

    /// <summary>The per-row seed of Transform: the model's seed mixed with the prefix (FNV-1a), so equal rows give equal output.</summary>
    public int RowSeed(int[] prefix)
    {
        uint h = 2166136261u ^ (uint)Model.Seed;
        foreach (int id in prefix) h = (h ^ (uint)id) * 16777619u;
        return (int)(h & 0x7fffffff);
    }

    public List<int> Generate(int[] prefix, int maximumLength, float temperature, int topK, int seed) =>
        _sampler.Value!.Generate(prefix, maximumLength, temperature, topK, seed);
}
