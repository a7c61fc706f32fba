using System.IO.Compression;
using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Tests.Estimators;

namespace Microsoft.ML.Recurrent.Tests.Serialization;

/// <summary>
/// Saved models whose carried model text was altered inside the zip: loading is lazy, so the first scored row must fail
/// with a clear <see cref="InvalidDataException"/> (never a crash, a hang or a huge allocation).
/// </summary>
public class TamperedZipTests
{
    private static readonly MLContext Ml = new(seed: 0);

    private sealed class MapRow
    {
        public string Key { get; set; } = "";
        public string Value { get; set; } = "";
    }

    private static string SaveSmallModel(TempDirectory dir, out IDataView data)
    {
        data = Ml.Data.LoadFromEnumerable(SequenceData.MarkedSum(30, seed: 1));
        var model = Ml.Regression.Trainers.Recurrent(new RecurrentRegressionTrainer.Options
        {
            LabelColumnName = "Value", FeaturesPerStep = 2, HiddenSize = 3, MaximumNumberOfEpochs = 1,
        }).Fit(data);
        string path = dir.File("model.zip");
        Ml.Model.Save(model, data.Schema, path);
        return path;
    }

    /// <summary>Rewrites the MapValue table (key → model text) stored in the zip.</summary>
    private static void AlterPayload(string zipPath, string work, Func<string, string> alter)
    {
        using var zip = ZipFile.Open(zipPath, ZipArchiveMode.Update);
        var entry = zip.Entries.Single(e => e.FullName.EndsWith("DefaultMap.idv", StringComparison.Ordinal));
        string original = Path.Combine(work, "map.idv");
        entry.ExtractToFile(original, overwrite: true);
        var rows = Ml.Data.CreateEnumerable<MapRow>(Ml.Data.LoadFromBinary(original), reuseRowObject: false).ToArray();
        rows.Should().ContainSingle().Which.Key.Should().Be("model");
        rows[0].Value = alter(rows[0].Value);
        string name = entry.FullName;
        entry.Delete();
        using var stream = zip.CreateEntry(name).Open();
        Ml.Data.SaveAsBinary(Ml.Data.LoadFromEnumerable(rows), stream);
    }

    private static Action Score(string zipPath, IDataView data) => () =>
    {
        var loaded = new MLContext(seed: 1).Model.Load(zipPath, out _);
        loaded.Transform(data).GetColumn<float>("Score").ToArray();
    };

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null && e is not InvalidDataException) e = e.InnerException;
        return e;
    }

    public static TheoryData<string> Alterations() => new() { "flip", "truncate", "garbage", "empty", "hostile" };

    [Theory]
    [MemberData(nameof(Alterations))]
    public void Load_PayloadTextAlteredInZip_FirstRowThrowsInvalidData(string how)
    {
        using var dir = new TempDirectory();
        string path = SaveSmallModel(dir, out var data);
        Score(path, data).Should().NotThrow("the untouched zip loads and scores");

        AlterPayload(path, dir.Path, text => how switch
        {
            // One base64 character changed in the middle of the weights: the checksum no longer matches.
            "flip" => text[..(text.Length / 2)] + (text[text.Length / 2] == 'A' ? 'B' : 'A') + text[(text.Length / 2 + 1)..],
            "truncate" => text[..(text.Length * 2 / 3 / 4 * 4)],
            "garbage" => "this is not base64!",
            "empty" => "",
            // A valid base64 header claiming int.MaxValue hidden units, then nothing.
            _ => Convert.ToBase64String([.. "MLRNNMDL"u8, 1, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x7F]),
        });

        long before = GC.GetAllocatedBytesForCurrentThread();
        var error = Score(path, data).Should().Throw<Exception>().Which;
        Innermost(error).Should().BeOfType<InvalidDataException>()
            .Which.Message.Should().StartWith("The recurrent model payload is");
        (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan(64L << 20, "nothing is allocated from sizes read out of the payload");
    }
}
