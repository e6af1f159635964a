using System.Collections.Immutable;
using Harness.Net;
using Harness.Packets;

namespace Harness.Engine;

/// <summary>What netfilter finally did with a packet.</summary>
public enum FinalVerdict
{
    Accept,
    Drop,
    Reject,

    /// <summary>
    /// Neither accepted nor dropped yet: taken by the stack (the kernel's NF_STOLEN). A fragment held for reassembly;
    /// its datagram's verdict is given with the fragment that completes it.
    /// </summary>
    Stolen,
}

/// <summary>Where the packet went.</summary>
public enum Disposition
{
    /// <summary>Accepted through INPUT: delivered to a local socket.</summary>
    Delivered,

    /// <summary>Accepted through FORWARD and POSTROUTING: left by <see cref="Outcome.OutInterface"/>.</summary>
    Forwarded,

    /// <summary>Made by this host, accepted through OUTPUT and POSTROUTING: left by <see cref="Outcome.OutInterface"/>.</summary>
    Sent,

    /// <summary>Dropped (by a rule, a policy, or the stack itself: see <see cref="Outcome.Reason"/>).</summary>
    Dropped,

    /// <summary>Rejected by a REJECT rule; the generated reply is its own outcome.</summary>
    Rejected,

    /// <summary>Seen leaving the host in the capture: recorded as observed egress, not replayed.</summary>
    ObservedEgress,

    /// <summary>
    /// An IP fragment held for reassembly (nf_defrag, before raw): no rule saw it; the fragment that completes the
    /// datagram carries the whole datagram's outcome.
    /// </summary>
    Held,
}

/// <summary>The netfilter hooks.</summary>
public enum Hook
{
    Prerouting,
    Input,
    Forward,
    Output,
    Postrouting,
}

/// <summary>
/// One step of a packet's path: a chain entered at a hook, or a rule that matched in it (what -j TRACE prints).
/// <see cref="RuleNumber"/> is null for "entered chain", and <see cref="Policy"/> is set when the chain's policy decided.
/// </summary>
public sealed record PathStep(Hook Hook, string Table, string Chain, int? RuleNumber, string? Policy = null, int? SourceLine = null)
{
    public override string ToString()
    {
        var hook = Hook.ToString().ToUpperInvariant();
        if (Policy is not null) return $"{hook}:{Table}:{Chain}:policy";
        return RuleNumber is int n
            ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{hook}:{Table}:{Chain}:{n}")
            : $"{hook}:{Table}:{Chain}";
    }
}

/// <summary>The conntrack tuple as "conntrack -L" shows one direction.</summary>
public sealed record CtTuple(Family Family, byte Protocol, Address Source, Address Destination, ushort SourcePort, ushort DestinationPort)
{
    public override string ToString() => string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"src={Source} dst={Destination} sport={SourcePort} dport={DestinationPort}");
}

/// <summary>What conntrack knew of the packet: the entry's tuples, state before/after, and the NAT it applied.</summary>
public sealed record ConntrackView(
    string StateSeen,
    string? TcpStateBefore,
    string? TcpStateAfter,
    CtTuple? Original,
    CtTuple? Reply,
    string? Nat,
    string? StateBefore = null,
    string? StateAfter = null);

/// <summary>
/// Everything Harness records for one packet: the golden CSV is a projection of this record.
/// </summary>
public sealed record Outcome
{
    /// <summary>1-based number in the capture; generated packets (REJECT replies) get the number of the packet that caused them.</summary>
    public required long PacketNumber { get; init; }

    /// <summary>True for a packet the engine itself made (REJECT's ICMP or RST).</summary>
    public bool Generated { get; init; }

    public required Timestamp Time { get; init; }

    public string? InInterface { get; init; }

    /// <summary>Egress interface, null when delivered locally or dropped.</summary>
    public string? OutInterface { get; init; }

    public required FinalVerdict Verdict { get; init; }

    public required Disposition Disposition { get; init; }

    /// <summary>The rule or policy that decided, as "table:chain:N" or "table:chain:policy"; null when the stack decided.</summary>
    public string? DecidingRule { get; init; }

    /// <summary>Source line of the deciding rule ("file:line"), when it has one.</summary>
    public string? DecidingRuleSource { get; init; }

    /// <summary>Why the stack (not a rule) dropped it: "no route", "forwarding disabled", "rp_filter", "bad checksum", a decode error…</summary>
    public string? Reason { get; init; }

    /// <summary>The hook where it was dropped or rejected (or held for reassembly), when it was.</summary>
    public Hook? DroppedAt { get; init; }

    /// <summary>The packet as it left or was delivered (after NAT and mangling); the input packet when dropped early.</summary>
    public required Packet Packet { get; init; }

    /// <summary>Every chain entered and every rule that matched, in order.</summary>
    public ImmutableArray<PathStep> Path { get; init; } = ImmutableArray<PathStep>.Empty;

    public ConntrackView? Conntrack { get; init; }

    /// <summary>LOG / NFLOG lines in the kernel's format.</summary>
    public ImmutableArray<string> Log { get; init; } = ImmutableArray<string>.Empty;

    /// <summary>The packet mark (nfmark) as it left.</summary>
    public uint Mark { get; init; }
}
