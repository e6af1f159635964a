using Harness.Net;

namespace Harness.Engine.Conntrack;

/// <summary>
/// What conntrack attached to one packet (the kernel's skb->_nfct and ctinfo): the state the rules see, the direction,
/// the entry (null when UNTRACKED or INVALID), and what happened to it. Returned by <see cref="ConntrackTable.Process"/>;
/// pass the same object to the NAT calls and to <see cref="ConntrackTable.Confirm"/> for this packet.
/// </summary>
public sealed class CtPacket
{
    internal CtPacket(CtState state, CtDirection direction, ConnEntry? entry)
    {
        State = state;
        Direction = direction;
        Entry = entry;
    }

    /// <summary>Makes this object what <c>new CtPacket(state, direction, entry)</c> would be (see <see cref="PacketTracker"/>).</summary>
    internal CtPacket Reinitialize(CtState state, CtDirection direction, ConnEntry? entry)
    {
        State = state;
        Direction = direction;
        Entry = entry;
        IsNewEntry = false;
        IsIcmpError = false;
        IsGeneratedReply = false;
        Killed = false;
        InvalidReason = null;
        DropReason = null;
        TcpStateBefore = default;
        TcpStateAfter = default;
        ProtocolStateBefore = null;
        ProtocolStateAfter = null;
        EntryStateBefore = null;
        Hook = default;
        Time = default;
        natApplied?.Clear(); // this object's own list, reused (nothing keeps it past the packet)
        return this;
    }

    /// <summary>The state --ctstate / --state match against.</summary>
    public CtState State { get; internal set; }

    /// <summary>The packet's direction in its connection (--ctdir). Original when there is no entry.</summary>
    public CtDirection Direction { get; internal set; }

    /// <summary>The connection, or null when the packet is UNTRACKED or INVALID (the kernel detaches it then).</summary>
    public ConnEntry? Entry { get; internal set; }

    /// <summary>True when this packet created <see cref="Entry"/> (unconfirmed until <see cref="ConntrackTable.Confirm"/>).</summary>
    public bool IsNewEntry { get; internal set; }

    /// <summary>True for an ICMP error about a tracked connection (RELATED): NAT translates its quoted header too.</summary>
    public bool IsIcmpError { get; internal set; }

    /// <summary>True for a packet the engine generated in answer to another (see <see cref="ConntrackTable.ForGeneratedReply"/>).</summary>
    public bool IsGeneratedReply { get; internal set; }

    /// <summary>True when this packet ended its connection for good (a RST before any reply, a reopen): the entry is gone from the table.</summary>
    public bool Killed { get; internal set; }

    /// <summary>Why conntrack called the packet INVALID (e.g. "tcp: out of window"), null otherwise.</summary>
    public string? InvalidReason { get; internal set; }

    /// <summary>Non-null when conntrack itself dropped the packet (table full): the engine drops it with this reason.</summary>
    public string? DropReason { get; internal set; }

    /// <summary>The TCP state of the entry before this packet (None when it was created by it or is not TCP).</summary>
    public TcpConntrackState TcpStateBefore { get; internal set; }

    /// <summary>The TCP state of the entry after this packet.</summary>
    public TcpConntrackState TcpStateAfter { get; internal set; }

    /// <summary>The entry's protocol state (TCP or SCTP name, as conntrack -L prints it) before this packet; null for other protocols.</summary>
    public string? ProtocolStateBefore { get; internal set; }

    /// <summary>The entry's protocol state after this packet.</summary>
    public string? ProtocolStateAfter { get; internal set; }

    /// <summary>The connection's state before this packet: null (no entry), "NEW" (no reply seen yet) or "ESTABLISHED".</summary>
    public string? EntryStateBefore { get; internal set; }

    /// <summary>The hook where conntrack looked the packet up (Prerouting or Output).</summary>
    public Hook Hook { get; internal set; }

    /// <summary>The packet's time (the clock every timeout runs on).</summary>
    public Timestamp Time { get; internal set; }

    /// <summary>The address/port rewrites NAT applied to this packet, in order, e.g. "dst 203.0.113.1:80->10.0.0.2:8080".</summary>
    public IReadOnlyList<string> NatApplied => natApplied is null ? [] : natApplied;

    /// <summary>Made on the first NAT rewrite (most packets have none).</summary>
    private List<string>? natApplied;

    internal void AddNatApplied(string text) => (natApplied ??= []).Add(text);

    /// <summary>The connection's state after this packet: null (no entry), "NEW" or "ESTABLISHED".</summary>
    public string? EntryStateAfter => Entry is null ? null : Entry.SeenReply ? "ESTABLISHED" : "NEW";

    /// <summary>The outcome model's view: state seen, TCP and entry states before/after, tuples, NAT applied.</summary>
    public ConntrackView ToView()
    {
        string? nat = natApplied switch
        {
            null or { Count: 0 } => null,
            { Count: 1 } => natApplied[0],
            _ => Entry is { } e ? e.NatJoined(natApplied) : string.Join("; ", natApplied),
        };
        if (Entry is null) return new ConntrackView(CtNames.Of(State), null, null, null, null, nat, EntryStateBefore, null);
        var seen = CtNames.Of(State);
        var after = ProtocolStateAfter ?? Entry.ProtocolState;
        var entryAfter = EntryStateAfter;
        // Most packets of a connection see the same view as the one before: the outcomes share it (it is immutable).
        if (Entry.LastView is { } last && Same(last, seen, ProtocolStateBefore, after, Entry.OriginalView, Entry.ReplyView, nat, EntryStateBefore, entryAfter))
            return last;
        return Entry.LastView = new ConntrackView(seen, ProtocolStateBefore, after, Entry.OriginalView, Entry.ReplyView, nat, EntryStateBefore, entryAfter);
    }

    private static bool Same(ConntrackView v, string seen, string? before, string? after, CtTuple original, CtTuple reply, string? nat,
        string? entryBefore, string? entryAfter) =>
        v.StateSeen == seen && v.TcpStateBefore == before && v.TcpStateAfter == after && ReferenceEquals(v.Original, original)
        && ReferenceEquals(v.Reply, reply) && v.Nat == nat && v.StateBefore == entryBefore && v.StateAfter == entryAfter;

    /// <summary>An untracked packet (NOTRACK in raw).</summary>
    internal static CtPacket Untracked(Hook hook, Timestamp now) =>
        new(CtState.Untracked, CtDirection.Original, null) { Hook = hook, Time = now };

    internal static CtPacket Invalid(string reason, Hook hook, Timestamp now) =>
        new(CtState.Invalid, CtDirection.Original, null) { InvalidReason = reason, Hook = hook, Time = now };
}
