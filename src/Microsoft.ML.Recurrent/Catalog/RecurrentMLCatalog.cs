using Microsoft.ML.Runtime;

namespace Microsoft.ML.Recurrent;

/// <summary>
/// This package's own catalog, returned by <c>mlContext.Recurrent()</c> (in the spirit of <c>mlContext.Auto()</c>). Because
/// it is created from an <see cref="MLContext"/>, what hangs off it follows that context: a component whose <c>Seed</c>
/// option is left null draws its seed from the context's seeded random source (so <c>new MLContext(seed: 1)</c> gives the
/// same models run after run), and training progress can go to <see cref="MLContext.Log"/>.
/// </summary>
/// <remarks>
/// The class is partial: each feature area (tagging, encoder–decoder, generation, experiments, importance, …) adds its
/// entry points in a file of its own. Trainers hang off <see cref="Trainers"/>.
/// </remarks>
public sealed partial class RecurrentMLCatalog
{
    internal RecurrentMLCatalog(MLContext mlContext)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        Context = mlContext;
        Trainers = new RecurrentTrainers(this);
    }

    /// <summary>The context this catalog was created from.</summary>
    internal MLContext Context { get; }

    /// <summary>The context seen through ML.NET's public host interface (registration, channels, seeded random source).</summary>
    internal IHostEnvironment Environment => Context;

    /// <summary>Recurrent trainers that are not regression, binary or multiclass (those stay on ML.NET's own catalogs).</summary>
    public RecurrentTrainers Trainers { get; }

    /// <summary>
    /// A seed for a component created from this catalog: <paramref name="seed"/> when given, otherwise the next draw from the
    /// context's seeded random source (deterministic for <c>new MLContext(seed: n)</c>, different for each component
    /// created from the same context, as ML.NET's own trainers draw theirs).
    /// </summary>
    internal int ResolveSeed(int? seed, string componentName)
    {
        if (seed is int given)
            return given;
        IHost host = Environment.Register(componentName);
        return host.Rand.Next();
    }

    /// <summary>A progress sink writing one line per report to <see cref="MLContext.Log"/> under <paramref name="source"/>
    /// (one clean Info line per epoch: no channel start/stop lines while training runs).</summary>
    internal IProgress<RecurrentEpochReport> CreateLog(string source) => Context.RecurrentTrainingLog(source);

    /// <summary>The progress sink of a component created from this catalog: the user's own when set, otherwise
    /// <see cref="CreateLog"/>, so training reports to <see cref="MLContext.Log"/> by default.</summary>
    internal IProgress<RecurrentEpochReport> ProgressOrLog(IProgress<RecurrentEpochReport>? progress, string source) =>
        progress ?? CreateLog(source);

    /// <summary>The trainers of <see cref="RecurrentMLCatalog"/> (<c>mlContext.Recurrent().Trainers</c>).</summary>
    public sealed partial class RecurrentTrainers
    {
        internal RecurrentTrainers(RecurrentMLCatalog owner) => Owner = owner;

        /// <summary>The catalog these trainers belong to (context, seeds, log).</summary>
        internal RecurrentMLCatalog Owner { get; }
    }
}
