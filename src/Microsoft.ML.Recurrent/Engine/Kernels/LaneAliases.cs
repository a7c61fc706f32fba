// The unfused lane family by width: each the generic Unfused twin of the fused lane type (Lanes.cs).
global using L512x2Unfused = Microsoft.ML.Recurrent.Engine.Kernels.Unfused<Microsoft.ML.Recurrent.Engine.Kernels.Pair512, Microsoft.ML.Recurrent.Engine.Kernels.L512x2>;
global using L512Unfused = Microsoft.ML.Recurrent.Engine.Kernels.Unfused<System.Runtime.Intrinsics.Vector512<float>, Microsoft.ML.Recurrent.Engine.Kernels.L512>;
global using L256Unfused = Microsoft.ML.Recurrent.Engine.Kernels.Unfused<System.Runtime.Intrinsics.Vector256<float>, Microsoft.ML.Recurrent.Engine.Kernels.L256>;
global using L128Unfused = Microsoft.ML.Recurrent.Engine.Kernels.Unfused<System.Runtime.Intrinsics.Vector128<float>, Microsoft.ML.Recurrent.Engine.Kernels.L128>;
global using L1Unfused = Microsoft.ML.Recurrent.Engine.Kernels.Unfused<float, Microsoft.ML.Recurrent.Engine.Kernels.L1>;
