using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Globalization;
using Harness.Engine;
using Harness.Net;
using Harness.Packets;

namespace Harness.Oracle.Kernel;

/// <summary>
/// Turns what the kernel reported for one injected packet (trace events, conntrack events, frames that left) into the
/// same <see cref="Outcome"/> records the engine produces: the injected packet's own outcome first, then one per
/// packet the firewall sent because of it (REJECT replies, ICMP errors).
/// </summary>
internal sealed class OutcomeBuilder(KernelSession session)
{
    private sealed record Decision(string Id, bool IsRule, bool IsFilter);

    private HashSet<uint> _destroyed = [];

    /// <summary>
    /// The outcomes of one injected packet. <paramref name="before"/> and <paramref name="after"/> are its conntrack
    /// entry looked up by its tuple just before and just after it was injected.
    /// </summary>
    public IReadOnlyList<Outcome> Build(Packet injected, KernelWindow window, ConntrackEntry? before, ConntrackEntry? after, bool locallyGenerated)
    {
        var startChain = locallyGenerated ? TraceTable.OutChain : TraceTable.PreChain;
        _destroyed = window.Conntrack.Where(e => e.Kind == ConntrackEventKind.Destroy).Select(e => e.Id).ToHashSet();

        var groups = window.Trace.GroupBy(e => e.Id).Select(g => g.ToList()).ToList();
        var main = groups.FirstOrDefault(g => g[0].Table == TraceTable.Name && g[0].Chain == startChain);
        var unusedEgress = window.Egress.ToList();
        var outcomes = new List<Outcome>();
        var mainOutcome = FromEvents(injected, main ?? [], generated: false, unusedEgress, locallyGenerated);
        outcomes.Add(mainOutcome with { Conntrack = ConntrackOf(injected, main ?? [], before, after, mainOutcome) });
        // What the local stack answers to a delivered packet (a TCP RST from a closed port, an echo reply) is the
        // sockets' doing, not netfilter's: only answers to packets that were not delivered (REJECT, ICMP errors) count.
        var answers = mainOutcome.Disposition == Disposition.Delivered ? [] : groups;
        foreach (var g in answers.Where(g => g != main && g[0].Table == TraceTable.Name && g[0].Chain == TraceTable.OutChain && !IsIpv6Chatter(g)))
        {
            var template = injected with { Interface = null };
            var o = FromEvents(template, g, generated: true, unusedEgress, local: true);
            var gTuple = ConntrackEntry.TupleOf(o.Packet);
            var gEntry = gTuple is null ? null : ConntrackEntry.From(session.LookupConntrack(gTuple));
            // As made, before OUTPUT/POSTROUTING NAT: the first headers the trace shows.
            var made = FromHeaders(template, g.FirstOrDefault(e => e.Network.Length > 0));
            var view = ConntrackOf(made.Ip is null ? o.Packet : made, g, null, gEntry, o);
            // A reply REJECT made is RELATED to the connection of the packet it answers: that entry is its entry.
            if (view is { StateSeen: "RELATED" } && outcomes[0].Conntrack is { } master)
                view = view with { TcpStateBefore = master.TcpStateBefore, TcpStateAfter = master.TcpStateAfter, Original = master.Original, Reply = master.Reply };
            outcomes.Add(o with { Conntrack = view });
        }
        return outcomes;
    }

    /// <summary>
    /// IPv6's own chatter that the kernel sends when it likes (MLD reports, router solicitations, duplicate address
    /// detection from ::), not in answer to the injected packet: the same frames <see cref="KernelSession"/> leaves out
    /// of the captures, seen here in the trace of OUTPUT.
    /// </summary>
    private static bool IsIpv6Chatter(List<TraceEvent> events)
    {
        var first = events.FirstOrDefault(e => e.Network.Length >= 40 && e.Transport.Length > 0);
        if (first is null || first.Network[0] >> 4 != 6) return false;
        byte type = first.Transport[0];
        bool unspecifiedSource = first.Network.AsSpan(8, 16).IndexOfAnyExcept((byte)0) < 0;
        return type is 130 or 131 or 132 or 133 or 143 || (type == 135 && unspecifiedSource);
    }

    private Outcome FromEvents(Packet packet, List<TraceEvent> events, bool generated, List<EgressFrame> egress, bool local)
    {
        var path = ImmutableArray.CreateBuilder<PathStep>();
        Hook hook = local ? Hook.Output : Hook.Prerouting;
        (byte, string, string)? currentBase = null;
        Decision? dropDecision = null, filterDecision = null, ruleDecision = null, anyDecision = null;
        bool rejected = false, delivered = false, left = false;
        Hook? droppedAt = null;
        TraceEvent? lastWithHeaders = null;
        int? outIndex = null;
        uint mark = 0;

        foreach (var e in events)
        {
            if (e.Network.Length > 0) lastWithHeaders = e;
            if (e.Network.Length > 0 || e.Kind == TraceKind.Policy) mark = e.Mark != 0 || e.Network.Length > 0 ? e.Mark : mark;
            if (e.Table == TraceTable.Name && e.TableFamily == TraceEvent.NfProtoInet)
            {
                hook = OwnChainHook(e.Chain) ?? hook;
                if (e.Chain == TraceTable.LastInChain && e.Kind == TraceKind.Policy) delivered = true;
                if (e.Chain == TraceTable.LastPostChain && e.Kind == TraceKind.Policy) { left = true; outIndex = e.OutInterface ?? outIndex; }
                if (e.Chain == TraceTable.LastPostChain && e.OutInterface is int oi) outIndex = oi;
                continue;
            }
            if (session.Rules.BaseChainHook(e.TableFamily, e.Table, e.Chain) is Hook h)
            {
                hook = h;
                var key = (e.TableFamily, e.Table, e.Chain);
                if (currentBase != key)
                {
                    currentBase = key;
                    path.Add(new PathStep(hook, e.Table, e.Chain, null));
                }
            }
            if (e.Kind == TraceKind.Policy)
            {
                var policy = e.Policy == Verdicts.Drop ? "DROP" : "ACCEPT";
                path.Add(new PathStep(hook, e.Table, e.Chain, null, policy));
                var d = new Decision($"{e.Table}:{e.Chain}:policy", false, e.Table == "filter");
                anyDecision = d;
                if (d.IsFilter) filterDecision = d;
                if (e.Policy == Verdicts.Drop) { dropDecision = d; droppedAt = hook; }
                continue;
            }
            if (e.Kind != TraceKind.Rule || e.RuleHandle is not ulong handle) continue;
            var rule = session.Rules.Rule(e.TableFamily, e.Table, e.Chain, handle);
            if (rule is null) continue;
            path.Add(new PathStep(hook, e.Table, e.Chain, rule.Number));
            if (e.Verdict is Verdicts.Jump or Verdicts.Goto && e.JumpTarget is { } target)
            {
                path.Add(new PathStep(hook, e.Table, target, null));
                continue;
            }
            if (e.Verdict is not int v || !Verdicts.IsTerminal(v)) continue;
            var decision = new Decision(string.Create(CultureInfo.InvariantCulture, $"{rule.Table}:{rule.Chain}:{rule.Number}"), true, e.Table == "filter");
            anyDecision = decision;
            ruleDecision = decision;
            if (decision.IsFilter) filterDecision = decision;
            if (v != Verdicts.Accept)
            {
                dropDecision = decision;
                droppedAt = hook;
                rejected = rule.IsReject;
            }
        }

        var finalPacket = generated ? FromHeaders(packet, lastWithHeaders) : FinalPacket(packet, lastWithHeaders);
        if (local && !generated && finalPacket.Interface is not null) finalPacket = finalPacket with { Interface = null };
        var outName = session.InterfaceName(outIndex);
        if (left && outName is not null && TakeEgress(egress, outName, finalPacket) is { } frame)
            finalPacket = Decode(frame, packet, outName);

        var baseOutcome = new Outcome
        {
            PacketNumber = packet.Number,
            Generated = generated,
            Time = packet.Time,
            InInterface = local ? null : packet.Interface,
            Verdict = FinalVerdict.Accept,
            Disposition = Disposition.Delivered,
            Packet = finalPacket,
            Path = path.ToImmutable(),
            Mark = mark,
        };
        if (dropDecision is not null)
        {
            return baseOutcome with
            {
                Verdict = rejected ? FinalVerdict.Reject : FinalVerdict.Drop,
                Disposition = rejected ? Disposition.Rejected : Disposition.Dropped,
                DecidingRule = dropDecision.Id,
                DroppedAt = droppedAt,
            };
        }
        var accepted = filterDecision ?? ruleDecision ?? anyDecision;
        if (delivered) return baseOutcome with { DecidingRule = accepted?.Id };
        if (left)
        {
            return baseOutcome with
            {
                DecidingRule = accepted?.Id,
                Disposition = local ? Disposition.Sent : Disposition.Forwarded,
                OutInterface = outName,
            };
        }
        return baseOutcome with
        {
            Verdict = FinalVerdict.Drop,
            Disposition = Disposition.Dropped,
            DroppedAt = events.Count == 0 ? null : hook,
            Reason = events.Count == 0
                ? "dropped by the kernel before netfilter saw it"
                : $"dropped by the kernel after {hook.ToString().ToUpperInvariant()} without a netfilter verdict",
        };
    }

    private static Hook? OwnChainHook(string chain) => chain switch
    {
        TraceTable.PreChain or TraceTable.CtPreChain => Hook.Prerouting,
        TraceTable.OutChain or TraceTable.CtOutChain => Hook.Output,
        TraceTable.LastInChain => Hook.Input,
        TraceTable.LastPostChain => Hook.Postrouting,
        _ => null,
    };

    private ConntrackView? ConntrackOf(Packet arrived, List<TraceEvent> events, ConntrackEntry? before, ConntrackEntry? after, Outcome outcome)
    {
        string? seen = null;
        foreach (var e in events)
        {
            if (e.Table != TraceTable.Name || e.Chain is not (TraceTable.CtPreChain or TraceTable.CtOutChain)) continue;
            if (e.RuleHandle is ulong h && session.Rules.CtState(h) is { } s) { seen = s; break; }
        }
        if (seen is null) return null;
        var nat = NatText(arrived, outcome.Packet);
        // Conntrack detaches INVALID packets from any entry, and UNTRACKED ones never had one.
        if (seen is "INVALID" or "UNTRACKED") return new ConntrackView(seen, null, null, null, null, nat);
        bool isTcp = arrived.Ip?.Protocol == IpProtocol.Tcp;
        // An entry killed by this packet (a RST on a connection that never saw a reply) went to CLOSE first; the
        // kernel's DESTROY event carries no TCP state.
        if (after is null && before is not null && _destroyed.Contains(before.Id))
            after = before with { TcpState = isTcp ? "CLOSE" : before.TcpState };
        var entry = after ?? before;
        return new ConntrackView(
            StateSeen: seen,
            TcpStateBefore: isTcp && entry is not null ? before?.TcpState ?? "NONE" : null,
            TcpStateAfter: isTcp ? after?.TcpState ?? (before is null ? UnconfirmedTcpState(seen, arrived) : null) : null,
            Original: entry?.Original,
            Reply: entry?.Reply,
            Nat: nat,
            StateBefore: before is null ? null : EntryState(before.Status),
            StateAfter: after is null ? null : EntryState(after.Status));
    }

    /// <summary>
    /// A NEW TCP packet dropped before conntrack confirmed its entry leaves no event; the entry it had is what
    /// tcp_new gives from the packet's flags: SYN alone starts SYN_SENT, anything else picked up mid-stream
    /// (nf_conntrack_tcp_loose) is ESTABLISHED.
    /// </summary>
    private static string? UnconfirmedTcpState(string seen, Packet arrived) =>
        seen != "NEW" || arrived.Transport is not TcpHeader tcp ? null
        : (tcp.Flags & (TcpFlags.Syn | TcpFlags.Ack)) == TcpFlags.Syn ? "SYN_SENT" : "ESTABLISHED";

    private static string EntryState(uint status) => (status & ConntrackEvent.StatusSeenReply) != 0 ? "ESTABLISHED" : "NEW";

    /// <summary>The rewrites between the packet as it arrived and as it left, as the engine words them ("dst a:p->b:q").</summary>
    internal static string? NatText(Packet arrived, Packet final)
    {
        if (arrived.Ip is not { } a || final.Ip is not { } f) return null;
        var (asp, adp) = Ports(arrived.Transport);
        var (fsp, fdp) = Ports(final.Transport);
        var parts = new List<string>();
        if (arrived.Transport is IcmpHeader { IsError: false } && asp != fsp)
        {
            // An echo's id is one field the trace shows as both "ports": the engine names its change with the manip that
            // made it, the source one unless only the destination address changed (SNAT/MASQUERADE remap ids on a clash).
            bool idWithSource = a.Source != f.Source || a.Destination == f.Destination;
            if (idWithSource) fdp = adp;
            else fsp = asp;
        }
        if (a.Destination != f.Destination || adp != fdp) parts.Add($"dst {Endpoint(a.Destination, adp)}->{Endpoint(f.Destination, fdp)}");
        if (a.Source != f.Source || asp != fsp) parts.Add($"src {Endpoint(a.Source, asp)}->{Endpoint(f.Source, fsp)}");
        if (parts.Count == 0) return null;
        // nf_nat_icmp_reply_translation rewrites the packet an ICMP error quotes along with the outer header.
        if (final.Transport is IcmpHeader { IsError: true }) parts[^1] += " (and the quoted packet)";
        return string.Join("; ", parts);
    }

    private static (int?, int?) Ports(TransportHeader? t) => t switch
    {
        TcpHeader tcp => (tcp.SourcePort, tcp.DestinationPort),
        UdpHeader udp => (udp.SourcePort, udp.DestinationPort),
        SctpHeader s => (s.SourcePort, s.DestinationPort),
        IcmpHeader { IsError: false } i => (-1 - i.Identifier, -1 - i.Identifier),
        _ => (null, null),
    };

    private static string Endpoint(Address a, int? port)
    {
        if (port is int negative && negative < 0) return string.Create(CultureInfo.InvariantCulture, $"{a} id {-1 - negative}");
        var text = a.Family == Family.IPv6 && port is not null ? $"[{a}]" : a.ToString();
        return port is int p ? string.Create(CultureInfo.InvariantCulture, $"{text}:{p}") : text;
    }

    /// <summary>The packet with the headers the kernel last showed written over the arrived bytes (payload unchanged).</summary>
    private static Packet FinalPacket(Packet packet, TraceEvent? last)
    {
        if (last is null || packet.Raw.IsEmpty) return packet;
        var bytes = Grown(packet.Raw.Span, last);
        var net = last.Network;
        net.AsSpan(0, Math.Min(net.Length, bytes.Length)).CopyTo(bytes);
        int transportOffset = bytes[0] >> 4 == 4 ? (bytes[0] & 0x0F) * 4 : 40;
        if (last.Transport.Length > 0 && transportOffset < bytes.Length)
            last.Transport.AsSpan(0, Math.Min(last.Transport.Length, bytes.Length - transportOffset)).CopyTo(bytes.AsSpan(transportOffset));
        return PacketDecoder.Decode(bytes, packet.Number, packet.Time, packet.Interface, packet.Direction, packet.Link);
    }

    /// <summary>
    /// The packet's bytes, made as long as the trace's IP header says when a rule grew it (TCPMSS adding an MSS option
    /// to a SYN): the trace shows at most 20 bytes of the transport header, so the new TCP option bytes stay zero (end of
    /// options) and the payload moves behind the longer TCP header. Without this the longer length field would make the
    /// packet undecodable.
    /// </summary>
    private static byte[] Grown(ReadOnlySpan<byte> raw, TraceEvent last)
    {
        var net = last.Network;
        if (net.Length < 20) return raw.ToArray();
        bool v4 = net[0] >> 4 == 4;
        if (!v4 && net.Length < 40) return raw.ToArray();
        int total = v4 ? BinaryPrimitives.ReadUInt16BigEndian(net.AsSpan(2)) : 40 + BinaryPrimitives.ReadUInt16BigEndian(net.AsSpan(4));
        if (total <= raw.Length) return raw.ToArray();
        var bytes = new byte[total];
        int offset = v4 ? (net[0] & 0x0F) * 4 : 40;
        raw.CopyTo(bytes);
        bool tcp = (v4 ? net[9] : net[6]) == 6;
        if (tcp && last.Transport.Length >= 13 && raw.Length >= offset + 13)
        {
            int oldHeader = (raw[offset + 12] >> 4) * 4, newHeader = (last.Transport[12] >> 4) * 4;
            if (newHeader > oldHeader && raw.Length >= offset + oldHeader)
            {
                bytes.AsSpan(offset + oldHeader).Clear();
                var payload = raw[(offset + oldHeader)..];
                payload[..Math.Min(payload.Length, Math.Max(0, total - offset - newHeader))].CopyTo(bytes.AsSpan(offset + newHeader));
            }
        }
        return bytes;
    }

    /// <summary>A packet the firewall made itself, decoded from the headers the trace showed (as far as they go).</summary>
    private static Packet FromHeaders(Packet template, TraceEvent? last)
    {
        if (last is null || last.Network.Length < 20) return template with { Ip = null, Transport = null, Raw = ReadOnlyMemory<byte>.Empty, DecodeError = "no headers in the trace" };
        var net = last.Network;
        bool v4 = net[0] >> 4 == 4;
        int ihl = v4 ? (net[0] & 0x0F) * 4 : 40;
        int total = v4 ? BinaryPrimitives.ReadUInt16BigEndian(net.AsSpan(2)) : 40 + BinaryPrimitives.ReadUInt16BigEndian(net.AsSpan(4));
        var bytes = new byte[Math.Min(total, ihl + last.Transport.Length)];
        net.AsSpan(0, Math.Min(ihl, Math.Min(net.Length, bytes.Length))).CopyTo(bytes);
        if (bytes.Length > ihl) last.Transport.AsSpan(0, bytes.Length - ihl).CopyTo(bytes.AsSpan(ihl));
        return PacketDecoder.Decode(bytes, template.Number, template.Time, null, PacketDirection.Outbound, null, total);
    }

    /// <summary>The frame that left by <paramref name="iface"/> with the same IP header (checksum aside) as <paramref name="p"/>.</summary>
    private static byte[]? TakeEgress(List<EgressFrame> egress, string iface, Packet p)
    {
        var raw = p.Raw.Span;
        int compare = Math.Min(raw.Length, raw.Length > 0 && raw[0] >> 4 == 4 ? 20 : 40);
        for (int i = 0; i < egress.Count; i++)
        {
            var f = egress[i];
            if (f.Interface != iface || f.Frame.Length < 14 + compare) continue;
            var ip = f.Frame.AsSpan(14, compare);
            bool same = true;
            for (int b = 0; b < compare && same; b++)
            {
                if (raw[0] >> 4 == 4 && b is 8 or 10 or 11) continue; // TTL (ip_forward decrements it after PREROUTING) and checksum
                if (raw[0] >> 4 == 6 && b == 7) continue; // hop limit
                same = ip[b] == raw[b];
            }
            if (!same) continue;
            egress.RemoveAt(i);
            return f.Frame;
        }
        return null;
    }

    private static Packet Decode(byte[] frame, Packet template, string iface)
    {
        var link = new LinkHeader(MacAddress.FromBytes(frame.AsSpan(6, 6)), MacAddress.FromBytes(frame.AsSpan(0, 6)),
            ImmutableArray<ushort>.Empty, BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(12)));
        var decoded = PacketDecoder.Decode(frame.AsSpan(14), template.Number, template.Time, iface, PacketDirection.Outbound, link);
        return decoded;
    }
}
