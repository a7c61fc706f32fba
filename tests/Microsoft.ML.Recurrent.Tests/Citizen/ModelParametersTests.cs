using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Tests.Estimators;

namespace Microsoft.ML.Recurrent.Tests.Citizen;

/// <summary>
/// <see cref="RecurrentModelParameters"/>'s weight accessors, read as a user would read them: the documented PyTorch
/// shapes and gate orders (LSTM i, f, g, o; GRU r, z, n), with input standardisation and label scaling folded in. A
/// forward pass written here from those documents alone, in double precision, must give the scores the fitted model
/// gives through ML.NET, for every cell, stacked layers, both directions and sequences of mixed lengths.
/// </summary>
public class ModelParametersTests
{
    private static RecurrentPredictionTransformer Fit(MLContext ml, RecurrentCellType cell, int layers, bool bidirectional, out IDataView test)
    {
        var train = ml.Data.LoadFromEnumerable(SequenceData.MarkedSum(120, seed: 11));
        test = ml.Data.LoadFromEnumerable(SequenceData.MarkedSum(12, seed: 12));
        var options = new RecurrentRegressionTrainer.Options
        {
            LabelColumnName = "Value",
            FeaturesPerStep = 2,
            CellType = cell,
            HiddenSize = 5,
            NumberOfLayers = layers,
            Bidirectional = bidirectional,
            MaximumNumberOfEpochs = 2,
            Seed = 4,
        };
        return ml.Regression.Trainers.Recurrent(options).Fit(train);
    }

    [Theory]
    [InlineData(RecurrentCellType.Lstm, 1, false)]
    [InlineData(RecurrentCellType.Lstm, 2, true)]
    [InlineData(RecurrentCellType.Gru, 2, false)]
    [InlineData(RecurrentCellType.Gru, 1, true)]
    [InlineData(RecurrentCellType.SimpleRnn, 2, true)]
    public void Accessors_ForwardPassWrittenFromTheirDocs_ReproducesTheModelsScores(RecurrentCellType cell, int layers, bool bidirectional)
    {
        var ml = new MLContext(seed: 1);
        var model = Fit(ml, cell, layers, bidirectional, out var test);
        var p = model.Model;

        int g = p.NumberOfGates, h = p.HiddenSize, dirs = p.NumberOfDirections;
        p.CellType.Should().Be(cell);
        p.NumberOfLayers.Should().Be(layers);
        dirs.Should().Be(bidirectional ? 2 : 1);
        g.Should().Be(cell switch { RecurrentCellType.Lstm => 4, RecurrentCellType.Gru => 3, _ => 1 });
        p.OutputSize.Should().Be(1);
        p.GetEmbedding().Length.Should().Be(0, "the input is Single features");

        long total = 0;
        for (int l = 0; l < layers; l++)
        {
            int input = l == 0 ? p.FeaturesPerStep : h * dirs;
            for (int d = 0; d < dirs; d++)
            {
                p.GetInputWeights(l, d).Length.Should().Be(g * h * input);
                p.GetRecurrentWeights(l, d).Length.Should().Be(g * h * h);
                p.GetInputBias(l, d).Length.Should().Be(g * h);
                p.GetRecurrentBias(l, d).Length.Should().Be(g * h);
                total += (long)g * h * (input + h + 2);
            }
        }

        p.GetOutputWeights().Length.Should().Be(h * dirs);
        p.GetOutputBias().Length.Should().Be(1);
        p.GetParameters().Length.Should().Be((int)(total + h * dirs + 1), "the slices cut the one flat buffer, nothing else");

        var features = ml.Data.CreateEnumerable<DenseRow>(test, reuseRowObject: false).Select(r => r.Features).ToArray();
        var scores = model.Transform(test).GetColumn<float>("Score").ToArray();
        for (int i = 0; i < features.Length; i++)
        {
            double expected = Forward(p, features[i]);
            scores[i].Should().BeApproximately((float)expected, 2e-4f + 2e-4f * (float)Math.Abs(expected),
                $"row {i} ({features[i].Length / 2} steps), {cell} {layers} layer(s){(bidirectional ? " bidirectional" : "")}");
        }
    }

    [Fact]
    public void Accessors_LayerOrDirectionOutOfRange_ThrowNamingIt()
    {
        var ml = new MLContext(seed: 1);
        var p = Fit(ml, RecurrentCellType.Gru, 1, bidirectional: false, out _).Model;

        Action layer = () => _ = p.GetInputWeights(1).Length;
        layer.Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == "layer").WithMessage("The model has layers 0 to 0.*");
        Action negative = () => _ = p.GetRecurrentBias(-1).Length;
        negative.Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == "layer");
        Action direction = () => _ = p.GetRecurrentWeights(0, direction: 1).Length;
        direction.Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == "direction")
            .WithMessage("The model is unidirectional: direction must be 0.*");
        p.ToString().Should().Be($"Gru 1×5, 1 output(s), {p.GetParameters().Length} parameters");
    }

    /// <summary>
    /// The score of one sequence from the public accessors only: PyTorch's equations, each layer over the whole
    /// sequence forward (and, bidirectional, backward from the last step), the next layer reading [forward ‖ reverse]
    /// at each step; the head reads the top layer's forward state after the last step ‖ its reverse state after step 0.
    /// </summary>
    private static double Forward(RecurrentModelParameters p, float[] features)
    {
        int f = p.FeaturesPerStep, h = p.HiddenSize, dirs = p.NumberOfDirections, steps = features.Length / f;
        var x = new double[steps][];
        for (int t = 0; t < steps; t++) x[t] = features.AsSpan(t * f, f).ToArray().Select(v => (double)v).ToArray();

        var last = new double[h * dirs];
        for (int l = 0; l < p.NumberOfLayers; l++)
        {
            var y = new double[steps][];
            for (int t = 0; t < steps; t++) y[t] = new double[h * dirs];
            for (int d = 0; d < dirs; d++)
            {
                var wih = p.GetInputWeights(l, d).ToArray();
                var whh = p.GetRecurrentWeights(l, d).ToArray();
                var bih = p.GetInputBias(l, d).ToArray();
                var bhh = p.GetRecurrentBias(l, d).ToArray();
                var state = new double[h];
                var cell = new double[h];
                for (int s = 0; s < steps; s++)
                {
                    int t = d == 0 ? s : steps - 1 - s;
                    state = Step(p.CellType, x[t], state, cell, wih, whh, bih, bhh, h);
                    state.CopyTo(y[t], d * h);
                }

                state.CopyTo(last, d * h);
            }

            x = y;
        }

        var w = p.GetOutputWeights();
        double score = p.GetOutputBias()[0];
        for (int j = 0; j < h * dirs; j++) score += w[j] * last[j];
        return score;
    }

    /// <summary>One step of one cell; <paramref name="c"/> (LSTM) is updated in place; returns the new h.</summary>
    private static double[] Step(RecurrentCellType kind, double[] x, double[] hPrev, double[] c,
        float[] wih, float[] whh, float[] bih, float[] bhh, int h)
    {
        int input = x.Length;
        // Row r of gate block k: gi = W_ih[k·h + r] · x + b_ih, gh = W_hh[k·h + r] · h + b_hh.
        double Gi(int k, int r)
        {
            int row = k * h + r;
            double s = bih[row];
            for (int j = 0; j < input; j++) s += wih[row * input + j] * x[j];
            return s;
        }

        double Gh(int k, int r)
        {
            int row = k * h + r;
            double s = bhh[row];
            for (int j = 0; j < h; j++) s += whh[row * h + j] * hPrev[j];
            return s;
        }

        static double Sigmoid(double v) => 1 / (1 + Math.Exp(-v));
        var next = new double[h];
        for (int r = 0; r < h; r++)
        {
            switch (kind)
            {
                case RecurrentCellType.Lstm:
                    double i = Sigmoid(Gi(0, r) + Gh(0, r)), fg = Sigmoid(Gi(1, r) + Gh(1, r));
                    double gg = Math.Tanh(Gi(2, r) + Gh(2, r)), o = Sigmoid(Gi(3, r) + Gh(3, r));
                    c[r] = fg * c[r] + i * gg;
                    next[r] = o * Math.Tanh(c[r]);
                    break;
                case RecurrentCellType.Gru:
                    double rr = Sigmoid(Gi(0, r) + Gh(0, r)), z = Sigmoid(Gi(1, r) + Gh(1, r));
                    double n = Math.Tanh(Gi(2, r) + rr * Gh(2, r));
                    next[r] = (1 - z) * n + z * hPrev[r];
                    break;
                default:
                    next[r] = Math.Tanh(Gi(0, r) + Gh(0, r));
                    break;
            }
        }

        return next;
    }
}
