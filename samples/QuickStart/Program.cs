// Microsoft.ML.Recurrent quick start: two short examples that each train a recurrent network inside an ordinary ML.NET
// pipeline on generated data, evaluate it, save it, load it back and predict.
Samples.ForecastWithLstm.Example();
Console.WriteLine();
Samples.ClassifyWavesWithGru.Example();
