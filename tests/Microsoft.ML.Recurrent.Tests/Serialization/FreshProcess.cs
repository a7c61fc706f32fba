using System.Diagnostics;
using System.Reflection;

namespace Microsoft.ML.Recurrent.Tests.Serialization;

/// <summary>
/// Runs tests/Microsoft.ML.Recurrent.LoadCheck in a child process: a fresh runtime with a fresh MLContext and no
/// registration call loads a saved model, transforms a data file and writes the output back (ML.NET binary format).
/// </summary>
internal static class FreshProcess
{
    public static string LoadCheckPath =>
        typeof(FreshProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "LoadCheckPath").Value!;

    private static string DotNetHost
    {
        get
        {
            string? host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
            if (!string.IsNullOrEmpty(host) && File.Exists(host)) return host;
            string? self = Environment.ProcessPath;
            return self is not null && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self : "dotnet";
        }
    }

    /// <summary>Outcome of one child run.</summary>
    public sealed record Result(int ExitCode, string StandardOutput, string StandardError, string OutputPath);

    /// <summary>Saves <paramref name="input"/>, runs the child on <paramref name="modelPath"/> and returns what it did.</summary>
    public static Result Transform(MLContext ml, string modelPath, IDataView input, string workDirectory, bool recurrentModel = false)
    {
        File.Exists(LoadCheckPath).Should().BeTrue($"the load-check program is built next to the tests ({LoadCheckPath})");
        string inputPath = Path.Combine(workDirectory, "input.idv");
        string outputPath = Path.Combine(workDirectory, "output.idv");
        using (var stream = File.Create(inputPath))
            ml.Data.SaveAsBinary(input, stream);

        var start = new ProcessStartInfo(DotNetHost)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(LoadCheckPath);
        start.ArgumentList.Add(modelPath);
        start.ArgumentList.Add(inputPath);
        start.ArgumentList.Add(outputPath);
        if (recurrentModel) start.ArgumentList.Add("--recurrent-model");
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("The load-check child process did not finish within 2 minutes.");
        }

        return new Result(process.ExitCode, stdout.Result, stderr.Result, outputPath);
    }
}

/// <summary>A temporary directory removed at dispose.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "recurrent-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A data view loaded from a file may still hold it open; the OS temp cleaner removes it later.
        }
    }
}
