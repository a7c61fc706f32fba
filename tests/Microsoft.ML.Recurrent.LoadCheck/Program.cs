using Microsoft.ML;

// Usage: Microsoft.ML.Recurrent.LoadCheck <model.zip> <input.idv> <output.idv> [--recurrent-model]
// Loads the model and the input (ML.NET binary data format), transforms, saves every output column, and prints the
// output schema. Exit code 0 on success; on failure the exception type and message go to stderr and the code is 1.
// With --recurrent-model it also takes the recurrent model out of the loaded chain (RecurrentPredictionTransformer
// .FromLoadedModel), prints its ModelInfo and training history, and writes its SaveAsOnnx bytes to <output.idv>.onnx.
if (args.Length is not (3 or 4) || (args.Length == 4 && args[3] != "--recurrent-model"))
{
    Console.Error.WriteLine("usage: Microsoft.ML.Recurrent.LoadCheck <model.zip> <input.idv> <output.idv> [--recurrent-model]");
    return 2;
}

try
{
    var ml = new MLContext(seed: 123);
    ITransformer model = ml.Model.Load(args[0], out _);
    IDataView input = ml.Data.LoadFromBinary(args[1]);
    IDataView output = model.Transform(input);
    using (var stream = File.Create(args[2]))
        ml.Data.SaveAsBinary(output, stream, keepHidden: false);
    foreach (var column in output.Schema)
        Console.WriteLine($"{column.Name}: {column.Type}");
    if (args.Length == 4)
    {
        var recurrent = Microsoft.ML.Recurrent.RecurrentPredictionTransformer.FromLoadedModel(model);
        var info = recurrent.ModelInfo;
        Console.WriteLine($"ModelInfo: {info.CellType} H={info.HiddenSize} parameters={info.ParameterCount} classes=[{string.Join(",", info.ClassNames)}] best={info.BestEpoch}");
        foreach (var epoch in info.TrainingHistory)
            Console.WriteLine($"History: {epoch}");
        using var onnx = File.Create(args[2] + ".onnx");
        recurrent.SaveAsOnnx(onnx);
        // Serving must not need ONNX Runtime's native library (multiclass models loaded it until issue 13).
        bool native = System.Diagnostics.Process.GetCurrentProcess().Modules.Cast<System.Diagnostics.ProcessModule>()
            .Any(m => m.ModuleName.Contains("onnxruntime", StringComparison.OrdinalIgnoreCase));
        Console.WriteLine($"Native onnxruntime loaded: {native}");
    }

    return 0;
}
catch (Exception e)
{
    Console.Error.WriteLine($"{e.GetType().FullName}: {e.Message}");
    return 1;
}
