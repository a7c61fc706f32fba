using Microsoft.ML.Recurrent.Tests.Engine;

namespace Microsoft.ML.Recurrent.Tests;

/// <summary>
/// The test assembly's entry point (the test SDK's generated one is turned off in the project). The test runner never
/// calls it; <see cref="LaneTests"/> starts the assembly as a child process with <c>lane-check</c> under an environment
/// that disables FMA, so that the lane family is chosen at start-up as on a machine without the instruction.
/// </summary>
internal static class Program
{
    public static int Main(string[] args)
    {
        if (args is not ["lane-check"]) return 2;
        try
        {
            Console.WriteLine(LaneFamilyCheck.Run());
            Console.WriteLine("lane-check passed");
            return 0;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine(e);
            return 1;
        }
    }
}
