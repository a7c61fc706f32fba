using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Recurrent;

namespace Samples;

/// <summary>
/// Binary sentiment on a generated corpus where word order matters ("not good", "good but the ending was awful"):
/// an LSTM over word keys against a bag-of-words baseline that cannot see order.
/// </summary>
public static class SentimentLstm
{
    public static void Example()
    {
        var mlContext = new MLContext(seed: 0);
        IDataView train = mlContext.Data.LoadFromEnumerable(GenerateReviews(count: 3000, seed: 1));
        IDataView test = mlContext.Data.LoadFromEnumerable(GenerateReviews(count: 600, seed: 2));

        // Words become keys (one token per step); key 0 stands for padding and for words never seen in training.
        var pipeline = mlContext.Transforms.Text.TokenizeIntoWords("Tokens", nameof(Review.Text))
            .Append(mlContext.Transforms.Conversion.MapValueToKey("Tokens"))
            .Append(mlContext.BinaryClassification.Trainers.Recurrent(new RecurrentBinaryTrainer.Options
            {
                LabelColumnName = nameof(Review.Positive),
                FeatureColumnName = "Tokens",
                HiddenSize = 32,
                EmbeddingSize = 16,
                MaximumNumberOfEpochs = 8,
                LearningRate = 0.005f,
            }));

        var model = pipeline.Fit(train);
        var metrics = mlContext.BinaryClassification.Evaluate(model.Transform(test), labelColumnName: nameof(Review.Positive));
        Console.WriteLine($"LSTM          accuracy: {metrics.Accuracy:F3}, AUC: {metrics.AreaUnderRocCurve:F3}, F1: {metrics.F1Score:F3}");

        // The same words without their order: a linear model on a bag of words and bigrams.
        var baseline = mlContext.Transforms.Text.FeaturizeText("Features", nameof(Review.Text))
            .Append(mlContext.BinaryClassification.Trainers.SdcaLogisticRegression(labelColumnName: nameof(Review.Positive)));
        var baselineMetrics = mlContext.BinaryClassification.Evaluate(baseline.Fit(train).Transform(test), labelColumnName: nameof(Review.Positive));
        Console.WriteLine($"Bag of words  accuracy: {baselineMetrics.Accuracy:F3}, AUC: {baselineMetrics.AreaUnderRocCurve:F3}, F1: {baselineMetrics.F1Score:F3}");

        string path = Path.Combine(Path.GetTempPath(), "sentiment-lstm.zip");
        mlContext.Model.Save(model, train.Schema, path);
        var engine = mlContext.Model.CreatePredictionEngine<Review, SentimentPrediction>(mlContext.Model.Load(path, out _));
        foreach (string text in new[]
        {
            "the acting was really great",
            "the acting was not great",
            "the plot was dull but the ending was wonderful",
            "the plot was wonderful but the ending was dull",
            "the soundtrack was not splendid",
        })
        {
            var p = engine.Predict(new Review { Text = text });
            Console.WriteLine($"{p.Probability:F2} {(p.PredictedLabel ? "positive" : "negative"),-8} \"{text}\"");
        }
    }

    private static readonly string[] Subjects = ["the movie", "this film", "the plot", "the acting", "the soundtrack", "the ending", "the cast"];
    private static readonly string[] Positive = ["good", "great", "wonderful", "brilliant", "fun", "moving", "clever"];
    private static readonly string[] Negative = ["bad", "boring", "awful", "dull", "terrible", "weak", "silly"];
    private static readonly string[] Intensifiers = ["", "", "really ", "very ", "quite "];

    /// <summary>A clause such as "the plot was not very clever" and whether it is positive.</summary>
    private static (string Text, bool Positive) Clause(Random random)
    {
        bool positiveWord = random.Next(2) == 0, negated = random.Next(3) == 0;
        string adjective = positiveWord ? Positive[random.Next(Positive.Length)] : Negative[random.Next(Negative.Length)];
        string text = $"{Subjects[random.Next(Subjects.Length)]} was {(negated ? "not " : "")}{Intensifiers[random.Next(Intensifiers.Length)]}{adjective}";
        return (text, positiveWord != negated);
    }

    /// <summary>One clause, or two joined by "but": then the second clause decides.</summary>
    private static Review[] GenerateReviews(int count, int seed)
    {
        var random = new Random(seed);
        var reviews = new Review[count];
        for (int i = 0; i < count; i++)
        {
            var first = Clause(random);
            if (random.Next(2) == 0)
            {
                reviews[i] = new Review { Text = first.Text, Positive = first.Positive };
                continue;
            }

            var second = Clause(random);
            reviews[i] = new Review { Text = $"{first.Text} but {second.Text}", Positive = second.Positive };
        }

        return reviews;
    }

    private sealed class Review
    {
        public string Text { get; set; } = "";

        public bool Positive { get; set; }
    }

    private sealed class SentimentPrediction
    {
        public bool PredictedLabel { get; set; }

        public float Probability { get; set; }
    }
}

// Expected output (the last review holds a word never seen in training, read as the unknown token):
//   LSTM          accuracy: 1.000, AUC: 1.000, F1: 1.000
//   Bag of words  accuracy: 0.767, AUC: 0.842, F1: 0.746
//   1.00 positive "the acting was really great"
//   0.00 negative "the acting was not great"
//   1.00 positive "the plot was dull but the ending was wonderful"
//   0.00 negative "the plot was wonderful but the ending was dull"
//   0.36 negative "the soundtrack was not splendid"
