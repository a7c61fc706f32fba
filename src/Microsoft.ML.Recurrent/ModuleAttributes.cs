// Methods of this module do not zero their stack frames on entry (the IL "localsinit" flag is off).
//
// Why: with C#'s default every call zeroes its method's whole frame. The element-wise kernels inlined every lane width's
// body, including the 512-bit ones that .NET emulates on AVX2 machines with vectors on the stack: the LSTM gate pass had
// a 19 KiB frame, and every call zeroed 18 KiB before doing 64 floats of work, also pushing the step's weights out of L1.
// Measured (Zen 3, issue 8, thirteenth session): one LSTM gate pass for 1 row of 16 / 64 / 128 units took 480–590 /
// 640–720 / 870–950 ns with the zeroing and 120–170 / 305–320 / 575–595 ns without; whole passes in docs/performance.md
// ("Stack frames no longer zeroed"). Lanes.Run no longer inlines the emulated width (the frame is now 56 bytes), but any
// kernel whose frame grows would pay again without this.
//
// What it changes: only memory from `stackalloc` is no longer zeroed (C# still requires every other local to be assigned
// before it is read). Every stackalloc in this module is written in full before it is read (checked when this landed);
// a new one that relies on zeros must clear itself. Tested by SkipLocalsInitTests (no method of the module keeps the flag).
[module: System.Runtime.CompilerServices.SkipLocalsInit]
