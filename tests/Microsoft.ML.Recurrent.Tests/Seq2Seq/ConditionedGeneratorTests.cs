using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Seq2Seq;
using Microsoft.ML.Recurrent.Tests.Serialization;

namespace Microsoft.ML.Recurrent.Tests.Seq2Seq;

/// <summary>Generation conditioned on a vector column: the condition steers the output; sampling at a tiny temperature is greedy decoding.</summary>
public class ConditionedGeneratorTests
{
    [Theory]
    [InlineData("Lstm")]
    [InlineData("Gru")]
    public void Sample_TinyTemperature_EqualsGreedyDecode(string cell)
    {
        var spec = new Seq2SeqSpec(Enum.Parse<CellKind>(cell), 3, 0, 0, 6, 1, false, 0f, 4, 3, AttentionKind.None);
        var (enc, dec, head) = Seq2SeqHarness.RandomParameters(spec, 21, scale: 0.9f);
        head[new Seq2SeqHeadLayout(spec).OutBias.Offset] = -1.5f;
        var net = new Seq2SeqNetwork(spec, enc, dec, head, training: false);
        var random = new Random(5);
        for (int i = 0; i < 6; i++)
        {
            var condition = Enumerable.Range(0, 3).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
            var batch = new SequenceBatch(1, 1, 3, 0);
            batch.FillSingle(condition);
            var greedy = net.Decode(batch, 1, 10, greedy: true)[0].Tokens;
            net.Sample(condition, [], 10, 1e-4f, 0, seed: i).Should().Equal(greedy, $"condition {i}");
        }
    }

    [Fact]
    public void Sample_TopKOne_IsArgmaxWhateverTheSeed_TopKTwoDrawsOnlyTheTwoLargest()
    {
        var logits = new float[] { 0.1f, 2f, -1f, 2f, 1.5f };
        var scratch = new float[logits.Length];
        for (int seed = 0; seed < 50; seed++)
            NextTokenSampler.Sample(logits, scratch, 5f, 1, new Random(seed)).Should().Be(1, "the first of the tied largest logits");
        var drawn = Enumerable.Range(0, 400).Select(seed => NextTokenSampler.Sample(logits, scratch, 1f, 2, new Random(seed))).ToHashSet();
        drawn.Should().BeEquivalentTo(new[] { 1, 3 });
        var all = Enumerable.Range(0, 400).Select(seed => NextTokenSampler.Sample(logits, scratch, 1f, 0, new Random(seed))).ToHashSet();
        all.Should().BeEquivalentTo(new[] { 0, 1, 2, 3, 4 });
    }

    private sealed class Row
    {
        [VectorType(2)]
        public float[] Condition { get; set; } = [];

        public string Text { get; set; } = "";

        public string PrefixText { get; set; } = "";
    }

    private sealed class KeyRow
    {
        public string Value { get; set; } = "";
    }

    private static List<Row> Rows(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ =>
        {
            bool a = random.Next(2) == 0;
            return new Row { Condition = a ? [1f, 0f] : [0f, 1f], Text = string.Join(' ', Enumerable.Repeat(a ? "a" : "b", random.Next(1, 5))), PrefixText = "" };
        }).ToList();
    }

    [Fact]
    public void Fit_ConditionColumn_ConditionSteersTheTokens_TransformSurvivesSaveLoad()
    {
        var ml = new MLContext(seed: 4);
        var train = ml.Data.LoadFromEnumerable(Rows(300, 1));
        var featurizer = ml.Transforms.Text.TokenizeIntoWords("Words", nameof(Row.Text))
            .Append(ml.Transforms.Conversion.MapValueToKey("Features", "Words")).Fit(train);
        var model = ml.Recurrent().Trainers.SequenceGenerator(new SequenceGeneratorTrainer.Options
        {
            ConditionColumnName = nameof(Row.Condition),
            HiddenSize = 12,
            EmbeddingSize = 4,
            MaximumNumberOfEpochs = 20,
            MaximumOutputLength = 8,
            Seed = 6,
        }).Fit(featurizer.Transform(train));
        model.ConditionSize.Should().Be(2);

        var asA = Enumerable.Range(0, 20).Select(s => model.Generate([], [1f, 0f], 8, 1f, s)).ToList();
        var asB = Enumerable.Range(0, 20).Select(s => model.Generate([], [0f, 1f], 8, 1f, s)).ToList();
        asA.Count(g => g.Count > 0 && g.All(t => t == "a")).Should().BeGreaterThanOrEqualTo(18);
        asB.Count(g => g.Count > 0 && g.All(t => t == "b")).Should().BeGreaterThanOrEqualTo(18);
        ((Action)(() => model.Generate([], 8, 1f, 1))).Should().Throw<InvalidOperationException>().WithMessage("*condition column 'Condition'*");
        ((Action)(() => model.Generate([], [1f], 8, 1f, 1))).Should().Throw<ArgumentException>().WithMessage("*has 1 values; the generator was trained on 2*");

        // Transform: the prefix column (empty here) and the condition column of each row.
        var test = ml.Data.LoadFromEnumerable(Rows(12, 2));
        var keys = ml.Data.LoadFromEnumerable(model.Tokens.Select(t => new KeyRow { Value = t }));
        var input = ml.Transforms.Text.TokenizeIntoWords("PrefixWords", nameof(Row.PrefixText))
            .Append(ml.Transforms.Conversion.MapValueToKey("Prefix", "PrefixWords", keyData: keys)).Fit(test).Transform(test);
        var output = model.Transform(input);
        var generated = ml.Transforms.Conversion.MapKeyToValue("Tokens", "Generated").Fit(output).Transform(output).GetColumn<string[]>("Tokens").ToArray();
        var conditions = output.GetColumn<float[]>(nameof(Row.Condition)).ToArray();
        int steered = Enumerable.Range(0, generated.Length).Count(i => generated[i].Length > 0 && generated[i].All(t => t == (conditions[i][0] == 1f ? "a" : "b")));
        steered.Should().BeGreaterThanOrEqualTo(11);

        using var dir = new TempDirectory();
        ml.Model.Save(model, input.Schema, dir.File("conditioned.zip"));
        var loaded = new MLContext(seed: 5).Model.Load(dir.File("conditioned.zip"), out _);
        loaded.Transform(input).GetColumn<uint[]>("Generated").Should().BeEquivalentTo(output.GetColumn<uint[]>("Generated"), o => o.WithStrictOrdering());
    }
}
