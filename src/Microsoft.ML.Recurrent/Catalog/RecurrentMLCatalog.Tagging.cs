using Microsoft.ML.Recurrent.Tagging;

namespace Microsoft.ML.Recurrent;

public sealed partial class RecurrentMLCatalog
{
    /// <summary>
    /// Evaluates a sequence tagger's output. Classes (label = vector of keys): token accuracy, per-class precision, recall
    /// and F1, macro-F1, whole-sequence accuracy and, when the label's key values are BIO/IOB2 tags ("O", "B-x", "I-x";
    /// detected), span precision, recall and F1 as conlleval scores chunks. Values (label = vector of Single): RMSE and MAE
    /// per step. Every row's label and prediction must have the same length.
    /// </summary>
    /// <param name="scored">The scored data (the output of a <see cref="SequenceTaggerTransformer"/>, or any view with the columns).</param>
    /// <param name="labelColumnName">The per-step label column.</param>
    /// <param name="predictedLabelColumnName">Classes: the per-step predicted key column.</param>
    /// <param name="scoreColumnName">Values: the per-step score column.</param>
    /// <returns>The metrics; fractions in [0, 1].</returns>
    /// <example>
    /// Runnable sample: samples/SequenceTagging.
    /// <code>
    /// var metrics = mlContext.Recurrent().EvaluateTagging(model.Transform(test), "Tags");
    /// Console.WriteLine(metrics.SpanF1Score);
    /// </code>
    /// </example>
    public TaggingMetrics EvaluateTagging(IDataView scored, string labelColumnName = "Label", string predictedLabelColumnName = "PredictedLabel",
        string scoreColumnName = "Score")
    {
        ArgumentNullException.ThrowIfNull(scored);
        return TaggingEvaluator.Evaluate(scored, labelColumnName, predictedLabelColumnName, scoreColumnName);
    }

    public sealed partial class RecurrentTrainers
    {
        /// <summary>
        /// Creates a <see cref="SequenceTaggerTrainer"/>: one prediction per step (a class from a key-vector label, or a value from a
        /// Single-vector label), bidirectional LSTM by default, optionally with a CRF output layer.
        /// </summary>
        /// <param name="labelColumnName">The per-step label: a vector of keys (classes) or of Single (values), as long as the sequence.</param>
        /// <param name="featureColumnName">The features: a vector of Single (T·F values, time-major) or a vector of keys (tokens).</param>
        /// <param name="featuresPerStep">Features per step F (1 for tokens).</param>
        /// <param name="hiddenSize">Hidden units per layer and direction.</param>
        /// <param name="useCrf">Decode with a linear-chain CRF (classes only).</param>
        /// <param name="maximumNumberOfEpochs">Training epochs.</param>
        /// <returns>The trainer; every other option keeps its <see cref="SequenceTaggerTrainer.Options"/> default.</returns>
        /// <example>
        /// Runnable sample: samples/SequenceTagging.
        /// <code>
        /// var pipeline = mlContext.Transforms.Text.TokenizeIntoWords("Words", "Text")
        ///     .Append(mlContext.Transforms.Conversion.MapValueToKey("Tokens", "Words"))
        ///     .Append(mlContext.Transforms.Conversion.MapValueToKey("Tags", "TagText"))
        ///     .Append(mlContext.Recurrent().Trainers.SequenceTagger("Tags", "Tokens"));
        /// </code>
        /// </example>
        public SequenceTaggerTrainer SequenceTagger(
            string labelColumnName = RecurrentTrainerOptions.Defaults.LabelColumnName,
            string featureColumnName = RecurrentTrainerOptions.Defaults.FeatureColumnName,
            int featuresPerStep = RecurrentTrainerOptions.Defaults.FeaturesPerStep,
            int hiddenSize = SequenceTaggerTrainer.TaggerDefaults.HiddenSize,
            bool useCrf = false,
            int maximumNumberOfEpochs = RecurrentTrainerOptions.Defaults.MaximumNumberOfEpochs) =>
            SequenceTagger(new SequenceTaggerTrainer.Options
            {
                LabelColumnName = labelColumnName,
                FeatureColumnName = featureColumnName,
                FeaturesPerStep = featuresPerStep,
                HiddenSize = hiddenSize,
                UseCrf = useCrf,
                MaximumNumberOfEpochs = maximumNumberOfEpochs,
            });

        /// <summary>Creates a <see cref="SequenceTaggerTrainer"/> from options. A null <c>Seed</c> follows the context's seed; a null
        /// <c>Progress</c> writes one line per epoch to <see cref="MLContext.Log"/>.</summary>
        /// <param name="options">The tagger's options.</param>
        /// <returns>The trainer.</returns>
        public SequenceTaggerTrainer SequenceTagger(SequenceTaggerTrainer.Options options)
        {
            ArgumentNullException.ThrowIfNull(options);
            return new SequenceTaggerTrainer(options, Owner.ResolveSeed(options.Seed, nameof(SequenceTagger)), Owner.CreateLog(nameof(SequenceTagger)));
        }
    }
}
