using Samples.Forecasting;

// dotnet run --project samples/Forecasting -c Release [airline|multi|all] [--stationarization Auto|Differencing|SeasonalDifferencing] [--log true|false] [--models N] [--window N] [--hidden N] [--cell Lstm|Gru|SimpleRnn]
string which = args.Length > 0 && !args[0].StartsWith("--", StringComparison.Ordinal) ? args[0] : "all";
if (which is "airline" or "all") AirlinePassengers.Example(args);
if (which is "multi" or "all") MultiSeriesWithCovariate.Example();
