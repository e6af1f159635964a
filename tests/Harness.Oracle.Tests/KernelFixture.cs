using Harness.Oracle;
using Xunit.Abstractions;

namespace Harness.Oracle.Tests;

/// <summary>Kernel tests skip, printing why, when this machine cannot run the oracle (not root, tools missing).</summary>
internal static class Kernel
{
    public static bool Available(ITestOutputHelper output)
    {
        if (Preflight.KernelAvailable(out var why)) return true;
        output.WriteLine("SKIPPED: " + why);
        return false;
    }
}

/// <summary>Kernel tests run one at a time (they share the machine's 2 cores and create namespaces).</summary>
[CollectionDefinition("kernel", DisableParallelization = true)]
public sealed class KernelCollection;
