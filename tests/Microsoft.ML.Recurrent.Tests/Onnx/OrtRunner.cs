using Microsoft.ML.OnnxRuntime;

namespace Microsoft.ML.Recurrent.Tests.Onnx;

/// <summary>Runs an ONNX model on ONNX Runtime directly (no ML.NET) with one input tensor.</summary>
internal static class OrtRunner
{
    public static Dictionary<string, (float[] Values, long[] Shape)> Run(byte[] model, string inputName, float[] input, long[] shape, params string[] outputs)
    {
        using var value = OrtValue.CreateTensorValueFromMemory(input, shape);
        return Run(model, inputName, value, outputs);
    }

    public static Dictionary<string, (float[] Values, long[] Shape)> Run(byte[] model, string inputName, long[] input, long[] shape, params string[] outputs)
    {
        using var value = OrtValue.CreateTensorValueFromMemory(input, shape);
        return Run(model, inputName, value, outputs);
    }

    private static Dictionary<string, (float[] Values, long[] Shape)> Run(byte[] model, string inputName, OrtValue input, string[] outputs)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1 };
        using var session = new InferenceSession(model, options);
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, new[] { inputName }, new[] { input }, outputs);
        var map = new Dictionary<string, (float[], long[])>();
        for (int i = 0; i < outputs.Length; i++)
        {
            map[outputs[i]] = (results[i].GetTensorDataAsSpan<float>().ToArray(), results[i].GetTensorTypeAndShape().Shape);
        }

        return map;
    }
}
