using System.IO.Compression;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Microsoft.ML.Recurrent.Onnx;

namespace Microsoft.ML.Recurrent.Tests.Onnx;

public class ShapeAdapterTests
{
    private const int K = 5;

    private sealed class VariableRow
    {
        [VectorType]
        public float[] Score { get; set; } = Array.Empty<float>();
    }

    private static VariableRow[] Rows(int count, int length, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count)
            .Select(_ => new VariableRow { Score = Enumerable.Range(0, length).Select(_ => (float)random.NextDouble() - 0.5f).ToArray() })
            .ToArray();
    }

    [Fact]
    public void CreateReshape_OnnxRuntime_DeclaresSymbolicInputAndFixedOutput()
    {
        byte[] model = ShapeAdapter.CreateReshape(K, "in", "out");
        using var session = new InferenceSession(model);

        var input = session.InputMetadata.Should().ContainSingle().Subject;
        input.Key.Should().Be("in");
        input.Value.ElementDataType.Should().Be(TensorElementType.Float);
        input.Value.Dimensions.Should().Equal(1, -1);
        input.Value.SymbolicDimensions[1].Should().Be("N");

        var output = session.OutputMetadata.Should().ContainSingle().Subject;
        output.Key.Should().Be("out");
        output.Value.Dimensions.Should().Equal(1, K);
    }

    [Fact]
    public void CreateReshape_OnnxRuntime_CopiesValues()
    {
        byte[] model = ShapeAdapter.CreateReshape(K, "in", "out");
        float[] x = { 1f, -2f, 3.5f, 0f, 1e-3f };

        var (values, shape) = OrtRunner.Run(model, "in", x, new long[] { 1, K }, "out")["out"];

        shape.Should().Equal(1, K);
        values.Should().Equal(x);
    }

    [Fact]
    public void CreateReshape_OnnxRuntimeWrongLength_Throws()
    {
        byte[] model = ShapeAdapter.CreateReshape(K, "in", "out");
        var act = () => OrtRunner.Run(model, "in", new float[K + 1], new long[] { 1, K + 1 }, "out");
        act.Should().Throw<OnnxRuntimeException>();
    }

    [Theory]
    [InlineData(0, "a", "b", "length")]
    [InlineData(3, "", "b", "inputName")]
    [InlineData(3, "a", "", "outputName")]
    [InlineData(3, "a", "a", "outputName")]
    public void CreateReshape_InvalidArguments_ThrowNamingParameter(int length, string input, string output, string parameter)
    {
        var act = () => ShapeAdapter.CreateReshape(length, input, output);
        act.Should().Throw<ArgumentException>().Which.ParamName.Should().Be(parameter);
    }

    [Fact]
    public void CreateReshape_NameCollidesWithInternalInitializer_StillValid()
    {
        byte[] model = ShapeAdapter.CreateReshape(2, "target_shape", "out");
        var (values, _) = OrtRunner.Run(model, "target_shape", new[] { 4f, 5f }, new long[] { 1, 2 }, "out")["out"];
        values.Should().Equal(4f, 5f);
    }

    [Fact]
    public void CreateReshape_ApplyOnnxModelOnVariableVector_GivesKnownSizeVector()
    {
        var ml = new MLContext(seed: 0);
        VariableRow[] rows = Rows(4, K, seed: 1);
        IDataView data = ml.Data.LoadFromEnumerable(rows);
        data.Schema["Score"].Type.Should().BeOfType<VectorDataViewType>().Which.Size.Should().Be(0, "the input column is variable-length");

        byte[] model = ShapeAdapter.CreateReshape(K, "Score", "FixedScore");
        using var stream = new MemoryStream(model);
        var transformer = ml.Transforms.ApplyOnnxModel(new[] { "FixedScore" }, new[] { "Score" }, stream).Fit(data);
        IDataView output = transformer.Transform(data);

        var type = output.Schema["FixedScore"].Type.Should().BeOfType<VectorDataViewType>().Subject;
        type.ItemType.Should().Be(NumberDataViewType.Single);
        type.Size.Should().Be(K);
        type.Dimensions.Should().Equal(1, K);
        ReadFixed(output).Should().BeEquivalentTo(rows.Select(r => r.Score), o => o.WithStrictOrdering());
        transformer.Dispose();
    }

    [Fact]
    public void CreateReshape_ApplyOnnxModelRowOfWrongLength_ThrowsWhenRead()
    {
        var ml = new MLContext(seed: 0);
        IDataView data = ml.Data.LoadFromEnumerable(Rows(1, K + 2, seed: 3));
        using var stream = new MemoryStream(ShapeAdapter.CreateReshape(K, "Score", "FixedScore"));
        var transformer = ml.Transforms.ApplyOnnxModel(new[] { "FixedScore" }, new[] { "Score" }, stream).Fit(data);

        var act = () => ReadFixed(transformer.Transform(data));

        act.Should().Throw<Exception>();
        transformer.Dispose();
    }

    [Fact]
    public void CreateReshape_ModelSaveAndLoadInFreshContext_ModelBytesInZipAndSameOutputs()
    {
        string root = Path.Combine(Path.GetTempPath(), "mlrec-adapter-" + Guid.NewGuid().ToString("N"));
        string firstTemp = Path.Combine(root, "first");
        string secondTemp = Path.Combine(root, "second");
        Directory.CreateDirectory(firstTemp);
        Directory.CreateDirectory(secondTemp);
        string zip = Path.Combine(root, "model.zip");
        try
        {
            VariableRow[] rows = Rows(6, K, seed: 2);
            byte[] model = ShapeAdapter.CreateReshape(K, "Score", "FixedScore");
            float[][] before;
            {
                var ml = new MLContext(seed: 0) { TempFilePath = firstTemp };
                IDataView data = ml.Data.LoadFromEnumerable(rows);
                using var stream = new MemoryStream(model);
                var transformer = ml.Transforms.ApplyOnnxModel(new[] { "FixedScore" }, new[] { "Score" }, stream).Fit(data);
                before = ReadFixed(transformer.Transform(data));
                ml.Model.Save(transformer, data.Schema, zip);
                transformer.Dispose();
            }

            // Nothing outside the zip may be needed to load it.
            Directory.Delete(firstTemp, recursive: true);
            ZipContains(zip, model).Should().BeTrue("ML.NET must store the ONNX bytes inside the model zip");

            var fresh = new MLContext(seed: 1) { TempFilePath = secondTemp };
            ITransformer loaded = fresh.Model.Load(zip, out DataViewSchema inputSchema);
            inputSchema["Score"].Type.Should().BeOfType<VectorDataViewType>();
            IDataView after = loaded.Transform(fresh.Data.LoadFromEnumerable(rows));
            after.Schema["FixedScore"].Type.Should().BeOfType<VectorDataViewType>().Which.Size.Should().Be(K);
            ReadFixed(after).Should().BeEquivalentTo(before, o => o.WithStrictOrdering());
            (loaded as IDisposable)?.Dispose();
        }
        finally
        {
            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
                // A temp file still held by ONNX Runtime on some platforms; the OS temp cleaner removes it.
            }
        }
    }

    private static float[][] ReadFixed(IDataView view)
    {
        var result = new List<float[]>();
        using var cursor = view.GetRowCursor(new[] { view.Schema["FixedScore"] });
        var getter = cursor.GetGetter<VBuffer<float>>(view.Schema["FixedScore"]);
        var buffer = default(VBuffer<float>);
        while (cursor.MoveNext())
        {
            getter(ref buffer);
            result.Add(buffer.DenseValues().ToArray());
        }

        return result.ToArray();
    }

    private static bool ZipContains(string zipPath, byte[] needle)
    {
        using ZipArchive archive = ZipFile.OpenRead(zipPath);
        foreach (ZipArchiveEntry entry in archive.Entries)
        {
            using var memory = new MemoryStream();
            using (Stream s = entry.Open()) s.CopyTo(memory);
            if (memory.ToArray().AsSpan().IndexOf(needle) >= 0) return true;
        }

        return false;
    }
}
