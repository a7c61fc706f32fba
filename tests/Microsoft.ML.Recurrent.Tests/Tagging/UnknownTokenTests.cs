using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Training;

namespace Microsoft.ML.Recurrent.Tests.Tagging;

/// <summary>The learned unknown-token row in the trainers' engine loop (<see cref="SequenceTrainer"/>).</summary>
public class UnknownTokenTests
{
    private static (float[] Parameters, int E) Train(float rate)
    {
        var spec = new NetworkSpec(CellKind.Gru, 1, 6, VocabularySize: 6, EmbeddingSize: 3, OutputSize: 2);
        var data = new SequenceDataset(1, 1);
        var rng = new Random(1);
        for (int i = 0; i < 64; i++)
        {
            var ids = Enumerable.Range(0, 6).Select(_ => (float)rng.Next(1, 6)).ToArray();
            data.Add(ids, [ids[0] > 3 ? 1f : 0f]);
        }

        var result = SequenceTrainer.Train(new TrainerSettings
        {
            Spec = spec, Loss = LossKind.SoftmaxCrossEntropy, Epochs = 3, BatchSize = 16, Seed = 2, UnknownTokenRate = rate,
        }, data, null, null, CancellationToken.None);
        return (result.Parameters, spec.EmbeddingSize);
    }

    [Fact]
    public void SequenceTrainer_UnknownTokenRate_TrainsRowZero_ZeroRateLeavesItZero()
    {
        var (without, e) = Train(0f);
        without.AsSpan(0, e).ToArray().Should().OnlyContain(v => v == 0f, "no training token is unknown");
        var (with, _) = Train(0.2f);
        with.AsSpan(0, e).ToArray().Max(MathF.Abs).Should().BeGreaterThan(1e-3f, "replaced tokens train the unknown-token row");
    }

    [Fact]
    public void TrainerSettings_UnknownTokenRateOutOfRange_Throws()
    {
        var s = new TrainerSettings { Spec = new NetworkSpec(CellKind.Lstm, 1, 2), UnknownTokenRate = 0.8f };
        s.Invoking(x => x.Validate()).Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("UnknownTokenRate");
    }
}
