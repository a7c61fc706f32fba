namespace Microsoft.ML.Recurrent.Onnx;

/// <summary>Activation applied to the head's raw outputs to produce the optional "probability" output.</summary>
internal enum OnnxOutputActivation
{
    /// <summary>Only "score" (raw head outputs) is exported.</summary>
    None = 0,
    /// <summary>"probability" = Sigmoid(score), element-wise (binary classification).</summary>
    Sigmoid = 1,
    /// <summary>"probability" = Softmax(score) over the last axis, the O outputs (multiclass classification).</summary>
    Softmax = 2,
}

/// <summary>Options of <see cref="OnnxExporter.Export"/>.</summary>
internal sealed class OnnxExportOptions
{
    /// <summary>Whether to add a "probability" output next to "score", and which activation computes it.</summary>
    public OnnxOutputActivation OutputActivation { get; init; } = OnnxOutputActivation.None;

    /// <summary>Name of the graph input: features (float [batch, T, F]) or token ids (int64 [batch, T]).</summary>
    public string InputName { get; init; } = "features";

    /// <summary>Name of the raw head output.</summary>
    public string ScoreName { get; init; } = "score";

    /// <summary>Name of the activated output (only with an <see cref="OutputActivation"/> other than None).</summary>
    public string ProbabilityName { get; init; } = "probability";

    /// <summary>Optional text stored as the model's doc_string.</summary>
    public string? DocString { get; init; }

    /// <summary>Default options: raw scores only.</summary>
    public static OnnxExportOptions Default { get; } = new();
}
