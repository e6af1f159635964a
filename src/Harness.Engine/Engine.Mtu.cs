using Harness.Engine.Conntrack;
using Harness.Engine.Routing;
using Harness.Engine.Walk;
using Harness.Net;
using Harness.Packets;

namespace Harness.Engine;

/// <summary>
/// The egress MTU (<see cref="Mtu"/>): what ip_forward / ip6_forward refuse before the FORWARD hook, and what
/// ip_finish_output / ip6_finish_output do after POSTROUTING (fragment, or refuse).
/// </summary>
public sealed partial class Engine
{
    /// <summary>
    /// ip_forward's ip_exceeds_mtu / ip6_forward's ip6_pkt_too_big, before FORWARD (and before the TTL is decremented,
    /// so the error quotes the packet as it came): a packet longer than the route's MTU is dropped with ICMP
    /// fragmentation needed (3/4, IPv4 with DF) or ICMPv6 packet too big (2/0), carrying the MTU. IPv4 without DF goes
    /// on and is fragmented after POSTROUTING. A reassembled datagram (defrag sets ignore_df) is refused only when its
    /// largest fragment exceeds the MTU (IPv4: and it has DF). A GRO aggregate (see <see cref="IsAggregate"/>) is not
    /// checked. Null when the packet goes on.
    /// </summary>
    private Outcome? TooBigToForward(PacketState s, RouteResult route)
    {
        if (Mtu.Of(_runtime, route, s.Family, forwardCheck: true) is not int mtu || s.Ip.TotalLength <= mtu) return null;
        bool v4 = s.Family == Family.IPv4;
        if (v4 && !s.Ip.DontFragment) return null;
        if (Reassembled(s) is { } whole)
            return whole.MaxFragmentSize > mtu ? Refuse(s, mtu, route.Device, Hook.Prerouting, whole.MaxFragmentSize) : null;
        if (IsAggregate(s)) return null;
        return Refuse(s, mtu, route.Device, Hook.Prerouting, 0);
    }

    /// <summary>
    /// After POSTROUTING (and conntrack's confirmation): how a packet leaves by <see cref="PacketState.Route"/>.
    /// Whole when it fits. Longer: a reassembled datagram leaves as fragments (its outcome says how many, see
    /// <see cref="NoteReassembly"/>) unless its largest fragment exceeds the MTU; a GRO aggregate, or a TCP packet (or
    /// a UDP one with DF) the host made, leaves as GSO segments, not checked; an IPv4 packet without DF, or an IPv6
    /// packet the host made, is fragmented (ip_do_fragment / ip6_fragment), the outcome saying into how many; an IPv6
    /// packet being forwarded (ip6_fragment without ignore_df) or an IPv4 one with DF (ip_fragment, e.g. one NAT made
    /// longer) is refused with the ICMP error, dropped at POSTROUTING.
    /// </summary>
    private Outcome Egress(PacketState s, Disposition disposition)
    {
        var route = s.Route;
        if (route is null || Mtu.Of(_runtime, route, s.Family, forwardCheck: false) is not int mtu)
            return Finish(s, FinalVerdict.Accept, disposition, null, null);
        bool v4 = s.Family == Family.IPv4;
        int length = s.Ip.TotalLength;
        var device = route.Device;
        if (Reassembled(s) is { } whole)
        {
            return whole.MaxFragmentSize > mtu && length > mtu && (!v4 || s.Ip.DontFragment)
                ? Refuse(s, mtu, device, Hook.Postrouting, whole.MaxFragmentSize)
                : Finish(s, FinalVerdict.Accept, disposition, null, null);
        }
        if (length <= mtu) return Finish(s, FinalVerdict.Accept, disposition, null, null);
        if (IsAggregate(s))
        {
            int inMtu = Mtu.Device(_runtime, s.InInterface, s.Family) ?? 0;
            return Finish(s, FinalVerdict.Accept, disposition, Invariant(
                $"a GRO aggregate of {length} bytes (more than the MTU {inMtu} of {s.InInterface}): leaves as GSO segments, whose size the capture does not give, so the MTU {mtu} of {device} is not checked"), null);
        }
        byte protocol = s.Ip.Protocol;
        if (s.LocallyGenerated && (protocol == IpProtocol.Tcp || (protocol == IpProtocol.Udp && v4 && s.Ip.DontFragment)))
        {
            return Finish(s, FinalVerdict.Accept, disposition, Invariant(
                $"{length} bytes, more than the MTU {mtu} of {device}: a TSO/GSO packet, leaves as segments (not checked)"), null);
        }
        if (s.LocallyGenerated && v4 && s.Ip.DontFragment)
        {
            // A socket refuses such a datagram before OUTPUT (EMSGSIZE); ip_fragment would answer it to the host itself.
            return Finish(s, FinalVerdict.Drop, Disposition.Dropped, Invariant(
                $"fragmentation needed: {length} bytes exceeds the MTU {mtu} of {device} (a datagram the host made with DF; a socket refuses it with EMSGSIZE)"), Hook.Postrouting);
        }
        if (v4 ? s.Ip.DontFragment : !s.LocallyGenerated) return Refuse(s, mtu, device, Hook.Postrouting, 0);
        int count = Reassembly.FragmentCount(s.Packet, mtu, 0);
        return Finish(s, FinalVerdict.Accept, disposition, Invariant($"leaves as {count} fragments (MTU {mtu} of {device})"), null);
    }

    /// <summary>Drops the packet as too big, sending the ICMP error with the MTU (never rate limited: see <see cref="IcmpRateLimit"/>).</summary>
    private Outcome Refuse(PacketState s, int mtu, string? device, Hook at, int largestFragment)
    {
        bool v4 = s.Family == Family.IPv4;
        var error = Replies.IcmpError(s, _runtime, v4 ? (byte)3 : (byte)2, v4 ? (byte)4 : (byte)0, (uint)mtu);
        var what = v4 ? "fragmentation needed" : "packet too big";
        var reason = largestFragment > 0
            ? Invariant($"{what}: the largest fragment received, {largestFragment} bytes, exceeds the MTU {mtu} of {device}")
            : Invariant($"{what}: {s.Ip.TotalLength} bytes exceeds the MTU {mtu} of {device}");
        var outcome = Finish(s, FinalVerdict.Drop, Disposition.Dropped, reason, at);
        if (error is not null) SendGenerated(s, error);
        return outcome;
    }

    /// <summary>The reassembly the packet came from: only the captured packet being processed can have one.</summary>
    private DefragResult? Reassembled(PacketState s) => ReferenceEquals(s, _state) ? _reassembled : null;

    /// <summary>
    /// An arriving packet longer than the MTU of the interface it came in on cannot have been one frame: it is a GRO
    /// aggregate (tcpdump sees packets after GRO), which the kernel forwards as GSO and segments on the way out. Its
    /// segment size is not in the capture, so its MTU is not checked.
    /// </summary>
    private bool IsAggregate(PacketState s) =>
        !s.LocallyGenerated && Mtu.Device(_runtime, s.InInterface, s.Family) is int inMtu && s.Ip.TotalLength > inMtu;
}
