// Microsoft.ML.Recurrent sequence samples: a BiLSTM-CRF tagger that finds names, amounts and dates in generated
// sentences (BIO tags, span F1), and a recurrent featurizer whose features let Sdca solve the adding problem.
Samples.TagEntities.Example();
Console.WriteLine();
Samples.FeaturizeThenSdca.Example();
