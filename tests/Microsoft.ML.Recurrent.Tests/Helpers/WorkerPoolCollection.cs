namespace Microsoft.ML.Recurrent.Tests.Helpers;

/// <summary>
/// Tests that assert how work was split across the engine's one worker pool (for example "this product ran on two
/// threads"). The pool serves one job at a time and callers that find it busy run alone, so these tests run while
/// no other test class runs.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class WorkerPoolCollection
{
    public const string Name = "Worker pool";
}
