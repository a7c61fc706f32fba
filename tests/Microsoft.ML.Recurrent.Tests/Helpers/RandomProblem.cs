using Microsoft.ML.Recurrent.Engine;

namespace Microsoft.ML.Recurrent.Tests.Helpers;

/// <summary>
/// A small random network with data, for comparing the engine with the reference. Every value is a float32 value
/// held in a double, so the float engine and the double reference start from exactly the same numbers.
/// </summary>
internal sealed record RandomProblem(
    NetworkSpec Spec,
    LossKind Loss,
    float[] Parameters,
    double[] ParametersD,
    double[][] Sequences,
    double[][] Targets,
    double[][]? H0,
    double[][]? C0)
{
    /// <summary>
    /// Parameters uniform in ±0.5 (embedding row 0, the unknown-token vector, too), inputs uniform in ±1 (or token ids 0..V−1 with at least one 0),
    /// targets uniform in ±1 (MSE), 0/1 (BCE) or class indices (softmax CE), initial states uniform in ±0.5 when asked for.
    /// </summary>
    public static RandomProblem Create(NetworkSpec spec, LossKind loss, int[] lengths, int seed, bool initialState)
    {
        var rng = new Random(seed);
        double Uniform(double half) => (float)((rng.NextDouble() * 2 - 1) * half);
        var layout = new ParameterLayout(spec);
        var pd = new double[layout.Count];
        for (int i = 0; i < pd.Length; i++) pd[i] = Uniform(0.5);
        var p = pd.Select(v => (float)v).ToArray();

        int f = spec.InputSize, o = spec.OutputSize;
        var sequences = new double[lengths.Length][];
        var targets = new double[lengths.Length][];
        for (int i = 0; i < lengths.Length; i++)
        {
            int t = lengths[i];
            sequences[i] = spec.VocabularySize > 0
                ? Enumerable.Range(0, t).Select(s => s == t / 2 ? 0.0 : rng.Next(spec.VocabularySize)).ToArray()
                : Enumerable.Range(0, t * f).Select(_ => Uniform(1)).ToArray();
            int rows = spec.Output == OutputMode.EveryStep ? t : 1;
            targets[i] = o == 0 ? [] : loss switch
            {
                LossKind.MeanSquaredError => Enumerable.Range(0, rows * o).Select(_ => Uniform(1)).ToArray(),
                LossKind.BinaryCrossEntropy => Enumerable.Range(0, rows * o).Select(_ => (double)rng.Next(2)).ToArray(),
                _ => Enumerable.Range(0, rows).Select(_ => (double)rng.Next(o)).ToArray(),
            };
        }

        int stateSize = spec.NumberOfLayers * spec.Directions * spec.HiddenSize;
        double[][]? State() => Enumerable.Range(0, lengths.Length).Select(_ => Enumerable.Range(0, stateSize).Select(_ => Uniform(0.5)).ToArray()).ToArray();
        var h0 = initialState ? State() : null;
        var c0 = initialState && spec.Cell == CellKind.Lstm ? State() : null;
        return new RandomProblem(spec, loss, p, pd, sequences, targets, h0, c0);
    }

    /// <summary>The engine's forward, loss and backward on this problem.</summary>
    public EngineResult RunEngine() => EngineHarness.Run(Spec, (float[])Parameters.Clone(), Sequences, Targets, Loss, H0, C0);

    /// <summary>The reference's loss on this problem.</summary>
    public double ReferenceLoss() => ReferenceNetwork.Loss(Spec, ParametersD, Sequences, Targets, Loss, H0, C0);
}
