using System.Collections.Immutable;
using Harness.Net;

namespace Harness.Hosts;

/// <summary>
/// The machine whose firewall is under test: interfaces, routing tables, policy routing rules and the sysctls that
/// change netfilter's behaviour. Immutable; loaded from YAML or from "ip -j" dumps.
/// </summary>
public sealed record Host(
    ImmutableArray<HostInterface> Interfaces,
    ImmutableArray<Route> Routes,
    ImmutableArray<RoutingRule> RoutingRules,
    Sysctls Sysctls)
{
    public HostInterface? FindInterface(string name) => Interfaces.FirstOrDefault(i => i.Name == name);

    /// <summary>Every address configured on any interface (the kernel's "local" addresses).</summary>
    public IEnumerable<InterfaceAddress> AllAddresses => Interfaces.SelectMany(i => i.Addresses);
}

/// <summary>A network interface; <see cref="Index"/> is the ifindex (used by SLL2 captures and ip -j output).</summary>
public sealed record HostInterface(
    string Name,
    int Index,
    MacAddress Mac,
    ImmutableArray<InterfaceAddress> Addresses,
    bool IsLoopback = false,
    int Mtu = 1500);

/// <summary>An address with its prefix (e.g. 10.1.0.1/24) and, for IPv4, the broadcast address.</summary>
public sealed record InterfaceAddress(Address Address, int PrefixLength, Address? Broadcast = null)
{
    public Cidr Network => new(Address, PrefixLength);
}

/// <summary>The kernel's route types (ip route's first word).</summary>
public enum RouteType
{
    Unicast,
    Local,
    Broadcast,
    Multicast,
    Blackhole,
    Unreachable,
    Prohibit,
}

/// <summary>One route of one routing table (254 is "main", 255 "local").</summary>
public sealed record Route(
    Cidr Destination,
    string? Device,
    Address? Gateway = null,
    int Metric = 0,
    int Table = Route.MainTable,
    RouteType Type = RouteType.Unicast,
    Address? PreferredSource = null)
{
    public const int MainTable = 254;
    public const int LocalTable = 255;
    public Family Family => Destination.Family;
}

/// <summary>An "ip rule": policy routing by source, destination, fwmark or input interface.</summary>
public sealed record RoutingRule(
    Family Family,
    int Priority,
    int Table,
    Cidr? From = null,
    Cidr? To = null,
    uint? FwMark = null,
    uint FwMask = 0xFFFFFFFF,
    string? InputInterface = null,
    RouteType Action = RouteType.Unicast);

/// <summary>
/// The sysctls that change behaviour, as "name = value" strings (dotted names, as "sysctl -a" prints them);
/// anything absent has the kernel's default.
/// </summary>
public sealed record Sysctls(ImmutableSortedDictionary<string, string> Values)
{
    public static readonly Sysctls Defaults = new(ImmutableSortedDictionary<string, string>.Empty.WithComparers(StringComparer.Ordinal));

    public string? Get(string name) => Values.TryGetValue(name, out var v) ? v : null;

    public long GetLong(string name, long defaultValue) =>
        long.TryParse(Get(name), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : defaultValue;

    public bool IpForward => GetLong("net.ipv4.ip_forward", 0) != 0;
    public bool Ipv6Forwarding => GetLong("net.ipv6.conf.all.forwarding", 0) != 0;
    public bool TcpLoose => GetLong("net.netfilter.nf_conntrack_tcp_loose", 1) != 0;
    public bool TcpBeLiberal => GetLong("net.netfilter.nf_conntrack_tcp_be_liberal", 0) != 0;
    public long ConntrackMax => GetLong("net.netfilter.nf_conntrack_max", 262144);

    /// <summary>rp_filter for an interface: the kernel uses max(conf.all, conf.IFACE).</summary>
    public int RpFilter(string iface) => (int)Math.Max(
        GetLong("net.ipv4.conf.all.rp_filter", 0),
        GetLong($"net.ipv4.conf.{iface}.rp_filter", GetLong("net.ipv4.conf.default.rp_filter", 0)));

    public Sysctls With(string name, string value) => new(Values.SetItem(name, value));
}
