using System.Diagnostics;
using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Tests.Serialization;
using Microsoft.ML.SearchSpace;

namespace Microsoft.ML.Recurrent.Tests.Experiments;

public class RecurrentExperimentTests
{
    private static (MLContext Ml, IDataView Train, IDataView Valid) Adding(int trainRows, int validRows, int length)
    {
        var ml = new MLContext(seed: 0);
        return (ml, ml.Data.LoadFromEnumerable(ExperimentData.Adding(trainRows, length, 1)),
            ml.Data.LoadFromEnumerable(ExperimentData.Adding(validRows, length, 2)));
    }

    private static float[] Scores(MLContext ml, ITransformer model, IDataView data) =>
        ml.Data.CreateEnumerable<ScoreRow>(model.Transform(data), reuseRowObject: false).Select(r => r.Score).ToArray();

    private sealed class ScoreRow
    {
        public float Score { get; set; }
    }

    [Fact]
    public void Run_AddingProblem_FindsTheGatedCellWithEnoughUnits_AndItsModelSavesReloadsAndRetrains()
    {
        var (ml, train, valid) = Adding(768, 256, 30);
        var logLines = new List<string>();
        ml.Log += (_, e) => { if (e.Source == "RecurrentExperiment") lock (logLines) logLines.Add(e.RawMessage); };
        var reported = new List<RecurrentTrial>();

        var result = ml.Recurrent().CreateExperiment()
            .SetDataset(train, valid)
            .SetRegressionMetric(RegressionMetric.MeanSquaredError, labelColumn: "Value")
            .SetSearchSpace(new CellAndSizeSpace())
            .SetTrainingTimeInSeconds(300)
            .SetSeed(1)
            .SetProgress(new ActionProgress<RecurrentTrial>(reported.Add))
            .Run();

        // The four points of the space ran; only the GRU with 24 units reaches the target (the mean predictor scores ≈ 0.167).
        result.StopReason.Should().Be(RecurrentExperimentStopReason.SearchSpaceExhausted);
        result.Trials.Should().HaveCount(4);
        result.HigherIsBetter.Should().BeFalse();
        var best = result.BestTrial;
        best.Metric.Should().BeLessThan(0.01);
        best.Options.CellType.Should().Be(RecurrentCellType.Gru);
        best.Options.HiddenSize.Should().Be(24);
        best.Epochs.Should().Be(9, "successive halving trains the best trial up to the maximum of the epochs range");
        best.Options.MaximumNumberOfEpochs.Should().Be(9);
        best.Model.Should().BeOfType<RecurrentPredictionTransformer>().Which.ModelInfo.TrainingHistory.Select(h => h.Epoch)
            .Should().Equal([1, 2, 3, 4, 5, 6, 7, 8, 9], "the history of a resumed trial covers every rung");
        result.Trials.Where(t => t.Id != best.Id).Should().OnlyContain(t => t.Metric > 0.03, "no other configuration solves the task");
        result.Trials.Where(t => t.Id != best.Id).Should().OnlyContain(t => t.Epochs < 9, "the losers are not trained to the end");
        reported.Select(t => t.Id).Distinct().Should().HaveCount(4);
        logLines.Should().Contain(l => l.StartsWith($"trial {best.Id}:") && l.Contains("9 epochs"));

        // The winner's model is an ordinary ML.NET model: save, reload, identical predictions.
        var expected = Scores(ml, best.Model!, valid);
        var stream = new MemoryStream();
        ml.Model.Save(best.Model, train.Schema, stream);
        stream.Position = 0;
        var loaded = new MLContext(seed: 5).Model.Load(stream, out _);
        Scores(ml, loaded, valid).Should().Equal(expected);

        // … and in a fresh process with a fresh MLContext (the package's load check).
        using var dir = new TempDirectory();
        string path = dir.File("winner.zip");
        ml.Model.Save(best.Model, train.Schema, path);
        var child = FreshProcess.Transform(ml, path, valid, dir.Path);
        child.ExitCode.Should().Be(0, child.StandardError);
        ml.Data.LoadFromBinary(child.OutputPath).GetColumn<float>("Score").Should().Equal(expected);

        // Same options and seed give the same model: the rungs (1, then 2 more, then 6 more epochs, each resumed from the
        // previous checkpoint) equal one straight 9-epoch fit, bit for bit.
        var again = ml.Regression.Trainers.Recurrent((RecurrentRegressionTrainer.Options)best.Options).Fit(train);
        Scores(ml, again, valid).Should().Equal(expected);
    }

    private static RecurrentExperimentResult RunSmall(int parallel, int trials)
    {
        var (ml, train, valid) = Adding(256, 128, 16);
        return ml.Recurrent().CreateExperiment()
            .SetDataset(train, valid)
            .SetRegressionMetric(RegressionMetric.RootMeanSquaredError, labelColumn: "Value")
            .SetSearchSpace(new SmallSpace())
            .SetMaximumNumberOfTrials(trials)
            .SetNumberOfParallelTrials(parallel)
            .SetTrainingTimeInSeconds(600)
            .SetSeed(7)
            .Run();
    }

    [Fact]
    public void Run_ParallelTrials_GiveTheSameTrialsAsSerial()
    {
        var serial = RunSmall(parallel: 1, trials: 6);
        var parallel = RunSmall(parallel: 2, trials: 6);

        serial.StopReason.Should().Be(RecurrentExperimentStopReason.MaximumNumberOfTrials);
        serial.Trials.Should().HaveCount(6);
        serial.Trials.Select(t => t.Parameters.Count).Should().OnlyContain(n => n == 3);
        serial.Trials.Select(t => string.Join(",", t.Parameters.Values)).Distinct().Should().HaveCount(6, "a point is never proposed twice");
        parallel.Trials.Should().HaveCount(serial.Trials.Count);
        for (int i = 0; i < serial.Trials.Count; i++)
        {
            var s = serial.Trials[i];
            var p = parallel.Trials[i];
            p.Id.Should().Be(s.Id);
            p.Parameters.Should().Equal(s.Parameters);
            p.Epochs.Should().Be(s.Epochs);
            p.Metric.Should().Be(s.Metric, $"trial {s.Id} must not depend on the number of parallel trials");
        }

        parallel.BestTrial.Id.Should().Be(serial.BestTrial.Id);
    }

    [Fact]
    public void Run_TimeBudget_StopsWithinOneEpochAndReturnsTheBestSoFar()
    {
        var (ml, train, valid) = Adding(512, 128, 24);
        var clock = Stopwatch.StartNew();
        var result = ml.Recurrent().CreateExperiment()
            .SetDataset(train, valid)
            .SetRegressionMetric(RegressionMetric.MeanAbsoluteError, labelColumn: "Value")
            .SetSearchSpace(new SmallSpace())
            .SetTrainingTimeInSeconds(2)
            .SetSeed(3)
            .Run();
        double elapsedMs = clock.Elapsed.TotalMilliseconds;

        result.StopReason.Should().Be(RecurrentExperimentStopReason.TrainingTime);
        result.BestTrial.Succeeded.Should().BeTrue();
        result.BestTrial.Model.Should().NotBeNull();
        // Generous margin: the budget, plus the slowest epoch measured in this run (twice, to cover its evaluation), plus 5 s
        // for data loading and scheduling noise on a shared machine.
        double slowestEpochMs = result.Trials.Where(t => t.Epochs > 0).Max(t => t.DurationInMilliseconds / t.Epochs);
        elapsedMs.Should().BeLessThan(2000 + 2 * slowestEpochMs + 5000);
    }

    [Fact]
    public void Run_TimeBudgetTooSmallForOneTrial_ThrowsTimeoutException()
    {
        var (ml, train, valid) = Adding(256, 64, 16);
        var act = () => ml.Recurrent().CreateExperiment()
            .SetDataset(train, valid)
            .SetRegressionMetric(RegressionMetric.MeanSquaredError, labelColumn: "Value")
            .SetSearchSpace(new FixedEpochsSpace())
            .SetTrainingTimeInSeconds(1)
            .Run();
        act.Should().Throw<TimeoutException>().WithMessage("*ran out before any trial finished its first rung of 100000 epochs*");
    }

    /// <summary>Every trial trains 100 000 epochs: no budget of one second can finish one.</summary>
    public sealed class FixedEpochsSpace
    {
        [Range(4, 8, 4, false)]
        public int HiddenSize { get; set; } = 4;

        public int MaximumNumberOfEpochs { get; set; } = 100000;

        public string LabelColumnName { get; set; } = "Value";

        public int FeaturesPerStep { get; set; } = 2;
    }

    [Fact]
    public async Task RunAsync_Cancelled_StopsTheRunningTrialWithinOneBatchAndReturnsTheBestSoFar()
    {
        var (ml, train, valid) = Adding(256, 128, 16);
        using var cancel = new CancellationTokenSource();
        int reportsAfterCancel = 0;
        var space = new SmallSpace
        {
            // Cancel when a trial reports its 5th epoch: that happens in the second rung (epochs 2 … 9), after every
            // first-rung trial finished; the running trial must not report another epoch.
            Progress = new ActionProgress<RecurrentEpochReport>(r =>
            {
                if (cancel.IsCancellationRequested) Interlocked.Increment(ref reportsAfterCancel);
                else if (r.Epoch == 5) cancel.Cancel();
            }),
        };

        var result = await ml.Recurrent().CreateExperiment()
            .SetDataset(train, valid)
            .SetRegressionMetric(RegressionMetric.MeanSquaredError, labelColumn: "Value")
            .SetSearchSpace(space)
            .SetTrainingTimeInSeconds(600)
            .SetSeed(2)
            .RunAsync(cancel.Token);

        result.StopReason.Should().Be(RecurrentExperimentStopReason.Cancellation);
        reportsAfterCancel.Should().Be(0, "training stops at the next mini-batch");
        result.BestTrial.Succeeded.Should().BeTrue();
        Scores(ml, result.BestTrial.Model!, valid).Should().OnlyContain(s => float.IsFinite(s));
        result.Trials.Should().OnlyContain(t => t.Epochs <= 3, "no trial finished a rung after the cancellation");
    }

    /// <summary>Plain SGD at a huge rate without clipping diverges; 0.01 trains.</summary>
    public sealed class DivergingSpace
    {
        [Choice(new object[] { 1e-2f, 1e7f }, 1e7f)]
        public float LearningRate { get; set; } = 1e7f;

        public RecurrentOptimizer Optimizer { get; set; } = RecurrentOptimizer.Sgd;

        public float GradientClipNorm { get; set; }

        public int HiddenSize { get; set; } = 8;

        public int MaximumNumberOfEpochs { get; set; } = 3;

        public string LabelColumnName { get; set; } = "Value";

        public int FeaturesPerStep { get; set; } = 2;
    }

    [Fact]
    public void Run_DivergingTrial_IsAFailedTrialAndTheExperimentGoesOn()
    {
        var (ml, train, valid) = Adding(256, 64, 12);
        var result = ml.Recurrent().CreateExperiment()
            .SetDataset(train, valid)
            .SetRegressionMetric(RegressionMetric.RSquared, labelColumn: "Value")
            .SetSearchSpace(new DivergingSpace())
            .SetTrainingTimeInSeconds(300)
            .Run();

        result.Trials.Should().HaveCount(2);
        var failed = result.Trials.Single(t => t.Parameters["LearningRate"] is 1e7f);
        failed.Succeeded.Should().BeFalse();
        failed.Model.Should().BeNull();
        double.IsNaN(failed.Metric).Should().BeTrue();
        failed.Exception.Should().BeOfType<InvalidOperationException>().Which.Message.Should().MatchRegex("diverged|non-finite");
        result.BestTrial.Parameters["LearningRate"].Should().Be(1e-2f);
        result.HigherIsBetter.Should().BeTrue();
        result.BestTrial.ToString().Should().Contain("metric").And.Contain("LearningRate=0.01");
    }

    [Fact]
    public void Run_CrossValidationWithPreprocessing_MeasuresEveryFoldAndReturnsAChainThatSavesAndLoads()
    {
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(ExperimentData.Adding(240, 12, 4));
        var result = ml.Recurrent().CreateExperiment()
            .SetDataset(data, numberOfFolds: 3)
            .SetPreprocessing(ml.Transforms.CopyColumns("Target", "Value"))
            .SetRegressionMetric(RegressionMetric.MeanSquaredError, labelColumn: "Target")
            .SetSearchSpace(new OneEpochSpace { MaximumNumberOfEpochs = 2 })
            .SetMaximumNumberOfTrials(2)
            .SetTrainingTimeInSeconds(300)
            .Run();

        result.Trials.Should().HaveCount(2).And.OnlyContain(t => t.Succeeded && t.Epochs == 2);
        result.BestTrial.Options.LabelColumnName.Should().Be("Target", "the metric's label column is the one the trials train on");
        var model = result.BestTrial.Model!;
        model.Should().BeOfType<TransformerChain<ITransformer>>();
        var expected = Scores(ml, model, data);
        var stream = new MemoryStream();
        ml.Model.Save(model, data.Schema, stream);
        stream.Position = 0;
        Scores(ml, ml.Model.Load(stream, out _), data).Should().Equal(expected);
    }

    public sealed class NothingSwept
    {
        public int HiddenSize { get; set; } = 8;

        [Range(1, 9)]
        public int MaximumNumberOfEpochs { get; set; } = 9;
    }

    public sealed class UnknownOption
    {
        [Range(4, 8)]
        public int HiddenUnits { get; set; } = 4;
    }

    private static RecurrentExperiment Configured(MLContext ml, IDataView train, IDataView valid) => ml.Recurrent().CreateExperiment()
        .SetDataset(train, valid)
        .SetRegressionMetric(RegressionMetric.MeanSquaredError, labelColumn: "Value")
        .SetTrainingTimeInSeconds(60);

    [Fact]
    public void Run_BadInput_ThrowsClearErrors()
    {
        var (ml, train, valid) = Adding(32, 16, 6);

        var empty = () => Configured(ml, train, valid).SetSearchSpace(new NothingSwept()).Run();
        empty.Should().Throw<ArgumentException>().WithMessage("*NothingSwept sweeps nothing*[Range], [Choice] or [BooleanChoice]*");

        var unknown = () => Configured(ml, train, valid).SetSearchSpace(new UnknownOption()).Run();
        unknown.Should().Throw<ArgumentException>().WithMessage("*'HiddenUnits', which is not an option of RecurrentRegressionTrainer.Options*");

        var wrongTask = () => Configured(ml, train, valid).SetSearchSpace(new RecurrentBinaryClassificationSearchSpace()).Run();
        wrongTask.Should().Throw<ArgumentException>().WithMessage("*is for binary classification*metric MeanSquaredError is for regression*");

        // A binary metric on a Single label: the label column is named, with what was expected and found.
        var wrongLabel = () => ml.Recurrent().CreateExperiment().SetDataset(train, valid)
            .SetBinaryClassificationMetric(BinaryClassificationMetric.Accuracy, labelColumn: "Value")
            .SetSearchSpace(new RecurrentBinaryClassificationSearchSpace { FeaturesPerStep = 2 }).Run();
        wrongLabel.Should().Throw<ArgumentException>().WithMessage("*Value*Boolean*");

        var noValidation = () => ml.Recurrent().CreateExperiment().SetDataset(train, (IDataView)null!);
        noValidation.Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("validation");

        var oneFold = () => ml.Recurrent().CreateExperiment().SetDataset(train, numberOfFolds: 1);
        oneFold.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*numberOfFolds must be ≥ 2*");

        var noData = () => ml.Recurrent().CreateExperiment().SetRegressionMetric(RegressionMetric.RSquared)
            .SetSearchSpace(new RecurrentRegressionSearchSpace()).Run();
        noData.Should().Throw<InvalidOperationException>().WithMessage("*call SetDataset*");

        var noMetric = () => ml.Recurrent().CreateExperiment().SetDataset(train, valid).SetSearchSpace(new RecurrentRegressionSearchSpace()).Run();
        noMetric.Should().Throw<InvalidOperationException>().WithMessage("*SetRegressionMetric*");

        var noSpace = () => Configured(ml, train, valid).Run();
        noSpace.Should().Throw<InvalidOperationException>().WithMessage("*call SetSearchSpace*");

        var zeroTime = () => ml.Recurrent().CreateExperiment().SetTrainingTimeInSeconds(0);
        zeroTime.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("trainingTimeInSeconds");
        var zeroTrials = () => ml.Recurrent().CreateExperiment().SetMaximumNumberOfTrials(0);
        zeroTrials.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("maximumNumberOfTrials");
        var zeroParallel = () => ml.Recurrent().CreateExperiment().SetNumberOfParallelTrials(0);
        zeroParallel.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("numberOfParallelTrials");
        var badMetric = () => ml.Recurrent().CreateExperiment().SetRegressionMetric((RegressionMetric)42);
        badMetric.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("metric");
    }

    [Fact]
    public void CreateExperiment_FollowsTheContextSeed()
    {
        // The seed drawn at creation decides the proposals: two contexts with the same seed propose the same trials.
        static string[] Points(int contextSeed)
        {
            var ml = new MLContext(seed: contextSeed);
            var train = ml.Data.LoadFromEnumerable(ExperimentData.Adding(64, 6, 1));
            var valid = ml.Data.LoadFromEnumerable(ExperimentData.Adding(32, 6, 2));
            return ml.Recurrent().CreateExperiment().SetDataset(train, valid)
                .SetRegressionMetric(RegressionMetric.MeanSquaredError, labelColumn: "Value")
                .SetSearchSpace(new OneEpochSpace()).SetMaximumNumberOfTrials(3).SetTrainingTimeInSeconds(120).Run()
                .Trials.Select(t => string.Join(",", t.Parameters.Values) + ":" + t.Metric).ToArray();
        }

        Points(11).Should().Equal(Points(11));
        Points(11).Skip(1).Should().NotEqual(Points(12).Skip(1), "another context seed proposes other random points");
    }

    public sealed class OneEpochSpace
    {
        [Range(2, 64, 4, true)]
        public int HiddenSize { get; set; } = 4;

        [Range(1e-3f, 3e-2f, 1e-2f, true)]
        public float LearningRate { get; set; } = 1e-2f;

        public int MaximumNumberOfEpochs { get; set; } = 1;

        public string LabelColumnName { get; set; } = "Value";

        public int FeaturesPerStep { get; set; } = 2;
    }
}
