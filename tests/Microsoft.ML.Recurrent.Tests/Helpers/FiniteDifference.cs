using Microsoft.ML.Recurrent.Engine;

namespace Microsoft.ML.Recurrent.Tests.Helpers;

/// <summary>A named slice of the parameter buffer, for readable failure messages.</summary>
internal readonly record struct NamedSlice(string Name, Slice Slice);

/// <summary>
/// Central finite differences, in double precision, of the <see cref="ReferenceNetwork"/>'s loss with respect to
/// parameters, input values and initial states: the numbers the engine's analytical gradients are checked against.
/// </summary>
internal static class FiniteDifference
{
    /// <summary>Step of the central difference (double precision: truncation and round-off both ≈ 1e-10).</summary>
    public const double DefaultStep = 1e-6;

    /// <summary>(f(x + h e_i) − f(x − h e_i)) / 2h; restores x[i].</summary>
    public static double Derivative(Func<double> f, double[] x, int index, double step = DefaultStep)
    {
        double saved = x[index];
        x[index] = saved + step;
        double plus = f();
        x[index] = saved - step;
        double minus = f();
        x[index] = saved;
        return (plus - minus) / (2 * step);
    }

    /// <summary>The derivative at each of <paramref name="indices"/>, in that order.</summary>
    public static double[] Gradient(Func<double> f, double[] x, IReadOnlyList<int> indices, double step = DefaultStep)
    {
        var g = new double[indices.Count];
        for (int k = 0; k < indices.Count; k++) g[k] = Derivative(f, x, indices[k], step);
        return g;
    }

    /// <summary>The derivative at every index of <paramref name="x"/>.</summary>
    public static double[] Gradient(Func<double> f, double[] x, double step = DefaultStep)
        => Gradient(f, x, Enumerable.Range(0, x.Length).ToArray(), step);

    /// <summary>Every slice of the layout with a PyTorch-like name (empty slices left out).</summary>
    public static IReadOnlyList<NamedSlice> NamedSlices(ParameterLayout layout)
    {
        var list = new List<NamedSlice>();
        if (layout.Embedding.Length > 0) list.Add(new("embedding", layout.Embedding));
        for (int l = 0; l < layout.Spec.NumberOfLayers; l++)
        {
            for (int d = 0; d < layout.Spec.Directions; d++)
            {
                string suffix = $"_l{l}" + (d == 1 ? "_reverse" : "");
                var c = layout.Cell(l, d);
                list.Add(new("weight_ih" + suffix, c.WeightIh));
                list.Add(new("weight_hh" + suffix, c.WeightHh));
                list.Add(new("bias_ih" + suffix, c.BiasIh));
                list.Add(new("bias_hh" + suffix, c.BiasHh));
            }
        }

        if (layout.HeadWeight.Length > 0) list.Add(new("head.weight", layout.HeadWeight));
        if (layout.HeadBias.Length > 0) list.Add(new("head.bias", layout.HeadBias));
        return list;
    }

    /// <summary>The name of the slice holding parameter <paramref name="index"/>, with the offset inside it.</summary>
    public static string NameOf(ParameterLayout layout, int index)
    {
        foreach (var s in NamedSlices(layout))
        {
            if (index >= s.Slice.Offset && index < s.Slice.Offset + s.Slice.Length) return $"{s.Name}[{index - s.Slice.Offset}]";
        }

        return $"?[{index}]";
    }

    /// <summary>
    /// Parameter indices to check: every index of a slice with at most <paramref name="perSlice"/> values, otherwise a
    /// seeded random subset of <paramref name="perSlice"/> distinct indices of it (sorted).
    /// </summary>
    public static int[] ParameterIndices(ParameterLayout layout, int perSlice = int.MaxValue, int seed = 0)
    {
        var rng = new Random(seed);
        var result = new List<int>();
        foreach (var s in NamedSlices(layout))
        {
            if (s.Slice.Length <= perSlice)
            {
                for (int i = 0; i < s.Slice.Length; i++) result.Add(s.Slice.Offset + i);
                continue;
            }

            var chosen = new SortedSet<int>();
            while (chosen.Count < perSlice) chosen.Add(s.Slice.Offset + rng.Next(s.Slice.Length));
            result.AddRange(chosen);
        }

        return result.ToArray();
    }

    /// <summary>∂loss/∂parameters[i] for each i in <paramref name="indices"/> (all parameters when null).</summary>
    public static double[] ParameterGradient(NetworkSpec spec, double[] parameters, IReadOnlyList<double[]> sequences, IReadOnlyList<double[]> targets,
        LossKind loss, IReadOnlyList<double[]>? h0 = null, IReadOnlyList<double[]>? c0 = null, IReadOnlyList<int>? indices = null, double step = DefaultStep)
    {
        var p = (double[])parameters.Clone();
        double F() => ReferenceNetwork.Loss(spec, p, sequences, targets, loss, h0, c0);
        return indices is null ? Gradient(F, p, step) : Gradient(F, p, indices, step);
    }

    /// <summary>∂loss/∂sequences[i][j] for every input value of every sequence (no embedding: token ids are not differentiable).</summary>
    public static double[][] InputGradient(NetworkSpec spec, double[] parameters, IReadOnlyList<double[]> sequences, IReadOnlyList<double[]> targets,
        LossKind loss, IReadOnlyList<double[]>? h0 = null, IReadOnlyList<double[]>? c0 = null, double step = DefaultStep)
    {
        if (spec.VocabularySize > 0) throw new ArgumentException("Token ids have no gradient.", nameof(spec));
        var copy = sequences.Select(s => (double[])s.Clone()).ToArray();
        return copy.Select(s => Gradient(() => ReferenceNetwork.Loss(spec, parameters, copy, targets, loss, h0, c0), s, step)).ToArray();
    }

    /// <summary>∂loss/∂h0[i][j] for every initial hidden value of every sequence ((L · directions, H) each).</summary>
    public static double[][] InitialHiddenGradient(NetworkSpec spec, double[] parameters, IReadOnlyList<double[]> sequences, IReadOnlyList<double[]> targets,
        LossKind loss, IReadOnlyList<double[]>? h0 = null, IReadOnlyList<double[]>? c0 = null, double step = DefaultStep)
    {
        var h = StateCopy(spec, sequences.Count, h0);
        return h.Select(s => Gradient(() => ReferenceNetwork.Loss(spec, parameters, sequences, targets, loss, h, c0), s, step)).ToArray();
    }

    /// <summary>∂loss/∂c0[i][j] for every initial cell value of every sequence (LSTM only).</summary>
    public static double[][] InitialCellGradient(NetworkSpec spec, double[] parameters, IReadOnlyList<double[]> sequences, IReadOnlyList<double[]> targets,
        LossKind loss, IReadOnlyList<double[]>? h0 = null, IReadOnlyList<double[]>? c0 = null, double step = DefaultStep)
    {
        if (spec.Cell != CellKind.Lstm) throw new ArgumentException("Only an LSTM has a cell state.", nameof(spec));
        var c = StateCopy(spec, sequences.Count, c0);
        return c.Select(s => Gradient(() => ReferenceNetwork.Loss(spec, parameters, sequences, targets, loss, h0, c), s, step)).ToArray();
    }

    private static double[][] StateCopy(NetworkSpec spec, int count, IReadOnlyList<double[]>? state)
    {
        int n = spec.NumberOfLayers * spec.Directions * spec.HiddenSize;
        return Enumerable.Range(0, count).Select(i => state is null ? new double[n] : (double[])state[i].Clone()).ToArray();
    }
}
