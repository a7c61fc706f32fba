using System.Runtime.CompilerServices;

namespace Microsoft.ML.Recurrent.Engine;

/// <summary>
/// A change counter per flat parameter buffer, owned by the buffer itself (a weak table keyed by the array, so every
/// network over the same array sees the same counter and nothing outlives the array). Whoever writes parameters
/// after a network has run over them calls <see cref="Changed"/>; a network's layers keep transposed copies of the
/// weights (<see cref="Layers.PackedWeights"/>) tagged with the array and the version they were packed from, and
/// repack on the next forward pass when the version moved. The optimizers' <see cref="Optimizers.Optimizer.Step"/>
/// calls it itself, so a training loop cannot forget; code that writes weights directly calls
/// <see cref="RecurrentNetwork.ParametersChanged"/> (or this) after writing.
/// </summary>
internal static class ParameterVersions
{
    private static readonly ConditionalWeakTable<float[], Counter> s_counters = new();

    /// <summary>The buffer's version: 0 until the first <see cref="Changed"/>, then the number of changes.</summary>
    public static long Current(float[] parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        return s_counters.TryGetValue(parameters, out var counter) ? Volatile.Read(ref counter.Value) : 0;
    }

    /// <summary>Records that <paramref name="parameters"/> were written: every packed copy of them is stale.</summary>
    public static void Changed(float[] parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var counter = s_counters.GetValue(parameters, static _ => new Counter());
        Interlocked.Increment(ref counter.Value);
    }

    private sealed class Counter
    {
        public long Value;
    }
}
