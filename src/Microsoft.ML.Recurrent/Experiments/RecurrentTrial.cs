using System.Globalization;

namespace Microsoft.ML.Recurrent;

/// <summary>
/// One trial of a <see cref="RecurrentExperiment"/>: a point of the search space, trained (possibly in several
/// successive-halving rungs, each resumed from the previous one's checkpoint) and measured on the validation data.
/// Immutable: after each rung the experiment publishes a new instance with the same <see cref="Id"/>.
/// </summary>
public sealed class RecurrentTrial
{
    internal RecurrentTrial(int id, IReadOnlyDictionary<string, object> parameters, RecurrentTrainerOptions options, double metric,
        int epochs, double durationInMilliseconds, ITransformer? model, Exception? exception,
        RecurrentForecastingEstimator.Options? forecastingOptions = null)
    {
        ForecastingOptions = forecastingOptions;
        Id = id;
        Parameters = parameters;
        Options = options;
        Metric = metric;
        Epochs = epochs;
        DurationInMilliseconds = durationInMilliseconds;
        Model = model;
        Exception = exception;
    }

    /// <summary>The trial number, from 0, in the order the trials were proposed.</summary>
    public int Id { get; }

    /// <summary>The swept values of this trial, by property name (the fixed ones are in <see cref="Options"/>).</summary>
    public IReadOnlyDictionary<string, object> Parameters { get; }

    /// <summary>The trainer options this trial ran with (a <see cref="RecurrentRegressionTrainer.Options"/>,
    /// <see cref="RecurrentBinaryTrainer.Options"/> or <see cref="RecurrentMulticlassTrainer.Options"/>);
    /// <see cref="RecurrentTrainerOptions.MaximumNumberOfEpochs"/> is the number of epochs it was trained for.
    /// Training it again with these options on the same data gives the same model.</summary>
    public RecurrentTrainerOptions Options { get; }

    /// <summary>The forecaster options this trial ran with (<see cref="RecurrentForecastingEstimator.Options.MaximumNumberOfEpochs"/>
    /// is the number of epochs it was trained for) in a forecasting experiment (<see cref="RecurrentExperiment.SetForecastingMetric"/>);
    /// there <see cref="Options"/> holds the network and training settings it shares with the trainers (cell, hidden size,
    /// layers, dropout, learning rate, batch size, epochs, seed). Null in the other experiments.</summary>
    public RecurrentForecastingEstimator.Options? ForecastingOptions { get; }

    /// <summary>The experiment's metric on the validation data (the mean over the folds with cross-validation);
    /// NaN for a failed trial.</summary>
    public double Metric { get; }

    /// <summary>Epochs trained.</summary>
    public int Epochs { get; }

    /// <summary>Wall-clock time spent on this trial: training and evaluation over all its rungs (and folds).</summary>
    public double DurationInMilliseconds { get; }

    /// <summary>The fitted model (with a preprocessing pipeline, the chain of both; with cross-validation, the model of the
    /// fold with the best metric). It saves and loads like any ML.NET model. Null for a failed trial.</summary>
    public ITransformer? Model { get; }

    /// <summary>Why the trial failed (for example a diverging loss), or null.</summary>
    public Exception? Exception { get; }

    /// <summary>Whether the trial produced a model and a metric.</summary>
    public bool Succeeded => Exception is null && Model is not null && !double.IsNaN(Metric);

    /// <summary>One table line: id, swept values, metric, epochs, seconds (or the failure).</summary>
    public override string ToString()
    {
        var c = CultureInfo.InvariantCulture;
        string values = string.Join(", ", Parameters.Select(p => string.Format(c, "{0}={1}", p.Key, p.Value is float f ? f.ToString("G3", c) : p.Value)));
        string outcome = Succeeded ? string.Format(c, "metric {0:G5}", Metric) : "failed: " + (Exception?.Message ?? "no model");
        return string.Format(c, "trial {0}: {1} | {2}, {3} epochs, {4:F1} s", Id, values, outcome, Epochs, DurationInMilliseconds / 1000);
    }
}

/// <summary>What <see cref="RecurrentExperiment.Run"/> returns: the best trial and the table of all trials.</summary>
public sealed class RecurrentExperimentResult
{
    internal RecurrentExperimentResult(RecurrentTrial bestTrial, IReadOnlyList<RecurrentTrial> trials, RecurrentExperimentStopReason stopReason,
        double durationInMilliseconds, bool higherIsBetter)
    {
        BestTrial = bestTrial;
        Trials = trials;
        StopReason = stopReason;
        DurationInMilliseconds = durationInMilliseconds;
        HigherIsBetter = higherIsBetter;
    }

    /// <summary>The successful trial with the best metric (ties: the one trained for more epochs, then the earlier one).</summary>
    public RecurrentTrial BestTrial { get; }

    /// <summary>Every trial that ran, by <see cref="RecurrentTrial.Id"/>, each in its final state.</summary>
    public IReadOnlyList<RecurrentTrial> Trials { get; }

    /// <summary>Why the experiment stopped.</summary>
    public RecurrentExperimentStopReason StopReason { get; }

    /// <summary>Wall-clock time of the whole run.</summary>
    public double DurationInMilliseconds { get; }

    /// <summary>Whether a higher metric is better (R², accuracy, AUC, …) or a lower one (errors, log-loss).</summary>
    public bool HigherIsBetter { get; }
}
