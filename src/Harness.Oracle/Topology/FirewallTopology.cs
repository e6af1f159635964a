using System.Globalization;
using System.Text;
using Harness.Hosts;
using Harness.Net;
using Harness.Oracle.Native;

namespace Harness.Oracle.Topology;

/// <summary>One interface of the firewall: its veth end in the firewall namespace and the passive peer at the other end.</summary>
public sealed record Wire(string InterfaceName, int Index, string PeerNamespace, MacAddress FirewallMac, MacAddress PeerMac);

/// <summary>
/// The throwaway namespaces for one host: a firewall namespace with the host's interfaces (veth ends with the host's
/// MACs), addresses, routes, policy rules and sysctls, and one passive peer namespace per interface (an nft netdev
/// ingress chain drops everything, so the peer's stack never answers). Dispose deletes all of it.
/// </summary>
public sealed class FirewallTopology : IDisposable
{
    /// <summary>The name of the wire end inside each peer namespace.</summary>
    public const string PeerInterface = "wire";

    private static int _sequence;
    private readonly List<string> _namespaces = [];
    private readonly List<string> _notes = [];

    public string FirewallNamespace { get; }
    public IReadOnlyList<Wire> Wires { get; private set; } = [];
    public bool Ipv6 { get; }

    /// <summary>What could not be reproduced exactly (a sysctl a namespace cannot set, …).</summary>
    public IReadOnlyList<string> Notes => _notes;

    private FirewallTopology(string prefix, bool ipv6)
    {
        FirewallNamespace = prefix + "fw";
        Ipv6 = ipv6;
    }

    /// <summary>Builds the namespaces for <paramref name="host"/>; IPv6 stays disabled unless <paramref name="ipv6"/>.</summary>
    public static FirewallTopology Create(Host host, bool ipv6)
    {
        Preflight.Require();
        LiveNamespaces.SweepOrphans();
        var prefix = string.Create(CultureInfo.InvariantCulture,
            $"{LiveNamespaces.Prefix}{Environment.ProcessId}-{Interlocked.Increment(ref _sequence)}-");
        var topology = new FirewallTopology(prefix, ipv6);
        try
        {
            topology.Build(host, prefix);
            return topology;
        }
        catch
        {
            topology.Dispose();
            throw;
        }
    }

    private void Build(Host host, string prefix)
    {
        AddNamespace(FirewallNamespace);
        var physical = host.Interfaces.Where(i => !i.IsLoopback).ToList();
        var wires = new List<Wire>();
        for (int i = 0; i < physical.Count; i++)
        {
            var peer = prefix + "p" + i.ToString(CultureInfo.InvariantCulture);
            AddNamespace(peer);
            SetSysctls(peer, ["net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"]);
            wires.Add(new Wire(physical[i].Name, i, peer, physical[i].Mac, PeerMac(i)));
        }

        var (early, perInterface) = SplitSysctls(host);
        SetSysctls(FirewallNamespace, BaseSysctls());
        TrySysctls(FirewallNamespace, early);

        var batch = new StringBuilder();
        batch.Append("link set lo up\n");
        foreach (var (wire, iface) in wires.Zip(physical))
        {
            batch.Append(CultureInfo.InvariantCulture,
                $"link add {iface.Name} address {Mac(iface.Mac)} mtu {iface.Mtu} type veth peer name {PeerInterface} netns {wire.PeerNamespace} address {Mac(wire.PeerMac)} mtu {iface.Mtu}\n");
        }
        IpBatch(FirewallNamespace, batch.ToString());
        foreach (var wire in wires)
        {
            Command.InNamespace(wire.PeerNamespace, "ip", ["link", "set", PeerInterface, "up"]);
            Command.InNamespace(wire.PeerNamespace, "nft", ["-f", "-"],
                $"table netdev hxpassive {{ chain dropall {{ type filter hook ingress device {PeerInterface} priority 0; policy drop; }}\n}}\n");
            Command.InNamespace(FirewallNamespace, "ethtool", ["-K", wire.InterfaceName, "rx", "off", "tx", "off"]);
        }
        TrySysctls(FirewallNamespace, perInterface);

        var config = new StringBuilder();
        foreach (var iface in host.Interfaces)
        {
            var device = iface.IsLoopback ? "lo" : iface.Name;
            foreach (var a in iface.Addresses)
            {
                if (a.Address.Family == Family.IPv6 && !Ipv6) continue;
                if (iface.IsLoopback && IsDefaultLoopback(a)) continue;
                config.Append(CultureInfo.InvariantCulture, $"address add {a.Address}/{a.PrefixLength}");
                if (a.Broadcast is { } b) config.Append(CultureInfo.InvariantCulture, $" broadcast {b}");
                if (a.Address.Family == Family.IPv6) config.Append(" nodad");
                config.Append(CultureInfo.InvariantCulture, $" dev {device}\n");
            }
        }
        foreach (var wire in wires) config.Append(CultureInfo.InvariantCulture, $"link set {wire.InterfaceName} up\n");
        IpBatch(FirewallNamespace, config.ToString());

        foreach (var family in Ipv6 ? new[] { Family.IPv4, Family.IPv6 } : [Family.IPv4])
        {
            var routes = new StringBuilder();
            foreach (var route in host.Routes.Where(r => r.Table != Route.LocalTable && r.Family == family))
                routes.Append(RouteCommand(route)).Append('\n');
            foreach (var rule in host.RoutingRules.Where(r => !IsDefaultRule(r) && r.Family == family))
                routes.Append(RuleCommand(rule)).Append('\n');
            if (routes.Length > 0) IpBatch(FirewallNamespace, routes.ToString(), family);
        }
        Wires = wires;
    }

    /// <summary>Static neighbour entries so the firewall never needs ARP or neighbour discovery.</summary>
    public void SetNeighbours(IEnumerable<(string Interface, Address Address, MacAddress Mac)> entries)
    {
        var batch = new StringBuilder();
        foreach (var (iface, address, mac) in entries.Distinct())
        {
            if (address.Family == Family.IPv6 && !Ipv6) continue;
            batch.Append(CultureInfo.InvariantCulture, $"neigh replace {address} lladdr {Mac(mac)} dev {iface} nud permanent\n");
        }
        if (batch.Length > 0) IpBatch(FirewallNamespace, batch.ToString());
    }

    public Wire WireFor(string interfaceName) =>
        Wires.FirstOrDefault(w => w.InterfaceName == interfaceName)
        ?? throw new OracleException($"the host has no interface '{interfaceName}' (interfaces: {string.Join(", ", Wires.Select(w => w.InterfaceName))})");

    /// <summary>The MAC of the passive peer on wire <paramref name="index"/>: locally administered, 02:00:00:00:xx:01.</summary>
    public static MacAddress PeerMac(int index) => new(0x0200_0000_0001UL | ((ulong)(index & 0xFFFF) << 8));

    private static IEnumerable<string> BaseSysctls() =>
    [
        "net.ipv4.icmp_ratelimit=0",
        "net.ipv4.icmp_msgs_per_sec=1000000",
        "net.ipv4.icmp_msgs_burst=1000000",
    ];

    private IEnumerable<string> FamilySysctls() => Ipv6
        ? ["net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.dad_transmits=0",
           "net.ipv6.conf.default.dad_transmits=0", "net.ipv6.conf.all.router_solicitations=0",
           "net.ipv6.conf.default.router_solicitations=0", "net.ipv6.conf.all.accept_ra=0", "net.ipv6.conf.default.accept_ra=0",
           "net.ipv6.icmp.ratelimit=0"]
        : ["net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"];

    private (List<string> Early, List<string> PerInterface) SplitSysctls(Host host)
    {
        var names = host.Interfaces.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var early = new List<string>(FamilySysctls());
        var perInterface = new List<string>();
        foreach (var (name, value) in host.Sysctls.Values)
        {
            if (!name.StartsWith("net.", StringComparison.Ordinal))
            {
                _notes.Add($"sysctl {name} is not per network namespace: not applied");
                continue;
            }
            var parts = name.Split('.');
            bool forInterface = parts.Length > 3 && parts[2] is "conf" or "neigh" && names.Contains(parts[3]);
            (forInterface ? perInterface : early).Add($"{name}={value}");
        }
        return (early, perInterface);
    }

    private static void SetSysctls(string ns, IEnumerable<string> assignments)
    {
        foreach (var a in assignments)
        {
            var r = Command.RunInNamespace(ns, "sysctl", ["-q", "-w", a]);
            if (r.ExitCode != 0 && !a.StartsWith("net.ipv4.icmp_msgs", StringComparison.Ordinal))
                throw new OracleException($"sysctl -w {a} failed in namespace {ns}: {r.Error.Trim()}");
        }
    }

    private void TrySysctls(string ns, IEnumerable<string> assignments)
    {
        foreach (var a in assignments)
        {
            var r = Command.RunInNamespace(ns, "sysctl", ["-q", "-w", a]);
            if (r.ExitCode != 0) _notes.Add($"sysctl {a} could not be set in a network namespace: {r.Error.Trim()}");
        }
    }

    private static void IpBatch(string ns, string commands, Family? family = null) =>
        Command.Check("ip", family == Family.IPv6 ? ["-6", "-n", ns, "-batch", "-"] : ["-n", ns, "-batch", "-"], commands);

    private static string RouteCommand(Route r)
    {
        var sb = new StringBuilder("route replace ");
        sb.Append(r.Type.ToString().ToLowerInvariant()).Append(' ').Append(r.Destination);
        if (r.Gateway is { } gw) sb.Append(" via ").Append(gw);
        if (r.Device is { } dev && r.Type == RouteType.Unicast) sb.Append(" dev ").Append(dev);
        if (r.Metric != 0) sb.Append(CultureInfo.InvariantCulture, $" metric {r.Metric}");
        if (r.Table != Route.MainTable) sb.Append(CultureInfo.InvariantCulture, $" table {r.Table}");
        if (r.PreferredSource is { } src) sb.Append(" src ").Append(src);
        if (r.Gateway is not null) sb.Append(" onlink");
        return sb.ToString();
    }

    private static string RuleCommand(RoutingRule r)
    {
        var sb = new StringBuilder("rule add");
        sb.Append(CultureInfo.InvariantCulture, $" priority {r.Priority}");
        if (r.From is { } from) sb.Append(" from ").Append(from);
        if (r.To is { } to) sb.Append(" to ").Append(to);
        if (r.FwMark is { } mark) sb.Append(CultureInfo.InvariantCulture, $" fwmark 0x{mark:x}/0x{r.FwMask:x}");
        if (r.InputInterface is { } iif) sb.Append(" iif ").Append(iif);
        sb.Append(r.Action switch
        {
            RouteType.Unicast => string.Create(CultureInfo.InvariantCulture, $" table {r.Table}"),
            RouteType.Blackhole => " blackhole",
            RouteType.Unreachable => " unreachable",
            RouteType.Prohibit => " prohibit",
            _ => throw new OracleException($"ip rule action {r.Action} is not supported by the oracle"),
        });
        return sb.ToString();
    }

    private static bool IsDefaultRule(RoutingRule r) =>
        r.From is null && r.To is null && r.FwMark is null && r.InputInterface is null && r.Action == RouteType.Unicast
        && ((r.Priority == 0 && r.Table == Route.LocalTable) || (r.Priority == 32766 && r.Table == Route.MainTable)
            || (r.Priority == 32767 && r.Table == 253));

    private static bool IsDefaultLoopback(InterfaceAddress a) =>
        (a.Address.Family == Family.IPv4 && a.Address.ToString() == "127.0.0.1" && a.PrefixLength == 8)
        || (a.Address.Family == Family.IPv6 && a.Address.ToString() == "::1");

    private static string Mac(MacAddress mac) => mac.ToString().ToLowerInvariant();

    private void AddNamespace(string name)
    {
        Command.Check("ip", ["netns", "add", name]);
        LiveNamespaces.Add(name);
        _namespaces.Add(name);
    }

    public void Dispose()
    {
        for (int i = _namespaces.Count - 1; i >= 0; i--) LiveNamespaces.Delete(_namespaces[i]);
        _namespaces.Clear();
    }
}
