namespace Microsoft.ML.Recurrent;

public sealed partial class RecurrentMLCatalog
{
    public sealed partial class RecurrentTrainers
    {
        /// <summary>
        /// An encoder–decoder with attention: reads the source sequence in <paramref name="featureColumnName"/> (tokens as a
        /// key vector, or a vector of Single) and learns to write the target key vector in <paramref name="labelColumnName"/>
        /// (any length). The fitted transformer adds <c>PredictedLabel</c>, a key vector with the target's key values.
        /// </summary>
        /// <param name="labelColumnName">The target token column (key vector whose key values are the tokens).</param>
        /// <param name="featureColumnName">The source column.</param>
        /// <param name="hiddenSize">Hidden units of the encoder and the decoder.</param>
        /// <param name="attention">Attention over the encoder's states.</param>
        /// <param name="maximumNumberOfEpochs">Passes over the data.</param>
        /// <example>See samples/Seq2Seq (date normalisation).</example>
        public EncoderDecoderTrainer EncoderDecoder(string labelColumnName = EncoderDecoderTrainer.Options.Defaults.LabelColumnName,
            string featureColumnName = EncoderDecoderTrainer.Options.Defaults.FeatureColumnName,
            int hiddenSize = EncoderDecoderTrainer.Options.Defaults.HiddenSize,
            RecurrentAttention attention = EncoderDecoderTrainer.Options.Defaults.Attention,
            int maximumNumberOfEpochs = EncoderDecoderTrainer.Options.Defaults.MaximumNumberOfEpochs) =>
            EncoderDecoder(new EncoderDecoderTrainer.Options
            {
                LabelColumnName = labelColumnName,
                FeatureColumnName = featureColumnName,
                HiddenSize = hiddenSize,
                Attention = attention,
                MaximumNumberOfEpochs = maximumNumberOfEpochs,
            });

        /// <summary>An encoder–decoder with attention, configured by <paramref name="options"/>.</summary>
        /// <param name="options">Columns, network, decoding and training options.</param>
        /// <example>See samples/Seq2Seq (date normalisation).</example>
        public EncoderDecoderTrainer EncoderDecoder(EncoderDecoderTrainer.Options options)
        {
            ArgumentNullException.ThrowIfNull(options);
            options.Validate();
            return new EncoderDecoderTrainer(options, Owner.ResolveSeed(options.Seed, nameof(EncoderDecoder)), Owner.CreateLog(nameof(EncoderDecoder)));
        }

        /// <summary>
        /// A sequence generator: a next-token model trained on the token sequences in <paramref name="featureColumnName"/>
        /// (a key vector). The fitted transformer continues the prefix column into an output key vector column and has
        /// <c>Generate(prefix, maximumLength, temperature, seed)</c>. When the column is a vector of Single (one value per
        /// step; the options overload sets <c>FeaturesPerStep</c>) it is a next-value model whose transformer writes a
        /// Single vector and has <c>GenerateValues</c>.
        /// </summary>
        /// <param name="featureColumnName">The training sequences (key vector whose key values are the tokens, or a vector of Single).</param>
        /// <param name="hiddenSize">Hidden units of every layer.</param>
        /// <param name="temperature">Sampling temperature of the fitted transformer (&gt; 0).</param>
        /// <param name="maximumNumberOfEpochs">Passes over the data.</param>
        /// <example>See samples/Seq2Seq (the generator example).</example>
        public SequenceGeneratorTrainer SequenceGenerator(string featureColumnName = SequenceGeneratorTrainer.Options.Defaults.FeatureColumnName,
            int hiddenSize = SequenceGeneratorTrainer.Options.Defaults.HiddenSize,
            float temperature = SequenceGeneratorTrainer.Options.Defaults.Temperature,
            int maximumNumberOfEpochs = SequenceGeneratorTrainer.Options.Defaults.MaximumNumberOfEpochs) =>
            SequenceGenerator(new SequenceGeneratorTrainer.Options
            {
                FeatureColumnName = featureColumnName,
                HiddenSize = hiddenSize,
                Temperature = temperature,
                MaximumNumberOfEpochs = maximumNumberOfEpochs,
            });

        /// <summary>A sequence generator configured by <paramref name="options"/>.</summary>
        /// <param name="options">Columns, network, sampling and training options.</param>
        /// <example>See samples/Seq2Seq (the generator example).</example>
        public SequenceGeneratorTrainer SequenceGenerator(SequenceGeneratorTrainer.Options options)
        {
            ArgumentNullException.ThrowIfNull(options);
            options.Validate();
            return new SequenceGeneratorTrainer(options, Owner.ResolveSeed(options.Seed, nameof(SequenceGenerator)), Owner.CreateLog(nameof(SequenceGenerator)));
        }
    }
}
