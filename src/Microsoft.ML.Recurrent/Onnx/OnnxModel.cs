namespace Microsoft.ML.Recurrent.Onnx;

// The few ONNX messages the exporter writes, each with its onnx.proto field numbers. Only proto3 fields
// that carry a value are written; everything else keeps its protobuf default.

/// <summary>ONNX TensorProto.DataType values used here.</summary>
internal enum OnnxDataType
{
    Float = 1,
    Int64 = 7,
}

/// <summary>One dimension of a TensorShapeProto: a fixed size or a symbolic name.</summary>
internal readonly record struct OnnxDim(long Value, string? Param)
{
    public static OnnxDim Fixed(long value) => new(value, null);

    public static OnnxDim Symbolic(string name) => new(0, name);

    public static implicit operator OnnxDim(long value) => Fixed(value);

    public static implicit operator OnnxDim(string name) => Symbolic(name);

    // TensorShapeProto.Dimension: dim_value = 1 (int64), dim_param = 2 (string).
    public void WriteTo(OnnxProtoWriter w)
    {
        if (Param is null) w.WriteInt64(1, Value);
        else w.WriteString(2, Param);
    }
}

/// <summary>ValueInfoProto of a tensor: a graph input or output.</summary>
internal sealed record OnnxValueInfo(string Name, OnnxDataType ElementType, OnnxDim[] Shape)
{
    // ValueInfoProto: name = 1, type = 2 (TypeProto).
    // TypeProto: tensor_type = 1 (TypeProto.Tensor). TypeProto.Tensor: elem_type = 1, shape = 2 (TensorShapeProto).
    // TensorShapeProto: dim = 1 (repeated Dimension).
    public void WriteTo(OnnxProtoWriter w)
    {
        w.WriteString(1, Name);
        w.WriteMessage(2, type => type.WriteMessage(1, tensor =>
        {
            tensor.WriteInt64(1, (int)ElementType);
            tensor.WriteMessage(2, shape =>
            {
                foreach (OnnxDim dim in Shape) shape.WriteMessage(1, dim.WriteTo);
            });
        }));
    }
}

/// <summary>TensorProto holding constant data (an initializer or a tensor attribute), stored as raw_data.</summary>
internal sealed class OnnxTensor
{
    private readonly float[]? _floats;
    private readonly long[]? _int64s;

    public OnnxTensor(string name, long[] dims, float[] data)
    {
        CheckCount(name, dims, data.Length);
        Name = name;
        Dims = dims;
        ElementType = OnnxDataType.Float;
        _floats = data;
    }

    public OnnxTensor(string name, long[] dims, long[] data)
    {
        CheckCount(name, dims, data.Length);
        Name = name;
        Dims = dims;
        ElementType = OnnxDataType.Int64;
        _int64s = data;
    }

    public string Name { get; }

    public long[] Dims { get; }

    public OnnxDataType ElementType { get; }

    /// <summary>Serialized size, give or take the header (a capacity hint).</summary>
    public int EstimatedSize => (int)Math.Min(int.MaxValue - 64, 64 + 10L * Dims.Length + 2L * Name.Length + (_floats is not null ? 4L * _floats.Length : 8L * _int64s!.Length));

    // TensorProto: dims = 1 (repeated int64, packed), data_type = 2, name = 8, raw_data = 9 (little-endian bytes).
    public void WriteTo(OnnxProtoWriter w)
    {
        if (Dims.Length > 0) w.WritePackedInt64s(1, Dims);
        w.WriteInt64(2, (int)ElementType);
        w.WriteString(8, Name);
        if (_floats is not null) w.WriteFloatsAsBytes(9, _floats);
        else w.WriteInt64sAsBytes(9, _int64s!);
    }

    private static void CheckCount(string name, long[] dims, int count)
    {
        long expected = 1;
        foreach (long d in dims)
        {
            if (d < 0) throw new ArgumentException($"Tensor '{name}' has a negative dimension {d}.");
            expected *= d;
        }

        if (expected != count) throw new ArgumentException($"Tensor '{name}' has shape [{string.Join(", ", dims)}] ({expected} values) but {count} values were given.");
    }
}

/// <summary>AttributeProto: one named node attribute.</summary>
internal sealed class OnnxAttribute
{
    // AttributeProto.AttributeType values.
    private const int TypeFloat = 1;
    private const int TypeInt = 2;
    private const int TypeString = 3;
    private const int TypeInts = 7;

    private readonly int _type;
    private readonly long _int;
    private readonly float _float;
    private readonly string? _string;
    private readonly long[]? _ints;

    private OnnxAttribute(string name, int type, long i = 0, float f = 0, string? s = null, long[]? ints = null)
    {
        Name = name;
        _type = type;
        _int = i;
        _float = f;
        _string = s;
        _ints = ints;
    }

    public string Name { get; }

    public static OnnxAttribute Int(string name, long value) => new(name, TypeInt, i: value);

    public static OnnxAttribute Float(string name, float value) => new(name, TypeFloat, f: value);

    public static OnnxAttribute String(string name, string value) => new(name, TypeString, s: value);

    public static OnnxAttribute Ints(string name, params long[] values) => new(name, TypeInts, ints: values);

    // AttributeProto: name = 1, f = 2, i = 3, s = 4 (bytes), ints = 8 (repeated int64), type = 20.
    public void WriteTo(OnnxProtoWriter w)
    {
        w.WriteString(1, Name);
        switch (_type)
        {
            case TypeFloat: w.WriteFloat(2, _float); break;
            case TypeInt: w.WriteInt64(3, _int); break;
            case TypeString: w.WriteString(4, _string!); break;
            case TypeInts: w.WritePackedInt64s(8, _ints!); break;
        }

        w.WriteInt64(20, _type);
    }
}

/// <summary>NodeProto: one operator application. An empty input or output name marks an omitted optional one.</summary>
internal sealed record OnnxNode(string OpType, string[] Inputs, string[] Outputs, string Name, OnnxAttribute[] Attributes)
{
    // NodeProto: input = 1, output = 2, name = 3, op_type = 4, attribute = 5.
    public void WriteTo(OnnxProtoWriter w)
    {
        foreach (string input in Inputs) w.WriteString(1, input);
        foreach (string output in Outputs) w.WriteString(2, output);
        w.WriteString(3, Name);
        w.WriteString(4, OpType);
        foreach (OnnxAttribute attribute in Attributes) w.WriteMessage(5, attribute.WriteTo);
    }
}

/// <summary>
/// GraphProto under construction: nodes in topological order (the order they are added), constant
/// initializers, and typed inputs and outputs. Names are unique within the graph.
/// </summary>
internal sealed class OnnxGraph
{
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private int _nodeCounter;

    public OnnxGraph(string name)
    {
        Name = name;
    }

    public string Name { get; }

    public List<OnnxNode> Nodes { get; } = new();

    public List<OnnxTensor> Initializers { get; } = new();

    public List<OnnxValueInfo> Inputs { get; } = new();

    public List<OnnxValueInfo> Outputs { get; } = new();

    /// <summary>Reserves <paramref name="name"/> exactly (graph inputs and outputs); throws if it is taken.</summary>
    public string Reserve(string name)
    {
        if (string.IsNullOrEmpty(name)) throw new ArgumentException("ONNX value names must not be empty.", nameof(name));
        if (!_names.Add(name)) throw new ArgumentException($"The ONNX value name '{name}' is used twice.", nameof(name));
        return name;
    }

    /// <summary>A fresh name starting with <paramref name="stem"/> that no other value uses.</summary>
    public string Unique(string stem)
    {
        string name = stem;
        for (int i = 1; !_names.Add(name); i++) name = $"{stem}_{i}";
        return name;
    }

    public void AddInput(string name, OnnxDataType type, params OnnxDim[] shape) => Inputs.Add(new OnnxValueInfo(Reserve(name), type, shape));

    /// <summary>Declares an output; its name must already be produced by a node.</summary>
    public void AddOutput(string name, OnnxDataType type, params OnnxDim[] shape) => Outputs.Add(new OnnxValueInfo(name, type, shape));

    public string AddInitializer(string stem, long[] dims, float[] data)
    {
        string name = Unique(stem);
        Initializers.Add(new OnnxTensor(name, dims, data));
        return name;
    }

    public string AddInitializer(string stem, long[] dims, long[] data)
    {
        string name = Unique(stem);
        Initializers.Add(new OnnxTensor(name, dims, data));
        return name;
    }

    /// <summary>Adds a node with one output named after <paramref name="outputStem"/> (made unique) and returns that name.</summary>
    public string Node(string opType, string[] inputs, string outputStem, params OnnxAttribute[] attributes)
    {
        string output = Unique(outputStem);
        AddNode(opType, inputs, new[] { output }, attributes);
        return output;
    }

    /// <summary>Adds a node writing to an already reserved output name (for example a graph output).</summary>
    public string NodeTo(string opType, string[] inputs, string reservedOutput, params OnnxAttribute[] attributes)
    {
        AddNode(opType, inputs, new[] { reservedOutput }, attributes);
        return reservedOutput;
    }

    public void AddNode(string opType, string[] inputs, string[] outputs, params OnnxAttribute[] attributes)
    {
        Nodes.Add(new OnnxNode(opType, inputs, outputs, $"{opType}_{_nodeCounter++}", attributes));
    }

    // GraphProto: node = 1, name = 2, initializer = 5, doc_string = 10, input = 11, output = 12.
    public void WriteTo(OnnxProtoWriter w)
    {
        foreach (OnnxNode node in Nodes) w.WriteMessage(1, node.WriteTo);
        w.WriteString(2, Name);
        foreach (OnnxTensor tensor in Initializers)
        {
            var inner = new OnnxProtoWriter(tensor.EstimatedSize);
            tensor.WriteTo(inner);
            w.WriteMessage(5, inner);
        }

        foreach (OnnxValueInfo input in Inputs) w.WriteMessage(11, input.WriteTo);
        foreach (OnnxValueInfo output in Outputs) w.WriteMessage(12, output.WriteTo);
    }
}

/// <summary>ModelProto: IR version, one opset import of the default ONNX domain, producer and the graph.</summary>
internal sealed class OnnxModel
{
    /// <summary>IR version 7 goes with opsets 13 and 14.</summary>
    public const long DefaultIrVersion = 7;

    public const long DefaultOpset = 14;

    public OnnxModel(OnnxGraph graph)
    {
        Graph = graph;
    }

    public OnnxGraph Graph { get; }

    public long IrVersion { get; init; } = DefaultIrVersion;

    public long Opset { get; init; } = DefaultOpset;

    public string ProducerName { get; init; } = "Microsoft.ML.Recurrent";

    public string ProducerVersion { get; init; } = typeof(OnnxModel).Assembly.GetName().Version?.ToString() ?? "0";

    public string? DocString { get; init; }

    // ModelProto: ir_version = 1, producer_name = 2, producer_version = 3, doc_string = 6, graph = 7, opset_import = 8.
    // OperatorSetIdProto: domain = 1 (empty = the default ONNX domain), version = 2.
    public byte[] ToBytes()
    {
        var graph = new OnnxProtoWriter(1024);
        Graph.WriteTo(graph);

        var w = new OnnxProtoWriter(graph.Length + 256);
        w.WriteInt64(1, IrVersion);
        w.WriteString(2, ProducerName);
        w.WriteString(3, ProducerVersion);
        if (!string.IsNullOrEmpty(DocString)) w.WriteString(6, DocString);
        w.WriteMessage(7, graph);
        w.WriteMessage(8, opset =>
        {
            opset.WriteString(1, string.Empty);
            opset.WriteInt64(2, Opset);
        });
        return w.ToArray();
    }
}
