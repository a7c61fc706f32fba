using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Onnx;

namespace Microsoft.ML.Recurrent.Benchmarks;

/// <summary>
/// ONNX Runtime as the second inference peer of the throughput runner: the network the runner just measured, exported
/// with the product's ONNX export (<see cref="OnnxExporter"/>: one ONNX LSTM/GRU/RNN node per layer, input
/// <c>[batch, T, F]</c> batch-first with a symbolic batch axis, so one <c>InferenceSession.Run</c> scores the whole
/// batch), run by ORT's CPU provider on one session per thread count (intra-op threads 1 or 2, inter-op 1, sequential
/// execution, default graph optimisations), input and output tensors allocated once and reused, timed by the runner with
/// the same warm-up and median code as the engine's inference.
/// </summary>
internal sealed class OrtPeer : IDisposable
{
    private const string InputName = "features", OutputName = "score";
    private readonly InferenceSession _session;
    private readonly SessionOptions _options;
    private readonly RunOptions _run = new();
    private readonly OrtValue _input, _output;
    private readonly float[] _outputBuffer;
    private readonly string[] _inputNames = [InputName], _outputNames = [OutputName];
    private readonly OrtValue[] _inputs, _outputs;

    /// <param name="model">The exported model.</param>
    /// <param name="features">The batch, batch-first <c>[batch, T, F]</c>.</param>
    /// <param name="batch">Sequences in the batch.</param>
    /// <param name="length">Steps per sequence.</param>
    /// <param name="inputSize">F.</param>
    /// <param name="outputSize">Head outputs per sequence.</param>
    /// <param name="intraOpThreads">ORT's intra-op thread count.</param>
    public OrtPeer(byte[] model, float[] features, int batch, int length, int inputSize, int outputSize, int intraOpThreads)
    {
        _options = new SessionOptions
        {
            IntraOpNumThreads = intraOpThreads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        // ORT's intra-op threads spin after each Run by default; since its repeats alternate with ours on a 2-core
        // machine, a spinning pool would still hold a core while our next repeat runs (measured: config 5 at 322 µs
        // with ORT spinning beside it against 115 µs alone). So its threads block when idle, like ours after 200 µs.
        _options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        _session = new InferenceSession(model, _options);
        _input = OrtValue.CreateTensorValueFromMemory(features, [batch, length, inputSize]);
        _outputBuffer = new float[batch * outputSize];
        _output = OrtValue.CreateTensorValueFromMemory(_outputBuffer, [batch, outputSize]);
        _inputs = [_input];
        _outputs = [_output];
    }

    /// <summary>The exported model of a network spec and its parameters (the product's export, default names).</summary>
    public static byte[] Export(NetworkSpec spec, float[] parameters) => OnnxExporter.Export(spec, parameters, OnnxExportOptions.Default);

    /// <summary>One <c>InferenceSession.Run</c> over the whole batch; returns the outputs (<c>[batch, O]</c>, reused buffer).</summary>
    public float[] Infer()
    {
        _session.Run(_run, _inputNames, _inputs, _outputNames, _outputs);
        return _outputBuffer;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _output.Dispose();
        _input.Dispose();
        _run.Dispose();
        _session.Dispose();
        _options.Dispose();
    }
}
