using System.Diagnostics;
using System.Globalization;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Seq2Seq;

namespace Microsoft.ML.Recurrent.Benchmarks;

/// <summary>
/// <c>seq2seq</c> verb: encoder–decoder training tokens/s (teacher forcing, forward + backward + Adam-free gradient pass) and
/// greedy / beam-4 decoding sequences/s, on the engine alone. Shape of issue 11: H = 128, B = 64, source 30 tokens, target
/// 30 tokens, attention on; LSTM, bidirectional one-layer encoder, vocabularies of 50. Decoding runs the full 30 steps (the
/// end token's bias is pushed down so no sequence stops early). Also reports the bytes allocated per decoder step.
/// </summary>
internal static class Seq2SeqThroughput
{
    public static int Run(string[] args)
    {
        int repeats = IntArg(args, "--repeats", 7), threads = IntArg(args, "--threads", 0);
        int H = IntArg(args, "--hidden", 128), B = IntArg(args, "--batch", 64), Ts = IntArg(args, "--source", 30), Td = IntArg(args, "--target", 30);
        var attention = Enum.Parse<AttentionKind>(StringArg(args, "--attention", "Additive"));
        const int V = 50, K = 50;
        var spec = new Seq2SeqSpec(CellKind.Lstm, 1, V + 1, 64, H, 1, true, 0f, K, 64, attention);
        var random = new Random(1);
        var enc = new float[new ParameterLayout(spec.Encoder).Count];
        var dec = new float[new ParameterLayout(spec.Decoder).Count];
        var headLayout = new Seq2SeqHeadLayout(spec);
        var head = new float[headLayout.Count];
        Initializer.Initialize(new ParameterLayout(spec.Encoder), enc, 1);
        Initializer.Initialize(new ParameterLayout(spec.Decoder), dec, 2);
        headLayout.Initialize(head, 3);
        head[headLayout.OutBias.Offset] = -1e4f; // never end: every decode runs Td steps

        var sources = Enumerable.Range(0, B).Select(_ => Enumerable.Range(0, Ts).Select(_ => (float)random.Next(1, V + 1)).ToArray()).ToArray();
        var targets = Enumerable.Range(0, B).Select(_ => Enumerable.Range(0, Td).Select(_ => random.Next(1, K + 1)).ToArray()).ToArray();
        var src = new SequenceBatch(B, Ts, 1, 0);
        var tgt = new SequenceBatch(B, Td + 1, 1, 1);
        src.Fill(B, i => sources[i], null, false);
        tgt.Fill(B, i => new[] { (float)spec.StartId }.Concat(targets[i].Select(k => (float)k)).ToArray(),
            i => targets[i].Select(k => (float)k).Append(0f).ToArray(), true);

        Console.WriteLine($"encoder–decoder engine: LSTM, H = {H}, B = {B}, source {Ts}, target {Td}, attention {attention}, vocabularies {V}/{K}, threads {(threads == 0 ? Environment.ProcessorCount : threads)}, {repeats} repeats (median)");
        var train = new Seq2SeqNetwork(spec, enc, dec, head, training: true, B, Math.Max(Ts, Td + 1)) { Threads = threads };
        double step = Time(repeats, () =>
        {
            train.ZeroGradients();
            train.Forward(src, tgt, training: true, dropoutRandom: random);
            train.Backward();
        });
        int tokens = B * (Td + 1);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  training step (forward + backward)  {step * 1e3,9:F2} ms   {tokens / step,10:F0} target tokens/s   {B / step,8:F1} pairs/s"));

        var infer = new Seq2SeqNetwork(spec, enc, dec, head, training: false, B, Ts) { Threads = threads };
        foreach (var (name, width, greedy) in new[] { ("greedy", 1, true), ("beam 4", 4, false) })
        {
            double t = Time(repeats, () => infer.Decode(src, width, Td, greedy));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  decode {name,-7} B = {B}              {t * 1e3,9:F2} ms   {B / t,10:F1} sequences/s   {B * Td / t,8:F0} tokens/s"));
        }

        // One source at a time (how ML.NET's row-by-row Transform decodes).
        var one = new SequenceBatch(1, Ts, 1, 0);
        one.FillSingle(sources[0]);
        foreach (var (name, width, greedy) in new[] { ("greedy", 1, true), ("beam 4", 4, false) })
        {
            double t = Time(repeats, () => infer.Decode(one, width, Td, greedy));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  decode {name,-7} one sequence       {t * 1e3,9:F2} ms   {1 / t,10:F1} sequences/s"));
        }

        // Allocation: everything a decode allocates is its result (token and attention arrays); the steps allocate nothing.
        infer.Decode(src, 4, Td);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var results = infer.Decode(src, 4, Td);
        long bytes = GC.GetAllocatedBytesForCurrentThread() - before;
        long resultBytes = results.Sum(r => 24L + 4L * r.Tokens.Length + 24 + 4L * r.Attention.Length + 24 + 48) + 24 + 8L * results.Length;
        Console.WriteLine($"  beam-4 decode of {B}: {bytes} bytes allocated in this thread, results ≈ {resultBytes} bytes ({Td} steps)");
        return 0;
    }

    private static double Time(int repeats, Action action)
    {
        action();
        action();
        var times = new List<double>();
        for (int i = 0; i < repeats; i++)
        {
            var clock = Stopwatch.StartNew();
            action();
            times.Add(clock.Elapsed.TotalSeconds);
        }

        return BenchStats.Median(times);
    }

    private static int IntArg(string[] args, string name, int fallback)
    {
        int at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;
    }

    private static string StringArg(string[] args, string name, string fallback)
    {
        int at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? args[at + 1] : fallback;
    }
}
