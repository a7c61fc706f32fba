using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Data;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Training;
using Microsoft.ML.Recurrent.Model;
using Microsoft.ML.Recurrent.Tests.Estimators;

namespace Microsoft.ML.Recurrent.Tests.Training;

/// <summary>
/// Streaming training (data over the in-memory budget is read from the view every epoch): the same model as the
/// in-memory path on the same data order, the same validation of bad rows, and a shuffle buffer that serves every row
/// once per epoch. (Its memory bound is measured in the benchmark's <c>streaming</c> verb, not here.)
/// </summary>
public class StreamingTrainingTests
{
    private sealed class Row
    {
        [VectorType]
        public float[] Features { get; set; } = [];

        public float Value { get; set; }

        public float Weight { get; set; } = 1f;
    }

    private static Row[] Rows(int count, int seed) =>
        SequenceData.MarkedSum(count, seed).Select((r, i) => new Row { Features = r.Features, Value = r.Value, Weight = 1 + i % 3 }).ToArray();

    private static RecurrentRegressionTrainer.Options Options(long? budget, bool shuffle) => new()
    {
        LabelColumnName = "Value", FeaturesPerStep = 2, HiddenSize = 5, MaximumNumberOfEpochs = 3, BatchSize = 4, Seed = 2,
        ValidationFraction = 0.2f, ExampleWeightColumnName = "Weight", InMemoryBudgetBytesOverride = budget, ShuffleData = shuffle,
    };

    /// <summary>Shuffle off: 250 variable-length rows in windows of 200 (batch 4 × 50), weights and a validation split.</summary>
    [Fact]
    public void StreamingFit_ShuffleOff_GivesBitIdenticalWeightsToInMemoryFit()
    {
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(Rows(250, seed: 5));

        var inMemory = ml.Regression.Trainers.Recurrent(Options(budget: null, shuffle: false)).Fit(data);
        var streamed = ml.Regression.Trainers.Recurrent(Options(budget: 0, shuffle: false)).Fit(data);

        streamed.Model.Parameters.Should().Equal(inMemory.Model.Parameters);
        streamed.ModelInfo.TrainingHistory.Select(r => r.ValidationLoss)
            .Should().Equal(inMemory.ModelInfo.TrainingHistory.Select(r => r.ValidationLoss));
    }

    /// <summary>The same for a multiclass model on key-typed tokens (embedding, class keys) and a binary one.</summary>
    [Fact]
    public void StreamingFit_TokensAndClasses_ShuffleOff_BitIdentical()
    {
        var ml = new MLContext(seed: 0);
        var text = ml.Data.LoadFromEnumerable(SequenceData.FirstColour(120, seed: 3));
        var featurize = ml.Transforms.Text.TokenizeIntoWords("Tokens", "Text")
            .Append(ml.Transforms.Conversion.MapValueToKey("Tokens"))
            .Append(ml.Transforms.Conversion.MapValueToKey("Label", "Category"));
        var tokens = featurize.Fit(text).Transform(text);
        RecurrentMulticlassTrainer.Options Multiclass(long? budget) => new()
        {
            FeatureColumnName = "Tokens", HiddenSize = 4, EmbeddingSize = 3, MaximumNumberOfEpochs = 2, BatchSize = 8, Seed = 1,
            ValidationFraction = 0.2f, ValidationSplit = RecurrentValidationSplit.Last, InMemoryBudgetBytesOverride = budget, ShuffleData = false,
        };
        ml.MulticlassClassification.Trainers.Recurrent(Multiclass(0)).Fit(tokens).Model.Parameters
            .Should().Equal(ml.MulticlassClassification.Trainers.Recurrent(Multiclass(null)).Fit(tokens).Model.Parameters);

        var binary = ml.Data.LoadFromEnumerable(SequenceData.OneBeforeTwo(90, seed: 4));
        RecurrentBinaryTrainer.Options Binary(long? budget) => new()
        {
            LabelColumnName = "Flag", FeaturesPerStep = 5, HiddenSize = 4, MaximumNumberOfEpochs = 2, BatchSize = 8, Seed = 1,
            InMemoryBudgetBytesOverride = budget, ShuffleData = false,
        };
        ml.BinaryClassification.Trainers.Recurrent(Binary(0)).Fit(binary).Model.Parameters
            .Should().Equal(ml.BinaryClassification.Trainers.Recurrent(Binary(null)).Fit(binary).Model.Parameters);
    }

    [Fact]
    public void Prepare_OverBudget_Streams_UnderBudget_HoldsInMemory()
    {
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(Rows(100, seed: 1));
        var columns = Columns(data);
        long bytes = Rows(100, seed: 1).Sum(r => 4L * r.Features.Length + SequenceReader.RowOverheadBytes);

        var small = TrainingData.Prepare(data, null, columns, true, 0f, RecurrentValidationSplit.Random, 0, bytes, default);
        var large = TrainingData.Prepare(data, null, columns, true, 0f, RecurrentValidationSplit.Random, 0, bytes - 1, default);

        small.Streaming.Should().BeFalse();
        large.Streaming.Should().BeTrue();
        large.Train.Count.Should().Be(100);
        large.Scaling!.Mean.Should().Equal(small.Scaling!.Mean);
        large.Scaling.Std.Should().Equal(small.Scaling.Std);
        (large.LabelMean, large.LabelStd).Should().Be((small.LabelMean, small.LabelStd));
    }

    private static SequenceColumns Columns(IDataView data) => new(
        "Features", SequenceSchema.CheckFeatures(data.Schema, "Features", 2, "data"), 2,
        "Value", SequenceSchema.CheckLabel(data.Schema, "Value", PredictionKind.Regression, "data"), "Weight");

    /// <summary>With shuffling, a shuffle buffer smaller than the data still serves every row exactly once per epoch,
    /// in an order that changes from epoch to epoch, and bucketed by length within each window.</summary>
    [Fact]
    public void ShuffleBuffer_ServesEveryRowOncePerEpoch()
    {
        var ml = new MLContext(seed: 0);
        var rows = Enumerable.Range(0, 203).Select(i => new Row { Features = new float[2 * (1 + i % 7)], Value = i }).ToArray();
        var data = ml.Data.LoadFromEnumerable(rows);
        var columns = Columns(data) with { WeightColumn = null };
        var source = new StreamingSequenceSource(data, columns, "training", null, false, 203, 7, null, 0f, 1f, poolRows: 30);
        var batch = new SequenceBatch(8, 7, 2, 1);
        var random = new Random(1);
        var epochs = new List<List<int>>();
        for (int e = 0; e < 2; e++)
        {
            var seen = new List<int>();
            foreach (int count in source.Epoch(batch, 8, bucketWindow: 3, random, shuffle: true, default))
            {
                for (int r = 0; r < count; r++)
                {
                    seen.Add((int)batch.Targets[r]);
                    batch.Lengths[r].Should().Be(1 + (int)batch.Targets[r] % 7);
                }
            }

            seen.Should().BeEquivalentTo(Enumerable.Range(0, 203));
            epochs.Add(seen);
        }

        epochs[0].Should().NotEqual(Enumerable.Range(0, 203), "the rows were shuffled");
        epochs[1].Should().NotEqual(epochs[0], "each epoch draws a new order");
        source.Passes.Should().Be(2, "each epoch reads the view once");
    }

    [Fact]
    public void StreamingFit_ShuffleOn_Learns()
    {
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(SequenceData.MarkedSum(600, seed: 11));
        var options = new RecurrentRegressionTrainer.Options
        {
            LabelColumnName = "Value", FeaturesPerStep = 2, HiddenSize = 16, MaximumNumberOfEpochs = 12, Seed = 0, LearningRate = 0.01f,
            InMemoryBudgetBytesOverride = 0,
        };
        var model = ml.Regression.Trainers.Recurrent(options).Fit(data);
        var metrics = ml.Regression.Evaluate(model.Transform(ml.Data.LoadFromEnumerable(SequenceData.MarkedSum(200, seed: 12))), "Value");
        metrics.RSquared.Should().BeGreaterThan(0.8);
    }

    [Theory]
    [InlineData(null)]
    [InlineData(0L)]
    public void Fit_NonFiniteValue_NamesColumnAndRow_InMemoryAndStreaming(long? budget)
    {
        var ml = new MLContext(seed: 0);
        var rows = Rows(80, seed: 3);
        rows[57].Features[3] = float.NaN;
        var act = () => ml.Regression.Trainers.Recurrent(Options(budget, shuffle: true)).Fit(ml.Data.LoadFromEnumerable(rows));
        act.Should().Throw<InvalidOperationException>()
            .WithMessage("Row 57 of the training data: feature column 'Features' holds NaN at value 3; features must be finite numbers.");

        rows[57].Features[3] = 0;
        rows[61].Features = new float[3];
        act.Should().Throw<InvalidOperationException>()
            .WithMessage("Row 61 of the training data: feature column 'Features' has 3 values, which is not a multiple of FeaturesPerStep = 2.");
    }
}
