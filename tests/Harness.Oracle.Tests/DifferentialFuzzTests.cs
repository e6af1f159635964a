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

    public const int WideCases = 400;
    public const int WideSeed = 20261124;

    /// <summary>
    /// The wide mode (FuzzGenerators.Case(family, wide: true)): also multiport, iprange, length, ttl, tos/dscp,
    /// pkttype, addrtype, connmark/CONNMARK, statistic nth, recent, string, comment, and TTL, TOS, DSCP,
    /// TCPMSS and LOG targets.
    /// </summary>
    [Fact]
    public void Engine_and_kernel_agree_on_wide_generated_cases() => RunWide(WideCases, WideSeed, ipv6: false);

    public const int WideIpv6Cases = 300;
    public const int WideIpv6Seed = 20261125;

    /// <summary>The wide mode with ip6tables (hl/HL instead of ttl/TTL, no BROADCAST address type).</summary>
    [Fact]
    public void Engine_and_kernel_agree_on_wide_generated_ipv6_cases() => RunWide(WideIpv6Cases, WideIpv6Seed, ipv6: true);

    private void RunWide(int cases, int seed, bool ipv6)
    {
        if (!Kernel.Available(output)) return;
        var log = new StringWriter();
        var report = DifferentialFuzzer.Run(cases, seed, log, maxShrunk: 3, ipv6: ipv6, wide: true);
        output.WriteLine(log.ToString());
        output.WriteLine(report.Summary());
        Console.WriteLine((ipv6 ? "wide IPv6 " : "wide IPv4 ") + report.Summary());
        Assert.Equal(cases, report.Cases);
        foreach (var f in report.Failures)
            foreach (var d in f.Differences) output.WriteLine($"DIFF {KnownDifferences.Category(d, f) ?? "UNEXPLAINED"} | {d.Column} | {d.Expected} | {d.Actual}");
        Assert.True(report.Packets > report.Cases, "every case sends packets");
        var unexplained = report.Failures.Where(r => !KnownDifferences.Explains(r)).ToList();
        output.WriteLine($"{unexplained.Count} disagreements not explained by known-differences.md");
        Assert.True(unexplained.Count == 0,
            $"{report.Disagreements} of {report.Cases} wide cases disagree; first shrunk case:\n" + unexplained.FirstOrDefault()?.Describe());
    }

    /// <summary>
    /// TCPMSS grows a forwarded SYN (and an ACK without data) by an MSS option: the kernel's packet, read from the
    /// trace's headers, is still a decodable TCP segment of the new length, and both sides agree on every cell.
    /// </summary>
    [Fact]
    public void A_segment_TCPMSS_grew_is_compared_whole()
    {
        if (!Kernel.Available(output)) return;
        var c = new FuzzCase(
            new FuzzRuleset([], [], [new FuzzRule("mangle", "FORWARD", "-p tcp -j TCPMSS --set-mss 1000")]),
            [new FuzzFlow(6, "10.0.0.2", "10.1.0.2", 40000, 80)],
            [new FuzzStep(0, StepKind.Syn), new FuzzStep(0, StepKind.SynAck), new FuzzStep(0, StepKind.Ack)]);
        using var fuzzer = new DifferentialFuzzer();
        var run = fuzzer.RunCase(c);
        output.WriteLine(run.Describe());
        Assert.True(run.Agrees, run.Describe());
        Assert.Equal(3, run.Kernel.Length);
        Assert.All(run.Kernel, o => Assert.Equal(Harness.Engine.Disposition.Forwarded, o.Disposition));
        Assert.All(run.Kernel, o => Assert.IsType<Harness.Packets.TcpHeader>(o.Packet.Transport));
        Assert.All(run.Kernel, o => Assert.Equal(44, o.Packet.Raw.Length));
    }

    [Fact]
    public void The_wide_generator_draws_the_wide_matches_and_targets_and_leaves_the_plain_one_alone()
    {
        foreach (var family in new[] { FuzzFamily.V4, FuzzFamily.V6 })
        {
            var cases = FsCheck.Fluent.Gen.Sample(FuzzGenerators.Case(family, wide: true), 200, new FsCheck.Rnd(11UL), 50);
            var rules = string.Join("\n", cases.SelectMany(c => c.Ruleset.Rules).Select(r => r.Spec));
            foreach (var m in new[] { "-m multiport", "-m iprange", "-m length", family.Ipv6 ? "-m hl" : "-m ttl", "-m dscp", "-m pkttype", "-m addrtype",
                         "-m connmark", "-m statistic --mode nth", "-m recent", "-m string", "-m comment", "-j LOG", "-j CONNMARK",
                         family.Ipv6 ? "-j HL" : "-j TTL", "-j TOS", "-j DSCP", "-j TCPMSS" })
                Assert.Contains(m, rules, StringComparison.Ordinal);
            Assert.DoesNotContain("--seconds", rules, StringComparison.Ordinal);
            Assert.DoesNotContain("connlimit", rules, StringComparison.Ordinal);
            Assert.DoesNotContain("--mode random", rules, StringComparison.Ordinal);
            Assert.All(cases.SelectMany(c => c.Ruleset.Rules).Where(r => r.Spec.Contains("-j TTL", StringComparison.Ordinal) || r.Spec.Contains("-j TCPMSS", StringComparison.Ordinal)),
                r => Assert.Equal("mangle", r.Table));
        }
        // The plain generator is the same with or without the parameter: the CI seeds' cases do not move.
        var plain = FsCheck.Fluent.Gen.Sample(FuzzGenerators.Case(FuzzFamily.V4), 20, new FsCheck.Rnd(7UL), 50);
        var notWide = FsCheck.Fluent.Gen.Sample(FuzzGenerators.Case(FuzzFamily.V4, wide: false), 20, new FsCheck.Rnd(7UL), 50);
        Assert.Equal(plain.Select(c => c.ToString()), notWide.Select(c => c.ToString()));
        Assert.DoesNotContain(plain.SelectMany(c => c.Ruleset.Rules), r => r.Spec.Contains("multiport", StringComparison.Ordinal));
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
