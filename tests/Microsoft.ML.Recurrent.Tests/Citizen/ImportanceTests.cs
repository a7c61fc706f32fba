using Microsoft.ML.Data;
using Microsoft.ML.Trainers;

namespace Microsoft.ML.Recurrent.Tests.Citizen;

public class ImportanceTests : IClassFixture<CitizenFixture>
{
    private readonly CitizenFixture _f;

    public ImportanceTests(CitizenFixture fixture) => _f = fixture;

    [Fact]
    public void Models_CitizenTasks_LearnTheTask()
    {
        _f.Ml.Regression.Evaluate(_f.Regression.Transform(_f.Test), "Value").RSquared.Should().BeGreaterThan(0.9);
        _f.Ml.BinaryClassification.Evaluate(_f.Binary.Transform(_f.Test), "Flag").Accuracy.Should().BeGreaterThan(0.9);
        _f.Ml.MulticlassClassification.Evaluate(_f.Multiclass.Transform(_f.Ml.Transforms.Conversion.MapValueToKey("Label", "Class").Fit(_f.Train).Transform(_f.Test)))
            .MicroAccuracy.Should().BeGreaterThan(0.85);
    }

    [Fact]
    public void Trainers_AreTrainerEstimatorsWithTrainerInfo()
    {
        ITrainerEstimator<RecurrentPredictionTransformer, RecurrentModelParameters> trainer =
            _f.Ml.Regression.Trainers.Recurrent(CitizenFixture.Options<RecurrentRegressionTrainer.Options>("Value"));
        trainer.Info.NeedNormalization.Should().BeFalse("the trainer standardises its inputs itself");
        trainer.Info.WantCaching.Should().BeFalse("the trainer reads the data into its own buffers");
        _f.Ml.BinaryClassification.Trainers.Gru().Info.Should().BeSameAs(trainer.Info);
        _f.Ml.MulticlassClassification.Trainers.Lstm().Info.Should().BeSameAs(trainer.Info);
    }

    [Fact]
    public void MlNetPfi_Regression_InformativeSlotFirst()
    {
        // The typed overload (ISingleFeaturePredictionTransformer<TModel>) takes the fitted transformer.
        var pfi = _f.Ml.Regression.PermutationFeatureImportance(_f.Regression, _f.Test, labelColumnName: "Value", permutationCount: 1);
        pfi.Length.Should().Be(FixedRow.Steps * FixedRow.FeaturesPerStep);
        var ranked = Enumerable.Range(0, pfi.Length).OrderByDescending(i => pfi[i].RootMeanSquaredError.Mean).ToArray();
        CitizenData.InformativeSlots.Should().BeEquivalentTo(ranked.Take(2), "only feature 0 at steps 4 and 5 carries the label");
        pfi[ranked[2]].RootMeanSquaredError.Mean.Should().BeLessThan(0.2 * pfi[ranked[1]].RootMeanSquaredError.Mean);
    }

    [Fact]
    public void MlNetPfi_BinaryAndMulticlassFromChainLastTransformer_InformativeSlotFirst()
    {
        var binary = _f.Ml.BinaryClassification.PermutationFeatureImportance(_f.Binary, _f.Test, labelColumnName: "Flag");
        int topBinary = Enumerable.Range(0, binary.Length).MaxBy(i => -binary[i].AreaUnderRocCurve.Mean);
        CitizenData.InformativeSlots.Should().Contain(topBinary, "AUC drops most when an informative slot is permuted");

        // A chain's LastTransformer is the typed model: this is how users reach the typed overload from a pipeline.
        var keyed = _f.Multiclass.Transform(_f.Test);
        var multiclass = _f.Ml.MulticlassClassification.PermutationFeatureImportance(_f.Multiclass.LastTransformer, keyed);
        int topMulticlass = Enumerable.Range(0, multiclass.Length).MaxBy(i => multiclass[i].LogLoss.Mean);
        CitizenData.InformativeSlots.Should().Contain(topMulticlass);
    }

    [Fact]
    public void SequenceImportance_Regression_RanksFeatureZeroAndTheLastWindow()
    {
        var result = _f.Ml.Recurrent().PermutationFeatureImportance(_f.Regression, _f.Test, labelColumnName: "Value", stepWindowSize: 2, permutationCount: 2, seed: 5);
        result.LossName.Should().Be("mean squared error");
        result.RowCount.Should().Be(300);
        result.Features.Select(i => i.Index).Should().Equal(0, 1, 2);
        result.StepWindows.Select(w => (w.FirstStep, w.StepCount)).Should().Equal((0, 2), (2, 2), (4, 2));

        // Permuting feature 0 destroys the signal: the MSE grows by about the label's variance (2/3 for a sum of two U(-1,1)).
        result.Features[0].LossIncrease.Should().BeGreaterThan(0.5);
        result.Features[1].LossIncrease.Should().BeLessThan(0.1 * result.Features[0].LossIncrease);
        result.Features[2].LossIncrease.Should().BeLessThan(0.1 * result.Features[0].LossIncrease);
        result.StepWindows[2].LossIncrease.Should().BeGreaterThan(0.5);
        result.StepWindows[0].LossIncrease.Should().BeLessThan(0.1 * result.StepWindows[2].LossIncrease);
        result.StepWindows[1].LossIncrease.Should().BeLessThan(0.1 * result.StepWindows[2].LossIncrease);
        // Two permutations of feature 0 destroy the signal differently: their spread is positive, and small next to the mean.
        result.Features[0].StandardDeviation.Should().BeGreaterThan(0).And.BeLessThan(0.5 * result.Features[0].LossIncrease);

        // The baseline is the model's own MSE as ML.NET measures it.
        double mse = _f.Ml.Regression.Evaluate(_f.Regression.Transform(_f.Test), "Value").MeanSquaredError;
        result.BaselineLoss.Should().BeApproximately(mse, 1e-4 * Math.Max(1, mse));

        // Seeded: the same seed gives the same numbers.
        var again = _f.Ml.Recurrent().PermutationFeatureImportance(_f.Regression, _f.Test, labelColumnName: "Value", stepWindowSize: 2, permutationCount: 2, seed: 5);
        again.Features.Select(i => i.LossIncrease).Should().Equal(result.Features.Select(i => i.LossIncrease));
    }

    [Fact]
    public void SequenceImportance_MulticlassAndBinary_RankFeatureZeroFirst()
    {
        var keyed = _f.Ml.Transforms.Conversion.MapValueToKey("Label", "Class").Fit(_f.Train).Transform(_f.Test);
        var multiclass = _f.Ml.Recurrent().PermutationFeatureImportance(_f.Multiclass.LastTransformer, keyed, stepWindowSize: 3, permutationCount: 1, seed: 1);
        multiclass.LossName.Should().Be("cross-entropy");
        multiclass.Features.Concat(multiclass.StepWindows).Should().OnlyContain(i => i.StandardDeviation == 0, "one permutation has no spread");
        multiclass.Features.MaxBy(i => i.LossIncrease)!.Index.Should().Be(0);
        multiclass.StepWindows.MaxBy(i => i.LossIncrease)!.FirstStep.Should().Be(3);

        var binary = _f.Ml.Recurrent().PermutationFeatureImportance(_f.Binary, _f.Test, labelColumnName: "Flag", permutationCount: 1, seed: 1);
        binary.LossName.Should().Be("log-loss");
        binary.Features.MaxBy(i => i.LossIncrease)!.Index.Should().Be(0);
        binary.StepWindows.Should().HaveCount(6);
        binary.StepWindows.OrderByDescending(w => w.LossIncrease).Take(2).Select(w => w.FirstStep).Should().BeEquivalentTo([4, 5]);
    }

    [Fact]
    public void SequenceImportance_BadArguments_ThrowNamingThem()
    {
        var catalog = _f.Ml.Recurrent();
        FluentActions.Invoking(() => catalog.PermutationFeatureImportance(_f.Regression, _f.Test, "Value", stepWindowSize: 0))
            .Should().Throw<ArgumentOutOfRangeException>().WithParameterName("stepWindowSize");
        FluentActions.Invoking(() => catalog.PermutationFeatureImportance(_f.Regression, _f.Test, "Value", permutationCount: 0))
            .Should().Throw<ArgumentOutOfRangeException>().WithParameterName("permutationCount");
        FluentActions.Invoking(() => catalog.PermutationFeatureImportance(_f.Regression, _f.Test, "Flag"))
            .Should().Throw<ArgumentOutOfRangeException>().WithMessage("*Label column 'Flag'*Regression*Boolean*");
        FluentActions.Invoking(() => catalog.PermutationFeatureImportance(_f.Regression, _f.Test, "Missing"))
            .Should().Throw<ArgumentOutOfRangeException>().WithMessage("*'Missing' was not found*");
    }
}
