using BenchmarkDotNet.Attributes;
using Microsoft.ML.Recurrent.Engine;

namespace Microsoft.ML.Recurrent.Benchmarks;

/// <summary>
/// Forward and backward of one recurrent layer (with its head), at the throughput runner's configurations 1–3 shapes:
/// batch 64, T 50, F 32, H 128 for LSTM and GRU, and batch 32, T 200, F 8, H 64 for LSTM.
/// Run: dotnet run -c Release --project benchmarks/Microsoft.ML.Recurrent.Benchmarks -- bdn --filter *LayerBenchmarks*
/// </summary>
[ShortRunJob]
[MemoryDiagnoser(false)]
[MedianColumn]
public class LayerBenchmarks
{
    public enum Shape { Lstm64x50x32x128, Gru64x50x32x128, Lstm32x200x8x64 }

    [Params(Shape.Lstm64x50x32x128, Shape.Gru64x50x32x128, Shape.Lstm32x200x8x64)]
    public Shape Config { get; set; }

    private RecurrentNetwork _network = null!;
    private SequenceBatch _batch = null!;
    private float[] _dOut = [];

    [GlobalSetup]
    public void Setup()
    {
        (CellKind cell, int b, int t, int f, int h) = Config switch
        {
            Shape.Lstm64x50x32x128 => (CellKind.Lstm, 64, 50, 32, 128),
            Shape.Gru64x50x32x128 => (CellKind.Gru, 64, 50, 32, 128),
            _ => (CellKind.Lstm, 32, 200, 8, 64),
        };
        var layout = new ParameterLayout(new NetworkSpec(cell, InputSize: f, HiddenSize: h));
        var parameters = new float[layout.Count];
        Initializer.Initialize(layout, parameters, seed: 1);
        _network = new RecurrentNetwork(layout, parameters, new float[layout.Count], b, t);
        _batch = new SequenceBatch(b, t, f, 1);
        var random = new Random(2);
        var sequences = Enumerable.Range(0, b).Select(_ => Enumerable.Range(0, t * f).Select(_ => random.NextSingle() * 2 - 1).ToArray()).ToArray();
        _batch.Fill(b, i => sequences[i], i => new[] { random.NextSingle() }, false);
        _dOut = Enumerable.Range(0, b).Select(_ => random.NextSingle() * 1e-2f).ToArray();
        _network.Forward(_batch, training: true);
    }

    [Benchmark]
    public float Forward() => _network.Forward(_batch, training: true)[0];

    /// <summary>Backward of the last forward pass (the stored activations do not change between calls).</summary>
    [Benchmark]
    public void Backward()
    {
        Array.Clear(_network.Gradients);
        _network.Backward(_dOut);
    }
}
