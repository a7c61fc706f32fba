namespace Microsoft.ML.Recurrent.Tests.Estimators;

public class SmokeTests
{
    [Fact]
    public void Regression_Fit_Runs()
    {
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(SequenceData.MarkedSum(1000, 1));
        var test = ml.Data.LoadFromEnumerable(SequenceData.MarkedSum(300, 2));
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var model = ml.Regression.Trainers.Recurrent(new RecurrentRegressionTrainer.Options
        {
            LabelColumnName = "Value", FeaturesPerStep = 2, HiddenSize = 32, MaximumNumberOfEpochs = 20,
            Progress = new SyncProgress(r => Console.WriteLine(r)),
        }).Fit(data);
        Console.WriteLine("fit " + sw.Elapsed);
        var m = ml.Regression.Evaluate(model.Transform(test), "Value");
        Console.WriteLine($"R2 {m.RSquared} RMSE {m.RootMeanSquaredError}");
        m.RSquared.Should().BeGreaterThan(0.5);
    }
}

internal sealed class SyncProgress(Action<RecurrentEpochReport> report) : IProgress<RecurrentEpochReport>
{
    public void Report(RecurrentEpochReport value) => report(value);
}
