using System.Diagnostics;

namespace Microsoft.ML.Recurrent.Tests.Packaging;

/// <summary>
/// What users install is what is tested: packs the library, restores it from a local folder feed into a
/// fresh console project (a PackageReference, not a project reference) and trains a model with it.
/// </summary>
public class PackageTests
{
    private const string ConsumerProgram = """
        using Microsoft.ML;
        using Microsoft.ML.Data;

        var ml = new MLContext(seed: 1);
        var random = new Random(2);
        var rows = new List<Row>();
        for (int i = 0; i < 400; i++)
        {
            // Target: the mean of the first half of the sequence minus the mean of the second half.
            var x = new float[8];
            for (int t = 0; t < 8; t++) x[t] = random.NextSingle();
            rows.Add(new Row { Features = x, Label = (x[0] + x[1] + x[2] + x[3] - x[4] - x[5] - x[6] - x[7]) / 4f });
        }

        var data = ml.Data.LoadFromEnumerable(rows);
        var split = ml.Data.TrainTestSplit(data, testFraction: 0.25, seed: 3);
        var trainer = ml.Regression.Trainers.Gru(labelColumnName: "Label", featureColumnName: "Features",
            featuresPerStep: 1, hiddenSize: 16, numberOfLayers: 1, maximumNumberOfEpochs: 40);
        var model = trainer.Fit(split.TrainSet);
        var metrics = ml.Regression.Evaluate(model.Transform(split.TestSet));
        Console.WriteLine($"RSquared={metrics.RSquared:F4}");
        ml.Model.Save(model, data.Schema, "model.zip");
        var loaded = ml.Model.Load("model.zip", out _);
        var again = ml.Regression.Evaluate(loaded.Transform(split.TestSet));
        Console.WriteLine($"ReloadedRSquared={again.RSquared:F4}");
        return metrics.RSquared > 0.5 && Math.Abs(again.RSquared - metrics.RSquared) < 1e-9 ? 0 : 1;

        public sealed class Row
        {
            [VectorType] public float[] Features { get; set; } = [];
            public float Label { get; set; }
        }
        """;

    [Fact]
    public void Package_RestoredFromLocalFeed_TrainsEvaluatesAndRoundTrips()
    {
        string root = FindRepositoryRoot();
        string work = Path.Combine(Path.GetTempPath(), "recurrent-package-" + Guid.NewGuid().ToString("N")[..8]);
        string feed = Path.Combine(work, "feed"), consumer = Path.Combine(work, "consumer");
        Directory.CreateDirectory(feed);
        Directory.CreateDirectory(consumer);
        // A unique pre-release version so that NuGet's global cache never serves an older build.
        string version = "0.1.0-test." + DateTime.UtcNow.ToString("yyyyMMddHHmmss") + "." + Environment.ProcessId;
        try
        {
            Run("dotnet", $"pack \"{Path.Combine(root, "src", "Microsoft.ML.Recurrent", "Microsoft.ML.Recurrent.csproj")}\" -c Release -o \"{feed}\" -p:Version={version}", root);
            string nupkg = Path.Combine(feed, $"Microsoft.ML.Recurrent.{version}.nupkg");
            File.Exists(nupkg).Should().BeTrue("dotnet pack must produce the package");

            File.WriteAllText(Path.Combine(consumer, "Consumer.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    <TargetFramework>net10.0</TargetFramework>
                    <Nullable>enable</Nullable>
                    <ImplicitUsings>enable</ImplicitUsings>
                    <ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally>
                  </PropertyGroup>
                  <ItemGroup>
                    <PackageReference Include="Microsoft.ML.Recurrent" Version="{version}" />
                  </ItemGroup>
                </Project>
                """);
            // Keep the repository's Directory.Build.props / Directory.Packages.props out of the consumer.
            File.WriteAllText(Path.Combine(work, "Directory.Build.props"), "<Project />");
            File.WriteAllText(Path.Combine(work, "Directory.Packages.props"), "<Project />");
            File.WriteAllText(Path.Combine(consumer, "nuget.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources>
                    <add key="local-test-feed" value="{feed}" />
                  </packageSources>
                </configuration>
                """);
            File.WriteAllText(Path.Combine(consumer, "Program.cs"), ConsumerProgram);

            string output = Run("dotnet", "run -c Release", consumer);
            output.Should().Contain("RSquared=").And.Contain("ReloadedRSquared=");
            var assets = File.ReadAllText(Path.Combine(consumer, "obj", "project.assets.json"));
            assets.Should().Contain($"Microsoft.ML.Recurrent/{version}", "the library must come from the package, not a project reference");
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
        }
    }

    private static string Run(string file, string arguments, string directory)
    {
        var psi = new ProcessStartInfo(file, arguments)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(psi)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromMinutes(8))) { process.Kill(true); throw new TimeoutException($"{file} {arguments} timed out"); }
        process.ExitCode.Should().Be(0, $"`{file} {arguments}` failed:\n{stdout}\n{stderr.Result}");
        return stdout;
    }

    internal static string FindRepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "RecurrentML.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new DirectoryNotFoundException("RecurrentML.sln not found above " + AppContext.BaseDirectory);
    }
}
