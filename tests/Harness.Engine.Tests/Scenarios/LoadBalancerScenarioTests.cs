using Harness.Engine.Tests.Support;
using Harness.Packets;

namespace Harness.Engine.Tests.Scenarios;

/// <summary>kube-proxy style KUBE-SERVICES/SVC/SEP chains: random (statistic random, seeded) and round-robin (nth) balancing.</summary>
public class LoadBalancerScenarioTests
{
    private static string KubeProxy(string balance) => $$"""
        *nat
        :PREROUTING ACCEPT [0:0]
        :INPUT ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :POSTROUTING ACCEPT [0:0]
        :KUBE-SERVICES - [0:0]
        :KUBE-SVC-WEB - [0:0]
        :KUBE-SEP-1 - [0:0]
        :KUBE-SEP-2 - [0:0]
        :KUBE-SEP-3 - [0:0]
        :KUBE-MARK-MASQ - [0:0]
        :KUBE-POSTROUTING - [0:0]
        -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
        -A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
        -A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
        -A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
        -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
        -A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
        -A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
        -A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-WEB
        -A KUBE-SVC-WEB ! -s 10.244.0.0/16 -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j KUBE-MARK-MASQ
        {{balance}}
        -A KUBE-SVC-WEB -j KUBE-SEP-3
        -A KUBE-SEP-1 -s 10.244.1.5/32 -j KUBE-MARK-MASQ
        -A KUBE-SEP-1 -p tcp -m tcp -j DNAT --to-destination 10.244.1.5:8080
        -A KUBE-SEP-2 -s 10.244.2.6/32 -j KUBE-MARK-MASQ
        -A KUBE-SEP-2 -p tcp -m tcp -j DNAT --to-destination 10.244.2.6:8080
        -A KUBE-SEP-3 -s 10.244.3.7/32 -j KUBE-MARK-MASQ
        -A KUBE-SEP-3 -p tcp -m tcp -j DNAT --to-destination 10.244.3.7:8080
        COMMIT
        """;

    private const string Random = """
        -A KUBE-SVC-WEB -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-1
        -A KUBE-SVC-WEB -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-2
        """;

    private const string RoundRobin = """
        -A KUBE-SVC-WEB -m statistic --mode nth --every 3 --packet 0 -j KUBE-SEP-1
        -A KUBE-SVC-WEB -m statistic --mode nth --every 2 --packet 0 -j KUBE-SEP-2
        """;

    /// <summary>The node: eth0 203.0.113.1/24 towards clients, eth1 192.168.1.1/24 towards the pods (10.244.0.0/16 routed there).</summary>
    private static Harness.Hosts.Host Node()
    {
        var h = TestHosts.Router();
        return h with { Routes = h.Routes.Add(new Harness.Hosts.Route(TestRules.Cidr4("10.244.0.0/16").Value, "eth1", Harness.Net.Address.Parse("192.168.1.2"))) };
    }

    private static List<string> Backends(string balance, int seed, int connections)
    {
        var engine = Engine.Create(TestRules.Load(KubeProxy(balance)), null, Node(), new EngineOptions(Seed: seed));
        var chosen = new List<string>();
        for (int i = 0; i < connections; i++)
        {
            var o = engine.Process(P.Syn("198.51.100.7", (ushort)(30000 + i), "10.96.0.10", 80, "eth0", i + 1, 1 + i * 0.001))[0];
            Assert.Equal(Disposition.Forwarded, o.Disposition);
            chosen.Add(o.Packet.Ip!.Destination.ToString());
        }
        return chosen;
    }

    [Fact]
    public void Round_robin_by_nth_cycles_through_the_endpoints()
    {
        // As the kernel does (checked in a namespace: new connections 1-4 take KUBE-SEP-1, 2, 3, 1): --every 3 --packet 0
        // matches the first connection that reaches it, then every third.
        Assert.Equal(["10.244.1.5", "10.244.2.6", "10.244.3.7", "10.244.1.5", "10.244.2.6", "10.244.3.7"], Backends(RoundRobin, 0, 6));
    }

    [Fact]
    public void Random_balancing_spreads_evenly_and_depends_only_on_the_seed()
    {
        var a = Backends(Random, 42, 300);
        Assert.Equal(a, Backends(Random, 42, 300));
        Assert.NotEqual(a, Backends(Random, 7, 300));
        foreach (var backend in new[] { "10.244.1.5", "10.244.2.6", "10.244.3.7" })
            Assert.InRange(a.Count(x => x == backend), 70, 130);
    }

    [Fact]
    public void Service_traffic_from_outside_is_marked_and_masqueraded_towards_the_pod()
    {
        var engine = Engine.Create(TestRules.Load(KubeProxy(RoundRobin)), null, Node(), EngineOptions.Default);
        var o = engine.Process(P.Syn("198.51.100.7", 30000, "10.96.0.10", 80, "eth0", 1, 1))[0];
        Assert.Equal((Disposition.Forwarded, "eth1"), (o.Disposition, o.OutInterface));
        Assert.Equal("192.168.1.1", o.Packet.Ip!.Source.ToString());
        Assert.Equal("10.244.1.5", o.Packet.Ip.Destination.ToString());
        Assert.Equal(8080, ((TcpHeader)o.Packet.Transport!).DestinationPort);
        Assert.Equal(0u, o.Mark); // KUBE-MARK-MASQ set 0x4000; KUBE-POSTROUTING's --set-xmark 0x4000/0x0 toggles it off again.
        Assert.Contains("PREROUTING:nat:KUBE-SEP-1:2", o.Path.Select(p => p.ToString()));
        Assert.Contains("POSTROUTING:nat:KUBE-POSTROUTING:3", o.Path.Select(p => p.ToString()));
    }
}
