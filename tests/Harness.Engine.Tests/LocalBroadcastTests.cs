using System.Collections.Immutable;
using Harness.Engine.Tests.Support;
using Harness.Hosts;
using Harness.Net;
using Harness.Packets;
using Xunit;
using Xunit.Abstractions;

namespace Harness.Engine.Tests;

/// <summary>
/// Broadcasts and multicasts the host sends: they leave by the route's device (OUTPUT and POSTROUTING see -o veth0),
/// and when the host receives them itself a clone crosses POSTROUTING again and comes back in on that device
/// (PREROUTING/INPUT -i veth0), as measured on Linux 6.18 (the kernel check below).
/// </summary>
public sealed class LocalBroadcastTests(ITestOutputHelper output)
{
    private static readonly string[] Hooks = ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"];

    /// <summary>Per chain: rule 1 "-i/-o veth0", rule 2 "-i/-o lo" (udp dport 5000), in mangle, nat and filter (the same text for both families).</summary>
    private static string Rules()
    {
        var text = new System.Text.StringBuilder();
        foreach (var table in new[] { "mangle", "nat", "filter" })
        {
            text.Append('*').Append(table).Append('\n');
            string[] builtins = table switch
            {
                "mangle" => ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
                "nat" => Hooks,
                _ => ["INPUT", "FORWARD", "OUTPUT"],
            };
            foreach (var c in builtins) text.Append(':').Append(c).Append(" ACCEPT [0:0]\n");
            foreach (var c in Hooks.Where(builtins.Contains))
            {
                string dir = c is "PREROUTING" or "INPUT" ? "-i" : "-o";
                text.Append($"-A {c} {dir} veth0 -p udp --dport 5000\n-A {c} {dir} lo -p udp --dport 5000\n");
            }
            text.Append("COMMIT\n");
        }
        return text.ToString();
    }

    /// <summary>
    /// The sender; <paramref name="joined"/>: veth0 lists the groups a socket of the sender joined there (in the kernel
    /// check: IP_ADD_MEMBERSHIP 239.1.2.4, IPV6_JOIN_GROUP ff02::1:3), as `ip maddr` shows them.
    /// </summary>
    private static Host Sender(bool joined = true) => new(
        [
            new HostInterface("lo", 1, new MacAddress(0), [new InterfaceAddress(Address.Parse("127.0.0.1"), 8), new InterfaceAddress(Address.Parse("::1"), 128)], IsLoopback: true, Mtu: 65536),
            new HostInterface("veth0", 2, MacAddress.Parse("02:00:00:00:aa:01"),
                [new InterfaceAddress(Address.Parse("10.9.0.1"), 24), new InterfaceAddress(Address.Parse("fe80::aa:1"), 64)])
            {
                MulticastGroups = joined ? [Address.Parse("239.1.2.4"), Address.Parse("ff02::1:3")] : [],
            },
        ],
        [],
        ImmutableArray<RoutingRule>.Empty,
        Sysctls.Defaults);

    private static Engine Create(Family family, bool joined = true) => family == Family.IPv4
        ? Engine.Create(TestRules.Load(Rules()), null, Sender(joined), EngineOptions.Default)
        : Engine.Create(null, TestRules.Load(Rules(), Family.IPv6), Sender(joined), EngineOptions.Default);

    [Theory]
    [InlineData("239.1.2.4")]
    [InlineData("ff02::1:3")]
    public void A_group_the_host_does_not_list_is_not_looped_back(string destination)
    {
        var family = destination.Contains(':') ? Family.IPv6 : Family.IPv4;
        var engine = Create(family, joined: false);
        var outcome = Assert.Single(engine.Process(P.Udp(family == Family.IPv4 ? "10.9.0.1" : "fe80::aa:1", 40000, destination, 5000, iface: null)));
        Assert.Equal(Disposition.Sent, outcome.Disposition);
        Assert.Equal(NotLooped, Counts(engine, family));
    }

    [Fact]
    public void Groups_from_an_ip_maddr_dump_loop_a_copy_back()
    {
        // what "ip -j maddr" printed on 6.18 after a socket joined 239.1.2.4 twice and ff02::1:3 on veth0
        const string addr = """
            [{"ifindex":2,"ifname":"veth0","mtu":1500,"address":"02:00:00:00:aa:01","addr_info":[
               {"family":"inet","local":"10.9.0.1","prefixlen":24},{"family":"inet6","local":"fe80::aa:1","prefixlen":64}]}]
            """;
        const string maddr = """
            [{"ifindex":1,"ifname":"lo","maddr":[{"family":"inet","address":"224.0.0.1"},{"family":"inet6","address":"ff02::1"},{"family":"inet6","address":"ff01::1"}]},
             {"ifindex":2,"ifname":"veth0","maddr":[{"link":"33:33:00:00:00:01"},{"link":"01:00:5e:01:02:04"},{"family":"inet","address":"239.1.2.4","users":2},
               {"family":"inet","address":"224.0.0.1"},{"family":"inet6","address":"ff02::1:3"},{"family":"inet6","address":"ff02::1:ffaa:1"},{"family":"inet6","address":"ff02::1"},{"family":"inet6","address":"ff01::1"}]}]
            """;
        var dir = Directory.CreateTempSubdirectory("hx-maddr-host");
        try
        {
            File.WriteAllText(Path.Combine(dir.FullName, "ip-addr.json"), addr);
            var without = HostLoader.LoadDirectory(dir.FullName);
            File.WriteAllText(Path.Combine(dir.FullName, "ip-maddr.json"), maddr);
            var with = HostLoader.LoadDirectory(dir.FullName);
            foreach (var (destination, family) in new[] { ("239.1.2.4", Family.IPv4), ("ff02::1:3", Family.IPv6) })
            {
                var packet = P.Udp(family == Family.IPv4 ? "10.9.0.1" : "fe80::aa:1", 40000, destination, 5000, iface: null);
                var v4 = family == Family.IPv4 ? TestRules.Load(Rules()) : null;
                var v6 = family == Family.IPv6 ? TestRules.Load(Rules(), Family.IPv6) : null;
                var looped = Engine.Create(v4, v6, with, EngineOptions.Default).Process(packet);
                Assert.Equal(2, looped.Count);
                Assert.Equal(Disposition.Delivered, looped[1].Disposition);
                Assert.EndsWith("multicast sent on veth0", looped[1].Reason, StringComparison.Ordinal);
                Assert.Single(Engine.Create(v4, v6, without, EngineOptions.Default).Process(packet));
            }
        }
        finally
        {
            dir.Delete(true);
        }
    }

    /// <summary>"table CHAIN rule=count" for every rule that counted, in a fixed order.</summary>
    private static string Counts(Engine engine, Family family)
    {
        var parts = new List<string>();
        foreach (var table in new[] { "mangle", "nat", "filter" })
            foreach (var chain in Hooks)
                for (int rule = 1; rule <= 2; rule++)
                {
                    if (table == "filter" && chain is "PREROUTING" or "POSTROUTING") continue;
                    ulong n = engine.Counters.Get(family, table, chain, rule).Packets;
                    if (n > 0) parts.Add($"{table} {chain} {(chain is "PREROUTING" or "INPUT" ? "-i" : "-o")} {(rule == 1 ? "veth0" : "lo")}={n}");
                }
        return string.Join(", ", parts);
    }

    private const string Looped =
        "mangle PREROUTING -i veth0=1, mangle INPUT -i veth0=1, mangle OUTPUT -o veth0=1, mangle POSTROUTING -o veth0=2, "
        + "nat OUTPUT -o veth0=1, nat POSTROUTING -o veth0=1, filter INPUT -i veth0=1, filter OUTPUT -o veth0=1";

    private const string NotLooped = "mangle OUTPUT -o veth0=1, mangle POSTROUTING -o veth0=1, nat OUTPUT -o veth0=1, nat POSTROUTING -o veth0=1, filter OUTPUT -o veth0=1";

    /// <summary>The cases of the kernel check: destination and whether the host gets its own copy.</summary>
    public static TheoryData<string, bool> Cases => new()
    {
        { "255.255.255.255", true },
        { "10.9.0.255", true }, // the subnet broadcast route exists without "brd" on the address
        { "224.0.0.1", true }, // all-hosts: every IPv4 device is a member
        { "239.1.2.3", false }, // a group the host did not join
        { "239.1.2.4", true }, // a group a socket joined on veth0
        { "ff02::1", true },
        { "ff02::1:2", false },
        { "ff02::1:3", true }, // joined
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Sent_by_the_device_and_looped_back_when_the_host_receives_it(string destination, bool looped)
    {
        var family = destination.Contains(':') ? Family.IPv6 : Family.IPv4;
        var engine = Create(family);
        string source = family == Family.IPv4 ? "10.9.0.1" : "fe80::aa:1";
        var outcomes = engine.Process(P.Udp(source, 40000, destination, 5000, iface: null));

        var sent = outcomes[0];
        Assert.Equal(Disposition.Sent, sent.Disposition);
        Assert.Equal("veth0", sent.OutInterface);
        Assert.False(sent.Generated);
        Assert.DoesNotContain(sent.Path, p => p.Hook is Hook.Prerouting or Hook.Input);
        if (!looped)
        {
            Assert.Single(outcomes);
            Assert.Equal(NotLooped, Counts(engine, family));
            return;
        }
        var copy = Assert.Single(outcomes.Skip(1));
        Assert.True(copy.Generated);
        Assert.Equal(Disposition.Delivered, copy.Disposition);
        Assert.Equal("veth0", copy.InInterface);
        Assert.EndsWith("sent on veth0", copy.Reason, StringComparison.Ordinal);
        Assert.Equal([Hook.Postrouting, Hook.Prerouting, Hook.Input], copy.Path.Select(p => p.Hook).Distinct());
        Assert.Equal(Looped, Counts(engine, family));
        Assert.Equal("NEW", copy.Conntrack!.StateSeen); // the clone keeps the entry and its ctinfo (measured: ctstate NEW in PREROUTING)
    }

    [Fact]
    public void A_packet_to_the_hosts_own_address_still_goes_round_through_lo()
    {
        var engine = Create(Family.IPv4);
        var outcome = Assert.Single(engine.Process(P.Udp("10.9.0.1", 40000, "10.9.0.1", 5000, iface: null)));
        Assert.Equal(Disposition.Delivered, outcome.Disposition);
        Assert.Equal("lo", outcome.InInterface);
        Assert.Equal("mangle PREROUTING -i lo=1, mangle INPUT -i lo=1, mangle OUTPUT -o lo=1, mangle POSTROUTING -o lo=1, "
            + "nat OUTPUT -o lo=1, nat POSTROUTING -o lo=1, filter INPUT -i lo=1, filter OUTPUT -o lo=1", Counts(engine, Family.IPv4));
    }

    [Fact]
    public void A_drop_in_postrouting_of_the_looped_copy_leaves_the_original_alone()
    {
        const string rules = "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
            + "-A POSTROUTING -m statistic --mode nth --every 2 --packet 0 -j DROP\nCOMMIT\n";
        var engine = Engine.Create(TestRules.Load(rules), null, Sender(), EngineOptions.Default);
        var outcomes = engine.Process(P.Udp("10.9.0.1", 40000, "10.9.0.255", 5000, iface: null));
        // IPv4 clones before the original's POSTROUTING (ip_mc_output): the first packet there is the copy
        Assert.Equal(Disposition.Sent, outcomes[0].Disposition);
        Assert.Equal(Disposition.Dropped, outcomes[1].Disposition);
        Assert.Equal(Hook.Postrouting, outcomes[1].DroppedAt);
    }

    // ---- the broadcast an address has, and the broadcast routes (fib_add_ifaddr; ip -j addr / ip route show table local) ----

    [Fact]
    public void An_address_dumped_without_broadcast_has_none_but_the_subnet_broadcast_route_exists()
    {
        // as "ip -j addr" printed them on 6.18: 10.9.0.1/24 added without brd, 10.8.0.1/24 with brd 10.8.0.254
        const string addr = """
            [{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"mtu":65536,"link_type":"loopback","address":"00:00:00:00:00:00","broadcast":"00:00:00:00:00:00","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"host","label":"lo"}]},
             {"ifindex":2,"ifname":"veth0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"link_type":"ether","address":"02:00:00:00:aa:01","broadcast":"ff:ff:ff:ff:ff:ff","addr_info":[
               {"family":"inet","local":"10.9.0.1","prefixlen":24,"scope":"global","label":"veth0"},
               {"family":"inet","local":"10.8.0.1","prefixlen":24,"broadcast":"10.8.0.254","scope":"global","label":"veth0"}]}]
            """;
        var dir = Directory.CreateTempSubdirectory("hx-bcastout-host");
        try
        {
            File.WriteAllText(Path.Combine(dir.FullName, "ip-addr.json"), addr);
            var host = HostLoader.LoadDirectory(dir.FullName);
            var veth = host.FindInterface("veth0")!;
            Assert.Null(veth.Addresses[0].Broadcast);
            Assert.Equal(Address.Parse("10.8.0.254"), veth.Addresses[1].Broadcast);
            // the kernel's local table: broadcast 10.9.0.255, and for brd 10.8.0.254 both 10.8.0.254 and 10.8.0.255
            Assert.Equal(["10.8.0.254/32", "10.8.0.255/32", "10.9.0.255/32"],
                host.Routes.Where(r => r.Type == RouteType.Broadcast && r.Device == "veth0").Select(r => r.Destination.ToString()).Order(StringComparer.Ordinal));
            var fib = new Routing.Fib(host with { Routes = [] }); // the FIB completes the local table the same way
            foreach (var b in new[] { "10.8.0.254", "10.8.0.255", "10.9.0.255" })
                Assert.Equal(Routing.RouteKind.Broadcast, fib.Lookup(Address.Parse(b), null, 0, null).Kind);
        }
        finally
        {
            dir.Delete(true);
        }
    }

    // ---- the kernel ----

    [Fact]
    public void Kernel_counts_as_the_model()
    {
        var script = """
            P=$1; D=$2
            trap 'ip netns del $P-a 2>/dev/null; ip netns del $P-b 2>/dev/null; true' EXIT
            set -e
            ip netns add $P-a; ip netns add $P-b
            ip netns exec $P-a sysctl -qw net.ipv6.conf.default.accept_dad=0
            ip link add veth0 netns $P-a type veth peer name veth1 netns $P-b
            ip -n $P-a link set lo up; ip -n $P-a addr add 10.9.0.1/24 dev veth0
            ip -n $P-b addr add 10.9.0.2/24 dev veth1
            ip -n $P-a link set veth0 up; ip -n $P-b link set veth1 up
            ip -n $P-a route add 224.0.0.0/4 dev veth0
            # the IPv6 sends need veth0's link-local address
            for i in $(seq 50); do ip -n $P-a -6 addr show dev veth0 scope link | grep -q inet6 && break; sleep 0.1; done
            for dst in 255.255.255.255 10.9.0.255 224.0.0.1 239.1.2.3 239.1.2.4 ff02::1 ff02::1:2 ff02::1:3; do
              case $dst in *:*) T=ip6tables;; *) T=iptables;; esac
              ip netns exec $P-a $T-restore < $D/rules
              # a conntrack rule makes nft's nat chains run (they need conntrack in the namespace)
              ip netns exec $P-a $T -t filter -A FORWARD -m conntrack --ctstate NEW
              ip netns exec $P-a python3 -c '
            import socket, struct, sys
            d = sys.argv[1]
            idx = socket.if_nametoindex("veth0")
            if ":" in d:
                member = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
                member.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, socket.inet_pton(socket.AF_INET6, "ff02::1:3") + struct.pack("@I", idx))
                s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
                s.sendto(b"x", (d, 5000, 0, idx))
            else:
                member = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                member.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton("239.1.2.4") + socket.inet_aton("10.9.0.1"))
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"veth0")
                s.sendto(b"x", (d, 5000))
            ' $dst
              for t in mangle nat filter; do
                ip netns exec $P-a $T -t $t -L -v -n -x | awk -v d=$dst -v t=$t '/^Chain/{c=$2} /dpt:5000/{print d, t, c, $1, $5, $6}'
              done
            done
            """;
        if (KernelShell.Run(output, "bcastout", script, new Dictionary<string, string> { ["rules"] = Rules() }, "ip", "iptables-restore", "ip6tables-restore", "python3") is not { } printed) return;
        var text = string.Join('\n', printed);
        foreach (var (destination, _) in Cases.Select(c => ((string)c[0], (bool)c[1])))
        {
            var family = destination.Contains(':') ? Family.IPv6 : Family.IPv4;
            var parts = new List<string>();
            foreach (var line in text.Split('\n').Where(l => l.StartsWith(destination + " ", StringComparison.Ordinal)))
            {
                var f = line.Split(' ');
                if (f[3] == "0") continue;
                string chain = f[2];
                string device = chain is "PREROUTING" or "INPUT" ? f[4] : f[5];
                parts.Add($"{f[1]} {chain} {(chain is "PREROUTING" or "INPUT" ? "-i" : "-o")} {device}={f[3]}");
            }
            Assert.True(parts.Count > 0, "the kernel check printed no counters: " + text);
            var engine = Create(family);
            engine.Process(P.Udp(family == Family.IPv4 ? "10.9.0.1" : "fe80::aa:1", 40000, destination, 5000, iface: null));
            Assert.Equal(string.Join(", ", parts), Counts(engine, family));
        }
    }
}
