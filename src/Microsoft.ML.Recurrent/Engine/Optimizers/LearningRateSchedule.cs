namespace Microsoft.ML.Recurrent.Engine.Optimizers;

/// <summary>
/// The learning rate per epoch. The trainer asks <see cref="RateForEpoch"/> at the start of each epoch
/// (0-based) and calls <see cref="ReportEpoch"/> at its end with the monitored loss (validation loss if
/// any, else training loss); only ReduceOnPlateau reads the reports. Rates are computed in double.
/// </summary>
internal sealed class LearningRateSchedule
{
    private readonly ScheduleKind _kind;
    private readonly double _baseRate, _minRate, _gamma, _factor, _threshold;
    private readonly int _stepSize, _totalEpochs, _patience, _warmup;

    private double _plateauRate;                     // ReduceOnPlateau: current rate before warm-up
    private double _best = double.PositiveInfinity;  // ReduceOnPlateau: best loss so far
    private int _badEpochs;                          // ReduceOnPlateau: reports since the last improvement or reduction

    public LearningRateSchedule(ScheduleSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        _kind = settings.Kind;
        _baseRate = settings.BaseRate;
        _minRate = settings.Kind == ScheduleKind.Constant ? settings.BaseRate : settings.MinRate;
        _gamma = settings.Gamma;
        _stepSize = settings.StepSize;
        _totalEpochs = settings.TotalEpochs;
        _patience = settings.PlateauPatience;
        _factor = settings.PlateauFactor;
        _threshold = settings.PlateauThreshold;
        _warmup = settings.WarmupEpochs;
        _plateauRate = _baseRate;
    }

    public ScheduleKind Kind => _kind;

    /// <summary>ReduceOnPlateau: how many times the rate has been reduced.</summary>
    public int Reductions { get; private set; }

    /// <summary>The rate to use during epoch <paramref name="epoch"/> (0-based).</summary>
    public float RateForEpoch(int epoch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        double rate = _kind switch
        {
            ScheduleKind.Step => Math.Max(_minRate, _baseRate * Math.Pow(_gamma, epoch / _stepSize)),
            ScheduleKind.Cosine => epoch >= _totalEpochs
                ? _minRate
                : _minRate + (_baseRate - _minRate) * (1.0 + Math.Cos(Math.PI * epoch / _totalEpochs)) / 2.0,
            ScheduleKind.ReduceOnPlateau => _plateauRate,
            _ => _baseRate,
        };
        if (epoch < _warmup) rate *= (epoch + 1.0) / (_warmup + 1.0);
        return (float)rate;
    }

    /// <summary>
    /// End of epoch <paramref name="epoch"/> with its monitored loss. ReduceOnPlateau: a loss below
    /// best·(1 − threshold) is an improvement; otherwise (NaN included) the epoch is bad, and when the bad
    /// epochs since the last improvement or reduction exceed the patience the rate is multiplied by the factor
    /// (not below MinRate) and the count restarts.
    /// </summary>
    public void ReportEpoch(int epoch, double monitoredLoss)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        if (_kind != ScheduleKind.ReduceOnPlateau) return;
        if (monitoredLoss < _best * (1.0 - _threshold)) // the first finite loss always improves on +∞
        {
            _best = monitoredLoss;
            _badEpochs = 0;
            return;
        }

        _badEpochs++;
        if (_badEpochs > _patience)
        {
            double reduced = Math.Max(_plateauRate * _factor, _minRate);
            if (reduced < _plateauRate) Reductions++;
            _plateauRate = reduced;
            _badEpochs = 0;
        }
    }
}
