using Microsoft.ML.Data;

namespace Microsoft.ML.Recurrent.Tests.Estimators;

public class OptionsAndCatalogTests
{
    private static readonly MLContext Ml = new(seed: 0);

    public static TheoryData<string, Action<RecurrentTrainerOptions>> InvalidOptions() => new()
    {
        { nameof(RecurrentTrainerOptions.FeaturesPerStep), o => o.FeaturesPerStep = 0 },
        { nameof(RecurrentTrainerOptions.HiddenSize), o => o.HiddenSize = 0 },
        { nameof(RecurrentTrainerOptions.HiddenSize), o => o.HiddenSize = 1 << 20 },
        { nameof(RecurrentTrainerOptions.NumberOfLayers), o => o.NumberOfLayers = 0 },
        { nameof(RecurrentTrainerOptions.Dropout), o => o.Dropout = 1f },
        { nameof(RecurrentTrainerOptions.Dropout), o => o.Dropout = float.NaN },
        { nameof(RecurrentTrainerOptions.EmbeddingSize), o => o.EmbeddingSize = 0 },
        { nameof(RecurrentTrainerOptions.UnknownTokenRate), o => o.UnknownTokenRate = 0.6f },
        { nameof(RecurrentTrainerOptions.UnknownTokenRate), o => o.UnknownTokenRate = float.NaN },
        { nameof(RecurrentTrainerOptions.MaximumNumberOfEpochs), o => o.MaximumNumberOfEpochs = 0 },
        { nameof(RecurrentTrainerOptions.BatchSize), o => o.BatchSize = -1 },
        { nameof(RecurrentTrainerOptions.LearningRate), o => o.LearningRate = 0 },
        { nameof(RecurrentTrainerOptions.LearningRate), o => o.LearningRate = float.PositiveInfinity },
        { nameof(RecurrentTrainerOptions.GradientClipNorm), o => o.GradientClipNorm = -1 },
        { nameof(RecurrentTrainerOptions.L2Regularization), o => o.L2Regularization = -0.1f },
        { nameof(RecurrentTrainerOptions.ValidationFraction), o => o.ValidationFraction = 1f },
        { nameof(RecurrentTrainerOptions.EarlyStoppingPatience), o => o.EarlyStoppingPatience = -1 },
        { nameof(RecurrentTrainerOptions.NumberOfThreads), o => o.NumberOfThreads = 0 },
        { nameof(RecurrentTrainerOptions.CellType), o => o.CellType = (RecurrentCellType)7 },
        { nameof(RecurrentTrainerOptions.Optimizer), o => o.Optimizer = (RecurrentOptimizer)9 },
        { nameof(RecurrentTrainerOptions.LearningRateSchedule), o => o.LearningRateSchedule = (RecurrentLearningRateSchedule)5 },
    };

    [Theory]
    [MemberData(nameof(InvalidOptions))]
    public void Recurrent_InvalidOption_ThrowsNamingTheOption(string option, Action<RecurrentTrainerOptions> spoil)
    {
        var regression = new RecurrentRegressionTrainer.Options();
        spoil(regression);
        var act = () => Ml.Regression.Trainers.Recurrent(regression);
        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be(option);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage($"{option} *");

        var binary = new RecurrentBinaryTrainer.Options();
        spoil(binary);
        ((Action)(() => Ml.BinaryClassification.Trainers.Recurrent(binary))).Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be(option);
        var multiclass = new RecurrentMulticlassTrainer.Options();
        spoil(multiclass);
        ((Action)(() => Ml.MulticlassClassification.Trainers.Recurrent(multiclass))).Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be(option);
    }

    [Fact]
    public void Recurrent_EmptyColumnNames_ThrowNamingTheOption()
    {
        var act = () => Ml.Regression.Trainers.Recurrent(new RecurrentRegressionTrainer.Options { LabelColumnName = "" });
        act.Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("LabelColumnName");
        act = () => Ml.Regression.Trainers.Lstm(featureColumnName: " ");
        act.Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("FeatureColumnName");
        act = () => Ml.Regression.Trainers.Gru(hiddenSize: -3);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("HiddenSize must be > 0*it was -3*");
    }

    [Fact]
    public void Options_Defaults_AreTheDocumentedOutOfTheBoxSettings()
    {
        var o = new RecurrentBinaryTrainer.Options();
        o.LabelColumnName.Should().Be("Label");
        o.FeatureColumnName.Should().Be("Features");
        o.FeaturesPerStep.Should().Be(1);
        o.CellType.Should().Be(RecurrentCellType.Lstm);
        o.HiddenSize.Should().Be(64);
        o.NumberOfLayers.Should().Be(1);
        o.Bidirectional.Should().BeFalse();
        o.Dropout.Should().Be(0f);
        o.EmbeddingSize.Should().Be(32);
        o.MaximumNumberOfEpochs.Should().Be(30);
        o.BatchSize.Should().Be(32);
        o.LearningRate.Should().Be(0.002f);
        o.Optimizer.Should().Be(RecurrentOptimizer.Adam);
        o.GradientClipNorm.Should().Be(1f);
        o.L2Regularization.Should().Be(0f);
        o.NormalizeFeatures.Should().BeTrue();
        o.ValidationSet.Should().BeNull();
        o.ValidationFraction.Should().Be(0f);
        o.EarlyStoppingPatience.Should().Be(5);
        o.Seed.Should().BeNull();
        o.NumberOfThreads.Should().BeNull();
    }

    private static IDataView TinyDense(int count = 24) => Ml.Data.LoadFromEnumerable(SequenceData.OneBeforeTwo(count, seed: 4)
        .Select((r, i) => { r.Value = i % 3; r.Category = (i % 3).ToString(); return r; }));

    public static TheoryData<string, RecurrentCellType> CatalogMethods() => new()
    {
        { "regression.Lstm", RecurrentCellType.Lstm }, { "regression.Gru", RecurrentCellType.Gru }, { "regression.SimpleRnn", RecurrentCellType.SimpleRnn },
        { "binary.Lstm", RecurrentCellType.Lstm }, { "binary.Gru", RecurrentCellType.Gru }, { "binary.SimpleRnn", RecurrentCellType.SimpleRnn },
        { "multiclass.Lstm", RecurrentCellType.Lstm }, { "multiclass.Gru", RecurrentCellType.Gru }, { "multiclass.SimpleRnn", RecurrentCellType.SimpleRnn },
    };

    [Theory]
    [MemberData(nameof(CatalogMethods))]
    public void SimpleOverload_EveryCatalogAndCell_TrainsThatCellWithTheGivenSizes(string method, RecurrentCellType cell)
    {
        var data = TinyDense();
        IEstimator<ITransformer> trainer = method switch
        {
            "regression.Lstm" => Ml.Regression.Trainers.Lstm("Value", "Features", 5, 6, 2, 1),
            "regression.Gru" => Ml.Regression.Trainers.Gru("Value", "Features", 5, 6, 2, 1),
            "regression.SimpleRnn" => Ml.Regression.Trainers.SimpleRnn("Value", "Features", 5, 6, 2, 1),
            "binary.Lstm" => Ml.BinaryClassification.Trainers.Lstm("Flag", "Features", 5, 6, 2, 1),
            "binary.Gru" => Ml.BinaryClassification.Trainers.Gru("Flag", "Features", 5, 6, 2, 1),
            "binary.SimpleRnn" => Ml.BinaryClassification.Trainers.SimpleRnn("Flag", "Features", 5, 6, 2, 1),
            "multiclass.Lstm" => Ml.Transforms.Conversion.MapValueToKey("Label", "Category").Append(Ml.MulticlassClassification.Trainers.Lstm("Label", "Features", 5, 6, 2, 1)),
            "multiclass.Gru" => Ml.Transforms.Conversion.MapValueToKey("Label", "Category").Append(Ml.MulticlassClassification.Trainers.Gru("Label", "Features", 5, 6, 2, 1)),
            _ => Ml.Transforms.Conversion.MapValueToKey("Label", "Category").Append(Ml.MulticlassClassification.Trainers.SimpleRnn("Label", "Features", 5, 6, 2, 1)),
        };

        var model = trainer.Fit(data);
        var info = (model is RecurrentPredictionTransformer r ? r : ((TransformerChain<RecurrentPredictionTransformer>)model).LastTransformer).ModelInfo;
        info.CellType.Should().Be(cell);
        info.FeaturesPerStep.Should().Be(5);
        info.HiddenSize.Should().Be(6);
        info.NumberOfLayers.Should().Be(2);
        info.TrainingHistory.Should().HaveCount(1);
        info.OutputSize.Should().Be(method.StartsWith("multiclass") ? 3 : 1);
        var scored = model.Transform(data);
        scored.Schema.GetColumnOrNull("Score").Should().NotBeNull();
    }

    [Fact]
    public void Recurrent_NullArguments_Throw()
    {
        var act = () => Ml.Regression.Trainers.Recurrent(null!);
        act.Should().Throw<ArgumentNullException>();
        act = () => RecurrentCatalog.Lstm((RegressionCatalog.RegressionTrainers)null!);
        act.Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("catalog");
    }

    [Fact]
    public void Fit_SameSeed_SameWeights_OtherSeed_OtherWeights()
    {
        var data = TinyDense(40);
        RecurrentPredictionTransformer Train(int? seed) => Ml.BinaryClassification.Trainers.Recurrent(new RecurrentBinaryTrainer.Options
        {
            LabelColumnName = "Flag", FeaturesPerStep = 5, HiddenSize = 5, MaximumNumberOfEpochs = 2, Seed = seed,
        }).Fit(data);

        var a = Train(7).Model.Parameters;
        Train(7).Model.Parameters.Should().Equal(a);
        Train(8).Model.Parameters.Should().NotEqual(a);
        Train(null).Model.Parameters.Should().Equal(Train(0).Model.Parameters, "a null seed means seed 0");
    }

    [Fact]
    public void Fit_ValidationFraction_ReportsValidationAndKeepsTheBestEpoch()
    {
        var data = Ml.Data.LoadFromEnumerable(SequenceData.OneBeforeTwo(200, seed: 5));
        var model = Ml.BinaryClassification.Trainers.Recurrent(new RecurrentBinaryTrainer.Options
        {
            LabelColumnName = "Flag", FeaturesPerStep = 5, HiddenSize = 8, MaximumNumberOfEpochs = 12,
            LearningRate = 0.05f, ValidationFraction = 0.25f, EarlyStoppingPatience = 2, Seed = 1,
        }).Fit(data);

        var history = model.ModelInfo.TrainingHistory;
        history.Should().OnlyContain(r => r.ValidationLoss.HasValue && r.ValidationAccuracy.HasValue);
        var best = history.MinBy(r => r.ValidationLoss!.Value)!;
        model.ModelInfo.BestEpoch.Should().Be(best.Epoch, "the weights of the best validation epoch are kept");
        if (history.Count < 12) history.Count.Should().Be(best.Epoch + 2, "training stops after Patience epochs without improvement");
        history[0].ToString().Should().Contain("validation log-loss").And.Contain("validation accuracy");
    }

    [Fact]
    public void Fit_ValidationSetWithOtherLabelType_ThrowsNamingValidationSet()
    {
        var data = Ml.Data.LoadFromEnumerable(SequenceData.MarkedSum(20, seed: 1));
        var options = new RecurrentRegressionTrainer.Options
        {
            LabelColumnName = "Value", FeaturesPerStep = 2, ValidationSet = Ml.Data.LoadFromEnumerable(new[] { new TextRow() }),
        };
        var act = () => Ml.Regression.Trainers.Recurrent(options).Fit(data);
        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("ValidationSet");
    }

    [Fact]
    public void Fit_ValidationSet_UsedForEveryEpoch()
    {
        var options = new RecurrentRegressionTrainer.Options
        {
            LabelColumnName = "Value", FeaturesPerStep = 2, HiddenSize = 4, MaximumNumberOfEpochs = 3,
            ValidationSet = Ml.Data.LoadFromEnumerable(SequenceData.MarkedSum(30, seed: 2)),
        };
        var model = Ml.Regression.Trainers.Recurrent(options).Fit(Ml.Data.LoadFromEnumerable(SequenceData.MarkedSum(60, seed: 1)));
        model.ModelInfo.TrainingHistory.Should().OnlyContain(r => r.ValidationLoss > 0 && r.ValidationAccuracy == null);
    }

    [Theory]
    [InlineData(RecurrentLearningRateSchedule.Constant, 0.01f, 0.01f)]
    [InlineData(RecurrentLearningRateSchedule.Cosine, 0.01f, 0.000954915f)] // 0.01·(1 + cos(π·4/5))/2 at the fifth epoch
    public void Fit_LearningRateSchedule_DrivesTheRatePerEpoch(RecurrentLearningRateSchedule schedule, float first, float last)
    {
        var options = new RecurrentRegressionTrainer.Options
        {
            LabelColumnName = "Value", FeaturesPerStep = 2, HiddenSize = 4, MaximumNumberOfEpochs = 5,
            LearningRate = 0.01f, LearningRateSchedule = schedule,
        };
        var model = Ml.Regression.Trainers.Recurrent(options).Fit(Ml.Data.LoadFromEnumerable(SequenceData.MarkedSum(40, seed: 1)));
        var rates = model.ModelInfo.TrainingHistory.Select(r => r.LearningRate).ToArray();
        rates.Should().HaveCount(5);
        rates[0].Should().BeApproximately(first, 1e-6f);
        rates[^1].Should().BeApproximately(last, 1e-6f);
    }

    [Fact]
    public void Fit_CancelledAfterFirstEpoch_ThrowsOperationCanceledWithinABatch()
    {
        using var cts = new CancellationTokenSource();
        var progress = new ListProgress { OnReport = _ => cts.Cancel() };
        var options = new RecurrentRegressionTrainer.Options
        {
            LabelColumnName = "Value", FeaturesPerStep = 2, HiddenSize = 4, MaximumNumberOfEpochs = 50,
            Progress = progress, CancellationToken = cts.Token,
        };
        var act = () => Ml.Regression.Trainers.Recurrent(options).Fit(Ml.Data.LoadFromEnumerable(SequenceData.MarkedSum(100, seed: 1)));
        act.Should().Throw<OperationCanceledException>();
        progress.Reports.Should().HaveCount(1, "no further epoch may complete after the token is cancelled");
    }

    [Fact]
    public void Fit_DivergingTraining_ThrowsClearError()
    {
        var rows = SequenceData.MarkedSum(64, seed: 1);
        var options = new RecurrentRegressionTrainer.Options
        {
            LabelColumnName = "Value", FeaturesPerStep = 2, HiddenSize = 8, MaximumNumberOfEpochs = 20,
            Optimizer = RecurrentOptimizer.Sgd, LearningRate = 1e30f, GradientClipNorm = 0, NormalizeFeatures = false,
        };
        var act = () => Ml.Regression.Trainers.Recurrent(options).Fit(Ml.Data.LoadFromEnumerable(rows));
        act.Should().Throw<InvalidOperationException>().WithMessage("*diverged*");
    }

    [Fact]
    public void Fit_AffinelyShiftedLabels_PredictionsShiftTheSameWay()
    {
        // Labels are standardised before training and the statistics folded into the head, so training on 1000 + 100·y
        // runs the same optimisation as training on y: the predictions differ by the same affine map.
        var rows = SequenceData.MarkedSum(120, seed: 1);
        var shifted = rows.Select(r => new DenseRow { Features = r.Features, Value = 1000 + 100 * r.Value }).ToArray();
        RecurrentPredictionTransformer Train(DenseRow[] data) => Ml.Regression.Trainers.Recurrent(new RecurrentRegressionTrainer.Options
        {
            LabelColumnName = "Value", FeaturesPerStep = 2, HiddenSize = 8, MaximumNumberOfEpochs = 3, Seed = 1,
        }).Fit(Ml.Data.LoadFromEnumerable(data));

        var test = Ml.Data.LoadFromEnumerable(SequenceData.MarkedSum(30, seed: 2));
        var raw = Train(rows).Transform(test).GetColumn<float>("Score").ToArray();
        var big = Train(shifted).Transform(test).GetColumn<float>("Score").ToArray();
        for (int i = 0; i < raw.Length; i++)
            big[i].Should().BeApproximately(1000 + 100 * raw[i], 0.05f);
        raw.Distinct().Should().HaveCountGreaterThan(20, "the model does not predict a constant");
    }

    [Fact]
    public void RecurrentTrainingLog_EveryEpoch_ReachesMLContextLog()
    {
        var ml = new MLContext(seed: 0);
        var messages = new List<string>();
        ml.Log += (_, e) =>
        {
            if (e.Source == "RecurrentTrainer" && e.Kind == Microsoft.ML.Runtime.ChannelMessageKind.Info)
            {
                lock (messages) messages.Add(e.RawMessage);
            }
        };
        ml.Regression.Trainers.Recurrent(new RecurrentRegressionTrainer.Options
        {
            LabelColumnName = "Value", FeaturesPerStep = 2, HiddenSize = 3, MaximumNumberOfEpochs = 2, Progress = ml.RecurrentTrainingLog(),
        }).Fit(ml.Data.LoadFromEnumerable(SequenceData.MarkedSum(20, seed: 1)));
        messages.Should().HaveCount(2);
        messages[0].Should().StartWith("Epoch 1/2: training mean squared error ");
        messages[1].Should().StartWith("Epoch 2/2: ");
    }
}
