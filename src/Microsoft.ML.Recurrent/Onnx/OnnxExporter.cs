using Microsoft.ML.Recurrent.Engine;

namespace Microsoft.ML.Recurrent.Onnx;

/// <summary>
/// Writes a trained network (a <see cref="NetworkSpec"/> and its flat parameter buffer) as a standalone ONNX model
/// (IR 7, opset 14, default domain only) that ONNX Runtime evaluates with the engine's outputs.
/// </summary>
/// <remarks>
/// <para><b>Input</b> (<see cref="OnnxExportOptions.InputName"/>, default "features"), batch-first:</para>
/// <list type="bullet">
/// <item>without an embedding: float <c>[batch, T, F]</c>, F = <see cref="NetworkSpec.InputSize"/> fixed;</item>
/// <item>with an embedding: int64 token ids <c>[batch, T]</c> in 0 … V−1 (id 0 = unknown, row 0 of the table);
/// an id outside that range is an ONNX Runtime error.</item>
/// </list>
/// <para>"batch" and "T" are symbolic. Every sequence of one call has the same length T: the graph has no
/// sequence_lens input, so callers must not pad (a padded step would change the state). Initial states are zero.</para>
/// <para><b>Outputs</b>, float:</para>
/// <list type="bullet">
/// <item>"score" (<see cref="OnnxExportOptions.ScoreName"/>): the raw head outputs, <c>[batch, O]</c> for
/// <see cref="OutputMode.LastHidden"/> (the head reads the top layer's final state, forward final ‖ reverse final), or
/// <c>[batch, T, O]</c> for <see cref="OutputMode.EveryStep"/>. Without a head (O = 0) it is the top layer's state
/// instead: <c>[batch, D]</c> (final state) or <c>[batch, T, D]</c> (every step), D = H · directions.</item>
/// <item>"probability" (<see cref="OnnxExportOptions.ProbabilityName"/>, only when
/// <see cref="OnnxExportOptions.OutputActivation"/> is not None): Sigmoid(score) or Softmax(score) over the last axis,
/// same shape as "score".</item>
/// </list>
/// <para><b>Graph</b>: [Gather] → Transpose to time-major <c>[T, batch, I]</c> → per layer one ONNX RNN/LSTM/GRU node
/// (direction "forward" or "bidirectional"; W, R, B stacked over directions; gate blocks reordered from PyTorch's
/// i,f,g,o / r,z,n to ONNX's i,o,f,c / z,r,h; GRU with linear_before_reset = 1; B = [W_b ‖ R_b]) → between layers
/// Y <c>[T, dirs, batch, H]</c> → Transpose + Reshape → <c>[T, batch, dirs·H]</c> → head: Gemm on the final state,
/// or MatMul + Add on every step.</para>
/// </remarks>
internal static class OnnxExporter
{
    private const string Batch = "batch";
    private const string Time = "T";

    /// <summary>Builds the ONNX model bytes. Throws <see cref="ArgumentException"/> on an invalid spec, buffer or options.</summary>
    public static byte[] Export(NetworkSpec spec, float[] parameters, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(parameters);
        options ??= OnnxExportOptions.Default;
        var layout = new ParameterLayout(spec); // validates the spec
        if (parameters.Length != layout.Count)
            throw new ArgumentException($"The network has {layout.Count} parameters but the buffer holds {parameters.Length}.", nameof(parameters));
        if (!Enum.IsDefined(options.OutputActivation))
            throw new ArgumentException($"Unknown output activation {(int)options.OutputActivation}.", nameof(options));
        if (options.OutputActivation == OnnxOutputActivation.Softmax && spec.OutputSize < 1)
            throw new ArgumentException("A softmax output needs a dense head (OutputSize ≥ 1).", nameof(options));

        var g = new OnnxGraph("recurrent_network");
        string x = AddInput(g, spec, layout, parameters, options.InputName);
        string score = g.Reserve(options.ScoreName);
        string? probability = options.OutputActivation == OnnxOutputActivation.None ? null : g.Reserve(options.ProbabilityName);

        // (batch, T, I) → (T, batch, I): the recurrent operators are time-major.
        x = g.Node("Transpose", new[] { x }, "x_time_major", OnnxAttribute.Ints("perm", 1, 0, 2));

        int width = spec.OutputWidth;
        string? finalHidden = null;
        for (int l = 0; l < spec.NumberOfLayers; l++)
        {
            bool top = l == spec.NumberOfLayers - 1;
            bool needSequence = !top || spec.Output == OutputMode.EveryStep;
            bool needFinal = top && spec.Output == OutputMode.LastHidden;
            (string y, string yH) = AddRecurrentLayer(g, spec, layout, parameters, l, x, needSequence, needFinal);
            if (needSequence)
            {
                // Y (T, dirs, batch, H) → (T, batch, dirs, H) → (T, batch, dirs·H): forward ‖ reverse per step.
                string t = g.Node("Transpose", new[] { y }, $"l{l}_y_t", OnnxAttribute.Ints("perm", 0, 2, 1, 3));
                x = g.Node("Reshape", new[] { t, Shape(g, $"l{l}_y_shape", 0, 0, width) }, $"l{l}_out");
            }

            if (needFinal) finalHidden = yH;
        }

        int o = spec.OutputSize;
        bool hasHead = o > 0;
        if (spec.Output == OutputMode.LastHidden)
        {
            // Y_h (dirs, batch, H) → (batch, dirs, H) → (batch, dirs·H).
            string t = g.Node("Transpose", new[] { finalHidden! }, "final_t", OnnxAttribute.Ints("perm", 1, 0, 2));
            string shape = Shape(g, "final_shape", 0, width);
            if (!hasHead)
            {
                g.NodeTo("Reshape", new[] { t, shape }, score);
            }
            else
            {
                string h = g.Node("Reshape", new[] { t, shape }, "final_hidden");
                string w = g.AddInitializer("head_weight", new long[] { o, width }, layout.HeadWeight.Of(parameters).ToArray());
                string b = g.AddInitializer("head_bias", new long[] { o }, layout.HeadBias.Of(parameters).ToArray());
                g.NodeTo("Gemm", new[] { h, w, b }, score, OnnxAttribute.Int("transB", 1));
            }

            g.AddOutput(score, OnnxDataType.Float, Batch, hasHead ? o : width);
        }
        else
        {
            // (T, batch, D) → (batch, T, D); the head is applied at every step.
            if (!hasHead)
            {
                g.NodeTo("Transpose", new[] { x }, score, OnnxAttribute.Ints("perm", 1, 0, 2));
            }
            else
            {
                string seq = g.Node("Transpose", new[] { x }, "top_batch_major", OnnxAttribute.Ints("perm", 1, 0, 2));
                string wT = g.AddInitializer("head_weight_t", new long[] { width, o }, Transposed(layout.HeadWeight.Of(parameters), o, width));
                string b = g.AddInitializer("head_bias", new long[] { o }, layout.HeadBias.Of(parameters).ToArray());
                string mm = g.Node("MatMul", new[] { seq, wT }, "head_matmul");
                g.NodeTo("Add", new[] { mm, b }, score);
            }

            g.AddOutput(score, OnnxDataType.Float, Batch, Time, hasHead ? o : width);
        }

        if (probability is not null)
        {
            if (options.OutputActivation == OnnxOutputActivation.Sigmoid) g.NodeTo("Sigmoid", new[] { score }, probability);
            else g.NodeTo("Softmax", new[] { score }, probability, OnnxAttribute.Int("axis", -1));
            g.AddOutput(probability, OnnxDataType.Float, g.Outputs[0].Shape);
        }

        return new OnnxModel(g) { DocString = options.DocString ?? Describe(spec) }.ToBytes();
    }

    private static string AddInput(OnnxGraph g, NetworkSpec spec, ParameterLayout layout, float[] parameters, string inputName)
    {
        if (spec.VocabularySize == 0)
        {
            g.AddInput(inputName, OnnxDataType.Float, Batch, Time, spec.InputSize);
            return inputName;
        }

        g.AddInput(inputName, OnnxDataType.Int64, Batch, Time);
        // Id 0 (unknown) reads row 0 like the engine does: the learned unknown-token vector.
        float[] embedding = layout.Embedding.Of(parameters).ToArray();
        string table = g.AddInitializer("embedding", new long[] { spec.VocabularySize, spec.EmbeddingSize }, embedding);
        return g.Node("Gather", new[] { table, inputName }, "embedded", OnnxAttribute.Int("axis", 0)); // (batch, T, E)
    }

    /// <summary>One ONNX recurrent node for layer <paramref name="l"/>; returns the names of Y and Y_h ("" when not requested).</summary>
    private static (string Y, string YH) AddRecurrentLayer(
        OnnxGraph g, NetworkSpec spec, ParameterLayout layout, float[] parameters, int l, string x, bool needSequence, bool needFinal)
    {
        int h = spec.HiddenSize;
        int gates = spec.Gates;
        int gh = gates * h;
        int input = spec.LayerInputSize(l);
        int dirs = spec.Directions;
        int[] order = GateOrder(spec.Cell);

        var w = new float[dirs * gh * input];  // (dirs, G·H, I)
        var r = new float[dirs * gh * h];      // (dirs, G·H, H)
        var b = new float[dirs * 2 * gh];      // (dirs, 2·G·H): W_b ‖ R_b
        for (int d = 0; d < dirs; d++)
        {
            CellSlices cell = layout.Cell(l, d);
            CopyBlocks(cell.WeightIh.Of(parameters), w.AsSpan(d * gh * input, gh * input), order, h * input);
            CopyBlocks(cell.WeightHh.Of(parameters), r.AsSpan(d * gh * h, gh * h), order, h * h);
            CopyBlocks(cell.BiasIh.Of(parameters), b.AsSpan(d * 2 * gh, gh), order, h);
            CopyBlocks(cell.BiasHh.Of(parameters), b.AsSpan(d * 2 * gh + gh, gh), order, h);
        }

        string wName = g.AddInitializer($"l{l}_W", new long[] { dirs, gh, input }, w);
        string rName = g.AddInitializer($"l{l}_R", new long[] { dirs, gh, h }, r);
        string bName = g.AddInitializer($"l{l}_B", new long[] { dirs, 2 * gh }, b);
        string y = needSequence ? g.Unique($"l{l}_Y") : string.Empty;
        string yH = needFinal ? g.Unique($"l{l}_Y_h") : string.Empty;

        var attributes = new List<OnnxAttribute>
        {
            OnnxAttribute.Int("hidden_size", h),
            OnnxAttribute.String("direction", spec.Bidirectional ? "bidirectional" : "forward"),
        };
        if (spec.Cell == CellKind.Gru) attributes.Add(OnnxAttribute.Int("linear_before_reset", 1));
        string op = spec.Cell switch { CellKind.Lstm => "LSTM", CellKind.Gru => "GRU", _ => "RNN" };
        // Unused optional outputs: "" in the middle, omitted at the end.
        string[] outputs = needFinal ? new[] { y, yH } : new[] { y };
        g.AddNode(op, new[] { x, wName, rName, bName }, outputs, attributes.ToArray());
        return (y, yH);
    }

    /// <summary>For ONNX gate block k, the PyTorch block it comes from.</summary>
    private static int[] GateOrder(CellKind cell) => cell switch
    {
        CellKind.Lstm => new[] { 0, 3, 1, 2 }, // ONNX i, o, f, c  ←  PyTorch i, f, g, o
        CellKind.Gru => new[] { 1, 0, 2 },     // ONNX z, r, h     ←  PyTorch r, z, n
        _ => new[] { 0 },
    };

    private static void CopyBlocks(ReadOnlySpan<float> source, Span<float> destination, int[] order, int blockLength)
    {
        for (int k = 0; k < order.Length; k++)
        {
            source.Slice(order[k] * blockLength, blockLength).CopyTo(destination.Slice(k * blockLength, blockLength));
        }
    }

    /// <summary>(rows, cols) row-major → (cols, rows) row-major.</summary>
    private static float[] Transposed(ReadOnlySpan<float> m, int rows, int cols)
    {
        var t = new float[m.Length];
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < cols; j++) t[j * rows + i] = m[i * cols + j];
        }

        return t;
    }

    private static string Shape(OnnxGraph g, string stem, params long[] dims) => g.AddInitializer(stem, new long[] { dims.Length }, dims);

    private static string Describe(NetworkSpec s) =>
        $"{s.Cell} H={s.HiddenSize} layers={s.NumberOfLayers} {(s.Bidirectional ? "bidirectional" : "forward")} " +
        $"{(s.VocabularySize > 0 ? $"embedding {s.VocabularySize}x{s.EmbeddingSize}" : $"F={s.InputSize}")} O={s.OutputSize} {s.Output}; " +
        "input [batch, T, ...] with one length T per call";
}
