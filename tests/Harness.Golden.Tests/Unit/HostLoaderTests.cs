using Harness.Hosts;
using Harness.Hosts.Loading;
using Harness.Net;
using Xunit.Abstractions;

namespace Harness.Golden.Tests;

public class HostLoaderTests(ITestOutputHelper output)
{
    private const string RouterYaml = """
        interfaces:
          - name: lan0
            mac: 02:00:00:00:01:01
            addresses: [10.1.0.1/24, fd00:1::1/64]
          - name: wan0
            mac: 02:00:00:00:02:01
            addresses: 203.0.113.2/30
        routes:
          - to: default
            via: 203.0.113.1
          - to: 10.9.0.0/16
            via: 10.1.0.254
            table: 100
        rules:
          - priority: 100
            fwmark: 0x1/0xff
            table: 100
          - priority: 200
            from: 10.1.0.0/24
            iif: lan0
            table: 100
        sysctls:
          net.ipv4.ip_forward: 1
          net.ipv4.conf.all.rp_filter: 2
        """;

    [Fact]
    public void Yaml_gives_interfaces_with_loopback_first_and_kernel_indexes()
    {
        var host = HostLoader.ParseYaml(RouterYaml, "router.yaml");
        Assert.Equal(["lo", "lan0", "wan0"], host.Interfaces.Select(i => i.Name));
        Assert.Equal([1, 2, 3], host.Interfaces.Select(i => i.Index));
        var lan = host.FindInterface("lan0")!;
        Assert.Equal(MacAddress.Parse("02:00:00:00:01:01"), lan.Mac);
        Assert.Equal(["10.1.0.1", "fd00:1::1"], lan.Addresses.Select(a => a.Address.ToString()));
        Assert.Equal(Address.Parse("10.1.0.255"), lan.Addresses[0].Broadcast);
        Assert.True(host.FindInterface("lo")!.IsLoopback);
    }

    [Fact]
    public void Yaml_routes_include_the_kernels_own_and_the_gateway_picks_the_device()
    {
        var host = HostLoader.ParseYaml(RouterYaml, "router.yaml");
        var def = host.Routes.Single(r => r.Destination.PrefixLength == 0);
        Assert.Equal("wan0", def.Device);
        Assert.Equal(Address.Parse("203.0.113.1"), def.Gateway);
        Assert.Equal(Route.MainTable, def.Table);
        var t100 = host.Routes.Single(r => r.Table == 100);
        Assert.Equal("10.9.0.0/16", t100.Destination.ToString());
        Assert.Equal("lan0", t100.Device);
        Assert.Contains(host.Routes, r => r.Destination.ToString() == "10.1.0.0/24" && r.Device == "lan0" && r.Table == Route.MainTable && r.Type == RouteType.Unicast);
        Assert.Contains(host.Routes, r => r.Destination.ToString() == "10.1.0.1/32" && r.Table == Route.LocalTable && r.Type == RouteType.Local);
        Assert.Contains(host.Routes, r => r.Destination.ToString() == "203.0.113.3/32" && r.Table == Route.LocalTable && r.Type == RouteType.Broadcast);
        Assert.Contains(host.Routes, r => r.Destination.ToString() == "fd00:1::/64" && r.Metric == 256);
    }

    [Fact]
    public void Yaml_rules_are_added_to_the_kernels_default_rules_in_priority_order()
    {
        var host = HostLoader.ParseYaml(RouterYaml, "router.yaml");
        var v4 = host.RoutingRules.Where(r => r.Family == Family.IPv4).ToList();
        Assert.Equal([0, 100, 200, 32766, 32767], v4.Select(r => r.Priority));
        Assert.Equal(0x1u, v4[1].FwMark);
        Assert.Equal(0xFFu, v4[1].FwMask);
        Assert.Equal("10.1.0.0/24", v4[2].From.ToString());
        Assert.Equal("lan0", v4[2].InputInterface);
        Assert.Equal([0, 32766], host.RoutingRules.Where(r => r.Family == Family.IPv6).Select(r => r.Priority));
        Assert.True(host.Sysctls.IpForward);
        Assert.Equal(2, host.Sysctls.RpFilter("lan0"));
    }

    [Theory]
    [InlineData("interfaces:\n  - name: lan0\n    mac: 02:00:00:00:01:01\n    addresses: [10.1.0.300/24]\n", 4, 17, "invalid interface address '10.1.0.300/24'")]
    [InlineData("interfaces:\n  - name: lan0\n    mac: 02:00:00:00:01:01\n    colour: blue\n", 4, 5, "unknown key 'colour' in an interface")]
    [InlineData("interfaces:\n  - name: lan0\n    addresses: [10.1.0.1/24]\n", 2, 5, "interface 'lan0' needs 'mac'")]
    [InlineData("interfaces: []\nroutes:\n  - to: default\n    dev: eth9\n", 4, 10, "route device 'eth9' is not one of the host's interfaces")]
    [InlineData("routes:\n  - to: 10.0.0.0/8\n", 2, 5, "route to 10.0.0.0/8 needs 'dev'")]
    [InlineData("rules:\n  - priority: 5\n    fwmark: 0xzz\n    table: 7\n", 3, 13, "invalid fwmark '0xzz'")]
    [InlineData("interfaces: [\n", 2, 1, "invalid YAML")]
    [InlineData("sysctls:\n  a: 1\n  a: 2\n", 3, 3, "uplicate key")]
    [InlineData("interfaces:\n  - name: lan0\n    mac: 02:00:00:00:01:01\n    multicast: [10.1.2.3]\n", 4, 17, "invalid multicast group '10.1.2.3'")]
    [InlineData("interfaces:\n  - name: lan0\n    mac: 02:00:00:00:01:01\n    multicast: [239.1.2.3, 239.1.2.3]\n", 4, 28, "duplicate multicast group '239.1.2.3' on interface 'lan0'")]
    public void Yaml_errors_name_file_line_and_column(string yaml, int line, int column, string expected)
    {
        var e = Assert.Throws<HostFormatException>(() => HostLoader.ParseYaml(yaml, "h.yaml"));
        output.WriteLine(e.Message);
        Assert.Equal(line, e.Line);
        Assert.Equal(column, e.Column);
        Assert.Contains(expected, e.Message);
        Assert.StartsWith($"h.yaml:{line}:{column}: error: ", e.Message);
    }

    [Fact]
    public void Missing_file_and_binary_file_are_one_line_errors()
    {
        using var dir = new TempDir();
        var missing = Assert.Throws<HostFormatException>(() => HostLoader.Load(Path.Combine(dir.Path, "nope.yaml")));
        Assert.EndsWith("nope.yaml: error: no such file", missing.Message);
        var bin = Path.Combine(dir.Path, "bin.yaml");
        File.WriteAllBytes(bin, [0x69, 0x6e, 0x00, 0x01]);
        var e = Assert.Throws<HostFormatException>(() => HostLoader.Load(bin));
        Assert.Contains("NUL byte at offset 2", e.Message);
    }

    [Fact]
    public void Directory_without_files_is_refused_and_missing_files_mean_defaults()
    {
        using var dir = new TempDir();
        Assert.Throws<HostFormatException>(() => HostLoader.LoadDirectory(dir.Path));
        dir.File("sysctl.txt", "net.ipv4.ip_forward = 1\n# comment\n\nnet.ipv4.conf.all.rp_filter = 1\n");
        var host = HostLoader.LoadDirectory(dir.Path);
        Assert.Equal(["lo"], host.Interfaces.Select(i => i.Name));
        Assert.True(host.Sysctls.IpForward);
        Assert.Equal(1, host.Sysctls.RpFilter("lo"));
        Assert.Equal([0, 32766, 32767], host.RoutingRules.Where(r => r.Family == Family.IPv4).Select(r => r.Priority));
        Assert.Contains(host.Routes, r => r.Destination.ToString() == "127.0.0.0/8" && r.Type == RouteType.Local && r.Table == Route.LocalTable);
    }

    [Fact]
    public void Yaml_multicast_lists_the_groups_joined_per_interface_and_the_kernels_own_count_too()
    {
        var host = HostLoader.ParseYaml("""
            interfaces:
              - name: lan0
                mac: 02:00:00:00:01:01
                addresses: [10.1.0.1/24, fd00:1::1/64]
                multicast: [224.0.0.251, ff02::fb]
              - name: wan0
                mac: 02:00:00:00:02:01
                addresses: 203.0.113.2/30
            """, "mc.yaml");
        var lan = host.FindInterface("lan0")!;
        var wan = host.FindInterface("wan0")!;
        Assert.Equal(["224.0.0.251", "ff02::fb"], lan.MulticastGroups.Select(a => a.ToString()));
        Assert.Empty(wan.MulticastGroups);
        Assert.True(lan.IsMember(Address.Parse("224.0.0.251"), ipv6Forwarding: false));
        Assert.False(wan.IsMember(Address.Parse("224.0.0.251"), ipv6Forwarding: false));
        // the kernel's own: all-hosts on an IPv4 device, all-nodes and the solicited-node group on an IPv6 one
        Assert.True(wan.IsMember(Address.Parse("224.0.0.1"), ipv6Forwarding: false));
        Assert.False(wan.IsMember(Address.Parse("ff02::1"), ipv6Forwarding: false)); // wan0 has no IPv6 address
        Assert.True(lan.IsMember(Address.Parse("ff02::1:ff00:1"), ipv6Forwarding: false));
        Assert.False(lan.IsMember(Address.Parse("ff02::2"), ipv6Forwarding: false));
        Assert.True(lan.IsMember(Address.Parse("ff02::2"), ipv6Forwarding: true));
    }

    /// <summary>"ip -j maddr" as iproute2 6.1 printed it on Linux 6.18 after sockets joined 239.1.2.3 (twice) and ff05::1:3.</summary>
    private const string MaddrJson = """
        [{"ifindex":1,"ifname":"lo","maddr":[{"family":"inet","address":"224.0.0.1"},{"family":"inet6","address":"ff02::1"},{"family":"inet6","address":"ff01::1"}]},
         {"ifindex":2,"ifname":"lan0","maddr":[{"link":"33:33:00:00:00:01"},{"link":"01:00:5e:00:00:01"},{"link":"33:33:ff:00:00:01"},{"link":"01:00:5e:01:02:03"},
           {"family":"inet","address":"239.1.2.3","users":2},{"family":"inet","address":"224.0.0.1"},{"family":"inet6","address":"ff05::1:3"},
           {"family":"inet6","address":"ff02::1:ff00:1"},{"family":"inet6","address":"ff02::1"},{"family":"inet6","address":"ff01::1"}]},
         {"ifindex":7,"ifname":"br-port0","maddr":[{"family":"inet","address":"239.9.9.9"}]}]
        """;

    [Fact]
    public void Ip_maddr_dump_gives_each_interfaces_groups_and_skips_link_entries()
    {
        using var dir = new TempDir();
        dir.File("ip-addr.json", """
            [{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP"],"mtu":65536,"link_type":"loopback","address":"00:00:00:00:00:00","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8}]},
             {"ifindex":2,"ifname":"lan0","mtu":1500,"address":"02:00:00:00:01:01","addr_info":[{"family":"inet","local":"10.1.0.1","prefixlen":24},{"family":"inet6","local":"fd00:1::1","prefixlen":64}]}]
            """);
        var without = HostLoader.LoadDirectory(dir.Path);
        Assert.Empty(without.FindInterface("lan0")!.MulticastGroups); // no ip-maddr.json: the kernel's own groups only
        Assert.True(without.FindInterface("lan0")!.IsMember(Address.Parse("224.0.0.1"), false));
        Assert.False(without.FindInterface("lan0")!.IsMember(Address.Parse("239.1.2.3"), false));

        dir.File("ip-maddr.json", MaddrJson);
        var host = HostLoader.LoadDirectory(dir.Path);
        var lan = host.FindInterface("lan0")!;
        Assert.Equal(["239.1.2.3", "224.0.0.1", "ff05::1:3", "ff02::1:ff00:1", "ff02::1", "ff01::1"], lan.MulticastGroups.Select(a => a.ToString()));
        Assert.Equal(["224.0.0.1", "ff02::1", "ff01::1"], host.FindInterface("lo")!.MulticastGroups.Select(a => a.ToString()));
        Assert.True(lan.IsMember(Address.Parse("239.1.2.3"), false));
        Assert.True(lan.IsMember(Address.Parse("ff05::1:3"), false));
        Assert.Null(host.FindInterface("br-port0")); // an interface ip-addr.json leaves out is skipped
        Assert.Equal(["lo", "lan0"], host.Interfaces.Select(i => i.Name));
    }

    [Theory]
    [InlineData("""[{"ifindex":2,"ifname":"lan0","maddr":[{"family":"inet","address":"10.1.2.3"}]}]""", "interface 'lan0': '10.1.2.3' is not an inet multicast group")]
    [InlineData("""[{"ifindex":2,"ifname":"lan0","maddr":[{"family":"inet","address":"ff02::1"}]}]""", "interface 'lan0': 'ff02::1' is not an inet multicast group")]
    [InlineData("""[{"ifindex":2,"ifname":"lan0","maddr":[{"family":"inet","address":"239.1.2.3","sources":["10.0.0.1"]}]}]""", "interface 'lan0': unknown multicast key 'sources'")]
    [InlineData("""[{"ifindex":2,"ifname":"lan0","colour":"blue"}]""", "interface 'lan0': unknown key 'colour'")]
    [InlineData("""[{"ifindex":2,"ifname":"lan0","maddr":[{"family":"inet","address":"bogus"}]}]""", "interface 'lan0': invalid address 'bogus'")]
    [InlineData("""{"ifname":"lan0"}""", "expected a JSON array")]
    public void Ip_maddr_dump_errors_name_the_file_and_interface(string json, string expected)
    {
        using var dir = new TempDir();
        dir.File("ip-maddr.json", json);
        var e = Assert.Throws<HostFormatException>(() => HostLoader.LoadDirectory(dir.Path));
        output.WriteLine(e.Message);
        Assert.Contains("ip-maddr.json", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Sysctl_line_without_equals_names_its_line()
    {
        using var dir = new TempDir();
        dir.File("sysctl.txt", "net.ipv4.ip_forward = 1\nthis is not a sysctl\n");
        var e = Assert.Throws<HostFormatException>(() => HostLoader.LoadDirectory(dir.Path));
        Assert.Equal(2, e.Line);
        Assert.Contains("expected 'name = value'", e.Message);
    }

    [Fact]
    public void Ip_json_with_unmodelled_keys_is_refused_naming_the_entry()
    {
        using var dir = new TempDir();
        dir.File("ip-rule.json", """[{"priority":60,"not":null,"src":"all","dst":"10.6.0.0","dstlen":16,"table":"7"}]""");
        var e = Assert.Throws<HostFormatException>(() => HostLoader.LoadDirectory(dir.Path));
        Assert.Contains("rule 60: unsupported ip rule key 'not'", e.Message);
        dir.File("ip-rule.json", "[]");
        dir.File("ip-addr.json", """[{"ifindex":3,"ifname":"eth1","flags":["UP"],"mtu":1500,"master":"br0","address":"02:00:00:00:00:03","addr_info":[]}]""");
        var port = Assert.Throws<HostFormatException>(() => HostLoader.LoadDirectory(dir.Path));
        Assert.Contains("interface 'eth1': is a port of 'br0'", port.Message);
        File.Delete(Path.Combine(dir.Path, "ip-addr.json"));
        dir.File("ip-rule.json", "[{\"priority\": 1,\n  \"table\": }]");
        var syntax = Assert.Throws<HostFormatException>(() => HostLoader.LoadDirectory(dir.Path));
        Assert.Equal(2, syntax.Line);
        Assert.Contains("invalid JSON", syntax.Message);
    }

    /// <summary>
    /// A throwaway namespace set up like the YAML router above, dumped with the five documented commands: the
    /// loader reads the dumps, and the routes the YAML loader derives equal the kernel's own.
    /// </summary>
    [Fact]
    public void Dumps_of_a_real_namespace_load_and_match_the_yaml_description()
    {
        if (!Kernel.Available(out var why, "ip", "sysctl")) { output.WriteLine(why); return; }
        var ns = $"hx-h6-{Environment.ProcessId}-host";
        using var dir = new TempDir();
        try
        {
            Kernel.Run("ip", "netns", "del", ns);
            Assert.Equal(0, Kernel.Run("ip", "netns", "add", ns).Code);
            void Sh(params string[] c) => Kernel.InNamespace(ns, c);
            Sh("ip", "link", "set", "lo", "up");
            Sh("ip", "link", "add", "lan0", "type", "veth", "peer", "name", "wan0");
            Sh("ip", "link", "set", "lan0", "address", "02:00:00:00:01:01", "up");
            Sh("ip", "link", "set", "wan0", "address", "02:00:00:00:02:01", "up");
            Sh("ip", "addr", "add", "10.1.0.1/24", "dev", "lan0");
            Sh("ip", "addr", "add", "203.0.113.2/30", "dev", "wan0");
            Sh("ip", "-6", "addr", "add", "fd00:1::1/64", "dev", "lan0", "nodad");
            Sh("ip", "route", "add", "default", "via", "203.0.113.1");
            Sh("ip", "route", "add", "10.9.0.0/16", "via", "10.1.0.254", "table", "100");
            Sh("ip", "rule", "add", "fwmark", "0x1/0xff", "lookup", "100", "pref", "100");
            Sh("ip", "rule", "add", "from", "10.1.0.0/24", "iif", "lan0", "lookup", "100", "pref", "200");
            Sh("sysctl", "-qw", "net.ipv4.ip_forward=1");
            File.WriteAllText(Path.Combine(dir.Path, "ip-addr.json"), Kernel.InNamespace(ns, "ip", "-j", "addr"));
            File.WriteAllText(Path.Combine(dir.Path, "ip-route.json"), Kernel.InNamespace(ns, "ip", "-j", "route", "show", "table", "all"));
            File.WriteAllText(Path.Combine(dir.Path, "ip-rule.json"), Kernel.InNamespace(ns, "ip", "-j", "rule"));
            File.WriteAllText(Path.Combine(dir.Path, "sysctl.txt"), Kernel.Run("ip", "netns", "exec", ns, "sysctl", "-a").Stdout);
            // the fifth dump, taken while sockets hold 239.1.2.3 and ff05::1:3 joined on lan0
            File.WriteAllText(Path.Combine(dir.Path, "ip-maddr.json"), Kernel.InNamespace(ns, "python3", "-c", """
                import socket, struct, subprocess
                idx = socket.if_nametoindex("lan0")
                a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                a.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton("239.1.2.3") + socket.inet_aton("10.1.0.1"))
                b = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
                b.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, socket.inet_pton(socket.AF_INET6, "ff05::1:3") + struct.pack("@I", idx))
                print(subprocess.run(["ip", "-j", "maddr"], capture_output=True, text=True, check=True).stdout)
                """));
        }
        finally
        {
            Kernel.Run("ip", "netns", "del", ns);
        }

        var host = HostLoader.Load(dir.Path);
        output.WriteLine($"{host.Interfaces.Length} interfaces, {host.Routes.Length} routes, {host.RoutingRules.Length} rules, {host.Sysctls.Values.Count} sysctls");
        var lan = host.FindInterface("lan0")!;
        Assert.Equal(MacAddress.Parse("02:00:00:00:01:01"), lan.Mac);
        Assert.Contains(lan.Addresses, a => a.Address.ToString() == "10.1.0.1" && a.PrefixLength == 24);
        Assert.True(host.FindInterface("lo")!.IsLoopback);
        Assert.True(host.Sysctls.IpForward);
        Assert.True(host.Sysctls.Values.Count > 100);
        Assert.Contains(host.Routes, r => r.Destination.PrefixLength == 0 && r.Family == Family.IPv4 && r.Gateway == Address.Parse("203.0.113.1") && r.Device == "wan0");
        Assert.Contains(host.Routes, r => r.Table == 100 && r.Destination.ToString() == "10.9.0.0/16");
        var rules = host.RoutingRules.Where(r => r.Family == Family.IPv4).ToList();
        Assert.Equal([0, 100, 200, 32766, 32767], rules.Select(r => r.Priority));
        Assert.Equal((0x1u, 0xFFu), (rules[1].FwMark!.Value, rules[1].FwMask));
        Assert.Equal(("10.1.0.0/24", "lan0"), (rules[2].From.ToString(), rules[2].InputInterface));
        Assert.Contains(Address.Parse("239.1.2.3"), lan.MulticastGroups);
        Assert.Contains(Address.Parse("ff05::1:3"), lan.MulticastGroups);
        Assert.Contains(Address.Parse("224.0.0.1"), lan.MulticastGroups);
        Assert.Contains(Address.Parse("ff02::1:ff00:1"), lan.MulticastGroups); // fd00:1::1's solicited-node group
        Assert.DoesNotContain(Address.Parse("239.1.2.3"), host.FindInterface("wan0")!.MulticastGroups);
        // what the kernel joined by itself is what the model says it joins by itself
        Assert.All(lan.MulticastGroups.Where(g => g != Address.Parse("239.1.2.3") && g != Address.Parse("ff05::1:3")),
            g => Assert.True(KernelDefaults.IsOwnGroup(lan, g, ipv6Forwarding: false), $"{g} is not one of the model's own groups"));
        Assert.All(host.FindInterface("lo")!.MulticastGroups, g => Assert.True(KernelDefaults.IsOwnGroup(host.FindInterface("lo")!, g, false), $"lo: {g}"));

        // The kernel's own IPv4 routes equal what the YAML loader derives from the same addresses.
        var yaml = HostLoader.ParseYaml(RouterYaml, "router.yaml");
        static string Show(Route r) => $"{r.Type} {r.Destination} dev {r.Device} table {r.Table} src {r.PreferredSource}";
        var kernelOwn = host.Routes.Where(r => r.Family == Family.IPv4 && r.Gateway is null && r.Table != 100).Select(Show).Order(StringComparer.Ordinal);
        var derived = yaml.Routes.Where(r => r.Family == Family.IPv4 && r.Gateway is null).Select(Show).Order(StringComparer.Ordinal);
        Assert.Equal(kernelOwn, derived);
        var kernel6 = host.Routes.Where(r => r.Family == Family.IPv6 && !r.Destination.ToString().StartsWith("fe80", StringComparison.Ordinal))
            .Select(r => $"{r.Type} {r.Destination} {r.Device} {r.Table} {r.Metric}").Order(StringComparer.Ordinal);
        var derived6 = yaml.Routes.Where(r => r.Family == Family.IPv6).Select(r => $"{r.Type} {r.Destination} {r.Device} {r.Table} {r.Metric}").Order(StringComparer.Ordinal);
        // The kernel keeps ff00::/8 on every up interface; our derivation only on interfaces with IPv6 addresses.
        Assert.Subset(kernel6.ToHashSet(), derived6.ToHashSet());
    }

    [Fact]
    public void Kernel_defaults_compute_broadcast_only_below_slash_31()
    {
        Assert.Equal(Address.Parse("10.0.0.255"), KernelDefaults.Broadcast(Address.Parse("10.0.0.1"), 24));
        Assert.Null(KernelDefaults.Broadcast(Address.Parse("10.0.0.1"), 31));
        Assert.Null(KernelDefaults.Broadcast(Address.Parse("fd00::1"), 64));
    }
}
