using Harness.Net;
using Harness.Packets;

namespace Harness.Engine.Conntrack;

/// <summary>
/// nf_conntrack_in for one packet: ICMP errors to RELATED, tuple, lookup or creation (with expectations and the
/// table limit), the protocol tracker, SEEN_REPLY and accounting. A struct: one per packet, on the stack.
/// </summary>
/// <param name="reuse">An object to fill for a packet of a known connection instead of a new one (the engine's, for its
/// captured packets: nothing keeps a packet's CtPacket past the packet), or null.</param>
internal readonly struct PacketTracker(ConntrackTable table, Packet packet, Hook hook, CtTemplate template, Timestamp now, CtPacket? reuse = null)
{
    private ConntrackSettings Settings => table.Settings;

    public CtPacket Run()
    {
        if (packet.Ip is not { } ip) return Invalid("no IP header" + (packet.DecodeError is { } e ? ": " + e : ""));
        if (packet.DecodeError is { } err) return Invalid("undecodable packet: " + err);
        if (ip.IsLaterFragment) return Invalid("non-first fragment that reassembly passed on (no transport header to track)");
        if (packet.TransportError is { } bad) return Invalid(MalformedReason(ip, bad));

        if (packet.Transport is IcmpHeader icmp)
        {
            if (hook == Hook.Prerouting && Settings.Checksum && !icmp.ChecksumValid) return Invalid(IcmpName(icmp) + ": bad checksum");
            if (!icmp.IsV6 && icmp.Type > 18) return Invalid("icmp: invalid icmp type");
            if (icmp.IsV6 && IcmpTracker.IsUntrackedV6(icmp.Type))
                return CtPacket.Untracked(hook, now); // neighbour discovery and MLD are never tracked
            if (icmp.IsError) return RelatedIcmpError(ip, icmp);
        }

        if (!TryTuple(ip, packet.Transport, packet.Raw, out var tuple, out var why)) return Invalid(why);
        var pre = PreCheck(ip);
        if (pre is not null) return Invalid(pre);

        for (int attempt = 0; ; attempt++)
        {
            var (ct, fresh) = Resolve(tuple);
            if (ct is null) return fresh;
            var entry = ct.Entry!;
            var (verdict, reason, kill) = Track(entry, ct.Direction, ct.IsNewEntry);
            if (verdict == TrackVerdict.Repeat && attempt == 0)
            {
                table.Remove(entry); // reopen: the old connection is gone, the packet is looked up again
                continue;
            }
            if (verdict != TrackVerdict.Accept)
                return Invalid(reason ?? "tcp: reopen attempt failed");
            if (ct.Direction == CtDirection.Reply) entry.Status |= CtStatus.SeenReply;
            Account(entry, ct.Direction);
            ct.TcpStateAfter = entry.TcpState;
            ct.ProtocolStateAfter = entry.ProtocolState;
            if (kill)
            {
                ct.Killed = true;
                table.Remove(entry);
            }
            return ct;
        }
    }

    private CtPacket Invalid(string reason) => CtPacket.Invalid(reason, hook, now);

    /// <summary>
    /// Why nf_conntrack_in finds a packet with a short or inconsistent transport header invalid (no entry is made or
    /// updated): fewer than 4 bytes give no tuple (ports); the ICMP trackers' error check wants 8 bytes ("short
    /// packet"); udp_error and sctp_error their fixed header ("short packet"); tcp_packet its 20 bytes (it returns
    /// without a log line), then tcp_error a data offset within 20..segment ("truncated packet").
    /// </summary>
    private string MalformedReason(IpHeader ip, string error)
    {
        int have = packet.TransportBytes().Length;
        string detail = " (" + error + ")";
        // An IPv6 extension header cut short: ipv6_skip_exthdr cannot reach the upper-layer protocol (get_l4proto fails),
        // or reaches it past the end of the packet (no ports: no tuple).
        if (ip.ExtensionWalkFailed) return "no protocol: the IPv6 extension headers cannot be walked" + detail;
        bool icmp = ip.Protocol == IpProtocol.Icmp && ip.Family == Family.IPv4 || ip.Protocol == IpProtocol.Icmpv6 && ip.Family == Family.IPv6;
        if (icmp) return (ip.Family == Family.IPv4 ? "icmp" : "icmpv6") + ": short packet" + detail;
        if (have < 4) return "no tuple: fewer than 4 bytes of ports" + detail;
        return ip.Protocol switch
        {
            IpProtocol.Tcp when packet.Transport is TcpHeader => "tcp: truncated packet" + detail,
            IpProtocol.Tcp => "tcp: no complete TCP header" + detail,
            IpProtocol.Udp => "udp: short packet" + detail,
            IpProtocol.Sctp => "sctp: short packet" + detail,
            _ => "malformed transport header" + detail,
        };
    }

    /// <summary>Finds the entry (or makes a new unconfirmed one) and classifies the packet before tracking.</summary>
    private (CtPacket? Ct, CtPacket Failure) Resolve(ConnTuple tuple)
    {
        var zone = template.ZoneSpec;
        if (table.TryLookup(tuple, zone, now, out var entry, out var dir))
        {
            var state = dir == CtDirection.Reply || entry.SeenReply ? CtState.Established
                : (entry.Status & CtStatus.Expected) != 0 ? CtState.Related
                : CtState.New;
            var found = reuse?.Reinitialize(state, dir, entry) ?? new CtPacket(state, dir, entry);
            found.Hook = hook;
            found.Time = now;
            found.TcpStateBefore = entry.TcpState;
            found.ProtocolStateBefore = entry.ProtocolState;
            found.EntryStateBefore = entry.SeenReply ? "ESTABLISHED" : "NEW";
            return (found, found);
        }
        if (!table.MakeRoom(now))
        {
            var dropped = CtPacket.Invalid("nf_conntrack: table full, dropping packet", hook, now);
            dropped.DropReason = "nf_conntrack: table full, dropping packet";
            return (null, dropped);
        }
        var fresh = table.NewEntry(zone, tuple, now);
        fresh.TimeoutPolicy = template.Timeouts; // init_conntrack copies the template's timeout extension, expected or not
        var ctState = CtState.New;
        if (table.TakeExpectation(tuple, zone.Id, now) is { } x)
        {
            fresh.Status |= CtStatus.Expected;
            fresh.Master = x.Master;
            fresh.Mark = x.Master.Mark;
            ctState = CtState.Related;
            if (x.Follow is { } follow) NatHelper.FollowMaster(table, fresh, x.Master, follow);
        }
        else if (template.Helper is { } helper)
        {
            fresh.Helper = helper;
        }
        if (tuple.Protocol == IpProtocol.Udp || tuple.Protocol == IpProtocol.UdpLite)
            fresh.UdpStreamAfter = new Timestamp(now.Nanoseconds + ConntrackSettings.Seconds(2).Nanoseconds);
        var ct = new CtPacket(ctState, CtDirection.Original, fresh)
        {
            Hook = hook, Time = now, IsNewEntry = true, ProtocolStateBefore = fresh.ProtocolState,
        };
        return (ct, ct);
    }

    /// <summary>The protocol tracker: may call the packet INVALID, ask for a repeat (TCP reopen) or kill the entry.</summary>
    private (TrackVerdict, string?, bool) Track(ConnEntry entry, CtDirection dir, bool isNew)
    {
        // A timeout policy's settings differ from the table's in their timeouts only.
        var settings = entry.TimeoutPolicy?.Settings ?? table.Settings;
        switch (packet.Transport)
        {
            case TcpHeader th:
                if (isNew && TcpTracker.New(entry, th, packet.PayloadLength, settings) is { } bad) return (TrackVerdict.Invalid, bad, false);
                return TcpTracker.Packet(entry, dir, th, packet.PayloadLength, settings, now);
            case SctpHeader:
            {
                var (v, why) = SctpTracker.Packet(entry, dir, isNew, packet, hook, settings, now);
                return (v, why, false);
            }
            case UdpHeader:
                return (UdpLikeTracker.Packet(entry, now, settings.UdpTimeout, settings.UdpTimeoutStream, useStreamDelay: true), null, false);
            case IcmpHeader icmp:
                if (!IcmpTracker.CanOpen(entry.Original.IcmpType, icmp.IsV6))
                    return (TrackVerdict.Invalid, $"{IcmpName(icmp)}: can't create new conn with type {entry.Original.IcmpType}", false);
                Refresh(entry, icmp.IsV6 ? settings.Icmpv6Timeout : settings.IcmpTimeout);
                return (TrackVerdict.Accept, null, false);
            case OtherTransport { Protocol: IpProtocol.UdpLite }:
                return (UdpLikeTracker.Packet(entry, now, settings.UdpTimeout, settings.UdpTimeoutStream, useStreamDelay: true), null, false);
            default:
                if (entry.Original.Protocol == IpProtocol.Gre)
                    return (UdpLikeTracker.Packet(entry, now, settings.GreTimeout, settings.GreTimeoutStream, useStreamDelay: false), null, false);
                Refresh(entry, settings.GenericTimeout);
                return (TrackVerdict.Accept, null, false);
        }
    }

    private void Refresh(ConnEntry e, long seconds) =>
        e.Expires = new Timestamp(now.Nanoseconds + ConntrackSettings.Seconds(seconds).Nanoseconds);

    private void Account(ConnEntry e, CtDirection dir)
    {
        long bytes = packet.Ip!.TotalLength;
        if (dir == CtDirection.Original) { e.OriginalPackets++; e.OriginalBytes += bytes; }
        else { e.ReplyPackets++; e.ReplyBytes += bytes; }
    }

    /// <summary>Protocol error checks made before the lookup (tcp_error, udp_error).</summary>
    private string? PreCheck(IpHeader ip) => packet.Transport switch
    {
        TcpHeader th => TcpTracker.Error(th, packet, hook, Settings),
        UdpHeader uh when uh.Length > ip.TotalLength - ip.HeaderLength || uh.Length < 8 => "udp: truncated/malformed packet",
        UdpHeader uh when hook == Hook.Prerouting && Settings.Checksum && !uh.ChecksumValid => "udp: bad checksum",
        _ => null,
    };

    /// <summary>An ICMP error: RELATED to the connection its quoted packet belongs to, else INVALID.</summary>
    private CtPacket RelatedIcmpError(IpHeader outer, IcmpHeader icmp)
    {
        if (icmp.Quoted is not { } q) return Invalid(IcmpName(icmp) + ": error without a readable quoted packet");
        if (q.Transport is IcmpHeader { IsError: true }) return Invalid(IcmpName(icmp) + ": error about an error");
        if (!TryTuple(q.Ip, q.Transport, ReadOnlyMemory<byte>.Empty, out var quoted, out var why))
            return Invalid(IcmpName(icmp) + ": quoted packet: " + why);
        var inner = ConntrackTable.Invert(quoted);
        if (!table.TryLookup(inner, template.ZoneSpec, now, out var entry, out var dir))
            return Invalid(IcmpName(icmp) + ": error for a packet of no tracked connection");
        if (entry.TupleOf(dir).Destination != outer.Destination)
            return Invalid($"{IcmpName(icmp)}: outer daddr {outer.Destination} != inner {entry.TupleOf(dir).Destination}");
        return new CtPacket(CtState.Related, dir, entry)
        {
            Hook = hook, Time = now, IsIcmpError = true,
            TcpStateBefore = entry.TcpState, TcpStateAfter = entry.TcpState,
            ProtocolStateBefore = entry.ProtocolState, ProtocolStateAfter = entry.ProtocolState,
            EntryStateBefore = entry.SeenReply ? "ESTABLISHED" : "NEW",
        };
    }

    private static string IcmpName(IcmpHeader icmp) => icmp.IsV6 ? "icmpv6" : "icmp";

    /// <summary>The conntrack tuple of a packet (or of a packet quoted in an ICMP error).</summary>
    internal static bool TryTuple(IpHeader ip, TransportHeader? transport, ReadOnlyMemory<byte> raw, out ConnTuple tuple, out string why)
    {
        why = "";
        ushort sp = 0, dp = 0;
        switch (transport)
        {
            case TcpHeader t: sp = t.SourcePort; dp = t.DestinationPort; break;
            case UdpHeader u: sp = u.SourcePort; dp = u.DestinationPort; break;
            case SctpHeader s: sp = s.SourcePort; dp = s.DestinationPort; break;
            case IcmpHeader i: sp = i.Identifier; dp = (ushort)(i.Type << 8 | i.Code); break;
            case OtherTransport o when o.Protocol == IpProtocol.Gre: (sp, dp) = GreKeys(raw, ip.HeaderLength); break;
            case OtherTransport o when o.Protocol == IpProtocol.UdpLite:
                if (raw.Length < ip.HeaderLength + 8)
                {
                    tuple = default;
                    why = "udplite: truncated header";
                    return false;
                }
                var lite = raw.Span[ip.HeaderLength..];
                (sp, dp) = ((ushort)(lite[0] << 8 | lite[1]), (ushort)(lite[2] << 8 | lite[3]));
                break;
            case null when ip.Protocol is IpProtocol.Tcp or IpProtocol.Udp or IpProtocol.Sctp or IpProtocol.Icmp or IpProtocol.Icmpv6:
                tuple = default;
                why = $"{IpProtocol.NameOf(ip.Protocol, ip.Family)}: truncated header";
                return false;
        }
        tuple = new ConnTuple(ip.Family, ip.Protocol, ip.Source, ip.Destination, sp, dp);
        return true;
    }

    /// <summary>GRE keys: version 1 (PPTP) has the call id as destination key; version 0 tracks like a generic protocol.</summary>
    private static (ushort, ushort) GreKeys(ReadOnlyMemory<byte> raw, int offset)
    {
        var b = raw.Span;
        if (b.Length < offset + 8) return (0, 0);
        if ((b[offset + 1] & 0x07) != 1) return (0, 0);
        return (0, (ushort)(b[offset + 6] << 8 | b[offset + 7]));
    }
}

/// <summary>UDP (and GRE): unreplied timeout until a reply; with a reply (and for UDP two seconds of life) the stream timeout and ASSURED.</summary>
internal static class UdpLikeTracker
{
    public static TrackVerdict Packet(ConnEntry e, Timestamp now, long unreplied, long stream, bool useStreamDelay)
    {
        long timeout = unreplied;
        if (e.SeenReply)
        {
            bool becomesStream = !useStreamDelay || now > e.UdpStreamAfter;
            if (becomesStream)
            {
                timeout = stream;
                e.Status |= CtStatus.Assured;
            }
        }
        e.Expires = new Timestamp(now.Nanoseconds + ConntrackSettings.Seconds(timeout).Nanoseconds);
        return TrackVerdict.Accept;
    }
}

/// <summary>ICMP / ICMPv6 query tracking: which types open an entry, and the reply type of each request.</summary>
internal static class IcmpTracker
{
    /// <summary>Echo, timestamp, info and address-mask requests (ICMPv6: echo request, node information query) may open an entry.</summary>
    public static bool CanOpen(byte type, bool v6) => v6 ? type is 128 or 139 : type is 8 or 13 or 15 or 17;

    /// <summary>The reply type of a request type and back; other types keep their type.</summary>
    public static byte InverseType(byte type, bool v6) => (byte)(v6
        ? type switch { 128 => 129, 129 => 128, 139 => 140, 140 => 139, _ => type }
        : type switch { 8 => 0, 0 => 8, 13 => 14, 14 => 13, 15 => 16, 16 => 15, 17 => 18, 18 => 17, _ => type });

    /// <summary>ICMPv6 types conntrack leaves untracked: MLD (130-132, 143) and neighbour discovery (133-137).</summary>
    public static bool IsUntrackedV6(byte type) => type is >= 130 and <= 137 or 143;
}
