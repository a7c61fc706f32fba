// Microsoft.ML.Recurrent AutoSweep: a budgeted sweep of recurrent regressors on the adding problem, printing the trial
// table and the winner, then saving and reloading it. `dotnet run -c Release --project samples/AutoSweep -- speed` measures
// trials per minute with 1 and 2 parallel trials and successive halving against a full grid of the same space
// (`-- speed 3000` uses 3000 training sequences instead of the sample's 1000).
if (args.Length > 0 && args[0] == "speed")
    Samples.AutoSweepSpeed.Measure(args.Length > 1 ? int.Parse(args[1]) : 1000);
else
    Samples.AutoSweep.Example();
