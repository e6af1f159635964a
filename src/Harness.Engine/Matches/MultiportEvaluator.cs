using System.Collections.Immutable;
using Harness.Engine.Walk;
using Harness.Net;
using Harness.Packets;
using Harness.Rules;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>
/// -m multiport (xt_multiport revision 1): any listed port or range against the source, destination or either port;
/// negation inverts the whole list. Never a non-first fragment; only port-carrying protocols.
/// </summary>
public sealed class MultiportEvaluator(MultiportDirection direction, Negatable<ImmutableArray<PortRange>> ports) : MatchEvaluator
{
    private readonly PortRange[] _ports = [.. ports.Value];

    public static MatchEvaluator Create(MultiportMatch match, CompileContext context) => new MultiportEvaluator(match.Direction, match.Ports);

    public override bool Matches(PacketState state)
    {
        if (state.Ip.IsLaterFragment) return false;
        ushort src, dst;
        switch (state.Packet.Transport)
        {
            case TcpHeader t: (src, dst) = (t.SourcePort, t.DestinationPort); break;
            case UdpHeader u: (src, dst) = (u.SourcePort, u.DestinationPort); break;
            case SctpHeader s: (src, dst) = (s.SourcePort, s.DestinationPort); break;
            case null when TransportFields.IsShort(state):
                // xt_multiport reads only the 4 port bytes: a shorter header drops the packet (hotdrop).
                if (TransportFields.U16(state, 0) is not { } sp || TransportFields.U16(state, 2) is not { } dp)
                {
                    state.HotDrop = TransportFields.HotDropReason("multiport", state);
                    return false;
                }
                (src, dst) = (sp, dp);
                break;
            default: return false;
        }
        bool hit = false;
        foreach (var range in _ports)
        {
            hit = direction switch
            {
                MultiportDirection.Source => range.Contains(src),
                MultiportDirection.Destination => range.Contains(dst),
                _ => range.Contains(src) || range.Contains(dst),
            };
            if (hit) break;
        }
        return ports.Apply(hit);
    }
}
