using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Data;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Optimizers;
using Microsoft.ML.Recurrent.Engine.Training;
using Microsoft.ML.Recurrent.Model;
using Microsoft.ML.Recurrent.Serving;

namespace Microsoft.ML.Recurrent.Benchmarks;

/// <summary>
/// End-to-end cost through ML.NET, beside the engine alone.
/// <para>
/// Fit: the QuickStart forecasting data (samples/QuickStart/ForecastWithLstm.cs: 2000 windows of 24 steps, LSTM
/// H = 32, 12 epochs) trained through <c>mlContext.Regression.Trainers.Lstm(...).Fit</c>, against
/// <c>SequenceTrainer.Train</c> on a <c>SequenceDataset</c> holding the same standardised sequences with the settings
/// the trainer maps its options to. The ML.NET side is also split into its phases (reproduced step by step with the
/// trainer's own internal helpers, in the order of <c>RecurrentTrainerCore.Fit</c>); the reproduction must give
/// bit-identical weights, which the runner checks.
/// </para>
/// <para>
/// Prediction: every model is saved to a stream and loaded in a fresh <see cref="MLContext"/>. <c>Transform</c> over
/// N rows (a cursor reads Score on every row) in rows/s; <c>PredictionEngine.Predict</c> one row at a time in
/// µs/row; the engine's bare <c>SequencePredictor</c> and the serving mapping's <c>LoadedModel.ScoreDense</c> on
/// the same sequences and the same decoded parameter array the loaded chain uses (taken from the decode cache), in
/// interleaved blocks, so the ML.NET serving overhead is visible; also the cold start (load, create the engine,
/// predict one row, which decodes the payload). Models: the QuickStart regression model,
/// configuration 5's shape (LSTM H = 128, F = 32, T = 50, one layer; regression, trained one epoch on random
/// data) and the same shape as a 3-class multiclass model (its chain adds the ONNX shape adapter and MapValueToKey).
/// </para>
/// Usage: mlnet [--repeats N] [--rows N] [--pe-rows N] [--only fit|predict] [--threads N]
/// </summary>
internal static class MlNetThroughput
{
    private const string UsageText = "usage: mlnet [--repeats N] [--rows N] [--pe-rows N] [--only fit|predict] [--threads N]";

    private sealed class Options
    {
        public int Repeats = 3;
        public int TransformRows = 10_000;
        public int PredictionEngineRows = 2_000;
        public bool Fit = true;
        public bool Predict = true;
        public int? Threads;
    }

    public static int Run(string[] args)
    {
        Options? o;
        try
        {
            o = Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"mlnet: {e.Message}");
            Console.Error.WriteLine(UsageText);
            return 2;
        }

        if (o is null) return 0;
        var culture = CultureInfo.CurrentCulture;
        try
        {
            CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
            Console.WriteLine($"ML.NET end-to-end: {Environment.ProcessorCount} cores, {o.Repeats} repeats (medians), .NET {Environment.Version}");
            var total = Stopwatch.StartNew();
            if (o.Fit) RunFit(o);
            if (o.Predict) RunPredict(o);
            Console.WriteLine($"Total time {total.Elapsed.TotalSeconds:F1} s.");
            return 0;
        }
        finally
        {
            CultureInfo.CurrentCulture = culture;
        }
    }

    private static Options? Parse(string[] args)
    {
        var o = new Options();
        for (int i = args.Length > 0 && args[0] == "mlnet" ? 1 : 0; i < args.Length; i++)
        {
            string Value()
            {
                if (i + 1 >= args.Length) throw new ArgumentException($"{args[i]} needs a value.");
                return args[++i];
            }

            int Int(int min)
            {
                string name = args[i], v = Value();
                if (!int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) || n < min)
                    throw new ArgumentException($"{name} must be an integer ≥ {min}, was '{v}'.");
                return n;
            }

            switch (args[i])
            {
                case "--repeats": o.Repeats = Int(1); break;
                case "--rows": o.TransformRows = Int(1); break;
                case "--pe-rows": o.PredictionEngineRows = Int(1); break;
                case "--threads": o.Threads = Int(1); break;
                case "--only":
                {
                    string v = Value();
                    if (v is not ("fit" or "predict")) throw new ArgumentException($"--only takes fit or predict, was '{v}'.");
                    o.Fit = v == "fit";
                    o.Predict = v == "predict";
                    break;
                }

                case "--help" or "-h":
                    Console.WriteLine(UsageText);
                    return null;
                default:
                    throw new ArgumentException($"unknown argument '{args[i]}'.");
            }
        }

        return o;
    }

    // ---------------------------------------------------------------- Fit ----------------------------------------------

    private const int QuickStartEpochs = 12;
    private const int QuickStartHidden = 32;

    private static RecurrentRegressionTrainer QuickStartTrainer(MLContext ml, int epochs, int? threads) =>
        ml.Regression.Trainers.Recurrent(new RecurrentRegressionTrainer.Options
        {
            // What mlContext.Regression.Trainers.Lstm(labelColumnName: "Next", featureColumnName: "Past",
            // featuresPerStep: 1, hiddenSize: 32, maximumNumberOfEpochs: 12) builds, plus an optional thread count.
            CellType = RecurrentCellType.Lstm,
            LabelColumnName = nameof(Window.Next),
            FeatureColumnName = nameof(Window.Past),
            FeaturesPerStep = 1,
            HiddenSize = QuickStartHidden,
            MaximumNumberOfEpochs = epochs,
            NumberOfThreads = threads,
        });

    private sealed class Phases
    {
        public double Read, Standardise, Dataset, Train, Serve;
        public double Total => Read + Standardise + Dataset + Train + Serve;
    }

    private static void RunFit(Options o)
    {
        var ml = new MLContext(seed: 0);
        IDataView data = ml.Data.LoadFromEnumerable(GenerateWindows(count: 2000, seed: 1));
        Console.WriteLine();
        Console.WriteLine($"Fit on the QuickStart data: 2000 sequences, T = 24, F = 1, LSTM H = {QuickStartHidden}, {QuickStartEpochs} epochs, batch {RecurrentTrainerOptions.Defaults.BatchSize}");

        // Warm-up (JIT of both paths) on one epoch.
        QuickStartTrainer(ml, 1, o.Threads).Fit(data);
        var (warmSettings, warmSet) = Reproduce(data, 1, o.Threads, null, out _);
        SequenceTrainer.Train(warmSettings, warmSet, null, null, default);

        var fitMs = new double[o.Repeats];
        var engineMs = new double[o.Repeats];
        var phases = new Phases[o.Repeats];
        RecurrentModel? fitted = null, reproduced = null;
        for (int r = 0; r < o.Repeats; r++)
        {
            // Interleaved, so that noise from other processes hits every path alike.
            BenchStats.FullCollect();
            long t0 = Stopwatch.GetTimestamp();
            var model = QuickStartTrainer(ml, QuickStartEpochs, o.Threads).Fit(data);
            fitMs[r] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            fitted = model.StoredModel;

            BenchStats.FullCollect();
            var p = new Phases();
            var (settings, set) = Reproduce(data, QuickStartEpochs, o.Threads, p, out var finish);
            t0 = Stopwatch.GetTimestamp();
            var result = SequenceTrainer.Train(settings, set, null, null, default);
            p.Train = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            t0 = Stopwatch.GetTimestamp();
            reproduced = finish(result.Parameters);
            p.Serve = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            phases[r] = p;

            // The engine alone: the same settings and the same (already standardised) sequences, nothing else timed.
            BenchStats.FullCollect();
            var (engineSettings, engineSet) = Reproduce(data, QuickStartEpochs, o.Threads, null, out _);
            t0 = Stopwatch.GetTimestamp();
            SequenceTrainer.Train(engineSettings, engineSet, null, null, default);
            engineMs[r] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }

        bool identical = fitted!.Parameters.AsSpan().SequenceEqual(reproduced!.Parameters);
        double fit = BenchStats.Median(fitMs), engine = BenchStats.Median(engineMs);
        double read = BenchStats.Median(phases.Select(p => p.Read)), standardise = BenchStats.Median(phases.Select(p => p.Standardise));
        double dataset = BenchStats.Median(phases.Select(p => p.Dataset)), train = BenchStats.Median(phases.Select(p => p.Train));
        double serve = BenchStats.Median(phases.Select(p => p.Serve)), sum = BenchStats.Median(phases.Select(p => p.Total));
        Console.WriteLine($"  reproduction of Fit gives the same weights as Fit: {(identical ? "yes (bit-identical)" : "NO — the mapping below is not what Fit does")}");
        Console.WriteLine();
        Console.WriteLine("| path | median ms | share of Fit |");
        Console.WriteLine("|---|---:|---:|");
        Console.WriteLine($"| ML.NET Fit (whole call) | {fit:F1} | 100 % |");
        Console.WriteLine($"|   read IDataView → sequences (cursor, checks, copies) | {read:F2} | {100 * read / fit:F2} % |");
        Console.WriteLine($"|   standardise features and labels | {standardise:F2} | {100 * standardise / fit:F2} % |");
        Console.WriteLine($"|   build SequenceDataset (re-checks values) | {dataset:F2} | {100 * dataset / fit:F2} % |");
        Console.WriteLine($"|   engine training (SequenceTrainer.Train) | {train:F1} | {100 * train / fit:F1} % |");
        Console.WriteLine($"|   fold weights + build serving chain | {serve:F2} | {100 * serve / fit:F2} % |");
        Console.WriteLine($"|   sum of the phases (reproduced) | {sum:F1} | {100 * sum / fit:F1} % |");
        Console.WriteLine($"| engine alone (SequenceTrainer.Train, same batches) | {engine:F1} | {100 * engine / fit:F1} % |");
        Console.WriteLine();
        Console.WriteLine($"  Fit runs {100 * (fit - engine) / engine:+0.0;-0.0} % over the engine alone (target ≤ +15 %); " +
                          $"the phases outside training cost {read + standardise + dataset + serve:F1} ms = {100 * (read + standardise + dataset + serve) / engine:F2} % of the engine's time.");
        Console.WriteLine($"  runs (ms): Fit {Join(fitMs)}; engine alone {Join(engineMs)}; reproduced train {Join(phases.Select(p => p.Train))}");
    }

    /// <summary>
    /// Steps 1–3 of <c>RecurrentTrainerCore.Fit</c> for the QuickStart regression options (no validation), each phase
    /// timed into <paramref name="phases"/>; <paramref name="finish"/> does step 5 (fold, finite check, serving chain).
    /// </summary>
    private static (TrainerSettings Settings, SequenceDataset Set) Reproduce(IDataView input, int epochs, int? threads, Phases? phases,
        out Func<float[], RecurrentModel> finish)
    {
        var o = new RecurrentRegressionTrainer.Options
        {
            CellType = RecurrentCellType.Lstm,
            LabelColumnName = nameof(Window.Next),
            FeatureColumnName = nameof(Window.Past),
            FeaturesPerStep = 1,
            HiddenSize = QuickStartHidden,
            MaximumNumberOfEpochs = epochs,
            NumberOfThreads = threads,
        };

        long t0 = Stopwatch.GetTimestamp();
        var features = SequenceSchema.CheckFeatures(input.Schema, o.FeatureColumnName, o.FeaturesPerStep, nameof(input));
        var label = SequenceSchema.CheckLabel(input.Schema, o.LabelColumnName, PredictionKind.Regression, nameof(input));
        int seed = o.Seed ?? 0;
        int f = o.FeaturesPerStep;
        var train = SequenceReader.Read(input, o.FeatureColumnName, features, f, o.LabelColumnName, label, "training", default);
        if (phases is not null) phases.Read = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;

        t0 = Stopwatch.GetTimestamp();
        var scaling = Standardization.Fit(train.Features, f);
        foreach (var x in train.Features) scaling.Apply(x);
        var (labelMean, labelStd) = Standardization.LabelStatistics(train.Targets);
        if (phases is not null) phases.Standardise = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;

        t0 = Stopwatch.GetTimestamp();
        var set = new SequenceDataset(f, 1);
        for (int i = 0; i < train.Count; i++) set.Add(train.Features[i], [(train.Targets[i] - labelMean) / labelStd]);
        if (phases is not null) phases.Dataset = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;

        var spec = new NetworkSpec((CellKind)(int)o.CellType, f, o.HiddenSize, o.NumberOfLayers, o.Bidirectional, o.Dropout,
            0, 0, 1, OutputMode.LastHidden);
        var settings = new TrainerSettings
        {
            Spec = spec,
            Loss = LossKind.MeanSquaredError,
            Epochs = o.MaximumNumberOfEpochs,
            BatchSize = o.BatchSize,
            LearningRate = o.LearningRate,
            Optimizer = (OptimizerKind)(int)o.Optimizer,
            OptimizerSettings = new OptimizerSettings { WeightDecay = o.L2Regularization },
            GradientClipNorm = o.GradientClipNorm,
            Schedule = (ScheduleKind)(int)o.LearningRateSchedule,
            EarlyStoppingPatience = 0,
            Seed = seed,
            Threads = o.NumberOfThreads ?? 0,
        };

        finish = trained =>
        {
            var parameters = (float[])trained.Clone();
            var layout = new ParameterLayout(spec);
            scaling.FoldIntoInput(layout, parameters);
            Standardization.FoldIntoHead(layout, parameters, labelMean, labelStd);
            foreach (float p in parameters)
            {
                if (!float.IsFinite(p)) throw new InvalidOperationException("non-finite weights");
            }

            var model = new RecurrentModel(spec, PredictionKind.Regression, o.FeatureColumnName, [], parameters);
            ServingChain.Build(model, input.Schema);
            return model;
        };
        return (settings, set);
    }

    // ------------------------------------------------------------ Prediction -------------------------------------------

    private sealed record PredictRow(string Model, long ZipBytes, double ColdMs, double TransformRowsPerSec, double TransformBytesPerRow,
        double EngineUsPerRow, double EngineBytesPerRow, double ScoreDenseUs, double BareUs);

    private static void RunPredict(Options o)
    {
        Console.WriteLine();
        Console.WriteLine($"Prediction through a saved and loaded model (fresh MLContext): Transform over {o.TransformRows} rows, " +
                          $"PredictionEngine.Predict one row at a time ({o.PredictionEngineRows} rows per repeat, QuickStart ×5)");
        var rows = new List<PredictRow>();

        // (a) The QuickStart regression model.
        {
            var ml = new MLContext(seed: 0);
            IDataView train = ml.Data.LoadFromEnumerable(GenerateWindows(count: 2000, seed: 1));
            var model = QuickStartTrainer(ml, QuickStartEpochs, o.Threads).Fit(train);
            var inputs = GenerateWindows(count: o.TransformRows, seed: 2);
            rows.Add(Measure<Window, ScalarScore>("QuickStart LSTM H=32 T=24 F=1 (regression)", model, train.Schema, inputs,
                w => w.Past, o, o.PredictionEngineRows * 5));
        }

        // (b) Configuration 5's shape, regression and 3-class multiclass, trained one epoch on random data.
        const int T = 50, F = 32, H = 128;
        {
            var ml = new MLContext(seed: 0);
            var trainRows = RandomSequences(256, T, F, seed: 5);
            IDataView train = ml.Data.LoadFromEnumerable(trainRows);
            var model = ml.Regression.Trainers.Recurrent(new RecurrentRegressionTrainer.Options
            {
                CellType = RecurrentCellType.Lstm, FeaturesPerStep = F, HiddenSize = H, MaximumNumberOfEpochs = 1, NumberOfThreads = o.Threads,
            }).Fit(train);
            var inputs = RandomSequences(o.TransformRows, T, F, seed: 6);
            rows.Add(Measure<Sequence, ScalarScore>($"config 5 shape: LSTM H={H} T={T} F={F} (regression)", model, train.Schema, inputs,
                s => s.Features, o, o.PredictionEngineRows));

            IDataView keyed = ml.Transforms.Conversion.MapValueToKey("Label", nameof(Sequence.Class)).Fit(train).Transform(train);
            var multi = ml.MulticlassClassification.Trainers.Recurrent(new RecurrentMulticlassTrainer.Options
            {
                CellType = RecurrentCellType.Lstm, FeaturesPerStep = F, HiddenSize = H, MaximumNumberOfEpochs = 1, NumberOfThreads = o.Threads,
            }).Fit(keyed);
            rows.Add(Measure<Sequence, VectorScore>($"config 5 shape: LSTM H={H} T={T} F={F} (3-class multiclass)", multi, keyed.Schema, inputs,
                s => s.Features, o, o.PredictionEngineRows));
        }

        Console.WriteLine();
        Console.WriteLine("| model | zip KB | load + engine + 1st row ms | Transform rows/s | Transform B/row | PredictionEngine µs/row | PredictionEngine rows/s | PredictionEngine B/row | ScoreDense µs/seq | bare SequencePredictor µs/seq | serving overhead µs/row |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in rows)
        {
            Console.WriteLine($"| {r.Model} | {r.ZipBytes / 1024.0:F0} | {r.ColdMs:F0} | {r.TransformRowsPerSec:F0} | {r.TransformBytesPerRow:F0} | {r.EngineUsPerRow:F2} | {1e6 / r.EngineUsPerRow:F0} | " +
                              $"{r.EngineBytesPerRow:F0} | {r.ScoreDenseUs:F2} | {r.BareUs:F2} | {r.EngineUsPerRow - r.BareUs:F2} |");
        }

        Console.WriteLine();
        Console.WriteLine("  serving overhead = PredictionEngine µs/row − bare SequencePredictor µs/seq on the same decoded parameters");
        Console.WriteLine("  (ML.NET row plumbing + MapValue + CopyColumns + CustomMapping + row checks [+ ONNX shape adapter and MapValueToKey]).");
        Console.WriteLine("  Transform: ML.NET splits the cursor over the cores (consolidating cursor); B/row counts every thread.");
        Console.WriteLine("  PredictionEngine B/row: this thread only; Predict(input) allocates the output object.");
        Console.WriteLine("  Target for config 5's shape through PredictionEngine: ≤ 80 µs/row.");
    }

    private static PredictRow Measure<TIn, TOut>(string name, RecurrentPredictionTransformer trained, DataViewSchema schema,
        TIn[] inputs, Func<TIn, float[]> features, Options o, int engineRows)
        where TIn : class
        where TOut : class, new()
    {
        Console.Write($"  {name} ... ");
        var clock = Stopwatch.StartNew();

        // Save, then load in a fresh context.
        var stream = new MemoryStream();
        new MLContext(seed: 0).Model.Save(trained, schema, stream);
        long zipBytes = stream.Length;

        // Cold start: load, create a PredictionEngine and predict one row (this decodes the model payload).
        stream.Position = 0;
        long c0 = Stopwatch.GetTimestamp();
        var coldContext = new MLContext(seed: 2);
        ITransformer cold = coldContext.Model.Load(stream, out _);
        using (var coldEngine = coldContext.Model.CreatePredictionEngine<TIn, TOut>(cold, new PredictionEngineOptions { OwnsTransformer = false }))
            coldEngine.Predict(inputs[0]);
        double coldMs = Stopwatch.GetElapsedTime(c0).TotalMilliseconds;
        if (cold is IDisposable coldDisposable) coldDisposable.Dispose();

        stream.Position = 0;
        var ml = new MLContext(seed: 1);
        ITransformer loaded = ml.Model.Load(stream, out _);
        IDataView view = ml.Data.LoadFromEnumerable(inputs);

        // Transform: force the cursor through every row, reading Score.
        var scoreColumn = loaded.GetOutputSchema(view.Schema)["Score"];
        bool vector = scoreColumn.Type is VectorDataViewType;
        double checksum = 0;
        double TransformPass()
        {
            var scored = loaded.Transform(view);
            using var cursor = scored.GetRowCursor([scored.Schema["Score"]]);
            long n = 0;
            if (vector)
            {
                var getter = cursor.GetGetter<VBuffer<float>>(scored.Schema["Score"]);
                VBuffer<float> v = default;
                while (cursor.MoveNext())
                {
                    getter(ref v);
                    checksum += v.GetValues()[0];
                    n++;
                }
            }
            else
            {
                var getter = cursor.GetGetter<float>(scored.Schema["Score"]);
                float v = 0;
                while (cursor.MoveNext())
                {
                    getter(ref v);
                    checksum += v;
                    n++;
                }
            }

            if (n != inputs.Length) throw new InvalidOperationException($"The cursor gave {n} rows, expected {inputs.Length}.");
            return n;
        }

        TransformPass(); // warm-up
        var transformRate = new double[o.Repeats];
        var transformBytes = new double[o.Repeats];
        for (int r = 0; r < o.Repeats; r++)
        {
            BenchStats.FullCollect();
            long b0 = GC.GetTotalAllocatedBytes(precise: true);
            long t0 = Stopwatch.GetTimestamp();
            double n = TransformPass();
            transformRate[r] = n / Stopwatch.GetElapsedTime(t0).TotalSeconds;
            transformBytes[r] = (GC.GetTotalAllocatedBytes(precise: true) - b0) / n;
        }

        // PredictionEngine one row at a time (as an application calls it), the serving mapping's scoring call and the
        // engine's bare predictor on the same sequences; interleaved in blocks so that noise hits all three alike.
        using var engine = ml.Model.CreatePredictionEngine<TIn, TOut>(loaded, new PredictionEngineOptions { OwnsTransformer = false });
        // The very LoadedModel (and parameter array) the loaded chain scores with, so that the bare figures differ from
        // PredictionEngine's only by the serving work (parameter alignment alone moves the engine's time by ~10 %).
        var loadedModel = ChainModel(loaded, view) ?? throw new InvalidOperationException("The loaded model is not the expected serving chain.");
        var predictor = loadedModel.Predictor;
        var output = new float[loadedModel.OutputSize];
        var buffers = new VBuffer<float>[Math.Min(inputs.Length, engineRows)];
        for (int i = 0; i < buffers.Length; i++)
        {
            var x = features(inputs[i]);
            buffers[i] = new VBuffer<float>(x.Length, x);
        }

        for (int i = 0; i < Math.Min(200, buffers.Length); i++)
        {
            engine.Predict(inputs[i]);
            loadedModel.ScoreDense(buffers[i], output);
            predictor.Predict(buffers[i].GetValues(), output);
        }

        int blocks = Math.Max(5, 2 * o.Repeats + 1), perBlock = Math.Max(1, engineRows / blocks);
        var engineUs = new double[blocks];
        var engineBytes = new double[blocks];
        var scoreDenseUs = new double[blocks];
        var bareUs = new double[blocks];
        BenchStats.FullCollect();
        for (int r = 0; r < blocks; r++)
        {
            int first = r * perBlock;
            long b0 = GC.GetAllocatedBytesForCurrentThread();
            long t0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < perBlock; i++) engine.Predict(inputs[(first + i) % inputs.Length]);
            engineUs[r] = Stopwatch.GetElapsedTime(t0).TotalMicroseconds / perBlock;
            engineBytes[r] = (GC.GetAllocatedBytesForCurrentThread() - b0) / (double)perBlock;

            t0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < perBlock; i++) loadedModel.ScoreDense(buffers[(first + i) % buffers.Length], output);
            scoreDenseUs[r] = Stopwatch.GetElapsedTime(t0).TotalMicroseconds / perBlock;

            t0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < perBlock; i++) predictor.Predict(buffers[(first + i) % buffers.Length].GetValues(), output);
            bareUs[r] = Stopwatch.GetElapsedTime(t0).TotalMicroseconds / perBlock;
        }

        double scoreDense = BenchStats.Median(scoreDenseUs), bare = BenchStats.Median(bareUs);
        if (loaded is IDisposable d) d.Dispose();
        Console.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s (checksum {checksum:G4}; parameters at address % 64 = {AddressMod64(loadedModel.Model.Parameters)})");
        Console.WriteLine($"    blocks of {perBlock} rows, µs/row: PredictionEngine {Join(engineUs)}; bare {Join(bareUs)}");
        return new PredictRow(name, zipBytes, coldMs, BenchStats.Median(transformRate), BenchStats.Median(transformBytes), BenchStats.Median(engineUs), BenchStats.Median(engineBytes), scoreDense, bare);
    }

    /// <summary>
    /// Runs the first two steps of a loaded serving chain (model key → model text) on one row and returns the decoded
    /// model from the process-wide cache: the same instance the chain's forward mapping uses. Null if the chain differs.
    /// </summary>
    private static LoadedModel? ChainModel(ITransformer loaded, IDataView view)
    {
        IDataView v = view;
        foreach (var step in Flatten(loaded).Take(2)) v = step.Transform(v);
        if (v.Schema.GetColumnOrNull(ServingColumns.Model) is not DataViewSchema.Column column) return null;
        using var cursor = v.GetRowCursor([column]);
        if (!cursor.MoveNext()) return null;
        ReadOnlyMemory<char> text = default;
        cursor.GetGetter<ReadOnlyMemory<char>>(column)(ref text);
        return ModelCache.Get(text);
    }

    private static IEnumerable<ITransformer> Flatten(ITransformer transformer) =>
        transformer is IEnumerable<ITransformer> chain ? chain.SelectMany(Flatten) : [transformer];

    private static long AddressMod64(float[] array) =>
        (long)Unsafe.ByteOffset(ref Unsafe.NullRef<float>(), ref MemoryMarshal.GetArrayDataReference(array)) % 64;

    // ------------------------------------------------------------- Data ------------------------------------------------

    /// <summary>The QuickStart generator (samples/QuickStart/ForecastWithLstm.cs), unchanged.</summary>
    private static Window[] GenerateWindows(int count, int seed)
    {
        var random = new Random(seed);
        var windows = new Window[count];
        for (int i = 0; i < count; i++)
        {
            double frequency = 0.15 + 0.25 * random.NextDouble(), phase = 2 * Math.PI * random.NextDouble();
            double amplitude = 0.5 + random.NextDouble();
            float Value(int t) => (float)(amplitude * Math.Sin(frequency * t + phase) + 0.05 * (random.NextDouble() - 0.5));
            windows[i] = new Window { Past = Enumerable.Range(0, 24).Select(Value).ToArray(), Next = Value(24) };
        }

        return windows;
    }

    private static readonly string[] ClassNames = ["a", "b", "c"];

    private static Sequence[] RandomSequences(int count, int steps, int featuresPerStep, int seed)
    {
        var random = new Random(seed);
        var rows = new Sequence[count];
        for (int i = 0; i < count; i++)
        {
            var x = new float[steps * featuresPerStep];
            for (int j = 0; j < x.Length; j++) x[j] = (float)(2 * random.NextDouble() - 1);
            rows[i] = new Sequence { Features = x, Label = (float)random.NextDouble(), Class = ClassNames[random.Next(ClassNames.Length)] };
        }

        return rows;
    }

    private sealed class Window
    {
        [VectorType(24)]
        public float[] Past { get; set; } = [];

        public float Next { get; set; }
    }

    private sealed class Sequence
    {
        [VectorType(50 * 32)]
        public float[] Features { get; set; } = [];

        public float Label { get; set; }

        public string Class { get; set; } = "";
    }

    private sealed class ScalarScore
    {
        public float Score { get; set; }
    }

    private sealed class VectorScore
    {
        [VectorType(3)]
        public float[] Score { get; set; } = [];
    }

    // ------------------------------------------------------------ Helpers ----------------------------------------------

    private static string Join(IEnumerable<double> values) => string.Join(", ", values.Select(v => v.ToString("F1", CultureInfo.InvariantCulture)));
}
