using Microsoft.ML.Recurrent;

namespace Microsoft.ML;

/// <summary><c>mlContext.Transforms.FeaturizeSequence(...)</c>: a trained recurrent encoder as features for any ML.NET trainer.</summary>
public static class RecurrentFeaturizerCatalog
{
    /// <summary>
    /// Creates a <see cref="RecurrentFeaturizerEstimator"/>: trains a recurrent encoder (through a head on
    /// <paramref name="labelColumnName"/>, or self-supervised without one) and outputs one known-size vector per sequence.
    /// </summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="outputColumnName">The output column: a vector of D = hiddenSize Single values.</param>
    /// <param name="inputColumnName">The sequence column: a vector of Single (T·F values, time-major) or a vector of keys (tokens).</param>
    /// <param name="featuresPerStep">Features per time step F (1 for tokens).</param>
    /// <param name="labelColumnName">Optional label: Single (regression head) or a key (class head); null trains self-supervised.</param>
    /// <param name="pooling">How the per-step states become one vector.</param>
    /// <param name="hiddenSize">Hidden units (D).</param>
    /// <param name="maximumNumberOfEpochs">Training epochs.</param>
    /// <returns>The estimator; every other option keeps its <see cref="RecurrentFeaturizerEstimator.Options"/> default.</returns>
    /// <example>
    /// Runnable sample: samples/SequenceTagging (FeaturizeThenSdca.cs).
    /// <code>
    /// var pipeline = mlContext.Transforms.FeaturizeSequence("Encoded", "Sequence", featuresPerStep: 2, labelColumnName: "Label")
    ///     .Append(mlContext.Regression.Trainers.Sdca(featureColumnName: "Encoded"));
    /// </code>
    /// </example>
    public static RecurrentFeaturizerEstimator FeaturizeSequence(this TransformsCatalog catalog, string outputColumnName, string inputColumnName,
        int featuresPerStep, string? labelColumnName = null, RecurrentPooling pooling = RecurrentFeaturizerEstimator.Options.Defaults.Pooling,
        int hiddenSize = RecurrentFeaturizerEstimator.Options.Defaults.HiddenSize,
        int maximumNumberOfEpochs = RecurrentTrainerOptions.Defaults.MaximumNumberOfEpochs)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new RecurrentFeaturizerEstimator(new RecurrentFeaturizerEstimator.Options
        {
            OutputColumnName = outputColumnName,
            InputColumnName = inputColumnName,
            FeaturesPerStep = featuresPerStep,
            LabelColumnName = labelColumnName,
            Pooling = pooling,
            HiddenSize = hiddenSize,
            MaximumNumberOfEpochs = maximumNumberOfEpochs,
        });
    }

    /// <summary>Creates a <see cref="RecurrentFeaturizerEstimator"/> from options.</summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="options">The featurizer's options.</param>
    /// <returns>The estimator.</returns>
    public static RecurrentFeaturizerEstimator FeaturizeSequence(this TransformsCatalog catalog, RecurrentFeaturizerEstimator.Options options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new RecurrentFeaturizerEstimator(options);
    }
}
