using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using Harness.Net;

namespace Harness.Hosts.Loading;

/// <summary>
/// Reads what iproute2 prints with -j: "ip -j addr", "ip -j route show table all", "ip -j rule" (and "ip -6 -j rule"),
/// "ip -j maddr".
/// Keys that change forwarding but that the host model cannot express are errors naming the entry; keys that only
/// describe (protocol, scope, flags, lifetimes, …) are skipped.
/// </summary>
internal static class IpJsonReader
{
    private static readonly string[] AddrIgnored =
    [
        "link", "flags", "qdisc", "operstate", "group", "txqlen", "link_type", "broadcast", "link_index",
        "link_netnsid", "permaddr", "altnames", "min_mtu", "max_mtu", "promiscuity", "allmulti", "num_tx_queues",
        "num_rx_queues", "gso_max_size", "gso_max_segs", "linkinfo", "inet6_addr_gen_mode", "stats64", "ifalias",
        "parentbus", "parentdev", "proto_down", "gro_max_size", "tso_max_size", "tso_max_segs", "gro_ipv4_max_size",
        "gso_ipv4_max_size", "netnsid", "event",
    ];

    private static readonly string[] AddrInfoIgnored =
    [
        "scope", "label", "valid_life_time", "preferred_life_time", "dynamic", "noprefixroute", "tentative", "nodad",
        "deprecated", "mngtmpaddr", "home", "optimistic", "dadfailed", "stable-privacy", "temporary", "secondary",
        "autojoin", "metric", "protocol",
    ];

    private static readonly string[] RouteIgnored = ["protocol", "scope", "flags", "pref", "expires", "cache", "linkdown", "rt_offload", "rt_trap", "offload", "trap"];

    private static readonly string[] RuleIgnored = ["protocol", "iif_detached", "oif_detached"];

    public static ImmutableArray<HostInterface> ReadAddresses(string file, string text)
    {
        var result = ImmutableArray.CreateBuilder<HostInterface>();
        int n = 0;
        foreach (var link in Entries(file, text))
        {
            n++;
            var where = $"entry {n}";
            var name = String(file, link, "ifname", where);
            where = $"interface '{name}'";
            int index = Int(file, link, "ifindex", where);
            int mtu = link.TryGetProperty("mtu", out var m) ? Int(file, link, "mtu", where) : 1500;
            bool loopback = (link.TryGetProperty("link_type", out var lt) && lt.GetString() == "loopback")
                || (link.TryGetProperty("flags", out var fl) && fl.ValueKind == JsonValueKind.Array && fl.EnumerateArray().Any(f => f.GetString() == "LOOPBACK"));
            var mac = new MacAddress(0);
            if (link.TryGetProperty("address", out var macText) && macText.GetString() is { } mt && !MacAddress.TryParse(mt, out mac))
                mac = new MacAddress(0); // non-Ethernet link (tunnel, ppp): no MAC for netfilter to match
            // A bridge, bond or VRF port does not take part in IP routing on its own: refuse it rather than model it wrongly.
            if (link.TryGetProperty("master", out var master))
                throw Error(file, $"{where}: is a port of '{master.GetString()}' (bridge, bond or VRF), which Harness does not model; leave it out of the dump");
            var addresses = ImmutableArray.CreateBuilder<InterfaceAddress>();
            foreach (var prop in link.EnumerateObject())
            {
                if (prop.Name is "ifindex" or "ifname" or "mtu" or "address" or "addr_info" || AddrIgnored.Contains(prop.Name)) continue;
                throw Error(file, $"{where}: unknown key '{prop.Name}'");
            }
            if (link.TryGetProperty("addr_info", out var infos))
            {
                foreach (var info in infos.EnumerateArray())
                {
                    foreach (var prop in info.EnumerateObject())
                    {
                        if (prop.Name is "family" or "local" or "prefixlen" or "broadcast" or "address" or "anycast" || AddrInfoIgnored.Contains(prop.Name)) continue;
                        throw Error(file, $"{where}: unknown address key '{prop.Name}'");
                    }
                    var local = ParseAddress(file, String(file, info, "local", where), where);
                    int len = Int(file, info, "prefixlen", where);
                    if (len < 0 || len > local.BitLength) throw Error(file, $"{where}: prefix length {len} out of range for {local}");
                    // no "broadcast" key: the address has none (ifa_broadcast 0, "ip addr add" without "brd"); the
                    // kernel still adds the subnet's broadcast route, but the netbios-ns helper finds no broadcast
                    Address? brd = info.TryGetProperty("broadcast", out var b) && b.GetString() is { } bt
                        ? ParseAddress(file, bt, where)
                        : null;
                    addresses.Add(new InterfaceAddress(local, len, brd));
                }
            }
            result.Add(new HostInterface(name, index, mac, addresses.ToImmutable(), loopback, mtu));
        }
        return result.ToImmutable();
    }

    public static ImmutableArray<Route> ReadRoutes(string file, string text)
    {
        var result = ImmutableArray.CreateBuilder<Route>();
        int n = 0;
        foreach (var r in Entries(file, text))
        {
            n++;
            var dstText = String(file, r, "dst", $"entry {n}");
            var where = $"entry {n} (dst {dstText})";
            foreach (var prop in r.EnumerateObject())
            {
                if (prop.Name is "type" or "dst" or "gateway" or "dev" or "table" or "metric" or "prefsrc" or "metrics" || RouteIgnored.Contains(prop.Name)) continue;
                throw Error(file, $"{where}: unsupported route key '{prop.Name}'" + (prop.Name == "nexthops" ? " (multipath routes are not modelled)" : ""));
            }
            Address? gateway = r.TryGetProperty("gateway", out var g) ? ParseAddress(file, g.GetString() ?? "", where) : null;
            Address? prefsrc = r.TryGetProperty("prefsrc", out var p) ? ParseAddress(file, p.GetString() ?? "", where) : null;
            // ip -j route has no family field: a default route's family comes from its gateway or source, and
            // only IPv6 routes carry "pref".
            var family = gateway?.Family ?? prefsrc?.Family ?? (r.TryGetProperty("pref", out _) ? Family.IPv6 : Family.IPv4);
            Cidr dst;
            if (dstText == "default") dst = new Cidr(family == Family.IPv4 ? Address.V4(0) : Address.Parse("::"), 0);
            else if (!Cidr.TryParse(dstText, out dst)) throw Error(file, $"{where}: invalid destination '{dstText}'");
            var type = RouteType.Unicast;
            if (r.TryGetProperty("type", out var t) && !KernelDefaults.TryParseRouteType(t.GetString() ?? "", out type))
                throw Error(file, $"{where}: unsupported route type '{t.GetString()}'");
            int table = Route.MainTable;
            if (r.TryGetProperty("table", out var tb))
            {
                var tt = tb.ValueKind == JsonValueKind.Number ? tb.GetRawText() : tb.GetString() ?? "";
                if (!KernelDefaults.TryParseTable(tt, out table))
                    throw Error(file, $"{where}: table '{tt}' is not a number or main/local/default (dump with 'ip -N -j route show table all' for numeric table ids)");
            }
            int metric = r.TryGetProperty("metric", out _) ? Int(file, r, "metric", where) : 0;
            string? dev = r.TryGetProperty("dev", out var d) ? d.GetString() : null;
            var (mtu, locked) = RouteMtu(file, r, where);
            result.Add(new Route(dst, dev, gateway, metric, table, type, prefsrc, mtu, locked));
        }
        return result.ToImmutable();
    }

    /// <summary>
    /// The route's mtu metric: "metrics": [{"mtu": 1400, …}] (iproute2 6.1 prints no lock in JSON; a ["lock", 1400]
    /// form is read as locked). The other metrics (advmss, hoplimit, window, …) only shape the host's own TCP and are
    /// skipped. 0 when there is none.
    /// </summary>
    private static (int Mtu, bool Locked) RouteMtu(string file, JsonElement route, string where)
    {
        if (!route.TryGetProperty("metrics", out var metrics)) return (0, false);
        if (metrics.ValueKind != JsonValueKind.Array) throw Error(file, $"{where}: 'metrics' is not a list");
        foreach (var m in metrics.EnumerateArray())
        {
            if (m.ValueKind != JsonValueKind.Object || !m.TryGetProperty("mtu", out var mtu)) continue;
            bool locked = false;
            if (mtu.ValueKind == JsonValueKind.Array)
            {
                locked = mtu.EnumerateArray().Any(e => e.ValueKind == JsonValueKind.String && e.GetString() == "lock");
                mtu = mtu.EnumerateArray().FirstOrDefault(e => e.ValueKind == JsonValueKind.Number);
            }
            if (mtu.ValueKind != JsonValueKind.Number || !mtu.TryGetInt32(out var value) || value is < 68 or > 65535)
                throw Error(file, $"{where}: invalid route mtu '{mtu.GetRawText()}'");
            return (value, locked);
        }
        return (0, false);
    }

    public static ImmutableArray<RoutingRule> ReadRules(string file, string text, Family defaultFamily)
    {
        var result = ImmutableArray.CreateBuilder<RoutingRule>();
        int n = 0;
        foreach (var r in Entries(file, text))
        {
            n++;
            int priority = Int(file, r, "priority", $"entry {n}");
            var where = string.Create(CultureInfo.InvariantCulture, $"rule {priority}");
            foreach (var prop in r.EnumerateObject())
            {
                if (prop.Name is "priority" or "src" or "srclen" or "dst" or "dstlen" or "fwmark" or "fwmask" or "iif" or "table" or "action" || RuleIgnored.Contains(prop.Name)) continue;
                throw Error(file, $"{where}: unsupported ip rule key '{prop.Name}'" + (prop.Name == "not" ? " (inverted rules are not modelled)" : ""));
            }
            var from = Selector(file, r, "src", "srclen", where);
            var to = Selector(file, r, "dst", "dstlen", where);
            var family = from?.Family ?? to?.Family ?? defaultFamily;
            uint? mark = null;
            uint mask = 0xFFFFFFFF;
            if (r.TryGetProperty("fwmark", out var fm))
            {
                if (!KernelDefaults.TryParseUInt(fm.GetString() ?? "", out var mv)) throw Error(file, $"{where}: invalid fwmark '{fm.GetString()}'");
                mark = mv;
                if (r.TryGetProperty("fwmask", out var fk) && !KernelDefaults.TryParseUInt(fk.GetString() ?? "", out mask))
                    throw Error(file, $"{where}: invalid fwmask '{fk.GetString()}'");
            }
            string? iif = r.TryGetProperty("iif", out var i) ? i.GetString() : null;
            var action = RouteType.Unicast;
            int table = 0;
            if (r.TryGetProperty("action", out var a))
            {
                if (!KernelDefaults.TryParseRouteType(a.GetString() ?? "", out action) || action is not (RouteType.Blackhole or RouteType.Unreachable or RouteType.Prohibit))
                    throw Error(file, $"{where}: unsupported ip rule action '{a.GetString()}'");
            }
            else
            {
                var tt = r.TryGetProperty("table", out var tb) ? (tb.ValueKind == JsonValueKind.Number ? tb.GetRawText() : tb.GetString() ?? "") : "";
                if (!KernelDefaults.TryParseTable(tt, out table)) throw Error(file, $"{where}: table '{tt}' is not a number or main/local/default");
            }
            result.Add(new RoutingRule(family, priority, table, from, to, mark, mask, iif, action));
        }
        return result.ToImmutable();
    }

    /// <summary>
    /// "ip -j maddr": per interface ("ifname"), the "maddr" list; its inet and inet6 entries ({"family": "inet",
    /// "address": "239.1.2.3", "users": 2}) are the groups the host is a member of on the device; link-layer entries
    /// ({"link": "01:00:5e:01:02:03"}) only open the device's hardware filter and are skipped. A group that is not
    /// multicast, or of the other family, is an error naming the interface.
    /// </summary>
    public static ImmutableDictionary<string, ImmutableArray<Address>> ReadMulticast(string file, string text)
    {
        var result = ImmutableDictionary.CreateBuilder<string, ImmutableArray<Address>>(StringComparer.Ordinal);
        int n = 0;
        foreach (var link in Entries(file, text))
        {
            n++;
            var name = String(file, link, "ifname", $"entry {n}");
            var where = $"interface '{name}'";
            foreach (var prop in link.EnumerateObject())
            {
                if (prop.Name is "ifindex" or "ifname" or "maddr") continue;
                throw Error(file, $"{where}: unknown key '{prop.Name}'");
            }
            var groups = ImmutableArray.CreateBuilder<Address>();
            if (link.TryGetProperty("maddr", out var list))
            {
                if (list.ValueKind != JsonValueKind.Array) throw Error(file, $"{where}: 'maddr' is not a list");
                foreach (var entry in list.EnumerateArray())
                {
                    if (entry.ValueKind != JsonValueKind.Object) throw Error(file, $"{where}: expected objects in 'maddr'");
                    foreach (var prop in entry.EnumerateObject())
                    {
                        if (prop.Name is "link" or "family" or "address" or "users" or "static") continue;
                        throw Error(file, $"{where}: unknown multicast key '{prop.Name}'");
                    }
                    if (!entry.TryGetProperty("family", out var fam)) continue; // a link-layer address
                    var family = fam.GetString() switch
                    {
                        "inet" => Family.IPv4,
                        "inet6" => Family.IPv6,
                        var other => throw Error(file, $"{where}: unknown multicast family '{other}'"),
                    };
                    var group = ParseAddress(file, String(file, entry, "address", where), where);
                    if (group.Family != family || !IsMulticast(group))
                        throw Error(file, $"{where}: '{group}' is not an {fam.GetString()} multicast group");
                    if (!groups.Contains(group)) groups.Add(group);
                }
            }
            if (result.ContainsKey(name)) throw Error(file, $"{where}: listed twice");
            result[name] = groups.ToImmutable();
        }
        return result.ToImmutable();
    }

    internal static bool IsMulticast(Address a) =>
        a.Family == Family.IPv4 ? ((uint)a.Value >> 28) == 0xE : (a.Value >> 120) == 0xFF;

    private static Cidr? Selector(string file, JsonElement r, string key, string lenKey, string where)
    {
        if (!r.TryGetProperty(key, out var v) || v.GetString() is not { } text || text == "all") return null;
        var addr = ParseAddress(file, text, where);
        int len = r.TryGetProperty(lenKey, out _) ? Int(file, r, lenKey, where) : addr.BitLength;
        return new Cidr(addr, len);
    }

    private static IEnumerable<JsonElement> Entries(string file, string text)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(text);
        }
        catch (JsonException e)
        {
            throw new HostFormatException(file, (int?)e.LineNumber + 1, (int?)e.BytePositionInLine + 1, "invalid JSON: " + e.Message.Split(" Path:")[0]);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Array) throw Error(file, "expected a JSON array (the output of ip -j …)");
            foreach (var e in doc.RootElement.EnumerateArray())
            {
                if (e.ValueKind != JsonValueKind.Object) throw Error(file, "expected JSON objects in the array");
                yield return e.Clone();
            }
        }
    }

    private static string String(string file, JsonElement e, string key, string where) =>
        e.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : throw Error(file, $"{where}: missing or non-text '{key}'");

    private static int Int(string file, JsonElement e, string key, string where) =>
        e.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var l) && l is >= 0 and <= uint.MaxValue
            ? (int)Math.Min(l, int.MaxValue)
            : throw Error(file, $"{where}: missing or invalid number '{key}'");

    private static Address ParseAddress(string file, string text, string where) =>
        Address.TryParse(text, out var a) ? a : throw Error(file, $"{where}: invalid address '{text}'");

    private static HostFormatException Error(string file, string detail) => new(file, null, null, detail);
}
