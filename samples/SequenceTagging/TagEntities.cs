using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Recurrent;

namespace Samples;

/// <summary>
/// Sequence tagging: a bidirectional LSTM with a CRF output layer tags every word of generated sentences with BIO tags
/// for person names (PER), amounts (AMT) and dates (DATE). The sentences come from templates; the test set also holds
/// names the model never saw, which reach it as the unknown token (key 0) and its learned embedding.
/// </summary>
public static class TagEntities
{
    public static void Example()
    {
        var mlContext = new MLContext(seed: 0);
        IDataView train = mlContext.Data.LoadFromEnumerable(GenerateSentences(count: 1500, seed: 1, unseenNames: false));
        IDataView test = mlContext.Data.LoadFromEnumerable(GenerateSentences(count: 300, seed: 2, unseenNames: false));
        IDataView unseen = mlContext.Data.LoadFromEnumerable(GenerateSentences(count: 300, seed: 3, unseenNames: true));

        // Words → keys (the tokens), BIO tag text → keys (the per-step label), then the tagger.
        var pipeline = mlContext.Transforms.Text.TokenizeIntoWords("Words", nameof(Sentence.Text))
            .Append(mlContext.Transforms.Conversion.MapValueToKey("Tokens", "Words"))
            .Append(mlContext.Transforms.Conversion.MapValueToKey("Label", nameof(Sentence.Tags)))
            .Append(mlContext.Recurrent().Trainers.SequenceTagger(new SequenceTaggerTrainer.Options
            {
                FeatureColumnName = "Tokens",
                HiddenSize = 32,
                EmbeddingSize = 16,
                UseCrf = true,
                MaximumNumberOfEpochs = 10,
                LearningRate = 0.01f,
            }));
        var model = pipeline.Fit(train);

        var metrics = mlContext.Recurrent().EvaluateTagging(model.Transform(test));
        Console.WriteLine($"Test: token accuracy {metrics.TokenAccuracy:F4}, span P/R/F1 {metrics.SpanPrecision:F4} / {metrics.SpanRecall:F4} / {metrics.SpanF1Score:F4}");
        for (int k = 0; k < metrics.ClassNames.Count; k++)
            Console.WriteLine($"  {metrics.ClassNames[k],-7} F1 {metrics.PerClassF1Score[k]:F4} (support {metrics.PerClassSupport[k]})");
        var unseenMetrics = mlContext.Recurrent().EvaluateTagging(model.Transform(unseen));
        Console.WriteLine($"Unseen names: span F1 {unseenMetrics.SpanF1Score:F4}");

        // Save, load and tag one sentence; MapKeyToValue turns the predicted keys back into tags.
        string path = Path.Combine(Path.GetTempPath(), "tag-entities.zip");
        mlContext.Model.Save(model, train.Schema, path);
        var loaded = mlContext.Model.Load(path, out _);
        var tagsAsText = mlContext.Transforms.Conversion.MapKeyToValue("PredictedTags", "PredictedLabel");
        var one = mlContext.Data.LoadFromEnumerable(new[] { new Sentence { Text = "on march 3 zelda paid $ 120 to bob smith", Tags = new string[10] } });
        var scored = loaded.Transform(one);
        var predicted = tagsAsText.Fit(scored).Transform(scored).GetColumn<string[]>("PredictedTags").First();
        var words = one.GetColumn<string>(nameof(Sentence.Text)).First().Split(' ');
        Console.WriteLine(string.Join(' ', words.Zip(predicted, (w, t) => t == "O" ? w : $"{w}/{t}")));
    }

    public sealed class Sentence
    {
        public string Text { get; set; } = "";

        public string[] Tags { get; set; } = [];
    }

    private static readonly string[] FirstNames = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "oscar", "peggy", "trent", "victor", "walter"];
    private static readonly string[] LastNames = ["smith", "jones", "brown", "lee", "garcia", "miller", "davis", "wilson"];
    private static readonly string[] UnseenNames = ["zelda", "quincy", "xavier", "yolanda", "ulrich", "nadia", "kofi", "ingrid"];
    private static readonly string[] Months = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"];

    private static readonly string[] Templates =
    [
        "{P} paid {A} on {D}",
        "on {D} {P} sent {A} to {P}",
        "{P} owes {P} {A}",
        "the invoice of {D} says {A}",
        "please ask {P} about the meeting on {D}",
        "we received {A} from {P} yesterday",
        "{P} and {P} met on {D}",
        "nothing happened today",
    ];

    /// <summary>Fills templates: names (1–2 words), amounts ("$ 120" or "120 dollars"), dates ("march 3" or "3 march 2024").</summary>
    public static List<Sentence> GenerateSentences(int count, int seed, bool unseenNames)
    {
        var rng = new Random(seed);
        var rows = new List<Sentence>();
        for (int i = 0; i < count; i++)
        {
            var words = new List<string>();
            var tags = new List<string>();
            void Add(string type, params string[] parts)
            {
                for (int k = 0; k < parts.Length; k++)
                {
                    words.Add(parts[k]);
                    tags.Add(type == "O" ? "O" : (k == 0 ? "B-" : "I-") + type);
                }
            }

            foreach (string piece in Templates[rng.Next(Templates.Length)].Split(' '))
            {
                switch (piece)
                {
                    case "{P}":
                        string first = unseenNames ? UnseenNames[rng.Next(UnseenNames.Length)] : FirstNames[rng.Next(FirstNames.Length)];
                        if (rng.Next(2) == 0) Add("PER", first);
                        else Add("PER", first, LastNames[rng.Next(LastNames.Length)]);
                        break;
                    case "{A}":
                        string n = rng.Next(1, 1000).ToString(CultureInfo.InvariantCulture);
                        if (rng.Next(2) == 0) Add("AMT", "$", n);
                        else Add("AMT", n, "dollars");
                        break;
                    case "{D}":
                        string month = Months[rng.Next(12)], day = rng.Next(1, 29).ToString(CultureInfo.InvariantCulture);
                        if (rng.Next(2) == 0) Add("DATE", month, day);
                        else Add("DATE", day, month, rng.Next(2000, 2030).ToString(CultureInfo.InvariantCulture));
                        break;
                    default:
                        Add("O", piece);
                        break;
                }
            }

            rows.Add(new Sentence { Text = string.Join(' ', words), Tags = tags.ToArray() });
        }

        return rows;
    }
}

// Expected output (seed 0; measured on the development machine):
// Test: token accuracy 1.0000, span P/R/F1 1.0000 / 1.0000 / 1.0000
//   O       F1 1.0000 (support 959)
//   B-DATE  F1 1.0000 (support 185)
//   I-DATE  F1 1.0000 (support 268)
//   B-PER   F1 1.0000 (support 331)
//   B-AMT   F1 1.0000 (support 189)
//   I-AMT   F1 1.0000 (support 189)
//   I-PER   F1 1.0000 (support 160)
// Unseen names: span F1 0.9855
// on march/B-DATE 3/I-DATE zelda/B-PER paid $/B-AMT 120/I-AMT to bob/B-PER smith/I-PER
