namespace Microsoft.ML.Recurrent.Engine.Quantized;

/// <summary>One thread's scratch buffers for the reduced-precision products (grown on demand, never shared).</summary>
internal sealed class QuantizedScratch
{
    private sbyte[] _int8 = [];
    private int[] _int32 = [];
    private float[] _float = [];

    /// <summary>At least <paramref name="n"/> sbytes for a quantized input vector.</summary>
    public Span<sbyte> Int8Input(int n)
    {
        if (_int8.Length < n) _int8 = new sbyte[n];
        return _int8.AsSpan(0, n);
    }

    /// <summary>At least <paramref name="n"/> int32 accumulators.</summary>
    public Span<int> Int32Rows(int n)
    {
        if (_int32.Length < n) _int32 = new int[n];
        return _int32.AsSpan(0, n);
    }

    /// <summary>At least <paramref name="n"/> float accumulators.</summary>
    public Span<float> FloatRows(int n)
    {
        if (_float.Length < n) _float = new float[n];
        return _float.AsSpan(0, n);
    }
}
