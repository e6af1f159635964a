using Harness.Engine.Walk;
using Harness.Net;
using Harness.Packets;
using Harness.Rules;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>
/// -m udp (xt_tcpudp udp_mt): ports as inclusive ranges, never a non-first fragment. Also serves UDP-Lite. A header
/// shorter than 8 bytes is read as iptables-nft's payload expressions read it (see <see cref="TcpEvaluator"/>).
/// </summary>
public sealed class UdpEvaluator(UdpMatch match) : MatchEvaluator
{
    private readonly Negatable<PortRange>? _sport = match.SourcePorts;
    private readonly Negatable<PortRange>? _dport = match.DestinationPorts;

    public static MatchEvaluator Create(UdpMatch match, CompileContext context) => new UdpEvaluator(match);

    public override (byte Protocol, ushort Port)? ExactDestinationPort =>
        _dport is { Negated: false } d && d.Value.IsSingle ? (IpProtocol.Udp, d.Value.First) : null;

    public override bool Matches(PacketState state)
    {
        if (state.Ip.IsLaterFragment) return false;
        ushort? sp, dp;
        if (state.Packet.Transport is UdpHeader udp) (sp, dp) = (udp.SourcePort, udp.DestinationPort);
        else if (TransportFields.IsShort(state))
        {
            // iptables-legacy's udp_mt cannot read the 8-byte header: it drops the packet.
            if (state.Runtime.Backend == IptablesBackend.Legacy)
            {
                state.HotDrop = TransportFields.HotDropReason("udp", state);
                return false;
            }
            (sp, dp) = (TransportFields.U16(state, 0), TransportFields.U16(state, 2));
        }
        else return false;
        // A header shorter than 8 bytes: iptables-nft's payload reads see the ports that are there; a port the packet
        // does not reach fails the rule (no drop).
        if (_sport is { } s && (sp is not { } source || !s.Apply(s.Value.Contains(source)))) return false;
        if (_dport is { } d && (dp is not { } destination || !d.Apply(d.Value.Contains(destination)))) return false;
        return true;
    }
}
