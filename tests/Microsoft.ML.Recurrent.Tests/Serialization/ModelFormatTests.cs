using System.Buffers.Binary;
using System.Text;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Model;
using Microsoft.ML.Recurrent.Serving;

namespace Microsoft.ML.Recurrent.Tests.Serialization;

public class ModelFormatTests
{
    [Fact]
    public void Crc32_StandardCheckString_GivesKnownValue()
    {
        Crc32.Compute("123456789"u8).Should().Be(0xCBF43926u);
        Crc32.Compute([]).Should().Be(0u);
    }

    [Theory]
    [InlineData(0, 3, 5, 1, false, 0, 0, 1)]
    [InlineData(1, 2, 4, 3, true, 0, 0, 7)]
    [InlineData(2, 1, 6, 2, true, 11, 4, 3)]
    public void CountParameters_AnySpec_EqualsParameterLayoutCount(int cell, int f, int h, int l, bool bi, int v, int e, int o)
    {
        var spec = new NetworkSpec((CellKind)cell, f, h, l, bi, 0f, v, e, o);
        RecurrentModelFormat.CountParameters(spec).Should().Be(new ParameterLayout(spec).Count);
    }

    public static TheoryData<string> Samples => new() { "multiclass", "regression", "tokens", "history" };

    private static RecurrentModel Sample(string name) => name switch
    {
        "multiclass" => ModelSamples.Multiclass(),
        "regression" => ModelSamples.Regression(),
        "history" => ModelSamples.WithHistory(),
        _ => ModelSamples.Tokens(),
    };

    [Theory]
    [MemberData(nameof(Samples))]
    public void WriteRead_SampleModel_RoundTripsEveryField(string name)
    {
        var model = Sample(name);
        var back = RecurrentModelFormat.Read(RecurrentModelFormat.Write(model));
        back.Spec.Should().Be(model.Spec);
        back.Kind.Should().Be(model.Kind);
        back.FeatureColumnName.Should().Be(model.FeatureColumnName);
        back.ClassNames.Should().Equal(model.ClassNames);
        back.Parameters.Should().Equal(model.Parameters);
        back.LabelValueKind.Should().Be(model.LabelValueKind);
        back.BestEpoch.Should().Be(model.BestEpoch);
        back.History.Should().BeEquivalentTo(model.History, o => o.WithStrictOrdering());
    }

    [Fact]
    public void WriteRead_History_KeepsEveryFieldIncludingAbsentValidation()
    {
        var back = RecurrentModelFormat.Read(RecurrentModelFormat.Write(ModelSamples.WithHistory()));
        back.LabelValueKind.Should().Be(LabelValueKind.Single);
        back.BestEpoch.Should().Be(2);
        back.History.Should().HaveCount(3);
        back.History[1].ValidationLoss.Should().BeNull();
        back.History[1].ValidationAccuracy.Should().BeNull();
        back.History[2].ValidationLoss.Should().Be(0.61);
        back.History[2].ValidationAccuracy.Should().BeNull();
        back.History[0].ToString().Should().Be(ModelSamples.WithHistory().History[0].ToString());
        back.History[1].LearningRate.Should().Be(0.005f);
        back.History[2].SequencesPerSecond.Should().Be(3456.0);
    }

    [Theory]
    [MemberData(nameof(Samples))]
    public void ReadVersion1_AnySample_ReadsWithoutTheVersion2Block(string name)
    {
        var model = Sample(name);
        var v1 = RecurrentModelFormat.Write(model, version: 1);
        BinaryPrimitives.ReadInt32LittleEndian(v1.AsSpan(8)).Should().Be(1);
        var back = RecurrentModelFormat.Read(v1);
        back.Spec.Should().Be(model.Spec);
        back.ClassNames.Should().Equal(model.ClassNames);
        back.Parameters.Should().Equal(model.Parameters);
        back.History.Should().BeEmpty();
        back.BestEpoch.Should().Be(0);
        back.LabelValueKind.Should().Be(LabelValueKind.Text);
        v1.Length.Should().BeLessThan(RecurrentModelFormat.Write(model).Length);
    }

    /// <summary>Where the version-2 block starts: the version-1 bytes up to the class names are the same.</summary>
    private static int Version2BlockOffset(RecurrentModel model) =>
        RecurrentModelFormat.Write(model, version: 1).Length - 4 - 4 * model.Parameters.Length - 4;

    [Theory]
    [InlineData("history", 3, "*class names are not distinct values of the label value kind Int32*")] // "-0.5" is no Int32
    [InlineData("history", 8, "*label value kind 8 is unknown*")]
    [InlineData("multiclass", 1, "*class names are not distinct values of the label value kind Single*")] // "cat" is no Single
    public void Read_BadLabelValueKind_ThrowsNamingIt(string sample, byte kind, string message)
    {
        var model = Sample(sample);
        var bytes = RecurrentModelFormat.Write(model);
        bytes[Version2BlockOffset(model)] = kind;
        Reseal(bytes);
        var act = () => RecurrentModelFormat.Read(bytes);
        act.Should().Throw<InvalidDataException>().WithMessage(message);
    }

    [Fact]
    public void Read_LabelValueKindOnARegressionModel_Throws()
    {
        var model = ModelSamples.Regression();
        var bytes = RecurrentModelFormat.Write(model);
        bytes[Version2BlockOffset(model)] = 1;
        Reseal(bytes);
        var act = () => RecurrentModelFormat.Read(bytes);
        act.Should().Throw<InvalidDataException>().WithMessage("*only multiclass models carry one*");
    }

    [Fact]
    public void Read_HistoryFlagsOutsideTheDefinedBits_Throws()
    {
        var model = ModelSamples.WithHistory();
        var bytes = RecurrentModelFormat.Write(model);
        int flags = Version2BlockOffset(model) + 1 + 4 + 4 + 4 + "cross-entropy".Length + 4 + 4 + 8;
        bytes[flags].Should().Be(3, "record 0 has both validation values");
        bytes[flags] = 4;
        Reseal(bytes);
        var act = () => RecurrentModelFormat.Read(bytes);
        act.Should().Throw<InvalidDataException>().WithMessage("*flags of history record 0*");
    }

    public static TheoryData<string, int, int> HostileHistoryFields()
    {
        var data = new TheoryData<string, int, int>();
        foreach (int v in new[] { int.MaxValue, int.MinValue, -1, 1 << 30, RecurrentModelFormat.Limits.HistoryLength })
        {
            data.Add("best epoch", 1, v);
            data.Add("history length", 5, v);
            data.Add("loss name length", 9, v);
            data.Add("epoch of history record 0", 9 + 4 + "cross-entropy".Length, v);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(HostileHistoryFields))]
    public void Read_HostileHistorySizeWithValidChecksum_ThrowsWithoutLargeAllocation(string field, int offsetInBlock, int value)
    {
        var model = ModelSamples.WithHistory();
        var bytes = Patch(RecurrentModelFormat.Write(model), Version2BlockOffset(model) + offsetInBlock, value);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var act = () => RecurrentModelFormat.Read(bytes);
        act.Should().Throw<InvalidDataException>($"{field} = {value}");
        (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan(1 << 20, $"{field} = {value} must be rejected before allocating");
    }

    private static void Reseal(byte[] bytes) =>
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(bytes.Length - 4), Crc32.Compute(bytes.AsSpan(0, bytes.Length - 4)));

    [Fact]
    public void Write_Layout_StartsWithMagicVersionAndEndsWithCrcOfTheRest()
    {
        var bytes = RecurrentModelFormat.Write(ModelSamples.Multiclass());
        Encoding.ASCII.GetString(bytes, 0, 8).Should().Be("MLRNNMDL");
        BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(8)).Should().Be(RecurrentModelFormat.Version).And.Be(2);
        bytes[12].Should().Be((byte)PredictionKind.MulticlassClassification);
        bytes[13].Should().Be((byte)CellKind.Gru);
        BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(bytes.Length - 4)).Should().Be(Crc32.Compute(bytes.AsSpan(0, bytes.Length - 4)));
    }

    [Theory]
    [MemberData(nameof(Samples))]
    public void Read_EveryTruncatedPrefix_ThrowsInvalidData(string name)
    {
        var bytes = RecurrentModelFormat.Write(Sample(name));
        for (int n = 0; n < bytes.Length; n++)
            ThrowsInvalidData(bytes.AsSpan(0, n).ToArray(), $"a {n}-byte prefix of a {bytes.Length}-byte model");
    }

    [Theory]
    [MemberData(nameof(Samples))]
    public void Read_EveryBitFlipped_ThrowsInvalidData(string name)
    {
        var bytes = RecurrentModelFormat.Write(Sample(name));
        for (int i = 0; i < bytes.Length; i++)
        {
            for (int bit = 0; bit < 8; bit++)
            {
                bytes[i] ^= (byte)(1 << bit);
                ThrowsInvalidData(bytes, $"byte {i} bit {bit} flipped");
                bytes[i] ^= (byte)(1 << bit);
            }
        }
    }

    /// <summary>Plain loop-friendly check (thousands of calls per test).</summary>
    private static void ThrowsInvalidData(byte[] data, string what)
    {
        try
        {
            RecurrentModelFormat.Read(data);
        }
        catch (InvalidDataException)
        {
            return;
        }

        throw new Xunit.Sdk.XunitException($"Reading {what} did not throw InvalidDataException.");
    }

    [Fact]
    public void Read_ChecksumMismatch_MessageSaysCorrupted()
    {
        var bytes = RecurrentModelFormat.Write(ModelSamples.Regression());
        bytes[60] ^= 0x10;
        var act = () => RecurrentModelFormat.Read(bytes);
        act.Should().Throw<InvalidDataException>().WithMessage("*checksum*truncated or corrupted*");
    }

    /// <summary>Overwrites an int32 field and re-seals the checksum, so only the field checks can catch it.</summary>
    private static byte[] Patch(byte[] bytes, int offset, int value)
    {
        var copy = (byte[])bytes.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(copy.AsSpan(offset), value);
        BinaryPrimitives.WriteUInt32LittleEndian(copy.AsSpan(copy.Length - 4), Crc32.Compute(copy.AsSpan(0, copy.Length - 4)));
        return copy;
    }

    public static TheoryData<string, int, int> HostileFields()
    {
        // Multiclass sample: feature column "Feat" (4 bytes) → name length at 44, class count at 52,
        // first class-name length at 56.
        var data = new TheoryData<string, int, int>();
        foreach (int v in new[] { int.MaxValue, int.MinValue, -1, 1 << 30 })
        {
            data.Add("input size", 16, v);
            data.Add("hidden size", 20, v);
            data.Add("number of layers", 24, v);
            data.Add("vocabulary size", 32, v);
            data.Add("embedding size", 36, v);
            data.Add("output size", 40, v);
            data.Add("feature column name length", 44, v);
            data.Add("class count", 52, v);
            data.Add("class name 0 length", 56, v);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(HostileFields))]
    public void Read_HostileSizeWithValidChecksum_ThrowsWithoutLargeAllocation(string field, int offset, int value)
    {
        var bytes = Patch(RecurrentModelFormat.Write(ModelSamples.Multiclass()), offset, value);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var act = () => RecurrentModelFormat.Read(bytes);
        act.Should().Throw<InvalidDataException>($"{field} = {value}");
        (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan(1 << 20, $"{field} = {value} must be rejected before allocating");
    }

    [Fact]
    public void Read_HostileParameterCount_ThrowsNamingTheCount()
    {
        var model = ModelSamples.Regression();
        var bytes = RecurrentModelFormat.Write(model);
        int countOffset = bytes.Length - 4 - 4 * model.Parameters.Length - 4;
        BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(countOffset)).Should().Be(model.Parameters.Length);
        var act = () => RecurrentModelFormat.Read(Patch(bytes, countOffset, int.MaxValue));
        act.Should().Throw<InvalidDataException>().WithMessage("*parameter count*");
    }

    [Fact]
    public void Read_HugeButConsistentShape_ThrowsBeforeAllocating()
    {
        // Hidden 65536 with 256 layers is inside every per-field limit, but its parameter count cannot fit
        // in the bytes that remain: the reader must say so before allocating 2^40 floats.
        var bytes = RecurrentModelFormat.Write(ModelSamples.Regression());
        bytes = Patch(bytes, 20, RecurrentModelFormat.Limits.HiddenSize);
        bytes = Patch(bytes, 24, RecurrentModelFormat.Limits.NumberOfLayers);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var act = () => RecurrentModelFormat.Read(bytes);
        act.Should().Throw<InvalidDataException>().WithMessage("*parameter count*");
        (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan(1 << 20);
    }

    [Fact]
    public void Read_NonFiniteWeightWithValidChecksum_Throws()
    {
        var model = ModelSamples.Regression();
        model.Parameters[3] = float.NaN;
        var bytes = new RecurrentModel(model.Spec, model.Kind, model.FeatureColumnName, model.ClassNames, model.Parameters);
        var act = () => RecurrentModelFormat.Read(RecurrentModelFormat.Write(bytes));
        act.Should().Throw<InvalidDataException>().WithMessage("*parameter 3*not a finite*");
    }

    [Fact]
    public void Read_WrongVersion_ThrowsNamingTheVersion()
    {
        var bytes = Patch(RecurrentModelFormat.Write(ModelSamples.Tokens()), 8, 7);
        var act = () => RecurrentModelFormat.Read(bytes);
        act.Should().Throw<InvalidDataException>().WithMessage("*version is 7*");
    }

    [Fact]
    public void Write_ParameterCountMismatch_Throws()
    {
        var good = ModelSamples.Tokens();
        var bad = new RecurrentModel(good.Spec, good.Kind, good.FeatureColumnName, good.ClassNames, new float[good.Parameters.Length + 1]);
        var act = () => RecurrentModelFormat.Write(bad);
        act.Should().Throw<ArgumentException>().WithMessage("*parameters*");
    }

    [Fact]
    public void PayloadDecode_EncodedModel_RoundTrips()
    {
        var model = ModelSamples.Multiclass();
        string text = ModelPayload.Encode(model);
        text.Should().MatchRegex("^[A-Za-z0-9+/=]+$");
        ModelPayload.Decode(text).Parameters.Should().Equal(model.Parameters);
    }

    [Theory]
    [InlineData("")]
    [InlineData("not base64 at all!")]
    [InlineData("QUJD")]
    public void PayloadDecode_BadText_ThrowsInvalidData(string text)
    {
        var act = () => ModelPayload.Decode(text);
        act.Should().Throw<InvalidDataException>().WithMessage("The recurrent model payload is*");
    }
}
