using Harness.Oracle.Fuzz;
using Xunit.Abstractions;

namespace Harness.Oracle.Tests;

/// <summary>
/// The engine against the kernel on generated cases (fixed seed). Prints the numbers; a disagreement fails with the
/// shrunk case unless known-differences.md explains it (see <see cref="KnownDifferences"/>).
/// </summary>
[Collection("kernel")]
public class DifferentialFuzzTests(ITestOutputHelper output)
{
    public const int Cases = 500;
    public const int Seed = 20261122;

    [Fact]
    public void Engine_and_kernel_agree_on_generated_cases()
    {
        if (!Kernel.Available(output)) return;
        var log = new StringWriter();
        var report = DifferentialFuzzer.Run(Cases, Seed, log, maxShrunk: 3);
        output.WriteLine(log.ToString());
        output.WriteLine(report.Summary());
        Console.WriteLine(report.Summary());
        Assert.Equal(Cases, report.Cases);
        foreach (var f in report.Failures)
            foreach (var d in f.Differences) output.WriteLine($"DIFF {KnownDifferences.Category(d, f) ?? "UNEXPLAINED"} | {d.Column} | {d.Expected} | {d.Actual}");
        Assert.True(report.Packets > report.Cases, "every case sends packets");
        var unexplained = report.Failures.Where(r => !KnownDifferences.Explains(r)).ToList();
        output.WriteLine($"{unexplained.Count} disagreements not explained by known-differences.md");
        Assert.True(unexplained.Count == 0,
            $"{report.Disagreements} of {report.Cases} cases disagree; first shrunk case:\n" + unexplained.FirstOrDefault()?.Describe());
    }

    public const int Ipv6Cases = 300;
    public const int Ipv6Seed = 20261123;

    /// <summary>The same with ip6tables rulesets and IPv6 traffic on the IPv6 fuzz host (about 35 s).</summary>
    [Fact]
    public void Engine_and_kernel_agree_on_generated_ipv6_cases()
    {
        if (!Kernel.Available(output)) return;
        var log = new StringWriter();
        var report = DifferentialFuzzer.Run(Ipv6Cases, Ipv6Seed, log, maxShrunk: 3, ipv6: true);
        output.WriteLine(log.ToString());
        output.WriteLine(report.Summary());
        Console.WriteLine("IPv6 " + report.Summary());
        Assert.Equal(Ipv6Cases, report.Cases);
        foreach (var f in report.Failures)
            foreach (var d in f.Differences) output.WriteLine($"DIFF {KnownDifferences.Category(d, f) ?? "UNEXPLAINED"} | {d.Column} | {d.Expected} | {d.Actual}");
        Assert.True(report.Packets > report.Cases, "every case sends packets");
        Assert.All(report.Failures, f => Assert.True(f.Case.Ipv6));
        var unexplained = report.Failures.Where(r => !KnownDifferences.Explains(r)).ToList();
        output.WriteLine($"{unexplained.Count} disagreements not explained by known-differences.md");
        Assert.True(unexplained.Count == 0,
            $"{report.Disagreements} of {report.Cases} IPv6 cases disagree; first shrunk case:\n" + unexplained.FirstOrDefault()?.Describe());
    }

    [Fact]
    public void The_ipv6_generator_writes_ip6tables_rules_and_ipv6_flows()
    {
        var cases = FsCheck.Fluent.Gen.Sample(FuzzGenerators.Case(FuzzFamily.V6), 50, new FsCheck.Rnd(7UL), 50);
        Assert.All(cases, c => Assert.True(c.Ipv6));
        var rules = string.Join("\n", cases.SelectMany(c => c.Ruleset.Rules).Select(r => r.Spec));
        Assert.DoesNotContain("10.", rules, StringComparison.Ordinal);
        Assert.Contains("-p icmpv6", rules, StringComparison.Ordinal);
        Assert.Contains("/128", rules, StringComparison.Ordinal);
        Assert.Contains(cases.SelectMany(c => c.Flows), f => f.Protocol == 58);
        Assert.All(cases.SelectMany(c => c.Flows), f => Assert.Contains(':', f.Client));
        // The IPv4 generator is unchanged by the family parameter: same cases for the same seed.
        var v4 = FsCheck.Fluent.Gen.Sample(FuzzGenerators.Case(), 5, new FsCheck.Rnd(7UL), 50);
        var v4Explicit = FsCheck.Fluent.Gen.Sample(FuzzGenerators.Case(FuzzFamily.V4), 5, new FsCheck.Rnd(7UL), 50);
        Assert.Equal(v4.Select(c => c.ToString()), v4Explicit.Select(c => c.ToString()));
        Assert.All(v4, c => Assert.False(c.Ipv6));
    }

    [Fact]
    public void The_generator_is_deterministic_for_a_seed()
    {
        var a = FsCheck.Fluent.Gen.Sample(FuzzGenerators.Case(), 20, new FsCheck.Rnd(5UL), 50);
        var b = FsCheck.Fluent.Gen.Sample(FuzzGenerators.Case(), 20, new FsCheck.Rnd(5UL), 50);
        Assert.Equal(a.Select(c => c.ToString()), b.Select(c => c.ToString()));
        Assert.Contains(a, c => c.Ruleset.Rules.Any(r => r.Table == "nat"));
    }

    [Fact]
    public void Shrinking_removes_one_rule_or_step_at_a_time()
    {
        var c = FsCheck.Fluent.Gen.Sample(FuzzGenerators.Case(), 1, new FsCheck.Rnd(9UL), 50)[0];
        var smaller = FuzzGenerators.Shrink(c).ToList();
        Assert.Contains(smaller, s => s.Steps.Length == c.Steps.Length - 1);
        Assert.Contains(smaller, s => s.Ruleset.Rules.Length == c.Ruleset.Rules.Length - 1);
    }
}
