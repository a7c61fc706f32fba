using Microsoft.ML.Data;

namespace Microsoft.ML.Recurrent.Tests.Estimators;

/// <summary>A dense sequence row: T·F time-major features and one label per task.</summary>
public sealed class DenseRow
{
    [VectorType]
    public float[] Features { get; set; } = [];

    public float Value { get; set; }

    public bool Flag { get; set; }

    public string Category { get; set; } = "";
}

/// <summary>A text row for token pipelines.</summary>
public sealed class TextRow
{
    public string Text { get; set; } = "";

    public string Category { get; set; } = "";

    public bool Flag { get; set; }
}

/// <summary>Generated sequence tasks with fixed seeds.</summary>
internal static class SequenceData
{
    /// <summary>
    /// Regression, F = 2: y = Σ_t x[t,0] over the steps whose marker x[t,1] is positive (an adding problem with variable
    /// length 4..12): the model must gate and accumulate over time.
    /// </summary>
    public static DenseRow[] MarkedSum(int count, int seed)
    {
        var rng = new Random(seed);
        var rows = new DenseRow[count];
        for (int i = 0; i < count; i++)
        {
            int t = rng.Next(4, 13);
            var x = new float[t * 2];
            float y = 0;
            for (int s = 0; s < t; s++)
            {
                x[2 * s] = (float)(rng.NextDouble() * 2 - 1);
                x[2 * s + 1] = rng.NextDouble() < 0.3 ? 1f : -1f;
                if (x[2 * s + 1] > 0) y += x[2 * s];
            }

            rows[i] = new DenseRow { Features = x, Value = y };
        }

        return rows;
    }

    /// <summary>
    /// Binary, F = 5 (one-hot symbols 0..4), length 4..10: every sequence holds exactly one symbol 1 and one symbol 2;
    /// the label says whether the 1 comes before the 2. Symbol counts are identical in both classes, so only order tells.
    /// </summary>
    public static DenseRow[] OneBeforeTwo(int count, int seed)
    {
        var rng = new Random(seed);
        var rows = new DenseRow[count];
        for (int i = 0; i < count; i++)
        {
            int t = rng.Next(4, 11);
            var symbols = new int[t];
            for (int s = 0; s < t; s++) symbols[s] = rng.Next(3) switch { 0 => 0, 1 => 3, _ => 4 };
            int a = rng.Next(t), b;
            do b = rng.Next(t); while (b == a);
            symbols[a] = 1;
            symbols[b] = 2;
            var x = new float[t * 5];
            for (int s = 0; s < t; s++) x[s * 5 + symbols[s]] = 1f;
            rows[i] = new DenseRow { Features = x, Flag = a < b };
        }

        return rows;
    }

    private static readonly string[] Signals = ["red", "green", "blue"];
    private static readonly string[] Noise = ["the", "a", "big", "small", "old", "new", "box", "car"];

    /// <summary>
    /// Multiclass text: 3..10 noise words with two different colour words at random places; the class is the colour that
    /// comes first. Bags of words cannot solve it (both colours are present); order can.
    /// </summary>
    public static TextRow[] FirstColour(int count, int seed)
    {
        var rng = new Random(seed);
        var rows = new TextRow[count];
        for (int i = 0; i < count; i++)
        {
            int t = rng.Next(3, 11);
            var words = new List<string>();
            for (int s = 0; s < t; s++) words.Add(Noise[rng.Next(Noise.Length)]);
            int first = rng.Next(3), second;
            do second = rng.Next(3); while (second == first);
            int p = rng.Next(words.Count + 1);
            words.Insert(p, Signals[first]);
            int q = rng.Next(p + 1, words.Count + 1);
            words.Insert(q, Signals[second]);
            rows[i] = new TextRow { Text = string.Join(' ', words), Category = Signals[first] };
        }

        return rows;
    }
}
