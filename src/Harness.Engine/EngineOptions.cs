using System.Collections.Immutable;
using Harness.Rules;

namespace Harness.Engine;

/// <summary>
/// Per-case settings of a replay. <see cref="Seed"/> drives every random choice (statistic --mode random, NAT --random);
/// <see cref="DefaultInterface"/> is the ingress interface of packets whose capture does not name one;
/// <see cref="Sets"/> are the ipsets `-m set` and `-j SET` see; <see cref="Owners"/> gives the socket owner of locally
/// generated packets by packet number (for `-m owner`); <see cref="LocallyGenerated"/> forces packets (by number) onto the
/// OUTPUT path even when the capture names an interface. <see cref="LinearWalk"/> turns the compiled candidate index off
/// (every rule is tried in order), for comparisons and benchmarks; outcomes are the same either way.
/// <see cref="RebuildBytes"/>: after a rewrite (NAT, TTL, TOS, …) the outcome's packet gets fresh bytes (Raw, checksums);
/// when false the forwarding TTL decrement and the final rebuild touch only the header fields, and Raw may keep the bytes
/// as captured (faster, for consumers that read fields only: golden CSV columns, path, verdicts).
/// <see cref="Backend"/>: which iptables loaded the rules (it matters for packets whose headers a match cannot read);
/// null: what the ruleset's dump says (<see cref="Ruleset.Backend"/>), else iptables-nft.
/// </summary>
public sealed record EngineOptions(
    int Seed = 0,
    string? DefaultInterface = null,
    IpSets? Sets = null,
    ImmutableDictionary<long, SocketOwner>? Owners = null,
    ImmutableHashSet<long>? LocallyGenerated = null,
    bool LinearWalk = false,
    bool RebuildBytes = true,
    IptablesBackend? Backend = null)
{
    public static readonly EngineOptions Default = new();
}

/// <summary>The socket that sent a locally generated packet, as `-m owner` sees it.</summary>
public sealed record SocketOwner(uint Uid, uint Gid, ImmutableArray<uint> SupplementaryGids = default);

/// <summary>Thrown by <see cref="Engine.Create"/> when a ruleset construct cannot be evaluated; names the rule.</summary>
public sealed class EngineSetupException(string message) : Exception(message);
