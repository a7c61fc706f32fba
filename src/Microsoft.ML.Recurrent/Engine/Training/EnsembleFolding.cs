namespace Microsoft.ML.Recurrent.Engine.Training;

/// <summary>
/// Folds K networks of one shape (an ensemble of seeds) into a single network whose output is the mean of theirs,
/// exactly: the members' hidden units sit side by side (H' = K·H; embeddings E' = K·E), every weight that would connect
/// two members is zero (W_hh and deeper layers' W_ih are block-diagonal), and the head reads every member's final
/// states with its weights divided by K and the mean of the biases. Each gate block keeps PyTorch's layout, member k's
/// units at rows g·H' + k·H + j; a bidirectional layer's output is [forward H' | reverse H'], member k's slice at
/// k·H in each half. The result is an ordinary <see cref="NetworkSpec"/> that the model format, serving and ONNX
/// export take unchanged; the price is K² times one member's recurrent work at prediction (the zeros are multiplied).
/// </summary>
internal static class EnsembleFolding
{
    public static (NetworkSpec Spec, float[] Parameters) Fold(NetworkSpec member, IReadOnlyList<float[]> members)
    {
        ArgumentNullException.ThrowIfNull(member);
        ArgumentNullException.ThrowIfNull(members);
        int K = members.Count;
        if (K < 1) throw new ArgumentException("An ensemble needs at least one member.", nameof(members));
        var from = new ParameterLayout(member);
        foreach (var m in members)
        {
            if (m.Length != from.Count)
                throw new ArgumentException($"A member has {m.Length} parameters; the shape needs {from.Count}.", nameof(members));
        }

        if (K == 1) return (member, members[0]);
        int H = member.HiddenSize, E = member.EmbeddingSize, V = member.VocabularySize, G = member.Gates;
        int KH = K * H;
        var spec = member with { HiddenSize = KH, EmbeddingSize = V > 0 ? K * E : E };
        var to = new ParameterLayout(spec);
        var p = new float[to.Count];
        int O = spec.OutputSize, D = member.OutputWidth, DK = spec.OutputWidth;
        var biasSum = new double[O];
        for (int k = 0; k < K; k++)
        {
            var q = members[k];
            if (V > 0)
            {
                var src = from.Embedding.Of(q);
                var dst = to.Embedding.Of(p);
                for (int v = 0; v < V; v++) src.Slice(v * E, E).CopyTo(dst.Slice(v * K * E + k * E, E));
            }

            for (int l = 0; l < member.NumberOfLayers; l++)
            {
                int inFrom = member.LayerInputSize(l), inTo = spec.LayerInputSize(l);
                for (int d = 0; d < member.Directions; d++)
                {
                    var s = from.Cell(l, d);
                    var t = to.Cell(l, d);
                    ReadOnlySpan<float> wih = s.WeightIh.Of(q), whh = s.WeightHh.Of(q), bih = s.BiasIh.Of(q), bhh = s.BiasHh.Of(q);
                    Span<float> wihTo = t.WeightIh.Of(p), whhTo = t.WeightHh.Of(p), bihTo = t.BiasIh.Of(p), bhhTo = t.BiasHh.Of(p);
                    for (int g = 0; g < G; g++)
                    {
                        for (int j = 0; j < H; j++)
                        {
                            int rowFrom = g * H + j, rowTo = g * KH + k * H + j;
                            for (int c = 0; c < inFrom; c++)
                                wihTo[rowTo * inTo + InputColumn(l, c, k, H, E, V, KH)] = wih[rowFrom * inFrom + c];
                            whh.Slice(rowFrom * H, H).CopyTo(whhTo.Slice(rowTo * KH + k * H, H));
                            bihTo[rowTo] = bih[rowFrom];
                            bhhTo[rowTo] = bhh[rowFrom];
                        }
                    }
                }
            }

            ReadOnlySpan<float> head = from.HeadWeight.Of(q), headBias = from.HeadBias.Of(q);
            var headTo = to.HeadWeight.Of(p);
            for (int o = 0; o < O; o++)
            {
                for (int c = 0; c < D; c++) headTo[o * DK + (c / H) * KH + k * H + c % H] = head[o * D + c] / K;
                biasSum[o] += headBias[o];
            }
        }

        var biasTo = to.HeadBias.Of(p);
        for (int o = 0; o < O; o++) biasTo[o] = (float)(biasSum[o] / K);
        return (spec, p);
    }

    /// <summary>Where member k's input column c of layer l lands in the folded layer's input.</summary>
    private static int InputColumn(int l, int c, int k, int H, int E, int V, int KH)
    {
        if (l > 0) return (c / H) * KH + k * H + c % H; // [forward | reverse] halves of the layer below
        return V > 0 ? k * E + c : c;                    // own embedding slice, or the shared raw features
    }
}
