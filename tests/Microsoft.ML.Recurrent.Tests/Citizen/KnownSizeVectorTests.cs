using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Training;
using Microsoft.ML.Recurrent.Model;
using Microsoft.ML.Recurrent.Serving;
using Microsoft.ML.Recurrent.Tests.Serialization;

namespace Microsoft.ML.Recurrent.Tests.Citizen;

/// <summary>The stock-transformer route to known-size vectors (no native runtime), through the multiclass serving chain.</summary>
public class KnownSizeVectorTests
{
    private sealed class Row
    {
        [VectorType]
        public float[] Features { get; set; } = [];
    }

    [Theory]
    [InlineData(2, true)]
    [InlineData(13, true)]
    [InlineData(64, true)]
    [InlineData(65, false)]
    [InlineData(300, false)]
    public void MulticlassChain_AnyClassCount_KnownSizeScoreEqualToTheEngineSoftmax(int k, bool named)
    {
        var spec = new NetworkSpec(CellKind.Gru, InputSize: 2, HiddenSize: 3, OutputSize: k);
        var names = Enumerable.Range(0, k).Select(i => $"c{i}").ToArray();
        var model = ModelSamples.Create(spec, PredictionKind.MulticlassClassification, "Features", names, seed: k);
        var ml = new MLContext(seed: 0);
        var rng = new Random(k);
        var rows = Enumerable.Range(0, 4).Select(r => new Row { Features = Enumerable.Range(0, 2 * (r + 2)).Select(_ => (float)rng.NextDouble()).ToArray() }).ToArray();
        var data = ml.Data.LoadFromEnumerable(rows);
        var chain = ServingChain.Build(model, data.Schema);

        using var stream = new MemoryStream();
        ml.Model.Save(chain, data.Schema, stream);
        stream.Position = 0;
        var loaded = new MLContext(seed: 1).Model.Load(stream, out _);

        var predictor = new SequencePredictor(spec, model.Parameters);
        foreach (var scorer in new[] { chain, loaded })
        {
            var scored = scorer.Transform(data);
            scored.Schema["Score"].Type.Should().Be(new VectorDataViewType(NumberDataViewType.Single, k));
            scored.Schema["Score"].HasSlotNames().Should().Be(named, $"slot names come with the named route (K ≤ {KnownSizeVector.MaxNamedSlots})");
            if (named)
            {
                VBuffer<ReadOnlyMemory<char>> slots = default;
                scored.Schema["Score"].GetSlotNames(ref slots);
                slots.DenseValues().Select(s => s.ToString()).Should().Equal(names);
            }

            scored.Schema.Where(c => !c.IsHidden).Select(c => c.Name).Should().Equal("Features", "Score", "PredictedLabel");
            var scores = scored.GetColumn<float[]>("Score").ToArray();
            for (int r = 0; r < rows.Length; r++)
            {
                var logits = new float[k];
                predictor.Predict(rows[r].Features, logits);
                float max = logits.Max();
                double sum = logits.Sum(v => Math.Exp(v - max));
                var expected = logits.Select(v => (float)(Math.Exp(v - max) / sum)).ToArray();
                scores[r].Should().HaveCount(k);
                for (int i = 0; i < k; i++) scores[r][i].Should().BeApproximately(expected[i], 1e-6f);
            }
        }
    }

    [Fact]
    public void CanName_ClassNameThatIsAnInputColumn_FallsBackToBlocks()
    {
        var builder = new DataViewSchema.Builder();
        builder.AddColumn("Features", new VectorDataViewType(NumberDataViewType.Single));
        builder.AddColumn("cat", NumberDataViewType.Single);
        var schema = builder.ToSchema();
        KnownSizeVector.CanName(["dog", "cow"], 2, schema, "Score").Should().BeTrue();
        KnownSizeVector.CanName(["dog", "cat"], 2, schema, "Score").Should().BeFalse("a temporary column 'cat' would hide the user's");
        KnownSizeVector.CanName(["dog", "Score"], 2, schema, "Score").Should().BeFalse();
        KnownSizeVector.CanName(["dog", ""], 2, schema, "Score").Should().BeFalse();
        KnownSizeVector.CanName(["dog", "dog"], 2, schema, "Score").Should().BeFalse();
        KnownSizeVector.CanName(["dog"], 2, schema, "Score").Should().BeFalse();
    }

    [Theory]
    [InlineData(13, 3, 0)]
    [InlineData(13, 2, 8)]
    [InlineData(13, 0, 12)]
    [InlineData(1 << 20, 20, 0)]
    public void BlockOffset_BinaryDecomposition_LargestBlockFirst(int length, int j, int offset) =>
        KnownSizeVector.BlockOffset(length, j).Should().Be(offset);
}
