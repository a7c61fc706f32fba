using Microsoft.ML.Recurrent.Engine;

namespace Microsoft.ML.Recurrent.Tests.Helpers;

/// <summary>
/// What the engine computed for a batch, mapped back from the batch's sorted rows to the caller's sequence order
/// so that it compares one to one with <see cref="ReferenceNetwork"/>.
/// </summary>
/// <param name="Outputs">Per sequence: (O), (T_i · O), or without a head (T_i · D).</param>
/// <param name="Loss">The batch loss (NaN when no loss was computed).</param>
/// <param name="ParameterGradients">The whole gradient buffer.</param>
/// <param name="InputGradients">Per sequence (T_i · F); null with an embedding.</param>
/// <param name="InitialHiddenGradients">Per sequence (L · directions · H); null when no h0 was given.</param>
/// <param name="InitialCellGradients">Per sequence (L · directions · H); null when no c0 was given.</param>
/// <param name="FinalHidden">Per sequence (L · directions · H).</param>
/// <param name="FinalCell">Per sequence (L · directions · H); null for cells other than the LSTM.</param>
internal sealed record EngineResult(
    double[][] Outputs,
    double Loss,
    double[] ParameterGradients,
    double[][]? InputGradients,
    double[][]? InitialHiddenGradients,
    double[][]? InitialCellGradients,
    double[][] FinalHidden,
    double[][]? FinalCell);

/// <summary>Gradients of an objective with respect to the engine's outputs, final hidden and final cell states, per sequence.</summary>
/// <param name="Outputs">Per sequence, shaped like <see cref="EngineResult.Outputs"/>.</param>
/// <param name="FinalHidden">Per sequence (L · directions · H), or null.</param>
/// <param name="FinalCell">Per sequence (L · directions · H), or null.</param>
internal sealed record OutputGradients(double[][] Outputs, double[][]? FinalHidden, double[][]? FinalCell);

/// <summary>
/// Drives the engine (<see cref="SequenceBatch"/>, <see cref="RecurrentNetwork"/>, <see cref="Loss"/>) on sequences given
/// one by one, the way a gradient check needs it: forward, loss, backward, and everything translated back to the
/// caller's order.
/// </summary>
internal static class EngineHarness
{
    /// <summary>Fills a batch (time-major, sorted) with the sequences, their targets and per-sequence initial states.</summary>
    public static SequenceBatch Batch(NetworkSpec spec, LossKind loss, IReadOnlyList<double[]> sequences, IReadOnlyList<double[]>? targets,
        IReadOnlyList<double[]>? h0 = null, IReadOnlyList<double[]>? c0 = null)
    {
        int count = sequences.Count;
        int maxLength = sequences.Max(s => s.Length / spec.InputSize);
        int width = spec.OutputSize == 0 ? 0 : loss == LossKind.SoftmaxCrossEntropy ? 1 : spec.OutputSize;
        var batch = new SequenceBatch(count, maxLength, spec.InputSize, width);
        var seq = sequences.Select(ToFloat).ToArray();
        var tgt = targets?.Select(ToFloat).ToArray();
        batch.Fill(count, i => seq[i], tgt is null ? null : i => tgt[i], spec.Output == OutputMode.EveryStep);
        batch.InitialHidden = ToRows(batch, spec, h0);
        batch.InitialCell = ToRows(batch, spec, c0);
        return batch;
    }

    /// <summary>Forward (training mode; dropout must be 0), <see cref="Loss.Compute"/>, backward, on a fresh network.</summary>
    public static EngineResult Run(NetworkSpec spec, float[] parameters, IReadOnlyList<double[]> sequences, IReadOnlyList<double[]> targets,
        LossKind loss, IReadOnlyList<double[]>? h0 = null, IReadOnlyList<double[]>? c0 = null)
    {
        int maxLength = sequences.Max(s => s.Length / spec.InputSize);
        var network = new RecurrentNetwork(new ParameterLayout(spec), parameters, new float[parameters.Length], sequences.Count, maxLength);
        return Run(network, sequences, targets, loss, h0, c0);
    }

    /// <summary>
    /// The same on an existing network (its buffers reused, as in the training loop): zeroes its gradients first.
    /// </summary>
    public static EngineResult Run(RecurrentNetwork network, IReadOnlyList<double[]> sequences, IReadOnlyList<double[]> targets,
        LossKind loss, IReadOnlyList<double[]>? h0 = null, IReadOnlyList<double[]>? c0 = null)
    {
        var spec = network.Spec;
        var batch = Batch(spec, loss, sequences, targets, h0, c0);
        Array.Clear(network.Gradients);
        var outputs = network.Forward(batch, training: true, dropoutRandom: new Random(0));
        var dOutputs = new float[outputs.Length];
        double value = Loss.Compute(loss, outputs, batch, spec.Output, spec.OutputSize, dOutputs);
        var mappedOutputs = MapOutputs(spec, batch, outputs);
        network.Backward(dOutputs);
        return Collect(spec, batch, network, mappedOutputs, value);
    }

    /// <summary>Inference-mode forward only: outputs and final states per sequence (caller order).</summary>
    public static (double[][] Outputs, double[][] FinalHidden, double[][]? FinalCell) Forward(NetworkSpec spec, float[] parameters,
        IReadOnlyList<double[]> sequences, IReadOnlyList<double[]>? h0 = null, IReadOnlyList<double[]>? c0 = null)
    {
        var batch = Batch(spec, LossKind.MeanSquaredError, sequences, null, h0, c0);
        var network = new RecurrentNetwork(new ParameterLayout(spec), parameters, null, batch.Count, batch.MaxLength);
        var outputs = MapOutputs(spec, batch, network.Forward(batch));
        return (outputs, FromRows(batch, spec, network.FinalHidden), spec.Cell == CellKind.Lstm ? FromRows(batch, spec, network.FinalCell) : null);
    }

    /// <summary>
    /// Forward, then backward from the gradients <paramref name="objective"/> returns for the outputs (given per
    /// sequence in caller order) — for objectives that are not one of the losses, e.g. on the final states.
    /// </summary>
    public static EngineResult Run(NetworkSpec spec, float[] parameters, IReadOnlyList<double[]> sequences, Func<double[][], OutputGradients> objective,
        IReadOnlyList<double[]>? h0 = null, IReadOnlyList<double[]>? c0 = null)
    {
        var batch = Batch(spec, LossKind.MeanSquaredError, sequences, null, h0, c0);
        var network = new RecurrentNetwork(new ParameterLayout(spec), parameters, new float[parameters.Length], batch.Count, batch.MaxLength);
        var outputs = network.Forward(batch, training: true, dropoutRandom: new Random(0));
        var mappedOutputs = MapOutputs(spec, batch, outputs);
        var g = objective(mappedOutputs);

        int b = batch.Count, states = spec.NumberOfLayers * spec.Directions, hs = spec.HiddenSize;
        int width = spec.OutputSize == 0 ? spec.OutputWidth : spec.OutputSize;
        var dOutputs = new float[outputs.Length];
        for (int row = 0; row < b; row++)
        {
            var src = g.Outputs[batch.Order[row]];
            if (spec.OutputSize > 0 && spec.Output == OutputMode.LastHidden)
            {
                for (int j = 0; j < width; j++) dOutputs[row * width + j] = (float)src[j];
                continue;
            }

            for (int t = 0; t < batch.Lengths[row]; t++)
                for (int j = 0; j < width; j++) dOutputs[(t * b + row) * width + j] = (float)src[t * width + j];
        }

        float[]? StateRows(double[][]? perSequence)
        {
            if (perSequence is null) return null;
            var rows = new float[states * b * hs];
            for (int row = 0; row < b; row++)
                for (int k = 0; k < states; k++)
                    for (int j = 0; j < hs; j++) rows[(k * b + row) * hs + j] = (float)perSequence[batch.Order[row]][k * hs + j];
            return rows;
        }

        network.Backward(dOutputs, StateRows(g.FinalHidden), StateRows(g.FinalCell));
        return Collect(spec, batch, network, mappedOutputs, double.NaN);
    }

    /// <summary>Engine outputs of the batch, per sequence in caller order.</summary>
    public static double[][] MapOutputs(NetworkSpec spec, SequenceBatch batch, ReadOnlySpan<float> outputs)
    {
        int b = batch.Count;
        var result = new double[b][];
        if (spec.OutputSize > 0 && spec.Output == OutputMode.LastHidden)
        {
            int o = spec.OutputSize;
            if (outputs.Length < b * o) throw new InvalidOperationException($"Forward returned {outputs.Length} values, expected (B = {b}, O = {o}).");
            for (int row = 0; row < b; row++) result[batch.Order[row]] = ToDouble(outputs.Slice(row * o, o));
            return result;
        }

        int width = spec.OutputSize == 0 ? spec.OutputWidth : spec.OutputSize;
        if (outputs.Length < batch.MaxLength * b * width)
            throw new InvalidOperationException($"Forward returned {outputs.Length} values, expected (T = {batch.MaxLength}, B = {b}, {width}).");
        for (int row = 0; row < b; row++)
        {
            var y = new double[batch.Lengths[row] * width];
            for (int t = 0; t < batch.Lengths[row]; t++)
                for (int j = 0; j < width; j++) y[t * width + j] = outputs[(t * b + row) * width + j];
            result[batch.Order[row]] = y;
        }

        return result;
    }

    private static EngineResult Collect(NetworkSpec spec, SequenceBatch batch, RecurrentNetwork network, double[][] outputs, double loss)
    {
        int b = batch.Count, f = spec.InputSize;
        double[][]? inputGradients = null;
        if (spec.VocabularySize == 0)
        {
            var ig = network.InputGradients;
            inputGradients = new double[b][];
            for (int row = 0; row < b; row++)
            {
                var g = new double[batch.Lengths[row] * f];
                for (int t = 0; t < batch.Lengths[row]; t++)
                    for (int j = 0; j < f; j++) g[t * f + j] = ig[(t * b + row) * f + j];
                inputGradients[batch.Order[row]] = g;
            }
        }

        return new EngineResult(
            outputs,
            loss,
            network.Gradients.Select(v => (double)v).ToArray(),
            inputGradients,
            batch.InitialHidden is null ? null : FromRows(batch, spec, network.InitialHiddenGradients),
            batch.InitialCell is null ? null : FromRows(batch, spec, network.InitialCellGradients),
            FromRows(batch, spec, network.FinalHidden),
            spec.Cell == CellKind.Lstm ? FromRows(batch, spec, network.FinalCell) : null);
    }

    /// <summary>(L · directions, B, H) in row order → per sequence (L · directions · H) in caller order.</summary>
    private static double[][] FromRows(SequenceBatch batch, NetworkSpec spec, ReadOnlySpan<float> rows)
    {
        int b = batch.Count, states = spec.NumberOfLayers * spec.Directions, hs = spec.HiddenSize;
        if (rows.Length < states * b * hs) throw new InvalidOperationException($"State buffer has {rows.Length} values, expected (L·dirs = {states}, B = {b}, H = {hs}).");
        var result = new double[b][];
        for (int row = 0; row < b; row++)
        {
            var s = new double[states * hs];
            for (int k = 0; k < states; k++)
                for (int j = 0; j < hs; j++) s[k * hs + j] = rows[(k * b + row) * hs + j];
            result[batch.Order[row]] = s;
        }

        return result;
    }

    /// <summary>Per sequence (L · directions · H) in caller order → (L · directions, B, H) in row order.</summary>
    private static float[]? ToRows(SequenceBatch batch, NetworkSpec spec, IReadOnlyList<double[]>? perSequence)
    {
        if (perSequence is null) return null;
        int b = batch.Count, states = spec.NumberOfLayers * spec.Directions, hs = spec.HiddenSize;
        var rows = new float[states * b * hs];
        for (int row = 0; row < b; row++)
            for (int k = 0; k < states; k++)
                for (int j = 0; j < hs; j++) rows[(k * b + row) * hs + j] = (float)perSequence[batch.Order[row]][k * hs + j];
        return rows;
    }

    private static float[] ToFloat(double[] values) => values.Select(v => (float)v).ToArray();

    private static double[] ToDouble(ReadOnlySpan<float> values)
    {
        var d = new double[values.Length];
        for (int i = 0; i < d.Length; i++) d[i] = values[i];
        return d;
    }
}
