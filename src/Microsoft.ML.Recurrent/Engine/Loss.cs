namespace Microsoft.ML.Recurrent.Engine;

/// <summary>Losses on the head's outputs, with their gradients. Sums run in double.</summary>
internal static class Loss
{
    /// <summary>
    /// Computes the mean loss of a batch and writes d(loss)/d(outputs) into <paramref name="dOutputs"/>
    /// (same shape as <paramref name="outputs"/>; zero on padding steps).
    /// MSE and BCE-with-logits average over every valid output element; softmax cross-entropy averages over
    /// rows (LastHidden) or valid steps (EveryStep), with the target class index stored as a float.
    /// With example weights (<see cref="SequenceBatch.HasWeights"/>) every term of row r counts w_r times: the mean is
    /// Σ w_r·loss_r / Σ w_r, so weight 2 is the same as the row appearing twice. A batch whose weights sum to 0
    /// has loss 0 and zero gradients.
    /// </summary>
    public static float Compute(LossKind kind, ReadOnlySpan<float> outputs, SequenceBatch batch, OutputMode mode, int outputSize, Span<float> dOutputs)
    {
        int B = batch.Count, O = outputSize;
        int T = mode == OutputMode.EveryStep ? batch.MaxLength : 1;
        int w = kind == LossKind.SoftmaxCrossEntropy ? 1 : O;
        if (batch.TargetWidth != w)
            throw new ArgumentException($"The loss {kind} needs {w} target value(s) per output row; the batch has {batch.TargetWidth}.");
        long valid = 0;
        for (int t = 0; t < T; t++) valid += mode == OutputMode.EveryStep ? batch.ActiveAt(t) : B;
        bool weighted = batch.HasWeights;
        var weights = batch.Weights;
        double weightSum = valid;
        if (weighted)
        {
            weightSum = 0;
            for (int t = 0; t < T; t++)
            {
                int active = mode == OutputMode.EveryStep ? batch.ActiveAt(t) : B;
                for (int r = 0; r < active; r++) weightSum += weights[r];
            }

            if (weightSum == 0)
            {
                dOutputs.Slice(0, T * B * O).Clear();
                return 0f;
            }
        }

        double denom = kind == LossKind.SoftmaxCrossEntropy ? weightSum : weightSum * O;
        float scale = (float)(1.0 / denom);
        double total = 0;
        var y = outputs.Slice(0, T * B * O);
        var dy = dOutputs.Slice(0, T * B * O);
        var targets = batch.Targets;
        for (int t = 0; t < T; t++)
        {
            int active = mode == OutputMode.EveryStep ? batch.ActiveAt(t) : B;
            for (int r = 0; r < B; r++)
            {
                int row = t * B + r;
                var yr = y.Slice(row * O, O);
                var dr = dy.Slice(row * O, O);
                if (r >= active) { dr.Clear(); continue; }
                var target = targets.AsSpan(row * w, w);
                if (weighted)
                {
                    double rowTotal = 0;
                    Row(kind, yr, target, weights[r] * scale, dr, batch.Order[r], ref rowTotal);
                    total += rowTotal * weights[r];
                }
                else
                {
                    Row(kind, yr, target, scale, dr, batch.Order[r], ref total);
                }
            }
        }

        return (float)(total / denom);
    }

    /// <summary>
    /// One output row: adds its loss terms (unweighted) into <paramref name="total"/> and writes their gradients times
    /// <paramref name="gradientScale"/> (1 / denominator, times the row's weight when weighted) into <paramref name="dr"/>.
    /// </summary>
    private static void Row(LossKind kind, ReadOnlySpan<float> yr, ReadOnlySpan<float> target, float gradientScale, Span<float> dr,
        int sequence, ref double total)
    {
        int O = yr.Length;
        switch (kind)
        {
            case LossKind.MeanSquaredError:
                for (int j = 0; j < O; j++)
                {
                    float diff = yr[j] - target[j];
                    total += (double)diff * diff;
                    dr[j] = 2f * diff * gradientScale;
                }

                break;
            case LossKind.BinaryCrossEntropy:
                for (int j = 0; j < O; j++)
                {
                    double z = yr[j], t = target[j];
                    // max(z, 0) − z·t + log(1 + e^−|z|): stable for any z.
                    total += Math.Max(z, 0) - z * t + Math.Log(1 + Math.Exp(-Math.Abs(z)));
                    dr[j] = (float)((Sigmoid(z) - t) * gradientScale);
                }

                break;
            case LossKind.SoftmaxCrossEntropy:
            {
                float c = target[0];
                int cls = (int)c;
                if (cls != c || cls < 0 || cls >= O)
                    throw new ArgumentException($"Class index {c} of sequence {sequence} is outside [0, {O}).");
                double max = double.NegativeInfinity;
                for (int j = 0; j < O; j++) max = Math.Max(max, yr[j]);
                double sum = 0;
                for (int j = 0; j < O; j++) sum += Math.Exp(yr[j] - max);
                double logSum = max + Math.Log(sum);
                total += logSum - yr[cls];
                for (int j = 0; j < O; j++)
                    dr[j] = (float)((Math.Exp(yr[j] - logSum) - (j == cls ? 1 : 0)) * gradientScale);
                break;
            }

            default:
                throw new ArgumentOutOfRangeException(nameof(kind));
        }
    }

    private static double Sigmoid(double z) => z >= 0 ? 1 / (1 + Math.Exp(-z)) : Math.Exp(z) / (1 + Math.Exp(z));
}
