using Harness.Engine.Tests.Support;
using Harness.Net;
using Harness.Packets;

namespace Harness.Engine.Tests.Scenarios;

/// <summary>A home NAT router: LAN masqueraded to the WAN, a port forward to a LAN server, stateful FORWARD.</summary>
public class NatRouterScenarioTests
{
    private const string Rules = """
        *nat
        :PREROUTING ACCEPT [0:0]
        :INPUT ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :POSTROUTING ACCEPT [0:0]
        -A PREROUTING -i eth0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 192.168.1.10:80
        -A POSTROUTING -o eth0 -j MASQUERADE
        COMMIT
        *filter
        :INPUT DROP [0:0]
        :FORWARD DROP [0:0]
        :OUTPUT ACCEPT [0:0]
        -A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
        -A FORWARD -i eth1 -o eth0 -j ACCEPT
        -A FORWARD -d 192.168.1.10/32 -i eth0 -o eth1 -p tcp -m tcp --dport 80 -m conntrack --ctstate NEW,DNAT -j ACCEPT
        COMMIT
        """;

    private static Engine NewEngine() => Engine.Create(TestRules.Load(Rules), null, TestHosts.Router(), EngineOptions.Default);

    private static (string Src, string Dst) Endpoints(Outcome o)
    {
        var ip = o.Packet.Ip!;
        var (sp, dp) = o.Packet.Transport switch
        {
            TcpHeader t => (t.SourcePort, t.DestinationPort),
            UdpHeader u => (u.SourcePort, u.DestinationPort),
            _ => ((ushort)0, (ushort)0),
        };
        return ($"{ip.Source}:{sp}", $"{ip.Destination}:{dp}");
    }

    [Fact]
    public void Lan_client_is_masqueraded_and_the_reply_is_translated_back()
    {
        var engine = NewEngine();
        var syn = engine.Process(P.Tcp("192.168.1.50", 40000, "198.51.100.7", 443, TcpFlags.Syn, "eth1", 1, 1.0, seq: 10))[0];
        var synAck = engine.Process(P.Tcp("198.51.100.7", 443, "203.0.113.1", 40000, TcpFlags.Syn | TcpFlags.Ack, "eth0", 2, 1.05, seq: 90, ack: 11))[0];

        Assert.Equal((Disposition.Forwarded, "eth0", "filter:FORWARD:2"), (syn.Disposition, syn.OutInterface, syn.DecidingRule));
        Assert.Equal(("203.0.113.1:40000", "198.51.100.7:443"), Endpoints(syn));
        Assert.Contains("POSTROUTING:nat:POSTROUTING:1", syn.Path.Select(s => s.ToString()));
        Assert.Equal("src=192.168.1.50 dst=198.51.100.7 sport=40000 dport=443", syn.Conntrack!.Original!.ToString());
        Assert.Equal("src=198.51.100.7 dst=203.0.113.1 sport=443 dport=40000", syn.Conntrack.Reply!.ToString());

        Assert.Equal((Disposition.Forwarded, "eth1", "filter:FORWARD:1", "ESTABLISHED"),
            (synAck.Disposition, synAck.OutInterface, synAck.DecidingRule, synAck.Conntrack!.StateSeen));
        Assert.Equal(("198.51.100.7:443", "192.168.1.50:40000"), Endpoints(synAck));
        // Replies never see the nat chains.
        Assert.DoesNotContain(synAck.Path, s => s.Table == "nat");
    }

    [Fact]
    public void Port_forward_reaches_the_lan_server_and_its_answer_leaves_from_the_router()
    {
        var engine = NewEngine();
        var syn = engine.Process(P.Tcp("198.51.100.7", 5555, "203.0.113.1", 8080, TcpFlags.Syn, "eth0", 1, 1.0, seq: 10))[0];
        var synAck = engine.Process(P.Tcp("192.168.1.10", 80, "198.51.100.7", 5555, TcpFlags.Syn | TcpFlags.Ack, "eth1", 2, 1.01, seq: 70, ack: 11))[0];
        var second = engine.Process(P.Tcp("198.51.100.7", 5555, "203.0.113.1", 8080, TcpFlags.Ack, "eth0", 3, 1.02, seq: 11, ack: 71))[0];

        Assert.Equal((Disposition.Forwarded, "eth1", "filter:FORWARD:3"), (syn.Disposition, syn.OutInterface, syn.DecidingRule));
        Assert.Equal(("198.51.100.7:5555", "192.168.1.10:80"), Endpoints(syn));
        Assert.Contains("PREROUTING:nat:PREROUTING:1", syn.Path.Select(s => s.ToString()));

        Assert.Equal((Disposition.Forwarded, "eth0"), (synAck.Disposition, synAck.OutInterface));
        Assert.Equal(("203.0.113.1:8080", "198.51.100.7:5555"), Endpoints(synAck));

        Assert.Equal(("198.51.100.7:5555", "192.168.1.10:80"), Endpoints(second));
        Assert.Equal("filter:FORWARD:1", second.DecidingRule);
        Assert.DoesNotContain(second.Path, s => s.Table == "nat");
    }

    [Fact]
    public void Unsolicited_wan_traffic_to_the_router_is_dropped_by_policy()
    {
        var o = NewEngine().Process(P.Syn("198.51.100.7", 5555, "203.0.113.1", 22, "eth0"))[0];
        Assert.Equal((FinalVerdict.Drop, "filter:INPUT:policy"), (o.Verdict, o.DecidingRule));
    }
}
