using System.Globalization;
using System.Text;

namespace Microsoft.ML.Recurrent;

/// <summary>
/// Quality of a sequence tagger, from <c>mlContext.Recurrent().EvaluateTagging(...)</c>. Every rate is a fraction in [0, 1].
/// Class tagging fills the token, class and sequence figures (and the span figures when the tags are BIO/IOB2); value
/// tagging fills <see cref="RootMeanSquaredError"/> and <see cref="MeanAbsoluteError"/>. Padding is never counted: every
/// row contributes exactly its own steps.
/// </summary>
public sealed class TaggingMetrics
{
    internal TaggingMetrics()
    {
    }

    /// <summary>Sequences (rows) evaluated.</summary>
    public long SequenceCount { get; internal set; }

    /// <summary>Steps (tokens) evaluated, over all sequences.</summary>
    public long TokenCount { get; internal set; }

    /// <summary>Classes: the fraction of steps whose predicted tag equals the label. Null for value tagging.</summary>
    public double? TokenAccuracy { get; internal set; }

    /// <summary>Classes: the fraction of sequences whose every tag is right. Null for value tagging.</summary>
    public double? SequenceAccuracy { get; internal set; }

    /// <summary>Classes: the label's key values as text, in key order (the order of the per-class lists). Empty for values.</summary>
    public IReadOnlyList<string> ClassNames { get; internal set; } = [];

    /// <summary>Per class: correct predictions of the class / predictions of the class (0 when never predicted).</summary>
    public IReadOnlyList<double> PerClassPrecision { get; internal set; } = [];

    /// <summary>Per class: correct predictions of the class / steps labelled with it (0 when it never occurs).</summary>
    public IReadOnlyList<double> PerClassRecall { get; internal set; } = [];

    /// <summary>Per class: the harmonic mean of precision and recall (0 when both are 0).</summary>
    public IReadOnlyList<double> PerClassF1Score { get; internal set; } = [];

    /// <summary>Per class: steps labelled with the class.</summary>
    public IReadOnlyList<long> PerClassSupport { get; internal set; } = [];

    /// <summary>Classes: the mean F1 over the classes that occur in the labels or the predictions. Null for values.</summary>
    public double? MacroF1Score { get; internal set; }

    /// <summary>Whether the class names are BIO/IOB2 tags ("O", "B-x", "I-x"), detected from the label's key values; the
    /// span figures are filled only then.</summary>
    public bool HasSpans { get; internal set; }

    /// <summary>BIO tags: correct spans / predicted spans, spans read as conlleval reads chunks (a span starts at B-x, or
    /// at I-x after O or after a tag of another type; it must match the label's start, end and type exactly).</summary>
    public double? SpanPrecision { get; internal set; }

    /// <summary>BIO tags: correct spans / labelled spans.</summary>
    public double? SpanRecall { get; internal set; }

    /// <summary>BIO tags: the harmonic mean of <see cref="SpanPrecision"/> and <see cref="SpanRecall"/> (0 when both are 0).</summary>
    public double? SpanF1Score { get; internal set; }

    /// <summary>BIO tags: spans in the labels.</summary>
    public long? LabelSpanCount { get; internal set; }

    /// <summary>BIO tags: spans in the predictions.</summary>
    public long? PredictedSpanCount { get; internal set; }

    /// <summary>Values: the root of the mean squared error per step. Null for class tagging.</summary>
    public double? RootMeanSquaredError { get; internal set; }

    /// <summary>Values: the mean absolute error per step. Null for class tagging.</summary>
    public double? MeanAbsoluteError { get; internal set; }

    /// <summary>A short multi-line summary.</summary>
    public override string ToString()
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendFormat(c, "{0} sequences, {1} tokens", SequenceCount, TokenCount);
        if (TokenAccuracy is double a)
            sb.AppendFormat(c, "; token accuracy {0:F4}, sequence accuracy {1:F4}, macro-F1 {2:F4}", a, SequenceAccuracy, MacroF1Score);
        if (SpanF1Score is double f)
            sb.AppendFormat(c, "; spans P {0:F4} R {1:F4} F1 {2:F4}", SpanPrecision, SpanRecall, f);
        if (RootMeanSquaredError is double r)
            sb.AppendFormat(c, "; RMSE {0:G5}, MAE {1:G5}", r, MeanAbsoluteError);
        return sb.ToString();
    }
}
