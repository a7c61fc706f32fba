using System.Runtime.InteropServices;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Training;
using Microsoft.ML.Recurrent.Model;

namespace Microsoft.ML.Recurrent.Data;

/// <summary>
/// Training sequences streamed from an <see cref="IDataView"/> in bounded memory: every epoch opens a cursor, passes the
/// rows through a shuffle buffer (a pool of <see cref="PoolRows"/> sequences: each row leaves from a random slot and the
/// next row read takes its place), takes windows of <c>bucketWindow</c> batches from it, sorts each window by length and
/// serves its batches in random order. With shuffling off, windows are consecutive rows in data order, which is exactly
/// the in-memory plan with shuffling off, so both paths give the same batches and the same weights.
/// </summary>
/// <remarks>
/// Rows are validated again as they are read (cheap next to training) and transformed on the way in: features
/// standardised, regression labels standardised, class keys made indices. Slots keep their arrays from epoch to
/// epoch, so a fixed-length data set allocates nothing after the first window. Memory: (pool + window) sequences,
/// independent of the number of rows.
/// </remarks>
internal sealed class StreamingSequenceSource : ITrainingSource
{
    private readonly IDataView _data;
    private readonly SequenceColumns _columns;
    private readonly string _setName;
    private readonly bool[]? _mask;
    private readonly bool _wanted;
    private readonly Standardization? _scaling;
    private readonly float _labelMean, _labelStd;
    private Slot[] _pool = [];
    private Slot[] _window = [];
    private int[] _windowOrder = [];

    /// <param name="data">The view to read.</param>
    /// <param name="columns">Columns and what they hold.</param>
    /// <param name="setName">"training" or "validation", for error messages.</param>
    /// <param name="mask">Null for every row; otherwise row r belongs to this source when mask[r] == <paramref name="wanted"/>.</param>
    /// <param name="wanted">See <paramref name="mask"/>.</param>
    /// <param name="count">Rows that belong to this source (from the scan).</param>
    /// <param name="maxLength">Longest sequence in steps (from the scan).</param>
    /// <param name="scaling">Feature standardisation applied on reading, or null.</param>
    /// <param name="labelMean">Regression only: label standardisation (y − mean) / std applied on reading.</param>
    /// <param name="labelStd">See <paramref name="labelMean"/>.</param>
    /// <param name="poolRows">Shuffle-buffer size in sequences.</param>
    public StreamingSequenceSource(IDataView data, SequenceColumns columns, string setName, bool[]? mask, bool wanted, int count, int maxLength,
        Standardization? scaling, float labelMean, float labelStd, int poolRows)
    {
        _data = data;
        _columns = columns;
        _setName = setName;
        _mask = mask;
        _wanted = wanted;
        Count = count;
        MaxLength = maxLength;
        _scaling = scaling;
        _labelMean = labelMean;
        _labelStd = labelStd;
        PoolRows = Math.Max(1, poolRows);
    }

    public int InputSize => _columns.FeaturesPerStep;
    public int TargetWidth => 1;
    public bool PerStepTargets => false;
    public int Count { get; }
    public int MaxLength { get; }

    /// <summary>Sequences in the shuffle buffer.</summary>
    public int PoolRows { get; }

    /// <summary>Number of times a cursor was opened (tests: the streaming path really streamed).</summary>
    internal int Passes { get; private set; }

    private sealed class Slot
    {
        public float[] Features = [];
        public int Length;
        public float Target;
        public float Weight = 1f;
    }

    /// <summary>The rows of this source, in data order, transformed for training.</summary>
    private sealed class RowStream : IDisposable
    {
        private readonly StreamingSequenceSource _owner;
        private readonly DataViewRowCursor _cursor;
        private readonly SequenceRowReader _reader;
        private readonly CancellationToken _cancellation;
        private long _row = -1;

        public RowStream(StreamingSequenceSource owner, CancellationToken cancellation)
        {
            _owner = owner;
            _cancellation = cancellation;
            _cursor = owner._data.GetRowCursor(SequenceRowReader.Needed(owner._data.Schema, owner._columns));
            _reader = new SequenceRowReader(_cursor, owner._columns, owner._setName);
            owner.Passes++;
        }

        public bool Next(Slot slot)
        {
            var o = _owner;
            while (_cursor.MoveNext())
            {
                _row++;
                if ((_row & 1023) == 0) _cancellation.ThrowIfCancellationRequested();
                if (o._mask is not null && (_row >= o._mask.Length || o._mask[_row] != o._wanted)) continue;
                _reader.Row = _row;
                slot.Length = _reader.ReadFeatures(ref slot.Features, exact: false);
                o._scaling?.Apply(slot.Features.AsSpan(0, slot.Length));
                float y = _reader.ReadLabel();
                slot.Target = o._columns.Label.Kind == PredictionKind.Regression ? (y - o._labelMean) / o._labelStd : y;
                slot.Weight = _reader.ReadWeight();
                return true;
            }

            return false;
        }

        public void Dispose() => _cursor.Dispose();
    }

    private readonly struct WindowSource(Slot[] window, int[] order, int offset, bool weights) : SequenceBatch.ISource
    {
        public ReadOnlySpan<float> Sequence(int i)
        {
            var slot = window[order[offset + i]];
            return slot.Features.AsSpan(0, slot.Length);
        }

        public bool HasTargets => true;
        public ReadOnlySpan<float> Target(int i) => MemoryMarshal.CreateReadOnlySpan(ref window[order[offset + i]].Target, 1);
        public bool HasWeights => weights;
        public float Weight(int i) => window[order[offset + i]].Weight;
    }

    private static Slot[] Slots(ref Slot[] slots, int count)
    {
        if (slots.Length < count)
        {
            int old = slots.Length;
            Array.Resize(ref slots, count);
            for (int i = old; i < count; i++) slots[i] = new Slot();
        }

        return slots;
    }

    /// <inheritdoc/>
    public IEnumerable<int> Epoch(SequenceBatch batch, int batchSize, int bucketWindow, Random random, bool shuffle, CancellationToken cancellation)
    {
        int windowRows = (int)Math.Min((long)batchSize * bucketWindow, Math.Max(Count, 1));
        var window = Slots(ref _window, windowRows);
        if (_windowOrder.Length < windowRows) _windowOrder = new int[windowRows];
        var starts = new List<int>();
        bool weights = _columns.WeightColumn is not null;
        using var rows = new RowStream(this, cancellation);
        if (!shuffle)
        {
            while (true)
            {
                int n = 0;
                while (n < windowRows && rows.Next(window[n])) n++;
                if (n == 0) yield break;
                foreach (int count in Serve(batch, window, n, batchSize, random, shuffle, weights, starts)) yield return count;
            }
        }

        var pool = Slots(ref _pool, PoolRows);
        int inPool = 0;
        while (inPool < PoolRows && rows.Next(pool[inPool])) inPool++;
        while (inPool > 0)
        {
            int n = 0;
            while (n < windowRows && inPool > 0)
            {
                int j = random.Next(inPool);
                (window[n], pool[j]) = (pool[j], window[n]);
                n++;
                if (!rows.Next(pool[j]))
                {
                    inPool--;
                    (pool[j], pool[inPool]) = (pool[inPool], pool[j]);
                }
            }

            foreach (int count in Serve(batch, window, n, batchSize, random, shuffle, weights, starts)) yield return count;
        }
    }

    /// <summary>Sorts a window by length (longest first, ties in window order) and fills its batches, in random order when shuffling.</summary>
    private IEnumerable<int> Serve(SequenceBatch batch, Slot[] window, int n, int batchSize, Random random, bool shuffle, bool weights, List<int> starts)
    {
        var order = _windowOrder;
        for (int i = 0; i < n; i++) order[i] = i;
        Array.Sort(order, 0, n, Comparer<int>.Create((a, b) => window[b].Length.CompareTo(window[a].Length) is var c && c != 0 ? c : a.CompareTo(b)));
        starts.Clear();
        for (int start = 0; start < n; start += batchSize) starts.Add(start);
        if (shuffle) random.Shuffle(CollectionsMarshal.AsSpan(starts));
        for (int k = 0; k < starts.Count; k++)
        {
            int start = starts[k];
            int count = Math.Min(batchSize, n - start);
            batch.Fill(count, new WindowSource(window, order, start, weights), perStepTargets: false);
            yield return count;
        }
    }

    /// <inheritdoc/>
    public IEnumerable<int> InOrder(SequenceBatch batch, CancellationToken cancellation)
    {
        int capacity = batch.CapacityBatch;
        var window = Slots(ref _window, capacity);
        if (_windowOrder.Length < capacity) _windowOrder = new int[capacity];
        var order = _windowOrder;
        bool weights = _columns.WeightColumn is not null;
        using var rows = new RowStream(this, cancellation);
        while (true)
        {
            int n = 0;
            while (n < capacity && rows.Next(window[n])) n++;
            if (n == 0) yield break;
            for (int i = 0; i < n; i++) order[i] = i;
            batch.Fill(n, new WindowSource(window, order, 0, weights), perStepTargets: false);
            yield return n;
        }
    }
}
