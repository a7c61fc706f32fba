using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Recurrent;
using ScottPlot;

namespace Samples;

/// <summary>
/// Encoder–decoder with attention: "25 Nov 2026", "November 25, 2026", "2026/11/25", … → "2026-11-25", one character per
/// token. Prints the exact-match accuracy per input format and writes a heat map of the attention for one example.
/// </summary>
public static class NormalizeDates
{
    private sealed class DatePair
    {
        public string Format { get; set; } = "";
        public string Source { get; set; } = "";
        public string Target { get; set; } = "";
    }

    private static readonly string[] Formats = ["d MMM yyyy", "MMMM d, yyyy", "yyyy/MM/dd", "dd.MM.yyyy", "MMM d yyyy", "dddd, d MMMM yyyy"];

    /// <summary>Characters as space-separated tokens ("_" for a space), so TokenizeIntoWords + MapValueToKey give character keys.</summary>
    private static string Chars(string s) => string.Join(' ', s.Select(c => c == ' ' ? '_' : c));

    private static List<DatePair> Generate(int count, int seed)
    {
        var random = new Random(seed);
        var start = new DateTime(1950, 1, 1);
        var rows = new List<DatePair>();
        for (int i = 0; i < count; i++)
        {
            var date = start.AddDays(random.Next(0, 365 * 100));
            string format = Formats[random.Next(Formats.Length)];
            rows.Add(new DatePair
            {
                Format = format,
                Source = Chars(date.ToString(format, CultureInfo.InvariantCulture)),
                Target = Chars(date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)),
            });
        }

        return rows;
    }

    public static void Example()
    {
        var mlContext = new MLContext(seed: 0);
        IDataView train = mlContext.Data.LoadFromEnumerable(Generate(6000, seed: 1));
        IDataView test = mlContext.Data.LoadFromEnumerable(Generate(600, seed: 2));

        // Source and target characters become key vectors; PredictedLabel comes back as keys with the target's values.
        var pipeline = mlContext.Transforms.Text.TokenizeIntoWords("SourceChars", nameof(DatePair.Source))
            .Append(mlContext.Transforms.Conversion.MapValueToKey("Features", "SourceChars"))
            .Append(mlContext.Transforms.Text.TokenizeIntoWords("TargetChars", nameof(DatePair.Target)))
            .Append(mlContext.Transforms.Conversion.MapValueToKey("Label", "TargetChars"))
            .Append(mlContext.Recurrent().Trainers.EncoderDecoder(new EncoderDecoderTrainer.Options
            {
                CellType = RecurrentCellType.Gru,
                HiddenSize = 64,
                EmbeddingSize = 16,
                TargetEmbeddingSize = 16,
                Attention = RecurrentAttention.Additive,
                MaximumNumberOfEpochs = 12,
                MaximumOutputLength = 12,
                AttentionWeightsColumnName = "Attention",
            }))
            .Append(mlContext.Transforms.Conversion.MapKeyToValue("PredictedChars", "PredictedLabel"));

        var model = pipeline.Fit(train);
        var output = model.Transform(test);
        var predictions = mlContext.Data.CreateEnumerable<Prediction>(output, reuseRowObject: false).ToList();
        int correct = predictions.Count(p => string.Concat(p.PredictedChars) == p.Target.Replace(" ", ""));
        Console.WriteLine($"Date normalisation, exact match on {predictions.Count} test dates: {correct / (double)predictions.Count:P1}");
        foreach (var group in predictions.GroupBy(p => p.Format))
        {
            double accuracy = group.Count(p => string.Concat(p.PredictedChars) == p.Target.Replace(" ", "")) / (double)group.Count();
            Console.WriteLine($"  {group.Key,-18} {accuracy:P1}");
        }

        foreach (var p in predictions.Take(4))
            Console.WriteLine($"  {Text(p.Source),-28} → {string.Concat(p.PredictedChars)}");

        var example = predictions.First(p => p.Format == "MMMM d, yyyy");
        string path = Path.Combine(AppContext.BaseDirectory, "date-attention.png");
        Plot(example, path);
        Console.WriteLine($"Attention heat map of \"{Text(example.Source)}\" written to {path}");
    }

    private static string Text(string chars) => chars.Replace(" ", "").Replace('_', ' ');

    /// <summary>Rows: emitted characters; columns: source characters; colour: attention weight.</summary>
    private static void Plot(Prediction p, string path)
    {
        var source = p.Source.Split(' ');
        int rows = p.PredictedChars.Length, cols = source.Length;
        var weights = new double[rows, cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                weights[r, c] = p.Attention[r * cols + c];
        var plot = new Plot();
        var heatmap = plot.Add.Heatmap(weights);
        heatmap.Colormap = new ScottPlot.Colormaps.Viridis();
        plot.Add.ColorBar(heatmap);
        plot.Axes.Bottom.SetTicks(Enumerable.Range(0, cols).Select(c => (double)c).ToArray(), source.Select(s => s == "_" ? "␣" : s).ToArray());
        plot.Axes.Left.SetTicks(Enumerable.Range(0, rows).Select(r => (double)(rows - 1 - r)).ToArray(), p.PredictedChars);
        plot.Title("Attention: output characters (rows) over source characters (columns)");
        plot.XLabel("source");
        plot.YLabel("output");
        plot.SavePng(path, 900, 520);
    }

    private sealed class Prediction
    {
        public string Format { get; set; } = "";
        public string Source { get; set; } = "";
        public string Target { get; set; } = "";
        public string[] PredictedChars { get; set; } = [];
        public float[] Attention { get; set; } = [];
    }
}

// Expected output (GRU, H = 64, 12 epochs; your figures may differ slightly):
//   Date normalisation, exact match on 600 test dates: ≈ 99 %
//   (per format and four examples)
//   Attention heat map of "…" written to …/date-attention.png
