using System.Collections.Immutable;
using Harness.Hosts;
using Harness.Net;

namespace Harness.Engine.Routing;

/// <summary>What a route lookup decided (the kernel's fib_result type plus where to send it).</summary>
public enum RouteKind
{
    /// <summary>For this host (a local address, the subnet broadcast, a multicast group).</summary>
    Local,
    Unicast,
    Broadcast,
    Multicast,
    Blackhole,
    Unreachable,
    Prohibit,

    /// <summary>No table had a route (the kernel's ENETUNREACH).</summary>
    NoRoute,
}

/// <summary>
/// The result of a FIB lookup: the kind, the egress device, the gateway, the preferred source and the table used, and the
/// route's mtu metric (0: none, the device's MTU applies) with its lock (<see cref="Harness.Engine.Mtu"/> says how they are used).
/// </summary>
public sealed record RouteResult(RouteKind Kind, string? Device, Address? Gateway, Address? PreferredSource, int Table, int Mtu = 0, bool MtuLocked = false)
{
    public bool IsLocal => Kind is RouteKind.Local or RouteKind.Broadcast or RouteKind.Multicast;
}

/// <summary>
/// The host's forwarding information base: every routing table (main, local, and any policy table) plus the
/// policy rules, looked up as the kernel does: rules by priority (fwmark, source, destination, input interface),
/// then the longest matching prefix of the chosen table, lowest metric first among equals.
/// The local table is completed from the interfaces' addresses (local and broadcast routes, as fib_add_ifaddr does),
/// and the main table with the connected subnets when the host description does not list them.
/// </summary>
public sealed class Fib
{
    /// <summary>The "default" table consulted by the last built-in rule.</summary>
    public const int DefaultTable = 253;

    private readonly Host _host;
    private readonly Dictionary<int, RouteTable> _tables = [];
    private readonly ImmutableArray<RoutingRule> _rules4;
    private readonly ImmutableArray<RoutingRule> _rules6;
    private readonly HashSet<Address> _localAddresses = [];
    private readonly HashSet<Address> _broadcastAddresses = [];

    public Fib(Host host)
    {
        _host = host;
        foreach (var route in host.Routes) TableFor(route.Table).Add(route);
        foreach (var iface in host.Interfaces) AddInterfaceRoutes(iface);
        foreach (var table in _tables.Values) table.Freeze();
        _rules4 = RulesFor(host, Family.IPv4);
        _rules6 = RulesFor(host, Family.IPv6);
        var all = _rules4.Concat(_rules6).ToList();
        _rulesUseSource = all.Any(r => r.From is not null);
        _rulesUseMark = all.Any(r => r.FwMark is not null);
        _rulesUseInterface = all.Any(r => r.InputInterface is not null);
    }

    public Host Host => _host;

    /// <summary>True when the address is configured on one of the host's interfaces.</summary>
    public bool IsLocalAddress(Address address) => _localAddresses.Contains(address);

    /// <summary>True for a subnet broadcast address of one of the host's IPv4 interfaces, or 255.255.255.255.</summary>
    public bool IsBroadcastAddress(Address address) =>
        _broadcastAddresses.Contains(address) || (address.Family == Family.IPv4 && (uint)address.Value == 0xFFFF_FFFF);

    /// <summary>The interface's first address of the family (MASQUERADE's and REJECT's source choice), or null.</summary>
    public Address? PrimaryAddress(string? interfaceName, Family family)
    {
        if (interfaceName is null) return null;
        var iface = _host.FindInterface(interfaceName);
        if (iface is null) return null;
        foreach (var a in iface.Addresses)
            if (a.Address.Family == family && !IsIpv6LinkLocal(a.Address)) return a.Address;
        foreach (var a in iface.Addresses)
            if (a.Address.Family == family) return a.Address;
        return null;
    }

    /// <summary>
    /// The source address the kernel picks for a packet it originates towards <paramref name="destination"/>:
    /// the route's preferred source, else the egress interface's address in the same subnet as the gateway or
    /// destination, else its primary address.
    /// </summary>
    public Address? SourceFor(Address destination, RouteResult route)
    {
        if (route.PreferredSource is Address pref) return pref;
        if (route.Kind == RouteKind.Local && IsLocalAddress(destination)) return destination;
        var iface = route.Device is null ? null : _host.FindInterface(route.Device);
        if (iface is null) return null;
        var target = route.Gateway ?? destination;
        foreach (var a in iface.Addresses)
            if (a.Address.Family == destination.Family && a.Network.Contains(target)) return a.Address;
        return PrimaryAddress(route.Device, destination.Family);
    }

    /// <summary>
    /// Looks up where a packet to <paramref name="destination"/> goes. <paramref name="inputInterface"/> is the ingress
    /// interface for arriving packets and null for locally generated ones ("lo" for the policy rules' iif, as the kernel).
    /// </summary>
    public RouteResult Lookup(Address destination, Address? source, uint mark, string? inputInterface)
    {
        if (destination.Family == Family.IPv4)
        {
            uint d = (uint)destination.Value;
            if (d == 0xFFFF_FFFF) return new RouteResult(RouteKind.Broadcast, inputInterface, null, null, Route.LocalTable);
            if ((d >> 28) == 0xE) return new RouteResult(RouteKind.Multicast, inputInterface, null, null, Route.LocalTable);
        }
        else if ((destination.Value >> 120) == 0xFF)
        {
            return new RouteResult(RouteKind.Multicast, inputInterface, null, null, Route.LocalTable);
        }
        if (!_rulesUseSource && !_rulesUseMark && !_rulesUseInterface)
        {
            // The usual host: no policy rule looks at anything but the destination, so it alone is the key.
            var byDestination = destination.Family == Family.IPv4 ? _cache4 : _cache6;
            if (byDestination.TryGetValue(destination.Value, out var hit)) return hit;
            if (byDestination.Count >= MaxCached) byDestination.Clear();
            return byDestination[destination.Value] = LookupUncached(destination, source, mark, inputInterface);
        }
        var key = new CacheKey(destination, _rulesUseSource ? source : null, _rulesUseMark ? mark : 0, _rulesUseInterface ? inputInterface : null);
        if (_cache.TryGetValue(key, out var cached)) return cached;
        if (_cache.Count >= MaxCached) _cache.Clear();
        var result = LookupUncached(destination, source, mark, inputInterface);
        _cache[key] = result;
        return result;
    }

    /// <summary>
    /// The device a locally made packet to 255.255.255.255 or a multicast group leaves by when no socket option names
    /// one: the device that holds the source address (not lo), else the device of the tables' route to the destination.
    /// </summary>
    public string? OutputDevice(Address destination, Address? source, uint mark)
    {
        if (source is Address src)
            foreach (var iface in _host.Interfaces)
                if (!iface.IsLoopback && iface.Addresses.Any(a => a.Address == src)) return iface.Name;
        return LookupUncached(destination, source, mark, null).Device;
    }

    private const int MaxCached = 1 << 16;
    private readonly Dictionary<CacheKey, RouteResult> _cache = new(CacheKeyComparer.Instance);
    private readonly Dictionary<UInt128, RouteResult> _cache4 = [], _cache6 = [];
    private readonly bool _rulesUseSource, _rulesUseMark, _rulesUseInterface;

    /// <summary>The route cache's key: only the inputs some policy rule looks at.</summary>
    private readonly record struct CacheKey(Address Destination, Address? Source, uint Mark, string? InputInterface);

    /// <summary>The record's equality, field by field, with a cheap hash (two lookups per packet: the route and rp_filter's route back).</summary>
    private sealed class CacheKeyComparer : IEqualityComparer<CacheKey>
    {
        public static readonly CacheKeyComparer Instance = new();

        public bool Equals(CacheKey a, CacheKey b) =>
            a.Destination.Value == b.Destination.Value && a.Destination.Family == b.Destination.Family && a.Mark == b.Mark
            && a.Source.HasValue == b.Source.HasValue
            && (!a.Source.HasValue || (a.Source.GetValueOrDefault().Value == b.Source.GetValueOrDefault().Value
                                       && a.Source.GetValueOrDefault().Family == b.Source.GetValueOrDefault().Family))
            && string.Equals(a.InputInterface, b.InputInterface, StringComparison.Ordinal);

        public int GetHashCode(CacheKey k)
        {
            ulong h = ((ulong)k.Destination.Value ^ (ulong)(k.Destination.Value >> 64)) * 0x9E3779B97F4A7C15UL;
            if (k.Source is { } source) h ^= ((ulong)source.Value ^ (ulong)(source.Value >> 64)) * 0xC2B2AE3D27D4EB4FUL;
            h ^= k.Mark;
            if (k.InputInterface is { } name) h ^= (ulong)(uint)name.GetHashCode(StringComparison.Ordinal) << 17;
            return (int)(h ^ (h >> 32));
        }
    }

    private RouteResult LookupUncached(Address destination, Address? source, uint mark, string? inputInterface)
    {

        var rules = destination.Family == Family.IPv4 ? _rules4 : _rules6;
        var iif = inputInterface ?? "lo";
        foreach (var rule in rules)
        {
            if (!RuleMatches(rule, destination, source, mark, iif)) continue;
            switch (rule.Action)
            {
                case RouteType.Blackhole: return new RouteResult(RouteKind.Blackhole, null, null, null, rule.Table);
                case RouteType.Unreachable: return new RouteResult(RouteKind.Unreachable, null, null, null, rule.Table);
                case RouteType.Prohibit: return new RouteResult(RouteKind.Prohibit, null, null, null, rule.Table);
            }
            if (!_tables.TryGetValue(rule.Table, out var table)) continue;
            var route = table.Find(destination);
            if (route is null) continue;
            return new RouteResult(KindOf(route.Type), route.Device, route.Gateway, route.PreferredSource, rule.Table, route.Mtu, route.MtuLocked);
        }
        return new RouteResult(RouteKind.NoRoute, null, null, null, 0);
    }

    private static bool RuleMatches(RoutingRule rule, Address destination, Address? source, uint mark, string iif)
    {
        if (rule.From is Cidr from && !(source is Address s && from.Contains(s)) && from.PrefixLength != 0) return false;
        if (rule.To is Cidr to && !to.Contains(destination) && to.PrefixLength != 0) return false;
        if (rule.FwMark is uint fw && (mark & rule.FwMask) != fw) return false;
        if (rule.InputInterface is string name && name != iif) return false;
        return true;
    }

    private static RouteKind KindOf(RouteType type) => type switch
    {
        RouteType.Local => RouteKind.Local,
        RouteType.Broadcast => RouteKind.Broadcast,
        RouteType.Multicast => RouteKind.Multicast,
        RouteType.Blackhole => RouteKind.Blackhole,
        RouteType.Unreachable => RouteKind.Unreachable,
        RouteType.Prohibit => RouteKind.Prohibit,
        _ => RouteKind.Unicast,
    };

    private static ImmutableArray<RoutingRule> RulesFor(Host host, Family family)
    {
        var given = host.RoutingRules.Where(r => r.Family == family).ToList();
        if (given.Count == 0)
        {
            given =
            [
                new RoutingRule(family, 0, Route.LocalTable),
                new RoutingRule(family, 32766, Route.MainTable),
                new RoutingRule(family, 32767, DefaultTable),
            ];
        }
        // Stable: equal priorities keep their listed order, as the kernel keeps insertion order.
        return [.. given.Select((r, i) => (r, i)).OrderBy(x => x.r.Priority).ThenBy(x => x.i).Select(x => x.r)];
    }

    private void AddInterfaceRoutes(HostInterface iface)
    {
        foreach (var a in iface.Addresses)
        {
            _localAddresses.Add(a.Address);
            var local = TableFor(Route.LocalTable);
            local.AddIfMissing(new Route(Cidr.Host(a.Address), iface.Name, Table: Route.LocalTable, Type: RouteType.Local, PreferredSource: a.Address));
            if (a.PrefixLength >= a.Address.BitLength) continue;
            var network = new Cidr(new Cidr(a.Address, a.PrefixLength).Network, a.PrefixLength);
            if (iface.IsLoopback)
            {
                local.AddIfMissing(new Route(network, iface.Name, Table: Route.LocalTable, Type: RouteType.Local, PreferredSource: a.Address));
                continue;
            }
            TableFor(Route.MainTable).AddIfMissing(new Route(network, iface.Name, Table: Route.MainTable, PreferredSource: a.Address));
            if (a.Address.Family != Family.IPv4) continue;
            // fib_add_ifaddr: the address's "brd" when given, and the subnet's broadcast below /31 in any case
            if (a.Broadcast is Address given && (uint)given.Value != 0xFFFF_FFFF) AddBroadcast(given);
            if (a.PrefixLength < 31) AddBroadcast(new Address(network.Network.Value | (~network.Mask & 0xFFFF_FFFF), Family.IPv4));

            void AddBroadcast(Address broadcast)
            {
                _broadcastAddresses.Add(broadcast);
                local.AddIfMissing(new Route(Cidr.Host(broadcast), iface.Name, Table: Route.LocalTable, Type: RouteType.Broadcast, PreferredSource: a.Address));
            }
        }
    }

    private RouteTable TableFor(int id)
    {
        if (!_tables.TryGetValue(id, out var t)) _tables[id] = t = new RouteTable();
        return t;
    }

    private static bool IsIpv6LinkLocal(Address a) => a.Family == Family.IPv6 && (a.Value >> 118) == 0x3FA;

    /// <summary>One routing table: routes grouped by prefix length, longest first, then by metric.</summary>
    private sealed class RouteTable
    {
        private readonly List<Route> _routes = [];
        private (int Prefix, Dictionary<(UInt128, Family), Route> ByNetwork)[] _byPrefix = [];

        public void Add(Route route) => _routes.Add(route);

        public void AddIfMissing(Route route)
        {
            foreach (var r in _routes)
                if (r.Destination.Family == route.Destination.Family && r.Destination.PrefixLength == route.Destination.PrefixLength
                    && r.Destination.Network == route.Destination.Network)
                    return;
            _routes.Add(route);
        }

        public void Freeze()
        {
            var groups = new SortedDictionary<int, Dictionary<(UInt128, Family), Route>>(Comparer<int>.Create((a, b) => b.CompareTo(a)));
            // Lowest metric wins among routes to the same prefix; the first listed among equal metrics.
            foreach (var route in _routes.Select((r, i) => (r, i)).OrderBy(x => x.r.Metric).ThenBy(x => x.i).Select(x => x.r))
            {
                if (!groups.TryGetValue(route.Destination.PrefixLength, out var byNet))
                    groups[route.Destination.PrefixLength] = byNet = [];
                byNet.TryAdd((route.Destination.Network.Value, route.Destination.Family), route);
            }
            _byPrefix = [.. groups.Select(g => (g.Key, g.Value))];
        }

        public Route? Find(Address destination)
        {
            foreach (var (prefix, byNet) in _byPrefix)
            {
                if (prefix > destination.BitLength) continue;
                var network = new Cidr(destination, prefix).Network.Value;
                if (byNet.TryGetValue((network, destination.Family), out var route)) return route;
            }
            return null;
        }
    }
}
