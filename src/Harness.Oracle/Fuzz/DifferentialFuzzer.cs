using System.Collections.Immutable;
using System.Diagnostics;
using FsCheck;
using FsCheck.Fluent;
using Harness.Engine;
using Harness.Golden.Csv;
using Harness.Net;
using Harness.Rules.Loading;
using Outcome = Harness.Engine.Outcome;

namespace Harness.Oracle.Fuzz;

/// <summary>One case run by both: the packets, each side's outcomes, and where they disagree.</summary>
public sealed record FuzzRun(FuzzCase Case, ImmutableArray<Harness.Packets.Packet> Packets, ImmutableArray<Outcome> Kernel,
    ImmutableArray<Outcome> Engine, ImmutableArray<CellDifference> Differences, string? EngineError)
{
    public bool Agrees => Differences.IsEmpty && EngineError is null;

    public string Describe() =>
        Case + (EngineError is not null ? "engine error: " + EngineError + "\n" : "") + OracleComparison.Describe(Differences);
}

/// <summary>What a fuzzing session found.</summary>
public sealed record FuzzReport(int Cases, int Packets, int Disagreements, ImmutableArray<FuzzRun> Shrunk, TimeSpan Elapsed, string KernelVersion,
    ImmutableSortedDictionary<string, int> DisagreementsByColumn, ImmutableArray<FuzzRun> Failures)
{
    public string Summary() =>
        $"fuzz-kernel: {Cases} cases, {Packets} packets, {Disagreements} disagreements, {Elapsed.TotalSeconds:F1} s, kernel {KernelVersion}"
        + (DisagreementsByColumn.IsEmpty ? "" : "; cases by differing column: " + string.Join(", ", DisagreementsByColumn.Select(kv => $"{kv.Key} {kv.Value}")));
}

/// <summary>
/// Differential fuzzing: random small rulesets and traffic (FsCheck generators, fixed seed) run by the engine and by
/// the kernel; disagreements are shrunk to a minimal ruleset and packet sequence. The namespaces are built once and
/// reused: each case reloads the ruleset with iptables-restore and flushes conntrack.
/// </summary>
public sealed class DifferentialFuzzer : IDisposable
{
    private const int GeneratorSize = 50;
    private readonly OracleSession _session;
    private readonly bool _ipv6;

    /// <summary>Namespaces for the IPv4 fuzz host, or (<paramref name="ipv6"/>) for the IPv6 one with ip6tables rulesets.</summary>
    public DifferentialFuzzer(bool ipv6 = false)
    {
        _ipv6 = ipv6;
        _session = OracleSession.Create(FuzzTraffic.HostFor(ipv6), ipv6);
    }

    /// <summary>
    /// The library side of <c>fuzz-kernel --cases N --seed S</c>: runs <paramref name="cases"/> generated cases; each
    /// disagreement (up to <paramref name="maxShrunk"/>) is shrunk and returned. <paramref name="ipv6"/> fuzzes
    /// ip6tables on the IPv6 fuzz host instead of iptables; <paramref name="wide"/> draws the wide mode's matches and targets too.
    /// </summary>
    public static FuzzReport Run(int cases, int seed, TextWriter? log = null, int maxShrunk = 1, bool ipv6 = false, bool wide = false)
    {
        Preflight.Require();
        var clock = Stopwatch.StartNew();
        using var fuzzer = new DifferentialFuzzer(ipv6);
        var generated = Gen.Sample(FuzzGenerators.Case(ipv6 ? FuzzFamily.V6 : FuzzFamily.V4, wide), cases, new Rnd((ulong)seed), GeneratorSize);
        int packets = 0, disagreements = 0;
        var shrunk = ImmutableArray.CreateBuilder<FuzzRun>();
        int index = 0;
        var byColumn = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var failures = ImmutableArray.CreateBuilder<FuzzRun>();
        foreach (var c in generated)
        {
            index++;
            var run = fuzzer.RunCase(c);
            packets += run.Packets.Length;
            if (run.Agrees) continue;
            disagreements++;
            failures.Add(run);
            foreach (var column in run.Differences.Select(d => d.Column).Distinct().DefaultIfEmpty(run.EngineError is null ? "?" : "engine error"))
                byColumn[column] = byColumn.GetValueOrDefault(column) + 1;
            log?.WriteLine($"case {index}: disagreement");
            if (shrunk.Count < maxShrunk)
            {
                var small = fuzzer.Shrink(run);
                shrunk.Add(small);
                log?.WriteLine(small.Describe());
            }
        }
        var report = new FuzzReport(cases, packets, disagreements, shrunk.ToImmutable(), clock.Elapsed, KernelVersion(),
            byColumn.ToImmutableSortedDictionary(StringComparer.Ordinal), failures.ToImmutable());
        log?.WriteLine(report.Summary());
        return report;
    }

    /// <summary>Runs one case through the kernel (making the packets as it goes), then through the engine.</summary>
    public FuzzRun RunCase(FuzzCase c)
    {
        if (c.Ipv6 != _ipv6) throw new ArgumentException("the case's family is not the fuzzer's", nameof(c));
        var rules = c.Ruleset.ToSave();
        _session.Reset(c.Ipv6 ? null : rules, c.Ipv6 ? rules : null, FuzzTraffic.AddressesFor(c.Ipv6));
        var traffic = new FuzzTraffic(c);
        var packets = ImmutableArray.CreateBuilder<Harness.Packets.Packet>();
        var kernel = ImmutableArray.CreateBuilder<Outcome>();
        foreach (var step in c.Steps)
        {
            var packet = traffic.Next(step);
            packets.Add(packet);
            var outcomes = _session.Process(packet);
            kernel.AddRange(outcomes);
            traffic.Observe(step, outcomes[0]);
        }
        var (engine, error) = RunEngine(rules, packets.ToImmutable(), c.Ipv6);
        var diffs = error is null ? OracleComparison.Compare(engine, kernel.ToImmutable()) : [];
        return new FuzzRun(c, packets.ToImmutable(), kernel.ToImmutable(), engine, diffs, error);
    }

    /// <summary>Greedy shrinking with <see cref="FuzzGenerators.Shrink"/>: keeps the first smaller case that still disagrees on a column the original disagreed on.</summary>
    public FuzzRun Shrink(FuzzRun failing, int budget = 300)
    {
        var current = failing;
        var columns = failing.Differences.Select(d => d.Column).ToHashSet(StringComparer.Ordinal);
        bool progress = true;
        while (progress && budget > 0)
        {
            progress = false;
            foreach (var candidate in FuzzGenerators.Shrink(current.Case))
            {
                if (--budget < 0) break;
                var run = RunCase(candidate);
                // Keep the same kind of disagreement: a smaller case failing differently is a different bug.
                if (run.Agrees || (failing.EngineError is null && !run.Differences.Any(d => columns.Contains(d.Column)))) continue;
                current = run;
                progress = true;
                break;
            }
        }
        return current;
    }

    private static (ImmutableArray<Outcome>, string?) RunEngine(string rules, ImmutableArray<Harness.Packets.Packet> packets, bool ipv6)
    {
        var loaded = RulesetLoader.Load([new RulesetInput("fuzz.rules", rules)], ipv6 ? Family.IPv6 : Family.IPv4);
        if (!loaded.Success) return ([], "the engine's loader refused the ruleset: " + loaded.Diagnostics[0]);
        try
        {
            var engine = ipv6
                ? Harness.Engine.Engine.Create(null, loaded.Ruleset, FuzzTraffic.Host6, EngineOptions.Default)
                : Harness.Engine.Engine.Create(loaded.Ruleset, null, FuzzTraffic.Host, EngineOptions.Default);
            return (engine.Replay(packets).ToImmutableArray(), null);
        }
        catch (EngineSetupException e)
        {
            return ([], e.Message);
        }
    }

    /// <summary>uname -r.</summary>
    public static string KernelVersion()
    {
        try { return File.ReadAllText("/proc/sys/kernel/osrelease").Trim(); }
        catch (IOException) { return "unknown"; }
    }

    public void Dispose() => _session.Dispose();
}
