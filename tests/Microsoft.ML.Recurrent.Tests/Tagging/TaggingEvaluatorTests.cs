using Microsoft.ML.Recurrent.Tagging;

namespace Microsoft.ML.Recurrent.Tests.Tagging;

/// <summary>Tagging metrics on small cases computed by hand, through the public evaluator and its span reader.</summary>
public class TaggingEvaluatorTests
{
    private sealed class TagPair
    {
        public string[] Gold { get; set; } = [];
        public string[] Guess { get; set; } = [];
    }

    private static readonly string[] Names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"];

    /// <summary>Scores (gold, guess) tag sequences through EvaluateTagging: both columns become keys with the same key values.</summary>
    private static TaggingMetrics Evaluate(params (string[] Gold, string[] Guess)[] rows)
    {
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(rows.Select(r => new TagPair { Gold = r.Gold, Guess = r.Guess }));
        var keys = ml.Data.LoadFromEnumerable(Names.Select(n => new KeyRow { Name = n }));
        var scored = ml.Transforms.Conversion.MapValueToKey("Label", "Gold", keyData: keys)
            .Append(ml.Transforms.Conversion.MapValueToKey("PredictedLabel", "Guess", keyData: keys))
            .Fit(data).Transform(data);
        return ml.Recurrent().EvaluateTagging(scored);
    }

    private sealed class ScalarRow
    {
        public float Label { get; set; }
    }

    private sealed class KeyRow
    {
        public string Name { get; set; } = "";
    }

    [Fact]
    public void Spans_HandComputedCase_PrecisionRecallF1()
    {
        // Gold spans: PER[0,1], LOC[3,3], PER[5,5]               (3)
        // Guess spans: PER[0,1] ✓, LOC[3,4] ✗ (too long), PER[5,5] ✓, LOC[7,7] ✗   (4)
        var m = Evaluate(
            (["B-PER", "I-PER", "O", "B-LOC", "O", "B-PER", "O", "O"],
             ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "B-PER", "O", "B-LOC"]));
        m.HasSpans.Should().BeTrue();
        m.LabelSpanCount.Should().Be(3);
        m.PredictedSpanCount.Should().Be(4);
        m.SpanPrecision.Should().BeApproximately(2.0 / 4, 1e-12);
        m.SpanRecall.Should().BeApproximately(2.0 / 3, 1e-12);
        m.SpanF1Score.Should().BeApproximately(2 * 0.5 * (2.0 / 3) / (0.5 + 2.0 / 3), 1e-12);
        m.TokenAccuracy.Should().BeApproximately(6.0 / 8, 1e-12);
        m.SequenceAccuracy.Should().Be(0);
        // O: labelled at steps 2, 4, 6, 7; predicted at 2 and 6 only, both right → P = 2/2, R = 2/4.
        int o = 0;
        m.PerClassSupport[o].Should().Be(4);
        m.PerClassPrecision[o].Should().Be(1.0);
        m.PerClassRecall[o].Should().Be(0.5);
    }

    [Fact]
    public void Spans_IAfterOOrOtherType_StartsASpanAsConllevalDoes()
    {
        var spans = TaggingEvaluator.Spans(["I-PER", "I-PER", "O", "I-LOC", "I-PER", "B-PER", "I-PER"]);
        spans.Should().Equal(
            new TagSpan(0, 1, "PER"), new TagSpan(3, 3, "LOC"), new TagSpan(4, 4, "PER"), new TagSpan(5, 6, "PER"));
    }

    [Fact]
    public void Spans_GuessStartsWithIInsteadOfB_StillMatchesTheGoldSpan()
    {
        // conlleval: "O I-PER I-PER" has the chunk PER[1,2], equal to gold "O B-PER I-PER".
        var m = Evaluate((["O", "B-PER", "I-PER"], ["O", "I-PER", "I-PER"]));
        m.SpanF1Score.Should().Be(1.0);
        m.TokenAccuracy.Should().BeApproximately(2.0 / 3, 1e-12);
    }

    [Fact]
    public void Classes_TwoSequences_MacroF1AndSequenceAccuracy()
    {
        var m = Evaluate(
            (["O", "B-PER"], ["O", "B-PER"]),
            (["B-LOC", "O", "O"], ["O", "O", "O"]));
        m.SequenceAccuracy.Should().Be(0.5);
        m.TokenAccuracy.Should().BeApproximately(4.0 / 5, 1e-12);
        // O: P = 3/4, R = 1 → F1 = 6/7; B-PER: 1; B-LOC: P 0 (never predicted), R 0 → 0; I-PER, I-LOC absent: not counted.
        m.MacroF1Score.Should().BeApproximately((6.0 / 7 + 1 + 0) / 3, 1e-12);
        m.SpanPrecision.Should().Be(1.0);
        m.SpanRecall.Should().Be(0.5);
    }

    [Fact]
    public void IsBio_DetectsTagSetsOnly()
    {
        TaggingEvaluator.IsBio(["O", "B-PER", "I-PER"]).Should().BeTrue();
        TaggingEvaluator.IsBio(["O", "I-PER"]).Should().BeFalse("no B- tag");
        TaggingEvaluator.IsBio(["NOUN", "VERB"]).Should().BeFalse();
        TaggingEvaluator.IsBio(["O", "B-", "I-X"]).Should().BeFalse("empty type");
    }

    [Fact]
    public void Evaluate_LengthMismatch_ThrowsNamingTheRow()
    {
        var act = () => Evaluate((["O"], ["O"]), (["O", "B-PER"], ["O"]));
        act.Should().Throw<InvalidOperationException>().WithMessage("Row 1: label column 'Label' has 2 tags but predicted label column 'PredictedLabel' has 1.");
    }

    [Fact]
    public void Evaluate_ScalarLabel_ThrowsNamingTheColumn()
    {
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(new[] { new ScalarRow { Label = 1f } });
        var act = () => ml.Recurrent().EvaluateTagging(data);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*Label column 'Label' has the wrong type: expected a vector of keys (classes) or of Single (values), found Single*");
    }
}
