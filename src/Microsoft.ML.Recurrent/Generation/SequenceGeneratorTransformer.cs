using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Seq2Seq;

namespace Microsoft.ML.Recurrent;

/// <summary>
/// A fitted sequence generator: continues the prefix column of each row into the output key vector column (the training
/// column's key values, so <c>MapKeyToValue</c> gives tokens), and generates from code with <c>Generate</c>.
/// Saves and loads as an ML.NET model (the loaded chain generates the same tokens for the same rows). A generator trained
/// on a vector of Single (next-value generation) reads a Single vector prefix column, writes a variable-length Single
/// vector and generates from code with <see cref="GenerateValues(float[], int, float, int)"/>.
/// </summary>
public sealed class SequenceGeneratorTransformer : ITransformer
{
    private readonly ITransformer _chain;
    private readonly LoadedGenerator _loaded;
    private readonly LoadedValueGenerator? _values;
    private readonly string _prefixColumn;

    internal SequenceGeneratorTransformer(ITransformer chain, LoadedGenerator loaded, IReadOnlyList<RecurrentEpochReport> history, string prefixColumn)
    {
        _chain = chain;
        _loaded = loaded;
        TrainingHistory = history;
        _prefixColumn = prefixColumn;
    }

    internal SequenceGeneratorTransformer(ITransformer chain, LoadedValueGenerator values, IReadOnlyList<RecurrentEpochReport> history, string prefixColumn)
        : this(chain, (LoadedGenerator)null!, history, prefixColumn)
    {
        _values = values;
    }

    /// <summary>
    /// Values per step F of a next-value generator (trained on a vector of Single); 0 for a token generator.
    /// </summary>
    public int FeaturesPerStep => _values?.FeaturesPerStep ?? 0;

    /// <summary>
    /// Generates a continuation of <paramref name="prefix"/> for a next-value generator (named apart from the token
    /// <c>Generate</c> so that <c>Generate([], …)</c> stays unambiguous) (trained on a vector of Single):
    /// at most <paramref name="maximumLength"/> steps of <see cref="FeaturesPerStep"/> values, fewer when the learned end
    /// probability exceeds 0.5. Each step is the predicted next value plus Gaussian noise of standard deviation
    /// <paramref name="temperature"/> × the training residual deviation (a tiny temperature gives the deterministic mean).
    /// Returns the continuation only; the same arguments give the same values.
    /// </summary>
    /// <param name="prefix">Values to continue (a multiple of <see cref="FeaturesPerStep"/> finite values; may be empty).</param>
    /// <param name="maximumLength">Most steps to generate (≥ 1).</param>
    /// <param name="temperature">Noise scale (&gt; 0) relative to the training residual deviation.</param>
    /// <param name="seed">Seed of the noise.</param>
    public float[] GenerateValues(float[] prefix, int maximumLength, float temperature, int seed)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        if (_values is null)
            throw new InvalidOperationException($"This generator was trained on tokens (column '{_loaded.FeatureColumnName}'): use the overload that takes tokens.");
        if (maximumLength < 1) throw new ArgumentOutOfRangeException(nameof(maximumLength), maximumLength, $"{nameof(maximumLength)} must be ≥ 1; it was {maximumLength}.");
        if (!(temperature > 0f) || !float.IsFinite(temperature))
            throw new ArgumentOutOfRangeException(nameof(temperature), temperature, $"{nameof(temperature)} must be a finite number > 0; it was {temperature}.");
        try
        {
            _values.CheckPrefix(prefix, null);
        }
        catch (InvalidOperationException e)
        {
            throw new ArgumentException(e.Message, nameof(prefix), e);
        }

        return _values.Generate(prefix, maximumLength, temperature, seed);
    }

    /// <summary>One report per training epoch (mean next-token cross-entropy, the end token included).</summary>
    public IReadOnlyList<RecurrentEpochReport> TrainingHistory { get; }

    /// <summary>The tokens the generator knows: the training column's key values, key k ↔ item k − 1.</summary>
    public IReadOnlyList<string> Tokens => _values is null ? _loaded.TokenValues : [];

    /// <summary>Values of the conditioning vector the generator reads (0 when it was trained without a condition column).</summary>
    public int ConditionSize => _values is null ? _loaded.ConditionSize : 0;

    /// <summary>
    /// Samples a continuation of <paramref name="prefix"/> (tokens of the training column; may be empty): at most
    /// <paramref name="maximumLength"/> generated tokens, fewer when the model emits its end token. Returns the continuation
    /// only — no prefix, no end token. The options' TopK applies; the same arguments give the same tokens.
    /// </summary>
    /// <param name="prefix">Tokens to continue; each must be one of <see cref="Tokens"/>.</param>
    /// <param name="maximumLength">Most tokens to generate (≥ 1).</param>
    /// <param name="temperature">Softmax temperature (&gt; 0): below 1 sharper, above 1 more varied.</param>
    /// <param name="seed">Seed of the draws.</param>
    public IReadOnlyList<string> Generate(IReadOnlyList<string> prefix, int maximumLength, float temperature, int seed)
    {
        ThrowIfValues();
        if (_loaded.ConditionSize > 0)
            throw new InvalidOperationException($"This generator was trained on condition column '{_loaded.ConditionColumnName}': use the overload that takes the condition vector.");
        return GenerateCore(prefix, default, maximumLength, temperature, seed);
    }

    /// <summary>
    /// Samples a continuation of <paramref name="prefix"/> for a generator trained with a condition column, given the
    /// condition vector (<see cref="ConditionSize"/> finite values). Otherwise as <see cref="Generate(IReadOnlyList{string}, int, float, int)"/>.
    /// </summary>
    /// <param name="prefix">Tokens to continue; each must be one of <see cref="Tokens"/>.</param>
    /// <param name="condition">The conditioning vector.</param>
    /// <param name="maximumLength">Most tokens to generate (≥ 1).</param>
    /// <param name="temperature">Softmax temperature (&gt; 0).</param>
    /// <param name="seed">Seed of the draws.</param>
    public IReadOnlyList<string> Generate(IReadOnlyList<string> prefix, IReadOnlyList<float> condition, int maximumLength, float temperature, int seed)
    {
        ArgumentNullException.ThrowIfNull(condition);
        ThrowIfValues();
        if (_loaded.ConditionSize == 0)
            throw new InvalidOperationException("This generator was trained without a condition column: use the overload without a condition.");
        var values = condition.ToArray();
        try
        {
            _loaded.CheckCondition(values);
        }
        catch (InvalidOperationException e)
        {
            throw new ArgumentException(e.Message, nameof(condition), e);
        }

        return GenerateCore(prefix, values, maximumLength, temperature, seed);
    }

    private void ThrowIfValues()
    {
        if (_values is not null)
            throw new InvalidOperationException($"This generator was trained on values (column '{_values.Model.FeatureColumnName}', a vector of Single): use GenerateValues(float[] prefix, …).");
    }

    private IReadOnlyList<string> GenerateCore(IReadOnlyList<string> prefix, float[]? condition, int maximumLength, float temperature, int seed)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        if (maximumLength < 1) throw new ArgumentOutOfRangeException(nameof(maximumLength), maximumLength, $"{nameof(maximumLength)} must be ≥ 1; it was {maximumLength}.");
        if (!(temperature > 0f) || !float.IsFinite(temperature))
            throw new ArgumentOutOfRangeException(nameof(temperature), temperature, $"{nameof(temperature)} must be a finite number > 0; it was {temperature}.");
        var ids = _loaded.Ids(prefix);
        var generated = _loaded.Generate(ids, condition, maximumLength, temperature, _loaded.TopK, seed);
        return generated.Select(k => _loaded.TokenValues[k - 1]).ToArray();
    }

    /// <inheritdoc/>
    public bool IsRowToRowMapper => _chain.IsRowToRowMapper;

    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        CheckPrefixColumn(inputSchema);
        return _chain.GetOutputSchema(inputSchema);
    }

    /// <inheritdoc/>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema)
    {
        CheckPrefixColumn(inputSchema);
        return _chain.GetRowToRowMapper(inputSchema);
    }

    /// <inheritdoc/>
    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        CheckPrefixColumn(input.Schema);
        return _chain.Transform(input);
    }

    private void CheckPrefixColumn(DataViewSchema schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        if (_values is not null)
        {
            var prefix = schema.GetColumnOrNull(_prefixColumn);
            if (prefix is null || prefix.Value.Type is not VectorDataViewType { ItemType: var single } || single != NumberDataViewType.Single)
                throw new ArgumentOutOfRangeException(nameof(schema),
                    $"Prefix column '{_prefixColumn}' must be a vector of Single ({FeaturesPerStep} values per step); found {(prefix is null ? "no such column" : prefix.Value.Type.ToString())}.");
            return;
        }

        TokenColumns.CheckTokens(schema, _prefixColumn, "Prefix", nameof(schema));
        var key = (KeyDataViewType)((VectorDataViewType)schema[_prefixColumn].Type).ItemType;
        if (key.Count > (ulong)_loaded.Keys)
            throw new ArgumentOutOfRangeException(nameof(schema),
                $"Prefix column '{_prefixColumn}' has {key.Count} key values but the generator knows {_loaded.Keys} (column '{_loaded.FeatureColumnName}'); map the prefix with the training column's key values.");
        if (_loaded.ConditionColumnName is string condition)
        {
            var col = schema.GetColumnOrNull(condition);
            if (col is null || col.Value.Type is not VectorDataViewType { ItemType: var item } || item != NumberDataViewType.Single)
                throw new ArgumentOutOfRangeException(nameof(schema),
                    $"Condition column '{condition}' must be a vector of Single in the input; found {(col is null ? "no such column" : col.Value.Type.ToString())}.");
        }
    }

    /// <summary>Saves the inner chain of stock transformers (ML.NET calls this from <c>mlContext.Model.Save</c>).</summary>
    void ICanSaveModel.Save(ModelSaveContext ctx) => _chain.Save(ctx);
}
