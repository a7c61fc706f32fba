using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Training;

namespace Microsoft.ML.Recurrent.Tests.Engine;

public class LearningTests(Xunit.Abstractions.ITestOutputHelper output)
{
    /// <summary>
    /// The adding problem (Hochreiter &amp; Schmidhuber): two channels per step, a value in [0, 1] and a marker;
    /// exactly two markers, one in each half; the target is the sum of the two marked values. Predicting the
    /// mean scores an MSE of about 0.167.
    /// </summary>
    internal static SequenceDataset AddingProblem(int count, int length, int seed)
    {
        var random = new Random(seed);
        var data = new SequenceDataset(inputSize: 2, targetWidth: 1);
        for (int n = 0; n < count; n++)
        {
            var x = new float[length * 2];
            int a = random.Next(length / 2), b = length / 2 + random.Next(length - length / 2);
            float sum = 0;
            for (int t = 0; t < length; t++)
            {
                x[2 * t] = random.NextSingle();
                if (t == a || t == b) { x[2 * t + 1] = 1f; sum += x[2 * t]; }
            }

            data.Add(x, [sum]);
        }

        return data;
    }

    [Theory]
    [InlineData((int)CellKind.Lstm)]
    [InlineData((int)CellKind.Gru)]
    public void AddingProblem_Length50_ReachesTestMseBelow001(int cellKind)
    {
        var train = AddingProblem(2000, 50, seed: 1);
        var test = AddingProblem(500, 50, seed: 2);
        var settings = new TrainerSettings
        {
            Spec = new NetworkSpec((CellKind)cellKind, InputSize: 2, HiddenSize: 32),
            Loss = LossKind.MeanSquaredError,
            Epochs = 40,
            BatchSize = 32,
            LearningRate = 5e-3f,
            GradientClipNorm = 1f,
            Seed = 3,
        };

        var reports = new List<EpochReport>();
        var result = SequenceTrainer.Train(settings, train, null, reports.Add, CancellationToken.None);

        var predictor = new SequencePredictor(settings.Spec, result.Parameters);
        double mse = 0, meanMse = 0;
        var y = new float[1];
        for (int i = 0; i < test.Count; i++)
        {
            predictor.Predict(test.Features(i), y);
            double target = test.Target(i)[0];
            mse += (y[0] - target) * (y[0] - target);
            meanMse += (1.0 - target) * (1.0 - target);
        }

        mse /= test.Count;
        meanMse /= test.Count;
        output.WriteLine($"{(CellKind)cellKind}: test MSE {mse:F5} (mean predictor {meanMse:F4}) after {reports.Count} epochs");
        meanMse.Should().BeGreaterThan(0.12, "the data must be the adding problem, where the mean predictor scores about 0.167");
        mse.Should().BeLessThan(0.01, $"epochs: {string.Join(", ", reports.Select(r => r.TrainLoss.ToString("F4")))}");
    }
}
