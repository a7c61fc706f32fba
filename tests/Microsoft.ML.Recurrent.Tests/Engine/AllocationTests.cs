using Microsoft.ML.Recurrent.Engine;
using Microsoft.ML.Recurrent.Engine.Optimizers;
using Microsoft.ML.Recurrent.Engine.Training;
using Microsoft.ML.Recurrent.Tests.Helpers;

namespace Microsoft.ML.Recurrent.Tests.Engine;

public class AllocationTests
{
    [Theory]
    [InlineData((int)CellKind.Lstm, false)]
    [InlineData((int)CellKind.Gru, true)]
    [InlineData((int)CellKind.SimpleRnn, false)]
    public void TrainingStep_SteadyState_AllocatesNothing(int cell, bool bidirectional)
    {
        // One thread, set on this network only: every product and loop runs on the calling thread, so its per-thread GEMM
        // workspace reaches its size in the warm-up. (Setting the process-wide Gemm.DefaultThreads raced with tests running
        // beside this one: a loop that found the shared pool busy ran alone and grew this thread's workspace mid-measurement.)
        var data = LearningTests.AddingProblem(32, 20, seed: 1);
        var spec = new NetworkSpec((CellKind)cell, InputSize: 2, HiddenSize: 16, NumberOfLayers: 2, Bidirectional: bidirectional, Dropout: 0.1f);
        var layout = new ParameterLayout(spec);
        var p = new float[layout.Count];
        Initializer.Initialize(layout, p, 1);
        var net = new RecurrentNetwork(layout, p, new float[layout.Count], 16, 20) { Threads = 1 };
        var batch = new SequenceBatch(16, 20, 2, 1);
        var dOut = new float[16];
        var adam = Optimizer.Create(OptimizerKind.Adam, layout.Count, new OptimizerSettings());
        var random = new Random(1);
        var indices = Enumerable.Range(0, 32).ToArray();

        void Step(int k)
        {
            batch.Fill(data, indices.AsSpan(k % 2 * 16, 16));
            Array.Clear(net.Gradients);
            var y = net.Forward(batch, training: true, dropoutRandom: random);
            Loss.Compute(LossKind.MeanSquaredError, y, batch, OutputMode.LastHidden, 1, dOut);
            net.Backward(dOut);
            GradientClipping.ClipByGlobalNorm(net.Gradients, 1f);
            adam.Step(p, net.Gradients, 1e-3f);
        }

        for (int k = 0; k < 3; k++) Step(k); // warm-up: buffers reach their capacity
        long allocated = SteadyAllocation.Bytes(() => { for (int k = 0; k < 10; k++) Step(k); });
        allocated.Should().Be(0, "the steady-state training loop reuses every buffer");
    }
}
