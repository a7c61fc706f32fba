using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Seq2Seq;

namespace Microsoft.ML.Recurrent.Tests.Seq2Seq;

/// <summary>
/// Learning: reversing digit sequences of length 3–10 with attention (2,000 training pairs, 30 epochs, fixed seed), exact
/// match on 200 held-out sequences with greedy decoding. Measured: GRU + additive 100 %, LSTM + dot 99.5 %.
/// </summary>
public class Seq2SeqLearningTests
{
    /// <summary>Digits 0–9 are keys 1–10 (source ids 1–10 too); the target is the source reversed.</summary>
    internal static List<Seq2SeqExample> ReversalData(int count, int seed)
    {
        var random = new Random(seed);
        var data = new List<Seq2SeqExample>();
        for (int i = 0; i < count; i++)
        {
            int len = random.Next(3, 11);
            var digits = Enumerable.Range(0, len).Select(_ => random.Next(1, 11)).ToArray();
            data.Add(new Seq2SeqExample(digits.Select(d => (float)d).ToArray(), digits.Reverse().ToArray()));
        }

        return data;
    }

    [Theory]
    [InlineData("Gru", "Additive", 48, 5e-3f)]
    [InlineData("Lstm", "Dot", 48, 5e-3f)]
    public void Train_DigitReversalWithAttention_ReachesNinetyFivePercentExactMatch(string cell, string attention, int hidden, float lr)
    {
        var spec = new Seq2SeqSpec(Enum.Parse<CellKind>(cell), 1, 11, 16, HiddenSize: hidden, NumberOfLayers: 1, Bidirectional: true, Dropout: 0f,
            TargetKeys: 10, TargetEmbedding: 16, Attention: Enum.Parse<AttentionKind>(attention));
        var train = ReversalData(2000, seed: 1);
        var test = ReversalData(200, seed: 2);
        var result = Seq2SeqTrainer.Train(new Seq2SeqTrainerSettings { Spec = spec, Epochs = 30, BatchSize = 32, LearningRate = lr, Seed = 3 }, train, null, default);
        var net = new Seq2SeqNetwork(spec, result.Encoder, result.Decoder, result.Head, training: false, test.Count, 10);
        var batch = new SequenceBatch(test.Count, 10, 1, 0);
        batch.Fill(test.Count, i => test[i].Source, null, false);
        var decoded = net.Decode(batch, 1, 12, greedy: true);
        double exact = Enumerable.Range(0, test.Count).Count(i => decoded[i].Tokens.SequenceEqual(test[i].Target)) / (double)test.Count;
                exact.Should().BeGreaterThanOrEqualTo(0.95, $"final training loss {result.History[^1].TrainLoss:F4}");
    }
}
