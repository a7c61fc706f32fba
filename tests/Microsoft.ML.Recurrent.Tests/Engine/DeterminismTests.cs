using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Training;

namespace Microsoft.ML.Recurrent.Tests.Engine;

public class DeterminismTests
{
    private static TrainingResult Train(int seed, int threads, CellKind cell = CellKind.Lstm)
    {
        var data = LearningTests.AddingProblem(96, 12, seed: 5);
        var settings = new TrainerSettings
        {
            Spec = new NetworkSpec(cell, InputSize: 2, HiddenSize: 8, NumberOfLayers: 2, Bidirectional: true, Dropout: 0.2f),
            Epochs = 3,
            BatchSize = 16,
            Seed = seed,
            Threads = threads,
        };
        return SequenceTrainer.Train(settings, data, null, null, CancellationToken.None);
    }

    [Theory]
    [InlineData((int)CellKind.SimpleRnn)]
    [InlineData((int)CellKind.Lstm)]
    [InlineData((int)CellKind.Gru)]
    public void Train_SameSeedAndThreads_BitIdenticalWeights(int cell)
    {
        var a = Train(11, 2, (CellKind)cell).Parameters;
        var b = Train(11, 2, (CellKind)cell).Parameters;
        a.Should().Equal(b);
    }

    [Fact]
    public void Train_DifferentSeed_DifferentWeights()
    {
        var a = Train(11, 2).Parameters;
        var b = Train(12, 2).Parameters;
        a.Should().NotEqual(b);
    }

    [Fact]
    public void Train_Cancelled_StopsWithOperationCanceled()
    {
        using var cts = new CancellationTokenSource();
        var data = LearningTests.AddingProblem(64, 10, seed: 5);
        var settings = new TrainerSettings { Spec = new NetworkSpec(CellKind.Gru, InputSize: 2, HiddenSize: 4), Epochs = 1000, BatchSize = 8 };
        int epochs = 0;
        var act = () => SequenceTrainer.Train(settings, data, null, r => { epochs = r.Epoch; if (r.Epoch == 2) cts.Cancel(); }, cts.Token);
        act.Should().Throw<OperationCanceledException>();
        epochs.Should().Be(2);
    }

    [Fact]
    public void Train_HugeLearningRate_ThrowsDiverged()
    {
        var data = LearningTests.AddingProblem(64, 10, seed: 5);
        var settings = new TrainerSettings
        {
            Spec = new NetworkSpec(CellKind.SimpleRnn, InputSize: 2, HiddenSize: 4),
            Epochs = 50, BatchSize = 8, LearningRate = 1e30f, GradientClipNorm = 0f,
            Optimizer = Microsoft.ML.Recurrent.Engine.Optimizers.OptimizerKind.Sgd,
        };
        var act = () => SequenceTrainer.Train(settings, data, null, null, CancellationToken.None);
        act.Should().Throw<InvalidOperationException>().WithMessage("*diverged*");
    }

    [Fact]
    public void Train_WithValidation_RestoresBestEpoch()
    {
        var train = LearningTests.AddingProblem(128, 10, seed: 5);
        var valid = LearningTests.AddingProblem(64, 10, seed: 6);
        var settings = new TrainerSettings
        {
            Spec = new NetworkSpec(CellKind.Gru, InputSize: 2, HiddenSize: 8),
            Epochs = 12, BatchSize = 16, LearningRate = 0.2f, EarlyStoppingPatience = 2, Seed = 1,
        };
        var result = SequenceTrainer.Train(settings, train, valid, null, CancellationToken.None);
        var best = result.History.MinBy(r => r.ValidationLoss!.Value)!;
        result.BestEpoch.Should().Be(best.Epoch);

        // The returned parameters score the best epoch's validation loss.
        var predictor = new SequencePredictor(settings.Spec, result.Parameters);
        double mse = 0;
        var y = new float[1];
        for (int i = 0; i < valid.Count; i++)
        {
            predictor.Predict(valid.Features(i), y);
            mse += Math.Pow(y[0] - valid.Target(i)[0], 2);
        }

        (mse / valid.Count).Should().BeApproximately(best.ValidationLoss!.Value, 1e-4);
    }
}
