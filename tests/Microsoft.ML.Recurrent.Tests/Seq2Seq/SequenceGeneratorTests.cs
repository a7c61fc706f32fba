using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Tests.Serialization;

namespace Microsoft.ML.Recurrent.Tests.Seq2Seq;

/// <summary>A generator trained once on the grammar aⁿ bⁿ (n = 1…6): strings "a a b b".</summary>
public sealed class GrammarGeneratorFixture
{
    public sealed class Row
    {
        public string Text { get; set; } = "";
    }

    public sealed class PrefixRow
    {
        public string Text { get; set; } = "";
        public string PrefixText { get; set; } = "";
    }

    public static bool Valid(IReadOnlyList<string> tokens)
    {
        int n = tokens.Count / 2;
        return tokens.Count > 0 && tokens.Count % 2 == 0 && tokens.Take(n).All(t => t == "a") && tokens.Skip(n).All(t => t == "b");
    }

    public GrammarGeneratorFixture()
    {
        Ml = new MLContext(seed: 2);
        var random = new Random(4);
        var rows = Enumerable.Range(0, 300).Select(_ =>
        {
            int n = random.Next(1, 7);
            return new Row { Text = string.Join(' ', Enumerable.Repeat("a", n).Concat(Enumerable.Repeat("b", n))) };
        }).ToList();
        var data = Ml.Data.LoadFromEnumerable(rows);
        Featurizer = Ml.Transforms.Text.TokenizeIntoWords("Words", "Text").Append(Ml.Transforms.Conversion.MapValueToKey("Features", "Words")).Fit(data);
        Model = Ml.Recurrent().Trainers.SequenceGenerator(new SequenceGeneratorTrainer.Options
        {
            HiddenSize = 24,
            EmbeddingSize = 8,
            MaximumNumberOfEpochs = 30,
            MaximumOutputLength = 20,
            Temperature = 0.7f,
            Seed = 3,
        }).Fit(Featurizer.Transform(data));
    }

    public MLContext Ml { get; }
    public ITransformer Featurizer { get; }
    public SequenceGeneratorTransformer Model { get; }

    /// <summary>Prefix rows through a featurizer that maps "PrefixText" with the training column's key values into "Prefix".</summary>
    public IDataView Prefixes(params string[] prefixes)
    {
        var rows = Ml.Data.LoadFromEnumerable(prefixes.Select(p => new PrefixRow { Text = "a b", PrefixText = p }));
        var withFeatures = Featurizer.Transform(rows);
        var keys = Ml.Data.LoadFromEnumerable(Model.Tokens.Select(t => new Row { Text = t }));
        return Ml.Transforms.Text.TokenizeIntoWords("PrefixWords", "PrefixText")
            .Append(Ml.Transforms.Conversion.MapValueToKey("Prefix", "PrefixWords", keyData: keys)).Fit(withFeatures).Transform(withFeatures);
    }
}

/// <summary>Generation: a small grammar learned, seeds reproduce, Transform and save/load give the same continuations.</summary>
public class SequenceGeneratorTests : IClassFixture<GrammarGeneratorFixture>
{
    private readonly GrammarGeneratorFixture _f;

    public SequenceGeneratorTests(GrammarGeneratorFixture f) => _f = f;

    [Fact]
    public void Generate_FromNothing_MostStringsFollowTheGrammar()
    {
        var samples = Enumerable.Range(0, 60).Select(seed => _f.Model.Generate([], 20, 0.7f, seed)).ToList();
        double valid = samples.Count(GrammarGeneratorFixture.Valid) / (double)samples.Count;
        valid.Should().BeGreaterThanOrEqualTo(0.8, $"samples: {string.Join(" | ", samples.Take(8).Select(s => string.Join(' ', s)))}");
        samples.Select(s => s.Count).Distinct().Count().Should().BeGreaterThan(2, "sampling gives strings of different lengths");
    }

    [Fact]
    public void Generate_FromPrefix_ContinuationOnlyAndCompletesTheString()
    {
        var prefix = new[] { "a", "a", "a" };
        var samples = Enumerable.Range(0, 30).Select(seed => _f.Model.Generate(prefix, 20, 0.5f, seed)).ToList();
        // The continuation has no prefix and no end token: a valid one is (a^k) b^(3+k).
        double valid = samples.Count(s => GrammarGeneratorFixture.Valid(prefix.Concat(s).ToList())) / (double)samples.Count;
        valid.Should().BeGreaterThanOrEqualTo(0.8);
        samples.Should().OnlyContain(s => s.Count <= 20);
        _f.Model.Generate(prefix, 2, 0.5f, 1).Count.Should().BeLessThanOrEqualTo(2, "maximumLength counts generated tokens");
    }

    [Fact]
    public void Generate_SameSeed_SameTokens_DifferentSeedsDiffer()
    {
        var first = _f.Model.Generate(["a"], 20, 1.5f, 42);
        _f.Model.Generate(["a"], 20, 1.5f, 42).Should().Equal(first);
        Enumerable.Range(0, 20).Select(s => string.Join(' ', _f.Model.Generate(["a"], 20, 1.5f, s))).Distinct().Count().Should().BeGreaterThan(1);
    }

    [Fact]
    public void Transform_PrefixColumn_WritesKeyVectorOfTrainingTokens_SameAfterSaveLoad()
    {
        var input = _f.Prefixes("a", "a a", "a a a a", "a a");
        var output = _f.Model.Transform(input);
        ((VectorDataViewType)output.Schema["Generated"].Type).ItemType.Should().BeOfType<KeyDataViewType>();
        var tokens = _f.Ml.Transforms.Conversion.MapKeyToValue("GeneratedTokens", "Generated").Fit(output).Transform(output)
            .GetColumn<string[]>("GeneratedTokens").ToArray();
        var prefixes = new[] { "a", "a a", "a a a a", "a a" };
        int valid = prefixes.Zip(tokens).Count(p => GrammarGeneratorFixture.Valid(p.First.Split(' ').Concat(p.Second).ToList()));
        valid.Should().BeGreaterThanOrEqualTo(3);
        tokens[1].Should().Equal(tokens[3], "equal prefixes give equal continuations (the row seed comes from the seed and the prefix)");

        using var dir = new TempDirectory();
        _f.Ml.Model.Save(_f.Model, input.Schema, dir.File("generator.zip"));
        var loaded = new MLContext(seed: 7).Model.Load(dir.File("generator.zip"), out _);
        loaded.Transform(input).GetColumn<uint[]>("Generated").Should().BeEquivalentTo(output.GetColumn<uint[]>("Generated"), o => o.WithStrictOrdering());
        var child = FreshProcess.Transform(_f.Ml, dir.File("generator.zip"), input, dir.Path);
        child.ExitCode.Should().Be(0, child.StandardError);
        _f.Ml.Data.LoadFromBinary(child.OutputPath).GetColumn<uint[]>("Generated").Should().BeEquivalentTo(output.GetColumn<uint[]>("Generated"), o => o.WithStrictOrdering());
    }

    [Fact]
    public void Transform_PrefixKeyBeyondVocabulary_ThrowsNamingPrefixColumn()
    {
        var ml = _f.Ml;
        var wide = ml.Data.LoadFromEnumerable(new[] { new WidePrefix { Prefix = [1, 9] } });
        var act = () => _f.Model.Transform(wide);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*Prefix column 'Prefix' has 10 key values but the generator knows 2*");
    }

    private sealed class WidePrefix
    {
        [KeyType(10)]
        [VectorType]
        public uint[] Prefix { get; set; } = [];
    }
}
