using Microsoft.ML.Recurrent.Model;

namespace Microsoft.ML.Recurrent;

/// <summary>What a fitted recurrent model is: its network shape, its input, its classes and how training went.</summary>
public sealed class RecurrentModelInfo
{
    internal RecurrentModelInfo(RecurrentModel model, IReadOnlyList<RecurrentEpochReport> history, int bestEpoch)
    {
        var spec = model.Spec;
        CellType = (RecurrentCellType)(int)spec.Cell;
        FeaturesPerStep = spec.InputSize;
        HiddenSize = spec.HiddenSize;
        NumberOfLayers = spec.NumberOfLayers;
        Bidirectional = spec.Bidirectional;
        VocabularySize = spec.VocabularySize;
        EmbeddingSize = spec.EmbeddingSize;
        OutputSize = spec.OutputSize;
        ClassNames = model.ClassNames;
        FeatureColumnName = model.FeatureColumnName;
        ParameterCount = model.Parameters.Length;
        TrainingHistory = history;
        BestEpoch = bestEpoch;
    }

    /// <summary>The cell of every layer.</summary>
    public RecurrentCellType CellType { get; }

    /// <summary>Features per time step F (1 for token input).</summary>
    public int FeaturesPerStep { get; }

    /// <summary>Hidden units per layer and direction.</summary>
    public int HiddenSize { get; }

    /// <summary>Stacked recurrent layers.</summary>
    public int NumberOfLayers { get; }

    /// <summary>Whether every layer reads the sequence in both directions.</summary>
    public bool Bidirectional { get; }

    /// <summary>Token input: embedding rows (key count + 1, row 0 = padding/unknown); 0 for Single features.</summary>
    public int VocabularySize { get; }

    /// <summary>Token input: embedding width; 0 for Single features.</summary>
    public int EmbeddingSize { get; }

    /// <summary>Outputs of the dense head: 1 (regression, binary) or the number of classes.</summary>
    public int OutputSize { get; }

    /// <summary>Multiclass: the label's key values as text, in key order; empty otherwise.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>The feature column the model reads.</summary>
    public string FeatureColumnName { get; }

    /// <summary>Trainable parameters (weights and biases).</summary>
    public int ParameterCount { get; }

    /// <summary>One report per epoch that ran.</summary>
    public IReadOnlyList<RecurrentEpochReport> TrainingHistory { get; }

    /// <summary>The epoch whose weights the model keeps (the best validation loss when validation data was given, else the last).</summary>
    public int BestEpoch { get; }
}
