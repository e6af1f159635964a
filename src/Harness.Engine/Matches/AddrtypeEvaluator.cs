using Harness.Engine.Walk;
using Harness.Net;
using Harness.Rules;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>
/// -m addrtype (xt_addrtype revision 1): the type the host's local table gives the source and/or destination address:
/// LOCAL for the host's addresses (on the given interface with --limit-iface-in/out), BROADCAST for subnet broadcasts,
/// 0.0.0.0 and 255.255.255.255, MULTICAST for group addresses, UNICAST for everything else (IPv4, inet_dev_addr_type);
/// IPv6: LOCAL, MULTICAST, UNICAST, and UNREACHABLE when no route leads there.
/// </summary>
public sealed class AddrtypeEvaluator(AddrtypeMatch m) : MatchEvaluator
{
    public static MatchEvaluator Create(AddrtypeMatch m, CompileContext c) => new AddrtypeEvaluator(m);

    public override bool Matches(PacketState state)
    {
        string? device = m.LimitToInInterface ? state.InInterface : m.LimitToOutInterface ? state.OutInterface : null;
        if (m.SourceTypes is { } s && !s.Apply((s.Value & TypeOf(state, state.Ip.Source, device)) != 0)) return false;
        if (m.DestinationTypes is { } d && !d.Apply((d.Value & TypeOf(state, state.Ip.Destination, device)) != 0)) return false;
        return true;
    }

    public static AddressTypes TypeOf(PacketState state, Address address, string? device)
    {
        var fib = state.Runtime.Fib;
        if (address.Family == Family.IPv4)
        {
            uint v = (uint)address.Value;
            if (v == 0 || v == 0xFFFF_FFFF) return AddressTypes.Broadcast;
            if ((v >> 28) == 0xE) return AddressTypes.Multicast;
            if (IsLocalOn(state, address, device) || (device is null || IsLoopback(state, device)) && (v >> 24) == 127) return AddressTypes.Local;
            if (fib.IsBroadcastAddress(address)) return AddressTypes.Broadcast;
            return AddressTypes.Unicast;
        }
        if ((address.Value >> 120) == 0xFF) return AddressTypes.Multicast;
        if (IsLocalOn(state, address, device)) return AddressTypes.Local;
        var route = fib.Lookup(address, null, 0, null);
        return route.Kind switch
        {
            Routing.RouteKind.NoRoute or Routing.RouteKind.Unreachable => AddressTypes.Unreachable,
            Routing.RouteKind.Blackhole => AddressTypes.Blackhole,
            Routing.RouteKind.Prohibit => AddressTypes.Prohibit,
            _ => AddressTypes.Unicast,
        };
    }

    private static bool IsLocalOn(PacketState state, Address address, string? device)
    {
        if (device is null) return state.Runtime.Fib.IsLocalAddress(address);
        var iface = state.Runtime.Interface(device);
        return iface is not null && iface.Addresses.Any(a => a.Address == address);
    }

    private static bool IsLoopback(PacketState state, string device) => state.Runtime.Interface(device)?.IsLoopback == true;
}
