using System.Collections.Immutable;
using Harness.Rules;

namespace Harness.Golden.Cases;

/// <summary>
/// One sample case: a folder <c>captures/&lt;case&gt;/</c> with a <c>case.yaml</c> naming the ruleset(s), the host, the
/// traffic, the seed and options. Every path here is absolute (resolved against the case folder) and exists.
/// </summary>
public sealed record CaseManifest
{
    /// <summary>The case's name: its folder's name; the golden file is <c>golden/&lt;Name&gt;.csv</c>.</summary>
    public required string Name { get; init; }

    public required string Directory { get; init; }

    public required string ManifestPath { get; init; }

    public string? Description { get; init; }

    /// <summary>IPv4 rulesets (iptables-save dumps or iptables command scripts), loaded in order.</summary>
    public ImmutableArray<string> Rules { get; init; } = [];

    /// <summary>IPv6 rulesets, loaded in order.</summary>
    public ImmutableArray<string> Rules6 { get; init; } = [];

    /// <summary>Host YAML file or a directory of ip -j / sysctl dumps.</summary>
    public required string Host { get; init; }

    /// <summary>A pcap or pcapng capture; exactly one of <see cref="Pcap"/> and <see cref="Flows"/> is set.</summary>
    public string? Pcap { get; init; }

    /// <summary>A flow description for the traffic generator (docs/flows.md).</summary>
    public string? Flows { get; init; }

    /// <summary>Seed for the traffic generator and for <c>-m statistic --mode random</c>.</summary>
    public int Seed { get; init; }

    /// <summary>Ingress interface for packets whose capture does not name one.</summary>
    public string? DefaultInterface { get; init; }

    /// <summary>An ipset file (<c>ipset save</c> output) for <c>-m set</c> / <c>SET</c>.</summary>
    public string? IpSets { get; init; }

    /// <summary>Every input file of the case (for messages and for copying a case).</summary>
    public IEnumerable<string> InputFiles =>
        Rules.Concat(Rules6).Append(Host).Concat(new[] { Pcap, Flows, IpSets }.OfType<string>());

    /// <summary>options: iptables: nft | legacy — which iptables loaded the rules; null: what the dump says, else nft.</summary>
    public IptablesBackend? Backend { get; init; }
}
