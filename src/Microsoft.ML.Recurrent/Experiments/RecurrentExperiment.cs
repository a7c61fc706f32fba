using System.Diagnostics;
using System.Globalization;
using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Data;
using Microsoft.ML.Recurrent.Engine.Training;
using Microsoft.ML.Recurrent.Experiments;
using Microsoft.ML.Recurrent.Model;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Recurrent;

/// <summary>
/// Sweeps recurrent trainers under a time budget and keeps the best model, in the shape of ML.NET AutoML's
/// <c>AutoMLExperiment</c>. Create it with <c>mlContext.Recurrent().CreateExperiment()</c>, configure it with the fluent
/// setters (each returns the experiment), then call <see cref="Run"/> or <see cref="RunAsync"/>.
/// </summary>
/// <remarks>
/// <para><b>Search.</b> Hyperband (Li et al. 2017) with epochs as the resource: each bracket proposes n trials, trains
/// them all for a few epochs, keeps the best third and trains those on — resumed from their in-memory checkpoint
/// (weights, optimizer moments, shuffling state), not restarted — and so on up to the search space's maximum of
/// <c>MaximumNumberOfEpochs</c>; brackets cycle from the most aggressive (many trials, from the minimum epochs) to plain
/// full-length training (η = 3). Trials are proposed seeded: the search space's starting point first, then uniform random
/// points, then a tree-structured Parzen estimator fitted to the finished trials.</para>
/// <para><b>Determinism.</b> Every trial trains with the experiment's seed (or the search space's fixed <c>Seed</c>);
/// with the same seed, data and trial limit, the trials, their metrics and their models are the same whatever the
/// number of parallel trials (the engine gives the same bits for any thread count). A time budget or a cancellation
/// that cuts the run short naturally depends on timing.</para>
/// <para><b>Budget.</b> Running trials stop after the epoch during which the training time runs out (the overrun is at
/// most one epoch of the slowest running trial, plus its evaluation; with cross-validation, one epoch for each fold the
/// trial has not trained yet); the best model so far is returned. If no trial
/// has finished its first rung by then, the budget was too small for one trial and <see cref="RunAsync"/> throws
/// <see cref="TimeoutException"/>. A trial that throws (for example a diverging loss) is recorded as failed and the
/// experiment goes on; cancellation stops the running trials within one mini-batch and returns the best trial so far.</para>
/// <para>Progress: every finished rung of every trial is reported to <see cref="SetProgress"/>'s sink and written to
/// <see cref="MLContext.Log"/> (source "RecurrentExperiment"). Forecasting: see <see cref="SetForecastingMetric"/>.</para>
/// </remarks>
public sealed partial class RecurrentExperiment
{
    private const int Eta = 3;
    private const string LogSource = "RecurrentExperiment";

    private readonly RecurrentMLCatalog _catalog;
    private IDataView? _train, _validation, _data;
    private int _folds;
    private PredictionKind? _task;
    private Enum? _metric;
    private string _labelColumn = "Label", _scoreColumn = "Score", _predictedColumn = "PredictedLabel";
    private int _topK = 3;
    private object? _searchSpace;
    private IEstimator<ITransformer>? _preprocessing;
    private uint _seconds = Defaults.TrainingTimeInSeconds;
    private int _maximumTrials = int.MaxValue;
    private int _parallel = 1;
    private int _seed;
    private IProgress<RecurrentTrial>? _progress;

    internal RecurrentExperiment(RecurrentMLCatalog catalog, int seed)
    {
        _catalog = catalog;
        _seed = seed;
    }

    private MLContext Ml => _catalog.Context;

    /// <summary>Trains on <paramref name="train"/> and measures every trial on <paramref name="validation"/>.</summary>
    /// <param name="train">Training rows (one per sequence).</param>
    /// <param name="validation">Validation rows with the same columns; required.</param>
    /// <returns>This experiment.</returns>
    public RecurrentExperiment SetDataset(IDataView train, IDataView validation)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(validation, nameof(validation));
        (_train, _validation, _data, _folds) = (train, validation, null, 0);
        return this;
    }

    /// <summary>Cross-validates every trial on <paramref name="numberOfFolds"/> seeded folds of <paramref name="data"/>
    /// (the metric is the mean over the folds; the trial's model is the one of its best fold).</summary>
    /// <param name="data">All rows (one per sequence).</param>
    /// <param name="numberOfFolds">Folds, ≥ 2. Default 5.</param>
    /// <returns>This experiment.</returns>
    public RecurrentExperiment SetDataset(IDataView data, int numberOfFolds = 5)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (numberOfFolds < 2)
            throw new ArgumentOutOfRangeException(nameof(numberOfFolds), numberOfFolds,
                $"numberOfFolds must be ≥ 2 (cross-validation needs at least two folds); it was {numberOfFolds}. Pass validation data with SetDataset(train, validation) instead.");
        (_train, _validation, _data, _folds) = (null, null, data, numberOfFolds);
        return this;
    }

    /// <summary>A regression experiment (trainer: <see cref="RecurrentRegressionTrainer"/>) optimising <paramref name="metric"/>.</summary>
    /// <param name="metric">The metric on the validation data.</param>
    /// <param name="labelColumn">The label column (Single); the trials train on it.</param>
    /// <param name="scoreColumn">The score column the model writes. Default "Score".</param>
    /// <returns>This experiment.</returns>
    public RecurrentExperiment SetRegressionMetric(RegressionMetric metric, string labelColumn = "Label", string scoreColumn = "Score")
    {
        CheckDefined(metric, nameof(metric));
        SetTask(PredictionKind.Regression, metric, labelColumn, scoreColumn, _predictedColumn);
        return this;
    }

    /// <summary>A binary-classification experiment (trainer: <see cref="RecurrentBinaryTrainer"/>) optimising <paramref name="metric"/>.</summary>
    /// <param name="metric">The metric on the validation data.</param>
    /// <param name="labelColumn">The label column (Boolean); the trials train on it.</param>
    /// <param name="predictedColumn">The predicted-label column the model writes. Default "PredictedLabel".</param>
    /// <returns>This experiment.</returns>
    public RecurrentExperiment SetBinaryClassificationMetric(BinaryClassificationMetric metric, string labelColumn = "Label", string predictedColumn = "PredictedLabel")
    {
        CheckDefined(metric, nameof(metric));
        SetTask(PredictionKind.BinaryClassification, metric, labelColumn, _scoreColumn, predictedColumn);
        return this;
    }

    /// <summary>A multiclass experiment (trainer: <see cref="RecurrentMulticlassTrainer"/>) optimising <paramref name="metric"/>.</summary>
    /// <param name="metric">The metric on the validation data.</param>
    /// <param name="labelColumn">The label column (a key); the trials train on it.</param>
    /// <param name="predictedColumn">The predicted-label column the model writes. Default "PredictedLabel".</param>
    /// <param name="topKPredictionCount">K of <see cref="MulticlassClassificationMetric.TopKAccuracy"/> (≥ 1). Default 3.</param>
    /// <returns>This experiment.</returns>
    public RecurrentExperiment SetMulticlassClassificationMetric(MulticlassClassificationMetric metric, string labelColumn = "Label",
        string predictedColumn = "PredictedLabel", int topKPredictionCount = 3)
    {
        CheckDefined(metric, nameof(metric));
        if (topKPredictionCount < 1)
            throw new ArgumentOutOfRangeException(nameof(topKPredictionCount), topKPredictionCount, $"topKPredictionCount must be ≥ 1; it was {topKPredictionCount}.");
        _topK = topKPredictionCount;
        SetTask(PredictionKind.MulticlassClassification, metric, labelColumn, _scoreColumn, predictedColumn);
        return this;
    }

    /// <summary>
    /// What to sweep: an instance of a class whose public properties are named like the trainer's options. Properties
    /// carrying <c>[Range]</c>, <c>[Choice]</c> or <c>[BooleanChoice]</c> (namespace <c>Microsoft.ML.SearchSpace</c>) are
    /// swept; the others are fixed at the instance's values. <c>MaximumNumberOfEpochs</c> is the successive-halving
    /// resource: a range or choice gives the fewest and the most epochs a trial gets; a plain value trains every trial that
    /// long. Use <see cref="RecurrentRegressionSearchSpace"/>, <see cref="RecurrentBinaryClassificationSearchSpace"/>,
    /// <see cref="RecurrentMulticlassClassificationSearchSpace"/> or a class of your own.
    /// </summary>
    /// <typeparam name="T">The search-space class.</typeparam>
    /// <param name="searchSpace">The instance (read when the experiment runs).</param>
    /// <returns>This experiment.</returns>
    public RecurrentExperiment SetSearchSpace<T>(T searchSpace)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(searchSpace);
        _searchSpace = searchSpace;
        return this;
    }

    /// <summary>An optional pipeline in front of the trainer (fitted once on each training split; every trial's model is
    /// the chain of the fitted pipeline and the trained network).</summary>
    /// <param name="pipeline">The preprocessing estimator.</param>
    /// <returns>This experiment.</returns>
    public RecurrentExperiment SetPreprocessing(IEstimator<ITransformer> pipeline)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        _preprocessing = pipeline;
        return this;
    }

    /// <summary>The time budget of the whole run, in seconds (> 0). Default 60.</summary>
    /// <param name="trainingTimeInSeconds">Seconds.</param>
    /// <returns>This experiment.</returns>
    public RecurrentExperiment SetTrainingTimeInSeconds(uint trainingTimeInSeconds)
    {
        if (trainingTimeInSeconds == 0)
            throw new ArgumentOutOfRangeException(nameof(trainingTimeInSeconds), trainingTimeInSeconds, "trainingTimeInSeconds must be > 0; it was 0.");
        _seconds = trainingTimeInSeconds;
        return this;
    }

    /// <summary>The most trials to run (> 0). Default: no limit other than the time budget.</summary>
    /// <param name="maximumNumberOfTrials">Trials.</param>
    /// <returns>This experiment.</returns>
    public RecurrentExperiment SetMaximumNumberOfTrials(int maximumNumberOfTrials)
    {
        if (maximumNumberOfTrials < 1)
            throw new ArgumentOutOfRangeException(nameof(maximumNumberOfTrials), maximumNumberOfTrials, $"maximumNumberOfTrials must be > 0; it was {maximumNumberOfTrials}.");
        _maximumTrials = maximumNumberOfTrials;
        return this;
    }

    /// <summary>Trials trained at the same time (> 0; each gets an equal share of the cores unless the search space fixes
    /// <c>NumberOfThreads</c>). Default 1.</summary>
    /// <param name="numberOfParallelTrials">Trials at a time.</param>
    /// <returns>This experiment.</returns>
    public RecurrentExperiment SetNumberOfParallelTrials(int numberOfParallelTrials)
    {
        if (numberOfParallelTrials < 1)
            throw new ArgumentOutOfRangeException(nameof(numberOfParallelTrials), numberOfParallelTrials, $"numberOfParallelTrials must be > 0; it was {numberOfParallelTrials}.");
        _parallel = numberOfParallelTrials;
        return this;
    }

    /// <summary>The seed of the proposals, the folds and (unless the search space fixes <c>Seed</c>) every trial's training.
    /// Default: drawn from the <see cref="MLContext"/>'s seed.</summary>
    /// <param name="seed">The seed.</param>
    /// <returns>This experiment.</returns>
    public RecurrentExperiment SetSeed(int seed)
    {
        _seed = seed;
        return this;
    }

    /// <summary>Receives every trial after each of its rungs (on the thread that runs the experiment).</summary>
    /// <param name="progress">The sink.</param>
    /// <returns>This experiment.</returns>
    public RecurrentExperiment SetProgress(IProgress<RecurrentTrial> progress)
    {
        ArgumentNullException.ThrowIfNull(progress);
        _progress = progress;
        return this;
    }

    /// <summary>Runs the experiment to its end (see <see cref="RunAsync"/>).</summary>
    /// <returns>The best trial and the table of all trials.</returns>
    public RecurrentExperimentResult Run() => RunAsync(CancellationToken.None).GetAwaiter().GetResult();

    /// <summary>
    /// Runs trials until the time budget, the trial limit or the search space is used up, or <paramref name="cancellationToken"/>
    /// is cancelled, and returns the best trial so far and the table of all trials.
    /// </summary>
    /// <param name="cancellationToken">Stops the running trials within one mini-batch; the best trial so far is returned.</param>
    /// <returns>The best trial and the table of all trials.</returns>
    /// <exception cref="InvalidOperationException">The dataset, metric or search space is missing, or every trial failed.</exception>
    /// <exception cref="ArgumentException">The search space or the columns do not fit the task.</exception>
    /// <exception cref="TimeoutException">The budget ran out before any trial finished its first rung.</exception>
    /// <exception cref="OperationCanceledException">Cancelled before any trial finished.</exception>
    public async Task<RecurrentExperimentResult> RunAsync(CancellationToken cancellationToken = default)
    {
        var run = new ExperimentRun(this, PrepareSpace(), cancellationToken);
        return await run.ExecuteAsync().ConfigureAwait(false);
    }

    private void SetTask(PredictionKind task, Enum metric, string labelColumn, string scoreColumn, string predictedColumn)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(labelColumn);
        ArgumentException.ThrowIfNullOrWhiteSpace(scoreColumn);
        ArgumentException.ThrowIfNullOrWhiteSpace(predictedColumn);
        (_task, _metric, _labelColumn, _scoreColumn, _predictedColumn) = (task, metric, labelColumn, scoreColumn, predictedColumn);
        _forecast = null;
    }

    private static void CheckDefined<TEnum>(TEnum value, string name)
        where TEnum : struct, Enum
    {
        if (!Enum.IsDefined(value))
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be one of {string.Join(", ", Enum.GetNames<TEnum>())}; it was {value}.");
    }

    private SearchSpaceDescription PrepareSpace()
    {
        if (_forecast is not null) return PrepareForecastingSpace();
        if (_train is null && _data is null)
            throw new InvalidOperationException("No data: call SetDataset(train, validation) or SetDataset(data, numberOfFolds) before running the experiment.");
        if (_task is not PredictionKind task)
            throw new InvalidOperationException("No task: call SetRegressionMetric, SetBinaryClassificationMetric, SetMulticlassClassificationMetric or SetForecastingMetric before running the experiment.");
        if (_searchSpace is RecurrentForecastingSearchSpace)
            throw new ArgumentException(
                $"The search space {_searchSpace.GetType().Name} is for forecasting, but the experiment's metric {_metric} is for {Describe(task)}; use SetForecastingMetric, or the search space of the metric's task.",
                "searchSpace");
        if (_searchSpace is null)
            throw new InvalidOperationException("No search space: call SetSearchSpace (for example with a RecurrentRegressionSearchSpace) before running the experiment.");
        if (_searchSpace is RecurrentSearchSpace typed && typed.Task != task)
            throw new ArgumentException(
                $"The search space {_searchSpace.GetType().Name} is for {Describe(typed.Task)}, but the experiment's metric {_metric} is for {Describe(task)}; use the search space of the metric's task.",
                "searchSpace");
        Type optionsType = task switch
        {
            PredictionKind.Regression => typeof(RecurrentRegressionTrainer.Options),
            PredictionKind.BinaryClassification => typeof(RecurrentBinaryTrainer.Options),
            _ => typeof(RecurrentMulticlassTrainer.Options),
        };
        return SearchSpaceDescription.Read(_searchSpace, optionsType);
    }

    private static string Describe(PredictionKind kind) => kind switch
    {
        PredictionKind.Regression => "regression",
        PredictionKind.BinaryClassification => "binary classification",
        _ => "multiclass classification",
    };

    private static class Defaults
    {
        public const uint TrainingTimeInSeconds = 60;
    }

    /// <summary>One run of the experiment: its splits, proposer, trial table and budget.</summary>
    private sealed partial class ExperimentRun
    {
        private readonly RecurrentExperiment _e;
        private readonly SearchSpaceDescription _space;
        private readonly CancellationToken _cancel;
        private readonly Stopwatch _clock = new();
        private readonly TimeSpan _budget;
        private readonly List<(IDataView Train, IDataView Valid, ITransformer? Pre)> _splits = [];
        private readonly SortedDictionary<int, RecurrentTrial> _table = [];
        private readonly List<(double[] Point, double Loss)> _finished = [];
        private readonly bool _higherIsBetter;
        private readonly int _threads;
        private volatile bool _budgetHit;
        private bool _anyCompletedFirstRung;
        private int _nextId;

        public ExperimentRun(RecurrentExperiment experiment, SearchSpaceDescription space, CancellationToken cancel)
        {
            _e = experiment;
            _space = space;
            _cancel = cancel;
            _budget = TimeSpan.FromSeconds(experiment._seconds);
            _higherIsBetter = experiment._metric switch
            {
                RegressionMetric m => m == RegressionMetric.RSquared,
                MulticlassClassificationMetric m => m != MulticlassClassificationMetric.LogLoss,
                ForecastingMetric => false,
                _ => true,
            };
            _threads = Math.Max(1, Environment.ProcessorCount / experiment._parallel);
        }

        private MLContext Ml => _e.Ml;

        private bool BudgetPassed()
        {
            if (_clock.Elapsed >= _budget) _budgetHit = true;
            return _budgetHit;
        }

        public async Task<RecurrentExperimentResult> ExecuteAsync()
        {
            _clock.Start();
            PrepareSplits();
            var proposer = new TrialProposer(_space, _e._seed, randomTrials: Math.Max(4, 2 * _space.Swept.Count));
            int minE = _space.MinimumEpochs, maxE = _space.MaximumEpochs;
            int sMax = (int)Math.Floor(Math.Log((double)maxE / minE) / Math.Log(Eta) + 1e-9);
            RecurrentExperimentStopReason reason = RecurrentExperimentStopReason.SearchSpaceExhausted;
            for (int bracketIndex = 0; ; bracketIndex++)
            {
                if (_cancel.IsCancellationRequested) { reason = RecurrentExperimentStopReason.Cancellation; break; }
                if (BudgetPassed()) { reason = RecurrentExperimentStopReason.TrainingTime; break; }
                int s = sMax - bracketIndex % (sMax + 1);
                int n = (int)Math.Ceiling((sMax + 1.0) / (s + 1) * Math.Pow(Eta, s));
                n = (int)Math.Min(n, (long)_e._maximumTrials - _nextId);
                if (n <= 0) { reason = RecurrentExperimentStopReason.MaximumNumberOfTrials; break; }
                var bracket = new List<TrialState>();
                for (int i = 0; i < n; i++)
                {
                    if (proposer.Propose(_finished) is not { } point) break;
                    var values = _space.ValuesAt(point);
                    bracket.Add(new TrialState(_nextId++, point, values, _splits.Count));
                }

                if (bracket.Count == 0) { reason = RecurrentExperimentStopReason.SearchSpaceExhausted; break; }
                var rungs = new int[s + 1];
                for (int i = 0; i <= s; i++) rungs[i] = i == s ? maxE : Math.Max(minE, (int)Math.Round(maxE * Math.Pow(Eta, i - s)));

                var alive = bracket;
                for (int i = 0; i <= s && alive.Count > 0; i++)
                {
                    await RunRungAsync(alive, rungs[i], firstRung: i == 0).ConfigureAwait(false);
                    if (_cancel.IsCancellationRequested || _budgetHit) break;
                    if (i == s) break;
                    int keep = Math.Max(1, (int)Math.Floor(bracket.Count / Math.Pow(Eta, i + 1)));
                    alive = alive.Where(t => t.Succeeded && t.Epochs >= rungs[i])
                        .OrderBy(t => Loss(t.Metric)).ThenBy(t => t.Id).Take(keep).ToList();
                }

                foreach (var t in bracket) t.Checkpoints = null; // a finished bracket is never resumed
                if (_cancel.IsCancellationRequested) { reason = RecurrentExperimentStopReason.Cancellation; break; }
                if (_budgetHit) { reason = RecurrentExperimentStopReason.TrainingTime; break; }
            }

            _clock.Stop();
            var trials = _table.Values.ToArray();
            var best = trials.Where(t => t.Succeeded)
                .OrderBy(t => Loss(t.Metric)).ThenByDescending(t => t.Epochs).ThenBy(t => t.Id).FirstOrDefault();
            if (reason == RecurrentExperimentStopReason.TrainingTime && !_anyCompletedFirstRung)
                throw new TimeoutException(string.Format(CultureInfo.InvariantCulture,
                    "The training time of {0} s ran out before any trial finished its first rung of {1} epochs ({2} trial(s) started); the budget is too small for one trial: raise SetTrainingTimeInSeconds or lower the minimum of MaximumNumberOfEpochs in the search space.",
                    _e._seconds, _space.MinimumEpochs, trials.Length));
            if (best is null)
            {
                if (reason == RecurrentExperimentStopReason.Cancellation)
                    throw new OperationCanceledException("The experiment was cancelled before any trial finished.", _cancel);
                var firstFailure = trials.FirstOrDefault(t => t.Exception is not null)?.Exception;
                throw new InvalidOperationException($"All {trials.Length} trials failed; the first failure: {firstFailure?.Message}", firstFailure);
            }

            return new RecurrentExperimentResult(best, trials, reason, _clock.Elapsed.TotalMilliseconds, _higherIsBetter);
        }

        private double Loss(double metric) => double.IsNaN(metric) ? double.PositiveInfinity : _higherIsBetter ? -metric : metric;

        private void PrepareSplits()
        {
            if (_e._forecast is not null)
            {
                PrepareForecastingSplits();
                return;
            }

            var raw = new List<(IDataView Train, IDataView Valid)>();
            if (_e._train is not null) raw.Add((_e._train, _e._validation!));
            else raw.AddRange(Ml.Data.CrossValidationSplit(_e._data!, _e._folds, seed: _e._seed).Select(s => (s.TrainSet, s.TestSet)));
            foreach (var (train, valid) in raw)
            {
                if (_e._preprocessing is { } pipeline)
                {
                    var pre = pipeline.Fit(train);
                    _splits.Add((Ml.Data.Cache(pre.Transform(train)), Ml.Data.Cache(pre.Transform(valid)), pre));
                }
                else
                {
                    _splits.Add((train, valid, null));
                }
            }

            // Schema problems (missing column, a label type that does not fit the metric's task) fail here, before any trial.
            var probe = OptionsFor(_space.ValuesAt(_space.Swept.Select(p => p.Snap(p.Start)).ToArray()), _space.MinimumEpochs);
            probe.Validate();
            var task = _e._task!.Value;
            SequenceSchema.CheckFeatures(_splits[0].Train.Schema, probe.FeatureColumnName, probe.FeaturesPerStep, "train");
            SequenceSchema.CheckLabel(_splits[0].Train.Schema, probe.LabelColumnName, task, "train");
            SequenceSchema.CheckFeatures(_splits[0].Valid.Schema, probe.FeatureColumnName, probe.FeaturesPerStep, "validation");
            SequenceSchema.CheckLabel(_splits[0].Valid.Schema, probe.LabelColumnName, task, "validation");
        }

        /// <summary>Trainer options of a point, with the experiment's label column, seed and thread share.</summary>
        private RecurrentTrainerOptions OptionsFor(object[] values, int epochs)
        {
            var o = _space.CreateOptions(values, epochs);
            o.LabelColumnName = _e._labelColumn;
            o.Seed ??= _e._seed;
            o.NumberOfThreads ??= _threads;
            o.ValidationSet = null;
            o.ValidationFraction = 0;
            return o;
        }

        private static IEstimator<RecurrentPredictionTransformer> CreateTrainer(RecurrentTrainerOptions o) => o switch
        {
            RecurrentRegressionTrainer.Options r => new RecurrentRegressionTrainer(r),
            RecurrentBinaryTrainer.Options b => new RecurrentBinaryTrainer(b),
            RecurrentMulticlassTrainer.Options m => new RecurrentMulticlassTrainer(m),
            _ => throw new InvalidOperationException($"Unknown options type {o.GetType().Name}."),
        };

        private async Task RunRungAsync(List<TrialState> trials, int epochs, bool firstRung)
        {
            var outcomes = new Outcome?[trials.Count];
            int next = -1;
            void Work()
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < trials.Count)
                {
                    if (_cancel.IsCancellationRequested || BudgetPassed()) continue;
                    outcomes[i] = RunJob(trials[i], epochs);
                }
            }

            var workers = new Task[Math.Min(_e._parallel, trials.Count)];
            for (int w = 0; w < workers.Length; w++)
                workers[w] = Task.Factory.StartNew(Work, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            await Task.WhenAll(workers).ConfigureAwait(false);

            // Publish in trial order, on this thread, so the table, the proposer and the log do not depend on timing.
            for (int i = 0; i < trials.Count; i++)
            {
                var t = trials[i];
                if (outcomes[i] is not { } o) continue;
                t.DurationMs += o.Milliseconds;
                if (o.Cancelled && t.Snapshot is not null) continue; // keep the last finished rung
                if (o.Exception is null && !o.Cancelled)
                {
                    t.Metric = o.Metric;
                    t.Epochs = o.Epochs;
                    if (o.Epochs >= epochs && firstRung) _anyCompletedFirstRung = true;
                }
                else
                {
                    t.Metric = double.NaN;
                    t.Checkpoints = null;
                }

                var options = _e._forecast is null ? OptionsFor(t.Values, Math.Max(1, o.Epochs)) : null;
                var parameters = new Dictionary<string, object>(StringComparer.Ordinal);
                for (int p = 0; p < _space.Swept.Count; p++) parameters[_space.Swept[p].Name] = t.Values[p];
                t.Snapshot = options is null ? ForecastingTrial(t, parameters, o)
                    : new RecurrentTrial(t.Id, parameters, options, t.Metric, o.Epochs, t.DurationMs, o.Model, o.Exception);
                _table[t.Id] = t.Snapshot;
                if (firstRung && !o.Cancelled) _finished.Add((t.Point, Loss(t.Metric)));
                Report(t.Snapshot);
            }
        }

        private void Report(RecurrentTrial trial)
        {
            _e._progress?.Report(trial);
            using var channel = ((IHostEnvironment)Ml).Start(LogSource);
            channel.Info(MessageSensitivity.Unknown, trial.ToString());
        }

        /// <summary>Trains one trial up to <paramref name="epochs"/> (resuming its checkpoints) and measures it; never throws.</summary>
        private Outcome RunJob(TrialState t, int epochs)
        {
            if (_e._forecast is not null) return RunForecastingJob(t, epochs);
            var clock = Stopwatch.StartNew();
            try
            {
                double sum = 0, bestFold = double.NaN;
                ITransformer? bestModel = null;
                int trained = int.MaxValue;
                for (int f = 0; f < _splits.Count; f++)
                {
                    var (train, valid, pre) = _splits[f];
                    var options = OptionsFor(t.Values, epochs);
                    options.Checkpoint = t.Checkpoints![f];
                    options.CancellationToken = _cancel;
                    options.EpochCallback = _ => !BudgetPassed();
                    var model = CreateTrainer(options).Fit(train);
                    trained = Math.Min(trained, t.Checkpoints[f].EpochsDone);
                    double metric = Evaluate(model, valid);
                    if (double.IsNaN(metric))
                        throw new InvalidOperationException($"The metric {_e._metric} is NaN on the validation data of fold {f + 1}.");
                    sum += metric;
                    if (bestModel is null || Loss(metric) < Loss(bestFold))
                    {
                        bestFold = metric;
                        bestModel = pre is null ? model : new TransformerChain<ITransformer>(pre, model);
                    }
                }

                return new Outcome(sum / _splits.Count, trained, bestModel, null, false, clock.Elapsed.TotalMilliseconds);
            }
            catch (OperationCanceledException) when (_cancel.IsCancellationRequested)
            {
                return new Outcome(double.NaN, t.Epochs, null, null, true, clock.Elapsed.TotalMilliseconds);
            }
            catch (Exception e)
            {
                return new Outcome(double.NaN, t.Epochs, null, e, false, clock.Elapsed.TotalMilliseconds);
            }
        }

        private double Evaluate(ITransformer model, IDataView valid)
        {
            var scored = model.Transform(valid);
            string label = _e._labelColumn;
            switch (_e._metric)
            {
                case RegressionMetric m:
                {
                    var r = Ml.Regression.Evaluate(scored, label, _e._scoreColumn);
                    return m switch
                    {
                        RegressionMetric.MeanAbsoluteError => r.MeanAbsoluteError,
                        RegressionMetric.MeanSquaredError => r.MeanSquaredError,
                        RegressionMetric.RootMeanSquaredError => r.RootMeanSquaredError,
                        _ => r.RSquared,
                    };
                }

                case BinaryClassificationMetric m:
                {
                    var r = Ml.BinaryClassification.Evaluate(scored, label, predictedLabelColumnName: _e._predictedColumn);
                    return m switch
                    {
                        BinaryClassificationMetric.Accuracy => r.Accuracy,
                        BinaryClassificationMetric.AreaUnderRocCurve => r.AreaUnderRocCurve,
                        BinaryClassificationMetric.AreaUnderPrecisionRecallCurve => r.AreaUnderPrecisionRecallCurve,
                        BinaryClassificationMetric.F1Score => r.F1Score,
                        BinaryClassificationMetric.PositivePrecision => r.PositivePrecision,
                        BinaryClassificationMetric.PositiveRecall => r.PositiveRecall,
                        BinaryClassificationMetric.NegativePrecision => r.NegativePrecision,
                        _ => r.NegativeRecall,
                    };
                }

                case MulticlassClassificationMetric m:
                {
                    var r = Ml.MulticlassClassification.Evaluate(scored, label, predictedLabelColumnName: _e._predictedColumn,
                        topKPredictionCount: m == MulticlassClassificationMetric.TopKAccuracy ? _e._topK : 0);
                    return m switch
                    {
                        MulticlassClassificationMetric.MicroAccuracy => r.MicroAccuracy,
                        MulticlassClassificationMetric.MacroAccuracy => r.MacroAccuracy,
                        MulticlassClassificationMetric.LogLoss => r.LogLoss,
                        MulticlassClassificationMetric.TopKAccuracy => r.TopKAccuracy,
                        _ => r.LogLossReduction,
                    };
                }

                default:
                    throw new InvalidOperationException("No metric.");
            }
        }

        private sealed record Outcome(double Metric, int Epochs, ITransformer? Model, Exception? Exception, bool Cancelled, double Milliseconds);

        private sealed class TrialState(int id, double[] point, object[] values, int folds)
        {
            public int Id { get; } = id;
            public double[] Point { get; } = point;
            public object[] Values { get; } = values;
            public TrainingCheckpoint[]? Checkpoints { get; set; } = Enumerable.Range(0, folds).Select(_ => new TrainingCheckpoint()).ToArray();
            public RecurrentTrial? Snapshot { get; set; }
            public double Metric { get; set; } = double.NaN;
            public int Epochs { get; set; }
            public double DurationMs { get; set; }
            public bool Succeeded => Snapshot is { Succeeded: true };
        }
    }
}
