using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Training;
using Microsoft.ML.Recurrent.Experiments;
using Microsoft.ML.Recurrent.Tests.Engine;
using Microsoft.ML.SearchSpace;

namespace Microsoft.ML.Recurrent.Tests.Experiments;

public class BudgetHookTests
{
    private static TrainerSettings Settings(int epochs, TrainingCheckpoint? checkpoint) => new()
    {
        Spec = new NetworkSpec(CellKind.Lstm, InputSize: 2, HiddenSize: 6, NumberOfLayers: 2, Dropout: 0.3f),
        Loss = LossKind.MeanSquaredError,
        Epochs = epochs,
        BatchSize = 16,
        LearningRate = 5e-3f,
        Seed = 9,
        Checkpoint = checkpoint,
    };

    [Fact]
    public void Train_ResumedFromCheckpoint_EqualsOneStraightRunBitForBit()
    {
        var data = LearningTests.AddingProblem(100, 8, seed: 4);
        var straight = SequenceTrainer.Train(Settings(5, null), data, null, null, CancellationToken.None);

        var checkpoint = new TrainingCheckpoint();
        checkpoint.IsEmpty.Should().BeTrue();
        SequenceTrainer.Train(Settings(2, checkpoint), data, null, null, CancellationToken.None);
        checkpoint.EpochsDone.Should().Be(2);
        var resumed = SequenceTrainer.Train(Settings(5, checkpoint), data, null, null, CancellationToken.None);

        checkpoint.EpochsDone.Should().Be(5);
        resumed.History.Select(r => r.Epoch).Should().Equal(1, 2, 3, 4, 5);
        resumed.Parameters.Should().Equal(straight.Parameters, "parameters, Adam moments, shuffling and dropout state all carry over");
        resumed.History.Select(r => r.TrainLoss).Should().Equal(straight.History.Select(r => r.TrainLoss));
    }

    [Fact]
    public void Train_CheckpointOfAnotherDataset_Throws()
    {
        var checkpoint = new TrainingCheckpoint();
        SequenceTrainer.Train(Settings(1, checkpoint), LearningTests.AddingProblem(40, 6, seed: 1), null, null, CancellationToken.None);
        var act = () => SequenceTrainer.Train(Settings(2, checkpoint), LearningTests.AddingProblem(50, 6, seed: 1), null, null, CancellationToken.None);
        act.Should().Throw<ArgumentException>().WithMessage("*trained on 40 sequences; this training set has 50*");
    }

    private static (MLContext Ml, IDataView Data) Adding()
    {
        var ml = new MLContext(seed: 0);
        return (ml, ml.Data.LoadFromEnumerable(ExperimentData.Adding(128, 10, 3)));
    }

    private static RecurrentRegressionTrainer.Options Options() => new()
    {
        LabelColumnName = "Value",
        FeaturesPerStep = 2,
        HiddenSize = 8,
        MaximumNumberOfEpochs = 6,
        Seed = 1,
    };

    [Fact]
    public void EpochCallback_ReturningFalse_StopsAfterThatEpochWithAUsableModel()
    {
        var (ml, data) = Adding();
        var seen = new List<int>();
        var o = Options();
        o.EpochCallback = r => { seen.Add(r.Epoch); return r.Epoch < 2; };
        var model = ml.Regression.Trainers.Recurrent(o).Fit(data);
        seen.Should().Equal(1, 2);
        model.ModelInfo.TrainingHistory.Should().HaveCount(2);
        ml.Regression.Evaluate(model.Transform(data), "Value").MeanSquaredError.Should().BeLessThan(1.0);
    }

    [Fact]
    public void MaximumTrainingTime_Passed_StopsAfterTheEpochThatPassedIt()
    {
        var (ml, data) = Adding();
        var o = Options();
        o.MaximumTrainingTime = TimeSpan.FromTicks(1); // any epoch takes longer than 100 ns
        var model = ml.Regression.Trainers.Recurrent(o).Fit(data);
        model.ModelInfo.TrainingHistory.Should().HaveCount(1);
    }

    [Fact]
    public void MaximumTrainingTime_NotPositive_ThrowsNamingTheOption()
    {
        var o = Options();
        o.MaximumTrainingTime = TimeSpan.Zero;
        var act = () => new MLContext().Regression.Trainers.Recurrent(o);
        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("MaximumTrainingTime");
    }

    [Fact]
    public void CancellationToken_CancelledDuringTraining_StopsBeforeTheNextBatch()
    {
        var (ml, data) = Adding();
        using var cancel = new CancellationTokenSource();
        var o = Options();
        var epochs = new List<int>();
        o.CancellationToken = cancel.Token;
        o.Progress = new ActionProgress<RecurrentEpochReport>(r => { epochs.Add(r.Epoch); cancel.Cancel(); });
        var act = () => ml.Regression.Trainers.Recurrent(o).Fit(data);
        act.Should().Throw<OperationCanceledException>();
        epochs.Should().Equal(1);
    }

    [Fact]
    public async Task ConcurrentFits_WithTheirOwnThreadCounts_EqualSerialFits()
    {
        var (ml, data) = Adding();
        float[] Weights(RecurrentCellType cell, int threads)
        {
            var o = Options();
            o.CellType = cell;
            o.NumberOfThreads = threads;
            var model = ml.Regression.Trainers.Recurrent(o).Fit(data);
            return ml.Data.CreateEnumerable<ScoreRow>(model.Transform(data), reuseRowObject: false).Select(r => r.Score).ToArray();
        }

        var serialLstm = Weights(RecurrentCellType.Lstm, 2);
        var serialGru = Weights(RecurrentCellType.Gru, 2);
        var tasks = new[]
        {
            Task.Run(() => Weights(RecurrentCellType.Lstm, 1)), Task.Run(() => Weights(RecurrentCellType.Gru, 1)),
            Task.Run(() => Weights(RecurrentCellType.Lstm, 1)), Task.Run(() => Weights(RecurrentCellType.Gru, 1)),
        };
        var results = await Task.WhenAll(tasks);
        results[0].Should().Equal(serialLstm);
        results[2].Should().Equal(serialLstm);
        results[1].Should().Equal(serialGru);
        results[3].Should().Equal(serialGru);
    }

    private sealed class ScoreRow
    {
        public float Score { get; set; }
    }
}

public class SearchSpaceTests
{
    [Fact]
    public void SearchSpaceClasses_CarryTheMicrosoftMLSearchSpaceAttributes_WithTheDocumentedRanges()
    {
        typeof(RangeAttribute).Assembly.GetName().Name.Should().Be("Microsoft.ML.Core", "the attributes ship inside Microsoft.ML, no extra package");
        var t = typeof(RecurrentRegressionSearchSpace);
        Range(t, "HiddenSize").Should().Be((8, 256, true));
        Range(t, "NumberOfLayers").Should().Be((1, 3, false));
        Range(t, "Dropout").Should().Be((0.0, 0.5, false));
        Range(t, "LearningRate").Min.Should().BeApproximately(1e-4, 1e-9);
        Range(t, "LearningRate").Max.Should().BeApproximately(3e-2, 1e-9);
        Range(t, "LearningRate").Log.Should().BeTrue();
        Range(t, "MaximumNumberOfEpochs").Should().Be((3, 81, true));
        Choice(t, "CellType").Should().Equal(RecurrentCellType.SimpleRnn, RecurrentCellType.Lstm, RecurrentCellType.Gru);
        Choice(t, "BatchSize").Should().Equal(16, 32, 64, 128);
        t.GetProperty("Bidirectional")!.GetCustomAttributes(typeof(BooleanChoiceAttribute), true).Should().HaveCount(1);
        t.GetProperty("FeaturesPerStep")!.GetCustomAttributes(true).Should().BeEmpty("fixed properties are not swept");
    }

    private static (double Min, double Max, bool Log) Range(Type t, string name)
    {
        var a = (RangeAttribute)t.GetProperty(name)!.GetCustomAttributes(typeof(RangeAttribute), true).Single();
        return (Convert.ToDouble(a.Min), Convert.ToDouble(a.Max), a.LogBase);
    }

    private static object[] Choice(Type t, string name) =>
        ((ChoiceAttribute)t.GetProperty(name)!.GetCustomAttributes(typeof(ChoiceAttribute), true).Single()).Candidates;

    [Fact]
    public void ToOptions_CopiesEveryValue_AndEachTaskGetsItsTrainersOptions()
    {
        var space = new RecurrentBinaryClassificationSearchSpace
        {
            CellType = RecurrentCellType.Gru, HiddenSize = 40, NumberOfLayers = 2, Bidirectional = true, Dropout = 0.2f,
            LearningRate = 0.01f, BatchSize = 64, MaximumNumberOfEpochs = 7, FeaturesPerStep = 3, LabelColumnName = "Y",
        };
        var o = space.ToOptions();
        (o.CellType, o.HiddenSize, o.NumberOfLayers, o.Bidirectional, o.Dropout, o.LearningRate, o.BatchSize, o.MaximumNumberOfEpochs, o.FeaturesPerStep, o.LabelColumnName)
            .Should().Be((RecurrentCellType.Gru, 40, 2, true, 0.2f, 0.01f, 64, 7, 3, "Y"));
        new RecurrentRegressionSearchSpace().ToOptions().Should().BeOfType<RecurrentRegressionTrainer.Options>();
        new RecurrentMulticlassClassificationSearchSpace().ToOptions().Should().BeOfType<RecurrentMulticlassTrainer.Options>();
        new MLContext().BinaryClassification.Trainers.Recurrent(o).Should().NotBeNull("the options are valid");
    }

    [Fact]
    public void Reader_DefaultSpace_SweepsSevenOptions_AndEpochsAreTheResource()
    {
        var d = SearchSpaceDescription.Read(new RecurrentRegressionSearchSpace(), typeof(RecurrentRegressionTrainer.Options));
        d.Swept.Select(p => p.Name).Should().BeEquivalentTo("CellType", "HiddenSize", "NumberOfLayers", "Bidirectional", "Dropout", "LearningRate", "BatchSize");
        (d.MinimumEpochs, d.MaximumEpochs).Should().Be((3, 81));
        d.Size.Should().BeNull("continuous ranges make the space unbounded");
        var start = d.ValuesAt(d.Swept.Select(p => p.Snap(p.Start)).ToArray());
        var o = d.CreateOptions(start, 3);
        (o.CellType, o.HiddenSize, o.NumberOfLayers, o.Bidirectional, o.Dropout, o.BatchSize).Should().Be((RecurrentCellType.Lstm, 32, 1, false, 0f, 32));
        o.LearningRate.Should().BeApproximately(2e-3f, 1e-6f);
    }

    [Fact]
    public void Proposer_DiscreteSpace_ProposesEachPointOnceThenNull_AndIsSeeded()
    {
        var d = SearchSpaceDescription.Read(new CellAndSizeSpace(), typeof(RecurrentRegressionTrainer.Options));
        d.Size.Should().Be(4);
        string[] Draw(int seed)
        {
            var p = new TrialProposer(d, seed, randomTrials: 2);
            var keys = new List<string>();
            var finished = new List<(double[] Point, double Loss)>();
            while (p.Propose(finished) is { } point)
            {
                keys.Add(SearchSpaceDescription.Key(d.ValuesAt(point)));
                finished.Add((point, keys.Count));
            }

            return keys.ToArray();
        }

        var first = Draw(1);
        first.Should().HaveCount(4).And.OnlyHaveUniqueItems();
        first[0].Should().Be("SimpleRnn|2", "the first proposal is the space's starting point");
        Draw(1).Should().Equal(first);
    }

    [Fact]
    public void Proposer_ModelBased_ConcentratesNearTheGoodTrials()
    {
        // One continuous coordinate; the loss is the distance to 0.8. After random exploration, TPE's proposals must land
        // closer to 0.8 on average than uniform draws (mean distance 0.34).
        var d = SearchSpaceDescription.Read(new OneRange(), typeof(RecurrentRegressionTrainer.Options));
        var p = new TrialProposer(d, seed: 5, randomTrials: 8);
        var finished = new List<(double[] Point, double Loss)>();
        var late = new List<double>();
        for (int i = 0; i < 40; i++)
        {
            var point = p.Propose(finished)!;
            double loss = Math.Abs(point[0] - 0.8);
            finished.Add((point, loss));
            if (i >= 20) late.Add(loss);
        }

        late.Average().Should().BeLessThan(0.15);
    }

    public sealed class OneRange
    {
        [Range(0f, 1f, 0.5f, false)]
        public float Dropout { get; set; }
    }
}
