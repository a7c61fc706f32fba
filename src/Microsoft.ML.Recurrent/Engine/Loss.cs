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
                if (weighted)
                {
                    total += WeightedRow(kind, yr, targets.AsSpan(row * w, kind == LossKind.SoftmaxCrossEntropy ? 1 : O), weights[r], scale, dr, batch.Order[r]);
                    continue;
                }

                switch (kind)
                {
                    case LossKind.MeanSquaredError:
                        for (int j = 0; j < O; j++)
                        {
                            float diff = yr[j] - targets[row * w + j];
                            total += (double)diff * diff;
                            dr[j] = 2f * diff * scale;
                        }

                        break;
                    case LossKind.BinaryCrossEntropy:
                        for (int j = 0; j < O; j++)
                        {
                            double z = yr[j], target = targets[row * w + j];
                            // max(z, 0) − z·t + log(1 + e^−|z|): stable for any z.
                            total += Math.Max(z, 0) - z * target + Math.Log(1 + Math.Exp(-Math.Abs(z)));
                            dr[j] = (float)((Sigmoid(z) - target) * scale);
                        }

                        break;
                    case LossKind.SoftmaxCrossEntropy:
                    {
                        float c = targets[row];
                        int cls = (int)c;
                        if (cls != c || cls < 0 || cls >= O)
                            throw new ArgumentException($"Class index {c} of sequence {batch.Order[r]} is outside [0, {O}).");
                        double max = double.NegativeInfinity;
                        for (int j = 0; j < O; j++) max = Math.Max(max, yr[j]);
                        double sum = 0;
                        for (int j = 0; j < O; j++) sum += Math.Exp(yr[j] - max);
                        double logSum = max + Math.Log(sum);
                        total += logSum - yr[cls];
                        for (int j = 0; j < O; j++)
                            dr[j] = (float)((Math.Exp(yr[j] - logSum) - (j == cls ? 1 : 0)) * scale);
                        break;
                    }

                    default:
                        throw new ArgumentOutOfRangeException(nameof(kind));
                }
            }
        }

        return (float)(total / denom);
    }

    /// <summary>One weighted output row: adds nothing to the shared path above, so unweighted batches keep their bits.</summary>
    private static double WeightedRow(LossKind kind, ReadOnlySpan<float> yr, ReadOnlySpan<float> target, float weight, float scale, Span<float> dr, int sequence)
    {
        int O = yr.Length;
        double total = 0;
        float ws = weight * scale;
        switch (kind)
        {
            case LossKind.MeanSquaredError:
                for (int j = 0; j < O; j++)
                {
                    float diff = yr[j] - target[j];
                    total += (double)diff * diff;
                    dr[j] = 2f * diff * ws;
                }

                break;
            case LossKind.BinaryCrossEntropy:
                for (int j = 0; j < O; j++)
                {
                    double z = yr[j], t = target[j];
                    total += Math.Max(z, 0) - z * t + Math.Log(1 + Math.Exp(-Math.Abs(z)));
                    dr[j] = (float)((Sigmoid(z) - t) * ws);
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
                    dr[j] = (float)((Math.Exp(yr[j] - logSum) - (j == cls ? 1 : 0)) * ws);
                break;
            }

            default:
                throw new ArgumentOutOfRangeException(nameof(kind));
        }

        return total * weight;
    }

    private static double Sigmoid(double z) => z >= 0 ? 1 / (1 + Math.Exp(-z)) : Math.Exp(z) / (1 + Math.Exp(z));
}
