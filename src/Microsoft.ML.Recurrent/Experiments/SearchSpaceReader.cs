using System.Globalization;
using System.Reflection;
using Microsoft.ML.SearchSpace;

namespace Microsoft.ML.Recurrent.Experiments;

/// <summary>How one swept property maps a coordinate u in [0, 1] to a value (and back, for the starting point).</summary>
internal sealed class SweptParameter
{
    private readonly double _min, _max;
    private readonly bool _log, _integer;
    private readonly object[] _candidates;

    private SweptParameter(PropertyInfo source, PropertyInfo target, double min, double max, bool log, bool integer, object[] candidates, double start)
    {
        Source = source;
        Target = target;
        _min = min;
        _max = max;
        _log = log;
        _integer = integer;
        _candidates = candidates;
        Start = start;
    }

    public string Name => Source.Name;

    public PropertyInfo Source { get; }

    public PropertyInfo Target { get; }

    /// <summary>Choice or boolean: the number of values (the coordinate picks one); 0 for a range.</summary>
    public int Categories => _candidates.Length;

    /// <summary>Number of distinct values (integer ranges and choices), or 0 for a continuous range.</summary>
    public long DistinctValues => _candidates.Length > 0 ? _candidates.Length : _integer ? (long)(_max - _min) + 1 : 0;

    /// <summary>The coordinate of the starting point (the attribute's initial or default value).</summary>
    public double Start { get; }

    public object ValueAt(double u)
    {
        u = Math.Clamp(u, 0, 1);
        if (_candidates.Length > 0) return _candidates[Math.Min(_candidates.Length - 1, (int)(u * _candidates.Length))];
        double v = _log ? Math.Exp(Math.Log(_min) + u * (Math.Log(_max) - Math.Log(_min))) : _min + u * (_max - _min);
        v = Math.Clamp(v, _min, _max);
        if (_integer) v = Math.Round(v);
        return ValueConversion.To(v, Target.PropertyType, Name);
    }

    /// <summary>Snaps a coordinate to the centre of its category (choices), so equal values have equal coordinates.</summary>
    public double Snap(double u) => _candidates.Length == 0 ? Math.Clamp(u, 0, 1)
        : (Math.Min(_candidates.Length - 1, (int)(Math.Clamp(u, 0, 1) * _candidates.Length)) + 0.5) / _candidates.Length;

    public static SweptParameter From(PropertyInfo source, PropertyInfo target, object? rangeOrChoice, object? instanceValue)
    {
        string name = source.Name;
        switch (rangeOrChoice)
        {
            case RangeAttribute range:
            {
                double min = Convert.ToDouble(range.Min, CultureInfo.InvariantCulture), max = Convert.ToDouble(range.Max, CultureInfo.InvariantCulture);
                Type t = Nullable.GetUnderlyingType(target.PropertyType) ?? target.PropertyType;
                bool integer = t == typeof(int) || t == typeof(long);
                if (!(t == typeof(int) || t == typeof(long) || t == typeof(float) || t == typeof(double)))
                    throw new ArgumentException($"The search-space property '{name}' carries [Range] but the option is {t.Name}; [Range] fits Int32, Single or Double options.", "searchSpace");
                if (!(min < max) || !double.IsFinite(min) || !double.IsFinite(max))
                    throw new ArgumentException($"The search-space property '{name}' has [Range({min}, {max})]; the minimum must be below the maximum.", "searchSpace");
                if (range.LogBase && min <= 0)
                    throw new ArgumentException($"The search-space property '{name}' has a log-scale [Range] starting at {min}; a log scale needs a minimum > 0.", "searchSpace");
                double init = range.Init is null ? Convert.ToDouble(instanceValue ?? min, CultureInfo.InvariantCulture) : Convert.ToDouble(range.Init, CultureInfo.InvariantCulture);
                init = Math.Clamp(init, min, max);
                double start = range.LogBase ? (Math.Log(init) - Math.Log(min)) / (Math.Log(max) - Math.Log(min)) : (init - min) / (max - min);
                return new SweptParameter(source, target, min, max, range.LogBase, integer, [], start);
            }

            case ChoiceAttribute choice:
            {
                var candidates = (choice.Candidates ?? []).Select(c => ValueConversion.To(c, target.PropertyType, name)).ToArray();
                if (candidates.Length == 0)
                    throw new ArgumentException($"The search-space property '{name}' has an empty [Choice].", "searchSpace");
                object? first = choice.DefaultValue is null ? instanceValue : ValueConversion.To(choice.DefaultValue, target.PropertyType, name);
                int index = Math.Max(0, Array.FindIndex(candidates, c => Equals(c, first)));
                return new SweptParameter(source, target, 0, 0, false, false, candidates, (index + 0.5) / candidates.Length);
            }

            case BooleanChoiceAttribute boolean:
            {
                Type t = Nullable.GetUnderlyingType(target.PropertyType) ?? target.PropertyType;
                if (t != typeof(bool))
                    throw new ArgumentException($"The search-space property '{name}' carries [BooleanChoice] but the option is {t.Name}, not Boolean.", "searchSpace");
                return new SweptParameter(source, target, 0, 0, false, false, [false, true], boolean.DefaultValue ? 0.75 : 0.25);
            }

            default:
                throw new ArgumentException($"The search-space property '{name}' is not swept.", nameof(rangeOrChoice));
        }
    }

    /// <summary>The smallest and largest value of an integer parameter (the epochs resource).</summary>
    public (int Min, int Max) IntegerBounds()
    {
        if (_candidates.Length > 0)
        {
            var values = _candidates.Select(c => Convert.ToInt32(c, CultureInfo.InvariantCulture)).ToArray();
            return (values.Min(), values.Max());
        }

        return ((int)Math.Ceiling(_min), (int)Math.Floor(_max));
    }
}

/// <summary>Converts attribute values (boxed int/float/double/string/enum) to an option's type.</summary>
internal static class ValueConversion
{
    public static object To(object value, Type type, string name)
    {
        Type t = Nullable.GetUnderlyingType(type) ?? type;
        try
        {
            if (t.IsInstanceOfType(value)) return value;
            if (t.IsEnum)
                return value is string s ? Enum.Parse(t, s, ignoreCase: true) : Enum.ToObject(t, Convert.ToInt64(value, CultureInfo.InvariantCulture));
            if (t == typeof(int) && value is double or float)
                return checked((int)Math.Round(Convert.ToDouble(value, CultureInfo.InvariantCulture)));
            return Convert.ChangeType(value, t, CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is InvalidCastException or FormatException or OverflowException or ArgumentException)
        {
            throw new ArgumentException($"The search-space property '{name}' has the value '{value}' ({value.GetType().Name}), which is not a valid {t.Name}.", "searchSpace", e);
        }
    }
}

/// <summary>
/// A search-space instance read once: the swept properties (by their Microsoft.ML.SearchSpace attributes), the fixed ones
/// (copied from the instance), and the epochs resource (<c>MaximumNumberOfEpochs</c>). Builds the trainer options of a point.
/// </summary>
internal sealed class SearchSpaceDescription
{
    public const string EpochsName = nameof(RecurrentTrainerOptions.MaximumNumberOfEpochs);

    private readonly List<(PropertyInfo Target, object? Value)> _fixed = [];
    private readonly Type _optionsType;

    private SearchSpaceDescription(Type optionsType) => _optionsType = optionsType;

    public IReadOnlyList<SweptParameter> Swept { get; private set; } = [];

    public int MinimumEpochs { get; private set; }

    public int MaximumEpochs { get; private set; }

    public string SpaceName { get; private set; } = "";

    public static SearchSpaceDescription Read(object space, Type optionsType)
    {
        var result = new SearchSpaceDescription(optionsType) { SpaceName = space.GetType().Name };
        var swept = new List<SweptParameter>();
        SweptParameter? epochs = null;
        int? fixedEpochs = null;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        // Most-derived first, so a property hidden with `new` in a derived class wins.
        foreach (var p in space.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance)
                     .OrderByDescending(p => Depth(p.DeclaringType)))
        {
            if (p.GetIndexParameters().Length > 0 || !p.CanRead || !seen.Add(p.Name)) continue;
            var target = optionsType.GetProperty(p.Name, BindingFlags.Public | BindingFlags.Instance);
            if (target is null || target.SetMethod is not { IsPublic: true })
                throw new ArgumentException(
                    $"The search space {space.GetType().Name} has the property '{p.Name}', which is not an option of {optionsType.DeclaringType?.Name ?? optionsType.Name}.Options; name each property like the trainer option it sets.",
                    "searchSpace");
            object? attribute = (object?)p.GetCustomAttribute<RangeAttribute>() ?? (object?)p.GetCustomAttribute<ChoiceAttribute>() ?? p.GetCustomAttribute<BooleanChoiceAttribute>();
            object? value = p.GetValue(space);
            if (attribute is null)
            {
                if (p.Name == EpochsName) fixedEpochs = Convert.ToInt32(value, CultureInfo.InvariantCulture);
                result._fixed.Add((target, value is null ? null : ValueConversion.To(value, target.PropertyType, p.Name)));
                continue;
            }

            var parameter = SweptParameter.From(p, target, attribute, value);
            if (p.Name == EpochsName) epochs = parameter;
            else swept.Add(parameter);
        }

        if (swept.Count == 0)
            throw new ArgumentException(
                $"The search space {space.GetType().Name} sweeps nothing: no property other than {EpochsName} carries [Range], [Choice] or [BooleanChoice] (namespace Microsoft.ML.SearchSpace).",
                "searchSpace");
        (result.MinimumEpochs, result.MaximumEpochs) = epochs?.IntegerBounds()
            ?? (fixedEpochs ?? RecurrentTrainerOptions.Defaults.MaximumNumberOfEpochs, fixedEpochs ?? RecurrentTrainerOptions.Defaults.MaximumNumberOfEpochs);
        if (result.MinimumEpochs < 1)
            throw new ArgumentException($"The search space {space.GetType().Name} allows {result.MinimumEpochs} epochs; {EpochsName} must be ≥ 1.", "searchSpace");
        result.Swept = swept;
        return result;
    }

    private static int Depth(Type? t)
    {
        int d = 0;
        for (; t is not null; t = t.BaseType) d++;
        return d;
    }

    /// <summary>The number of distinct points, or null when a continuous range makes it unbounded.</summary>
    public long? Size
    {
        get
        {
            long size = 1;
            foreach (var p in Swept)
            {
                if (p.DistinctValues == 0) return null;
                size = size > long.MaxValue / p.DistinctValues ? long.MaxValue : size * p.DistinctValues;
            }

            return size;
        }
    }

    public object[] ValuesAt(double[] point)
    {
        var values = new object[Swept.Count];
        for (int i = 0; i < values.Length; i++) values[i] = Swept[i].ValueAt(point[i]);
        return values;
    }

    public static string Key(object[] values) => string.Join("|", values.Select(v => Convert.ToString(v, CultureInfo.InvariantCulture)));

    /// <summary>The trainer options of <paramref name="values"/> (fixed properties first, then the swept values).</summary>
    public RecurrentTrainerOptions CreateOptions(object[] values, int epochs)
    {
        var options = (RecurrentTrainerOptions)Activator.CreateInstance(_optionsType)!;
        foreach (var (target, value) in _fixed) target.SetValue(options, value);
        for (int i = 0; i < Swept.Count; i++) Swept[i].Target.SetValue(options, values[i]);
        options.MaximumNumberOfEpochs = epochs;
        return options;
    }

    /// <summary>The forecaster options of <paramref name="values"/> (read with the options type of <see cref="RecurrentForecastingEstimator"/>).</summary>
    public RecurrentForecastingEstimator.Options CreateForecastingOptions(object[] values, int epochs)
    {
        var options = new RecurrentForecastingEstimator.Options();
        foreach (var (target, value) in _fixed) target.SetValue(options, value);
        for (int i = 0; i < Swept.Count; i++) Swept[i].Target.SetValue(options, values[i]);
        options.MaximumNumberOfEpochs = epochs;
        return options;
    }
}
