using Harness.Engine.Routing;
using Harness.Engine.Walk;
using Harness.Net;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>
/// -m rpfilter (ipt_rpfilter/ip6t_rpfilter, raw/mangle PREROUTING): the route back to the source must be unicast
/// (or local with --accept-local) and leave by the interface the packet came in on (any interface with --loose);
/// --validmark uses the packet mark in that lookup. Loopback traffic, and DHCP-style 0.0.0.0 to broadcast/local
/// multicast, always pass.
/// </summary>
public sealed class RpfilterEvaluator(RpfilterMatch m) : MatchEvaluator
{
    public static MatchEvaluator Create(RpfilterMatch m, CompileContext c) => new RpfilterEvaluator(m);

    public override bool Matches(PacketState state) => Check(state) ^ m.Invert;

    private bool Check(PacketState state)
    {
        var fib = state.Runtime.Fib;
        var iface = state.Runtime.Interface(state.InInterface);
        if (iface is { IsLoopback: true } || state.InInterface == "lo") return true;
        var ip = state.Ip;
        if (ip.Family == Family.IPv4 && (uint)ip.Source.Value == 0)
        {
            uint d = (uint)ip.Destination.Value;
            if (d == 0xFFFF_FFFF || (d >> 8) == 0xE00000) return true;
        }
        var route = fib.Lookup(ip.Source, ip.Destination, m.ValidMark ? state.Mark : 0, null);
        if (route.Kind != RouteKind.Unicast && !(m.AcceptLocal && route.Kind == RouteKind.Local)) return false;
        return m.Loose || route.Device == state.InInterface || (route.Kind == RouteKind.Local && m.AcceptLocal);
    }
}
