using Microsoft.ML.Recurrent.Engine;

namespace Microsoft.ML.Recurrent.Tests.Helpers;

/// <summary>What the reference computes for one sequence.</summary>
/// <param name="Outputs">Head outputs: (O) for LastHidden, (T · O) for EveryStep; without a head (O = 0) the top layer's outputs (T · D).</param>
/// <param name="TopOutputs">The top layer's outputs (T · D), [fwd_t ‖ bwd_t] at each step.</param>
/// <param name="FinalHidden">(L · directions, H): forward = state after step T−1, reverse = state after step 0.</param>
/// <param name="FinalCell">(L · directions, H) for LSTM; zeros for the other cells.</param>
internal sealed record ReferenceResult(double[] Outputs, double[] TopOutputs, double[] FinalHidden, double[] FinalCell);

/// <summary>
/// A plain, scalar, double-precision forward pass of the whole network — the ground truth for the engine's
/// tests. It reads parameters from a flat double buffer laid out exactly as <see cref="ParameterLayout"/> says,
/// and processes each sequence on its own (no batch, no padding, no masking): whatever the engine does with
/// a padded batch must give what this gives per sequence. Written for clarity, not speed; no dropout.
/// </summary>
internal static class ReferenceNetwork
{
    /// <summary>
    /// Runs one sequence. <paramref name="sequence"/> is (T · F) time-major (token ids as values with an embedding);
    /// <paramref name="h0"/>/<paramref name="c0"/> are (L · directions, H) in PyTorch's h_0 order, null = zeros.
    /// </summary>
    public static ReferenceResult Run(NetworkSpec spec, double[] parameters, double[] sequence, double[]? h0 = null, double[]? c0 = null)
    {
        var layout = new ParameterLayout(spec);
        if (spec.Dropout != 0f) throw new ArgumentException("The reference has no dropout: Dropout must be 0.", nameof(spec));
        if (parameters.Length != layout.Count) throw new ArgumentException($"Expected {layout.Count} parameters, got {parameters.Length}.", nameof(parameters));
        int f = spec.InputSize, hs = spec.HiddenSize, dirs = spec.Directions, states = spec.NumberOfLayers * dirs;
        if (sequence.Length == 0 || sequence.Length % f != 0) throw new ArgumentException($"Sequence length {sequence.Length} is not a positive multiple of {f}.", nameof(sequence));
        if (h0 is not null && h0.Length != states * hs) throw new ArgumentException($"h0 must have {states * hs} values.", nameof(h0));
        if (c0 is not null && c0.Length != states * hs) throw new ArgumentException($"c0 must have {states * hs} values.", nameof(c0));
        if (c0 is not null && spec.Cell != CellKind.Lstm) throw new ArgumentException("c0 is only meaningful for an LSTM.", nameof(c0));
        int steps = sequence.Length / f;

        // Layer-0 input: (T, I_0).
        double[][] x = new double[steps][];
        for (int t = 0; t < steps; t++)
        {
            if (spec.VocabularySize > 0)
            {
                double value = sequence[t];
                int id = (int)value;
                if (id != value || id < 0 || id >= spec.VocabularySize) throw new ArgumentException($"Token {value} at step {t} is not an id in [0, {spec.VocabularySize}).", nameof(sequence));
                x[t] = new double[spec.EmbeddingSize];
                for (int e = 0; e < spec.EmbeddingSize; e++)
                    x[t][e] = parameters[layout.Embedding.Offset + id * spec.EmbeddingSize + e];
            }
            else
            {
                x[t] = sequence.AsSpan(t * f, f).ToArray();
            }
        }

        var finalHidden = new double[states * hs];
        var finalCell = new double[states * hs];
        for (int l = 0; l < spec.NumberOfLayers; l++)
        {
            int inSize = spec.LayerInputSize(l);
            double[][] y = new double[steps][];
            for (int t = 0; t < steps; t++) y[t] = new double[spec.OutputWidth];
            for (int d = 0; d < dirs; d++)
            {
                int k = l * dirs + d;
                var h = new double[hs];
                var c = new double[hs];
                if (h0 is not null) Array.Copy(h0, k * hs, h, 0, hs);
                if (c0 is not null) Array.Copy(c0, k * hs, c, 0, hs);
                for (int s = 0; s < steps; s++)
                {
                    int t = d == 0 ? s : steps - 1 - s;
                    Step(spec.Cell, parameters, layout.Cell(l, d), inSize, hs, x[t], h, c);
                    Array.Copy(h, 0, y[t], d * hs, hs);
                }

                Array.Copy(h, 0, finalHidden, k * hs, hs);
                Array.Copy(c, 0, finalCell, k * hs, hs);
            }

            x = y;
        }

        int width = spec.OutputWidth, o = spec.OutputSize;
        var top = new double[steps * width];
        for (int t = 0; t < steps; t++) Array.Copy(x[t], 0, top, t * width, width);
        double[] outputs;
        if (o == 0)
        {
            outputs = (double[])top.Clone();
        }
        else if (spec.Output == OutputMode.LastHidden)
        {
            // [h_fwd_final ‖ h_bwd_final] of the top layer.
            var last = new double[width];
            Array.Copy(finalHidden, (spec.NumberOfLayers - 1) * dirs * hs, last, 0, width);
            outputs = Head(parameters, layout, last);
        }
        else
        {
            outputs = new double[steps * o];
            for (int t = 0; t < steps; t++) Head(parameters, layout, x[t]).CopyTo(outputs, t * o);
        }

        return new ReferenceResult(outputs, top, finalHidden, finalCell);
    }

    /// <summary>Head outputs of each sequence (see <see cref="ReferenceResult.Outputs"/>).</summary>
    public static double[][] Forward(NetworkSpec spec, double[] parameters, IReadOnlyList<double[]> sequences,
        IReadOnlyList<double[]>? h0 = null, IReadOnlyList<double[]>? c0 = null)
    {
        var result = new double[sequences.Count][];
        for (int i = 0; i < sequences.Count; i++)
            result[i] = Run(spec, parameters, sequences[i], h0?[i], c0?[i]).Outputs;
        return result;
    }

    /// <summary>
    /// The batch loss of <paramref name="sequences"/> against <paramref name="targets"/> (per sequence: O values, or
    /// one class index for softmax cross-entropy; for EveryStep T_i times that), averaged as the engine defines it.
    /// </summary>
    public static double Loss(NetworkSpec spec, double[] parameters, IReadOnlyList<double[]> sequences, IReadOnlyList<double[]> targets,
        LossKind loss, IReadOnlyList<double[]>? h0 = null, IReadOnlyList<double[]>? c0 = null)
    {
        if (spec.OutputSize == 0) throw new ArgumentException("A loss needs a head (OutputSize > 0).", nameof(spec));
        return LossOfOutputs(loss, spec.OutputSize, Forward(spec, parameters, sequences, h0, c0), targets);
    }

    /// <summary>
    /// The loss of given outputs. Each <paramref name="outputs"/>[i] holds k_i rows of <paramref name="outputSize"/> values
    /// (k_i = 1 for LastHidden, T_i for EveryStep); <paramref name="targets"/>[i] holds k_i rows of O values (MSE, BCE)
    /// or k_i class indices (softmax CE).
    /// MSE = Σ (y − t)² / (rows · O); BCE = Σ [max(y, 0) − y t + log(1 + e^{−|y|})] / (rows · O);
    /// softmax CE = Σ_rows [log Σ_j e^{y_j} − y_class] / rows; rows counted over the whole batch.
    /// </summary>
    public static double LossOfOutputs(LossKind loss, int outputSize, IReadOnlyList<double[]> outputs, IReadOnlyList<double[]> targets)
    {
        if (outputs.Count != targets.Count) throw new ArgumentException("One target per sequence.", nameof(targets));
        int o = outputSize;
        double total = 0;
        long rows = 0;
        for (int i = 0; i < outputs.Count; i++)
        {
            double[] y = outputs[i], target = targets[i];
            if (y.Length % o != 0) throw new ArgumentException($"Outputs of sequence {i} are not rows of {o}.", nameof(outputs));
            int k = y.Length / o;
            int width = loss == LossKind.SoftmaxCrossEntropy ? 1 : o;
            if (target.Length != k * width) throw new ArgumentException($"Sequence {i} has {target.Length} target values, expected {k * width}.", nameof(targets));
            rows += k;
            for (int r = 0; r < k; r++)
            {
                switch (loss)
                {
                    case LossKind.MeanSquaredError:
                        for (int j = 0; j < o; j++) { double e = y[r * o + j] - target[r * o + j]; total += e * e; }
                        break;
                    case LossKind.BinaryCrossEntropy:
                        for (int j = 0; j < o; j++)
                        {
                            double z = y[r * o + j], t = target[r * o + j];
                            total += Math.Max(z, 0) - z * t + Math.Log(1 + Math.Exp(-Math.Abs(z)));
                        }

                        break;
                    case LossKind.SoftmaxCrossEntropy:
                        {
                            int cls = (int)target[r];
                            if (cls != target[r] || cls < 0 || cls >= o) throw new ArgumentException($"Class {target[r]} is not in [0, {o}).", nameof(targets));
                            double max = double.NegativeInfinity;
                            for (int j = 0; j < o; j++) max = Math.Max(max, y[r * o + j]);
                            double sum = 0;
                            for (int j = 0; j < o; j++) sum += Math.Exp(y[r * o + j] - max);
                            total += max + Math.Log(sum) - y[r * o + cls];
                            break;
                        }

                    default:
                        throw new ArgumentOutOfRangeException(nameof(loss));
                }
            }
        }

        return loss == LossKind.SoftmaxCrossEntropy ? total / rows : total / (rows * o);
    }

    /// <summary>One cell step: updates <paramref name="h"/> (and <paramref name="c"/> for an LSTM) in place.</summary>
    private static void Step(CellKind cell, double[] p, CellSlices s, int inSize, int hs, double[] x, double[] h, double[] c)
    {
        int gates = cell switch { CellKind.Lstm => 4, CellKind.Gru => 3, _ => 1 };
        var gi = new double[gates * hs]; // W_ih x + b_ih
        var gh = new double[gates * hs]; // W_hh h + b_hh
        for (int r = 0; r < gates * hs; r++)
        {
            double a = p[s.BiasIh.Offset + r];
            for (int j = 0; j < inSize; j++) a += p[s.WeightIh.Offset + r * inSize + j] * x[j];
            gi[r] = a;
            double b = p[s.BiasHh.Offset + r];
            for (int j = 0; j < hs; j++) b += p[s.WeightHh.Offset + r * hs + j] * h[j];
            gh[r] = b;
        }

        for (int j = 0; j < hs; j++)
        {
            switch (cell)
            {
                case CellKind.SimpleRnn:
                    h[j] = Math.Tanh(gi[j] + gh[j]);
                    break;
                case CellKind.Lstm:
                    {
                        double i = Sigmoid(gi[j] + gh[j]);
                        double f = Sigmoid(gi[hs + j] + gh[hs + j]);
                        double g = Math.Tanh(gi[2 * hs + j] + gh[2 * hs + j]);
                        double o = Sigmoid(gi[3 * hs + j] + gh[3 * hs + j]);
                        c[j] = f * c[j] + i * g;
                        h[j] = o * Math.Tanh(c[j]);
                        break;
                    }

                case CellKind.Gru:
                    {
                        double r = Sigmoid(gi[j] + gh[j]);
                        double z = Sigmoid(gi[hs + j] + gh[hs + j]);
                        double n = Math.Tanh(gi[2 * hs + j] + r * gh[2 * hs + j]);
                        h[j] = (1 - z) * n + z * h[j];
                        break;
                    }

                default:
                    throw new ArgumentOutOfRangeException(nameof(cell));
            }
        }
    }

    private static double[] Head(double[] p, ParameterLayout layout, double[] v)
    {
        int o = layout.Spec.OutputSize, d = v.Length;
        var y = new double[o];
        for (int r = 0; r < o; r++)
        {
            double a = p[layout.HeadBias.Offset + r];
            for (int j = 0; j < d; j++) a += p[layout.HeadWeight.Offset + r * d + j] * v[j];
            y[r] = a;
        }

        return y;
    }

    private static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));
}
