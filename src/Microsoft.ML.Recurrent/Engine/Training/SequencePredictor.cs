namespace Microsoft.ML.Recurrent.Engine.Training;

/// <summary>
/// Thread-safe one-sequence-at-a-time inference over fixed parameters (the path ML.NET's row-by-row mapping
/// takes). Each thread gets its own network workspace; the parameters are shared and never written.
/// </summary>
internal sealed class SequencePredictor
{
    private readonly ParameterLayout _layout;
    private readonly float[] _parameters;
    private readonly ThreadLocal<Worker> _workers;
    private readonly int _threads;

    /// <param name="spec">The network's shape.</param>
    /// <param name="parameters">Its parameters (shared, never written).</param>
    /// <param name="threads">Engine threads per call; 0 (the default) = <see cref="Kernels.Gemm.DefaultThreads"/>. The forecaster
    /// passes 1: one sequence at a time is fastest on the calling thread (the unit split hands over per step by spinning).</param>
    public SequencePredictor(NetworkSpec spec, float[] parameters, int threads = 0)
    {
        _layout = new ParameterLayout(spec);
        if (parameters.Length != _layout.Count)
            throw new ArgumentException($"The network needs {_layout.Count} parameters, got {parameters.Length}.", nameof(parameters));
        Spec = spec;
        _parameters = parameters;
        _threads = threads;
        _workers = new ThreadLocal<Worker>(() => new Worker(this));
    }

    public NetworkSpec Spec { get; }

    /// <summary>Number of output values for a sequence of <paramref name="steps"/> steps.</summary>
    public int OutputLength(int steps) =>
        Spec.OutputSize == 0 ? steps * Spec.OutputWidth : Spec.Output == OutputMode.EveryStep ? steps * Spec.OutputSize : Spec.OutputSize;

    /// <summary>
    /// Runs one sequence (T · F values, time-major) and writes the head outputs: O values (many-to-one) or
    /// T · O (every step), or T · D without a head.
    /// </summary>
    public void Predict(ReadOnlySpan<float> sequence, Span<float> output)
    {
        int F = Spec.InputSize;
        if (sequence.Length == 0 || sequence.Length % F != 0)
            throw new ArgumentException($"A sequence needs a positive multiple of {F} values ({F} features per step); got {sequence.Length}.", nameof(sequence));
        int steps = sequence.Length / F;
        int n = OutputLength(steps);
        if (output.Length < n) throw new ArgumentException($"The output needs {n} values, got {output.Length}.", nameof(output));
        var w = _workers.Value!;
        w.Run(sequence, steps).Slice(0, n).CopyTo(output);
    }

    private sealed class Worker
    {
        private readonly SequencePredictor _owner;
        private SequenceBatch _batch;
        private RecurrentNetwork _network;

        public Worker(SequencePredictor owner)
        {
            _owner = owner;
            _batch = new SequenceBatch(1, 64, owner.Spec.InputSize, 0);
            _network = new RecurrentNetwork(owner._layout, owner._parameters, null, 1, 64) { Threads = owner._threads };
        }

        public ReadOnlySpan<float> Run(ReadOnlySpan<float> sequence, int steps)
        {
            if (steps > _batch.CapacityLength)
            {
                int cap = Math.Max(steps, _batch.CapacityLength * 2);
                _batch = new SequenceBatch(1, cap, _owner.Spec.InputSize, 0);
                _network = new RecurrentNetwork(_owner._layout, _owner._parameters, null, 1, cap) { Threads = _owner._threads };
            }

            _batch.FillSingle(sequence);
            return _network.Forward(_batch);
        }
    }
}
