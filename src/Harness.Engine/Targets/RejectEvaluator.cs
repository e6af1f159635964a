using Harness.Engine.Walk;
using Harness.Net;
using Harness.Packets;
using Harness.Rules.Extensions;

namespace Harness.Engine.Targets;

/// <summary>
/// -j REJECT (ipt_REJECT / ip6t_REJECT): drops the packet and answers with the chosen ICMP/ICMPv6 error or a TCP RST
/// (nf_send_unreach / nf_send_reset). The answer is its own packet with its own outcome.
/// </summary>
public sealed class RejectEvaluator(RejectWith with) : TargetEvaluator
{
    public static TargetEvaluator Create(RejectTarget target, Matches.CompileContext context) => new RejectEvaluator(target.With);

    public override TargetVerdict Execute(PacketState state)
    {
        state.Rejected = true;
        var runtime = state.Runtime;
        state.RejectReply = with switch
        {
            RejectWith.TcpReset => Replies.TcpReset(state),
            _ when !ChecksumHolds(state) => null,
            _ => Replies.IcmpError(state, runtime, IcmpType(state.Family), Code),
        };
        if (with == RejectWith.TcpReset && state.RejectReply is not null && state.Conntrack is { } ct)
            runtime.Conntrack.SetClosing(ct, state.Now);
        return TargetVerdict.Drop;
    }

    /// <summary>
    /// nf_send_unreach / nf_send_unreach6 answer only a packet whose transport checksum holds, for the protocols with a
    /// one's-complement checksum over the whole segment (TCP, ICMP/ICMPv6, UDP unless its checksum field is 0), at
    /// whatever hook REJECT runs. A packet made here is not checked (its checksum is left to the NIC).
    /// </summary>
    private static bool ChecksumHolds(PacketState state)
    {
        var original = state.Original;
        if (state.LocallyGenerated) return true;
        if (original.Transport is null && original.TransportError is not null) return ShortSegmentChecksumHolds(original);
        if (original.Transport is not { ChecksumValid: false } transport) return true;
        return transport switch
        {
            TcpHeader or IcmpHeader => false,
            UdpHeader => UdpChecksumField(original) == 0,
            _ => true,
        };
    }

    /// <summary>
    /// A segment shorter than its fixed header: nf_ip_checksum / nf_ip6_checksum still sum what there is (with the
    /// pseudo-header for TCP, UDP and ICMPv6); a UDP segment too short to hold its checksum field is checked too.
    /// </summary>
    private static bool ShortSegmentChecksumHolds(Harness.Packets.Packet p)
    {
        var ip = p.Ip!;
        var segment = p.TransportBytes();
        return ip.Protocol switch
        {
            IpProtocol.Icmp when ip.Family == Family.IPv4 => InternetChecksum.Compute(segment) == 0,
            IpProtocol.Tcp or IpProtocol.Udp or IpProtocol.Icmpv6 => InternetChecksum.Transport(ip.Source, ip.Destination, ip.Protocol, segment) == 0,
            _ => true,
        };
    }

    private static int UdpChecksumField(Harness.Packets.Packet p)
    {
        var raw = p.Raw.Span;
        int at = p.Ip!.HeaderLength + 6;
        return raw.Length >= at + 2 ? (raw[at] << 8) | raw[at + 1] : -1;
    }

    private byte IcmpType(Family family) => family == Family.IPv4 ? (byte)3 : (byte)1;

    private byte Code => with switch
    {
        RejectWith.IcmpNetUnreachable => 0,
        RejectWith.IcmpHostUnreachable => 1,
        RejectWith.IcmpProtoUnreachable => 2,
        RejectWith.IcmpPortUnreachable => 3,
        RejectWith.IcmpNetProhibited => 9,
        RejectWith.IcmpHostProhibited => 10,
        RejectWith.IcmpAdminProhibited => 13,
        RejectWith.Icmp6NoRoute => 0,
        RejectWith.Icmp6AdmProhibited => 1,
        RejectWith.Icmp6AddrUnreachable => 3,
        RejectWith.Icmp6PortUnreachable => 4,
        RejectWith.Icmp6PolicyFail => 5,
        RejectWith.Icmp6RejectRoute => 6,
        _ => 3,
    };
}
