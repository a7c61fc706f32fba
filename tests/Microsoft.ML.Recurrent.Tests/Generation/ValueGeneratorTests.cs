using Microsoft.ML.Data;
using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Seq2Seq;
using Microsoft.ML.Recurrent.Seq2Seq;
using Microsoft.ML.Recurrent.Tests.Helpers;
using Microsoft.ML.Recurrent.Tests.Serialization;

namespace Microsoft.ML.Recurrent.Tests.Generation;

/// <summary>
/// A next-value generator trained once on sine waves x_t = sin(ω t + φ) of random frequency ω ∈ [0.25, 0.45] and phase
/// φ ∈ [0.5, π], each ending at its first upward zero crossing (ω t + φ reaches 2π): lengths 7 to 23, learnable from the
/// wave itself.
/// </summary>
public sealed class SineGeneratorFixture
{
    public sealed class Row
    {
        [VectorType]
        public float[] Features { get; set; } = [];

        [VectorType]
        public float[] Prefix { get; set; } = [];
    }

    public static float[] Wave(Random random)
    {
        double omega = 0.25 + 0.2 * random.NextDouble(), phi = 0.5 + (Math.PI - 0.5) * random.NextDouble();
        var values = new List<float>();
        for (int t = 0; omega * t + phi < 2 * Math.PI; t++) values.Add((float)Math.Sin(omega * t + phi));
        return values.ToArray();
    }

    public SineGeneratorFixture()
    {
        Ml = new MLContext(seed: 5);
        var random = new Random(11);
        var rows = Enumerable.Range(0, 320).Select(_ => new Row { Features = Wave(random) }).ToList();
        Model = Ml.Recurrent().Trainers.SequenceGenerator(new SequenceGeneratorTrainer.Options
        {
            HiddenSize = 32,
            MaximumNumberOfEpochs = 150,
            MaximumOutputLength = 40,
            Temperature = 0.5f,
            Seed = 3,
        }).Fit(Ml.Data.LoadFromEnumerable(rows));
        var test = new Random(99);
        Tests = Enumerable.Range(0, 40).Select(_ => Wave(test)).ToList();
    }

    public MLContext Ml { get; }
    public SequenceGeneratorTransformer Model { get; }
    public List<float[]> Tests { get; }
}

/// <summary>Next-value generation: the objective's gradient, learning, seeds, temperature, Transform and save/load.</summary>
public class ValueGeneratorTests : IClassFixture<SineGeneratorFixture>
{
    private const int PrefixSteps = 5;
    private readonly SineGeneratorFixture _f;

    public ValueGeneratorTests(SineGeneratorFixture f) => _f = f;

    [Fact]
    public void Objective_Gradient_MatchesFiniteDifferencesOfDoubleReference()
    {
        const int F = 2;
        var random = new Random(7);
        // Two standardised sequences of 3 and 1 steps (padding in the second row of the batch).
        var sequences = new[] { new float[] { 0.3f, -1.2f, 0.8f, 0.1f, -0.5f, 2f }, new float[] { 1.5f, -0.7f } };
        var data = new Microsoft.ML.Recurrent.Engine.Training.SequenceDataset(F + 1, F + 2, perStepTargets: true);
        foreach (var s in sequences)
        {
            var (x, y) = NextValueObjective.Example(s, F);
            data.Add(x, y);
        }

        var batch = new SequenceBatch(2, 4, F + 1, F + 2);
        batch.Fill(data, new[] { 0, 1 });
        int T = batch.MaxLength, B = batch.Count, O = F + 1;
        var outputs = Enumerable.Range(0, T * B * O).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();
        var dOut = new float[outputs.Length];
        double loss = new NextValueObjective(F).Compute(outputs, batch, [], [], dOut);

        var y64 = outputs.Select(v => (double)v).ToArray();
        double Reference()
        {
            double total = 0;
            int steps = 0;
            for (int r = 0; r < B; r++)
            {
                var (_, target) = NextValueObjective.Example(sequences[batch.Order[r]], F);
                int len = batch.Lengths[r];
                steps += len;
                for (int t = 0; t < len; t++)
                {
                    int row = t * B + r;
                    bool hasNext = t < len - 1;
                    if (hasNext)
                        for (int f = 0; f < F; f++) total += Math.Pow(y64[row * O + f] - target[t * (F + 2) + f], 2) / F;
                    double p = 1 / (1 + Math.Exp(-y64[row * O + F]));
                    total -= hasNext ? Math.Log(1 - p) : Math.Log(p);
                }
            }

            return total / steps;
        }

        loss.Should().BeApproximately(Reference(), 1e-5);
        var numeric = FiniteDifference.Gradient(Reference, y64);
        GradientAssert.Close("d(loss)/d(outputs)", dOut.Select(v => (double)v).ToArray(), numeric, 1e-3, 1e-6);
        for (int t = batch.Lengths[1]; t < T; t++) dOut.AsSpan((t * B + 1) * O, O).ToArray().Should().OnlyContain(v => v == 0f, "padding gets no gradient");
    }

    [Fact]
    public void GenerateValues_FromPrefix_ContinuesTheWave_EndsNearTheTrueLength()
    {
        double se = 0, naive = 0, lengthError = 0;
        int n = 0;
        foreach (var wave in _f.Tests)
        {
            var prefix = wave.Take(PrefixSteps).ToArray();
            var truth = wave.Skip(PrefixSteps).ToArray();
            var generated = _f.Model.GenerateValues(prefix, 40, 1e-4f, 1);
            lengthError += Math.Abs(generated.Length - truth.Length);
            for (int t = 0; t < truth.Length; t++)
            {
                float g = t < generated.Length ? generated[t] : generated.Length > 0 ? generated[^1] : prefix[^1];
                se += Math.Pow(g - truth[t], 2);
                naive += Math.Pow(prefix[^1] - truth[t], 2);
                n++;
            }
        }

        double rmse = Math.Sqrt(se / n), baseline = Math.Sqrt(naive / n), meanLengthError = lengthError / _f.Tests.Count;
        rmse.Should().BeLessThan(0.25 * baseline, $"RMSE {rmse:F3} vs repeating the last value {baseline:F3}; mean |length error| {meanLengthError:F2}");
        meanLengthError.Should().BeLessThan(2.0, $"generation ends near the true end (mean |length error| in steps; RMSE {rmse:F3}, baseline {baseline:F3})");
    }

    [Fact]
    public void GenerateValues_SameSeedSameValues_TinyTemperatureIsTheMean()
    {
        var prefix = _f.Tests[0].Take(PrefixSteps).ToArray();
        var first = _f.Model.GenerateValues(prefix, 40, 1f, 42);
        _f.Model.GenerateValues(prefix, 40, 1f, 42).Should().Equal(first);
        var other = _f.Model.GenerateValues(prefix, 40, 1f, 43);
        other.Should().NotEqual(first, "another seed draws other noise at temperature 1");

        var a = _f.Model.GenerateValues(prefix, 40, 1e-6f, 1);
        var b = _f.Model.GenerateValues(prefix, 40, 1e-6f, 2);
        a.Length.Should().Be(b.Length);
        a.Zip(b).Should().OnlyContain(p => Math.Abs(p.First - p.Second) < 1e-4, "a tiny temperature gives the deterministic mean for any seed");
        _f.Model.GenerateValues(prefix, 3, 1f, 1).Length.Should().BeLessThanOrEqualTo(3, "maximumLength counts generated steps");
        _f.Model.FeaturesPerStep.Should().Be(1);
        _f.Model.Tokens.Should().BeEmpty();
    }

    [Fact]
    public void GenerateValues_EmptyPrefix_StartsAWave()
    {
        var generated = _f.Model.GenerateValues([], 40, 1e-4f, 1);
        generated.Length.Should().BeInRange(5, 30);
        generated.Should().OnlyContain(v => v > -1.3f && v < 1.3f);
    }

    [Fact]
    public void Transform_WritesSingleVector_SameAfterSaveLoadAndInFreshProcess()
    {
        var rows = _f.Tests.Take(4).Select(w => new SineGeneratorFixture.Row { Features = w, Prefix = w.Take(PrefixSteps).ToArray() })
            .Append(new SineGeneratorFixture.Row { Features = _f.Tests[0], Prefix = _f.Tests[0].Take(PrefixSteps).ToArray() }).ToList();
        var input = _f.Ml.Data.LoadFromEnumerable(rows);
        var output = _f.Model.Transform(input);
        var type = (VectorDataViewType)output.Schema["Generated"].Type;
        type.ItemType.Should().Be(NumberDataViewType.Single);
        var generated = output.GetColumn<float[]>("Generated").ToArray();
        generated.Should().OnlyContain(g => g.Length > 0 && g.Length <= 40);
        generated[4].Should().Equal(generated[0], "equal prefixes give equal continuations (the row seed comes from the seed and the prefix)");

        using var dir = new TempDirectory();
        _f.Ml.Model.Save(_f.Model, input.Schema, dir.File("values.zip"));
        var loaded = new MLContext(seed: 8).Model.Load(dir.File("values.zip"), out _);
        loaded.Transform(input).GetColumn<float[]>("Generated").Should().BeEquivalentTo(generated, o => o.WithStrictOrdering());
        var child = FreshProcess.Transform(_f.Ml, dir.File("values.zip"), input, dir.Path);
        child.ExitCode.Should().Be(0, child.StandardError);
        _f.Ml.Data.LoadFromBinary(child.OutputPath).GetColumn<float[]>("Generated").Should().BeEquivalentTo(generated, o => o.WithStrictOrdering());
    }

    [Fact]
    public void Transform_RenamedPrefixAndOutputColumns_GenerateWhatTheDefaultNamesDo()
    {
        var random = new Random(21);
        var waves = Enumerable.Range(0, 40).Select(_ => SineGeneratorFixture.Wave(random)).ToList();
        SequenceGeneratorTransformer Train(SequenceGeneratorTrainer.Options options)
        {
            options.HiddenSize = 8;
            options.MaximumNumberOfEpochs = 2;
            options.MaximumOutputLength = 12;
            options.Seed = 6;
            var ml = new MLContext(seed: 2);
            return ml.Recurrent().Trainers.SequenceGenerator(options)
                .Fit(ml.Data.LoadFromEnumerable(waves.Select(w => new SineGeneratorFixture.Row { Features = w })));
        }

        var plain = Train(new SequenceGeneratorTrainer.Options());
        var renamed = Train(new SequenceGeneratorTrainer.Options { PrefixColumnName = "Start", OutputColumnName = "Continued" });
        var prefixes = waves.Take(4).Select(w => w.Take(PrefixSteps).ToArray()).ToArray();
        var expected = plain.Transform(_f.Ml.Data.LoadFromEnumerable(prefixes.Select(p => new SineGeneratorFixture.Row { Features = p, Prefix = p })))
            .GetColumn<float[]>("Generated").ToArray();
        var output = renamed.Transform(_f.Ml.Data.LoadFromEnumerable(prefixes.Select(p => new StartRow { Start = p })));

        output.Schema.GetColumnOrNull("Generated").Should().BeNull();
        output.GetColumn<float[]>("Continued").Should().BeEquivalentTo(expected, o => o.WithStrictOrdering(),
            "the same seed and data train the same network; only the columns' names differ");
        expected.Should().OnlyContain(g => g.Length > 0);
    }

    private sealed class StartRow
    {
        [VectorType]
        public float[] Start { get; set; } = [];
    }

    [Fact]
    public void Transform_PrefixOfKeysOrNaN_ThrowsNamingPrefixColumn()
    {
        var keys = _f.Ml.Data.LoadFromEnumerable(new[] { new KeyPrefix { Prefix = [1] } });
        ((Action)(() => _f.Model.Transform(keys))).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*Prefix column 'Prefix' must be a vector of Single*");
        ((Action)(() => _f.Model.GenerateValues([0.1f, float.NaN], 5, 1f, 1))).Should().Throw<ArgumentException>()
            .Where(e => e.ParamName == "prefix").WithMessage("*NaN at step 1*");
        ((Action)(() => _f.Model.Generate(["a"], 5, 1f, 1))).Should().Throw<InvalidOperationException>().WithMessage("*trained on values*GenerateValues*");
        ((Action)(() => _f.Model.GenerateValues([0.1f], 0, 1f, 1))).Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == "maximumLength");
    }

    [Fact]
    public void Transform_KnownSizePrefixColumn_GeneratesLikeTheVariableOne()
    {
        var wave = _f.Tests[1];
        var fixedRows = _f.Ml.Data.LoadFromEnumerable(new[] { new FixedPrefix { Prefix = wave.Take(PrefixSteps).ToArray() } });
        var generated = _f.Model.Transform(fixedRows).GetColumn<float[]>("Generated").Single();
        var variable = _f.Ml.Data.LoadFromEnumerable(new[] { new SineGeneratorFixture.Row { Prefix = wave.Take(PrefixSteps).ToArray() } });
        generated.Should().Equal(_f.Model.Transform(variable).GetColumn<float[]>("Generated").Single());
    }

    private sealed class FixedPrefix
    {
        [VectorType(PrefixSteps)]
        public float[] Prefix { get; set; } = [];
    }

    private sealed class KeyPrefix
    {
        [KeyType(3)]
        [VectorType]
        public uint[] Prefix { get; set; } = [];
    }
}

/// <summary>Bad training input and options of next-value generation, and its payload.</summary>
public class ValueGeneratorBadInputTests
{
    private sealed class Row
    {
        [VectorType]
        public float[] Features { get; set; } = [];
    }

    private static SequenceGeneratorTrainer Trainer(Action<SequenceGeneratorTrainer.Options>? configure = null)
    {
        var options = new SequenceGeneratorTrainer.Options { HiddenSize = 4, MaximumNumberOfEpochs = 1, Seed = 1 };
        configure?.Invoke(options);
        return new MLContext(1).Recurrent().Trainers.SequenceGenerator(options);
    }

    private static IDataView Data(params float[][] rows) => new MLContext(1).Data.LoadFromEnumerable(rows.Select(r => new Row { Features = r }));

    [Fact]
    public void NaN_InTrainingSequence_ThrowsNamingColumnAndRow()
    {
        var act = () => Trainer().Fit(Data([1f, 2f], [1f, float.NaN, 3f]));
        act.Should().Throw<InvalidOperationException>().WithMessage("*Feature column 'Features' holds NaN in row 1 at step 1*");
    }

    [Fact]
    public void LengthNotMultipleOfFeaturesPerStep_ThrowsNamingColumnAndRow()
    {
        var act = () => Trainer(o => o.FeaturesPerStep = 2).Fit(Data([1f, 2f, 3f, 4f], [1f, 2f, 3f]));
        act.Should().Throw<InvalidOperationException>().WithMessage("*Feature column 'Features' has 3 values in row 1*FeaturesPerStep = 2*");
    }

    [Fact]
    public void EmptyTrainingSequence_ThrowsNamingColumnAndRow()
    {
        var act = () => Trainer().Fit(Data([1f, 2f], []));
        act.Should().Throw<InvalidOperationException>().WithMessage("*Feature column 'Features' is empty in row 1*");
    }

    [Fact]
    public void TopKOrConditionColumn_ForValues_ThrowNamingTheOption()
    {
        ((Action)(() => Trainer(o => o.TopK = 3).Fit(Data([1f, 2f])))).Should().Throw<ArgumentOutOfRangeException>()
            .Where(e => e.ParamName == "TopK" && e.Message.Contains("does not apply to next-value generation"));
        ((Action)(() => Trainer(o => o.ConditionColumnName = "C").Fit(Data([1f, 2f])))).Should().Throw<ArgumentOutOfRangeException>()
            .Where(e => e.ParamName == "ConditionColumnName");
        ((Action)(() => Trainer(o => o.FeaturesPerStep = 0))).Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == "FeaturesPerStep");
    }

    [Fact]
    public void TwoFeaturesPerStep_GeneratesWholeSteps_AndChecksThePrefix()
    {
        var model = Trainer(o => { o.FeaturesPerStep = 2; o.MaximumOutputLength = 6; }).Fit(Data([1f, 10f, 2f, 20f, 3f, 30f], [2f, 20f, 3f, 30f]));
        model.FeaturesPerStep.Should().Be(2);
        var generated = model.GenerateValues([1f, 10f], 6, 1f, 1);
        (generated.Length % 2).Should().Be(0);
        generated.Length.Should().BeLessThanOrEqualTo(12);
        ((Action)(() => model.GenerateValues([1f, 10f, 2f], 6, 1f, 1))).Should().Throw<ArgumentException>()
            .WithMessage("*3 values, which is not a multiple of the FeaturesPerStep = 2*column 'Features'*");
    }

    [Fact]
    public void GetOutputSchema_SingleFeatureAndPrefix_AddsVariableSingleVector()
    {
        var shape0 = Estimators.TestHelpers.ShapeOf<PrefixRow>(new MLContext(1));
        var shape = Trainer().GetOutputSchema(shape0);
        var generated = shape.Single(c => c.Name == "Generated");
        generated.Kind.Should().Be(SchemaShape.Column.VectorKind.VariableVector);
        generated.ItemType.Should().Be(NumberDataViewType.Single);
        ((Action)(() => Trainer(o => o.TopK = 2).GetOutputSchema(shape0))).Should().Throw<ArgumentOutOfRangeException>()
            .Where(e => e.ParamName == "TopK");
    }

    private sealed class PrefixRow
    {
        [VectorType]
        public float[] Features { get; set; } = [];

        [VectorType]
        public float[] Prefix { get; set; } = [];
    }

    private static ValueGeneratorModel Model()
    {
        var spec = NextValueObjective.Spec(CellKind.Gru, 2, 3, 1, 0f);
        var p = Enumerable.Range(0, new ParameterLayout(spec).Count).Select(i => i * 0.01f).ToArray();
        return new ValueGeneratorModel(spec, "Wave", [0.5f, -1f], [2f, 0.25f], [0.1f, 0.3f], 0.7f, 9, -5, p);
    }

    [Fact]
    public void Payload_RoundTripsEveryField()
    {
        var m = Model();
        var back = Seq2SeqModelFormat.ReadValueGenerator(Seq2SeqModelFormat.Write(m));
        back.Spec.Should().Be(m.Spec);
        (back.FeatureColumnName, back.Temperature, back.MaximumOutputLength, back.Seed).Should().Be(("Wave", 0.7f, 9, -5));
        back.Mean.Should().Equal(m.Mean);
        back.Scale.Should().Equal(m.Scale);
        back.Residual.Should().Equal(m.Residual);
        back.Parameters.Should().Equal(m.Parameters);
    }

    [Fact]
    public void Payload_TruncatedCorruptedOrHostile_ThrowsInvalidData()
    {
        var bytes = Seq2SeqModelFormat.Write(Model());
        ((Action)(() => Seq2SeqModelFormat.ReadValueGenerator(bytes.AsSpan(0, bytes.Length - 9)))).Should().Throw<InvalidDataException>();
        var corrupted = (byte[])bytes.Clone();
        corrupted[40] ^= 0x5a;
        ((Action)(() => Seq2SeqModelFormat.ReadValueGenerator(corrupted))).Should().Throw<InvalidDataException>().WithMessage("*checksum*");
        // A hostile F (2^30) with a valid checksum: rejected by its limit before anything is allocated.
        var hostile = (byte[])bytes.Clone();
        BitConverter.GetBytes(1 << 30).CopyTo(hostile, 16);
        Fix(hostile);
        ((Action)(() => Seq2SeqModelFormat.ReadValueGenerator(hostile))).Should().Throw<InvalidDataException>().WithMessage("*values per step*");
        var zeroScale = (byte[])bytes.Clone();
        int scaleAt = Find(zeroScale, BitConverter.GetBytes(0.25f));
        BitConverter.GetBytes(0f).CopyTo(zeroScale, scaleAt);
        Fix(zeroScale);
        ((Action)(() => Seq2SeqModelFormat.ReadValueGenerator(zeroScale))).Should().Throw<InvalidDataException>().WithMessage("*scale 1 is 0*");
        ((Action)(() => Seq2SeqModelFormat.ReadGenerator(bytes))).Should().Throw<InvalidDataException>().WithMessage("*magic*");
    }

    private static void Fix(byte[] payload) =>
        BitConverter.GetBytes(Microsoft.ML.Recurrent.Model.Crc32.Compute(payload.AsSpan(0, payload.Length - 4))).CopyTo(payload, payload.Length - 4);

    private static int Find(byte[] haystack, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= haystack.Length; i++)
            if (haystack.AsSpan(i, needle.Length).SequenceEqual(needle)) return i;
        throw new InvalidOperationException("not found");
    }
}
