using System.Collections.Immutable;
using Harness.Hosts.Loading;
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
    /// <summary>
    /// The nfnetlink_cttimeout policies the case defines ("nfct add timeout NAME inet|inet6 PROTO STATE SECONDS …"),
    /// which raw-table rules attach to new connections with <c>-j CT --timeout NAME</c>.
    /// </summary>
    public ImmutableArray<ConntrackTimeoutPolicy> ConntrackTimeouts { get; init; } = ImmutableArray<ConntrackTimeoutPolicy>.Empty;

    /// <summary>The timeout policy named <paramref name="name"/>, or null.</summary>
    public ConntrackTimeoutPolicy? FindConntrackTimeout(string name) => ConntrackTimeouts.FirstOrDefault(p => p.Name == name);

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
    int Mtu = 1500)
{
    /// <summary>
    /// The IPv4 and IPv6 multicast groups the host is a member of on this device, as `ip maddr` lists them (its inet and
    /// inet6 entries: groups some socket joined, and the kernel's own ones when read from a dump). The groups the kernel
    /// joins by itself (224.0.0.1, ff01::1, ff02::1, each address's solicited-node group, the all-routers groups when
    /// IPv6 forwarding is on) count as joined whether listed or not (<see cref="KernelDefaults.IsOwnGroup"/>).
    /// </summary>
    public ImmutableArray<Address> MulticastGroups { get; init; } = ImmutableArray<Address>.Empty;

    /// <summary>
    /// Whether the host is a member of <paramref name="group"/> on this device: a listed group or one the kernel joins
    /// by itself (<paramref name="ipv6Forwarding"/>: net.ipv6.conf.all.forwarding, which adds the all-routers groups).
    /// </summary>
    public bool IsMember(Address group, bool ipv6Forwarding) =>
        MulticastGroups.Contains(group) || KernelDefaults.IsOwnGroup(this, group, ipv6Forwarding);
}

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

/// <summary>
/// One route of one routing table (254 is "main", 255 "local"). <see cref="Mtu"/> is the route's mtu metric (`ip route …
/// mtu N`; 0 when not given: the device's MTU applies); <see cref="MtuLocked"/> is `mtu lock N`, which IPv6 forwarding
/// needs before it looks at the route's MTU (`ip -j route` does not print the lock, so a dump never sets it).
/// </summary>
public sealed record Route(
    Cidr Destination,
    string? Device,
    Address? Gateway = null,
    int Metric = 0,
    int Table = Route.MainTable,
    RouteType Type = RouteType.Unicast,
    Address? PreferredSource = null,
    int Mtu = 0,
    bool MtuLocked = false)
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

    /// <summary>net.ipv4.icmp_ratelimit in milliseconds (kernel default 1000): the per-destination ICMP error interval.</summary>
    public long IcmpRatelimitMs => GetLong("net.ipv4.icmp_ratelimit", 1000);

    /// <summary>net.ipv4.icmp_ratemask (kernel default 6168: dest unreachable, source quench, time exceeded, parameter problem).</summary>
    public long IcmpRatemask => GetLong("net.ipv4.icmp_ratemask", 0x1818);

    /// <summary>net.ipv4.icmp_msgs_per_sec (default 1000): the host-wide ICMP credit refill, shared by IPv4 and IPv6.</summary>
    public long IcmpMsgsPerSec => GetLong("net.ipv4.icmp_msgs_per_sec", 1000);

    /// <summary>net.ipv4.icmp_msgs_burst (default 50): the host-wide ICMP credit's ceiling.</summary>
    public long IcmpMsgsBurst => GetLong("net.ipv4.icmp_msgs_burst", 50);

    /// <summary>net.ipv6.icmp.ratelimit in milliseconds (kernel default 100).</summary>
    public long Icmpv6RatelimitMs => GetLong("net.ipv6.icmp.ratelimit", 100);

    /// <summary>
    /// net.ipv6.icmp.ratemask, a list of ICMPv6 types and ranges as sysctl prints it ("0-1,3-127", the default: every
    /// error type but packet too big), as 256 flags indexed by type. A value that does not parse gives the default.
    /// </summary>
    public ImmutableArray<bool> Icmpv6Ratemask =>
        ParseTypeList(Get("net.ipv6.icmp.ratemask")) ?? ParseTypeList("0-1,3-127")!.Value;

    private static ImmutableArray<bool>? ParseTypeList(string? text)
    {
        if (text is null) return null;
        var flags = new bool[256];
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        foreach (var raw in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            int dash = raw.IndexOf('-');
            var lowText = dash < 0 ? raw : raw[..dash];
            var highText = dash < 0 ? raw : raw[(dash + 1)..];
            if (!int.TryParse(lowText, System.Globalization.NumberStyles.None, inv, out var low)
                || !int.TryParse(highText, System.Globalization.NumberStyles.None, inv, out var high)
                || low > high || high > 255)
                return null;
            for (int t = low; t <= high; t++) flags[t] = true;
        }
        return ImmutableArray.Create(flags);
    }

    /// <summary>rp_filter for an interface: the kernel uses max(conf.all, conf.IFACE).</summary>
    public int RpFilter(string iface) => (int)Math.Max(
        GetLong("net.ipv4.conf.all.rp_filter", 0),
        GetLong($"net.ipv4.conf.{iface}.rp_filter", GetLong("net.ipv4.conf.default.rp_filter", 0)));

    public Sysctls With(string name, string value) => new(Values.SetItem(name, value));
}

/// <summary>
/// One conntrack timeout policy as nfnetlink_cttimeout keeps it: a name, the layer-3 family and layer-4 tracker it is
/// for, and the timeouts (seconds) the policy gives by the kernel's attribute names ("established", "unreplied", …).
/// States the policy leaves out keep the host's timeouts (the kernel fills a new policy from the protocol's current
/// per-namespace values before it applies the given ones).
/// </summary>
/// <param name="Protocol">The tracker's protocol number: 6 tcp, 17 udp, 136 udplite, 1 icmp, 58 icmpv6, 132 sctp, 47 gre, 255 generic.</param>
public sealed record ConntrackTimeoutPolicy(string Name, Family Family, byte Protocol, ImmutableSortedDictionary<string, long> Timeouts)
{
    /// <summary>The protocol names the policies take, with the tracker's protocol number.</summary>
    public static readonly IReadOnlyList<(string Name, byte Number)> Protocols =
    [
        ("tcp", 6), ("udp", 17), ("udplite", 136), ("icmp", 1), ("icmpv6", 58), ("sctp", 132), ("gre", 47), ("generic", 255),
    ];

    /// <summary>The timeout (state) names a policy of <paramref name="protocol"/> takes, as nfnetlink_cttimeout / nfct name them.</summary>
    public static IReadOnlyList<string> StatesOf(byte protocol) => protocol switch
    {
        6 => ["syn_sent", "syn_recv", "established", "fin_wait", "close_wait", "last_ack", "time_wait", "close", "syn_sent2", "retrans", "unacknowledged"],
        17 or 136 or 47 => ["unreplied", "replied"],
        132 => ["closed", "cookie_wait", "cookie_echoed", "established", "shutdown_sent", "shutdown_recd", "shutdown_ack_sent", "heartbeat_sent"],
        _ => ["timeout"],
    };

    /// <summary>The longest policy name (CTNL_TIMEOUT_NAME_MAX and xt_CT's timeout field hold 31 characters and a NUL).</summary>
    public const int MaxNameLength = 31;

    /// <summary>The largest timeout accepted, in seconds: the kernel keeps policy timeouts in jiffies (seconds × HZ) in 32 bits.</summary>
    public const long MaxSeconds = int.MaxValue / 1000;

    /// <summary>The protocol's name ("tcp", …, "generic").</summary>
    public string ProtocolName => Protocols.First(p => p.Number == Protocol).Name;
}
