namespace Microsoft.ML.Recurrent.Engine.Optimizers;

/// <summary>
/// Updates a flat parameter buffer from its twin gradient buffer. State buffers (one slot per parameter
/// each) are allocated once in the constructor; <see cref="Step"/> does not allocate. Updates are
/// element-wise and run on one thread, so results are deterministic.
/// </summary>
internal abstract class Optimizer
{
    // *** State format (GetState / SetState) ***
    // float  format version (1)
    // float  kind (OptimizerKind as a number)
    // float  step count, low 24 bits      } both exact in a float, so counts up to 2^48 round-trip
    // float  step count, bits 24 and up   }
    // float[ParameterCount] × StateBufferCount   the kind's state buffers, in the kind's order
    private const int StateVersion = 1;
    private const int HeaderLength = 4;
    private const long LowMask = (1L << 24) - 1;

    private readonly float[][] _state; // each (ParameterCount)

    protected Optimizer(OptimizerKind kind, int parameterCount, int stateBufferCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(parameterCount);
        Kind = kind;
        ParameterCount = parameterCount;
        _state = new float[stateBufferCount][];
        for (int i = 0; i < stateBufferCount; i++) _state[i] = new float[parameterCount];
    }

    public OptimizerKind Kind { get; }

    public int ParameterCount { get; }

    /// <summary>Number of steps taken (PyTorch's step counter: 1 during the first update).</summary>
    public long StepCount { get; private set; }

    /// <summary>Number of per-parameter state buffers this optimizer keeps.</summary>
    public int StateBufferCount => _state.Length;

    /// <summary>Builds the optimizer of <paramref name="kind"/> for <paramref name="parameterCount"/> parameters.</summary>
    public static Optimizer Create(OptimizerKind kind, int parameterCount, OptimizerSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentOutOfRangeException.ThrowIfNegative(parameterCount);
        settings.Validate(kind);
        return kind switch
        {
            OptimizerKind.Adam => new AdamOptimizer(parameterCount, settings),
            OptimizerKind.Sgd => new SgdOptimizer(parameterCount, settings),
            OptimizerKind.RmsProp => new RmsPropOptimizer(parameterCount, settings),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown optimizer kind."),
        };
    }

    /// <summary>
    /// One update of <paramref name="parameters"/> from <paramref name="gradients"/> (both of length <see cref="ParameterCount"/>).
    /// Takes the whole parameter buffer so that it can record the change itself (<see cref="ParameterVersions.Changed"/>):
    /// every network over the buffer repacks its weights on its next pass, and no caller can forget to say so.
    /// </summary>
    public void Step(float[] parameters, ReadOnlySpan<float> gradients, float learningRate)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (parameters.Length != ParameterCount)
            throw new ArgumentException($"Expected {ParameterCount} parameters, got {parameters.Length}.", nameof(parameters));
        if (gradients.Length != ParameterCount)
            throw new ArgumentException($"Expected {ParameterCount} gradients, got {gradients.Length}.", nameof(gradients));
        if (!(learningRate >= 0f) || !float.IsFinite(learningRate))
            throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, "The learning rate must be finite and ≥ 0.");
        StepCount++;
        Update(parameters, gradients, learningRate, StepCount);
        ParameterVersions.Changed(parameters);
    }

    /// <summary>The kind's update; <paramref name="step"/> is 1 on the first call.</summary>
    protected abstract void Update(Span<float> parameters, ReadOnlySpan<float> gradients, float learningRate, long step);

    /// <summary>State buffer <paramref name="index"/> (ParameterCount).</summary>
    protected Span<float> State(int index) => _state[index];

    /// <summary>A copy of the step counter and every state buffer (see the format above).</summary>
    public float[] GetState()
    {
        var result = new float[HeaderLength + _state.Length * ParameterCount];
        result[0] = StateVersion;
        result[1] = (float)Kind;
        result[2] = StepCount & LowMask;
        result[3] = StepCount >> 24;
        for (int i = 0; i < _state.Length; i++)
            _state[i].CopyTo(result.AsSpan(HeaderLength + i * ParameterCount));
        return result;
    }

    /// <summary>Restores a state written by <see cref="GetState"/> of an optimizer of the same kind and size.</summary>
    public void SetState(ReadOnlySpan<float> state)
    {
        int expected = HeaderLength + _state.Length * ParameterCount;
        if (state.Length != expected)
            throw new ArgumentException($"Optimizer state has {state.Length} values; a {Kind} optimizer of {ParameterCount} parameters expects {expected}.", nameof(state));
        if (state[0] != StateVersion)
            throw new ArgumentException($"Optimizer state version {state[0]} is not supported (expected {StateVersion}).", nameof(state));
        if (state[1] != (float)Kind)
            throw new ArgumentException($"Optimizer state was written by kind {state[1]}, not {Kind} ({(float)Kind}).", nameof(state));
        float low = state[2], high = state[3];
        if (!(low >= 0f && low <= LowMask && low == MathF.Floor(low) && high >= 0f && high < (1 << 24) && high == MathF.Floor(high)))
            throw new ArgumentException($"Optimizer state has an invalid step count ({low}, {high}).", nameof(state));
        StepCount = ((long)high << 24) | (long)low;
        for (int i = 0; i < _state.Length; i++)
            state.Slice(HeaderLength + i * ParameterCount, ParameterCount).CopyTo(_state[i]);
    }

    /// <summary>Forgets every step: zero state, step counter 0.</summary>
    public void Reset()
    {
        StepCount = 0;
        foreach (var buffer in _state) Array.Clear(buffer);
    }
}
