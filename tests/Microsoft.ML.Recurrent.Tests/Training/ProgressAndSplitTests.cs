using System.Text.RegularExpressions;
using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Data;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Model;
using Microsoft.ML.Recurrent.Tests.Estimators;

namespace Microsoft.ML.Recurrent.Tests.Training;

/// <summary>The progress log line, the Last validation split and the ConvertType hint.</summary>
public class ProgressAndSplitTests
{
    private static readonly Regex EpochLine = new(
        @"^Epoch (\d+)/4: training mean squared error [-0-9.E+]+, validation mean squared error [-0-9.E+]+, validation RMSE [-0-9.E+]+, \d+ sequences/s, ETA \d\d:\d\d$");

    [Fact]
    public void RecurrentTrainingLog_Fit_ExactlyOneCleanLinePerEpoch()
    {
        var ml = new MLContext(seed: 0);
        var lines = new List<(string Source, ChannelMessageKindProbe Kind, string Text)>();
        ml.Log += (_, e) => { lock (lines) lines.Add((e.Source, (ChannelMessageKindProbe)(int)e.Kind, e.RawMessage)); };
        var progress = ml.RecurrentTrainingLog();
        lines.Where(l => l.Source == "RecurrentTrainer").Should().ContainSingle("ML.NET announces the sink's one channel when it is created")
            .Which.Kind.Should().Be(ChannelMessageKindProbe.Trace);
        lines.Clear();
        ml.Regression.Trainers.Recurrent(new RecurrentRegressionTrainer.Options
        {
            LabelColumnName = "Value", FeaturesPerStep = 2, HiddenSize = 3, MaximumNumberOfEpochs = 4, EarlyStoppingPatience = 0,
            ValidationFraction = 0.25f, Progress = progress,
        }).Fit(ml.Data.LoadFromEnumerable(SequenceData.MarkedSum(40, seed: 1)));

        var ours = lines.Where(l => l.Source == "RecurrentTrainer").ToList();
        ours.Should().HaveCount(4, "one line per epoch and no channel start/stop chatter");
        for (int i = 0; i < 4; i++)
        {
            ours[i].Kind.Should().Be(ChannelMessageKindProbe.Info);
            var match = EpochLine.Match(ours[i].Text);
            match.Success.Should().BeTrue(ours[i].Text);
            match.Groups[1].Value.Should().Be($"{i + 1}");
        }
    }

    private enum ChannelMessageKindProbe
    {
        Trace = 0,
        Info = 1,
        Warning = 2,
        Error = 3,
    }

    [Fact]
    public void CreateLog_FromTheCatalog_OneLinePerReport()
    {
        var ml = new MLContext(seed: 0);
        var log = ml.Recurrent().CreateLog("Probe");
        var lines = new List<string>();
        ml.Log += (_, e) => { if (e.Source == "Probe") lines.Add(e.RawMessage); };
        var report = new RecurrentEpochReport(3, 10, "log-loss", 0.5, 0.6, 0.75, 1234, 1e-3f) { EstimatedTimeRemaining = TimeSpan.FromSeconds(3725) };
        log.Report(report);
        log.Report(report);
        lines.Should().Equal(
            "Epoch 3/10: training log-loss 0.5, validation log-loss 0.6, validation accuracy 0.7500, 1234 sequences/s, ETA 1:02:05",
            "Epoch 3/10: training log-loss 0.5, validation log-loss 0.6, validation accuracy 0.7500, 1234 sequences/s, ETA 1:02:05");
        ml.Recurrent().ProgressOrLog(null, "X").Should().NotBeNull();
        var mine = new Progress<RecurrentEpochReport>();
        ml.Recurrent().ProgressOrLog(mine, "X").Should().BeSameAs(mine);
    }

    [Theory]
    [InlineData(10, 0.3f, new[] { 7, 8, 9 })]
    [InlineData(7, 0.1f, new[] { 6 })]
    public void SplitMask_Last_HoldsOutExactlyTheLastRows(int n, float fraction, int[] expected)
    {
        var mask = TrainingData.SplitMask(n, fraction, seed: 5, RecurrentValidationSplit.Last);
        Enumerable.Range(0, n).Where(i => mask[i]).Should().Equal(expected);
    }

    /// <summary>Through <c>Prepare</c>, in memory and streamed: the validation rows are the last 25 of 100 in data order.</summary>
    [Theory]
    [InlineData(null)]
    [InlineData(0L)]
    public void Prepare_LastSplit_ValidationIsTheLastRows(long? budget)
    {
        var ml = new MLContext(seed: 0);
        var rows = SequenceData.MarkedSum(100, seed: 2).Select((r, i) => { r.Value = i; return r; }).ToArray();
        var data = ml.Data.LoadFromEnumerable(rows);
        var columns = new SequenceColumns("Features", SequenceSchema.CheckFeatures(data.Schema, "Features", 2, "d"), 2,
            "Value", SequenceSchema.CheckLabel(data.Schema, "Value", PredictionKind.Regression, "d"), null);
        var prepared = TrainingData.Prepare(data, null, columns, false, 0.25f, RecurrentValidationSplit.Last, 0, budget ?? long.MaxValue, default);

        prepared.Streaming.Should().Be(budget is not null);
        var batch = new SequenceBatch(16, 12, 2, 1);
        var held = new List<float>();
        foreach (int count in prepared.Validation!.InOrder(batch, default))
        {
            var labels = new float[count];
            for (int r = 0; r < count; r++) labels[batch.Order[r]] = batch.Targets[r] * prepared.LabelStd + prepared.LabelMean;
            held.AddRange(labels);
        }

        held.Select(v => (int)Math.Round(v)).Should().Equal(Enumerable.Range(75, 25));
        prepared.Train.Count.Should().Be(75);
    }

    private sealed class DoubleRow
    {
        [VectorType]
        public double[] Features { get; set; } = [];

        public double Value { get; set; }
    }

    [Fact]
    public void Fit_DoubleColumns_SuggestConvertType_AndTheSuggestionWorks()
    {
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(SequenceData.MarkedSum(30, seed: 4)
            .Select(r => new DoubleRow { Features = r.Features.Select(v => (double)v).ToArray(), Value = r.Value }));
        RecurrentRegressionTrainer Trainer() => ml.Regression.Trainers.Recurrent(new RecurrentRegressionTrainer.Options
        {
            LabelColumnName = "Value", FeaturesPerStep = 2, HiddenSize = 3, MaximumNumberOfEpochs = 1,
        });

        var features = () => Trainer().Fit(data);
        features.Should().Throw<ArgumentOutOfRangeException>()
            .WithMessage("*Feature column 'Features' has the wrong type*found Vector<Double>. Convert it first with mlContext.Transforms.Conversion.ConvertType(\"Features\", outputKind: DataKind.Single).*");
        var schema = () => Trainer().GetOutputSchema(TestHelpers.ShapeOf<DoubleRow>(ml));
        schema.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*ConvertType(\"Features\", outputKind: DataKind.Single)*");

        var singleFeatures = ml.Transforms.Conversion.ConvertType("Features", outputKind: DataKind.Single).Fit(data).Transform(data);
        var label = () => Trainer().Fit(singleFeatures);
        label.Should().Throw<ArgumentOutOfRangeException>()
            .WithMessage("*Label column 'Value' has the wrong type: expected Single (regression), found Double. Convert it first with mlContext.Transforms.Conversion.ConvertType(\"Value\", outputKind: DataKind.Single).*");

        var pipeline = ml.Transforms.Conversion.ConvertType("Features", outputKind: DataKind.Single)
            .Append(ml.Transforms.Conversion.ConvertType("Value", outputKind: DataKind.Single))
            .Append(Trainer());
        var scored = pipeline.Fit(data).Transform(data);
        scored.Schema["Score"].Type.Should().Be(NumberDataViewType.Single);
    }
}
