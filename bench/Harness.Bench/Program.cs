using BenchmarkDotNet.Running;
using Harness.Bench;

// `replay-bench [packets] [--linear]`: the engine's packets/s on the generated capture (see ReplayBench).
// Anything else: BenchmarkDotNet over the classes of this assembly.
if (args.Length > 0 && args[0] == "replay-bench") return ReplayBench.Run(args);
BenchmarkSwitcher.FromAssembly(typeof(ReplayBench).Assembly).Run(args);
return 0;
