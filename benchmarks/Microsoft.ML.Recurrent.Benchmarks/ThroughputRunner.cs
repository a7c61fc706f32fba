using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Text.Json;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Kernels;
using Microsoft.ML.Recurrent.Engine.Optimizers;

namespace Microsoft.ML.Recurrent.Benchmarks;

/// <summary>
/// Training and inference throughput of the engine on five fixed configurations, beside libtorch's figures: by
/// default those the issue quotes (another machine, 2 threads); with --libtorch-json those measured on this machine by
/// benchmarks/LibTorchBaseline (benchmarks/compare-libtorch.sh alternates the two and takes medians).
/// <para>
/// A training step is what a training loop does per mini-batch, with nothing else: zero the gradients,
/// forward (training = true), MSE loss on a one-output linear head over the last hidden state, backward,
/// Adam step (no clipping, as the libtorch loop had none). Inference is one forward pass (training = false)
/// on the same batch, parameters frozen as in the product's predictors. Data are random normal values with a fixed seed; every sequence of a batch has the
/// same length. Each figure is the median of several repeats, each repeat timing enough iterations to
/// last ≥ --min-time seconds after a warm-up.
/// </para>
/// <para>
/// FLOPs count only the cell matrix products: a forward pass is 2·G·H·(I_l + H)·T per sequence per layer and
/// direction (G = 4 LSTM, 3 GRU, 1 RNN; I_l = H·dirs after the first layer); a training step counts 3× that.
/// Fractions of peak divide by the highest of the FMA-peak probes taken at the start and after each configuration
/// (a probe can only read low when other work shares the cores); --peak fixes it instead.
/// </para>
/// <para>
/// Batch-1 rows also report their roofline floor (<see cref="LatencyFloor"/>): the cache read bandwidth is measured
/// in the same run for a buffer of exactly the recurrent weights' bytes on the threads the batch-1 loop uses, and
/// floor = T × bytes(W_hh) ÷ that bandwidth + input-projection flops ÷ the measured peak. The target is latency ≤ 1.3×
/// floor.
/// </para>
/// <para>
/// ONNX Runtime is the second inference peer (<see cref="OrtPeer"/>, skipped with --no-ort): the same network, exported
/// with the product's ONNX export after the training steps, run by ORT with intra-op threads 1 and 2 on the same batch
/// (one Run per batch), with the same warm-up and median rules, each repeat of ORT's right after the same repeat of ours
/// (so both see the same background load); the largest difference between ORT's and our outputs is printed so the
/// comparison is known to be of the same computation. With ORT on, the peak working set includes ORT's sessions.
/// </para>
/// Usage: throughput [--json FILE] [--repeats N] [--configs 1,3] [--threads N] [--peak GFLOPS] [--min-time S] [--seed N] [--libtorch-json FILE] [--no-ort]
/// </summary>
internal static class ThroughputRunner
{
    private const int DefaultSeed = 20240611;
    private const float LearningRate = 1e-3f;

    private sealed record Config(
        int Id, CellKind Cell, int Batch, int Length, int Input, int Hidden, int Layers,
        double? TorchTraining, double? TorchInference, double? TorchLatencyUs, bool TorchMeasuredHere = false)
    {
        public NetworkSpec Spec => new(Cell, Input, Hidden, Layers, OutputSize: 1, Output: OutputMode.LastHidden);

        /// <summary>Forward FLOPs per sequence (cell matrix products only).</summary>
        public double ForwardFlopsPerSequence
        {
            get
            {
                var spec = Spec;
                double total = 0;
                for (int l = 0; l < spec.NumberOfLayers; l++)
                    total += 2.0 * spec.Gates * spec.HiddenSize * (spec.LayerInputSize(l) + spec.HiddenSize) * Length * spec.Directions;
                return total;
            }
        }
    }

    private static readonly Config[] AllConfigs =
    [
        new(1, CellKind.Lstm, 64, 50, 32, 128, 1, 4757, 21277, null),
        new(2, CellKind.Gru, 64, 50, 32, 128, 1, 3542, 12100, null),
        new(3, CellKind.Lstm, 32, 200, 8, 64, 1, 2658, 13111, null),
        new(4, CellKind.Lstm, 128, 30, 64, 256, 2, 1119, 4220, null),
        new(5, CellKind.Lstm, 1, 50, 32, 128, 1, null, null, 281),
    ];

    private sealed class Options
    {
        public string? JsonPath;
        public int Repeats = 5;
        public int[] Configs = [1, 2, 3, 4, 5];
        public int Threads = Environment.ProcessorCount;
        public double? Peak;
        public double MinSeconds = 0.3;
        public int Seed = DefaultSeed;
        public string? LibTorchJson;
        public bool Ort = true;
    }

    /// <summary>ORT's figures for one intra-op thread count.</summary>
    private sealed record OrtFigures(int IntraOpThreads, double Ms, double SeqPerSec, int Iterations, double MaxAbsDiff);

    private sealed class Result
    {
        public required Config Config;
        public int Threads;
        public double[] FirstStepsMs = [];
        public double TrainingStepMs;       // steady-state median per step
        public double TrainingSeqPerSec;
        public int TrainingIterations;      // per repeat
        public double InferenceMs;          // median per forward
        public double InferenceSeqPerSec;
        public int InferenceIterations;
        public double AllocBytesPerStepThread;
        public double AllocBytesPerStepProcess;
        public int Gen0Collections;
        public double AllocBytesPerForwardThread;
        public long PeakWorkingSet;
        public int BatchOneThreads;                 // batch-1 rows: threads the probe (and the engine's loop) use
        public double? CacheBandwidthGbs;           // batch-1 rows: read bandwidth over W_hh's bytes, hot in cache
        public LatencyFloor? Floor;                 // batch-1 rows
        public int LoopThreads;                     // batch-1 rows: threads the loop ran on after choosing (LastLoopParts)
        public double? ChosenBandwidthGbs;          // batch-1 rows: the same probe on LoopThreads threads, when fewer
        public LatencyFloor? ChosenFloor;           // batch-1 rows: the floor on LoopThreads threads, when fewer
        public double? ChosenPeakGflops;            // batch-1 rows: the FMA peak scaled to LoopThreads threads, when fewer
        public OrtFigures? Ort1, Ort2;              // null with --no-ort
        public double? RoundTripBeforeNs, RoundTripAfterNs; // PeakProbe.MeasureRoundTripNs around the configuration (null: one thread)
        public int SubnormalGradientsStep1, SubnormalGradientsSteady, SubnormalAdamStateSteady;
        public float LossStep1, LossSteady;
        public double TrainingGflops => Config.ForwardFlopsPerSequence * 3 * TrainingSeqPerSec / 1e9;
        public double InferenceGflops => Config.ForwardFlopsPerSequence * InferenceSeqPerSec / 1e9;
        public double? LatencyUs => Config.Batch == 1 ? InferenceMs * 1000 : null;
        public double? FloorUs => Floor?.FloorUs;
        public double? LatencyOverFloor => LatencyUs is double us && FloorUs is double f && f > 0 ? us / f : null;
        public double? OrtLatencyUs(OrtFigures? ort) => Config.Batch == 1 && ort is not null ? ort.Ms * 1000 : null;
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
            Console.Error.WriteLine($"throughput: {e.Message}");
            Console.Error.WriteLine(UsageText);
            return 2;
        }

        if (o is null) return 0; // --help
        var culture = CultureInfo.CurrentCulture;
        int threads = Gemm.DefaultThreads;
        try
        {
            CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
            Gemm.DefaultThreads = o.Threads;
            return Run(o);
        }
        finally
        {
            CultureInfo.CurrentCulture = culture;
            Gemm.DefaultThreads = threads;
        }
    }

    private static int Run(Options o)
    {
        // The FMA peak is probed at the start and again after each configuration, and the tables use the highest probe:
        // on a shared machine a probe can only read low (another tenant took a core for part of it), and one low probe
        // at the start once put every row of a run at 86–144 % of "peak".
        int probeThreads = Math.Min(o.Threads, Environment.ProcessorCount); // the threads every probe below runs on
        var probes = new List<double>();
        double ProbePeak()
        {
            double v = PeakProbe.MeasureGflops(probeThreads);
            probes.Add(v);
            return v;
        }

        double peak = o.Peak ?? ProbePeak();
        // One thread's peak beside it: two threads that reach little more than one do not have a core each.
        double? onePeak = o.Peak is null && probeThreads >= 2 ? PeakProbe.MeasureGflops(1) : null;
        // Where the threads' cores sit, before and after each configuration: the split loops hand data between them.
        double? RoundTrip() => probeThreads >= 2 ? PeakProbe.MeasureRoundTripNs() : null;
        var configs = AllConfigs;
        if (o.LibTorchJson is not null)
        {
            try
            {
                configs = WithMeasuredLibTorch(o.LibTorchJson);
            }
            catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException or InvalidDataException)
            {
                Console.Error.WriteLine($"throughput: cannot read --libtorch-json '{o.LibTorchJson}': {e.Message}");
                return 2;
            }
        }

        PrintHeader(o, peak);

        var results = new List<Result>();
        var total = Stopwatch.StartNew();
        foreach (int id in o.Configs)
        {
            var c = configs[id - 1];
            BenchStats.FullCollect(); // the previous configuration's buffers
            var clock = Stopwatch.StartNew();
            Console.Write($"config {c.Id}: {c.Cell} B={c.Batch} T={c.Length} I={c.Input} H={c.Hidden} L={c.Layers} ... ");
            double? before = RoundTrip();
            var r = Measure(c, o);
            r.RoundTripBeforeNs = before;
            r.RoundTripAfterNs = RoundTrip();
            results.Add(r);
            if (o.Peak is null) ProbePeak();
            string ort = r.Ort1 is null || r.Ort2 is null ? "" : $", ORT {r.Ort1.SeqPerSec:F0} / {r.Ort2.SeqPerSec:F0} seq/s (1 / 2 threads, max |ours − ORT| {Math.Max(r.Ort1.MaxAbsDiff, r.Ort2.MaxAbsDiff):G3})";
            string trip = r.RoundTripBeforeNs is double rb && r.RoundTripAfterNs is double ra ? $"; round trip {rb:F0} / {ra:F0} ns" : "";
            Console.WriteLine($"{r.TrainingSeqPerSec:F0} train seq/s, {r.InferenceSeqPerSec:F0} infer seq/s{ort} ({clock.Elapsed.TotalSeconds:F1} s{trip})");
        }

        if (o.Peak is null) peak = probes.Max();
        foreach (var r in results) ApplyPeak(r, peak); // the batch-1 floors, once the run's peak is known
        if (o.Peak is null)
        {
            Console.WriteLine();
            Console.WriteLine($"Peak = {peak:F1} GFLOP/s, the highest of {probes.Count} probes ({string.Join(", ", probes.Select(v => v.ToString("F1", CultureInfo.InvariantCulture)))}): " +
                "one at the start, one after each configuration." + (onePeak is double p1 ? $" One thread: {p1:F1} GFLOP/s." : ""));
        }

        var warnings = PeakWarnings(probes, onePeak, probeThreads);
        foreach (string w in warnings) Console.WriteLine($"WARNING: {w}");

        Console.WriteLine();
        PrintTables(results, peak);
        Console.WriteLine();
        Console.WriteLine($"Total time {total.Elapsed.TotalSeconds:F1} s.");
        if (o.JsonPath is not null)
        {
            WriteJson(o.JsonPath, results, peak, probes, onePeak, warnings);
            Console.WriteLine($"Wrote {o.JsonPath}.");
        }

        return 0;
    }

    /// <summary>
    /// What the run's peak probes say about the machine during the run: probes that differ by more than 1.5× (the
    /// machine changed under the run, and rows measured in the low state read low against the highest probe), and
    /// <paramref name="threads"/> threads that reach less than 1.3× one thread's peak (they do not have a core each:
    /// on a VM, two vCPUs can be hyperthreads of one core, and every fraction is then of what they share).
    /// </summary>
    internal static IReadOnlyList<string> PeakWarnings(IReadOnlyList<double> probes, double? onePeak, int threads)
    {
        var warnings = new List<string>();
        if (probes.Count >= 2 && probes.Min() > 0 && probes.Max() / probes.Min() > 1.5)
        {
            double lo = probes.Min(), hi = probes.Max();
            warnings.Add(FormattableString.Invariant($"the FMA peak probes range from {lo:F0} to {hi:F0} GFLOP/s ({hi / lo:F1}×): the machine changed during the run (on a VM the host may have moved the vCPUs); the fractions use the highest probe, so rows measured in the low state read low."));
        }

        if (onePeak is double p1 && p1 > 0 && threads >= 2 && probes.Count > 0 && probes.Max() < 1.3 * p1)
        {
            double ratio = probes.Max() / p1;
            warnings.Add(FormattableString.Invariant($"{threads} threads reached only {ratio:F2}× one thread's FMA peak ({p1:F0} GFLOP/s): the threads do not have a core each (on a VM the vCPUs may be hyperthreads of one core), so every fraction is of the cores they share."));
        }

        return warnings;
    }

    private const string UsageText =
        "usage: throughput [--json FILE] [--repeats N] [--configs 1,3] [--threads N] [--peak GFLOPS] [--min-time SECONDS] [--seed N] [--libtorch-json FILE] [--no-ort]";

    /// <summary>
    /// The configurations with libtorch's figures replaced by those measured on this machine by
    /// benchmarks/LibTorchBaseline (its --json output); configurations it did not measure keep no libtorch figure.
    /// </summary>
    private static Config[] WithMeasuredLibTorch(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        if (doc.RootElement.ValueKind != JsonValueKind.Array) throw new InvalidDataException("expected a JSON array of configurations.");
        var measured = new Dictionary<int, JsonElement>();
        foreach (var e in doc.RootElement.EnumerateArray())
            if (e.TryGetProperty("config", out var id) && id.TryGetInt32(out int n)) measured[n] = e.Clone();
        static double? Get(JsonElement e, string name) =>
            e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;
        return AllConfigs.Select(c => measured.TryGetValue(c.Id, out var e)
            ? c with
            {
                TorchTraining = c.Batch == 1 ? null : Get(e, "training_seq_per_s"),
                TorchInference = c.Batch == 1 ? null : Get(e, "inference_seq_per_s"),
                TorchLatencyUs = Get(e, "latency_us"),
                TorchMeasuredHere = true,
            }
            : c with { TorchTraining = null, TorchInference = null, TorchLatencyUs = null, TorchMeasuredHere = true }).ToArray();
    }

    /// <summary>The options, or null after printing the usage for --help.</summary>
    private static Options? Parse(string[] args)
    {
        var o = new Options();
        int i = 0;
        if (args.Length > 0 && args[0] == "throughput") i = 1; // tolerate the verb being passed along
        string Value(string name)
        {
            if (i + 1 >= args.Length) throw new ArgumentException($"{name} needs a value.");
            return args[++i];
        }

        int Int(string name, int min)
        {
            string v = Value(name);
            if (!int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) || n < min)
                throw new ArgumentException($"{name} must be an integer ≥ {min}, was '{v}'.");
            return n;
        }

        double Positive(string name)
        {
            string v = Value(name);
            if (!double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) || !(d > 0) || !double.IsFinite(d))
                throw new ArgumentException($"{name} must be a positive number, was '{v}'.");
            return d;
        }

        for (; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--json": o.JsonPath = Value("--json"); break;
                case "--repeats": o.Repeats = Int("--repeats", 1); break;
                case "--threads": o.Threads = Int("--threads", 1); break;
                case "--seed": o.Seed = Int("--seed", 0); break;
                case "--peak": o.Peak = Positive("--peak"); break;
                case "--min-time": o.MinSeconds = Positive("--min-time"); break;
                case "--libtorch-json": o.LibTorchJson = Value("--libtorch-json"); break;
                case "--no-ort": o.Ort = false; break;
                case "--configs":
                {
                    string v = Value("--configs");
                    var ids = new List<int>();
                    foreach (string part in v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                    {
                        if (!int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out int id) || id < 1 || id > AllConfigs.Length)
                            throw new ArgumentException($"--configs takes numbers 1..{AllConfigs.Length} separated by commas, was '{v}'.");
                        if (!ids.Contains(id)) ids.Add(id);
                    }

                    if (ids.Count == 0) throw new ArgumentException("--configs names no configuration.");
                    o.Configs = [.. ids];
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

    /// <summary>One configuration's network, batch, optimizer and loss buffer, built from a seed.</summary>
    private sealed class Workload
    {
        private readonly float[] _dOut;
        private readonly Optimizer _optimizer;
        private readonly int _outputSize;

        public Workload(Config c, int seed)
        {
            var spec = c.Spec;
            var layout = new ParameterLayout(spec);
            Parameters = new float[layout.Count];
            Initializer.Initialize(layout, Parameters, seed);
            Network = new RecurrentNetwork(layout, Parameters, new float[layout.Count], c.Batch, c.Length);
            Batch = new SequenceBatch(c.Batch, c.Length, c.Input, targetWidth: spec.OutputSize);
            var random = new Random(seed);
            var sequences = new float[c.Batch][];
            var targets = new float[c.Batch][];
            for (int b = 0; b < c.Batch; b++)
            {
                sequences[b] = new float[c.Length * c.Input];
                for (int j = 0; j < sequences[b].Length; j++) sequences[b][j] = Normal(random);
                targets[b] = new float[spec.OutputSize];
                for (int j = 0; j < targets[b].Length; j++) targets[b][j] = Normal(random);
            }

            Batch.Fill(c.Batch, i => sequences[i], i => targets[i], perStepTargets: false);
            Features = sequences.SelectMany(x => x).ToArray(); // batch-first [B, T, F], as the ONNX export reads it
            _outputSize = spec.OutputSize;
            _dOut = new float[c.Batch * spec.OutputSize];
            _optimizer = Optimizer.Create(OptimizerKind.Adam, layout.Count, new OptimizerSettings());
        }

        public float[] Parameters { get; }
        public RecurrentNetwork Network { get; }
        public SequenceBatch Batch { get; }

        /// <summary>The batch's sequences, batch-first <c>[B, T, F]</c>.</summary>
        public float[] Features { get; }
        public float[] AdamState() => _optimizer.GetState();

        /// <summary>Zero gradients, forward, MSE, backward, Adam. Returns the loss.</summary>
        public float TrainStep()
        {
            Array.Clear(Network.Gradients);
            var y = Network.Forward(Batch, training: true);
            float loss = Loss.Compute(LossKind.MeanSquaredError, y, Batch, OutputMode.LastHidden, _outputSize, _dOut);
            Network.Backward(_dOut.AsSpan(0, y.Length));
            _optimizer.Step(Parameters, Network.Gradients, LearningRate);
            return loss;
        }

        public float Infer() => Network.Forward(Batch)[0];

        private static float Normal(Random random)
        {
            double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
            return (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
    }

    private static Result Measure(Config c, Options o)
    {
        var r = new Result { Config = c, Threads = Gemm.DefaultThreads };

        // JIT warm-up on a throw-away instance, so that the first steps timed below show the engine's
        // start-up behaviour (e.g. subnormal slow-down) rather than compilation. The instance is collected
        // before the measured one is built, so the peak working set counts one network at a time.
        WarmUp(c, o);
        BenchStats.FullCollect();

        var work = new Workload(c, o.Seed);

        // First steps of a fresh network, each timed alone.
        r.FirstStepsMs = new double[3];
        for (int s = 0; s < 3; s++)
        {
            long t0 = Stopwatch.GetTimestamp();
            float loss = work.TrainStep();
            r.FirstStepsMs[s] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            if (s == 0)
            {
                r.LossStep1 = loss;
                r.SubnormalGradientsStep1 = CountSubnormal(work.Network.Gradients);
            }
        }

        // Steady-state training (the first steps count as warm-up when they lasted long enough).
        double lastStep = r.FirstStepsMs[2] / 1e3;
        if (r.FirstStepsMs.Sum() / 1e3 < o.MinSeconds) lastStep = RunFor(() => work.TrainStep(), minIterations: 1, o.MinSeconds);
        r.TrainingIterations = IterationsFor(lastStep, o.MinSeconds);
        var perStep = new double[o.Repeats];
        long threadBytes0 = GC.GetAllocatedBytesForCurrentThread();
        long processBytes0 = GC.GetTotalAllocatedBytes(precise: true);
        int gen0 = GC.CollectionCount(0);
        float lastLoss = 0;
        for (int rep = 0; rep < o.Repeats; rep++)
        {
            long t0 = Stopwatch.GetTimestamp();
            for (int it = 0; it < r.TrainingIterations; it++) lastLoss = work.TrainStep();
            perStep[rep] = Stopwatch.GetElapsedTime(t0).TotalSeconds / r.TrainingIterations;
        }

        long steps = (long)o.Repeats * r.TrainingIterations;
        r.AllocBytesPerStepThread = (GC.GetAllocatedBytesForCurrentThread() - threadBytes0) / (double)steps;
        r.AllocBytesPerStepProcess = (GC.GetTotalAllocatedBytes(precise: true) - processBytes0) / (double)steps;
        r.Gen0Collections = GC.CollectionCount(0) - gen0;
        r.LossSteady = lastLoss;
        r.SubnormalGradientsSteady = CountSubnormal(work.Network.Gradients);
        r.SubnormalAdamStateSteady = CountSubnormal(work.AdamState());
        r.TrainingStepMs = BenchStats.Median(perStep) * 1e3;
        r.TrainingSeqPerSec = c.Batch / BenchStats.Median(perStep);

        // Inference on the same batch; one pass first repacks the weights the last Adam step changed.
        work.Infer();
        double lastForward = RunFor(() => work.Infer(), minIterations: 2, o.MinSeconds / 2);
        r.InferenceIterations = IterationsFor(lastForward, o.MinSeconds);

        // ORT on the same network (exported after the training steps) and batch, warmed up by the same rule; its
        // repeats alternate with ours below, so both see the same background load of a shared machine.
        OrtPeer[] peers = [];
        var ortIterations = new int[2];
        var ortDiff = new double[2];
        if (o.Ort)
        {
            float[] ours = work.Network.Forward(work.Batch).ToArray();
            byte[] model = OrtPeer.Export(c.Spec, work.Parameters);
            peers = [new OrtPeer(model, work.Features, c.Batch, c.Length, c.Input, c.Spec.OutputSize, intraOpThreads: 1),
                     new OrtPeer(model, work.Features, c.Batch, c.Length, c.Input, c.Spec.OutputSize, intraOpThreads: 2)];
            for (int k = 0; k < peers.Length; k++)
            {
                var peer = peers[k];
                float[] theirs = peer.Infer();
                for (int i = 0; i < ours.Length; i++) ortDiff[k] = Math.Max(ortDiff[k], Math.Abs(ours[i] - theirs[i]));
                ortIterations[k] = IterationsFor(RunFor(() => peer.Infer(), minIterations: 2, o.MinSeconds / 2), o.MinSeconds);
            }
        }

        try
        {
            var perForward = new double[o.Repeats];
            var perOrt = new double[peers.Length][];
            for (int k = 0; k < peers.Length; k++) perOrt[k] = new double[o.Repeats];
            long inferBytes = 0;
            float sink = 0;
            for (int rep = 0; rep < o.Repeats; rep++)
            {
                long bytes0 = GC.GetAllocatedBytesForCurrentThread();
                long t0 = Stopwatch.GetTimestamp();
                for (int it = 0; it < r.InferenceIterations; it++) sink += work.Infer();
                perForward[rep] = Stopwatch.GetElapsedTime(t0).TotalSeconds / r.InferenceIterations;
                inferBytes += GC.GetAllocatedBytesForCurrentThread() - bytes0;
                for (int k = 0; k < peers.Length; k++)
                {
                    t0 = Stopwatch.GetTimestamp();
                    for (int it = 0; it < ortIterations[k]; it++) peers[k].Infer();
                    perOrt[k][rep] = Stopwatch.GetElapsedTime(t0).TotalSeconds / ortIterations[k];
                }
            }

            r.AllocBytesPerForwardThread = inferBytes / ((double)o.Repeats * r.InferenceIterations);
            GC.KeepAlive(sink);
            r.InferenceMs = BenchStats.Median(perForward) * 1e3;
            r.InferenceSeqPerSec = c.Batch / BenchStats.Median(perForward);
            if (peers.Length == 2)
            {
                OrtFigures Figures(int k)
                {
                    double median = BenchStats.Median(perOrt[k]);
                    return new OrtFigures(k + 1, median * 1e3, c.Batch / median, ortIterations[k], ortDiff[k]);
                }

                r.Ort1 = Figures(0);
                r.Ort2 = Figures(1);
            }
        }
        finally
        {
            foreach (var peer in peers) peer.Dispose();
        }

        if (c.Batch == 1)
        {
            // The roof the batch-1 loop meets: stream W_hh (every layer and direction) from cache on its threads.
            r.BatchOneThreads = LatencyFloor.BatchOneThreads(c.Spec, Gemm.DefaultThreads, work.Network.UnitSplitMinWeights);
            r.CacheBandwidthGbs = PeakProbe.MeasureReadBandwidthGbs(LatencyFloor.RecurrentBytes(c.Spec), r.BatchOneThreads);
            // The loop times split and unsplit passes and keeps the faster (SplitChooser): when it chose fewer threads than
            // it could use (a hand-over between the cores costs more than it saves here), its floor on those threads too.
            // The floors themselves are computed once the run's peak is known (ApplyPeak).
            r.LoopThreads = work.Network.LastLoopParts;
            if (r.LoopThreads < r.BatchOneThreads)
                r.ChosenBandwidthGbs = PeakProbe.MeasureReadBandwidthGbs(LatencyFloor.RecurrentBytes(c.Spec), r.LoopThreads);
        }

        r.PeakWorkingSet = Process.GetCurrentProcess().PeakWorkingSet64;
        return r;
    }

    /// <summary>A batch-1 row's floors from its measured bandwidths and the run's peak (their input-projection term divides by it).</summary>
    private static void ApplyPeak(Result r, double peak)
    {
        var c = r.Config;
        if (r.CacheBandwidthGbs is double bw) r.Floor = LatencyFloor.Compute(c.Spec, c.Length, bw, peak);
        if (r.ChosenBandwidthGbs is double cbw)
        {
            // The input projection on the chosen threads too: the peak probe ran on all of them.
            r.ChosenPeakGflops = peak * r.LoopThreads / Math.Max(1, Gemm.DefaultThreads);
            r.ChosenFloor = LatencyFloor.Compute(c.Spec, c.Length, cbw, r.ChosenPeakGflops.Value);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void WarmUp(Config c, Options o)
    {
        var w = new Workload(c, o.Seed);
        RunFor(() => w.TrainStep(), minIterations: 3, o.MinSeconds);
        RunFor(() => w.Infer(), minIterations: 3, o.MinSeconds / 2);
    }

    /// <summary>
    /// Runs <paramref name="action"/> for at least <paramref name="seconds"/>, and at least
    /// <paramref name="minIterations"/> times unless that would take over <see cref="WarmupCapSeconds"/>
    /// (slow configurations warm up in one call). Always runs once. Returns the duration of the last call in seconds.
    /// </summary>
    private static double RunFor(Action action, int minIterations, double seconds)
    {
        long start = Stopwatch.GetTimestamp();
        double last;
        int i = 0;
        do
        {
            long t0 = Stopwatch.GetTimestamp();
            action();
            last = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            i++;
        }
        while (Stopwatch.GetElapsedTime(start).TotalSeconds is var elapsed
            && (elapsed < seconds || (i < minIterations && elapsed < WarmupCapSeconds)));
        return last;
    }

    private const double WarmupCapSeconds = 3.0;

    /// <summary>Iterations per repeat so that a repeat lasts ≥ <paramref name="seconds"/>, given one call's duration.</summary>
    private static int IterationsFor(double oneCallSeconds, double seconds) =>
        (int)Math.Clamp(Math.Ceiling(seconds / Math.Max(oneCallSeconds, 1e-7)), 1, 10_000_000);

    private static int CountSubnormal(ReadOnlySpan<float> values)
    {
        int n = 0;
        foreach (float v in values) if (float.IsSubnormal(v)) n++;
        return n;
    }

    private static void PrintHeader(Options o, double peak)
    {
        bool optimized = typeof(RecurrentNetwork).Assembly.GetCustomAttribute<DebuggableAttribute>()?.IsJITOptimizerDisabled != true
            && typeof(ThroughputRunner).Assembly.GetCustomAttribute<DebuggableAttribute>()?.IsJITOptimizerDisabled != true;
        Console.WriteLine("Microsoft.ML.Recurrent throughput");
        Console.WriteLine($"  {RuntimeInformation.FrameworkDescription}, {RuntimeInformation.OSDescription}, {Environment.ProcessorCount} logical cores, " +
            $"Vector512 {(Vector512.IsHardwareAccelerated ? "accelerated" : "not accelerated")}, {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")} GC");
        if (!optimized) Console.WriteLine("  WARNING: JIT optimisation is disabled (Debug build?); run with -c Release.");
        Console.WriteLine($"  Gemm.DefaultThreads = {o.Threads}; median of {o.Repeats} repeat(s), each ≥ {o.MinSeconds:0.###} s; seed {o.Seed}");
        Console.WriteLine(o.Peak is null
            ? $"  Peak: FMA throughput on {Math.Min(o.Threads, Environment.ProcessorCount)} thread(s), {peak:F1} GFLOP/s just now; probed again after each configuration, the tables use the highest probe (--peak to override)"
            : $"  Peak = {peak:F1} GFLOP/s (--peak)");
        Console.WriteLine(o.LibTorchJson is null
            ? "  libtorch = the issue's figures (2 threads, another machine); --libtorch-json FILE uses figures measured here by benchmarks/LibTorchBaseline"
            : $"  libtorch = measured on this machine by benchmarks/LibTorchBaseline ({o.LibTorchJson})");
        Console.WriteLine("  Training step = zero grads + forward + MSE on a 1-output head over the last hidden state + backward + Adam (no clipping).");
        Console.WriteLine("  FLOPs: forward 2·G·H·(I+H)·T per sequence per layer; training 3× forward. ratio = ours / libtorch (> 1 is faster).");
        Console.WriteLine(o.Ort
            ? "  ORT = ONNX Runtime on the product's ONNX export of the same network, intra-op threads 1 (ORT1) and 2 (ORT2), one Run per batch; ratio = ours / ORT seq/s (> 1 is faster)."
            : "  ORT peer skipped (--no-ort).");
        Console.WriteLine(o.Threads >= 2
            ? "  Round trip = a cache line from one thread to another and back (median of 5 × 20,000), before / after each configuration: the split loops' hand-over cost, set by where the cores sit (docs/performance.md)."
            : "  Round trip not measured (one thread).");
        Console.WriteLine("  Batch-1 floor = T × bytes(W_hh, every layer/direction) ÷ cache read bandwidth (measured now, same bytes, batch-1 threads) + input-projection flops ÷ peak; target latency ≤ 1.3× floor.");
        Console.WriteLine();
    }

    private static void PrintTables(List<Result> results, double peak)
    {
        static string Opt(double? v, string format) => v is null ? "—" : v.Value.ToString(format, CultureInfo.InvariantCulture);
        static string Ratio(double ours, double? torch) => torch is null ? "—" : (ours / torch.Value).ToString("0.00", CultureInfo.InvariantCulture) + "×";

        Console.WriteLine("Training (steady state)");
        Console.WriteLine("  # | cell | batch |  len |  in |  hid | L | ms/step | seq/s    | libtorch | ratio  | GFLOP/s | % peak");
        foreach (var r in results)
        {
            var c = r.Config;
            Console.WriteLine($"  {c.Id} | {c.Cell,-4} | {c.Batch,5} | {c.Length,4} | {c.Input,3} | {c.Hidden,4} | {c.Layers} | {r.TrainingStepMs,7:F2} | {r.TrainingSeqPerSec,8:F0} | {Opt(c.TorchTraining, "F0"),8} | {Ratio(r.TrainingSeqPerSec, c.TorchTraining),6} | {r.TrainingGflops,7:F2} | {100 * r.TrainingGflops / peak,5:F1}%");
        }

        Console.WriteLine();
        Console.WriteLine("Inference (forward, training = false, same batch)");
        Console.WriteLine("  # | cell | batch | ms/batch | seq/s    | libtorch | ratio  | µs/seq  | libtorch µs | GFLOP/s | % peak | ORT1 seq/s | µs/seq  | ratio  | ORT2 seq/s | µs/seq  | ratio");
        foreach (var r in results)
        {
            var c = r.Config;
            double usPerSeq = 1e6 / r.InferenceSeqPerSec;
            Console.WriteLine($"  {c.Id} | {c.Cell,-4} | {c.Batch,5} | {r.InferenceMs,8:F3} | {r.InferenceSeqPerSec,8:F0} | {Opt(c.TorchInference, "F0"),8} | {Ratio(r.InferenceSeqPerSec, c.TorchInference),6} | {usPerSeq,7:F1} | {Opt(c.TorchLatencyUs, "F0"),11} | {r.InferenceGflops,7:F2} | {100 * r.InferenceGflops / peak,5:F1}% | {Opt(r.Ort1?.SeqPerSec, "F0"),10} | {Opt(1e6 / r.Ort1?.SeqPerSec, "F1"),7} | {Ratio(r.InferenceSeqPerSec, r.Ort1?.SeqPerSec),6} | {Opt(r.Ort2?.SeqPerSec, "F0"),10} | {Opt(1e6 / r.Ort2?.SeqPerSec, "F1"),7} | {Ratio(r.InferenceSeqPerSec, r.Ort2?.SeqPerSec),6}");
        }

        foreach (var r in results)
        {
            if (r.Ort1 is not null && r.Ort2 is not null)
                Console.WriteLine($"  Config {r.Config.Id}: max |ours − ORT| over the batch's outputs = {r.Ort1.MaxAbsDiff:G3} (1 thread), {r.Ort2.MaxAbsDiff:G3} (2 threads).");
        }

        foreach (var r in results)
        {
            if (r.LatencyUs is double us && r.Config.TorchLatencyUs is double torchUs)
                Console.WriteLine($"  Config {r.Config.Id} latency: {us:F1} µs/seq (libtorch {torchUs:F0} µs/seq; speed ratio {torchUs / us:0.00}×).");
        }

        if (results.Any(r => r.Floor is not null))
        {
            Console.WriteLine();
            Console.WriteLine("Batch-1 latency against its roofline (target latency / floor ≤ 1.30); a second line per row when the loop chose fewer threads");
            Console.WriteLine("than it could use (the floor on the threads it ran on); the first line's floor, on every thread the loop may use, is the stricter");
            Console.WriteLine("  # | threads | W_hh KiB | cache GB/s | weights µs | input µs | floor µs | latency / floor µs  | ratio | ORT1 µs | ORT2 µs");
            foreach (var r in results)
            {
                if (r.Floor is not LatencyFloor f || r.CacheBandwidthGbs is not double bw || r.LatencyUs is not double us) continue;
                double weightsUs = f.WeightsStreamedBytes / (bw * 1e9) * 1e6, inputUs = f.InputProjectionFlops / (peak * 1e9) * 1e6;
                Console.WriteLine($"  {r.Config.Id} | {r.BatchOneThreads,7} | {f.RecurrentWeightBytes / 1024.0,8:F0} | {bw,10:F1} | {weightsUs,10:F1} | {inputUs,8:F2} | {f.FloorUs,8:F1} | {$"{us:F1} / {f.FloorUs:F1}",-19} | {us / f.FloorUs,4:F2}× | {Opt(r.OrtLatencyUs(r.Ort1), "F1"),7} | {Opt(r.OrtLatencyUs(r.Ort2), "F1"),7}");
                if (r.ChosenFloor is LatencyFloor cf && r.ChosenBandwidthGbs is double cbw && r.ChosenPeakGflops is double cpeak)
                {
                    double cw = cf.WeightsStreamedBytes / (cbw * 1e9) * 1e6, ci = cf.InputProjectionFlops / (cpeak * 1e9) * 1e6;
                    Console.WriteLine($"  {r.Config.Id} | {r.LoopThreads,4} ch | {cf.RecurrentWeightBytes / 1024.0,8:F0} | {cbw,10:F1} | {cw,10:F1} | {ci,8:F2} | {cf.FloorUs,8:F1} | {$"{us:F1} / {cf.FloorUs:F1}",-19} | {us / cf.FloorUs,4:F2}× |         |");
                }
            }
        }

        Console.WriteLine();
        Console.WriteLine("First training steps of a fresh network (after JIT warm-up on another instance) vs steady state");
        Console.WriteLine("  # | step 1 ms | step 2 ms | step 3 ms | steady ms | step1/steady | subnormal grads step 1 / steady | subnormal Adam state | loss step 1 → last");
        foreach (var r in results)
        {
            var c = r.Config;
            Console.WriteLine($"  {c.Id} | {r.FirstStepsMs[0],9:F2} | {r.FirstStepsMs[1],9:F2} | {r.FirstStepsMs[2],9:F2} | {r.TrainingStepMs,9:F2} | {r.FirstStepsMs[0] / r.TrainingStepMs,11:F2}× | {r.SubnormalGradientsStep1,14} / {r.SubnormalGradientsSteady,-14} | {r.SubnormalAdamStateSteady,20} | {r.LossStep1:G4} → {r.LossSteady:G4}");
        }

        Console.WriteLine();
        Console.WriteLine("Memory (allocation during the timed loops; peak working set of the process after each configuration)");
        Console.WriteLine("  # | iters/repeat train, infer | bytes/step (this thread) | bytes/step (process) | gen0 GCs | bytes/forward (this thread) | peak working set");
        foreach (var r in results)
        {
            Console.WriteLine($"  {r.Config.Id} | {r.TrainingIterations,11}, {r.InferenceIterations,-11} | {r.AllocBytesPerStepThread,24:F1} | {r.AllocBytesPerStepProcess,20:F1} | {r.Gen0Collections,8} | {r.AllocBytesPerForwardThread,27:F1} | {r.PeakWorkingSet / (1024.0 * 1024.0),10:F1} MiB");
        }

        var c4 = results.FirstOrDefault(r => r.Config.Id == 4);
        if (c4 is not null) Console.WriteLine($"  Peak working set after config 4: {c4.PeakWorkingSet / (1024.0 * 1024.0):F1} MiB.");
    }

    private static void WriteJson(string path, List<Result> results, double peak, List<double> probes, double? onePeak, IReadOnlyList<string> warnings)
    {
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        using var stream = File.Create(path);
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        static void Number(Utf8JsonWriter w, string name, double? v, int digits = 3)
        {
            if (v is double d && double.IsFinite(d)) w.WriteNumber(name, Math.Round(d, digits));
            else w.WriteNull(name);
        }

        json.WriteStartArray();
        foreach (var r in results)
        {
            var c = r.Config;
            json.WriteStartObject();
            json.WriteNumber("config", c.Id);
            json.WriteString("cell", c.Cell.ToString());
            json.WriteNumber("batch", c.Batch);
            json.WriteNumber("length", c.Length);
            json.WriteNumber("input", c.Input);
            json.WriteNumber("hidden", c.Hidden);
            json.WriteNumber("layers", c.Layers);
            Number(json, "training_seq_per_s", r.TrainingSeqPerSec, 1);
            Number(json, "inference_seq_per_s", r.InferenceSeqPerSec, 1);
            Number(json, "latency_us", r.LatencyUs, 2);
            Number(json, "gflops", r.TrainingGflops);
            Number(json, "inference_gflops", r.InferenceGflops);
            json.WriteNumber("threads", r.Threads);
            Number(json, "libtorch_training_seq_per_s", c.TorchTraining);
            Number(json, "libtorch_inference_seq_per_s", c.TorchInference);
            // Extras beyond the required fields.
            Number(json, "libtorch_latency_us", c.TorchLatencyUs);
            json.WriteString("libtorch_source", c.TorchMeasuredHere ? "measured on this machine" : "issue figures (another machine)");
            Number(json, "peak_gflops", peak, 1);
            json.WriteStartArray("peak_probes_gflops"); // empty with --peak
            foreach (double v in probes) json.WriteNumberValue(Math.Round(v, 1));
            json.WriteEndArray();
            Number(json, "peak_one_thread_gflops", onePeak, 1); // null with --peak or on one thread
            json.WriteStartArray("peak_warnings"); // see PeakWarnings
            foreach (string w in warnings) json.WriteStringValue(w);
            json.WriteEndArray();
            json.WriteStartArray("core_round_trip_ns"); // before and after the configuration; empty on one thread
            if (r.RoundTripBeforeNs is double before && r.RoundTripAfterNs is double after)
            {
                json.WriteNumberValue(Math.Round(before, 1));
                json.WriteNumberValue(Math.Round(after, 1));
            }

            json.WriteEndArray();
            Number(json, "cache_bandwidth_gbs", r.CacheBandwidthGbs, 1);
            Number(json, "latency_floor_us", r.FloorUs, 2);
            Number(json, "latency_over_floor", r.LatencyOverFloor, 3);
            Number(json, "ort1_inference_seq_per_s", r.Ort1?.SeqPerSec, 1);
            Number(json, "ort2_inference_seq_per_s", r.Ort2?.SeqPerSec, 1);
            Number(json, "ort1_latency_us", r.OrtLatencyUs(r.Ort1), 2);
            Number(json, "ort2_latency_us", r.OrtLatencyUs(r.Ort2), 2);
            Number(json, "ort_max_abs_diff", r.Ort1 is null || r.Ort2 is null ? null : Math.Max(r.Ort1.MaxAbsDiff, r.Ort2.MaxAbsDiff), 9);
            if (r.Floor is LatencyFloor floor)
            {
                json.WriteNumber("batch1_threads", r.BatchOneThreads);
                json.WriteNumber("batch1_loop_threads", r.LoopThreads);
                Number(json, "chosen_cache_bandwidth_gbs", r.ChosenBandwidthGbs, 1);
                Number(json, "chosen_latency_floor_us", r.ChosenFloor?.FloorUs, 2);
                Number(json, "latency_over_chosen_floor", r.ChosenFloor is LatencyFloor chosen && r.LatencyUs is double lat ? lat / chosen.FloorUs : null, 3);
                json.WriteNumber("recurrent_weight_bytes", floor.RecurrentWeightBytes);
                Number(json, "input_projection_flops", floor.InputProjectionFlops, 0);
            }
            Number(json, "training_step_ms", r.TrainingStepMs, 4);
            json.WriteStartArray("first_steps_ms");
            foreach (double ms in r.FirstStepsMs) json.WriteNumberValue(Math.Round(ms, 4));
            json.WriteEndArray();
            Number(json, "inference_ms", r.InferenceMs, 4);
            Number(json, "alloc_bytes_per_step_thread", r.AllocBytesPerStepThread, 1);
            Number(json, "alloc_bytes_per_step_process", r.AllocBytesPerStepProcess, 1);
            json.WriteNumber("gen0_collections", r.Gen0Collections);
            json.WriteNumber("peak_working_set_bytes", r.PeakWorkingSet);
            json.WriteEndObject();
        }

        json.WriteEndArray();
    }
}
