using Microsoft.ML.Data;

namespace Microsoft.ML.Recurrent.Tests.Citizen;

/// <summary>Output schemas against ML.NET's own trainers on the same data, before and after save/load.</summary>
public class AnnotationTests : IClassFixture<CitizenFixture>
{
    private readonly CitizenFixture _f;

    public AnnotationTests(CitizenFixture fixture) => _f = fixture;

    /// <summary>Annotations a stock scorer adds that no stock transformer can produce outside ML.NET (docs/architecture.md).</summary>
    private static readonly string[] ScorerOnly = ["ScoreColumnSetId", "ScoreColumnKind", "ScoreValueKind"];

    private ITransformer SaveLoad(ITransformer model)
    {
        using var stream = new MemoryStream();
        _f.Ml.Model.Save(model, _f.Train.Schema, stream);
        stream.Position = 0;
        return new MLContext(seed: 9).Model.Load(stream, out _);
    }

    private static string[] Names(DataViewSchema.Column column) => column.Annotations.Schema.Select(c => c.Name).ToArray();

    private static string[] SlotNames(DataViewSchema.Column column)
    {
        VBuffer<ReadOnlyMemory<char>> names = default;
        column.GetSlotNames(ref names);
        return names.DenseValues().Select(n => n.ToString()).ToArray();
    }

    private static bool IsNormalized(DataViewSchema.Column column)
    {
        bool value = false;
        column.Annotations.GetValue("IsNormalized", ref value);
        return value;
    }

    [Fact]
    public void Binary_ProbabilityAndColumnOrder_AsSdcaLogisticRegression_BeforeAndAfterLoad()
    {
        var stock = _f.Ml.BinaryClassification.Trainers.SdcaLogisticRegression("Flag").Fit(_f.Train).Transform(_f.Test).Schema;
        foreach (var schema in new[] { _f.Binary.Transform(_f.Test).Schema, SaveLoad(_f.Binary).Transform(_f.Test).Schema })
        {
            schema.Where(c => !c.IsHidden).Select(c => c.Name).Should().Equal(stock.Where(c => !c.IsHidden).Select(c => c.Name));
            foreach (string name in new[] { "Score", "Probability", "PredictedLabel" })
                schema[name].Type.Should().Be(stock[name].Type, name);
            IsNormalized(schema["Probability"]).Should().Be(IsNormalized(stock["Probability"])).And.BeTrue();
            Names(stock["Score"]).Except(Names(schema["Score"])).Should().BeEquivalentTo(ScorerOnly, "only the scorer's own annotations are missing");
        }
    }

    [Theory]
    [InlineData("Name")]
    [InlineData("Class")]
    public void Multiclass_KnownSizeScoreAndLabelKeys_AsLbfgsMaximumEntropy_BeforeAndAfterLoad(string labelSource)
    {
        var model = labelSource == "Name" ? _f.MulticlassText : _f.Multiclass;
        var keyed = _f.Ml.Transforms.Conversion.MapValueToKey("Label", labelSource);
        var stock = keyed.Append(_f.Ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy()).Fit(_f.Train).Transform(_f.Test).Schema;
        foreach (var schema in new[] { model.Transform(_f.Test).Schema, SaveLoad(model).Transform(_f.Test).Schema })
        {
            schema["Score"].Type.Should().Be(stock["Score"].Type).And.Be(new VectorDataViewType(NumberDataViewType.Single, 3));
            schema["PredictedLabel"].Type.Should().Be(stock["PredictedLabel"].Type);
            if (labelSource == "Name")
            {
                // Text class values: the Score slots are named after the classes, as ML.NET's scorer names them.
                SlotNames(schema["Score"]).Should().Equal(SlotNames(stock["Score"])).And.BeEquivalentTo("low", "mid", "high");
                VBuffer<ReadOnlyMemory<char>> ours = default, theirs = default;
                schema["PredictedLabel"].GetKeyValues(ref ours);
                stock["PredictedLabel"].GetKeyValues(ref theirs);
                ours.DenseValues().Select(v => v.ToString()).Should().Equal(theirs.DenseValues().Select(v => v.ToString()));
            }
            else
            {
                // Single class values: ML.NET's scorer names no slots (it only does for text); the keys keep Single values.
                schema["Score"].HasSlotNames().Should().Be(stock["Score"].HasSlotNames()).And.BeFalse();
                VBuffer<float> ours = default, theirs = default;
                schema["PredictedLabel"].GetKeyValues(ref ours);
                stock["PredictedLabel"].GetKeyValues(ref theirs);
                ours.DenseValues().Should().Equal(theirs.DenseValues()).And.BeEquivalentTo([10f, 20f, 30f]);
            }

            var missing = Names(stock["Score"]).Except(Names(schema["Score"]));
            missing.Should().BeEquivalentTo(ScorerOnly.Append("TrainingLabelValues"), "only the scorer's own annotations are missing");
        }
    }

    [Fact]
    public void Multiclass_MapKeyToValue_GivesTheSingleLabelBack()
    {
        foreach (var model in new[] { _f.Multiclass, SaveLoad(_f.Multiclass) })
        {
            var mapped = _f.Ml.Transforms.Conversion.MapKeyToValue("PredictedClass", "PredictedLabel").Fit(model.Transform(_f.Test)).Transform(model.Transform(_f.Test));
            mapped.Schema["PredictedClass"].Type.Should().Be(NumberDataViewType.Single);
            var predicted = mapped.GetColumn<float>("PredictedClass").ToArray();
            var truth = mapped.GetColumn<float>("Class").ToArray();
            predicted.Should().OnlyContain(v => v == 10f || v == 20f || v == 30f);
            predicted.Zip(truth).Count(p => p.First == p.Second).Should().BeGreaterThan(255, "the model is > 85 % accurate on 300 rows");
        }
    }

    [Fact]
    public void Multiclass_Evaluate_ConfusionTableNamesTheClassesLikeTheStockTrainer()
    {
        var keyed = _f.Ml.Transforms.Conversion.MapValueToKey("Label", "Name");
        var stock = _f.Ml.MulticlassClassification.Evaluate(keyed.Append(_f.Ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy()).Fit(_f.Train).Transform(_f.Test));
        var ours = _f.Ml.MulticlassClassification.Evaluate(_f.MulticlassText.Transform(_f.Test));
        string Header(string table) => string.Join("\n", table.Split('\n').Where(l => l.Contains("||")).Select(l => l.Split("||")[0].Trim()));
        Header(ours.ConfusionMatrix.GetFormattedConfusionTable()).Should().Be(Header(stock.ConfusionMatrix.GetFormattedConfusionTable()))
            .And.Contain("low").And.Contain("high");
    }
}
