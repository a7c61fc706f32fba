using Microsoft.ML.Recurrent.Model;
using Microsoft.ML.SearchSpace;

namespace Microsoft.ML.Recurrent;

/// <summary>
/// The hyper-parameters of a recurrent trainer as a search space: each property is named like the trainer option it sets;
/// the ones carrying <see cref="RangeAttribute"/>, <see cref="ChoiceAttribute"/> or <see cref="BooleanChoiceAttribute"/>
/// (namespace <c>Microsoft.ML.SearchSpace</c>, shipped inside Microsoft.ML.Core) are swept, the others are fixed at the
/// instance's values (columns, <see cref="FeaturesPerStep"/>, …). <see cref="RecurrentExperiment"/> reads it, and so can
/// ML.NET AutoML's <c>SearchSpace&lt;T&gt;</c> where that package is installed (see the README). Use the class of the
/// task: <see cref="RecurrentRegressionSearchSpace"/>, <see cref="RecurrentBinaryClassificationSearchSpace"/> or
/// <see cref="RecurrentMulticlassClassificationSearchSpace"/>, or a class of your own with properties named like the
/// options to sweep other ranges.
/// </summary>
/// <remarks>
/// <para>Documented ranges (the value in brackets is the starting point of the search, the trainer's own default or close
/// to it):</para>
/// <list type="table">
/// <listheader><term>option</term><description>range</description></listheader>
/// <item><term><see cref="CellType"/></term><description>SimpleRnn, Lstm, Gru [Lstm]</description></item>
/// <item><term><see cref="HiddenSize"/></term><description>8 … 256 units, log scale [32]</description></item>
/// <item><term><see cref="NumberOfLayers"/></term><description>1 … 3 [1]</description></item>
/// <item><term><see cref="Bidirectional"/></term><description>false, true [false]</description></item>
/// <item><term><see cref="Dropout"/></term><description>0 … 0.5 [0] (acts only between stacked layers)</description></item>
/// <item><term><see cref="LearningRate"/></term><description>1e-4 … 3e-2, log scale [2e-3]</description></item>
/// <item><term><see cref="BatchSize"/></term><description>16, 32, 64, 128 [32]</description></item>
/// <item><term><see cref="MaximumNumberOfEpochs"/></term><description>3 … 81, log scale [27]: the resource of successive
/// halving, not sampled (a trial starts with the minimum and the best are trained on up to the maximum)</description></item>
/// </list>
/// <para>A window size for forecasting belongs to the forecaster's search space, <see cref="RecurrentForecastingSearchSpace"/>.</para>
/// </remarks>
public abstract class RecurrentSearchSpace
{
    private protected RecurrentSearchSpace()
    {
    }

    /// <summary>Fixed: the label column (see <see cref="RecurrentTrainerOptions.LabelColumnName"/>). Default "Label".</summary>
    public string LabelColumnName { get; set; } = RecurrentTrainerOptions.Defaults.LabelColumnName;

    /// <summary>Fixed: the feature column (see <see cref="RecurrentTrainerOptions.FeatureColumnName"/>). Default "Features".</summary>
    public string FeatureColumnName { get; set; } = RecurrentTrainerOptions.Defaults.FeatureColumnName;

    /// <summary>Fixed: features per time step F (see <see cref="RecurrentTrainerOptions.FeaturesPerStep"/>). Default 1.</summary>
    public int FeaturesPerStep { get; set; } = RecurrentTrainerOptions.Defaults.FeaturesPerStep;

    /// <summary>Swept: the cell, one of SimpleRnn, Lstm, Gru; starts at Lstm.</summary>
    [Choice(new object[] { RecurrentCellType.SimpleRnn, RecurrentCellType.Lstm, RecurrentCellType.Gru }, RecurrentCellType.Lstm)]
    public RecurrentCellType CellType { get; set; } = RecurrentCellType.Lstm;

    /// <summary>Swept: hidden units per layer and direction, 8 … 256 on a log scale; starts at 32.</summary>
    [Range(8, 256, 32, true)]
    public int HiddenSize { get; set; } = 32;

    /// <summary>Swept: stacked layers, 1 … 3; starts at 1.</summary>
    [Range(1, 3, 1, false)]
    public int NumberOfLayers { get; set; } = 1;

    /// <summary>Swept: whether every layer also reads the sequence backwards; starts at false.</summary>
    [BooleanChoice(false)]
    public bool Bidirectional { get; set; }

    /// <summary>Swept: dropout between stacked layers, 0 … 0.5; starts at 0.</summary>
    [Range(0f, 0.5f, 0f, false)]
    public float Dropout { get; set; }

    /// <summary>Swept: the optimizer's learning rate, 1e-4 … 3e-2 on a log scale; starts at 2e-3.</summary>
    [Range(1e-4f, 3e-2f, 2e-3f, true)]
    public float LearningRate { get; set; } = RecurrentTrainerOptions.Defaults.LearningRate;

    /// <summary>Swept: sequences per mini-batch, one of 16, 32, 64, 128; starts at 32.</summary>
    [Choice(new object[] { 16, 32, 64, 128 }, 32)]
    public int BatchSize { get; set; } = RecurrentTrainerOptions.Defaults.BatchSize;

    /// <summary>The resource of successive halving, 3 … 81 epochs: trials start with 3 epochs and the best are trained
    /// on, resumed from their checkpoint, up to 81 (an AutoML sweeper that samples it trains that many epochs).</summary>
    [Range(3, 81, 27, true)]
    public int MaximumNumberOfEpochs { get; set; } = 27;

    /// <summary>Fixed: gradient clipping norm (see <see cref="RecurrentTrainerOptions.GradientClipNorm"/>). Default 1.</summary>
    public float GradientClipNorm { get; set; } = RecurrentTrainerOptions.Defaults.GradientClipNorm;

    /// <summary>Fixed: the training seed; null lets the experiment give every trial its own seed (see
    /// <see cref="RecurrentExperiment.SetSeed"/>).</summary>
    public int? Seed { get; set; }

    /// <summary>Fixed: worker threads per trial; null lets the experiment share the cores among its parallel trials.</summary>
    public int? NumberOfThreads { get; set; }

    /// <summary>The task whose trainer these options are for.</summary>
    internal abstract PredictionKind Task { get; }

    /// <summary>Copies every property onto <paramref name="options"/> (swept ones at this instance's values).</summary>
    private protected TOptions CopyTo<TOptions>(TOptions options)
        where TOptions : RecurrentTrainerOptions
    {
        options.LabelColumnName = LabelColumnName;
        options.FeatureColumnName = FeatureColumnName;
        options.FeaturesPerStep = FeaturesPerStep;
        options.CellType = CellType;
        options.HiddenSize = HiddenSize;
        options.NumberOfLayers = NumberOfLayers;
        options.Bidirectional = Bidirectional;
        options.Dropout = Dropout;
        options.LearningRate = LearningRate;
        options.BatchSize = BatchSize;
        options.MaximumNumberOfEpochs = MaximumNumberOfEpochs;
        options.GradientClipNorm = GradientClipNorm;
        options.Seed = Seed;
        options.NumberOfThreads = NumberOfThreads;
        return options;
    }
}

/// <summary>The search space of <see cref="RecurrentRegressionTrainer"/> (ranges: see <see cref="RecurrentSearchSpace"/>).</summary>
public class RecurrentRegressionSearchSpace : RecurrentSearchSpace
{
    internal override PredictionKind Task => PredictionKind.Regression;

    /// <summary>The trainer options at this instance's values, e.g. for an AutoML sweepable-estimator factory.</summary>
    public RecurrentRegressionTrainer.Options ToOptions() => CopyTo(new RecurrentRegressionTrainer.Options());
}

/// <summary>The search space of <see cref="RecurrentBinaryTrainer"/> (ranges: see <see cref="RecurrentSearchSpace"/>).</summary>
public class RecurrentBinaryClassificationSearchSpace : RecurrentSearchSpace
{
    internal override PredictionKind Task => PredictionKind.BinaryClassification;

    /// <summary>The trainer options at this instance's values, e.g. for an AutoML sweepable-estimator factory.</summary>
    public RecurrentBinaryTrainer.Options ToOptions() => CopyTo(new RecurrentBinaryTrainer.Options());
}

/// <summary>The search space of <see cref="RecurrentMulticlassTrainer"/> (ranges: see <see cref="RecurrentSearchSpace"/>).</summary>
public class RecurrentMulticlassClassificationSearchSpace : RecurrentSearchSpace
{
    internal override PredictionKind Task => PredictionKind.MulticlassClassification;

    /// <summary>The trainer options at this instance's values, e.g. for an AutoML sweepable-estimator factory.</summary>
    public RecurrentMulticlassTrainer.Options ToOptions() => CopyTo(new RecurrentMulticlassTrainer.Options());
}
