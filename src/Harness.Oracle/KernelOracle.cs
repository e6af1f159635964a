using System.Collections.Immutable;
using Harness.Engine;
using Harness.Golden.Cases;
using Harness.Golden.Check;
using Harness.Golden.Csv;
using Harness.Golden.Replay;
using Harness.Hosts;
using Harness.Net;
using Harness.Packets;
using Harness.Rules;

namespace Harness.Oracle;

/// <summary>The kernel's word on a case compared with an expected golden.</summary>
public sealed record OracleCaseResult(string Name, ImmutableArray<GoldenRow> KernelRows, ImmutableArray<CellDifference> Differences, ImmutableArray<string> Notes)
{
    public bool Agrees => Differences.IsEmpty;
}

/// <summary>
/// The real Linux kernel as referee: runs a case in throwaway network namespaces (the case's host as the firewall
/// namespace, one passive peer per interface), with the ruleset loaded by the real iptables-restore, and returns the
/// same outcome records the engine produces. Everything it creates is deleted afterwards.
/// </summary>
public static class KernelOracle
{
    /// <summary>Runs one case through the kernel. Throws <see cref="OracleException"/> (one line) when the oracle cannot run.</summary>
    public static OracleResult Run(CaseManifest manifest, OracleOptions? options = null)
    {
        Preflight.Require();
        var inputs = CaseReplay.LoadInputs(manifest);
        // The host's own packets in the capture take the OUTPUT path, exactly as the engine's replay hands them over.
        var packets = CaseReplay.Normalize(CaseReplay.Traffic(manifest, inputs.Host), inputs.Host).ToList();
        bool ipv6 = inputs.Ipv6 is not null || packets.Any(p => p.Ip?.Family == Family.IPv6);
        using var session = OracleSession.Create(inputs.Host, ipv6);
        var ipsets = manifest.IpSets is { } file ? File.ReadAllText(file) : null;
        options = (options ?? OracleOptions.Default) with { DefaultInterface = options?.DefaultInterface ?? manifest.DefaultInterface };
        var result = session.Run(Print(inputs.Ipv4), Print(inputs.Ipv6), packets, options, ipsets);
        return IcmpLimitsOn(inputs.Host.Sysctls) && EnoughErrorsToBeLimited(result.Outcomes)
            ? result with { Notes = result.Notes.Add(IcmpLimitsNote) }
            : result;
    }

    /// <summary>
    /// Said of a case whose host keeps the kernel's ICMP error rate limits: the oracle turns them off in the kernel (its
    /// token buckets would run on the wall clock of the injection, not on the capture's timestamps), the engine applies
    /// them, so an error the engine held back is one the kernel sent.
    /// </summary>
    public const string IcmpLimitsNote =
        "ICMP error rate limits are off in the kernel here and on in the case's host: where the engine held an error back (reason \"… suppressed by …\"), the kernel sent it";

    /// <summary>As many ICMP errors to one destination as the kernel's per-destination burst (6), or as its host-wide burst (50).</summary>
    private static bool EnoughErrorsToBeLimited(ImmutableArray<Outcome> outcomes)
    {
        var errors = outcomes.Where(o => o.Generated && o.Packet.Transport is IcmpHeader { IsError: true }).ToList();
        return errors.Count >= 50 || errors.GroupBy(o => o.Packet.Ip!.Destination).Any(g => g.Count() >= 6);
    }

    private static bool IcmpLimitsOn(Sysctls sysctls) =>
        sysctls.IcmpRatelimitMs != 0 || sysctls.GetLong("net.ipv6.icmp.ratelimit", 100) != 0 || sysctls.IcmpMsgsPerSec < 1_000_000;

    /// <summary>A replayer for <c>harness check</c>: the case's rows as the kernel produced them.</summary>
    public static CaseReplayer Replayer(OracleOptions? options = null) =>
        m => OutcomeProjection.Project(Run(m, options).Outcomes);

    /// <summary><c>check --oracle</c> for one case: the kernel's rows against the golden (log and reason ignored).</summary>
    public static OracleCaseResult Check(CaseManifest manifest, string goldenPath, OracleOptions? options = null)
    {
        var expected = GoldenCsv.ReadFile(goldenPath);
        var result = Run(manifest, options);
        var rows = OutcomeProjection.Project(result.Outcomes);
        return new OracleCaseResult(manifest.Name, rows, OracleComparison.Compare(expected, rows), result.Notes);
    }

    /// <summary><c>--golden-from-kernel</c>: writes the case's golden from what the kernel did.</summary>
    public static OracleCaseResult WriteGoldenFromKernel(CaseManifest manifest, string goldenPath, OracleOptions? options = null)
    {
        var result = Run(manifest, options);
        var rows = OutcomeProjection.Project(result.Outcomes);
        GoldenCsv.WriteFileAtomically(goldenPath, rows);
        return new OracleCaseResult(manifest.Name, rows, [], result.Notes);
    }

    /// <summary>The canonical iptables-save text the kernel is given (null when the case has no ruleset of that family).</summary>
    public static string? Print(Ruleset? ruleset) => ruleset is null ? null : Harness.Rules.Printing.SavePrinter.Print(ruleset);
}
