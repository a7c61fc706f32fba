using Microsoft.ML;

// Usage: Microsoft.ML.Recurrent.LoadCheck <model.zip> <input.idv> <output.idv>
// Loads the model and the input (ML.NET binary data format), transforms, saves every output column, and prints the
// output schema. Exit code 0 on success; on failure the exception type and message go to stderr and the code is 1.
if (args.Length != 3)
{
    Console.Error.WriteLine("usage: Microsoft.ML.Recurrent.LoadCheck <model.zip> <input.idv> <output.idv>");
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
    return 0;
}
catch (Exception e)
{
    Console.Error.WriteLine($"{e.GetType().FullName}: {e.Message}");
    return 1;
}
