using Harness.Engine.Walk;
using Harness.Net;
using Harness.Rules;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>
/// -m pkttype (xt_pkttype): unicast/broadcast/multicast from the Ethernet destination when the capture has one,
/// else from the IP destination (the host's broadcast addresses, multicast ranges); locally made packets are "host".
/// </summary>
public sealed class PkttypeEvaluator(Negatable<PacketType> type) : MatchEvaluator
{
    public static MatchEvaluator Create(PkttypeMatch m, CompileContext c) => new PkttypeEvaluator(m.Type);

    public override bool Matches(PacketState state) => type.Apply(TypeOf(state) == type.Value);

    private static PacketType TypeOf(PacketState state)
    {
        var dst = state.Ip.Destination;
        bool multicast = dst.Family == Family.IPv4 ? ((uint)dst.Value >> 28) == 0xE : (dst.Value >> 120) == 0xFF;
        if (state.Packet.Link is { } link && !state.LocallyGenerated)
            return link.Destination.IsBroadcast ? PacketType.Broadcast : link.Destination.IsMulticast ? PacketType.Multicast : PacketType.Host;
        if (multicast) return PacketType.Multicast;
        if (state.Runtime.Fib.IsBroadcastAddress(dst)) return PacketType.Broadcast;
        return PacketType.Host;
    }
}
