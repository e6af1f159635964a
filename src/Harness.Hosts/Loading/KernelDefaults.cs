using System.Collections.Immutable;
using Harness.Net;

namespace Harness.Hosts.Loading;

/// <summary>
/// What the kernel sets up by itself: the loopback interface, the default "ip rule" list, and the routes it adds
/// when an address is configured (the connected route in main, local/broadcast routes in the local table).
/// </summary>
public static class KernelDefaults
{
    public const int DefaultTable = 253;

    public static HostInterface Loopback { get; } = new(
        "lo", 1, new MacAddress(0),
        [new InterfaceAddress(Address.Parse("127.0.0.1"), 8), new InterfaceAddress(Address.Parse("::1"), 128)],
        IsLoopback: true, Mtu: 65536);

    /// <summary>0: lookup local, 32766: lookup main, 32767: lookup default (IPv4 only), as a fresh kernel has them.</summary>
    public static ImmutableArray<RoutingRule> Rules(Family family) => family == Family.IPv4
        ?
        [
            new RoutingRule(Family.IPv4, 0, Route.LocalTable),
            new RoutingRule(Family.IPv4, 32766, Route.MainTable),
            new RoutingRule(Family.IPv4, 32767, DefaultTable),
        ]
        :
        [
            new RoutingRule(Family.IPv6, 0, Route.LocalTable),
            new RoutingRule(Family.IPv6, 32766, Route.MainTable),
        ];

    /// <summary>The IPv4 broadcast address of a prefix shorter than /31, as the kernel computes it; else null.</summary>
    public static Address? Broadcast(Address address, int prefixLength)
    {
        if (address.Family != Family.IPv4 || prefixLength >= 31) return null;
        uint host = prefixLength == 0 ? uint.MaxValue : uint.MaxValue >> prefixLength;
        return Address.V4(address.ToUInt32() | host);
    }

    /// <summary>The routes the kernel adds for the interfaces' addresses (what "ip route show table all" lists).</summary>
    public static IEnumerable<Route> RoutesFor(IEnumerable<HostInterface> interfaces)
    {
        foreach (var iface in interfaces)
        {
            foreach (var a in iface.Addresses)
            {
                foreach (var r in RoutesFor(iface, a)) yield return r;
            }
            if (!iface.IsLoopback && iface.Addresses.Any(a => a.Address.Family == Family.IPv6))
                yield return new Route(new Cidr(Address.Parse("ff00::"), 8), iface.Name, Metric: 256, Table: Route.LocalTable, Type: RouteType.Multicast);
        }
    }

    private static IEnumerable<Route> RoutesFor(HostInterface iface, InterfaceAddress a)
    {
        var addr = a.Address;
        if (addr.Family == Family.IPv4)
        {
            if (iface.IsLoopback)
                yield return new Route(new Cidr(a.Network.Network, a.PrefixLength), iface.Name, Table: Route.LocalTable, Type: RouteType.Local, PreferredSource: addr);
            else if (a.PrefixLength < 32)
                yield return new Route(new Cidr(a.Network.Network, a.PrefixLength), iface.Name, PreferredSource: addr);
            yield return new Route(Cidr.Host(addr), iface.Name, Table: Route.LocalTable, Type: RouteType.Local, PreferredSource: addr);
            // fib_add_ifaddr: the address's own broadcast ("brd", when given and not 255.255.255.255), and the subnet's
            // broadcast for a prefix shorter than /31 whether or not "brd" was given (both when they differ)
            if (a.Broadcast is Address brd && brd.ToUInt32() != uint.MaxValue)
                yield return new Route(Cidr.Host(brd), iface.Name, Table: Route.LocalTable, Type: RouteType.Broadcast, PreferredSource: addr);
            if (Broadcast(addr, a.PrefixLength) is Address subnet && subnet != a.Broadcast)
                yield return new Route(Cidr.Host(subnet), iface.Name, Table: Route.LocalTable, Type: RouteType.Broadcast, PreferredSource: addr);
        }
        else
        {
            if (a.PrefixLength < 128)
                yield return new Route(new Cidr(a.Network.Network, a.PrefixLength), iface.Name, Metric: 256);
            yield return new Route(Cidr.Host(addr), iface.Name, Table: Route.LocalTable, Type: RouteType.Local);
        }
    }

    /// <summary>
    /// Whether <paramref name="group"/> is one the kernel joins on <paramref name="iface"/> by itself (without a socket
    /// asking): 224.0.0.1 (ip_mc_up) on a device with an IPv4 address; ff01::1 and ff02::1 (ipv6_add_dev) on a device
    /// with an IPv6 address; the solicited-node group ff02::1:ffXX:XXXX of each of its IPv6 addresses (addrconf_join_solict,
    /// not on lo); ff01::2, ff02::2 and ff05::2 when IPv6 forwarding is on (dev_forward_change).
    /// </summary>
    public static bool IsOwnGroup(HostInterface iface, Address group, bool ipv6Forwarding)
    {
        if (group.Family == Family.IPv4)
            return (uint)group.Value == 0xE000_0001 && iface.Addresses.Any(a => a.Address.Family == Family.IPv4);
        if (!iface.Addresses.Any(a => a.Address.Family == Family.IPv6)) return false;
        UInt128 v = group.Value;
        UInt128 allNodesNode = (UInt128)0xFF01 << 112 | 1, allNodesLink = (UInt128)0xFF02 << 112 | 1;
        if (v == allNodesNode || v == allNodesLink) return true;
        if (ipv6Forwarding && (v == allNodesNode + 1 || v == allNodesLink + 1 || v == ((UInt128)0xFF05 << 112 | 2))) return true;
        if (iface.IsLoopback) return false;
        UInt128 solicitedPrefix = (UInt128)0xFF02 << 112 | (UInt128)1 << 32 | (UInt128)0xFF << 24;
        foreach (var a in iface.Addresses)
            if (a.Address.Family == Family.IPv6 && v == (solicitedPrefix | (a.Address.Value & 0xFF_FFFF))) return true;
        return false;
    }

    /// <summary>"main", "local", "default" or a number (1..2^32-1), as ip prints table ids.</summary>
    public static bool TryParseTable(string text, out int table)
    {
        switch (text)
        {
            case "main": table = Route.MainTable; return true;
            case "local": table = Route.LocalTable; return true;
            case "default": table = DefaultTable; return true;
        }
        if (uint.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var t) && t is > 0 and <= int.MaxValue)
        {
            table = (int)t;
            return true;
        }
        table = 0;
        return false;
    }

    public static bool TryParseRouteType(string text, out RouteType type)
    {
        switch (text)
        {
            case "unicast": type = RouteType.Unicast; return true;
            case "local": type = RouteType.Local; return true;
            case "broadcast": type = RouteType.Broadcast; return true;
            case "multicast": type = RouteType.Multicast; return true;
            case "blackhole": type = RouteType.Blackhole; return true;
            case "unreachable": type = RouteType.Unreachable; return true;
            case "prohibit": type = RouteType.Prohibit; return true;
            default: type = RouteType.Unicast; return false;
        }
    }

    /// <summary>"0x1", "0x1/0xff", "1" → mark and mask.</summary>
    public static bool TryParseMark(string text, out uint mark, out uint mask)
    {
        mask = 0xFFFFFFFF;
        var slash = text.IndexOf('/');
        var markText = slash < 0 ? text : text[..slash];
        if (!TryParseUInt(markText, out mark)) return false;
        return slash < 0 || TryParseUInt(text[(slash + 1)..], out mask);
    }

    public static bool TryParseUInt(string text, out uint value) =>
        text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? uint.TryParse(text.AsSpan(2), System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture, out value)
            : uint.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out value);
}
