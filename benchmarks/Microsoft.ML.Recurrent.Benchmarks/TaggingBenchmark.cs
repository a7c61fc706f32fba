using System.Diagnostics;
using System.Globalization;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Heads;
using Microsoft.ML.Recurrent.Engine.Optimizers;

namespace Microsoft.ML.Recurrent.Benchmarks;

/// <summary>
/// <c>tagging</c> verb: training and inference throughput (tokens/s) of per-step outputs against the many-to-one network
/// on the same shape (LSTM, H = 128, B = 64, T = 50, F = 32, K = 9 classes by default), uni- and bidirectional, with a
/// softmax head on every step and with a CRF on top. A training step = zero grads + forward + loss + backward + Adam, as
/// the throughput runner times it; inference = one forward pass of the batch (plus Viterbi for the CRF). The variants are
/// measured interleaved (round-robin, each for --min-time seconds per round) and the medians of the rounds reported, so
/// background load hits them alike.
/// </summary>
internal static class TaggingBenchmark
{
    private sealed record Variant(string Name, bool Bidirectional, string Head);

    public static int Run(string[] args)
    {
        int hidden = Arg(args, "--hidden", 128), batch = Arg(args, "--batch", 64), length = Arg(args, "--length", 50);
        int input = Arg(args, "--input", 32), classes = Arg(args, "--classes", 9), rounds = Arg(args, "--repeats", 5);
        double minTime = ArgD(args, "--min-time", 1.0);
        Variant[] variants =
        [
            new("many-to-one", false, "last"), new("tagging softmax", false, "step"), new("tagging CRF", false, "crf"),
            new("many-to-one bidi", true, "last"), new("tagging softmax bidi", true, "step"), new("tagging CRF bidi", true, "crf"),
        ];
        var work = variants.Select(v => new Work(v, hidden, batch, length, input, classes)).ToArray();
        foreach (var w in work) { w.Train(); w.Train(); w.Infer(); } // JIT and buffers
        var train = work.Select(_ => new List<double>()).ToArray();
        var trainCpu = work.Select(_ => new List<double>()).ToArray();
        var infer = work.Select(_ => new List<double>()).ToArray();
        for (int r = 0; r < rounds; r++)
        {
            for (int i = 0; i < work.Length; i++)
            {
                var (wall, cpu) = TimePerCall(work[i].Train, minTime);
                train[i].Add(wall);
                trainCpu[i].Add(cpu);
                infer[i].Add(TimePerCall(work[i].Infer, minTime).Wall);
            }
        }

        double tokens = (double)batch * length;
        var c = CultureInfo.InvariantCulture;
        if (Array.IndexOf(args, "--breakdown") >= 0)
        {
            Console.WriteLine("  breakdown (median ms): forward | loss | backward | optimizer");
            for (int i = 0; i < work.Length; i++)
            {
                var parts = work[i].Breakdown(15);
                Console.WriteLine(string.Format(c, "  {0,-20} | {1,7:F2} | {2,7:F2} | {3,7:F2} | {4,7:F2}", variants[i].Name, parts[0], parts[1], parts[2], parts[3]));
            }
        }

        Console.WriteLine(string.Format(c, "Tagging throughput: LSTM H={0}, B={1}, T={2}, F={3}, K={4}; {5} rounds × {6}s per variant, medians; threads {7}.",
            hidden, batch, length, input, classes, rounds, minTime, Engine.Kernels.Gemm.DefaultThreads));
        Console.WriteLine("  (cpu = process CPU time per step, all threads: less sensitive than wall time to other processes on a shared machine)");
        Console.WriteLine("  variant              | train ms/step | train tokens/s | vs many-to-one | cpu ms/step | cpu vs many-to-one | infer ms/batch | infer tokens/s");
        for (int i = 0; i < work.Length; i++)
        {
            double t = BenchStats.Median(train[i]) * 1e3, f = BenchStats.Median(infer[i]) * 1e3, cpu = BenchStats.Median(trainCpu[i]) * 1e3;
            int b = variants[i].Bidirectional ? 3 : 0;
            double baseline = BenchStats.Median(train[b]) * 1e3, baselineCpu = BenchStats.Median(trainCpu[b]) * 1e3;
            Console.WriteLine(string.Format(c, "  {0,-20} | {1,13:F2} | {2,14:F0} | {3,13:F3}× | {4,11:F2} | {5,17:F3}× | {6,14:F2} | {7,14:F0}",
                variants[i].Name, t, tokens / (t / 1e3), t / baseline, cpu, cpu / baselineCpu, f, tokens / (f / 1e3)));
        }

        return 0;
    }

    /// <summary>Wall-clock and process CPU seconds per call.</summary>
    private static (double Wall, double Cpu) TimePerCall(Action action, double seconds)
    {
        var process = Process.GetCurrentProcess();
        process.Refresh();
        var cpu0 = process.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        int n = 0;
        do { action(); n++; } while (clock.Elapsed.TotalSeconds < seconds || n < 3);
        double wall = clock.Elapsed.TotalSeconds / n;
        process.Refresh();
        return (wall, (process.TotalProcessorTime - cpu0).TotalSeconds / n);
    }

    private sealed class Work
    {
        private readonly RecurrentNetwork _network;
        private readonly SequenceBatch _batch;
        private readonly ISequenceObjective _objective;
        private readonly float[] _parameters, _extra, _dExtra, _dOut;
        private readonly Optimizer _optimizer;
        private readonly Optimizer? _extraOptimizer;
        private readonly LinearChainCrf? _crf;
        private readonly int[] _tags;

        public Work(Variant v, int hidden, int batch, int length, int input, int classes)
        {
            bool perStep = v.Head != "last";
            var spec = new NetworkSpec(CellKind.Lstm, input, hidden, 1, v.Bidirectional, OutputSize: classes,
                Output: perStep ? OutputMode.EveryStep : OutputMode.LastHidden);
            var layout = new ParameterLayout(spec);
            _parameters = new float[layout.Count];
            Initializer.Initialize(layout, _parameters, 1);
            _network = new RecurrentNetwork(layout, _parameters, new float[layout.Count], batch, length);
            _batch = new SequenceBatch(batch, length, input, 1);
            var random = new Random(2);
            var x = Enumerable.Range(0, batch).Select(_ => Enumerable.Range(0, length * input).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray()).ToArray();
            var y = Enumerable.Range(0, batch).Select(_ => Enumerable.Range(0, perStep ? length : 1).Select(_ => (float)random.Next(classes)).ToArray()).ToArray();
            _batch.Fill(batch, i => x[i], i => y[i], perStep);
            _objective = v.Head switch
            {
                "crf" => new CrfObjective(classes),
                "step" => new StepLossObjective(LossKind.SoftmaxCrossEntropy, classes),
                _ => new LastLoss(classes),
            };
            _extra = new float[_objective.ParameterCount];
            _dExtra = new float[_extra.Length];
            _dOut = new float[length * batch * classes];
            _optimizer = Optimizer.Create(OptimizerKind.Adam, layout.Count, new OptimizerSettings());
            _extraOptimizer = _extra.Length > 0 ? Optimizer.Create(OptimizerKind.Adam, _extra.Length, new OptimizerSettings()) : null;
            _crf = v.Head == "crf" ? new LinearChainCrf(classes) : null;
            _tags = new int[length];
        }

        public void Train()
        {
            Array.Clear(_network.Gradients);
            Array.Clear(_dExtra);
            var y = _network.Forward(_batch, training: true);
            _objective.Compute(y, _batch, _extra, _dExtra, _dOut);
            _network.Backward(_dOut.AsSpan(0, y.Length));
            _optimizer.Step(_parameters, _network.Gradients, 1e-4f);
            _extraOptimizer?.Step(_extra, _dExtra, 1e-4f);
        }

        /// <summary>Median ms of the four parts of a training step over <paramref name="steps"/> steps.</summary>
        public double[] Breakdown(int steps)
        {
            var times = new List<double>[4];
            for (int k = 0; k < 4; k++) times[k] = [];
            var clock = new Stopwatch();
            for (int s = 0; s < steps; s++)
            {
                Array.Clear(_network.Gradients);
                Array.Clear(_dExtra);
                clock.Restart();
                var y = _network.Forward(_batch, training: true);
                times[0].Add(clock.Elapsed.TotalMilliseconds);
                clock.Restart();
                _objective.Compute(y, _batch, _extra, _dExtra, _dOut);
                times[1].Add(clock.Elapsed.TotalMilliseconds);
                clock.Restart();
                _network.Backward(_dOut.AsSpan(0, y.Length));
                times[2].Add(clock.Elapsed.TotalMilliseconds);
                clock.Restart();
                _optimizer.Step(_parameters, _network.Gradients, 1e-4f);
                _extraOptimizer?.Step(_extra, _dExtra, 1e-4f);
                times[3].Add(clock.Elapsed.TotalMilliseconds);
            }

            return times.Select(BenchStats.Median).ToArray();
        }

        public void Infer()
        {
            var y = _network.Forward(_batch);
            if (_crf is null) return;
            for (int r = 0; r < _batch.Count; r++)
                _crf.Decode(y, _batch.Count, r, _batch.Lengths[r], _extra, _tags.AsSpan(0, _batch.Lengths[r]));
        }
    }

    /// <summary>Many-to-one softmax cross-entropy on the last-hidden head (what the multiclass trainer trains).</summary>
    private sealed class LastLoss(int classes) : ISequenceObjective
    {
        public int ParameterCount => 0;

        public void Initialize(Span<float> parameters, Random random)
        {
        }

        public double Compute(ReadOnlySpan<float> outputs, SequenceBatch batch, ReadOnlySpan<float> parameters, Span<float> dParameters, Span<float> dOutputs) =>
            Loss.Compute(LossKind.SoftmaxCrossEntropy, outputs, batch, OutputMode.LastHidden, classes, dOutputs);
    }

    private static int Arg(string[] args, string name, int fallback)
    {
        int at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;
    }

    private static double ArgD(string[] args, string name, double fallback)
    {
        int at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? double.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;
    }
}
