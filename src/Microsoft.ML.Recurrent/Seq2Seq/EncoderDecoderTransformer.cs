using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Seq2Seq;

namespace Microsoft.ML.Recurrent;

/// <summary>
/// A fitted encoder–decoder: adds the decoded tokens (a key vector with the target's key values, so <c>MapKeyToValue</c>
/// gives the tokens back) and, when asked for, the attention weights. Works with <c>Transform</c>,
/// <c>CreatePredictionEngine</c> and <c>mlContext.Model.Save</c>/<c>Load</c>.
/// </summary>
/// <remarks>
/// A thin wrapper over a chain of stock ML.NET transformers carrying the model as text, like the other recurrent
/// transformers: <c>mlContext.Model.Load</c> returns that chain (not this type) with identical outputs, in any process that
/// references this assembly. There is no ONNX export (see <see cref="EncoderDecoderTrainer"/>).
/// </remarks>
public sealed class EncoderDecoderTransformer : ITransformer
{
    private readonly ITransformer _chain;
    private readonly Seq2SeqModel _model;
    private LoadedSeq2Seq? _loaded;

    internal EncoderDecoderTransformer(ITransformer chain, Seq2SeqModel model, IReadOnlyList<RecurrentEpochReport> history)
    {
        _chain = chain;
        _model = model;
        TrainingHistory = history;
    }

    /// <summary>One report per training epoch (mean cross-entropy per target token, end token included).</summary>
    public IReadOnlyList<RecurrentEpochReport> TrainingHistory { get; }

    /// <summary>The output tokens the model can emit: the target column's key values, key k ↔ item k − 1.</summary>
    public IReadOnlyList<string> TargetTokens => _model.TargetValues;

    internal Seq2SeqModel Model => _model;

    internal LoadedSeq2Seq Loaded => _loaded ??= new LoadedSeq2Seq(_model);

    /// <inheritdoc/>
    public bool IsRowToRowMapper => _chain.IsRowToRowMapper;

    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => _chain.GetOutputSchema(inputSchema);

    /// <inheritdoc/>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => _chain.GetRowToRowMapper(inputSchema);

    /// <inheritdoc/>
    public IDataView Transform(IDataView input) => _chain.Transform(input);

    /// <summary>Saves the inner chain of stock transformers (ML.NET calls this from <c>mlContext.Model.Save</c>).</summary>
    void ICanSaveModel.Save(ModelSaveContext ctx) => _chain.Save(ctx);
}
