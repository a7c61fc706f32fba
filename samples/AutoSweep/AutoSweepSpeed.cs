using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Recurrent;
using Microsoft.ML.SearchSpace;

namespace Samples;

/// <summary>
/// Speed of the experiment runner on the sample's task: (1) trials per minute with 1 and 2 parallel trials (the same
/// seeded trials, so the work is identical); (2) successive halving against a full grid of the same discrete space (every
/// point trained for the full 27 epochs): time and best metric of each.
/// </summary>
public static class AutoSweepSpeed
{
    public static void Measure(int trainingRows)
    {
        var ml = new MLContext(seed: 0);
        var train = ml.Data.LoadFromEnumerable(AddingProblem.Generate(trainingRows, length: 30, seed: 1));
        var validation = ml.Data.LoadFromEnumerable(AddingProblem.Generate(300, length: 30, seed: 2));
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine($"{Environment.ProcessorCount} cores, {trainingRows} training sequences of 30 steps, 300 validation sequences");

        // Warm-up (JIT) outside the measurements.
        Run(ml, train, validation, new SmallRegressionSpace { MaximumNumberOfEpochs = 1 }, trials: 2, parallel: 1);

        foreach (int parallel in new[] { 1, 2 })
        {
            var clock = Stopwatch.StartNew();
            var r = Run(ml, train, validation, new SmallRegressionSpace(), trials: 12, parallel);
            double minutes = clock.Elapsed.TotalMinutes;
            Console.WriteLine(string.Format(c, "parallel {0}: {1} trials ({2} epochs in all) in {3:F1} s = {4:F1} trials/min, best RMSE {5:F4}",
                parallel, r.Trials.Count, r.Trials.Sum(t => t.Epochs), minutes * 60, r.Trials.Count / minutes, r.BestTrial.Metric));
        }

        var gridClock = Stopwatch.StartNew();
        var grid = Run(ml, train, validation, new GridSpace(), trials: int.MaxValue, parallel: 1);
        double gridSeconds = gridClock.Elapsed.TotalSeconds;
        var halvingClock = Stopwatch.StartNew();
        var halving = Run(ml, train, validation, new HalvingGridSpace(), trials: int.MaxValue, parallel: 1);
        double halvingSeconds = halvingClock.Elapsed.TotalSeconds;
        Console.WriteLine(string.Format(c, "full grid: {0} points × 27 epochs in {1:F1} s, best RMSE {2:F4} ({3})",
            grid.Trials.Count, gridSeconds, grid.BestTrial.Metric, Describe(grid.BestTrial)));
        Console.WriteLine(string.Format(c, "successive halving: {0} points, {1} epochs in all, in {2:F1} s, best RMSE {3:F4} ({4})",
            halving.Trials.Count, halving.Trials.Sum(t => t.Epochs), halvingSeconds, halving.BestTrial.Metric, Describe(halving.BestTrial)));
        if (Environment.GetEnvironmentVariable("AUTOSWEEP_TABLES") == "1")
        {
            foreach (var t in grid.Trials) Console.WriteLine("  grid " + t);
            foreach (var t in halving.Trials) Console.WriteLine("  halving " + t);
        }

        Console.WriteLine(string.Format(c, "trial time (training + evaluation, summed): grid {0:F1} s, halving {1:F1} s",
            grid.Trials.Sum(t => t.DurationInMilliseconds) / 1000, halving.Trials.Sum(t => t.DurationInMilliseconds) / 1000));
        Console.WriteLine(string.Format(c, "time ratio halving / grid: {0:F2}; same best configuration: {1}",
            halvingSeconds / gridSeconds, Describe(grid.BestTrial) == Describe(halving.BestTrial)));
    }

    private static string Describe(RecurrentTrial t) => string.Join(", ", t.Parameters.Select(p => $"{p.Key}={p.Value}"));

    private static RecurrentExperimentResult Run(MLContext ml, IDataView train, IDataView validation, object space, int trials, int parallel)
    {
        var experiment = ml.Recurrent().CreateExperiment()
            .SetDataset(train, validation)
            .SetRegressionMetric(RegressionMetric.RootMeanSquaredError)
            .SetTrainingTimeInSeconds(3600)
            .SetMaximumNumberOfTrials(trials)
            .SetNumberOfParallelTrials(parallel)
            .SetSeed(1);
        return space switch
        {
            SmallRegressionSpace s => experiment.SetSearchSpace(s).Run(),
            GridSpace g => experiment.SetSearchSpace(g).Run(),
            HalvingGridSpace h => experiment.SetSearchSpace(h).Run(),
            _ => throw new ArgumentException("unknown space"),
        };
    }

    /// <summary>18 points, each trained for 27 epochs (no resource range: plain full-length trials).</summary>
    public sealed class GridSpace
    {
        public int FeaturesPerStep { get; set; } = 2;

        [Choice(new object[] { RecurrentCellType.SimpleRnn, RecurrentCellType.Lstm, RecurrentCellType.Gru })]
        public RecurrentCellType CellType { get; set; }

        [Choice(new object[] { 8, 32 })]
        public int HiddenSize { get; set; } = 8;

        [Choice(new object[] { 3e-3f, 1e-2f, 3e-2f })]
        public float LearningRate { get; set; } = 3e-3f;

        public int MaximumNumberOfEpochs { get; set; } = 27;
    }

    /// <summary>The same 18 points with epochs 1 … 27 as the successive-halving resource (rungs 1, 3, 9, 27).</summary>
    public sealed class HalvingGridSpace
    {
        public int FeaturesPerStep { get; set; } = 2;

        [Choice(new object[] { RecurrentCellType.SimpleRnn, RecurrentCellType.Lstm, RecurrentCellType.Gru })]
        public RecurrentCellType CellType { get; set; }

        [Choice(new object[] { 8, 32 })]
        public int HiddenSize { get; set; } = 8;

        [Choice(new object[] { 3e-3f, 1e-2f, 3e-2f })]
        public float LearningRate { get; set; } = 3e-3f;

        [Range(1, 27, 27, true)]
        public int MaximumNumberOfEpochs { get; set; } = 27;
    }
}
