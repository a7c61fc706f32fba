namespace Microsoft.ML.Recurrent.Tests;
public class SmokeTests { [Fact] public void Placeholder_Runs() { (1 + 1).Should().Be(2); } }
