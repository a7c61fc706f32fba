using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Seq2Seq;
using Microsoft.ML.Recurrent.Tests.Helpers;

namespace Microsoft.ML.Recurrent.Tests.Seq2Seq;

/// <summary>
/// The encoder–decoder engine against the double-precision <see cref="Seq2SeqReference"/>: forward values, every
/// parameter's gradient (encoder with and without a token embedding, the decoder's embedding and cell, both attentions and
/// the output projection) against central differences, source padding, and decoding (beam width 1 = greedy; the T = 1
/// decoder steps agree with the whole-sequence teacher-forced pass).
/// </summary>
public class Seq2SeqEngineTests
{
    private const double Relative = 5e-4, Absolute = 1e-5;

    public static IEnumerable<object[]> Configurations()
    {
        foreach (var attention in new[] { "None", "Additive", "Dot" })
        {
            yield return [attention, "Lstm", 2, true, true];   // token source, stacked bidirectional LSTM
            yield return [attention, "Gru", 1, false, false];  // dense source, one GRU layer
        }
        yield return ["Dot", "SimpleRnn", 2, false, true];
    }

    internal static Seq2SeqSpec Spec(string attention, string cell, int layers, bool bidirectional, bool tokens, int hidden = 3, int keys = 4) =>
        new(Enum.Parse<CellKind>(cell), tokens ? 1 : 2, tokens ? 6 : 0, tokens ? 2 : 0, hidden, layers, bidirectional, 0f, keys, 2,
            Enum.Parse<AttentionKind>(attention));

    internal static List<Pair> Pairs(Seq2SeqSpec spec, int seed, int count = 3)
    {
        var random = new Random(seed);
        int[] srcLens = [3, 5, 2, 4, 1, 6];
        int[] tgtLens = [2, 1, 3, 4, 2, 1];
        var pairs = new List<Pair>();
        for (int i = 0; i < count; i++)
        {
            int ts = srcLens[i % srcLens.Length], F = spec.Encoder.InputSize;
            var src = new float[ts * F];
            for (int k = 0; k < src.Length; k++)
                src[k] = spec.SourceVocabulary > 0 ? random.Next(0, spec.SourceVocabulary) : (float)(random.NextDouble() * 2 - 1);
            var tgt = Enumerable.Range(0, tgtLens[i % tgtLens.Length]).Select(_ => random.Next(1, spec.TargetKeys + 1)).ToArray();
            pairs.Add(new Pair(src, tgt));
        }

        if (spec.SourceVocabulary > 0) pairs[0].Source[1] = 0; // unknown token: zero embedding, no gradient
        return pairs;
    }

    [Theory]
    [MemberData(nameof(Configurations))]
    public void Forward_AnyConfiguration_LogitsAttentionAndLossMatchReference(string attention, string cell, int layers, bool bidirectional, bool tokens)
    {
        var spec = Spec(attention, cell, layers, bidirectional, tokens);
        var pairs = Pairs(spec, 11);
        var (enc, dec, head) = Seq2SeqHarness.RandomParameters(spec, 5);
        var net = new Seq2SeqNetwork(spec, enc, dec, head, training: true);
        var (src, tgt) = Seq2SeqHarness.Batches(spec, pairs);
        float loss = net.Forward(src, tgt);
        var (refLogits, refAttention) = Seq2SeqReference.Forward(spec, D(enc), D(dec), D(head), pairs);
        double refLoss = Seq2SeqReference.Loss(spec, D(enc), D(dec), D(head), pairs);
        loss.Should().BeApproximately((float)refLoss, 1e-5f);
        int B = pairs.Count, C = spec.Classes, Ts = src.MaxLength;
        for (int r = 0; r < B; r++)
        {
            int p = tgt.Order[r], len = tgt.Lengths[r], srcLen = pairs[p].Source.Length / spec.Encoder.InputSize;
            for (int t = 0; t < len; t++)
            {
                for (int c = 0; c < C; c++)
                    ((double)net.Logits[(t * B + r) * C + c]).Should().BeApproximately(refLogits[p][t * C + c], 1e-5, $"logit of pair {p} step {t} class {c}");
                if (spec.Attention == AttentionKind.None) continue;
                for (int s = 0; s < Ts; s++)
                {
                    double expected = s < srcLen ? refAttention[p][t * srcLen + s] : 0;
                    ((double)net.Attention[(t * B + r) * Ts + s]).Should().BeApproximately(expected, 1e-6, $"attention of pair {p} step {t} source step {s}");
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Configurations))]
    public void Backward_AnyConfiguration_EveryParameterGradientMatchesFiniteDifferences(string attention, string cell, int layers, bool bidirectional, bool tokens)
    {
        var spec = Spec(attention, cell, layers, bidirectional, tokens);
        var pairs = Pairs(spec, 23);
        var (enc, dec, head) = Seq2SeqHarness.RandomParameters(spec, 7);
        var net = new Seq2SeqNetwork(spec, enc, dec, head, training: true);
        var (src, tgt) = Seq2SeqHarness.Batches(spec, pairs);
        net.ZeroGradients();
        net.Forward(src, tgt, training: true);
        net.Backward();
        double[] e = D(enc), d = D(dec), h = D(head);
        double Loss() => Seq2SeqReference.Loss(spec, e, d, h, pairs);
        var encLayout = new ParameterLayout(spec.Encoder);
        var decLayout = new ParameterLayout(spec.Decoder);
        // Embedding row 0 (padding/unknown) is a fixed zero vector: the engine never trains it.
        GradientAssert.Close("encoder gradient", D(net.Encoder.Gradients), FiniteDifference.Gradient(Loss, e), Relative, Absolute,
            i => FiniteDifference.NameOf(encLayout, i), i => !(spec.SourceVocabulary > 0 && i < spec.SourceEmbedding));
        GradientAssert.Close("decoder gradient", D(net.Decoder.Gradients), FiniteDifference.Gradient(Loss, d), Relative, Absolute,
            i => FiniteDifference.NameOf(decLayout, i), i => i >= spec.TargetEmbedding);
        GradientAssert.Close("attention and output gradient", D(net.HeadGradients), FiniteDifference.Gradient(Loss, h), Relative, Absolute);
    }

    [Theory]
    [InlineData("Additive")]
    [InlineData("Dot")]
    public void Forward_PaddedSourceBatch_EqualsEachPairAlone(string attention)
    {
        var spec = Spec(attention, "Lstm", 2, true, true);
        var pairs = Pairs(spec, 31, count: 5);
        var (enc, dec, head) = Seq2SeqHarness.RandomParameters(spec, 3);
        var net = new Seq2SeqNetwork(spec, enc, dec, head, training: true);
        var (src, tgt) = Seq2SeqHarness.Batches(spec, pairs);
        net.Forward(src, tgt);
        int B = pairs.Count, C = spec.Classes, Ts = src.MaxLength;
        var together = net.Logits.ToArray();
        var attentionTogether = net.Attention.ToArray();
        var rows = Enumerable.Range(0, B).ToDictionary(r => tgt.Order[r]);
        for (int p = 0; p < B; p++)
        {
            var alone = new Seq2SeqNetwork(spec, enc, dec, head, training: true);
            var (s1, t1) = Seq2SeqHarness.Batches(spec, [pairs[p]]);
            alone.Forward(s1, t1);
            int r = rows[p], srcLen = s1.MaxLength;
            for (int t = 0; t < t1.MaxLength; t++)
            {
                for (int c = 0; c < C; c++)
                    together[(t * B + r) * C + c].Should().BeApproximately(alone.Logits[t * C + c], 1e-6f);
                for (int s = 0; s < Ts; s++)
                {
                    float expected = s < srcLen ? alone.Attention[t * srcLen + s] : 0f;
                    attentionTogether[(t * B + r) * Ts + s].Should().BeApproximately(expected, 1e-7f, "padding steps get exactly no weight");
                }
            }
        }
    }

    [Theory]
    [InlineData("Additive", "Lstm")]
    [InlineData("Dot", "Gru")]
    [InlineData("None", "Lstm")]
    public void Decode_BeamWidthOne_EqualsGreedy(string attention, string cell)
    {
        var spec = Spec(attention, cell, 2, true, true, hidden: 8, keys: 5);
        var pairs = Pairs(spec, 41, count: 6);
        var (enc, dec, head) = Seq2SeqHarness.RandomParameters(spec, 9, scale: 0.8f);
        // A positive end-token bias would stop everything at once; make it negative so the sequences have some length.
        head[new Seq2SeqHeadLayout(spec).OutBias.Offset] = -1.5f;
        var net = new Seq2SeqNetwork(spec, enc, dec, head, training: false);
        var (src, _) = Seq2SeqHarness.Batches(spec, pairs);
        var greedy = net.Decode(src, 1, 12, greedy: true);
        var beam = net.Decode(src, 1, 12);
        greedy.Sum(g => g.Tokens.Length).Should().BeGreaterThan(pairs.Count, "the test needs sequences longer than one token");
        for (int i = 0; i < pairs.Count; i++)
        {
            beam[i].Tokens.Should().Equal(greedy[i].Tokens, $"pair {i}");
            beam[i].Attention.Should().Equal(greedy[i].Attention);
            beam[i].Score.Should().Be(greedy[i].Score);
        }

        // A wider beam never finds a worse length-normalised score than greedy among finished sequences.
        var wide = net.Decode(src, 4, 12);
        for (int i = 0; i < pairs.Count; i++)
        {
            if (greedy[i].Tokens.Length == 12 || wide[i].Tokens.Length == 12) continue; // ran out of steps
            (wide[i].Score / (wide[i].Tokens.Length + 1)).Should().BeGreaterThanOrEqualTo(greedy[i].Score / (greedy[i].Tokens.Length + 1) - 1e-6f, $"pair {i}");
        }
    }

    [Theory]
    [InlineData("Additive")]
    [InlineData("Dot")]
    public void Decode_Greedy_StepsAgreeWithTeacherForcedPass(string attention)
    {
        var spec = Spec(attention, "Lstm", 1, true, true, hidden: 8, keys: 5);
        var pairs = Pairs(spec, 43, count: 4);
        var (enc, dec, head) = Seq2SeqHarness.RandomParameters(spec, 13, scale: 0.8f);
        head[new Seq2SeqHeadLayout(spec).OutBias.Offset] = -1.5f;
        var net = new Seq2SeqNetwork(spec, enc, dec, head, training: false);
        var (src, _) = Seq2SeqHarness.Batches(spec, pairs);
        var decoded = net.Decode(src, 1, 10, greedy: true);
        for (int p = 0; p < pairs.Count; p++)
        {
            if (decoded[p].Tokens.Length == 0) continue;
            // Teacher-force the decoded tokens: the argmax of every step must be the next decoded token.
            var forced = new Pair(pairs[p].Source, decoded[p].Tokens);
            var check = new Seq2SeqNetwork(spec, enc, dec, head, training: true);
            var (s1, t1) = Seq2SeqHarness.Batches(spec, [forced]);
            check.Forward(s1, t1);
            int C = spec.Classes, srcLen = s1.MaxLength;
            for (int t = 0; t < decoded[p].Tokens.Length; t++)
            {
                var row = check.Logits.Slice(t * C, C).ToArray();
                Array.IndexOf(row, row.Max()).Should().Be(decoded[p].Tokens[t], $"pair {p} step {t}");
                for (int s = 0; s < srcLen; s++)
                    decoded[p].Attention[t * srcLen + s].Should().BeApproximately(check.Attention[t * srcLen + s], 1e-5f);
            }
        }
    }

    [Fact]
    public void Decode_MoreSteps_AllocatesOnlyTheLongerResults()
    {
        var spec = Spec("Additive", "Lstm", 1, true, true, hidden: 8, keys: 5);
        var pairs = Pairs(spec, 47, count: 4);
        var (enc, dec, head) = Seq2SeqHarness.RandomParameters(spec, 17);
        head[new Seq2SeqHeadLayout(spec).OutBias.Offset] = -1e4f; // never ends: every decode runs all its steps
        var net = new Seq2SeqNetwork(spec, enc, dec, head, training: false);
        var (src, _) = Seq2SeqHarness.Batches(spec, pairs);
        foreach (bool greedy in new[] { true, false })
        {
            int width = greedy ? 1 : 3;
            net.Decode(src, width, 25, greedy); // sizes every workspace
            long Allocated(int steps)
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                var r = net.Decode(src, width, steps, greedy);
                long bytes = GC.GetAllocatedBytesForCurrentThread() - before;
                r.Should().OnlyContain(d => d.Tokens.Length == steps);
                return bytes;
            }

            long shortRun = Allocated(5), longRun = Allocated(25);
            long longerResults = pairs.Sum(p => 20L * 4 * (1 + p.Source.Length));
            (longRun - shortRun).Should().BeLessThanOrEqualTo(longerResults + 256, $"the 20 extra decoder steps (greedy: {greedy}) allocate nothing but the longer results");
        }
    }

    private static double[] D(float[] x) => x.Select(v => (double)v).ToArray();
}
