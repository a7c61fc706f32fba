using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace Microsoft.ML.Recurrent.Engine.Kernels;

/// <summary>
/// The engine's one lane abstraction: the same element-wise operations on 32 (two 512-bit vectors), 16, 8, 4 or 1
/// floats (<see cref="ILanes{TV}"/>), one per-thread width override (<see cref="MaxVectorWidth"/>) and one driver
/// (<see cref="Run{TBody}(ref TBody, nuint)"/>) that walks [0, n) with the widest lanes first and a scalar tail, in the
/// spirit of TensorPrimitives' operator structs. A kernel is a struct implementing <see cref="ILaneBody"/>: one
/// generic body written once, instantiated for every width, so results do not depend on the width when the body uses
/// the same operations in the same order (bit-identical across paths and machines with the same FMA support).
/// </summary>
/// <remarks>
/// Two lane families: the fused ones (<see cref="L512x2"/>, <see cref="L512"/>, <see cref="L256"/>, <see cref="L128"/>,
/// <see cref="L1"/>), whose <c>Fma</c> rounds once, and the unfused ones (<see cref="L512x2Unfused"/> …
/// <see cref="L1Unfused"/>), whose <c>Fma</c> is a multiply then an add (two roundings). The family is chosen once at
/// start-up (<see cref="HardwareFma"/>): without the instruction, .NET emulates a fused multiply–add one lane at a time
/// in software, which makes every kernel over a hundred times slower. Every kernel on a machine uses the same family,
/// its scalar tail included, so the widths still agree bit for bit there; the two families differ from each other in
/// the last bits (the golden test pins the fused family's bits).
/// </remarks>
internal static class Lanes
{
    [ThreadStatic]
    private static int t_forcedWidth; // 0: not forced; otherwise width + 1

    [ThreadStatic]
    private static int t_forcedFma; // 0: not forced; 1: unfused; 2: fused

    /// <summary>The widest accelerated width: 512, 256, 128 (ARM64: AdvSimd accelerates Vector128 only) or 0 (scalar).</summary>
    public static readonly int WidestAccelerated =
        Vector512.IsHardwareAccelerated ? 512 : Vector256.IsHardwareAccelerated ? 256 : Vector128.IsHardwareAccelerated ? 128 : 0;

    /// <summary>
    /// Whether the machine has a fused multiply–add instruction the JIT uses (x86 FMA3, which every AVX-512 and nearly
    /// every AVX2 machine has; ARM64 AdvSimd always). False with <c>DOTNET_EnableAVX2=0</c> on .NET 10, which groups FMA
    /// with AVX2 (the older <c>DOTNET_EnableFMA=0</c> no longer has an effect).
    /// </summary>
    public static readonly bool HardwareFma = Fma.IsSupported || AdvSimd.IsSupported;

    /// <summary>
    /// Whether the kernels started on the calling thread use the fused lane family: <see cref="HardwareFma"/> unless a
    /// test forces the other family on this thread (any family runs on any machine; the emulated one is only slower).
    /// </summary>
    public static bool UseFma
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)] // read once per row of every gate pass (perf: 0.3–0.4 % of a training step as a call)
        get => t_forcedFma == 0 ? HardwareFma : t_forcedFma == 2;
        set => t_forcedFma = value ? 2 : 1;
    }

    /// <summary>The calling thread's overrides (width and family), as <see cref="WorkerPool"/> hands them to its workers.</summary>
    internal static (int Width, int Fma, int Registers) Overrides => (t_forcedWidth, t_forcedFma, t_forcedRegisters);

    /// <summary>
    /// Makes the calling thread use <paramref name="overrides"/> (a pool worker taking part in a job: the parts of a
    /// time loop then run the kernels the caller forced, not the worker's defaults).
    /// </summary>
    internal static void Apply((int Width, int Fma, int Registers) overrides) => (t_forcedWidth, t_forcedFma, t_forcedRegisters) = overrides;

    /// <summary>"fused" or "unfused": the lane family of <see cref="UseFma"/> (reported by benchmarks and the fresh-process check).</summary>
    public static string Family => UseFma ? "fused" : "unfused";

    /// <summary>
    /// Widest vector path the element-wise and row kernels use on the calling thread: 512, 256, 128 or 0 (scalar only).
    /// Defaults to the widest accelerated width. Setting it (tests) affects only the calling thread; any path runs on any
    /// machine (a non-accelerated vector width is emulated), it is only slower.
    /// </summary>
    public static int MaxVectorWidth
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)] // as UseFma
        get => t_forcedWidth == 0 ? WidestAccelerated : t_forcedWidth - 1;
        set
        {
            if (value is not (0 or 128 or 256 or 512))
                throw new ArgumentOutOfRangeException(nameof(value), value, "MaxVectorWidth must be 0, 128, 256 or 512.");
            t_forcedWidth = value + 1;
        }
    }

    /// <summary>
    /// Runs <paramref name="body"/> over [0, n): two 512-bit vectors at a time, then one, then 256, 128 bits, then single
    /// floats (up to <see cref="MaxVectorWidth"/>), with the lane family of <see cref="UseFma"/>. The two-vector 512-bit
    /// loop is inlined into the caller only where the hardware runs 512-bit vectors (a JIT-time constant): elsewhere it
    /// only runs when a test forces the width, emulated, and inlined it made every caller carry its code and its stack
    /// (the LSTM gate pass on AVX2: 17 KiB of code and a 19 KiB frame, against 1.3 KiB and 56 bytes without).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Run<TBody>(ref TBody body, nuint n) where TBody : struct, ILaneBody
    {
        if (UseFma) Walk<TBody, L512x2, L512, L256, L128, L1>(ref body, n, MaxVectorWidth, inlineWidest: Vector512.IsHardwareAccelerated);
        else WalkUnfused(ref body, n, MaxVectorWidth);
    }

    /// <summary>
    /// The unfused family's walk (machines without FMA), compiled on its own and with every width's loop in a method of
    /// its own: inlined beside the fused walk, its bodies did not fit the caller's inlining budget and ran their lane
    /// operations as calls.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void WalkUnfused<TBody>(ref TBody body, nuint n, int width) where TBody : struct, ILaneBody =>
        Walk<TBody, L512x2Unfused, L512Unfused, L256Unfused, L128Unfused, L1Unfused>(ref body, n, width, inlineWidest: false);

    /// <summary>
    /// Vector registers the JIT can use for 128- and 256-bit code: 32 with AVX-512 (it encodes them with EVEX and uses
    /// ymm16–31 too) and on ARM64, 16 on other x86 machines (AVX2). Chooses tiles and loop shapes only: the bits are the
    /// same either way.
    /// </summary>
    public static readonly int MachineVectorRegisters = Avx512F.VL.IsSupported || AdvSimd.Arm64.IsSupported ? 32 : 16;

    [ThreadStatic]
    private static int t_forcedRegisters;

    /// <summary>
    /// <see cref="MachineVectorRegisters"/>, unless the calling thread forced 16 or 32 (tests: every machine then runs the
    /// kernels' shapes for both register files; a count the machine lacks is only slower). Pool workers take it over with
    /// <see cref="Overrides"/>.
    /// </summary>
    public static int VectorRegisters
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => t_forcedRegisters == 0 ? MachineVectorRegisters : t_forcedRegisters;
        set
        {
            if (value is not (0 or 16 or 32)) throw new ArgumentOutOfRangeException(nameof(value), value, "VectorRegisters must be 0 (the machine's), 16 or 32.");
            t_forcedRegisters = value;
        }
    }

    /// <summary>
    /// As <see cref="Run{TBody}"/>, but where the widest width is 256 bits and there are 16 vector registers (AVX2), two
    /// vectors an iteration (<see cref="Pair256"/>) first. For short bodies (one activation, the LSTM states): a σ or
    /// tanh is a chain of some 25 dependent operations, the out-of-order window of such a core holds only a few
    /// iterations, and with one vector an iteration they hardly overlapped; two chains side by side, each operation next
    /// to its twin, still fit in 16 registers. Longer bodies spill with pairs (measured: the LSTM backward pass 0.53–0.68×),
    /// so they use <see cref="Run{TBody}"/>. Every element runs the same operations, so the bits are the same.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void RunPaired<TBody>(ref TBody body, nuint n) where TBody : struct, ILaneBody
    {
        if (PairsAt256)
        {
            nuint j = n >= L256x2.Count ? Loop<TBody, Pair256, L256x2>(ref body, 0, n) : 0;
            if (j < n) Tail(ref body, j, n);
        }
        else
        {
            Run(ref body, n);
        }
    }

    /// <summary>Whether <see cref="RunPaired{TBody}"/> runs pairs of 256-bit vectors on the calling thread (fused lanes, 256 bits widest, 16 registers).</summary>
    public static bool PairsAt256
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => UseFma && MaxVectorWidth == 256 && VectorRegisters < 32;
    }

    /// <summary>The elements after <see cref="RunPaired{TBody}"/>'s pairs: one 256-bit vector, then 128 bits, then floats.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Tail<TBody>(ref TBody body, nuint j, nuint n) where TBody : struct, ILaneBody
    {
        if (n - j >= L256.Count) j = Loop<TBody, Vector256<float>, L256>(ref body, j, n);
        if (n - j >= L128.Count) j = Loop<TBody, Vector128<float>, L128>(ref body, j, n);
        if (j < n) Loop<TBody, float, L1>(ref body, j, n);
    }

    /// <summary>
    /// Runs <paramref name="body"/> over [0, n) with ONE vector width, the widest allowed by <see cref="MaxVectorWidth"/>
    /// (512, 256 or 128 bits) whose vector fits in n, then single floats: for reductions whose grouping may depend on
    /// the width and the length only.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void RunWidest<TBody>(ref TBody body, nuint n) where TBody : struct, ILaneBody
    {
        if (UseFma) Widest<TBody, L512, L256, L128, L1>(ref body, n, MaxVectorWidth);
        else Widest<TBody, L512Unfused, L256Unfused, L128Unfused, L1Unfused>(ref body, n, MaxVectorWidth);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Walk<TBody, T32, T16, T8, T4, T1>(ref TBody body, nuint n, int width, bool inlineWidest)
        where TBody : struct, ILaneBody
        where T32 : struct, ILanes<Pair512> where T16 : struct, ILanes<Vector512<float>>
        where T8 : struct, ILanes<Vector256<float>> where T4 : struct, ILanes<Vector128<float>> where T1 : struct, ILanes<float>
    {
        // The widest loop is inlined here (the common case: rows of a multiple of 32 floats pay no call); every other
        // width's loop is a method of its own. Inlined into one driver, the bodies of the later widths no longer fitted
        // the JIT's inlining budget and ran their lane operations as calls (measured: a 16-unit LSTM gate pass 4.6× slower).
        nuint j = 0;
        if (width >= 512)
        {
            if (inlineWidest)
                for (; j + T32.Count <= n; j += T32.Count) body.At<Pair512, T32>(j);
            else if (n >= T32.Count)
                j = Loop<TBody, Pair512, T32>(ref body, j, n);
            if (n - j >= T16.Count) j = Loop<TBody, Vector512<float>, T16>(ref body, j, n);
        }

        if (width >= 256 && n - j >= T8.Count) j = Loop<TBody, Vector256<float>, T8>(ref body, j, n);
        if (width >= 128 && n - j >= T4.Count) j = Loop<TBody, Vector128<float>, T4>(ref body, j, n);
        if (j < n) Loop<TBody, float, T1>(ref body, j, n);
    }

    /// <summary>
    /// body.At over [j, n) in steps of O.Count while a whole step fits; returns where it stopped. On a local copy of the
    /// body, so that its pointers live in registers; the copy is written back (a body may accumulate).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static nuint Loop<TBody, TV, O>(ref TBody body, nuint j, nuint n)
        where TBody : struct, ILaneBody where TV : struct where O : struct, ILanes<TV>
    {
        var local = body;
        for (; j + O.Count <= n; j += O.Count) local.At<TV, O>(j);
        body = local;
        return j;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Widest<TBody, T16, T8, T4, T1>(ref TBody body, nuint n, int width)
        where TBody : struct, ILaneBody
        where T16 : struct, ILanes<Vector512<float>> where T8 : struct, ILanes<Vector256<float>>
        where T4 : struct, ILanes<Vector128<float>> where T1 : struct, ILanes<float>
    {
        nuint j = 0;
        if (width >= 512 && n >= T16.Count)
            for (; j + T16.Count <= n; j += T16.Count) body.At<Vector512<float>, T16>(j);
        else if (width >= 256 && n >= T8.Count)
            for (; j + T8.Count <= n; j += T8.Count) body.At<Vector256<float>, T8>(j);
        else if (width >= 128 && n >= T4.Count)
            for (; j + T4.Count <= n; j += T4.Count) body.At<Vector128<float>, T4>(j);
        for (; j < n; j++) body.At<float, T1>(j);
    }
}

/// <summary>An element-wise kernel body: processes elements [j, j + O.Count) with lane type O (see <see cref="Lanes.Run{TBody}(ref TBody, nuint)"/>).</summary>
internal interface ILaneBody
{
    void At<TV, O>(nuint j) where TV : struct where O : struct, ILanes<TV>;
}

/// <summary>
/// Element-wise float operations on a lane type. Comparisons are folded into <see cref="SelectLess"/>, so no mask
/// type shows; Min/Max return NaN where their second operand is NaN (see <see cref="Min"/>).
/// </summary>
internal unsafe interface ILanes<TV> where TV : struct
{
    static abstract nuint Count { get; }
    /// <summary>True for the fused family (<see cref="Fma"/> rounds once), false for the unfused one.</summary>
    static abstract bool Fused { get; }
    /// <summary>All lanes +0.</summary>
    static abstract TV Zero { get; }
    /// <summary>Count floats from p.</summary>
    static abstract TV Load(float* p);
    /// <summary>Count floats to p.</summary>
    static abstract void Store(TV v, float* p);
    /// <summary>The family's scalar a·b + c (fused: one rounding; unfused: two), for tails of kernels written per width.</summary>
    static abstract float ScalarFma(float a, float b, float c);
    /// <summary>Whether every lane of a equals the same lane of b (IEEE: NaN equals nothing).</summary>
    static abstract bool EqualsAll(TV a, TV b);
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
    /// <summary>
    /// The lesser of a and b; NaN where b is NaN (x86's MINPS returns its second operand when either is NaN, ARM64's FMIN
    /// returns NaN, and so do the scalar lanes), whatever a is. Where only a is NaN the result depends on the machine.
    /// The activations rely on the first rule (<see cref="Microsoft.ML.Recurrent.Engine.Cells.Activations"/>); the JIT
    /// keeps the operands' order for float MINPS/MAXPS (it does not treat them as commutative).
    /// </summary>
    static abstract TV Min(TV a, TV b);
    /// <summary>The greater of a and b; NaN where b is NaN, as <see cref="Min"/>.</summary>
    static abstract TV Max(TV a, TV b);
    static abstract TV Abs(TV a);
    /// <summary>
    /// whenTrue where a &lt; b, else whenFalse (false where either is NaN), in one operation so that a
    /// lane type can keep the comparison in a mask register (AVX-512: a compare into k and a masked blend, instead of
    /// widening the mask into a vector and selecting bitwise).
    /// </summary>
    static abstract TV SelectLess(TV a, TV b, TV whenTrue, TV whenFalse);
    /// <summary>magnitude (sign bit clear) with the sign bit of sign.</summary>
    static abstract TV CopySign(TV magnitude, TV sign);
    /// <summary>2^k from kf = k + 1.5·2^23 (|k| ≤ 126).</summary>
    static abstract TV Pow2(TV kf);
}

internal readonly struct L512 : ILanes<Vector512<float>>
{
    public static nuint Count => (nuint)Vector512<float>.Count;
    public static bool Fused => true;
    public static Vector512<float> Zero => Vector512<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe Vector512<float> Load(float* p) => Vector512.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe void Store(Vector512<float> v, float* p) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float ScalarFma(float a, float b, float c) => MathF.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool EqualsAll(Vector512<float> a, Vector512<float> b) => Vector512.EqualsAll(a, b);
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
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> SelectLess(Vector512<float> a, Vector512<float> b, Vector512<float> t, Vector512<float> f) => Vector512.ConditionalSelect(Vector512.LessThan(a, b), t, f);
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
    public static bool Fused => true;
    public static Pair512 Zero => default;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe Pair512 Load(float* p) => new(Vector512.Load(p), Vector512.Load(p + 16));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe void Store(Pair512 v, float* p) { v.A.Store(p); v.B.Store(p + 16); }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float ScalarFma(float a, float b, float c) => MathF.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool EqualsAll(Pair512 a, Pair512 b) => Vector512.EqualsAll(a.A, b.A) & Vector512.EqualsAll(a.B, b.B);
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
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair512 SelectLess(Pair512 a, Pair512 b, Pair512 t, Pair512 f) => new(L512.SelectLess(a.A, b.A, t.A, f.A), L512.SelectLess(a.B, b.B, t.B, f.B));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair512 CopySign(Pair512 m, Pair512 s) => new(L512.CopySign(m.A, s.A), L512.CopySign(m.B, s.B));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair512 Pow2(Pair512 kf) => new(L512.Pow2(kf.A), L512.Pow2(kf.B));
}

/// <summary>
/// Two 256-bit vectors side by side (the step of <see cref="Lanes.RunPaired{TBody}"/> on 16 registers), written out as
/// <see cref="Pair512"/> is: one generic pair over a lane type (each operation calling the lane type's) added an inlining
/// level, and the LSTM states body then ran its lane operations as calls (the JIT's listing showed 18 calls and 79 stack
/// references against none).
/// </summary>
internal struct Pair256
{
    public Vector256<float> A, B;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Pair256(Vector256<float> a, Vector256<float> b) { A = a; B = b; }
}

internal readonly struct L256x2 : ILanes<Pair256>
{
    public static nuint Count => 2 * (nuint)Vector256<float>.Count;
    public static bool Fused => true;
    public static Pair256 Zero => default;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe Pair256 Load(float* p) => new(Vector256.Load(p), Vector256.Load(p + 8));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe void Store(Pair256 v, float* p) { v.A.Store(p); v.B.Store(p + 8); }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float ScalarFma(float a, float b, float c) => MathF.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool EqualsAll(Pair256 a, Pair256 b) => Vector256.EqualsAll(a.A, b.A) & Vector256.EqualsAll(a.B, b.B);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair256 Load(ref float p, nuint i) => new(Vector256.LoadUnsafe(ref p, i), Vector256.LoadUnsafe(ref p, i + 8));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Pair256 v, ref float p, nuint i) { v.A.StoreUnsafe(ref p, i); v.B.StoreUnsafe(ref p, i + 8); }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair256 Splat(float x) => new(Vector256.Create(x), Vector256.Create(x));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair256 Add(Pair256 a, Pair256 b) => new(a.A + b.A, a.B + b.B);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair256 Sub(Pair256 a, Pair256 b) => new(a.A - b.A, a.B - b.B);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair256 Mul(Pair256 a, Pair256 b) => new(a.A * b.A, a.B * b.B);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair256 Div(Pair256 a, Pair256 b) => new(a.A / b.A, a.B / b.B);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair256 Neg(Pair256 a) => new(-a.A, -a.B);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair256 Fma(Pair256 a, Pair256 b, Pair256 c) => new(Vector256.FusedMultiplyAdd(a.A, b.A, c.A), Vector256.FusedMultiplyAdd(a.B, b.B, c.B));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair256 Fnma(Pair256 a, Pair256 b, Pair256 c) => new(Vector256.FusedMultiplyAdd(-a.A, b.A, c.A), Vector256.FusedMultiplyAdd(-a.B, b.B, c.B));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair256 Min(Pair256 a, Pair256 b) => new(Vector256.MinNative(a.A, b.A), Vector256.MinNative(a.B, b.B));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair256 Max(Pair256 a, Pair256 b) => new(Vector256.MaxNative(a.A, b.A), Vector256.MaxNative(a.B, b.B));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair256 Abs(Pair256 a) => new(Vector256.Abs(a.A), Vector256.Abs(a.B));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair256 SelectLess(Pair256 a, Pair256 b, Pair256 t, Pair256 f) => new(L256.SelectLess(a.A, b.A, t.A, f.A), L256.SelectLess(a.B, b.B, t.B, f.B));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair256 CopySign(Pair256 m, Pair256 s) => new(L256.CopySign(m.A, s.A), L256.CopySign(m.B, s.B));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair256 Pow2(Pair256 kf) => new(L256.Pow2(kf.A), L256.Pow2(kf.B));
}

internal readonly struct L256 : ILanes<Vector256<float>>
{
    public static nuint Count => (nuint)Vector256<float>.Count;
    public static bool Fused => true;
    public static Vector256<float> Zero => Vector256<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe Vector256<float> Load(float* p) => Vector256.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe void Store(Vector256<float> v, float* p) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float ScalarFma(float a, float b, float c) => MathF.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool EqualsAll(Vector256<float> a, Vector256<float> b) => Vector256.EqualsAll(a, b);
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
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> SelectLess(Vector256<float> a, Vector256<float> b, Vector256<float> t, Vector256<float> f) => Vector256.ConditionalSelect(Vector256.LessThan(a, b), t, f);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> CopySign(Vector256<float> m, Vector256<float> s) => m | (s & Vector256.Create(-0f));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Pow2(Vector256<float> kf) => (Vector256.ShiftLeft(kf.AsInt32(), 23) + Vector256.Create(0x3F800000)).AsSingle();
}

internal readonly struct L128 : ILanes<Vector128<float>>
{
    public static nuint Count => (nuint)Vector128<float>.Count;
    public static bool Fused => true;
    public static Vector128<float> Zero => Vector128<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe Vector128<float> Load(float* p) => Vector128.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe void Store(Vector128<float> v, float* p) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float ScalarFma(float a, float b, float c) => MathF.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool EqualsAll(Vector128<float> a, Vector128<float> b) => Vector128.EqualsAll(a, b);
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
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> SelectLess(Vector128<float> a, Vector128<float> b, Vector128<float> t, Vector128<float> f) => Vector128.ConditionalSelect(Vector128.LessThan(a, b), t, f);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> CopySign(Vector128<float> m, Vector128<float> s) => m | (s & Vector128.Create(-0f));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Pow2(Vector128<float> kf) => (Vector128.ShiftLeft(kf.AsInt32(), 23) + Vector128.Create(0x3F800000)).AsSingle();
}

/// <summary>One float: the vector lanes' operations on a single value, with the same roundings.</summary>
internal readonly struct L1 : ILanes<float>
{
    private static float Bits(int x) => BitConverter.Int32BitsToSingle(x);
    private static int Bits(float x) => BitConverter.SingleToInt32Bits(x);

    public static nuint Count => 1;
    public static bool Fused => true;
    public static float Zero => 0f;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe float Load(float* p) => *p;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe void Store(float v, float* p) => *p = v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float ScalarFma(float a, float b, float c) => MathF.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool EqualsAll(float a, float b) => a == b;
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
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float SelectLess(float a, float b, float t, float f) => a < b ? t : f;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float CopySign(float m, float s) => Bits(Bits(m) | (Bits(s) & int.MinValue));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Pow2(float kf) => Bits((Bits(kf) << 23) + 0x3F800000);
}

/// <summary>
/// The unfused twin of the lane type <typeparamref name="F"/>: every operation is <typeparamref name="F"/>'s, except that
/// <see cref="Fma"/> and <see cref="Fnma"/> (and the scalar tail's <see cref="ScalarFma"/>) are a multiply then an add, two
/// roundings, for machines without a fused multiply–add instruction (<see cref="Lanes.HardwareFma"/>). One generic struct
/// instead of a copy per width; the JIT inlines the forwarding calls.
/// </summary>
internal readonly struct Unfused<TV, F> : ILanes<TV> where TV : struct where F : struct, ILanes<TV>
{
    public static nuint Count => F.Count;
    public static bool Fused => false;
    public static TV Zero => F.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static TV Load(ref float p, nuint i) => F.Load(ref p, i);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(TV v, ref float p, nuint i) => F.Store(v, ref p, i);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe TV Load(float* p) => F.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe void Store(TV v, float* p) => F.Store(v, p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static TV Splat(float x) => F.Splat(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static TV Add(TV a, TV b) => F.Add(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static TV Sub(TV a, TV b) => F.Sub(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static TV Mul(TV a, TV b) => F.Mul(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static TV Div(TV a, TV b) => F.Div(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static TV Min(TV a, TV b) => F.Min(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static TV Max(TV a, TV b) => F.Max(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static TV Neg(TV a) => F.Neg(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static TV Abs(TV a) => F.Abs(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static TV Pow2(TV a) => F.Pow2(a);
    /// <summary>a·b + c with two roundings.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static TV Fma(TV a, TV b, TV c) => F.Add(F.Mul(a, b), c);
    /// <summary>c − a·b with two roundings.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static TV Fnma(TV a, TV b, TV c) => F.Sub(c, F.Mul(a, b));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static TV SelectLess(TV a, TV b, TV t, TV f) => F.SelectLess(a, b, t, f);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static TV CopySign(TV m, TV s) => F.CopySign(m, s);
    /// <summary>a·b + c with two roundings (the scalar tail of a kernel on this family).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float ScalarFma(float a, float b, float c) => a * b + c;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool EqualsAll(TV a, TV b) => F.EqualsAll(a, b);
}
