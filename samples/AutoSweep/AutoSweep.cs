using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Recurrent;
using Microsoft.ML.SearchSpace;

namespace Samples;

/// <summary>A budgeted sweep: find a recurrent regressor for the adding problem, save and reload the winner.</summary>
public static class AutoSweep
{
    public static void Example()
    {
        var mlContext = new MLContext(seed: 0);
        var train = mlContext.Data.LoadFromEnumerable(AddingProblem.Generate(1000, length: 30, seed: 1));
        var validation = mlContext.Data.LoadFromEnumerable(AddingProblem.Generate(300, length: 30, seed: 2));

        // Sweep cell, width, depth and learning rate; epochs 1 … 27 are the successive-halving resource. The package's own
        // RecurrentRegressionSearchSpace sweeps wider ranges (up to 256 units, 3 layers, bidirectional, 81 epochs).
        var result = mlContext.Recurrent().CreateExperiment()
            .SetDataset(train, validation)
            .SetRegressionMetric(RegressionMetric.RootMeanSquaredError)
            .SetSearchSpace(new SmallRegressionSpace())
            .SetTrainingTimeInSeconds(45)
            .SetNumberOfParallelTrials(1)
            .SetSeed(1)
            .SetProgress(new Progress<RecurrentTrial>(t => Console.WriteLine("  " + t)))
            .Run();

        Console.WriteLine();
        Console.WriteLine($"{"trial",5} {"cell",-9} {"hidden",6} {"layers",6} {"rate",8} {"RMSE",8} {"epochs",6} {"seconds",7}");
        foreach (var t in result.Trials)
        {
            var o = t.Options;
            string metric = t.Succeeded ? t.Metric.ToString("F4", CultureInfo.InvariantCulture) : "failed";
            Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "{0,5} {1,-9} {2,6} {3,6} {4,8:G3} {5,8} {6,6} {7,7:F1}",
                t.Id, o.CellType, o.HiddenSize, o.NumberOfLayers, o.LearningRate, metric, t.Epochs, t.DurationInMilliseconds / 1000));
        }

        var best = result.BestTrial;
        Console.WriteLine();
        Console.WriteLine($"Stopped by: {result.StopReason} after {result.DurationInMilliseconds / 1000:F1} s, {result.Trials.Count} trials");
        Console.WriteLine($"Winner: trial {best.Id}: {best.Options.CellType}, {best.Options.HiddenSize} units, {best.Options.NumberOfLayers} layer(s), " +
                          $"learning rate {best.Options.LearningRate:G3}, {best.Epochs} epochs: validation RMSE {best.Metric:F4} (predicting the mean: ≈ 0.41)");

        // The winner is an ordinary ML.NET model: save, reload, predict.
        string path = Path.Combine(AppContext.BaseDirectory, "autosweep-best.zip");
        mlContext.Model.Save(best.Model, train.Schema, path);
        var reloaded = new MLContext(seed: 0).Model.Load(path, out _);
        var before = mlContext.Data.CreateEnumerable<Prediction>(best.Model!.Transform(validation), reuseRowObject: false).Take(3).ToArray();
        var after = mlContext.Data.CreateEnumerable<Prediction>(reloaded.Transform(validation), reuseRowObject: false).Take(3).ToArray();
        Console.WriteLine($"Saved to {path}; reloaded predictions identical: {before.Select(p => p.Score).SequenceEqual(after.Select(p => p.Score))}");
        foreach (var (p, i) in after.Select((p, i) => (p, i)))
            Console.WriteLine($"  row {i}: label {p.Label:F3}, predicted {p.Score:F3}");
    }

    // Expected output (measured on a shared 2-core AMD EPYC; timings and, under a time budget, the number of trials
    // depend on the machine):
    //   trial 0: CellType=Lstm, HiddenSize=16, NumberOfLayers=1, LearningRate=0.01 | metric 0.3…, 1 epochs, … s
    //   …
    // trial cell      hidden layers     rate     RMSE epochs seconds
    //     0 Lstm          16      1     0.01   0.….      …     …
    //   …
    //    20 Gru           40      1   0.0132   0.0101     27     2.6
    //   …
    // Stopped by: TrainingTime after 45.5 s, 36 trials
    // Winner: trial 20: Gru, 40 units, 1 layer(s), learning rate 0.0132, 27 epochs: validation RMSE 0.0101 (predicting the mean: ≈ 0.41)
    // Saved to …/autosweep-best.zip; reloaded predictions identical: True
    //   row 0: label 1.241, predicted 1.250
    //   …

    private sealed class Prediction
    {
        public float Label { get; set; }

        public float Score { get; set; }
    }
}

/// <summary>The sample's search space: the properties are named like the trainer options.</summary>
public sealed class SmallRegressionSpace
{
    public int FeaturesPerStep { get; set; } = 2;

    [Choice(new object[] { RecurrentCellType.SimpleRnn, RecurrentCellType.Lstm, RecurrentCellType.Gru }, RecurrentCellType.Lstm)]
    public RecurrentCellType CellType { get; set; } = RecurrentCellType.Lstm;

    [Range(4, 64, 16, true)]
    public int HiddenSize { get; set; } = 16;

    [Range(1, 2, 1, false)]
    public int NumberOfLayers { get; set; } = 1;

    [Range(1e-3f, 3e-2f, 1e-2f, true)]
    public float LearningRate { get; set; } = 1e-2f;

    [Range(1, 27, 27, true)]
    public int MaximumNumberOfEpochs { get; set; } = 27;
}

/// <summary>One sequence: T steps of (value, marker), and the sum of the two marked values.</summary>
public sealed class AddingRow
{
    [VectorType]
    public float[] Features { get; set; } = [];

    public float Label { get; set; }
}

/// <summary>The adding problem (Hochreiter &amp; Schmidhuber): only a network that remembers two marked values across the
/// sequence can predict their sum; predicting the mean scores an RMSE of about 0.41.</summary>
public static class AddingProblem
{
    public static AddingRow[] Generate(int count, int length, int seed)
    {
        var rng = new Random(seed);
        var rows = new AddingRow[count];
        for (int i = 0; i < count; i++)
        {
            var x = new float[length * 2];
            int a = rng.Next(length / 2), b = length / 2 + rng.Next(length - length / 2);
            float sum = 0;
            for (int t = 0; t < length; t++)
            {
                x[2 * t] = rng.NextSingle();
                if (t == a || t == b) { x[2 * t + 1] = 1f; sum += x[2 * t]; }
            }

            rows[i] = new AddingRow { Features = x, Label = sum };
        }

        return rows;
    }
}
