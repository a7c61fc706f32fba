using Microsoft.ML.Data;

namespace Microsoft.ML.Recurrent.Experiments;

/// <summary>
/// The rows of <c>first</c> followed by the rows of <c>second</c> (same schema), read by one sequential cursor: the backtest
/// view of a forecasting experiment (training rows, then the validation rows that follow them). ML.NET's own append view is
/// not public.
/// </summary>
internal sealed class AppendedView : IDataView
{
    private readonly IDataView _first, _second;

    public AppendedView(IDataView first, IDataView second)
    {
        _first = first;
        _second = second;
    }

    public bool CanShuffle => false;

    public DataViewSchema Schema => _first.Schema;

    public long? GetRowCount() => _first.GetRowCount() is long a && _second.GetRowCount() is long b ? a + b : null;

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var names = columnsNeeded.Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        return new Cursor(this, names);
    }

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        [GetRowCursor(columnsNeeded, rand)];

    private sealed class Cursor : DataViewRowCursor
    {
        private readonly AppendedView _view;
        private readonly HashSet<string> _names;
        private DataViewRowCursor _current;
        private bool _onSecond;
        private long _position = -1;

        public Cursor(AppendedView view, HashSet<string> names)
        {
            _view = view;
            _names = names;
            _current = Open(view._first);
        }

        private DataViewRowCursor Open(IDataView source) => source.GetRowCursor(source.Schema.Where(c => _names.Contains(c.Name)));

        public override DataViewSchema Schema => _view.Schema;

        public override long Position => _position;

        public override long Batch => 0;

        public override bool IsColumnActive(DataViewSchema.Column column) => _names.Contains(column.Name);

        public override bool MoveNext()
        {
            while (true)
            {
                if (_current.MoveNext())
                {
                    _position++;
                    return true;
                }

                if (_onSecond) return false;
                _current.Dispose();
                _current = Open(_view._second);
                _onSecond = true;
            }
        }

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            DataViewRowCursor? owner = null;
            ValueGetter<TValue>? inner = null;
            return (ref TValue value) =>
            {
                if (!ReferenceEquals(owner, _current))
                {
                    owner = _current;
                    inner = _current.GetGetter<TValue>(_current.Schema[column.Name]);
                }

                inner!(ref value);
            };
        }

        public override ValueGetter<DataViewRowId> GetIdGetter() => (ref DataViewRowId id) => id = new DataViewRowId((ulong)_position, _onSecond ? 1UL : 0UL);

        protected override void Dispose(bool disposing)
        {
            if (disposing) _current.Dispose();
            base.Dispose(disposing);
        }
    }
}
