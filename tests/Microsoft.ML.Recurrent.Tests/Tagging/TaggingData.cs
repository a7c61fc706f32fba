using Microsoft.ML.Data;

namespace Microsoft.ML.Recurrent.Tests.Tagging;

/// <summary>A dense sequence with per-step tag names.</summary>
public sealed class DenseTagRow
{
    [VectorType]
    public float[] Features { get; set; } = [];

    public string[] Tags { get; set; } = [];
}

/// <summary>A dense sequence with per-step values.</summary>
public sealed class DenseValueRow
{
    [VectorType]
    public float[] Features { get; set; } = [];

    [VectorType]
    public float[] Label { get; set; } = [];
}

/// <summary>A sentence with per-word tags.</summary>
public sealed class SentenceRow
{
    public string Text { get; set; } = "";

    public string[] Tags { get; set; } = [];
}

internal static class TaggingData
{
    /// <summary>
    /// The memory task. F = 4: step 0 carries a mode m ∈ {0, 1} in feature 0 (±1, zero elsewhere); every step carries a
    /// symbol s_t ∈ {0, 1, 2} one-hot in features 1..3. Tag_t = "c" + (s_t + m) mod 3: every tag depends on a symbol
    /// seen up to T − 1 steps before (chance without the memory: 50 %). Lengths 8..20, mixed in every batch.
    /// </summary>
    public static IEnumerable<DenseTagRow> Memory(int count, int seed)
    {
        var rng = new Random(seed);
        for (int i = 0; i < count; i++)
        {
            int len = rng.Next(8, 21), mode = rng.Next(2);
            var x = new float[len * 4];
            var tags = new string[len];
            x[0] = mode == 1 ? 1f : -1f;
            for (int t = 0; t < len; t++)
            {
                int s = rng.Next(3);
                x[t * 4 + 1 + s] = 1f;
                tags[t] = "c" + (s + mode) % 3;
            }

            yield return new DenseTagRow { Features = x, Tags = tags };
        }
    }

    /// <summary>Running mean of a one-feature sequence as the per-step target (values tagging).</summary>
    public static IEnumerable<DenseValueRow> RunningMean(int count, int seed)
    {
        var rng = new Random(seed);
        for (int i = 0; i < count; i++)
        {
            int len = rng.Next(3, 12);
            var x = new float[len];
            var y = new float[len];
            double sum = 0;
            for (int t = 0; t < len; t++)
            {
                x[t] = (float)(rng.NextDouble() * 2 - 1);
                sum += x[t];
                y[t] = (float)(10 + sum / (t + 1));
            }

            yield return new DenseValueRow { Features = x, Label = y };
        }
    }

    private static readonly string[] Fillers = ["we", "saw", "the", "red", "car", "near", "a", "big", "house", "today", "and", "then", "left"];
    private static readonly string[] Names = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "oscar", "peggy", "trent", "victor", "walter"];

    /// <summary>
    /// Sentences with person names after "mr" or "ms" (one or two words: B-PER, I-PER) and amounts after "pay" (B-AMT).
    /// <paramref name="unseenNames"/>: names drawn from a set never used in training (their keys are missing → unknown token).
    /// </summary>
    public static IEnumerable<SentenceRow> Sentences(int count, int seed, bool unseenNames = false)
    {
        var rng = new Random(seed);
        for (int i = 0; i < count; i++)
        {
            var words = new List<string>();
            var tags = new List<string>();
            int parts = rng.Next(2, 5);
            for (int p = 0; p < parts; p++)
            {
                switch (rng.Next(3))
                {
                    case 0:
                        words.Add(rng.Next(2) == 0 ? "mr" : "ms");
                        tags.Add("O");
                        int n = rng.Next(1, 3);
                        for (int k = 0; k < n; k++)
                        {
                            words.Add(unseenNames ? "zz" + rng.Next(1000) : Names[rng.Next(Names.Length)]);
                            tags.Add(k == 0 ? "B-PER" : "I-PER");
                        }

                        break;
                    case 1:
                        words.Add("pay");
                        tags.Add("O");
                        words.Add(rng.Next(1, 100).ToString(System.Globalization.CultureInfo.InvariantCulture));
                        tags.Add("B-AMT");
                        break;
                    default:
                        int f = rng.Next(1, 4);
                        for (int k = 0; k < f; k++)
                        {
                            words.Add(Fillers[rng.Next(Fillers.Length)]);
                            tags.Add("O");
                        }

                        break;
                }
            }

            yield return new SentenceRow { Text = string.Join(' ', words), Tags = tags.ToArray() };
        }
    }
}
