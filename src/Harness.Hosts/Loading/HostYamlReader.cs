using System.Collections.Immutable;
using Harness.Net;
using YamlDotNet.RepresentationModel;

namespace Harness.Hosts.Loading;

/// <summary>
/// The hand-written host format (docs/host.md): interfaces, routes, ip rules, sysctls. The kernel's own routes
/// (connected, local, broadcast), the loopback interface and the default ip rules are added as the kernel would.
/// </summary>
internal static class HostYamlReader
{
    public static Host Read(string file, string text)
    {
        var tree = YamlTree.Parse(file, text, (f, l, c, d) => new HostFormatException(f, l, c, d));
        if (tree.Root is null) throw new HostFormatException(file, null, null, "empty host description (expected 'interfaces:' at least)");
        var root = tree.Mapping(tree.Root, "the host");
        var keys = tree.Keys(root, "the host", "interfaces", "routes", "rules", "sysctls", "conntrack-timeouts");

        var interfaces = keys.TryGetValue("interfaces", out var ifNode) ? ReadInterfaces(tree, ifNode) : [];
        if (!interfaces.Any(i => i.IsLoopback)) interfaces = interfaces.Insert(0, KernelDefaults.Loopback);
        interfaces = AssignIndexes(interfaces);

        var userRoutes = keys.TryGetValue("routes", out var routesNode)
            ? tree.Sequence(routesNode, "routes").Children.Select(n => ReadRoute(tree, n, interfaces)).ToList()
            : [];
        var routes = KernelDefaults.RoutesFor(interfaces).Concat(userRoutes).ToImmutableArray();

        var userRules = keys.TryGetValue("rules", out var rulesNode)
            ? tree.Sequence(rulesNode, "rules").Children.Select(n => ReadRule(tree, n, interfaces)).ToList()
            : [];
        var rules = KernelDefaults.Rules(Family.IPv4).Concat(KernelDefaults.Rules(Family.IPv6)).Concat(userRules)
            .OrderBy(r => r.Family).ThenBy(r => r.Priority).ToImmutableArray();

        var sysctls = Sysctls.Defaults;
        if (keys.TryGetValue("sysctls", out var sysNode))
        {
            var map = tree.Mapping(sysNode, "sysctls");
            foreach (var (k, v) in map.Children)
            {
                var name = tree.Scalar(k, "a sysctl name");
                if (sysctls.Get(name) is not null) throw tree.Error(k, $"duplicate sysctl '{name}'");
                sysctls = sysctls.With(name, tree.Scalar(v, $"sysctl {name}"));
            }
        }
        var timeouts = keys.TryGetValue("conntrack-timeouts", out var ctNode) ? ReadTimeoutPolicies(tree, ctNode) : [];
        return new Host(interfaces, routes, rules, sysctls) { ConntrackTimeouts = timeouts };
    }

    /// <summary>conntrack-timeouts: the policies "nfct add timeout" would make (at least one timeout each, as the kernel wants).</summary>
    private static ImmutableArray<ConntrackTimeoutPolicy> ReadTimeoutPolicies(YamlTree tree, YamlNode node)
    {
        var result = ImmutableArray.CreateBuilder<ConntrackTimeoutPolicy>();
        foreach (var item in tree.Sequence(node, "conntrack-timeouts").Children)
        {
            const string what = "a conntrack timeout policy";
            var map = tree.Mapping(item, what);
            var k = tree.Keys(map, what, "name", "family", "protocol", "timeouts");
            var nameNode = tree.Required(k, map, "name", what);
            var name = tree.Scalar(nameNode, "the policy name");
            if (name.Length is 0 or > ConntrackTimeoutPolicy.MaxNameLength || name.Any(char.IsWhiteSpace))
                throw tree.Error(nameNode, $"invalid timeout policy name '{name}' (1-{ConntrackTimeoutPolicy.MaxNameLength} characters, no spaces)");
            if (result.Any(p => p.Name == name)) throw tree.Error(nameNode, $"duplicate timeout policy '{name}'");
            var famNode = tree.Required(k, map, "family", what);
            var famText = tree.Scalar(famNode, "family");
            var family = famText switch
            {
                "inet" or "ipv4" => Family.IPv4,
                "inet6" or "ipv6" => Family.IPv6,
                _ => throw tree.Error(famNode, $"invalid family '{famText}' for timeout policy '{name}' (expected inet or inet6)"),
            };
            var protoNode = tree.Required(k, map, "protocol", what);
            var protoText = tree.Scalar(protoNode, "protocol");
            var proto = ConntrackTimeoutPolicy.Protocols.FirstOrDefault(p => p.Name == protoText);
            if (proto.Name is null)
                throw tree.Error(protoNode, $"unknown protocol '{protoText}' for timeout policy '{name}' (expected one of: {string.Join(", ", ConntrackTimeoutPolicy.Protocols.Select(p => p.Name))})");
            var states = ConntrackTimeoutPolicy.StatesOf(proto.Number);
            var timeoutsNode = tree.Required(k, map, "timeouts", what);
            var timeoutsMap = tree.Mapping(timeoutsNode, $"the timeouts of policy '{name}'");
            var timeouts = ImmutableSortedDictionary.CreateBuilder<string, long>(StringComparer.Ordinal);
            foreach (var (keyNode, valueNode) in timeoutsMap.Children)
            {
                var state = tree.Scalar(keyNode, "a timeout name");
                if (!states.Contains(state, StringComparer.Ordinal))
                    throw tree.Error(keyNode, $"unknown {protoText} timeout '{state}' in policy '{name}' (expected one of: {string.Join(", ", states)})");
                if (timeouts.ContainsKey(state)) throw tree.Error(keyNode, $"duplicate timeout '{state}' in policy '{name}'");
                timeouts[state] = tree.Integer(valueNode, $"timeout {state} of policy '{name}'", 0, ConntrackTimeoutPolicy.MaxSeconds);
            }
            if (timeouts.Count == 0) throw tree.Error(timeoutsNode, $"timeout policy '{name}' needs at least one timeout (the kernel refuses a policy without)");
            result.Add(new ConntrackTimeoutPolicy(name, family, proto.Number, timeouts.ToImmutable()));
        }
        return result.ToImmutable();
    }

    private static ImmutableArray<HostInterface> ReadInterfaces(YamlTree tree, YamlNode node)
    {
        var result = ImmutableArray.CreateBuilder<HostInterface>();
        foreach (var item in tree.Sequence(node, "interfaces").Children)
        {
            var map = tree.Mapping(item, "an interface");
            var k = tree.Keys(map, "an interface", "name", "mac", "addresses", "index", "mtu", "loopback", "multicast");
            var name = tree.Scalar(tree.Required(k, map, "name", "an interface"), "the interface name");
            if (name.Length is 0 or > 15 || name.Any(c => char.IsWhiteSpace(c) || c == '/'))
                throw tree.Error(k["name"], $"invalid interface name '{name}' (1-15 characters, no spaces or '/')");
            if (result.Any(i => i.Name == name)) throw tree.Error(k["name"], $"duplicate interface '{name}'");
            bool loopback = k.TryGetValue("loopback", out var lb) ? tree.Boolean(lb, "loopback") : name == "lo";
            var mac = new MacAddress(0);
            if (k.TryGetValue("mac", out var macNode))
            {
                var text = tree.Scalar(macNode, "mac");
                if (!MacAddress.TryParse(text, out mac)) throw tree.Error(macNode, $"invalid MAC address '{text}' (expected six hex bytes like 02:00:00:00:00:01)");
            }
            else if (!loopback)
            {
                throw tree.Error(map, $"interface '{name}' needs 'mac'");
            }
            var addresses = ImmutableArray.CreateBuilder<InterfaceAddress>();
            if (k.TryGetValue("addresses", out var addrNode))
            {
                foreach (var (text, n) in tree.ScalarList(addrNode, "addresses"))
                {
                    if (!text.Contains('/') || !Cidr.TryParse(text, out var cidr))
                        throw tree.Error(n, $"invalid interface address '{text}' (expected address/prefix, e.g. 10.1.0.1/24 or fd00::1/64)");
                    addresses.Add(new InterfaceAddress(cidr.Address, cidr.PrefixLength, KernelDefaults.Broadcast(cidr.Address, cidr.PrefixLength)));
                }
            }
            int index = k.TryGetValue("index", out var idx) ? (int)tree.Integer(idx, "index", 1, int.MaxValue) : 0;
            int mtu = k.TryGetValue("mtu", out var mtuNode) ? (int)tree.Integer(mtuNode, "mtu", 68, 65536) : loopback ? 65536 : 1500;
            var groups = ImmutableArray.CreateBuilder<Address>();
            if (k.TryGetValue("multicast", out var mcNode))
            {
                foreach (var (text, n) in tree.ScalarList(mcNode, "multicast"))
                {
                    if (!Address.TryParse(text, out var group) || !IpJsonReader.IsMulticast(group))
                        throw tree.Error(n, $"invalid multicast group '{text}' (expected an address in 224.0.0.0/4 or ff00::/8, e.g. 239.1.2.3 or ff05::1:3)");
                    if (groups.Contains(group)) throw tree.Error(n, $"duplicate multicast group '{text}' on interface '{name}'");
                    groups.Add(group);
                }
            }
            result.Add(new HostInterface(name, index, mac, addresses.ToImmutable(), loopback, mtu) { MulticastGroups = groups.ToImmutable() });
        }
        return result.ToImmutable();
    }

    /// <summary>Interfaces without an explicit index get the next free one, in order (lo is 1 as in the kernel).</summary>
    private static ImmutableArray<HostInterface> AssignIndexes(ImmutableArray<HostInterface> interfaces)
    {
        var used = interfaces.Where(i => i.Index != 0).Select(i => i.Index).ToHashSet();
        int next = 1;
        var result = ImmutableArray.CreateBuilder<HostInterface>();
        foreach (var i in interfaces)
        {
            if (i.Index != 0) { result.Add(i); continue; }
            while (used.Contains(next)) next++;
            used.Add(next);
            result.Add(i with { Index = next });
        }
        return result.ToImmutable();
    }

    private static Route ReadRoute(YamlTree tree, YamlNode node, ImmutableArray<HostInterface> interfaces)
    {
        var map = tree.Mapping(node, "a route");
        var k = tree.Keys(map, "a route", "to", "via", "dev", "metric", "table", "type", "src", "family", "mtu", "mtu-lock");
        var toNode = tree.Required(k, map, "to", "a route");
        var toText = tree.Scalar(toNode, "to");
        Address? via = k.TryGetValue("via", out var viaNode) ? ParseAddress(tree, viaNode, "via") : null;
        Address? src = k.TryGetValue("src", out var srcNode) ? ParseAddress(tree, srcNode, "src") : null;
        Family? family = k.TryGetValue("family", out var famNode) ? ParseFamily(tree, famNode) : null;
        Cidr to;
        if (toText == "default")
        {
            var f = family ?? via?.Family ?? src?.Family ?? Family.IPv4;
            to = new Cidr(f == Family.IPv4 ? Address.V4(0) : Address.Parse("::"), 0);
        }
        else if (!Cidr.TryParse(toText, out to))
        {
            throw tree.Error(toNode, $"invalid route destination '{toText}' (expected 'default' or a prefix like 10.2.0.0/16)");
        }
        foreach (var (a, n) in new[] { (via, viaNode), (src, srcNode) })
        {
            if (a is Address addr && addr.Family != to.Family)
                throw tree.Error(n, $"address family of '{addr}' does not match the route's destination {to}");
        }
        if (family is Family fam && fam != to.Family) throw tree.Error(famNode, $"family {fam} does not match the destination {to}");

        var type = RouteType.Unicast;
        if (k.TryGetValue("type", out var typeNode))
        {
            var t = tree.Scalar(typeNode, "type");
            if (!KernelDefaults.TryParseRouteType(t, out type))
                throw tree.Error(typeNode, $"unknown route type '{t}' (expected unicast, local, broadcast, multicast, blackhole, unreachable or prohibit)");
        }
        string? dev = null;
        if (k.TryGetValue("dev", out var devNode))
        {
            dev = tree.Scalar(devNode, "dev");
            if (!interfaces.Any(i => i.Name == dev)) throw tree.Error(devNode, $"route device '{dev}' is not one of the host's interfaces");
        }
        else if (type is RouteType.Unicast or RouteType.Local or RouteType.Broadcast or RouteType.Multicast)
        {
            dev = via is Address gw ? DeviceFor(gw, interfaces) : null;
            if (dev is null) throw tree.Error(map, $"route to {toText} needs 'dev' (or a 'via' inside one of the interfaces' networks)");
        }
        int table = Route.MainTable;
        if (k.TryGetValue("table", out var tableNode))
        {
            var t = tree.Scalar(tableNode, "table");
            if (!KernelDefaults.TryParseTable(t, out table)) throw tree.Error(tableNode, $"invalid table '{t}' (expected main, local, default or a number)");
        }
        int metric = k.TryGetValue("metric", out var metricNode)
            ? (int)tree.Integer(metricNode, "metric", 0, int.MaxValue)
            : to.Family == Family.IPv6 ? 1024 : 0;
        int mtu = k.TryGetValue("mtu", out var mtuNode) ? (int)tree.Integer(mtuNode, "mtu", 68, 65535) : 0;
        bool mtuLocked = k.TryGetValue("mtu-lock", out var lockNode) && tree.Boolean(lockNode, "mtu-lock");
        if (mtuLocked && mtu == 0) throw tree.Error(lockNode!, "'mtu-lock' needs an 'mtu'");
        return new Route(to, dev, via, metric, table, type, src, mtu, mtuLocked);
    }

    private static string? DeviceFor(Address gateway, ImmutableArray<HostInterface> interfaces) =>
        interfaces.FirstOrDefault(i => i.Addresses.Any(a => a.Network.Contains(gateway)))?.Name;

    private static RoutingRule ReadRule(YamlTree tree, YamlNode node, ImmutableArray<HostInterface> interfaces)
    {
        var map = tree.Mapping(node, "an ip rule");
        var k = tree.Keys(map, "an ip rule", "priority", "from", "to", "fwmark", "iif", "table", "action", "family");
        int priority = (int)tree.Integer(tree.Required(k, map, "priority", "an ip rule"), "priority", 0, uint.MaxValue >> 1);
        Cidr? from = k.TryGetValue("from", out var fromNode) ? ParseSelector(tree, fromNode, "from") : null;
        Cidr? to = k.TryGetValue("to", out var toNode) ? ParseSelector(tree, toNode, "to") : null;
        Family? family = k.TryGetValue("family", out var famNode) ? ParseFamily(tree, famNode) : null;
        var f = family ?? from?.Family ?? to?.Family ?? Family.IPv4;
        if ((from is Cidr fc && fc.Family != f) || (to is Cidr tc && tc.Family != f))
            throw tree.Error(map, "the addresses of an ip rule must all be of one family");
        uint? mark = null;
        uint mask = 0xFFFFFFFF;
        if (k.TryGetValue("fwmark", out var markNode))
        {
            var text = tree.Scalar(markNode, "fwmark");
            if (!KernelDefaults.TryParseMark(text, out var m, out mask)) throw tree.Error(markNode, $"invalid fwmark '{text}' (expected MARK or MARK/MASK, e.g. 0x1/0xff)");
            mark = m;
        }
        string? iif = null;
        if (k.TryGetValue("iif", out var iifNode))
        {
            iif = tree.Scalar(iifNode, "iif");
            if (!interfaces.Any(i => i.Name == iif)) throw tree.Error(iifNode, $"iif '{iif}' is not one of the host's interfaces");
        }
        var action = RouteType.Unicast;
        if (k.TryGetValue("action", out var actNode))
        {
            var a = tree.Scalar(actNode, "action");
            if (!KernelDefaults.TryParseRouteType(a, out action) || action is not (RouteType.Blackhole or RouteType.Unreachable or RouteType.Prohibit))
                throw tree.Error(actNode, $"invalid ip rule action '{a}' (expected blackhole, unreachable or prohibit; use 'table' to look up a table)");
        }
        int table = 0;
        if (k.TryGetValue("table", out var tableNode))
        {
            if (action != RouteType.Unicast) throw tree.Error(tableNode, "an ip rule has either 'table' or 'action', not both");
            var t = tree.Scalar(tableNode, "table");
            if (!KernelDefaults.TryParseTable(t, out table)) throw tree.Error(tableNode, $"invalid table '{t}' (expected main, local, default or a number)");
        }
        else if (action == RouteType.Unicast)
        {
            throw tree.Error(map, "an ip rule needs 'table' (or an 'action')");
        }
        return new RoutingRule(f, priority, table, from, to, mark, mask, iif, action);
    }

    private static Cidr? ParseSelector(YamlTree tree, YamlNode node, string what)
    {
        var text = tree.Scalar(node, what);
        if (text == "all") return null;
        return Cidr.TryParse(text, out var c) ? c : throw tree.Error(node, $"invalid {what} '{text}' (expected 'all', an address or a prefix)");
    }

    private static Address ParseAddress(YamlTree tree, YamlNode node, string what)
    {
        var text = tree.Scalar(node, what);
        return Address.TryParse(text, out var a) ? a : throw tree.Error(node, $"invalid address '{text}' for {what}");
    }

    private static Family ParseFamily(YamlTree tree, YamlNode node)
    {
        var text = tree.Scalar(node, "family");
        return text switch
        {
            "ipv4" or "inet" or "4" => Family.IPv4,
            "ipv6" or "inet6" or "6" => Family.IPv6,
            _ => throw tree.Error(node, $"invalid family '{text}' (expected ipv4 or ipv6)"),
        };
    }
}
