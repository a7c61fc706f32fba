using System.Diagnostics;
using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Experiments;
using Microsoft.ML.Recurrent.Forecasting;

namespace Microsoft.ML.Recurrent;

public sealed partial class RecurrentExperiment
{
    private ForecastSetup? _forecast;

    /// <summary>
    /// A forecasting experiment (estimator: <see cref="RecurrentForecastingEstimator"/>, <c>mlContext.Forecasting.ForecastByRecurrent</c>)
    /// optimising <paramref name="metric"/>, measured by <c>mlContext.Forecasting.Evaluate</c> on a rolling-origin backtest of the
    /// validation rows. Use it with a <see cref="RecurrentForecastingSearchSpace"/> (or a class of your own whose properties are
    /// named like <see cref="RecurrentForecastingEstimator.Options"/>); the parameters given here override the search space's.
    /// </summary>
    /// <remarks>
    /// <para><b>Data.</b> <c>SetDataset(train, validation)</c> with time-ordered views of the same columns: the validation view
    /// holds the rows that <i>follow</i> the training rows of each series (without repeating them). Every trial is fitted on
    /// <c>train</c>; its backtest is one <c>Transform</c> over the training rows followed by the validation rows (the
    /// forecaster's <c>Transform</c> starts every series afresh at the start of a view, so the history has to be in the view);
    /// the forecasts made at the validation rows (each from the rows up to and including it) are matched with the
    /// validation values that follow it in its series. The first validation value of each series is therefore never a target,
    /// and forecast steps past the end of the validation rows are skipped. Cross-validation folds
    /// (<c>SetDataset(data, numberOfFolds)</c>) are not supported for forecasting (the run throws).</para>
    /// <para><b>Search.</b> Successive halving with epochs as the resource, as for the trainers; the forecaster cannot resume
    /// from a checkpoint, so a trial promoted to a higher rung is trained again from its start with more epochs (same seed,
    /// so the rung's model is the one a single fit with that many epochs gives). A time budget that runs out stops the
    /// running trials within one mini-batch (a cut trial keeps its last finished rung).</para>
    /// </remarks>
    /// <param name="metric">The metric of the backtest (lower is better for all).</param>
    /// <param name="inputColumnName">The series column (<see cref="float"/>, one row per time step, in time order).</param>
    /// <param name="horizon">Values forecast from each row (≥ 1). Default 12.</param>
    /// <param name="seasonalPeriod">The season length (≥ 2): given to the forecaster and the scale of
    /// <see cref="ForecastingMetric.MeanAbsoluteScaledError"/>; null keeps the search space's (MASE then uses the one-step scale).</param>
    /// <param name="seriesIdColumnName">The series id column when the views hold many series; null keeps the search space's.</param>
    /// <returns>This experiment.</returns>
    public RecurrentExperiment SetForecastingMetric(ForecastingMetric metric, string inputColumnName, int horizon = 12, int? seasonalPeriod = null,
        string? seriesIdColumnName = null)
    {
        CheckDefined(metric, nameof(metric));
        ArgumentException.ThrowIfNullOrWhiteSpace(inputColumnName);
        if (horizon < 1) throw new ArgumentOutOfRangeException(nameof(horizon), horizon, $"horizon must be ≥ 1; it was {horizon}.");
        if (seasonalPeriod is int m && m < 2)
            throw new ArgumentOutOfRangeException(nameof(seasonalPeriod), m, $"seasonalPeriod must be ≥ 2, or null for none; it was {m}.");
        if (seriesIdColumnName is not null) ArgumentException.ThrowIfNullOrWhiteSpace(seriesIdColumnName);
        _task = null;
        _metric = metric;
        _forecast = new ForecastSetup(metric, inputColumnName, horizon, seasonalPeriod, seriesIdColumnName);
        return this;
    }

    private SearchSpaceDescription PrepareForecastingSpace()
    {
        if (_train is null && _data is null)
            throw new InvalidOperationException("No data: call SetDataset(train, validation) before running the experiment.");
        if (_train is null)
            throw new InvalidOperationException(
                "Cross-validation folds are not supported for forecasting: call SetDataset(train, validation) with time-ordered views, the validation view holding the rows that follow the training rows of each series.");
        if (_searchSpace is null)
            throw new InvalidOperationException("No search space: call SetSearchSpace (for example with a RecurrentForecastingSearchSpace) before running the experiment.");
        if (_searchSpace is RecurrentSearchSpace typed)
            throw new ArgumentException(
                $"The search space {_searchSpace.GetType().Name} is for {Describe(typed.Task)}, but the experiment's metric {_metric} is for forecasting; use a RecurrentForecastingSearchSpace.",
                "searchSpace");
        var space = SearchSpaceDescription.Read(_searchSpace, typeof(RecurrentForecastingEstimator.Options));
        var window = space.Swept.FirstOrDefault(p => p.Name == nameof(RecurrentForecastingEstimator.Options.WindowSize));
        if (window is not null && window.IntegerBounds().Min < 1)
            throw new ArgumentOutOfRangeException("searchSpace", window.IntegerBounds().Min,
                $"The search space {_searchSpace.GetType().Name} allows WindowSize {window.IntegerBounds().Min}; every window size must be ≥ 1 time step.");
        return space;
    }

    private sealed record ForecastSetup(ForecastingMetric Metric, string InputColumnName, int Horizon, int? SeasonalPeriod, string? SeriesIdColumnName);

    /// <summary>The marker column of the backtest view: 0 on training rows, 1 on validation rows.</summary>
    private sealed class OriginMarker
    {
        public float RecurrentExperimentValidationRow { get; set; }
    }

    private sealed class NoColumns
    {
    }

    private sealed partial class ExperimentRun
    {
        private const string MarkerColumn = nameof(OriginMarker.RecurrentExperimentValidationRow);
        private readonly List<IDataView> _backtests = [];

        private void PrepareForecastingSplits()
        {
            IDataView train = _e._train!, valid = _e._validation!;
            ITransformer? pre = null;
            IDataView fitOn = train;
            if (_e._preprocessing is { } pipeline)
            {
                pre = pipeline.Fit(train);
                fitOn = Ml.Data.Cache(pre.Transform(train));
            }

            // Schema problems (missing column, a non-Single series, a bad fixed option) fail here, before any trial.
            var probe = ForecastOptionsFor(_space.ValuesAt(_space.Swept.Select(p => p.Snap(p.Start)).ToArray()), _space.MinimumEpochs);
            probe.Validate();
            if (probe.KnownCovariateColumnNames.Length > 0)
                throw new ArgumentException(
                    "KnownCovariateColumnNames cannot be used in a forecasting experiment: Transform gives NaN forecasts with known covariates, so the backtest has nothing to measure.",
                    "searchSpace");
            ForecastSchema.Check(fitOn.Schema, probe, "train");
            if (!SameSchema(train.Schema, valid.Schema, out string difference))
                throw new ArgumentException(
                    $"The validation view must have the training view's columns, in the same order and of the same types (the backtest runs over the training rows followed by the validation rows); {difference}.",
                    "validation");

            IDataView Mark(IDataView view, float value) => Ml.Transforms
                .CustomMapping<NoColumns, OriginMarker>((_, o) => o.RecurrentExperimentValidationRow = value, contractName: null)
                .Fit(view).Transform(view);
            var history = Mark(train, 0f);
            var future = Mark(valid, 1f);
            _backtests.Add(new AppendedView(history, future));
            _splits.Add((fitOn, valid, pre));
        }

        private static bool SameSchema(DataViewSchema a, DataViewSchema b, out string difference)
        {
            difference = "";
            if (a.Count != b.Count)
            {
                difference = $"the training view has {a.Count} columns, the validation view {b.Count}";
                return false;
            }

            for (int i = 0; i < a.Count; i++)
            {
                if (a[i].Name != b[i].Name || !a[i].Type.Equals(b[i].Type))
                {
                    difference = $"column {i} is '{a[i].Name}' ({a[i].Type}) in training and '{b[i].Name}' ({b[i].Type}) in validation";
                    return false;
                }
            }

            return true;
        }

        /// <summary>Forecaster options of a point, with the experiment's column, horizon, period, series id, seed and thread share.</summary>
        private RecurrentForecastingEstimator.Options ForecastOptionsFor(object[] values, int epochs)
        {
            var f = _e._forecast!;
            var o = _space.CreateForecastingOptions(values, epochs);
            o.InputColumnName = f.InputColumnName;
            o.Horizon = f.Horizon;
            if (f.SeasonalPeriod is int m) o.SeasonalPeriod = m;
            if (f.SeriesIdColumnName is string id) o.SeriesIdColumnName = id;
            o.Seed ??= _e._seed;
            o.NumberOfThreads ??= _threads;
            return o;
        }

        /// <summary>Trains one forecasting trial for <paramref name="epochs"/> (from its start: the forecaster has no checkpoint)
        /// and measures its backtest; never throws.</summary>
        private Outcome RunForecastingJob(TrialState t, int epochs)
        {
            var clock = Stopwatch.StartNew();
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(_cancel);
            try
            {
                var (train, _, pre) = _splits[0];
                var options = ForecastOptionsFor(t.Values, epochs);
                options.CancellationToken = stop.Token;
                options.Progress = new BudgetWatch(() =>
                {
                    if (BudgetPassed()) stop.Cancel();
                });
                if (BudgetPassed()) stop.Cancel();
                var forecaster = new RecurrentForecastingEstimator(options).Fit(train);
                ITransformer model = pre is null ? forecaster : new TransformerChain<ITransformer>(pre, forecaster);
                double metric = MeasureForecasts(model, _backtests[0], options);
                if (double.IsNaN(metric))
                    throw new InvalidOperationException($"The metric {_e._metric} is NaN on the validation data (no forecast could be matched with a validation value: is the validation view empty or shorter than two rows per series?).");
                return new Outcome(metric, epochs, model, null, false, clock.Elapsed.TotalMilliseconds);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return new Outcome(double.NaN, t.Epochs, null, null, true, clock.Elapsed.TotalMilliseconds);
            }
            catch (Exception e)
            {
                return new Outcome(double.NaN, t.Epochs, null, e, false, clock.Elapsed.TotalMilliseconds);
            }
        }

        private double MeasureForecasts(ITransformer model, IDataView backtest, RecurrentForecastingEstimator.Options options)
        {
            var f = _e._forecast!;
            var scored = Ml.Data.FilterRowsByColumn(model.Transform(backtest), MarkerColumn, lowerBound: 0.5);
            var r = Ml.Forecasting.Evaluate(scored, options.InputColumnName, options.OutputColumnName,
                seasonalPeriod: options.SeasonalPeriod ?? 1, seriesIdColumnName: options.SeriesIdColumnName);
            if (r.Count == 0) return double.NaN;
            return f.Metric switch
            {
                ForecastingMetric.MeanAbsoluteError => r.MeanAbsoluteError,
                ForecastingMetric.RootMeanSquaredError => r.RootMeanSquaredError,
                ForecastingMetric.SymmetricMeanAbsolutePercentageError => r.SymmetricMeanAbsolutePercentageError,
                _ => r.MeanAbsoluteScaledError ?? double.NaN,
            };
        }

        private RecurrentTrial ForecastingTrial(TrialState t, Dictionary<string, object> parameters, Outcome o)
        {
            var options = ForecastOptionsFor(t.Values, Math.Max(1, o.Epochs));
            var shared = new RecurrentRegressionTrainer.Options
            {
                CellType = options.CellType,
                HiddenSize = options.HiddenSize,
                NumberOfLayers = options.NumberOfLayers,
                Dropout = options.Dropout,
                LearningRate = options.LearningRate,
                BatchSize = options.BatchSize,
                MaximumNumberOfEpochs = options.MaximumNumberOfEpochs,
                GradientClipNorm = options.GradientClipNorm,
                Seed = options.Seed,
                NumberOfThreads = options.NumberOfThreads,
            };
            return new RecurrentTrial(t.Id, parameters, shared, t.Metric, o.Epochs, t.DurationMs, o.Model, o.Exception, options);
        }

        private sealed class BudgetWatch(Action check) : IProgress<RecurrentEpochReport>
        {
            public void Report(RecurrentEpochReport value) => check();
        }
    }
}
