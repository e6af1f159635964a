using System.Collections.Immutable;
using Harness.Engine.Tests.Support;
using Harness.Hosts;
using Harness.Net;
using Xunit;
using Xunit.Abstractions;

namespace Harness.Engine.Tests;

/// <summary>
/// Arriving multicast reaches INPUT only for a group the host is a member of on the arriving device (ip_route_input's
/// ip_check_mc_rcu for IPv4, ip6_mc_input for IPv6); otherwise PREROUTING sees it and routing drops it. Measured on
/// Linux 6.18 (the kernel check below): 239.1.2.3 and ff05::1:3 counted in raw/mangle PREROUTING but not in INPUT
/// until a socket joined them on the device.
/// </summary>
public sealed class MulticastMembershipTests(ITestOutputHelper output)
{
    /// <summary>Each rule counts udp dport 5000: raw PREROUTING, mangle PREROUTING, mangle INPUT, filter INPUT.</summary>
    private const string Rules = """
        *raw
        :PREROUTING ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A PREROUTING -p udp --dport 5000
        COMMIT
        *mangle
        :PREROUTING ACCEPT [0:0]
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :POSTROUTING ACCEPT [0:0]
        -A PREROUTING -p udp --dport 5000
        -A INPUT -p udp --dport 5000
        COMMIT
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A INPUT -p udp --dport 5000
        COMMIT

        """;

    /// <summary>The receiver: veth1 with 10.9.0.2/24 and fd00:9::2/64; <paramref name="groups"/> joined on veth1.</summary>
    private static Host Receiver(params string[] groups) => new(
        [
            new HostInterface("lo", 1, new MacAddress(0), [new InterfaceAddress(Address.Parse("127.0.0.1"), 8), new InterfaceAddress(Address.Parse("::1"), 128)], IsLoopback: true, Mtu: 65536),
            new HostInterface("veth1", 2, MacAddress.Parse("02:00:00:00:01:02"),
                [new InterfaceAddress(Address.Parse("10.9.0.2"), 24), new InterfaceAddress(Address.Parse("fd00:9::2"), 64)])
            {
                MulticastGroups = groups.Select(Address.Parse).ToImmutableArray(),
            },
        ],
        [],
        ImmutableArray<RoutingRule>.Empty,
        Sysctls.Defaults);

    private static Engine Create(Family family, Host host) => family == Family.IPv4
        ? Engine.Create(TestRules.Load(Rules), null, host, EngineOptions.Default)
        : Engine.Create(null, TestRules.Load(Rules, Family.IPv6), host, EngineOptions.Default);

    private static Harness.Packets.Packet Arriving(string group) =>
        P.Udp(group.Contains(':') ? "fd00:9::1" : "10.9.0.1", 40000, group, 5000, iface: "veth1");

    /// <summary>"raw PREROUTING=n, mangle PREROUTING=n, mangle INPUT=n, filter INPUT=n".</summary>
    private static string Counts(Engine engine, Family family) =>
        $"raw PREROUTING={engine.Counters.Get(family, "raw", "PREROUTING", 1).Packets}, "
        + $"mangle PREROUTING={engine.Counters.Get(family, "mangle", "PREROUTING", 1).Packets}, "
        + $"mangle INPUT={engine.Counters.Get(family, "mangle", "INPUT", 1).Packets}, "
        + $"filter INPUT={engine.Counters.Get(family, "filter", "INPUT", 1).Packets}";

    private const string Delivered = "raw PREROUTING=1, mangle PREROUTING=1, mangle INPUT=1, filter INPUT=1";
    private const string DroppedAfterPrerouting = "raw PREROUTING=1, mangle PREROUTING=1, mangle INPUT=0, filter INPUT=0";

    /// <summary>Group, whether the host joined 239.1.2.3 and ff05::1:3 on veth1, whether the packet reaches INPUT.</summary>
    public static TheoryData<string, bool, bool> Cases => new()
    {
        { "239.1.2.3", false, false },
        { "239.1.2.3", true, true },
        { "239.1.2.4", true, false }, // another group than the joined one
        { "224.0.0.1", false, true }, // the kernel's own all-hosts group
        { "224.0.0.251", false, false }, // mDNS with no socket joined
        { "ff05::1:3", false, false },
        { "ff05::1:3", true, true },
        { "ff05::1:4", true, false },
        { "ff02::1", false, true }, // all-nodes
        { "ff02::1:ff00:2", false, true }, // the solicited-node group of fd00:9::2
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Arriving_multicast_reaches_input_only_for_a_joined_group(string group, bool joined, bool delivered)
    {
        var family = group.Contains(':') ? Family.IPv6 : Family.IPv4;
        var engine = Create(family, joined ? Receiver("239.1.2.3", "ff05::1:3") : Receiver());
        var outcome = Assert.Single(engine.Process(Arriving(group)));
        if (delivered)
        {
            Assert.Equal(Disposition.Delivered, outcome.Disposition);
            Assert.Equal(Delivered, Counts(engine, family));
        }
        else
        {
            Assert.Equal(Disposition.Dropped, outcome.Disposition);
            Assert.Equal(Hook.Prerouting, outcome.DroppedAt);
            Assert.Equal($"multicast group {group} not joined on veth1", outcome.Reason);
            Assert.Equal(DroppedAfterPrerouting, Counts(engine, family));
        }
    }

    [Fact]
    public void A_group_joined_on_another_device_does_not_count()
    {
        var host = Receiver();
        host = host with { Interfaces = host.Interfaces.Select(i => i.IsLoopback ? i with { MulticastGroups = [Address.Parse("239.1.2.3")] } : i).ToImmutableArray() };
        var outcome = Assert.Single(Create(Family.IPv4, host).Process(Arriving("239.1.2.3")));
        Assert.Equal(Disposition.Dropped, outcome.Disposition);
        Assert.Equal("multicast group 239.1.2.3 not joined on veth1", outcome.Reason);
    }

    [Fact]
    public void All_routers_is_joined_only_with_ipv6_forwarding()
    {
        var host = Receiver();
        Assert.Equal(Disposition.Dropped, Assert.Single(Create(Family.IPv6, host).Process(Arriving("ff02::2"))).Disposition);
        host = host with { Sysctls = host.Sysctls.With("net.ipv6.conf.all.forwarding", "1") };
        Assert.Equal(Disposition.Delivered, Assert.Single(Create(Family.IPv6, host).Process(Arriving("ff02::2"))).Disposition);
    }

    // ---- the kernel ----

    [Fact]
    public void Kernel_counts_as_the_model()
    {
        // for each case: fresh counters, a receiver socket joined (or not) on veth1, one datagram from the peer
        var script = """"
            P=$1; D=$2
            trap 'ip netns del $P-a 2>/dev/null; ip netns del $P-b 2>/dev/null; true' EXIT
            set -e
            ip netns add $P-a; ip netns add $P-b
            for n in a b; do ip netns exec $P-$n sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0; done
            ip link add veth0 netns $P-a type veth peer name veth1 netns $P-b
            ip -n $P-a link set lo up; ip -n $P-b link set lo up
            ip -n $P-a link set veth0 address 02:00:00:00:01:01 up; ip -n $P-b link set veth1 address 02:00:00:00:01:02 up
            ip -n $P-a addr add 10.9.0.1/24 dev veth0; ip -n $P-b addr add 10.9.0.2/24 dev veth1
            ip -n $P-a addr add fd00:9::1/64 dev veth0 nodad; ip -n $P-b addr add fd00:9::2/64 dev veth1 nodad
            ip netns exec $P-b iptables-restore < $D/rules; ip netns exec $P-b ip6tables-restore < $D/rules
            while read dst joined; do
              case $dst in *:*) T=ip6tables;; *) T=iptables;; esac
              for t in raw mangle filter; do ip netns exec $P-b $T -t $t -Z; done
              ip netns exec $P-b python3 -c '
            import socket, struct, sys, subprocess
            dst, joined, peer = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
            idx = socket.if_nametoindex("veth1")
            if ":" in dst:
                m = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
                if joined: m.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, socket.inet_pton(socket.AF_INET6, dst) + struct.pack("@I", idx))
            else:
                m = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                if joined: m.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(dst) + socket.inet_aton("10.9.0.2"))
            send = """
            import socket, sys
            dst = sys.argv[1]
            if ":" in dst:
                idx = socket.if_nametoindex("veth0")
                s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
                s.sendto(b"x", (dst, 5000, 0, idx))
            else:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("10.9.0.1"))
                s.sendto(b"x", (dst, 5000))
            """
            subprocess.run(["ip", "netns", "exec", peer, "python3", "-c", send, dst], check=True)
            ' $dst $joined $P-a </dev/null
              for t in raw mangle filter; do
                ip netns exec $P-b $T -t $t -L -v -n -x | awk -v d=$dst -v j=$joined -v t=$t '/^Chain/{c=$2} /dpt:5000/{print d, j, t, c, $1}'
              done
            done <<'CASES'
            239.1.2.3 0
            239.1.2.3 1
            224.0.0.1 0
            224.0.0.251 0
            ff05::1:3 0
            ff05::1:3 1
            ff02::1 0
            ff02::1:ff00:2 0
            CASES
            """";
        if (KernelShell.Run(output, "maddr", script, new Dictionary<string, string> { ["rules"] = Rules }, "ip", "iptables-restore", "ip6tables-restore", "python3") is not { } printed) return;
        var text = string.Join('\n', printed);
        var checkedCases = 0;
        foreach (var (group, joined) in new[]
                 {
                     ("239.1.2.3", false), ("239.1.2.3", true), ("224.0.0.1", false), ("224.0.0.251", false),
                     ("ff05::1:3", false), ("ff05::1:3", true), ("ff02::1", false), ("ff02::1:ff00:2", false),
                 })
        {
            var prefix = $"{group} {(joined ? 1 : 0)} ";
            var lines = text.Split('\n').Where(l => l.StartsWith(prefix, StringComparison.Ordinal)).Select(l => l.Split(' ')).ToList();
            Assert.True(lines.Count == 4, $"the kernel check printed no counters for {group}: " + text);
            var kernel = string.Join(", ", lines.Select(f => $"{f[2]} {f[3]}={f[4]}"));
            var family = group.Contains(':') ? Family.IPv6 : Family.IPv4;
            var engine = Create(family, joined ? Receiver(group) : Receiver());
            engine.Process(Arriving(group));
            Assert.Equal(kernel, Counts(engine, family));
            checkedCases++;
        }
        Assert.Equal(8, checkedCases);
    }
}
