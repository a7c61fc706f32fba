using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Data;

namespace Microsoft.ML.Recurrent.Tagging;

/// <summary>A labelled span: steps [Start, End] inclusive of one type.</summary>
internal readonly record struct TagSpan(int Start, int End, string Type);

/// <summary>Computes <see cref="TaggingMetrics"/> from a scored view (label and prediction vectors of the same length per row).</summary>
internal static class TaggingEvaluator
{
    public static TaggingMetrics Evaluate(IDataView data, string labelColumnName, string predictedLabelColumnName, string scoreColumnName)
    {
        ArgumentNullException.ThrowIfNull(data);
        var schema = data.Schema;
        var label = schema.GetColumnOrNull(labelColumnName)
            ?? throw new ArgumentOutOfRangeException(nameof(labelColumnName), $"Label column '{labelColumnName}' was not found in the scored data; expected a vector of keys (classes) or of Single (values).");
        if (label.Type is not VectorDataViewType lv)
            throw new ArgumentOutOfRangeException(nameof(labelColumnName), $"Label column '{labelColumnName}' has the wrong type: expected a vector of keys (classes) or of Single (values), found {label.Type}.");
        if (lv.ItemType is KeyDataViewType key)
        {
            var predicted = schema.GetColumnOrNull(predictedLabelColumnName)
                ?? throw new ArgumentOutOfRangeException(nameof(predictedLabelColumnName), $"Predicted label column '{predictedLabelColumnName}' was not found in the scored data; expected a vector of keys.");
            if (predicted.Type is not VectorDataViewType { ItemType: KeyDataViewType pk } || pk.Count != key.Count)
                throw new ArgumentOutOfRangeException(nameof(predictedLabelColumnName),
                    $"Predicted label column '{predictedLabelColumnName}' has the wrong type: expected a vector of keys with {key.Count} values like label column '{labelColumnName}', found {predicted.Type}.");
            int k = (int)key.Count;
            var names = SequenceSchema.ClassNames(label, k);
            return Classes(ReadKeys(data, label, predicted), names);
        }

        if (lv.ItemType == NumberDataViewType.Single)
        {
            var score = schema.GetColumnOrNull(scoreColumnName)
                ?? throw new ArgumentOutOfRangeException(nameof(scoreColumnName), $"Score column '{scoreColumnName}' was not found in the scored data; expected a vector of Single.");
            if (score.Type is not VectorDataViewType { ItemType: var st } || st != NumberDataViewType.Single)
                throw new ArgumentOutOfRangeException(nameof(scoreColumnName), $"Score column '{scoreColumnName}' has the wrong type: expected a vector of Single, found {score.Type}.");
            return Values(data, label, score);
        }

        throw new ArgumentOutOfRangeException(nameof(labelColumnName), $"Label column '{labelColumnName}' has the wrong type: expected a vector of keys (classes) or of Single (values), found {label.Type}.");
    }

    private static IEnumerable<(int[] Label, int[] Predicted)> ReadKeys(IDataView data, DataViewSchema.Column label, DataViewSchema.Column predicted)
    {
        using var cursor = data.GetRowCursor(new[] { label, predicted });
        var readLabel = KeyVector(cursor, label);
        var readPredicted = KeyVector(cursor, predicted);
        long row = 0;
        while (cursor.MoveNext())
        {
            var y = readLabel();
            var p = readPredicted();
            if (y.Length != p.Length)
                throw new InvalidOperationException($"Row {row}: label column '{label.Name}' has {y.Length} tags but predicted label column '{predicted.Name}' has {p.Length}.");
            for (int t = 0; t < y.Length; t++)
            {
                if (y[t] < 0) throw new InvalidOperationException($"Row {row}: label column '{label.Name}' is missing (key 0) at step {t}.");
            }

            yield return (y, p);
            row++;
        }
    }

    /// <summary>Class indices (key − 1; −1 for a missing key) of a key-vector column of any raw key type.</summary>
    private static Func<int[]> KeyVector(DataViewRowCursor cursor, DataViewSchema.Column col)
    {
        var raw = ((KeyDataViewType)((VectorDataViewType)col.Type).ItemType).RawType;
        if (raw == typeof(uint)) return Read<uint>(cursor, col, v => (int)v - 1);
        if (raw == typeof(byte)) return Read<byte>(cursor, col, v => v - 1);
        if (raw == typeof(ushort)) return Read<ushort>(cursor, col, v => v - 1);
        return Read<ulong>(cursor, col, v => (int)v - 1);
    }

    private static Func<int[]> Read<T>(DataViewRowCursor cursor, DataViewSchema.Column col, Func<T, int> index)
    {
        var getter = cursor.GetGetter<VBuffer<T>>(col);
        VBuffer<T> buffer = default;
        return () =>
        {
            getter(ref buffer);
            var result = new int[buffer.Length];
            int i = 0;
            foreach (var v in buffer.DenseValues()) result[i++] = index(v);
            return result;
        };
    }

    /// <summary>Token, class, sequence and (for BIO names) span metrics over (label, predicted) class-index pairs.</summary>
    internal static TaggingMetrics Classes(IEnumerable<(int[] Label, int[] Predicted)> rows, IReadOnlyList<string> names)
    {
        int k = names.Count;
        var tp = new long[k];
        var predictedCount = new long[k];
        var support = new long[k];
        long tokens = 0, correct = 0, sequences = 0, perfect = 0, spanCorrect = 0, spanLabel = 0, spanPredicted = 0;
        bool bio = IsBio(names);
        foreach (var (y, p) in rows)
        {
            sequences++;
            bool all = true;
            for (int t = 0; t < y.Length; t++)
            {
                tokens++;
                support[y[t]]++;
                if (p[t] >= 0 && p[t] < k) predictedCount[p[t]]++;
                if (y[t] == p[t]) { correct++; tp[y[t]]++; }
                else all = false;
            }

            if (all) perfect++;
            if (bio)
            {
                var gold = Spans(y.Select(i => names[i]).ToArray());
                var guess = Spans(p.Select(i => i >= 0 && i < k ? names[i] : "O").ToArray());
                spanLabel += gold.Count;
                spanPredicted += guess.Count;
                spanCorrect += guess.Count(gold.Contains);
            }
        }

        var precision = new double[k];
        var recall = new double[k];
        var f1 = new double[k];
        double macro = 0;
        int counted = 0;
        for (int c = 0; c < k; c++)
        {
            precision[c] = predictedCount[c] > 0 ? (double)tp[c] / predictedCount[c] : 0;
            recall[c] = support[c] > 0 ? (double)tp[c] / support[c] : 0;
            f1[c] = precision[c] + recall[c] > 0 ? 2 * precision[c] * recall[c] / (precision[c] + recall[c]) : 0;
            if (support[c] > 0 || predictedCount[c] > 0) { macro += f1[c]; counted++; }
        }

        var m = new TaggingMetrics
        {
            SequenceCount = sequences,
            TokenCount = tokens,
            TokenAccuracy = tokens > 0 ? (double)correct / tokens : 0,
            SequenceAccuracy = sequences > 0 ? (double)perfect / sequences : 0,
            ClassNames = names.ToArray(),
            PerClassPrecision = precision,
            PerClassRecall = recall,
            PerClassF1Score = f1,
            PerClassSupport = support,
            MacroF1Score = counted > 0 ? macro / counted : 0,
            HasSpans = bio,
        };
        if (bio)
        {
            double sp = spanPredicted > 0 ? (double)spanCorrect / spanPredicted : 0;
            double sr = spanLabel > 0 ? (double)spanCorrect / spanLabel : 0;
            m.SpanPrecision = sp;
            m.SpanRecall = sr;
            m.SpanF1Score = sp + sr > 0 ? 2 * sp * sr / (sp + sr) : 0;
            m.LabelSpanCount = spanLabel;
            m.PredictedSpanCount = spanPredicted;
        }

        return m;
    }

    /// <summary>BIO/IOB2: every name is "O" or "B-x"/"I-x" with a non-empty type, and at least one is "B-x".</summary>
    internal static bool IsBio(IReadOnlyList<string> names)
    {
        bool anyBegin = false;
        foreach (string n in names)
        {
            if (n == "O") continue;
            if (n.Length < 3 || n[1] != '-' || (n[0] != 'B' && n[0] != 'I')) return false;
            if (n[0] == 'B') anyBegin = true;
        }

        return anyBegin;
    }

    /// <summary>Spans as conlleval reads chunks: B-x starts one; I-x continues the open span of type x, and otherwise
    /// (after O, after another type, at the start) starts one; O closes the open span.</summary>
    internal static List<TagSpan> Spans(IReadOnlyList<string> tags)
    {
        var spans = new List<TagSpan>();
        int start = -1;
        string? type = null;
        for (int t = 0; t < tags.Count; t++)
        {
            string tag = tags[t];
            if (tag == "O")
            {
                if (type is not null) spans.Add(new TagSpan(start, t - 1, type));
                type = null;
                continue;
            }

            string kind = tag[2..];
            if (tag[0] == 'B' || type != kind)
            {
                if (type is not null) spans.Add(new TagSpan(start, t - 1, type));
                start = t;
                type = kind;
            }
        }

        if (type is not null) spans.Add(new TagSpan(start, tags.Count - 1, type));
        return spans;
    }

    private static TaggingMetrics Values(IDataView data, DataViewSchema.Column label, DataViewSchema.Column score)
    {
        using var cursor = data.GetRowCursor(new[] { label, score });
        var gl = cursor.GetGetter<VBuffer<float>>(label);
        var gs = cursor.GetGetter<VBuffer<float>>(score);
        VBuffer<float> y = default, p = default;
        double sq = 0, abs = 0;
        long tokens = 0, sequences = 0;
        while (cursor.MoveNext())
        {
            gl(ref y);
            gs(ref p);
            if (y.Length != p.Length)
                throw new InvalidOperationException($"Row {sequences}: label column '{label.Name}' has {y.Length} values but score column '{score.Name}' has {p.Length}.");
            var yv = y.DenseValues().ToArray();
            var pv = p.DenseValues().ToArray();
            for (int t = 0; t < yv.Length; t++)
            {
                double d = (double)pv[t] - yv[t];
                sq += d * d;
                abs += Math.Abs(d);
            }

            tokens += yv.Length;
            sequences++;
        }

        return new TaggingMetrics
        {
            SequenceCount = sequences,
            TokenCount = tokens,
            RootMeanSquaredError = tokens > 0 ? Math.Sqrt(sq / tokens) : 0,
            MeanAbsoluteError = tokens > 0 ? abs / tokens : 0,
        };
    }
}
