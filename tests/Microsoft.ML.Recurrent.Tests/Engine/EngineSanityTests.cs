using Microsoft.ML.Recurrent.Engine;

namespace Microsoft.ML.Recurrent.Tests.Engine;

/// <summary>Quick float32 finite-difference sanity checks of the engine against itself (the double-precision reference checks live in GradientCheckTests).</summary>
public class EngineSanityTests
{
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
    public void Backward_MixedLengths_MatchesFiniteDifferences(int cellKind, int layers, bool bidi, int outputMode)
    {
        var cell = (CellKind)cellKind; var mode = (OutputMode)outputMode;
        var spec = new NetworkSpec(cell, InputSize: 2, HiddenSize: 3, NumberOfLayers: layers, Bidirectional: bidi, OutputSize: 2, Output: mode);
        var layout = new ParameterLayout(spec);
        var p = new float[layout.Count];
        var rnd = new Random(7);
        for (int i = 0; i < p.Length; i++) p[i] = (float)(rnd.NextDouble() - 0.5);
        var seqs = new[] { 4, 2, 3 }.Select(len => Enumerable.Range(0, len * 2).Select(_ => (float)(rnd.NextDouble() * 2 - 1)).ToArray()).ToArray();
        var targets = seqs.Select(s => Enumerable.Range(0, (mode == OutputMode.EveryStep ? s.Length / 2 : 1) * 2).Select(_ => (float)rnd.NextDouble()).ToArray()).ToArray();
        var batch = new SequenceBatch(3, 4, 2, 2);
        batch.Fill(3, i => seqs[i], i => targets[i], mode == OutputMode.EveryStep);
        var net = new RecurrentNetwork(layout, p, new float[layout.Count], 3, 4);

        double LossAt()
        {
            net.ParametersChanged(); // the caller poked a parameter
            var y = net.Forward(batch).ToArray();
            var dy = new float[y.Length];
            return Loss.Compute(LossKind.MeanSquaredError, y, batch, mode, 2, dy);
        }

        var outputs = net.Forward(batch, training: true).ToArray();
        var d = new float[outputs.Length];
        Loss.Compute(LossKind.MeanSquaredError, outputs, batch, mode, 2, d);
        net.Backward(d);
        var analytic = (float[])net.Gradients.Clone();
        var dx = net.InputGradients.ToArray();

        const float eps = 1e-2f;
        for (int i = 0; i < p.Length; i++)
        {
            float keep = p[i];
            p[i] = keep + eps; double lp = LossAt();
            p[i] = keep - eps; double lm = LossAt();
            p[i] = keep;
            double numeric = (lp - lm) / (2 * eps);
            Math.Abs(numeric - analytic[i]).Should().BeLessThan(2e-3 + 2e-2 * Math.Abs(numeric), $"parameter {i}");
        }

        for (int i = 0; i < dx.Length; i++)
        {
            float keep = batch.Inputs[i];
            batch.Inputs[i] = keep + eps; double lp = LossAt();
            batch.Inputs[i] = keep - eps; double lm = LossAt();
            batch.Inputs[i] = keep;
            int t = i / 2 / 3, r = i / 2 % 3;
            double numeric = t < batch.Lengths[r] ? (lp - lm) / (2 * eps) : 0;
            Math.Abs(numeric - dx[i]).Should().BeLessThan(2e-3 + 2e-2 * Math.Abs(numeric), $"input {i}");
        }
    }
}
