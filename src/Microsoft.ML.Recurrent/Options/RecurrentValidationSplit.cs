namespace Microsoft.ML.Recurrent;

/// <summary>Which training rows <see cref="RecurrentTrainerOptions.ValidationFraction"/> holds out for validation.</summary>
public enum RecurrentValidationSplit
{
    /// <summary>Rows chosen by a seeded shuffle. Right for independent sequences. The default.</summary>
    Random = 0,

    /// <summary>
    /// The last rows in data order. Right for windows cut from one time series: overlapping windows would otherwise put
    /// nearly the same steps on both sides of the split (the validation loss then flatters the model), and holding out
    /// the end mimics forecasting the future.
    /// </summary>
    Last = 1,
}
