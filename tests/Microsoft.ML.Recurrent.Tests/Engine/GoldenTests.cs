using System.Security.Cryptography;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Kernels;
using Microsoft.ML.Recurrent.Engine.Training;

namespace Microsoft.ML.Recurrent.Tests.Engine;

/// <summary>
/// Locks the engine's outputs bit for bit ahead of the cell-layer rework (issue 8): for every cell × direction × depth ×
/// input kind (dense with mixed lengths, tokens through the embedding), plus every-step output, the SHA-256 of the
/// forward outputs at seeded initial weights and of the parameters after three seeded training epochs. The values were
/// recorded from the engine as it stood before the rework; a refactor that changes any bit fails here, naming the
/// configuration. Run on one thread with every loop family held at 256-bit vectors, so the figures are the same on
/// AVX-512 and AVX2 machines (the double-precision norm sum of clipping is the one width-dependent reduction).
/// </summary>
public class GoldenTests
{
    public static TheoryData<string, string, string> Configurations() => new()
    {
        { "SimpleRnn uni 1 dense", "eae8efd7f98ab4cf", "14a826e67eb2f7c7" },
        { "SimpleRnn uni 2 dense", "f39560408ebca86b", "fc5a78345cc41b7f" },
        { "SimpleRnn bi 1 dense", "cd1c607194c31c7c", "b65fd83a672c203b" },
        { "SimpleRnn bi 2 dense", "aa7492720f915327", "c14cffad59a7d8b8" },
        { "SimpleRnn uni 1 tokens", "6ad5fe18a3f748e8", "0445496157bd052d" },
        { "SimpleRnn uni 2 tokens", "8138823f7ff4c4be", "29d076e6344b9952" },
        { "SimpleRnn bi 1 tokens", "428437af61f85805", "058bae5403c89339" },
        { "SimpleRnn bi 2 tokens", "54259958128cdc51", "36063e92e30f2edf" },
        { "SimpleRnn bi 2 everystep", "6571b64167722611", "8e5260bf51f2c868" },
        { "Lstm uni 1 dense", "39ba80976955d155", "eef2af1234936c3d" },
        { "Lstm uni 2 dense", "fab1dcd27681398c", "f84dfa3314aaca0a" },
        { "Lstm bi 1 dense", "518e9b4658f195d0", "b8eedf4e84c9a092" },
        { "Lstm bi 2 dense", "37a548534460ddf7", "3989c58ca8f072b9" },
        { "Lstm uni 1 tokens", "3add943c06e49ae7", "5f26a2d602a39444" },
        { "Lstm uni 2 tokens", "e151bf1b9a01da30", "b5fb3cefbb098960" },
        { "Lstm bi 1 tokens", "3ba42b40fb7f748b", "57e544f0013db86d" },
        { "Lstm bi 2 tokens", "cb1c97ac794e4f6e", "4ea1781230bdc5c4" },
        { "Lstm bi 2 everystep", "4eb9b679048b3679", "253865dfb1a0001f" },
        { "Gru uni 1 dense", "45539dba39d8f4ea", "9f9966d04b2c2af5" },
        { "Gru uni 2 dense", "afe2318461b1a4f7", "537d2e89f80226d9" },
        { "Gru bi 1 dense", "2e4b26193c8372af", "d3e7440dd685bf9e" },
        { "Gru bi 2 dense", "67cd22fc3d42c229", "ca74507d960ba8e8" },
        { "Gru uni 1 tokens", "7b923dbeca512a74", "5daa2a7efb822e48" },
        { "Gru uni 2 tokens", "afd3a3508f233a8e", "b0c37ce819d58c2c" },
        { "Gru bi 1 tokens", "f5d44aeeb66ad4ea", "257e6ab2647fedc5" },
        { "Gru bi 2 tokens", "dae29b2523ff22bf", "4df0d3c5005c9baf" },
        { "Gru bi 2 everystep", "77edaa5abf7c8cfd", "2135deb47a267326" },
    };

    private static NetworkSpec SpecOf(string name)
    {
        var parts = name.Split(' ');
        var cell = Enum.Parse<CellKind>(parts[0]);
        bool bi = parts[1] == "bi";
        int layers = int.Parse(parts[2]);
        return parts[3] switch
        {
            "dense" => new NetworkSpec(cell, InputSize: 3, HiddenSize: 6, NumberOfLayers: layers, Bidirectional: bi, OutputSize: 2),
            "tokens" => new NetworkSpec(cell, InputSize: 1, HiddenSize: 6, NumberOfLayers: layers, Bidirectional: bi,
                VocabularySize: 9, EmbeddingSize: 4, OutputSize: 3),
            _ => new NetworkSpec(cell, InputSize: 3, HiddenSize: 6, NumberOfLayers: layers, Bidirectional: bi, OutputSize: 2,
                Output: OutputMode.EveryStep),
        };
    }

    private static SequenceDataset Data(NetworkSpec spec)
    {
        bool tokens = spec.VocabularySize > 0, perStep = spec.Output == OutputMode.EveryStep;
        var data = new SequenceDataset(spec.InputSize, tokens ? 1 : spec.OutputSize, perStep);
        var rng = new Random(17);
        for (int i = 0; i < 24; i++)
        {
            int t = 2 + rng.Next(8);
            var x = tokens
                ? Enumerable.Range(0, t).Select(_ => (float)rng.Next(spec.VocabularySize)).ToArray()
                : Enumerable.Range(0, t * spec.InputSize).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            int rows = perStep ? t : 1;
            var y = tokens
                ? [(float)rng.Next(spec.OutputSize)]
                : Enumerable.Range(0, rows * spec.OutputSize).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            data.Add(x, y);
        }

        return data;
    }

    private static string Hash(ReadOnlySpan<float> values) =>
        Convert.ToHexString(SHA256.HashData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values)))[..16].ToLowerInvariant();

    private static (string Forward, string Trained) Run(string name)
    {
        var spec = SpecOf(name);
        var data = Data(spec);
        var layout = new ParameterLayout(spec);
        var parameters = new float[layout.Count];
        Initializer.Initialize(layout, parameters, seed: 5);
        var network = new RecurrentNetwork(layout, parameters, new float[layout.Count], data.Count, data.MaxLength) { Threads = 1 };
        var batch = new SequenceBatch(data.Count, data.MaxLength, spec.InputSize, data.TargetWidth);
        batch.Fill(data, Enumerable.Range(0, data.Count).ToArray());
        string forward = Hash(network.Forward(batch));

        var trained = SequenceTrainer.Train(new TrainerSettings
        {
            Spec = spec,
            Loss = spec.VocabularySize > 0 ? LossKind.SoftmaxCrossEntropy : LossKind.MeanSquaredError,
            Epochs = 3,
            BatchSize = 8,
            LearningRate = 0.01f,
            Seed = 5,
            Threads = 1,
        }, data, null, null, CancellationToken.None);
        return (forward, Hash(trained.Parameters));
    }

    [Theory]
    [MemberData(nameof(Configurations))]
    public void Engine_Configuration_MatchesTheRecordedBits(string configuration, string forward, string trained)
    {
        int width = Lanes.MaxVectorWidth;
        bool fma = Lanes.UseFma;
        var isa = Gemm.MaxIsa;
        try
        {
            Lanes.MaxVectorWidth = 256;
            Lanes.UseFma = true; // the recorded bits are the fused family's (emulated, exactly, on a machine without FMA)
            Gemm.MaxIsa = GemmIsa.Vector256;
            // Both register files' shapes, whatever this machine has: with 16 (as on AVX2) the 6 × 2 row tiles and the
            // paired two-pass gate passes; with 32 the 4 × 4 tiles at 256 bits and the one- or two-pass bodies.
            foreach (int registers in new[] { 16, 32 })
            {
                Lanes.VectorRegisters = registers;
                var actual = Run(configuration);
                actual.Should().Be((forward, trained), $"{configuration} must keep the engine's recorded bits ({registers} vector registers)");
            }
        }
        finally
        {
            Lanes.MaxVectorWidth = width;
            Lanes.UseFma = fma;
            Gemm.MaxIsa = isa;
            Lanes.VectorRegisters = 0;
        }
    }
}
