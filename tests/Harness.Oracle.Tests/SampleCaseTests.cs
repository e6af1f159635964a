using Harness.Golden.Cases;
using Harness.Oracle;
using Xunit.Abstractions;

namespace Harness.Oracle.Tests;

/// <summary>
/// <c>check --oracle</c> over every sample case in captures/: the project's own goldens against the kernel.
/// Cases whose rules draw random numbers (<c>-m statistic --mode random</c>) are reported, not asserted: the kernel's
/// random source is not the case's seed (known-differences.md, "random").
/// </summary>
[Collection("kernel")]
public class SampleCaseTests(ITestOutputHelper output)
{
    [Fact]
    public void Every_sample_case_agrees_with_the_kernel()
    {
        if (!Kernel.Available(output)) return;
        var root = RepositoryRoot();
        if (root is null || !Directory.Exists(Path.Combine(root, "captures")))
        {
            output.WriteLine("SKIPPED: no captures/ folder above " + AppContext.BaseDirectory);
            return;
        }
        var failures = new List<string>();
        int cases = 0, agreeing = 0;
        foreach (var dir in CaseLoader.Discover([Path.Combine(root, "captures")]))
        {
            var manifest = CaseLoader.Load(dir);
            var golden = Path.Combine(root, "golden", manifest.Name + ".csv");
            if (!File.Exists(golden)) continue;
            cases++;
            var result = KernelOracle.Check(manifest, golden, SampleOptions);
            bool random = manifest.Rules.Concat(manifest.Rules6).Any(f => File.ReadAllText(f).Contains("--mode random", StringComparison.Ordinal));
            output.WriteLine($"{manifest.Name}: {result.KernelRows.Length} rows, {result.Differences.Length} differing cells{(random ? " (random: reported only)" : "")}{(result.Notes.IsEmpty ? "" : "; " + string.Join("; ", result.Notes))}");
            foreach (var d in result.Differences.Take(10))
                output.WriteLine($"    packet {d.Packet} {d.Column}: golden '{d.Expected}', kernel '{d.Actual}'");
            if (result.Agrees) agreeing++;
            else if (!random) failures.Add(manifest.Name);
        }
        output.WriteLine($"sample cases: {cases}, agreeing with the kernel: {agreeing}");
        Console.WriteLine($"check --oracle: {cases} sample cases, {agreeing} agree with the kernel");
        Assert.True(failures.Count == 0, "sample cases the kernel disagrees with: " + string.Join(", ", failures));
    }

    /// <summary>Paced by the captures' own timestamps, no gap shortened (the sample captures last seconds).</summary>
    internal static readonly OracleOptions SampleOptions = new() { Pace = true };

    private static string? RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Harness.sln"))) return dir.FullName;
        return null;
    }
}
