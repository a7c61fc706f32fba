using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

// The peer of the throughput runner, measured on the same machine in the same session: libtorch (through
// TorchSharp, as a .NET user would call it) on the five configurations of the throughput runner, with the
// same definitions. A training step is zero_grad + forward (batch-first) + MSE on a one-output Linear head
// over the last time step's hidden state (of the top layer) + backward + Adam step; inference is one forward
// under no_grad (libtorch then takes its oneDNN RNN path for LSTMs). Configuration 5 (batch 1) is timed with
// one thread, as the issue's latency figure was. Each figure is the median of --repeats repeats, each lasting
// at least --min-time seconds after a warm-up.
//
// Usage: LibTorchBaseline [--json FILE] [--repeats N] [--configs 1,3] [--threads N] [--min-time S] [--seed N]

CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
string? jsonPath = null;
int repeats = 5, threads = Environment.ProcessorCount, seed = 20240611;
double minSeconds = 0.3;
int[] configIds = [1, 2, 3, 4, 5];
for (int i = 0; i < args.Length; i++)
{
    string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
    switch (args[i])
    {
        case "--json": jsonPath = Next(); break;
        case "--repeats": repeats = int.Parse(Next()); break;
        case "--threads": threads = int.Parse(Next()); break;
        case "--seed": seed = int.Parse(Next()); break;
        case "--min-time": minSeconds = double.Parse(Next()); break;
        case "--configs": configIds = Next().Split(',').Select(int.Parse).ToArray(); break;
        default:
            Console.Error.WriteLine("usage: LibTorchBaseline [--json FILE] [--repeats N] [--configs 1,3] [--threads N] [--min-time S] [--seed N]");
            return 2;
    }
}

var all = new (int Id, string Cell, int Batch, int Length, int Input, int Hidden, int Layers)[]
{
    (1, "Lstm", 64, 50, 32, 128, 1),
    (2, "Gru", 64, 50, 32, 128, 1),
    (3, "Lstm", 32, 200, 8, 64, 1),
    (4, "Lstm", 128, 30, 64, 256, 2),
    (5, "Lstm", 1, 50, 32, 128, 1),
};

torch.manual_seed(seed);
Console.WriteLine($"libtorch (TorchSharp {typeof(torch).Assembly.GetName().Version}) on {RuntimeInformation.OSDescription}, {Environment.ProcessorCount} logical cores");
Console.WriteLine($"  median of {repeats} repeat(s), each >= {minSeconds} s; {threads} thread(s) for batches > 1, 1 thread for batch 1");
Console.WriteLine("  # | cell | batch | train ms/step | train seq/s | infer ms/batch | infer seq/s | first 3 steps ms");

var results = new List<Dictionary<string, object?>>();
foreach (int id in configIds)
{
    var c = all[id - 1];
    int useThreads = c.Batch == 1 ? 1 : threads;
    torch.set_num_threads(useThreads);
    using var scope = torch.NewDisposeScope();

    TorchSharp.Modules.LSTM? lstm = null;
    TorchSharp.Modules.GRU? gru = null;
    if (c.Cell == "Lstm") lstm = nn.LSTM(c.Input, c.Hidden, numLayers: c.Layers, batchFirst: true);
    else gru = nn.GRU(c.Input, c.Hidden, numLayers: c.Layers, batchFirst: true);
    var head = nn.Linear(c.Hidden, 1);
    var parameters = (lstm is not null ? lstm.parameters() : gru!.parameters()).Concat(head.parameters()).ToList();
    var optimizer = optim.Adam(parameters, lr: 1e-3);
    var x = torch.randn(c.Batch, c.Length, c.Input);
    var y = torch.randn(c.Batch, 1);

    Tensor Run(Tensor input) => lstm is not null ? lstm.forward(input).Item1 : gru!.forward(input).Item1;

    void TrainStep()
    {
        using var d = torch.NewDisposeScope();
        optimizer.zero_grad();
        var output = Run(x);
        var last = output.select(1, c.Length - 1);
        var loss = nn.functional.mse_loss(head.forward(last), y);
        loss.backward();
        optimizer.step();
    }

    void Infer()
    {
        using var d = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var output = Run(x);
        _ = head.forward(output.select(1, c.Length - 1));
    }

    var first = new double[3];
    for (int s = 0; s < 3; s++)
    {
        long t0 = Stopwatch.GetTimestamp();
        TrainStep();
        first[s] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
    }

    double trainStep = Measure(TrainStep, repeats, minSeconds);
    double inferStep = Measure(Infer, repeats, minSeconds);
    Console.WriteLine($"  {c.Id} | {c.Cell,-4} | {c.Batch,5} | {trainStep * 1e3,13:F3} | {c.Batch / trainStep,11:F0} | {inferStep * 1e3,14:F4} | {c.Batch / inferStep,11:F0} | {string.Join(", ", first.Select(f => f.ToString("F2")))}");
    results.Add(new()
    {
        ["config"] = c.Id,
        ["cell"] = c.Cell,
        ["batch"] = c.Batch,
        ["length"] = c.Length,
        ["input"] = c.Input,
        ["hidden"] = c.Hidden,
        ["layers"] = c.Layers,
        ["training_seq_per_s"] = Math.Round(c.Batch / trainStep, 1),
        ["inference_seq_per_s"] = Math.Round(c.Batch / inferStep, 1),
        ["latency_us"] = c.Batch == 1 ? Math.Round(inferStep * 1e6, 2) : null,
        ["threads"] = useThreads,
        ["first_steps_ms"] = first.Select(f => Math.Round(f, 3)).ToArray(),
    });
}

if (jsonPath is not null)
{
    File.WriteAllText(jsonPath, JsonSerializer.Serialize(results, new JsonSerializerOptions { WriteIndented = true }));
    Console.WriteLine($"Wrote {jsonPath}.");
}

return 0;

// Median seconds per call over `repeats` repeats, after a warm-up of at least `seconds`.
static double Measure(Action action, int repeats, double seconds)
{
    var warm = Stopwatch.StartNew();
    double last;
    int n = 0;
    do
    {
        long t0 = Stopwatch.GetTimestamp();
        action();
        last = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        n++;
    }
    while (warm.Elapsed.TotalSeconds < seconds || n < 3);

    int iterations = (int)Math.Clamp(Math.Ceiling(seconds / Math.Max(last, 1e-7)), 1, 10_000_000);
    var per = new double[repeats];
    for (int r = 0; r < repeats; r++)
    {
        long t0 = Stopwatch.GetTimestamp();
        for (int i = 0; i < iterations; i++) action();
        per[r] = Stopwatch.GetElapsedTime(t0).TotalSeconds / iterations;
    }

    Array.Sort(per);
    return per[repeats / 2];
}
