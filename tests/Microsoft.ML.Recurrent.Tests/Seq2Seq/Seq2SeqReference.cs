using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Seq2Seq;
using Microsoft.ML.Recurrent.Tests.Helpers;

namespace Microsoft.ML.Recurrent.Tests.Seq2Seq;

/// <summary>A source–target pair for the tests: source values (T·F, or token ids) and target keys 1..K.</summary>
internal sealed record Pair(float[] Source, int[] Target);

/// <summary>
/// Double-precision reference of the encoder–decoder's teacher-forced loss: the encoder and the decoder run through
/// <see cref="ReferenceNetwork"/> one sequence at a time (no batch, no padding), the attention and the output projection
/// are written out here from their equations, scalar and plain.
/// </summary>
internal static class Seq2SeqReference
{
    /// <summary>Per pair: (Td, C) logits and (Td, Ts) attention weights.</summary>
    public static (double[][] Logits, double[][] Attention) Forward(Seq2SeqSpec spec, double[] enc, double[] dec, double[] head, IReadOnlyList<Pair> pairs)
    {
        var layout = new Seq2SeqHeadLayout(spec);
        int H = spec.HiddenSize, D = spec.SourceWidth, A = spec.AttentionSize, C = spec.Classes, L = spec.NumberOfLayers;
        int dirs = spec.Bidirectional ? 2 : 1, F = spec.Encoder.InputSize, Z = H + spec.ContextWidth;
        var logits = new double[pairs.Count][];
        var attention = new double[pairs.Count][];
        for (int p = 0; p < pairs.Count; p++)
        {
            var src = pairs[p].Source.Select(v => (double)v).ToArray();
            int Ts = src.Length / F;
            var er = ReferenceNetwork.Run(spec.Encoder, enc, src);
            var h0 = new double[L * H];
            var c0 = spec.Cell == CellKind.Lstm ? new double[L * H] : null;
            for (int l = 0; l < L; l++)
                for (int d = 0; d < dirs; d++)
                    for (int j = 0; j < H; j++)
                    {
                        h0[l * H + j] += er.FinalHidden[(l * dirs + d) * H + j];
                        if (c0 is not null) c0[l * H + j] += er.FinalCell[(l * dirs + d) * H + j];
                    }

            var tgt = pairs[p].Target;
            var decIn = new double[tgt.Length + 1];
            decIn[0] = spec.StartId;
            for (int k = 0; k < tgt.Length; k++) decIn[k + 1] = tgt[k];
            var dr = ReferenceNetwork.Run(spec.Decoder, dec, decIn, h0, c0);
            int Td = decIn.Length;
            logits[p] = new double[Td * C];
            attention[p] = new double[Td * Ts];
            for (int t = 0; t < Td; t++)
            {
                var z = new double[Z];
                for (int j = 0; j < H; j++) z[j] = dr.TopOutputs[t * H + j];
                if (spec.Attention != AttentionKind.None)
                {
                    var score = new double[Ts];
                    for (int s = 0; s < Ts; s++)
                    {
                        if (spec.Attention == AttentionKind.Dot)
                        {
                            for (int i = 0; i < H; i++)
                            {
                                double k = 0;
                                for (int j = 0; j < D; j++) k += head[layout.WeightA.Offset + i * D + j] * er.TopOutputs[s * D + j];
                                score[s] += z[i] * k;
                            }
                        }
                        else
                        {
                            for (int a = 0; a < A; a++)
                            {
                                double x = head[layout.BiasA.Offset + a];
                                for (int j = 0; j < H; j++) x += head[layout.W1.Offset + a * H + j] * z[j];
                                for (int j = 0; j < D; j++) x += head[layout.W2.Offset + a * D + j] * er.TopOutputs[s * D + j];
                                score[s] += head[layout.V.Offset + a] * Math.Tanh(x);
                            }
                        }
                    }

                    double max = score.Max(), sum = 0;
                    for (int s = 0; s < Ts; s++) { score[s] = Math.Exp(score[s] - max); sum += score[s]; }
                    for (int s = 0; s < Ts; s++)
                    {
                        double alpha = score[s] / sum;
                        attention[p][t * Ts + s] = alpha;
                        for (int j = 0; j < D; j++) z[H + j] += alpha * er.TopOutputs[s * D + j];
                    }
                }

                for (int c = 0; c < C; c++)
                {
                    double y = head[layout.OutBias.Offset + c];
                    for (int j = 0; j < Z; j++) y += head[layout.OutWeight.Offset + c * Z + j] * z[j];
                    logits[p][t * C + c] = y;
                }
            }
        }

        return (logits, attention);
    }

    /// <summary>Mean cross-entropy over every target step and the end step of every pair.</summary>
    public static double Loss(Seq2SeqSpec spec, double[] enc, double[] dec, double[] head, IReadOnlyList<Pair> pairs)
    {
        var (logits, _) = Forward(spec, enc, dec, head, pairs);
        int C = spec.Classes;
        double total = 0;
        int count = 0;
        for (int p = 0; p < pairs.Count; p++)
        {
            var tgt = pairs[p].Target;
            for (int t = 0; t <= tgt.Length; t++)
            {
                int cls = t < tgt.Length ? tgt[t] : 0;
                double max = double.NegativeInfinity;
                for (int c = 0; c < C; c++) max = Math.Max(max, logits[p][t * C + c]);
                double sum = 0;
                for (int c = 0; c < C; c++) sum += Math.Exp(logits[p][t * C + c] - max);
                total += max + Math.Log(sum) - logits[p][t * C + cls];
                count++;
            }
        }

        return total / count;
    }
}

/// <summary>Builds engine batches and networks for a list of pairs.</summary>
internal static class Seq2SeqHarness
{
    public static (SequenceBatch Source, SequenceBatch Target) Batches(Seq2SeqSpec spec, IReadOnlyList<Pair> pairs)
    {
        int F = spec.Encoder.InputSize;
        int maxS = pairs.Max(p => p.Source.Length / F), maxT = pairs.Max(p => p.Target.Length + 1);
        var src = new SequenceBatch(pairs.Count, maxS, F, 0);
        var tgt = new SequenceBatch(pairs.Count, maxT, 1, 1);
        src.Fill(pairs.Count, i => pairs[i].Source, null, false);
        tgt.Fill(pairs.Count,
            i => new[] { (float)spec.StartId }.Concat(pairs[i].Target.Select(k => (float)k)).ToArray(),
            i => pairs[i].Target.Select(k => (float)k).Append(0f).ToArray(), true);
        return (src, tgt);
    }

    public static (float[] Enc, float[] Dec, float[] Head) RandomParameters(Seq2SeqSpec spec, int seed, float scale = 0.6f)
    {
        var random = new Random(seed);
        float[] Make(int n) => Enumerable.Range(0, n).Select(_ => (float)((random.NextDouble() * 2 - 1) * scale)).ToArray();
        var enc = Make(new ParameterLayout(spec.Encoder).Count);
        var dec = Make(new ParameterLayout(spec.Decoder).Count);
        var head = Make(new Seq2SeqHeadLayout(spec).Count);
        // Embedding row 0 (padding/unknown) is zero by the engine's convention.
        if (spec.SourceVocabulary > 0) Array.Clear(enc, 0, spec.SourceEmbedding);
        Array.Clear(dec, 0, spec.TargetEmbedding);
        return (enc, dec, head);
    }
}
