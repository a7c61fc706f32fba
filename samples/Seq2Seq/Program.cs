// Microsoft.ML.Recurrent sequence-to-sequence samples: an encoder–decoder with attention that normalises dates written in
// several formats (exact-match accuracy and a PNG heat map of its attention), and a sequence generator sampling words of
// a small grammar at two temperatures.
Samples.NormalizeDates.Example();
Console.WriteLine();
Samples.GenerateWords.Example();
Console.WriteLine();
Samples.GenerateWave.Example();
