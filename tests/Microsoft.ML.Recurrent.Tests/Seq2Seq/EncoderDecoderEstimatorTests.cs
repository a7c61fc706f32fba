using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Tests.Serialization;

namespace Microsoft.ML.Recurrent.Tests.Seq2Seq;

/// <summary>One encoder–decoder trained once for the estimator tests: reversing digit strings of 3–6 tokens, text in and out.</summary>
public sealed class ReversalModelFixture
{
    public sealed class Row
    {
        public string Source { get; set; } = "";
        public string Target { get; set; } = "";
    }

    public static List<Row> Rows(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ =>
        {
            var digits = Enumerable.Range(0, random.Next(3, 7)).Select(_ => random.Next(10).ToString()).ToArray();
            return new Row { Source = string.Join(' ', digits), Target = string.Join(' ', digits.Reverse()) };
        }).ToList();
    }

    public ReversalModelFixture()
    {
        Ml = new MLContext(seed: 1);
        Train = Ml.Data.LoadFromEnumerable(Rows(1000, 1));
        Test = Ml.Data.LoadFromEnumerable(Rows(100, 2));
        var featurize = Ml.Transforms.Text.TokenizeIntoWords("SourceWords", "Source")
            .Append(Ml.Transforms.Conversion.MapValueToKey("Features", "SourceWords"))
            .Append(Ml.Transforms.Text.TokenizeIntoWords("TargetWords", "Target"))
            .Append(Ml.Transforms.Conversion.MapValueToKey("Label", "TargetWords"));
        Featurizer = featurize.Fit(Train);
        var trainer = Ml.Recurrent().Trainers.EncoderDecoder(new EncoderDecoderTrainer.Options
        {
            HiddenSize = 32,
            EmbeddingSize = 16,
            TargetEmbeddingSize = 16,
            CellType = RecurrentCellType.Gru,
            Attention = RecurrentAttention.Additive,
            MaximumNumberOfEpochs = 12,
            AttentionWeightsColumnName = "Attention",
            MaximumOutputLength = 10,
            Seed = 5,
        });
        Model = trainer.Fit(Featurizer.Transform(Train));
    }

    public MLContext Ml { get; }
    public IDataView Train { get; }
    public IDataView Test { get; }
    public ITransformer Featurizer { get; }
    public EncoderDecoderTransformer Model { get; }

    /// <summary>Featurized test rows through the model, with PredictedTokens = MapKeyToValue(PredictedLabel).</summary>
    public IDataView Predict(IDataView rows, ITransformer? model = null) =>
        Ml.Transforms.Conversion.MapKeyToValue("PredictedTokens", "PredictedLabel").Fit((model ?? Model).Transform(Featurizer.Transform(rows)))
            .Transform((model ?? Model).Transform(Featurizer.Transform(rows)));
}

/// <summary>The encoder–decoder through ML.NET: schema, learning, tokens back through MapKeyToValue, save/load, bad input.</summary>
public class EncoderDecoderEstimatorTests : IClassFixture<ReversalModelFixture>
{
    private readonly ReversalModelFixture _f;

    public EncoderDecoderEstimatorTests(ReversalModelFixture f) => _f = f;

    [Fact]
    public void Fit_DigitReversal_PredictsTokensOfTheTargetKeyValues()
    {
        var output = _f.Predict(_f.Test);
        var schema = output.Schema;
        schema["PredictedLabel"].Type.Should().BeOfType<VectorDataViewType>();
        ((VectorDataViewType)schema["PredictedLabel"].Type).ItemType.Should().BeOfType<KeyDataViewType>();
        var predicted = output.GetColumn<string[]>("PredictedTokens").Select(t => string.Join(' ', t)).ToArray();
        var expected = output.GetColumn<string>("Target").ToArray();
        double exact = predicted.Zip(expected).Count(p => p.First == p.Second) / (double)expected.Length;
        exact.Should().BeGreaterThanOrEqualTo(0.9, $"first predictions: {string.Join(" | ", predicted.Take(5))}");
        _f.Model.TrainingHistory.Should().HaveCount(12);
        _f.Model.TargetTokens.Should().BeEquivalentTo(Enumerable.Range(0, 10).Select(d => d.ToString()),
            "the target vocabulary is the label key's values: the ten digits");
        _f.Model.TrainingHistory[^1].TrainingLoss.Should().BeLessThan(_f.Model.TrainingHistory[0].TrainingLoss / 5);
    }

    [Fact]
    public void Transform_AttentionColumn_OneRowOfWeightsPerTokenSummingToOne()
    {
        var output = _f.Predict(_f.Test);
        var attention = output.GetColumn<float[]>("Attention").ToArray();
        var tokens = output.GetColumn<string[]>("PredictedTokens").ToArray();
        var sources = output.GetColumn<string>("Source").ToArray();
        for (int i = 0; i < 20; i++)
        {
            int srcLen = sources[i].Split(' ').Length;
            attention[i].Length.Should().Be(tokens[i].Length * srcLen);
            for (int k = 0; k < tokens[i].Length; k++)
                attention[i].AsSpan(k * srcLen, srcLen).ToArray().Sum().Should().BeApproximately(1f, 1e-4f);
        }

        // Reversal attends mostly to the mirrored source position.
        int hits = 0, total = 0;
        for (int i = 0; i < attention.Length; i++)
        {
            int srcLen = sources[i].Split(' ').Length;
            for (int k = 0; k < Math.Min(tokens[i].Length, srcLen); k++, total++)
            {
                var row = attention[i].AsSpan(k * srcLen, srcLen).ToArray();
                if (Array.IndexOf(row, row.Max()) == srcLen - 1 - k) hits++;
            }
        }

        (hits / (double)total).Should().BeGreaterThan(0.7);
    }

    [Fact]
    public void SaveLoad_InProcessAndFreshProcess_IdenticalPredictions()
    {
        using var dir = new TempDirectory();
        var featurized = _f.Featurizer.Transform(_f.Test);
        _f.Ml.Model.Save(_f.Model, featurized.Schema, dir.File("model.zip"));
        var loaded = new MLContext(seed: 9).Model.Load(dir.File("model.zip"), out _);
        var expected = _f.Model.Transform(featurized);
        var actual = loaded.Transform(featurized);
        actual.GetColumn<uint[]>("PredictedLabel").Should().BeEquivalentTo(expected.GetColumn<uint[]>("PredictedLabel"), o => o.WithStrictOrdering());
        actual.GetColumn<float[]>("Attention").Should().BeEquivalentTo(expected.GetColumn<float[]>("Attention"), o => o.WithStrictOrdering());

        var result = FreshProcess.Transform(_f.Ml, dir.File("model.zip"), featurized, dir.Path);
        result.ExitCode.Should().Be(0, result.StandardError);
        result.StandardOutput.Should().Contain("PredictedLabel: Vector<Key<UInt32, 0-9>>");
        var child = _f.Ml.Data.LoadFromBinary(result.OutputPath);
        child.GetColumn<uint[]>("PredictedLabel").Should().BeEquivalentTo(expected.GetColumn<uint[]>("PredictedLabel"), o => o.WithStrictOrdering());
    }

    [Fact]
    public void PredictionEngine_OneRow_EqualsTransform()
    {
        var engine = _f.Ml.Model.CreatePredictionEngine<ReversalModelFixture.Row, Prediction>(_f.Featurizer.Append(_f.Model));
        var rows = ReversalModelFixture.Rows(10, 3);
        var batch = _f.Model.Transform(_f.Featurizer.Transform(_f.Ml.Data.LoadFromEnumerable(rows))).GetColumn<uint[]>("PredictedLabel").ToArray();
        for (int i = 0; i < rows.Count; i++) engine.Predict(rows[i]).PredictedLabel.Should().Equal(batch[i]);
    }

    private sealed class Prediction
    {
        [KeyType(10)]
        public uint[] PredictedLabel { get; set; } = [];
    }
}

/// <summary>A Single-vector source (F = 2 values per step) decoded with a beam of 3, through ML.NET and a save/load.</summary>
public class EncoderDecoderDenseSourceTests
{
    private sealed class Row
    {
        [VectorType]
        public float[] Signal { get; set; } = [];

        public string Signs { get; set; } = "";
    }

    private static List<Row> Rows(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ =>
        {
            int steps = random.Next(2, 6);
            var signal = new float[steps * 2];
            var signs = new string[steps];
            for (int t = 0; t < steps; t++)
            {
                bool up = random.Next(2) == 0;
                signal[2 * t] = up ? 1f : -1f;
                signal[2 * t + 1] = (float)(random.NextDouble() - 0.5) * 0.2f; // noise
                signs[t] = up ? "up" : "down";
            }

            return new Row { Signal = signal, Signs = string.Join(' ', signs) };
        }).ToList();
    }

    [Fact]
    public void Fit_SingleSourceBeamThree_LearnsAndSurvivesSaveLoad()
    {
        var ml = new MLContext(seed: 3);
        var train = ml.Data.LoadFromEnumerable(Rows(400, 1));
        var test = ml.Data.LoadFromEnumerable(Rows(60, 2));
        var pipeline = ml.Transforms.Text.TokenizeIntoWords("Words", nameof(Row.Signs))
            .Append(ml.Transforms.Conversion.MapValueToKey("Label", "Words"))
            .Append(ml.Recurrent().Trainers.EncoderDecoder(new EncoderDecoderTrainer.Options
            {
                FeatureColumnName = nameof(Row.Signal),
                FeaturesPerStep = 2,
                HiddenSize = 16,
                TargetEmbeddingSize = 4,
                CellType = RecurrentCellType.Gru,
                Attention = RecurrentAttention.Dot,
                BeamWidth = 3,
                MaximumNumberOfEpochs = 30,
                Seed = 2,
            }))
            .Append(ml.Transforms.Conversion.MapKeyToValue("Predicted", "PredictedLabel"));
        var model = pipeline.Fit(train);
        var output = model.Transform(test);
        var predicted = output.GetColumn<string[]>("Predicted").Select(p => string.Join(' ', p)).ToArray();
        var expected = output.GetColumn<string>(nameof(Row.Signs)).ToArray();
        (predicted.Zip(expected).Count(p => p.First == p.Second) / (double)expected.Length).Should().BeGreaterThanOrEqualTo(0.9);

        using var dir = new Serialization.TempDirectory();
        ml.Model.Save(model, train.Schema, dir.File("dense.zip"));
        var loaded = new MLContext(seed: 4).Model.Load(dir.File("dense.zip"), out _);
        loaded.Transform(test).GetColumn<string[]>("Predicted").Should().BeEquivalentTo(output.GetColumn<string[]>("Predicted"), o => o.WithStrictOrdering());
    }

    [Fact]
    public void Fit_RenamedPredictedLabelColumn_HoldsWhatTheDefaultNameDoes()
    {
        var ml = new MLContext(seed: 3);
        var train = ml.Data.LoadFromEnumerable(Rows(60, 3));
        var labels = ml.Transforms.Text.TokenizeIntoWords("Words", nameof(Row.Signs))
            .Append(ml.Transforms.Conversion.MapValueToKey("Label", "Words")).Fit(train);
        var keyed = labels.Transform(train);
        IDataView Decode(string? name)
        {
            var options = new EncoderDecoderTrainer.Options
            {
                FeatureColumnName = nameof(Row.Signal),
                FeaturesPerStep = 2,
                HiddenSize = 8,
                TargetEmbeddingSize = 4,
                MaximumNumberOfEpochs = 6,
                Seed = 2,
            };
            if (name is not null) options.PredictedLabelColumnName = name;
            return ml.Recurrent().Trainers.EncoderDecoder(options).Fit(keyed).Transform(keyed);
        }

        var expected = Decode(null).GetColumn<VBuffer<uint>>("PredictedLabel").Select(v => v.DenseValues().ToArray()).ToArray();
        var renamed = Decode("Decoded");
        renamed.Schema.GetColumnOrNull("PredictedLabel").Should().BeNull();
        ((VectorDataViewType)renamed.Schema["Decoded"].Type).ItemType.Should().BeOfType<KeyDataViewType>();
        renamed.GetColumn<VBuffer<uint>>("Decoded").Select(v => v.DenseValues().ToArray()).Should()
            .BeEquivalentTo(expected, o => o.WithStrictOrdering(), "the same seed and data train the same network; only the column's name differs");
        expected.Where(p => p.Length > 0).Should().HaveCountGreaterThan(expected.Length / 2, "most rows decode some tokens after six epochs");
    }
}
