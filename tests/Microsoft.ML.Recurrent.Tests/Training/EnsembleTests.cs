using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Training;
using Microsoft.ML.Recurrent.Tests.Estimators;
using Microsoft.ML.Recurrent.Tests.Helpers;

namespace Microsoft.ML.Recurrent.Tests.Training;

/// <summary><see cref="RecurrentTrainerOptions.NumberOfModels"/>: members folded exactly into one network whose output is their mean.</summary>
public class EnsembleTests
{
    [Theory]
    [InlineData("Lstm", 1, false, false, "LastHidden")]
    [InlineData("Gru", 2, true, false, "LastHidden")]
    [InlineData("SimpleRnn", 2, false, true, "LastHidden")]
    [InlineData("Lstm", 2, true, true, "EveryStep")]
    public void Fold_RandomMembers_OutputIsTheMeanOfTheMembers(string cellName, int layers, bool bidirectional, bool tokens, string modeName)
    {
        var cell = Enum.Parse<CellKind>(cellName);
        var mode = Enum.Parse<OutputMode>(modeName);
        const int K = 3, O = 2;
        var member = new NetworkSpec(cell, tokens ? 1 : 3, 4, layers, bidirectional, 0f, tokens ? 7 : 0, tokens ? 3 : 0, O, mode);
        var rng = new Random(5);
        int count = new ParameterLayout(member).Count;
        var members = Enumerable.Range(0, K)
            .Select(_ => Enumerable.Range(0, count).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray()).ToArray();
        var sequences = Enumerable.Range(0, 5).Select(i =>
        {
            int steps = 2 + i;
            return Enumerable.Range(0, steps * member.InputSize).Select(_ => tokens ? rng.Next(7) : rng.NextDouble() * 2 - 1).ToArray();
        }).ToArray();

        var (spec, folded) = EnsembleFolding.Fold(member, members);

        spec.HiddenSize.Should().Be(K * 4);
        spec.EmbeddingSize.Should().Be(tokens ? K * 3 : 0);
        var outputs = EngineHarness.Forward(spec, folded, sequences).Outputs;
        var memberOutputs = members.Select(p => EngineHarness.Forward(member, p, sequences).Outputs).ToArray();
        for (int s = 0; s < sequences.Length; s++)
        {
            outputs[s].Should().HaveCount(memberOutputs[0][s].Length);
            for (int j = 0; j < outputs[s].Length; j++)
                outputs[s][j].Should().BeApproximately(memberOutputs.Average(m => m[s][j]), 1e-5, $"sequence {s}, output {j}");
        }
    }

    [Fact]
    public void Fold_OneMember_ReturnsItUnchanged()
    {
        var spec = new NetworkSpec(CellKind.Lstm, 2, 3);
        var p = new float[new ParameterLayout(spec).Count];
        var (folded, parameters) = EnsembleFolding.Fold(spec, [p]);
        folded.Should().Be(spec);
        parameters.Should().BeSameAs(p);
    }

    private static float[] Scores(MLContext ml, ITransformer model, IDataView data) =>
        ml.Data.CreateEnumerable<ScoreRow>(model.Transform(data), reuseRowObject: false).Select(r => r.Score).ToArray();

    private sealed class ScoreRow
    {
        public float Score { get; set; }
    }

    private static RecurrentRegressionTrainer.Options Options(int seed, int models) => new()
    {
        LabelColumnName = "Value", FeaturesPerStep = 2, HiddenSize = 6, MaximumNumberOfEpochs = 3, Seed = seed, NumberOfModels = models,
    };

    [Fact]
    public void NumberOfModels_Regression_ScoreIsTheMeanOfTheMembersAndSurvivesSaveLoad()
    {
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(SequenceData.MarkedSum(120, seed: 3));

        var ensemble = ml.Regression.Trainers.Recurrent(Options(seed: 10, models: 3)).Fit(data);
        var members = new[] { 10, 11, 12 }.Select(s => ml.Regression.Trainers.Recurrent(Options(s, 1)).Fit(data)).ToArray();

        ensemble.ModelInfo.TrainingHistory.Should().HaveCount(9, "three members of three epochs each");
        var scores = Scores(ml, ensemble, data);
        var memberScores = members.Select(m => Scores(ml, m, data)).ToArray();
        for (int i = 0; i < scores.Length; i++)
            scores[i].Should().BeApproximately(memberScores.Average(m => m[i]), 1e-4f * (1 + Math.Abs(scores[i])), $"row {i}");
        memberScores[0].Should().NotEqual(memberScores[1], "members differ by their seed");

        using var stream = new MemoryStream();
        ml.Model.Save(ensemble, data.Schema, stream);
        stream.Position = 0;
        var loaded = new MLContext(seed: 1).Model.Load(stream, out _);
        Scores(ml, loaded, data).Should().Equal(scores);
    }

    [Fact]
    public void NumberOfModels_TooManyForTheHiddenSizeLimit_ThrowsNamingTheOption()
    {
        var act = () => new MLContext(0).Regression.Trainers.Recurrent(new RecurrentRegressionTrainer.Options { HiddenSize = 2048, NumberOfModels = 64 });
        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("NumberOfModels");
        var zero = () => new MLContext(0).Regression.Trainers.Recurrent(new RecurrentRegressionTrainer.Options { NumberOfModels = 0 });
        zero.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*NumberOfModels must be > 0*");
    }
}
