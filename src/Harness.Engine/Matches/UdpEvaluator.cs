using Harness.Engine.Walk;
using Harness.Net;
using Harness.Packets;
using Harness.Rules;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>-m udp (xt_tcpudp udp_mt): ports as inclusive ranges, never a non-first fragment. Also serves UDP-Lite.</summary>
public sealed class UdpEvaluator(UdpMatch match) : MatchEvaluator
{
    private readonly Negatable<PortRange>? _sport = match.SourcePorts;
    private readonly Negatable<PortRange>? _dport = match.DestinationPorts;

    public static MatchEvaluator Create(UdpMatch match, CompileContext context) => new UdpEvaluator(match);

    public override (byte Protocol, ushort Port)? ExactDestinationPort =>
        _dport is { Negated: false } d && d.Value.IsSingle ? (IpProtocol.Udp, d.Value.First) : null;

    public override bool Matches(PacketState state)
    {
        if (state.Ip.IsLaterFragment || state.Packet.Transport is not UdpHeader udp) return false;
        if (_sport is { } s && !s.Apply(s.Value.Contains(udp.SourcePort))) return false;
        if (_dport is { } d && !d.Apply(d.Value.Contains(udp.DestinationPort))) return false;
        return true;
    }
}
