// Methods of this module do not zero their stack frames on entry (the IL "localsinit" flag is off).
//
// Why: the element-wise kernels inline every lane width's body (Lanes.Run / RunPaired), including the 512-bit ones that
// .NET emulates on AVX2 machines with vectors on the stack; their frames are large (the LSTM gate pass: 19 KiB), and with
// localsinit every call zeroed 18 KiB of stack before doing 64 floats of work, also pushing the step's weights out of L1.
// Measured (Zen 3, issue 8, thirteenth session): one LSTM gate pass for 1 row of 16 / 64 / 128 units took 480–590 /
// 640–720 / 870–950 ns with the zeroing and 120–170 / 305–320 / 575–595 ns without; whole passes in docs/performance.md
// ("Stack frames no longer zeroed").
//
// What it changes: only memory from `stackalloc` is no longer zeroed (C# still requires every other local to be assigned
// before it is read). Every stackalloc in this module is written in full before it is read (checked when this landed);
// a new one that relies on zeros must clear itself. Tested by SkipLocalsInitTests (no method of the module keeps the flag).
[module: System.Runtime.CompilerServices.SkipLocalsInit]
