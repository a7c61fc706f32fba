namespace Microsoft.ML.Recurrent;

public sealed partial class RecurrentMLCatalog
{
    /// <summary>
    /// A new experiment that sweeps recurrent trainers under a time budget and keeps the best model (the shape of ML.NET
    /// AutoML's <c>AutoMLExperiment</c>). Its seed follows this catalog's <see cref="MLContext"/> unless
    /// <see cref="RecurrentExperiment.SetSeed"/> sets one.
    /// </summary>
    /// <returns>An unconfigured experiment: set a dataset, a metric and a search space, then run it.</returns>
    /// <example>
    /// <code>
    /// var result = mlContext.Recurrent().CreateExperiment()
    ///     .SetDataset(train, validation)
    ///     .SetRegressionMetric(RegressionMetric.RootMeanSquaredError)
    ///     .SetSearchSpace(new RecurrentRegressionSearchSpace { FeaturesPerStep = 2 })
    ///     .SetTrainingTimeInSeconds(60)
    ///     .Run();
    /// mlContext.Model.Save(result.BestTrial.Model, train.Schema, "best.zip");
    /// </code>
    /// See samples/AutoSweep.
    /// </example>
    public RecurrentExperiment CreateExperiment() => new(this, ResolveSeed(null, nameof(RecurrentExperiment)));
}
