using Microsoft.ML.Data;

namespace Microsoft.ML.Recurrent.Tests.Citizen;

/// <summary>A fixed-length row (T = 6 steps of F = 3 features), so stock trainers and ML.NET's slot-level PFI accept it.</summary>
public sealed class FixedRow
{
    public const int Steps = 6;
    public const int FeaturesPerStep = 3;

    [VectorType(Steps * FeaturesPerStep)]
    public float[] Features { get; set; } = [];

    public float Value { get; set; }

    public bool Flag { get; set; }

    /// <summary>A Single class label (10, 20 or 30), to check that MapKeyToValue gives Single back.</summary>
    public float Class { get; set; }

    /// <summary>The same classes as text ("low", "mid", "high"), to check slot names on Score.</summary>
    public string Name { get; set; } = "";
}

/// <summary>
/// Tasks built for importance: of the 3 features only feature 0 matters, and only at the last two steps (4 and 5):
/// v = x[4,0] + x[5,0]; Value = v, Flag = v &gt; 0, Class = 10 / 20 / 30 for v below −0.5 / between / above 0.5.
/// Features 1 and 2 are noise of the same scale.
/// </summary>
internal static class CitizenData
{
    public static FixedRow[] Rows(int count, int seed)
    {
        var rng = new Random(seed);
        var rows = new FixedRow[count];
        for (int i = 0; i < count; i++)
        {
            var x = new float[FixedRow.Steps * FixedRow.FeaturesPerStep];
            for (int j = 0; j < x.Length; j++) x[j] = (float)(rng.NextDouble() * 2 - 1);
            float v = x[4 * 3] + x[5 * 3];
            rows[i] = new FixedRow { Features = x, Value = v, Flag = v > 0, Class = v < -0.5f ? 10f : v > 0.5f ? 30f : 20f };
            rows[i].Name = rows[i].Class switch { 10f => "low", 20f => "mid", _ => "high" };
        }

        return rows;
    }

    /// <summary>The slots of feature 0 at steps 4 and 5 (the informative ones).</summary>
    public static readonly int[] InformativeSlots = [4 * 3, 5 * 3];
}

/// <summary>Trains the three recurrent models (and nothing else) once for the citizen tests: small GRUs, fixed seeds.</summary>
public sealed class CitizenFixture
{
    public CitizenFixture()
    {
        Ml = new MLContext(seed: 0);
        Train = Ml.Data.LoadFromEnumerable(CitizenData.Rows(600, seed: 1));
        Test = Ml.Data.LoadFromEnumerable(CitizenData.Rows(300, seed: 2));
        Regression = Ml.Regression.Trainers.Recurrent(Options<RecurrentRegressionTrainer.Options>("Value")).Fit(Train);
        Binary = Ml.BinaryClassification.Trainers.Recurrent(Options<RecurrentBinaryTrainer.Options>("Flag")).Fit(Train);
        MulticlassPipeline = Ml.Transforms.Conversion.MapValueToKey("Label", "Class")
            .Append(Ml.MulticlassClassification.Trainers.Recurrent(Options<RecurrentMulticlassTrainer.Options>("Label")));
        Multiclass = MulticlassPipeline.Fit(Train);
        MulticlassText = Ml.Transforms.Conversion.MapValueToKey("Label", "Name")
            .Append(Ml.MulticlassClassification.Trainers.Recurrent(Options<RecurrentMulticlassTrainer.Options>("Label"))).Fit(Train);
    }

    public static T Options<T>(string label)
        where T : RecurrentTrainerOptions, new() => new()
        {
            LabelColumnName = label,
            FeaturesPerStep = FixedRow.FeaturesPerStep,
            CellType = RecurrentCellType.Gru,
            HiddenSize = 12,
            MaximumNumberOfEpochs = 25,
            LearningRate = 0.01f,
            Seed = 3,
        };

    public MLContext Ml { get; }
    public IDataView Train { get; }
    public IDataView Test { get; }
    public RecurrentPredictionTransformer Regression { get; }
    public RecurrentPredictionTransformer Binary { get; }
    public IEstimator<TransformerChain<RecurrentPredictionTransformer>> MulticlassPipeline { get; }
    public TransformerChain<RecurrentPredictionTransformer> Multiclass { get; }

    /// <summary>The same task with text class names.</summary>
    public TransformerChain<RecurrentPredictionTransformer> MulticlassText { get; }
}
