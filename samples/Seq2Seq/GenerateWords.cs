using Microsoft.ML;
using Microsoft.ML.Recurrent;

namespace Samples;

/// <summary>
/// Sequence generator: learns words of a small grammar — two to four syllables, each a consonant then a vowel, then an
/// optional final "n" — one letter per token, and samples new ones at two temperatures.
/// </summary>
public static class GenerateWords
{
    private sealed class Word
    {
        public string Letters { get; set; } = "";
    }

    private const string Consonants = "bdgklmnprst", Vowels = "aeiou";

    private static bool Valid(IReadOnlyList<string> letters)
    {
        var s = string.Concat(letters);
        if (s.EndsWith('n') && s.Length % 2 == 1) s = s[..^1];
        if (s.Length < 4 || s.Length > 8 || s.Length % 2 != 0) return false;
        for (int i = 0; i < s.Length; i += 2)
            if (!Consonants.Contains(s[i]) || !Vowels.Contains(s[i + 1])) return false;
        return true;
    }

    public static void Example()
    {
        var mlContext = new MLContext(seed: 0);
        var random = new Random(1);
        var words = Enumerable.Range(0, 1500).Select(_ =>
        {
            var letters = new List<char>();
            int syllables = random.Next(2, 5);
            for (int i = 0; i < syllables; i++) { letters.Add(Consonants[random.Next(Consonants.Length)]); letters.Add(Vowels[random.Next(Vowels.Length)]); }
            if (random.Next(3) == 0) letters.Add('n');
            return new Word { Letters = string.Join(' ', letters) };
        }).ToList();
        IDataView data = mlContext.Data.LoadFromEnumerable(words);
        var pipeline = mlContext.Transforms.Text.TokenizeIntoWords("Tokens", nameof(Word.Letters))
            .Append(mlContext.Transforms.Conversion.MapValueToKey("Features", "Tokens"));
        var featurized = pipeline.Fit(data).Transform(data);
        var generator = mlContext.Recurrent().Trainers.SequenceGenerator(new SequenceGeneratorTrainer.Options
        {
            HiddenSize = 48,
            EmbeddingSize = 16,
            MaximumNumberOfEpochs = 15,
        }).Fit(featurized);

        foreach (float temperature in new[] { 0.5f, 1.5f })
        {
            var samples = Enumerable.Range(0, 200).Select(seed => generator.Generate([], 12, temperature, seed)).ToList();
            double valid = samples.Count(Valid) / (double)samples.Count;
            Console.WriteLine($"Temperature {temperature}: {valid:P0} of 200 samples follow the grammar, {samples.Select(s => string.Concat(s)).Distinct().Count()} distinct; e.g. "
                + string.Join(", ", samples.Take(8).Select(s => string.Concat(s))));
        }

        var continued = generator.Generate(["k", "a"], 12, 0.5f, seed: 7);
        Console.WriteLine($"Continuation of \"ka\": \"{string.Concat(continued)}\"");
    }
}

// Expected output (your words will differ):
//   Temperature 0.5: ≈ 95 % of 200 samples follow the grammar, … distinct; e.g. …
//   Temperature 1.5: fewer follow the grammar, more distinct; e.g. …
//   Continuation of "ka": "…"
