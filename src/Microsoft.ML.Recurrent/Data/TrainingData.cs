using Microsoft.ML.Recurrent.Engine.Training;
using Microsoft.ML.Recurrent.Model;

namespace Microsoft.ML.Recurrent.Data;

/// <summary>The training (and validation) sequences ready for the engine, and the statistics to fold back into the weights.</summary>
/// <param name="Train">The training sequences: in memory or streamed.</param>
/// <param name="Validation">The validation sequences, or null.</param>
/// <param name="Scaling">The feature standardisation applied to both, or null.</param>
/// <param name="LabelMean">Regression: the label mean the targets were centred by (0 otherwise).</param>
/// <param name="LabelStd">Regression: the label standard deviation the targets were divided by (1 otherwise).</param>
internal sealed record PreparedData(ITrainingSource Train, ITrainingSource? Validation, Standardization? Scaling, float LabelMean, float LabelStd)
{
    /// <summary>Whether the training rows are streamed rather than held in memory.</summary>
    public bool Streaming => Train is StreamingSequenceSource;
}

/// <summary>
/// Turns the input views into training sources. Data whose copy fits <see cref="InMemoryBudgetBytes"/> is read once
/// into memory (the fast path, unchanged); anything larger is streamed: one pass counts the rows (unless the view
/// knows its count), one validates every row and sums the statistics, one more gathers the variances when
/// standardising, and then every epoch reads the view again through a shuffle buffer of about
/// <see cref="ShuffleBufferBytes"/>. Both paths compute the statistics with the same arithmetic in the same order.
/// </summary>
internal static class TrainingData
{
    /// <summary>
    /// The most bytes of sequences copied into memory (4 per value plus 48 per row): 256 MB, e.g. 160,000 sequences of
    /// 50 steps × 8 features. Larger data is streamed. A modest budget: training's own buffers are a few MB.
    /// </summary>
    public const long InMemoryBudgetBytes = 256L << 20;

    /// <summary>Size of the streaming shuffle buffer: 64 MB (40,000 sequences of 50 × 8).</summary>
    public const long ShuffleBufferBytes = 64L << 20;

    public static PreparedData Prepare(IDataView input, IDataView? validationSet, SequenceColumns columns, bool normalize,
        float validationFraction, RecurrentValidationSplit split, int seed, long budgetBytes, CancellationToken cancel)
    {
        var kind = columns.Label.Kind;
        bool scale = normalize && !columns.Features.Tokens;
        var rows = SequenceReader.TryRead(input, columns, "training", budgetBytes, cancel);
        if (rows is not null)
        {
            SequenceRows? valid = null;
            bool streamValidation = false;
            if (validationSet is not null)
            {
                valid = SequenceReader.TryRead(validationSet, columns, "validation", budgetBytes, cancel);
                streamValidation = valid is null;
            }
            else if (validationFraction > 0)
            {
                (rows, valid) = SplitRows(rows, validationFraction, seed, split);
            }

            var scaling = scale ? Standardization.Fit(rows.Features, columns.FeaturesPerStep, rows.Weights) : null;
            if (scaling is not null)
            {
                foreach (var x in rows.Features) scaling.Apply(x);
                if (valid is not null) foreach (var x in valid.Features) scaling.Apply(x);
            }

            var (labelMean, labelStd) = kind == PredictionKind.Regression ? Standardization.LabelStatistics(rows.Targets, rows.Weights) : (0f, 1f);
            ITrainingSource? validation = valid is null ? null : ToDataset(valid, columns, labelMean, labelStd);
            if (streamValidation) validation = StreamAll(validationSet!, columns, "validation", scaling, labelMean, labelStd, cancel);
            return new PreparedData(ToDataset(rows, columns, labelMean, labelStd), validation, scaling, labelMean, labelStd);
        }

        // Streaming: the split is decided from the row count, exactly as the in-memory split decides it.
        long n = CountRows(input, cancel);
        bool[]? mask = validationSet is null && validationFraction > 0 ? SplitMask(n, validationFraction, seed, split) : null;
        var scan = Scan(input, columns, "training", mask, scale, kind == PredictionKind.Regression, cancel);
        var trainSource = new StreamingSequenceSource(input, columns, "training", mask, false, scan.TrainCount, scan.TrainMaxLength,
            scan.Scaling, scan.LabelMean, scan.LabelStd, PoolRows(scan.MeanValues));
        ITrainingSource? validationSource = null;
        if (mask is not null)
        {
            validationSource = new StreamingSequenceSource(input, columns, "validation", mask, true, scan.OtherCount, scan.OtherMaxLength,
                scan.Scaling, scan.LabelMean, scan.LabelStd, 1);
        }
        else if (validationSet is not null)
        {
            var valid = SequenceReader.TryRead(validationSet, columns, "validation", budgetBytes, cancel);
            if (valid is not null)
            {
                if (scan.Scaling is not null) foreach (var x in valid.Features) scan.Scaling.Apply(x);
                validationSource = ToDataset(valid, columns, scan.LabelMean, scan.LabelStd);
            }
            else
            {
                validationSource = StreamAll(validationSet, columns, "validation", scan.Scaling, scan.LabelMean, scan.LabelStd, cancel);
            }
        }

        return new PreparedData(trainSource, validationSource, scan.Scaling, scan.LabelMean, scan.LabelStd);
    }

    /// <summary>Shuffle-buffer rows for sequences of <paramref name="meanValues"/> values on average.</summary>
    private static int PoolRows(double meanValues) =>
        (int)Math.Clamp(ShuffleBufferBytes / (4 * meanValues + SequenceReader.RowOverheadBytes), 1, 1 << 24);

    private static StreamingSequenceSource StreamAll(IDataView data, SequenceColumns columns, string setName, Standardization? scaling,
        float labelMean, float labelStd, CancellationToken cancel)
    {
        var scan = Scan(data, columns, setName, null, false, false, cancel);
        return new StreamingSequenceSource(data, columns, setName, null, false, scan.TrainCount, scan.TrainMaxLength, scaling, labelMean, labelStd, 1);
    }

    private static long CountRows(IDataView data, CancellationToken cancel)
    {
        if (data.GetRowCount() is long known) return known;
        long n = 0;
        using var cursor = data.GetRowCursor([]);
        while (cursor.MoveNext())
        {
            if ((n++ & 1023) == 0) cancel.ThrowIfCancellationRequested();
        }

        return n;
    }

    private sealed record ScanResult(int TrainCount, int TrainMaxLength, int OtherCount, int OtherMaxLength, double MeanValues,
        Standardization? Scaling, float LabelMean, float LabelStd);

    /// <summary>
    /// Validates every row and gathers what training needs before the first epoch: counts, longest sequences, and (in a
    /// second pass, when asked) the feature and label statistics of the rows not held out by <paramref name="mask"/>.
    /// </summary>
    private static ScanResult Scan(IDataView data, SequenceColumns columns, string setName, bool[]? mask, bool scale, bool labels, CancellationToken cancel)
    {
        int f = columns.FeaturesPerStep;
        var statistics = scale ? new Standardization.Accumulator(f) : null;
        var labelStatistics = labels ? new Standardization.LabelAccumulator() : null;
        long trainCount = 0, otherCount = 0, values = 0;
        int trainMax = 0, otherMax = 0;
        float[] x = [];
        for (int pass = 0; pass < (statistics is null && labelStatistics is null ? 1 : 2); pass++)
        {
            using var cursor = data.GetRowCursor(SequenceRowReader.Needed(data.Schema, columns));
            var reader = new SequenceRowReader(cursor, columns, setName);
            long row = -1;
            while (cursor.MoveNext())
            {
                row++;
                if ((row & 1023) == 0) cancel.ThrowIfCancellationRequested();
                reader.Row = row;
                bool train = mask is null || row >= mask.Length || !mask[row];
                if (pass == 1 && !train) continue;
                int len = reader.ReadFeatures(ref x, exact: false);
                var sequence = x.AsSpan(0, len);
                float y = reader.ReadLabel();
                float weight = reader.ReadWeight();
                if (pass == 1)
                {
                    statistics?.AddToVariance(sequence, weight);
                    labelStatistics?.AddToVariance(y, weight);
                    continue;
                }

                int steps = len / f;
                if (train)
                {
                    trainCount++;
                    trainMax = Math.Max(trainMax, steps);
                    values += len;
                    statistics?.AddToMean(sequence, weight);
                    labelStatistics?.AddToMean(y, weight);
                }
                else
                {
                    otherCount++;
                    otherMax = Math.Max(otherMax, steps);
                }
            }

            if (pass == 0)
            {
                if (row < 0) throw new InvalidOperationException($"The {setName} data has no rows.");
                if (trainCount > int.MaxValue || otherCount > int.MaxValue)
                    throw new InvalidOperationException($"The {setName} data has more than {int.MaxValue} rows.");
                statistics?.FinishMean();
                labelStatistics?.FinishMean();
            }
        }

        var (labelMean, labelStd) = labelStatistics?.Result() ?? (0f, 1f);
        return new ScanResult((int)trainCount, trainMax, (int)otherCount, otherMax, values / (double)Math.Max(trainCount, 1),
            statistics?.Result(), labelMean, labelStd);
    }

    private static SequenceDataset ToDataset(SequenceRows rows, SequenceColumns columns, float labelMean, float labelStd)
    {
        var set = new SequenceDataset(columns.FeaturesPerStep, 1);
        bool regression = columns.Label.Kind == PredictionKind.Regression;
        for (int i = 0; i < rows.Count; i++)
        {
            float y = rows.Targets[i];
            if (regression) y = (y - labelMean) / labelStd;
            if (rows.Weights is null) set.Add(rows.Features[i], [y]);
            else set.Add(rows.Features[i], [y], rows.Weights[i]);
        }

        return set;
    }

    /// <summary>
    /// Which of <paramref name="n"/> rows are held out: round(fraction·n) rows (at least one), chosen by a seeded
    /// shuffle (<see cref="RecurrentValidationSplit.Random"/>) or the last ones in data order
    /// (<see cref="RecurrentValidationSplit.Last"/>).
    /// </summary>
    public static bool[] SplitMask(long n, float fraction, int seed, RecurrentValidationSplit split)
    {
        int held = (int)Math.Max(1, Math.Round(fraction * n));
        if (held >= n)
            throw new InvalidOperationException(
                $"ValidationFraction = {fraction} holds out {held} of the {n} training rows and leaves none to train on; lower it or provide more rows.");
        var isValidation = new bool[n];
        if (split == RecurrentValidationSplit.Last)
        {
            isValidation.AsSpan((int)(n - held)).Fill(true);
            return isValidation;
        }

        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        new Random(unchecked(seed * 7919 + 1)).Shuffle(order);
        for (int i = 0; i < held; i++) isValidation[order[i]] = true;
        return isValidation;
    }

    /// <summary>Splits rows read into memory with <see cref="SplitMask"/>.</summary>
    public static (SequenceRows Train, SequenceRows Validation) SplitRows(SequenceRows rows, float fraction, int seed, RecurrentValidationSplit split)
    {
        var isValidation = SplitMask(rows.Count, fraction, seed, split);
        var train = new SequenceRows { Weights = rows.Weights is null ? null : [] };
        var valid = new SequenceRows { Weights = rows.Weights is null ? null : [] };
        for (int i = 0; i < rows.Count; i++)
        {
            var target = isValidation[i] ? valid : train;
            target.Features.Add(rows.Features[i]);
            target.Targets.Add(rows.Targets[i]);
            target.Weights?.Add(rows.Weights![i]);
        }

        return (train, valid);
    }
}
