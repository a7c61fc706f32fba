using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Onnx;

namespace Microsoft.ML.Recurrent.Tests.Onnx;

/// <summary>Exported ONNX models run on ONNX Runtime must give the engine's outputs (within 1e-5).</summary>
public class OnnxExporterTests
{
    private const float Tolerance = 1e-5f;
    private const int F = 3, H = 4, O = 2, Batch = 3, T = 5;

    public static IEnumerable<object[]> Configs()
    {
        foreach (var cell in new[] { CellKind.SimpleRnn, CellKind.Lstm, CellKind.Gru })
        foreach (var layers in new[] { 1, 2 })
        foreach (var bidi in new[] { false, true })
        foreach (var mode in new[] { OutputMode.LastHidden, OutputMode.EveryStep })
            yield return [(int)cell, layers, bidi, (int)mode];
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void Export_OnnxRuntime_MatchesEngine(int cellKind, int layers, bool bidi, int outputMode)
    {
        var spec = new NetworkSpec((CellKind)cellKind, F, H, layers, bidi, OutputSize: O, Output: (OutputMode)outputMode);
        float[] p = RandomParameters(spec, seed: 11 + cellKind * 8 + layers * 4 + (bidi ? 2 : 0) + outputMode);
        float[][] seqs = RandomSequences(Batch, T, F, seed: 5);

        byte[] model = OnnxExporter.Export(spec, p, OnnxExportOptions.Default);
        var (onnx, shape) = OrtRunner.Run(model, "features", BatchFirst(seqs, T, F), new long[] { Batch, T, F }, "score")["score"];

        var (engine, _) = RunEngine(spec, p, seqs);
        if (spec.Output == OutputMode.EveryStep)
        {
            shape.Should().Equal(Batch, T, O);
            engine = TimeMajorToBatchFirst(engine, T, Batch, O);
        }
        else
        {
            shape.Should().Equal(Batch, O);
        }

        AssertClose(onnx, engine);
    }

    [Theory]
    [InlineData((int)CellKind.Lstm, 2, true, (int)OutputMode.LastHidden)]
    [InlineData((int)CellKind.Gru, 1, false, (int)OutputMode.EveryStep)]
    [InlineData((int)CellKind.SimpleRnn, 2, true, (int)OutputMode.EveryStep)]
    public void Export_EmbeddingOnnxRuntime_MatchesEngine(int cellKind, int layers, bool bidi, int outputMode)
    {
        const int v = 7, e = 3;
        var spec = new NetworkSpec((CellKind)cellKind, 1, H, layers, bidi, VocabularySize: v, EmbeddingSize: e, OutputSize: O, Output: (OutputMode)outputMode);
        float[] p = RandomParameters(spec, seed: 3 + cellKind);
        var layout = new ParameterLayout(spec);
        layout.Embedding.Of(p)[..e].Fill(0.75f); // row 0 is the unknown-token vector: the export must read it as the engine does
        var random = new Random(9);
        float[][] ids = Enumerable.Range(0, Batch).Select(_ => Enumerable.Range(0, T).Select(_ => (float)random.Next(v)).ToArray()).ToArray();
        ids[1][2] = 0f;

        byte[] model = OnnxExporter.Export(spec, p, OnnxExportOptions.Default);
        long[] tokens = BatchFirst(ids, T, 1).Select(x => (long)x).ToArray();
        var (onnx, _) = OrtRunner.Run(model, "features", tokens, new long[] { Batch, T }, "score")["score"];

        var (engine, _) = RunEngine(spec, p, ids);
        if (spec.Output == OutputMode.EveryStep) engine = TimeMajorToBatchFirst(engine, T, Batch, O);
        AssertClose(onnx, engine);
    }

    [Theory]
    [InlineData(false, (int)OutputMode.LastHidden)]
    [InlineData(true, (int)OutputMode.LastHidden)]
    [InlineData(true, (int)OutputMode.EveryStep)]
    public void Export_NoHead_OutputsTopLayerStates(bool bidi, int outputMode)
    {
        var spec = new NetworkSpec(CellKind.Lstm, F, H, 2, bidi, OutputSize: 0, Output: (OutputMode)outputMode);
        float[] p = RandomParameters(spec, seed: 21);
        float[][] seqs = RandomSequences(Batch, T, F, seed: 6);
        int d = spec.OutputWidth;

        var (onnx, shape) = OrtRunner.Run(OnnxExporter.Export(spec, p, OnnxExportOptions.Default), "features", BatchFirst(seqs, T, F), new long[] { Batch, T, F }, "score")["score"];

        var (steps, finalHidden) = RunEngine(spec, p, seqs);
        if (spec.Output == OutputMode.EveryStep)
        {
            shape.Should().Equal(Batch, T, d);
            AssertClose(onnx, TimeMajorToBatchFirst(steps, T, Batch, d));
        }
        else
        {
            // Top layer's final states, forward ‖ reverse per row.
            shape.Should().Equal(Batch, d);
            var expected = new float[Batch * d];
            for (int dir = 0; dir < spec.Directions; dir++)
            {
                int k = (spec.NumberOfLayers - 1) * spec.Directions + dir;
                for (int r = 0; r < Batch; r++)
                    finalHidden.AsSpan((k * Batch + r) * H, H).CopyTo(expected.AsSpan(r * d + dir * H, H));
            }

            AssertClose(onnx, expected);
        }
    }

    [Fact]
    public void Export_SigmoidActivation_ProbabilityIsSigmoidOfEngineScore()
    {
        var spec = new NetworkSpec(CellKind.Gru, F, H, 1, true, OutputSize: 1);
        float[] p = RandomParameters(spec, seed: 31);
        float[][] seqs = RandomSequences(Batch, T, F, seed: 7);

        byte[] model = OnnxExporter.Export(spec, p, new OnnxExportOptions { OutputActivation = OnnxOutputActivation.Sigmoid });
        var outputs = OrtRunner.Run(model, "features", BatchFirst(seqs, T, F), new long[] { Batch, T, F }, "score", "probability");

        var (engine, _) = RunEngine(spec, p, seqs);
        AssertClose(outputs["score"].Values, engine);
        AssertClose(outputs["probability"].Values, engine.Select(s => 1f / (1f + MathF.Exp(-s))).ToArray());
        outputs["probability"].Shape.Should().Equal(Batch, 1);
    }

    [Fact]
    public void Export_SoftmaxActivationEveryStep_ProbabilityRowsAreSoftmaxOfEngineScores()
    {
        const int classes = 4;
        var spec = new NetworkSpec(CellKind.Lstm, F, H, 1, false, OutputSize: classes, Output: OutputMode.EveryStep);
        float[] p = RandomParameters(spec, seed: 41);
        float[][] seqs = RandomSequences(Batch, T, F, seed: 8);

        byte[] model = OnnxExporter.Export(spec, p, new OnnxExportOptions { OutputActivation = OnnxOutputActivation.Softmax, ProbabilityName = "p", ScoreName = "s", InputName = "x" });
        var outputs = OrtRunner.Run(model, "x", BatchFirst(seqs, T, F), new long[] { Batch, T, F }, "s", "p");

        var (engine, _) = RunEngine(spec, p, seqs);
        float[] scores = TimeMajorToBatchFirst(engine, T, Batch, classes);
        var expected = new float[scores.Length];
        for (int row = 0; row < Batch * T; row++)
        {
            var z = scores.AsSpan(row * classes, classes);
            float max = z.ToArray().Max();
            float sum = 0;
            for (int c = 0; c < classes; c++) sum += expected[row * classes + c] = MathF.Exp(z[c] - max);
            for (int c = 0; c < classes; c++) expected[row * classes + c] /= sum;
        }

        AssertClose(outputs["s"].Values, scores);
        AssertClose(outputs["p"].Values, expected);
        outputs["p"].Shape.Should().Equal(Batch, T, classes);
    }

    [Fact]
    public void Export_SymbolicBatchAndLength_OneModelRunsAnyShape()
    {
        var spec = new NetworkSpec(CellKind.Gru, F, H, 2, true, OutputSize: O);
        float[] p = RandomParameters(spec, seed: 51);
        byte[] model = OnnxExporter.Export(spec, p, OnnxExportOptions.Default);

        foreach (var (batch, length) in new[] { (1, 1), (1, 9), (4, 2) })
        {
            float[][] seqs = RandomSequences(batch, length, F, seed: batch * 10 + length);
            var (onnx, shape) = OrtRunner.Run(model, "features", BatchFirst(seqs, length, F), new long[] { batch, length, F }, "score")["score"];
            shape.Should().Equal(batch, O);
            AssertClose(onnx, RunEngine(spec, p, seqs).Outputs);
        }
    }

    [Fact]
    public void Export_Metadata_NamesTypesAndSymbolicDimensions()
    {
        var spec = new NetworkSpec(CellKind.Lstm, F, H, 1, false, OutputSize: O, Output: OutputMode.EveryStep);
        byte[] model = OnnxExporter.Export(spec, RandomParameters(spec, 1), new OnnxExportOptions { OutputActivation = OnnxOutputActivation.Sigmoid });
        using var session = new InferenceSession(model);

        var input = session.InputMetadata.Should().ContainSingle().Subject;
        input.Key.Should().Be("features");
        input.Value.ElementDataType.Should().Be(TensorElementType.Float);
        input.Value.Dimensions.Should().Equal(-1, -1, F);
        input.Value.SymbolicDimensions.Take(2).Should().Equal("batch", "T");
        session.OutputMetadata.Keys.Should().Equal("score", "probability");
        session.OutputMetadata["score"].Dimensions.Should().Equal(-1, -1, O);

        var embeddingSpec = new NetworkSpec(CellKind.Gru, 1, H, VocabularySize: 5, EmbeddingSize: 2, OutputSize: O);
        using var embeddingSession = new InferenceSession(OnnxExporter.Export(embeddingSpec, RandomParameters(embeddingSpec, 2), OnnxExportOptions.Default));
        embeddingSession.InputMetadata["features"].ElementDataType.Should().Be(TensorElementType.Int64);
        embeddingSession.InputMetadata["features"].Dimensions.Should().Equal(-1, -1);
        embeddingSession.OutputMetadata["score"].Dimensions.Should().Equal(-1, O);
    }

    [Fact]
    public void Export_WrongParameterCount_ThrowsWithCounts()
    {
        var spec = new NetworkSpec(CellKind.Lstm, F, H);
        int count = new ParameterLayout(spec).Count;
        var act = () => OnnxExporter.Export(spec, new float[count - 1], OnnxExportOptions.Default);
        act.Should().Throw<ArgumentException>().WithMessage($"*{count} parameters*{count - 1}*");
    }

    [Fact]
    public void Export_SoftmaxWithoutHead_Throws()
    {
        var spec = new NetworkSpec(CellKind.Gru, F, H, OutputSize: 0);
        var act = () => OnnxExporter.Export(spec, new float[new ParameterLayout(spec).Count], new OnnxExportOptions { OutputActivation = OnnxOutputActivation.Softmax });
        act.Should().Throw<ArgumentException>().WithMessage("*softmax*head*");
    }

    [Fact]
    public void Export_OutputNameEqualsInputName_Throws()
    {
        var spec = new NetworkSpec(CellKind.Gru, F, H);
        var act = () => OnnxExporter.Export(spec, new float[new ParameterLayout(spec).Count], new OnnxExportOptions { ScoreName = "features" });
        act.Should().Throw<ArgumentException>().WithMessage("*'features'*twice*");
    }

    [Fact]
    public void Export_InvalidSpec_ThrowsNamingField()
    {
        var spec = new NetworkSpec(CellKind.Gru, F, HiddenSize: 0);
        var act = () => OnnxExporter.Export(spec, Array.Empty<float>(), OnnxExportOptions.Default);
        act.Should().Throw<ArgumentException>().WithMessage("*HiddenSize*");
    }

    // ---- helpers ----

    private static float[] RandomParameters(NetworkSpec spec, int seed)
    {
        var layout = new ParameterLayout(spec);
        var random = new Random(seed);
        var p = new float[layout.Count];
        for (int i = 0; i < p.Length; i++) p[i] = (float)(random.NextDouble() - 0.5);
        return p;
    }

    private static float[][] RandomSequences(int count, int length, int features, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count)
            .Select(_ => Enumerable.Range(0, length * features).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray())
            .ToArray();
    }

    /// <summary>Sequences (each T·F time-major) → one (batch, T, F) buffer.</summary>
    private static float[] BatchFirst(float[][] seqs, int length, int features) => seqs.SelectMany(s => s.Take(length * features)).ToArray();

    /// <summary>(T, B, W) → (B, T, W).</summary>
    private static float[] TimeMajorToBatchFirst(float[] x, int length, int batch, int width)
    {
        var y = new float[x.Length];
        for (int t = 0; t < length; t++)
            for (int b = 0; b < batch; b++)
                x.AsSpan((t * batch + b) * width, width).CopyTo(y.AsSpan((b * length + t) * width, width));
        return y;
    }

    /// <summary>Engine forward on equal-length sequences (so the batch keeps the given row order).</summary>
    private static (float[] Outputs, float[] FinalHidden) RunEngine(NetworkSpec spec, float[] p, float[][] seqs)
    {
        var layout = new ParameterLayout(spec);
        int length = seqs[0].Length / spec.InputSize;
        var batch = new SequenceBatch(seqs.Length, length, spec.InputSize, 0);
        batch.Fill(seqs.Length, i => seqs[i], null, perStepTargets: false);
        batch.Order.Take(seqs.Length).Should().Equal(Enumerable.Range(0, seqs.Length));
        var net = new RecurrentNetwork(layout, p, null, seqs.Length, length);
        float[] outputs = net.Forward(batch).ToArray();
        return (outputs, net.FinalHidden.ToArray());
    }

    private static void AssertClose(float[] actual, float[] expected)
    {
        actual.Length.Should().Be(expected.Length);
        float worst = 0;
        int at = -1;
        for (int i = 0; i < actual.Length; i++)
        {
            float diff = MathF.Abs(actual[i] - expected[i]);
            if (!(diff <= worst)) { worst = diff; at = i; }
        }

        worst.Should().BeLessThanOrEqualTo(Tolerance, $"element {at}: ONNX {(at >= 0 ? actual[at] : 0)} vs engine {(at >= 0 ? expected[at] : 0)}");
        expected.Select(MathF.Abs).Max().Should().BeGreaterThan(1e-3f, "the comparison must not be between near-zero outputs");
    }
}
