// Sentiment analysis with an LSTM over word tokens: text → TokenizeIntoWords → MapValueToKey → LSTM binary classifier.
Samples.SentimentLstm.Example();
