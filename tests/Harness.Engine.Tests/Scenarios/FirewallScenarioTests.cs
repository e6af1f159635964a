using Harness.Engine.Tests.Support;
using Harness.Net;
using Harness.Packets;

namespace Harness.Engine.Tests.Scenarios;

/// <summary>The classic stateful host firewall: loopback, established, INVALID, ssh, web, rate-limited ping, log + reject.</summary>
public class FirewallScenarioTests
{
    private const string Rules = """
        *filter
        :INPUT DROP [0:0]
        :FORWARD DROP [0:0]
        :OUTPUT ACCEPT [0:0]
        -A INPUT -i lo -j ACCEPT
        -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
        -A INPUT -m conntrack --ctstate INVALID -j DROP
        -A INPUT -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW -j ACCEPT
        -A INPUT -p tcp -m multiport --dports 80,443 -j ACCEPT
        -A INPUT -p icmp -m icmp --icmp-type 8 -m limit --limit 1/sec --limit-burst 2 -j ACCEPT
        -A INPUT -j LOG --log-prefix "DROP: "
        -A INPUT -p tcp -j REJECT --reject-with tcp-reset
        COMMIT
        """;

    private static Engine NewEngine() => Engine.Create(TestRules.Load(Rules), null, TestHosts.Server(), EngineOptions.Default);

    [Fact]
    public void Ssh_handshake_is_new_then_established()
    {
        var engine = NewEngine();
        var syn = engine.Process(P.Tcp("198.51.100.7", 40000, "10.0.0.10", 22, TcpFlags.Syn, "eth0", 1, 1.0, seq: 100))[0];
        var synAck = engine.Process(P.Tcp("10.0.0.10", 22, "198.51.100.7", 40000, TcpFlags.Syn | TcpFlags.Ack, null, 2, 1.01, seq: 500, ack: 101))[0];
        var ack = engine.Process(P.Tcp("198.51.100.7", 40000, "10.0.0.10", 22, TcpFlags.Ack, "eth0", 3, 1.02, seq: 101, ack: 501))[0];

        Assert.Equal((Disposition.Delivered, "filter:INPUT:4", "NEW"), (syn.Disposition, syn.DecidingRule, syn.Conntrack!.StateSeen));
        Assert.Equal("SYN_SENT", syn.Conntrack.TcpStateAfter);
        Assert.Equal((Disposition.Sent, "eth0", "ESTABLISHED"), (synAck.Disposition, synAck.OutInterface, synAck.Conntrack!.StateSeen));
        Assert.Equal("SYN_RECV", synAck.Conntrack.TcpStateAfter);
        Assert.Equal((Disposition.Delivered, "filter:INPUT:2"), (ack.Disposition, ack.DecidingRule));
        Assert.Equal("ESTABLISHED", ack.Conntrack!.TcpStateAfter);
        Assert.Single(engine.Conntrack.Entries);
    }

    [Fact]
    public void Closed_port_is_logged_and_rejected_with_a_reset()
    {
        var engine = NewEngine();
        var outcomes = engine.Process(P.Tcp("198.51.100.7", 40001, "10.0.0.10", 23, TcpFlags.Syn, "eth0", 1, 2.0, seq: 7000));
        Assert.Equal(2, outcomes.Count);
        var rejected = outcomes[0];
        Assert.Equal((FinalVerdict.Reject, Disposition.Rejected, "filter:INPUT:8", Hook.Input),
            (rejected.Verdict, rejected.Disposition, rejected.DecidingRule, rejected.DroppedAt));
        Assert.Equal(
            "DROP: IN=eth0 OUT= MAC= SRC=198.51.100.7 DST=10.0.0.10 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=TCP SPT=40001 DPT=23 WINDOW=64240 RES=0x00 SYN URGP=0 ",
            Assert.Single(rejected.Log));
        var rst = outcomes[1];
        Assert.True(rst.Generated);
        Assert.Equal((Disposition.Sent, "eth0"), (rst.Disposition, rst.OutInterface));
        var tcp = Assert.IsType<TcpHeader>(rst.Packet.Transport);
        Assert.Equal((TcpFlags.Rst | TcpFlags.Ack, (ushort)23, (ushort)40001, 0u, 7001u), (tcp.Flags, tcp.SourcePort, tcp.DestinationPort, tcp.Sequence, tcp.Acknowledgment));
        Assert.Equal(Address.Parse("198.51.100.7"), rst.Packet.Ip!.Destination);
        Assert.Empty(engine.Conntrack.Entries);
    }

    [Fact]
    public void Ping_flood_is_cut_by_the_limit_bucket_and_refills_with_the_capture_clock()
    {
        var engine = NewEngine();
        var verdicts = new[] { 10.0, 10.1, 10.2, 11.3, 11.4 }
            .Select((t, i) => engine.Process(P.Ping("198.51.100.7", "10.0.0.10", "eth0", i + 1, t, seq: (ushort)(i + 1)))[0])
            .Select(o => o.Disposition)
            .ToArray();
        // Burst 2: two pass, the third finds an empty bucket; 1.1 s later one token is back (1/sec), then empty again.
        Assert.Equal([Disposition.Delivered, Disposition.Delivered, Disposition.Dropped, Disposition.Delivered, Disposition.Dropped], verdicts);
    }

    [Fact]
    public void Web_ports_by_multiport_and_loopback_everything()
    {
        var engine = NewEngine();
        Assert.Equal("filter:INPUT:5", engine.Process(P.Syn("198.51.100.7", 40002, "10.0.0.10", 443, "eth0", 1, 3))[0].DecidingRule);
        Assert.Equal("filter:INPUT:1", engine.Process(P.Syn("127.0.0.1", 40003, "127.0.0.1", 25, null, 2, 3))[0].DecidingRule);
    }

    [Fact]
    public void Counters_follow_the_replay()
    {
        var engine = NewEngine();
        engine.Process(P.Syn("198.51.100.7", 40000, "10.0.0.10", 22, "eth0", 1, 1));
        engine.Process(P.Udp("198.51.100.7", 5000, "10.0.0.10", 161, "eth0", 2, 2));
        Assert.Equal(new Harness.Rules.Counters(1, 40), engine.Counters.Get(Family.IPv4, "filter", "INPUT", 4));
        Assert.Equal(new Harness.Rules.Counters(1, 38), engine.Counters.Get(Family.IPv4, "filter", "INPUT", 7));
        Assert.Equal(new Harness.Rules.Counters(1, 38), engine.Counters.Policy(Family.IPv4, "filter", "INPUT"));
    }
}
