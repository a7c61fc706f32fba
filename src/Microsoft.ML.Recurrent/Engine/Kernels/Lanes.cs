using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Microsoft.ML.Recurrent.Engine.Kernels;

/// <summary>
/// The engine's one lane abstraction: the same element-wise operations on 32 (two 512-bit vectors), 16, 8, 4 or 1
/// floats (<see cref="ILanes{TV}"/>), one per-thread width override (<see cref="MaxVectorWidth"/>) and one driver
/// (<see cref="Run{TBody}(ref TBody, nuint)"/>) that walks [0, n) with the widest lanes first and a scalar tail, in the
/// spirit of TensorPrimitives' operator structs. A kernel is a struct implementing <see cref="ILaneBody"/>: one
/// generic body written once, instantiated for every width, so results do not depend on the width when the body uses
/// the same operations in the same order (bit-identical across paths and machines with the same FMA support).
/// </summary>
internal static class Lanes
{
    [ThreadStatic]
    private static int t_forcedWidth; // 0: not forced; otherwise width + 1

    /// <summary>
    /// Widest vector path the element-wise and row kernels use on the calling thread: 512, 256, 128 or 0 (scalar only).
    /// Defaults to the widest accelerated width. Setting it (tests) affects only the calling thread; any path runs on any
    /// machine (a non-accelerated vector width is emulated), it is only slower.
    /// </summary>
    public static int MaxVectorWidth
    {
        get => VectorWidths.Resolve(t_forcedWidth);
        set => t_forcedWidth = VectorWidths.Force(value);
    }

    /// <summary>Runs <paramref name="body"/> over [0, n): two 512-bit vectors at a time, then one, then 256, 128 bits, then single floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Run<TBody>(ref TBody body, nuint n) where TBody : struct, ILaneBody
    {
        int width = MaxVectorWidth;
        nuint j = 0;
        if (width >= 512)
        {
            for (; j + L512x2.Count <= n; j += L512x2.Count) body.At<Pair512, L512x2>(j);
            for (; j + L512.Count <= n; j += L512.Count) body.At<Vector512<float>, L512>(j);
        }

        if (width >= 256)
            for (; j + L256.Count <= n; j += L256.Count) body.At<Vector256<float>, L256>(j);
        if (width >= 128)
            for (; j + L128.Count <= n; j += L128.Count) body.At<Vector128<float>, L128>(j);
        for (; j < n; j++) body.At<float, L1>(j);
    }
}

/// <summary>An element-wise kernel body: processes elements [j, j + O.Count) with lane type O (see <see cref="Lanes.Run{TBody}(ref TBody, nuint)"/>).</summary>
internal interface ILaneBody
{
    void At<TV, O>(nuint j) where TV : struct where O : struct, ILanes<TV>;
}

/// <summary>
/// Element-wise float operations on a lane type. Masks are lanes with all bits set (true) or clear.
/// Min/Max may return either operand when one is NaN (callers restore NaN afterwards).
/// </summary>
internal interface ILanes<TV> where TV : struct
{
    static abstract nuint Count { get; }
    static abstract TV Load(ref float p, nuint i);
    static abstract void Store(TV v, ref float p, nuint i);
    static abstract TV Splat(float x);
    static abstract TV Add(TV a, TV b);
    static abstract TV Sub(TV a, TV b);
    static abstract TV Mul(TV a, TV b);
    static abstract TV Div(TV a, TV b);
    static abstract TV Neg(TV a);
    /// <summary>a·b + c with one rounding.</summary>
    static abstract TV Fma(TV a, TV b, TV c);
    /// <summary>c − a·b with one rounding.</summary>
    static abstract TV Fnma(TV a, TV b, TV c);
    static abstract TV Min(TV a, TV b);
    static abstract TV Max(TV a, TV b);
    static abstract TV Abs(TV a);
    static abstract TV LessThan(TV a, TV b);
    static abstract TV IsNaN(TV a);
    static abstract TV Select(TV mask, TV whenTrue, TV whenFalse);
    /// <summary>magnitude (sign bit clear) with the sign bit of sign.</summary>
    static abstract TV CopySign(TV magnitude, TV sign);
    /// <summary>2^k from kf = k + 1.5·2^23 (|k| ≤ 126).</summary>
    static abstract TV Pow2(TV kf);
}

internal readonly struct L512 : ILanes<Vector512<float>>
{
    public static nuint Count => (nuint)Vector512<float>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Load(ref float p, nuint i) => Vector512.LoadUnsafe(ref p, i);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector512<float> v, ref float p, nuint i) => v.StoreUnsafe(ref p, i);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Splat(float x) => Vector512.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Sub(Vector512<float> a, Vector512<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Mul(Vector512<float> a, Vector512<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Div(Vector512<float> a, Vector512<float> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Neg(Vector512<float> a) => -a;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Fma(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Fnma(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.FusedMultiplyAdd(-a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Min(Vector512<float> a, Vector512<float> b) => Vector512.MinNative(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Max(Vector512<float> a, Vector512<float> b) => Vector512.MaxNative(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Abs(Vector512<float> a) => Vector512.Abs(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> LessThan(Vector512<float> a, Vector512<float> b) => Vector512.LessThan(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> IsNaN(Vector512<float> a) => Vector512.IsNaN(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Select(Vector512<float> mask, Vector512<float> t, Vector512<float> f) => Vector512.ConditionalSelect(mask, t, f);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> CopySign(Vector512<float> m, Vector512<float> s) => m | (s & Vector512.Create(-0f));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Pow2(Vector512<float> kf) => (Vector512.ShiftLeft(kf.AsInt32(), 23) + Vector512.Create(0x3F800000)).AsSingle();
}

/// <summary>Two 512-bit vectors side by side: every operation on both, so one loop iteration carries two independent chains.</summary>
internal struct Pair512
{
    public Vector512<float> A, B;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Pair512(Vector512<float> a, Vector512<float> b) { A = a; B = b; }
}

internal readonly struct L512x2 : ILanes<Pair512>
{
    public static nuint Count => 2 * (nuint)Vector512<float>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair512 Load(ref float p, nuint i) => new(Vector512.LoadUnsafe(ref p, i), Vector512.LoadUnsafe(ref p, i + 16));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Pair512 v, ref float p, nuint i) { v.A.StoreUnsafe(ref p, i); v.B.StoreUnsafe(ref p, i + 16); }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair512 Splat(float x) => new(Vector512.Create(x), Vector512.Create(x));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair512 Add(Pair512 a, Pair512 b) => new(a.A + b.A, a.B + b.B);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair512 Sub(Pair512 a, Pair512 b) => new(a.A - b.A, a.B - b.B);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair512 Mul(Pair512 a, Pair512 b) => new(a.A * b.A, a.B * b.B);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair512 Div(Pair512 a, Pair512 b) => new(a.A / b.A, a.B / b.B);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair512 Neg(Pair512 a) => new(-a.A, -a.B);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair512 Fma(Pair512 a, Pair512 b, Pair512 c) => new(Vector512.FusedMultiplyAdd(a.A, b.A, c.A), Vector512.FusedMultiplyAdd(a.B, b.B, c.B));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair512 Fnma(Pair512 a, Pair512 b, Pair512 c) => new(Vector512.FusedMultiplyAdd(-a.A, b.A, c.A), Vector512.FusedMultiplyAdd(-a.B, b.B, c.B));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair512 Min(Pair512 a, Pair512 b) => new(Vector512.MinNative(a.A, b.A), Vector512.MinNative(a.B, b.B));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair512 Max(Pair512 a, Pair512 b) => new(Vector512.MaxNative(a.A, b.A), Vector512.MaxNative(a.B, b.B));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair512 Abs(Pair512 a) => new(Vector512.Abs(a.A), Vector512.Abs(a.B));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair512 LessThan(Pair512 a, Pair512 b) => new(Vector512.LessThan(a.A, b.A), Vector512.LessThan(a.B, b.B));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair512 IsNaN(Pair512 a) => new(Vector512.IsNaN(a.A), Vector512.IsNaN(a.B));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair512 Select(Pair512 mask, Pair512 t, Pair512 f) => new(Vector512.ConditionalSelect(mask.A, t.A, f.A), Vector512.ConditionalSelect(mask.B, t.B, f.B));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair512 CopySign(Pair512 m, Pair512 s) => new(L512.CopySign(m.A, s.A), L512.CopySign(m.B, s.B));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair512 Pow2(Pair512 kf) => new(L512.Pow2(kf.A), L512.Pow2(kf.B));
}

internal readonly struct L256 : ILanes<Vector256<float>>
{
    public static nuint Count => (nuint)Vector256<float>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load(ref float p, nuint i) => Vector256.LoadUnsafe(ref p, i);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector256<float> v, ref float p, nuint i) => v.StoreUnsafe(ref p, i);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Splat(float x) => Vector256.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Sub(Vector256<float> a, Vector256<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Mul(Vector256<float> a, Vector256<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Div(Vector256<float> a, Vector256<float> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Neg(Vector256<float> a) => -a;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Fma(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Vector256.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Fnma(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Vector256.FusedMultiplyAdd(-a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Min(Vector256<float> a, Vector256<float> b) => Vector256.MinNative(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Max(Vector256<float> a, Vector256<float> b) => Vector256.MaxNative(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Abs(Vector256<float> a) => Vector256.Abs(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> LessThan(Vector256<float> a, Vector256<float> b) => Vector256.LessThan(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> IsNaN(Vector256<float> a) => Vector256.IsNaN(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Select(Vector256<float> mask, Vector256<float> t, Vector256<float> f) => Vector256.ConditionalSelect(mask, t, f);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> CopySign(Vector256<float> m, Vector256<float> s) => m | (s & Vector256.Create(-0f));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Pow2(Vector256<float> kf) => (Vector256.ShiftLeft(kf.AsInt32(), 23) + Vector256.Create(0x3F800000)).AsSingle();
}

internal readonly struct L128 : ILanes<Vector128<float>>
{
    public static nuint Count => (nuint)Vector128<float>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Load(ref float p, nuint i) => Vector128.LoadUnsafe(ref p, i);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector128<float> v, ref float p, nuint i) => v.StoreUnsafe(ref p, i);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Splat(float x) => Vector128.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Add(Vector128<float> a, Vector128<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Sub(Vector128<float> a, Vector128<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Mul(Vector128<float> a, Vector128<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Div(Vector128<float> a, Vector128<float> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Neg(Vector128<float> a) => -a;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Fma(Vector128<float> a, Vector128<float> b, Vector128<float> c) => Vector128.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Fnma(Vector128<float> a, Vector128<float> b, Vector128<float> c) => Vector128.FusedMultiplyAdd(-a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Min(Vector128<float> a, Vector128<float> b) => Vector128.MinNative(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Max(Vector128<float> a, Vector128<float> b) => Vector128.MaxNative(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Abs(Vector128<float> a) => Vector128.Abs(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> LessThan(Vector128<float> a, Vector128<float> b) => Vector128.LessThan(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> IsNaN(Vector128<float> a) => Vector128.IsNaN(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Select(Vector128<float> mask, Vector128<float> t, Vector128<float> f) => Vector128.ConditionalSelect(mask, t, f);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> CopySign(Vector128<float> m, Vector128<float> s) => m | (s & Vector128.Create(-0f));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Pow2(Vector128<float> kf) => (Vector128.ShiftLeft(kf.AsInt32(), 23) + Vector128.Create(0x3F800000)).AsSingle();
}

/// <summary>One float; masks are float bit patterns (all ones or zero), exactly as the vector lanes.</summary>
internal readonly struct L1 : ILanes<float>
{
    private static float Bits(int x) => BitConverter.Int32BitsToSingle(x);
    private static int Bits(float x) => BitConverter.SingleToInt32Bits(x);
    private static float Mask(bool x) => x ? Bits(-1) : 0f;

    public static nuint Count => 1;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Load(ref float p, nuint i) => Unsafe.Add(ref p, i);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float v, ref float p, nuint i) => Unsafe.Add(ref p, i) = v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Splat(float x) => x;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Add(float a, float b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sub(float a, float b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Mul(float a, float b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Div(float a, float b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Neg(float a) => -a;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Fma(float a, float b, float c) => MathF.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Fnma(float a, float b, float c) => MathF.FusedMultiplyAdd(-a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Min(float a, float b) => a < b ? a : b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Max(float a, float b) => a > b ? a : b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Abs(float a) => MathF.Abs(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float LessThan(float a, float b) => Mask(a < b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float IsNaN(float a) => Mask(float.IsNaN(a));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Select(float mask, float t, float f) => Bits(mask) != 0 ? t : f;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float CopySign(float m, float s) => Bits(Bits(m) | (Bits(s) & int.MinValue));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Pow2(float kf) => Bits((Bits(kf) << 23) + 0x3F800000);
}
