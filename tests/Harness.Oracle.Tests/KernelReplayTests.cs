using System.Collections.Immutable;
using Harness.Engine;
using Harness.Hosts;
using Harness.Net;
using Harness.Oracle;
using Harness.Packets;
using Xunit.Abstractions;

namespace Harness.Oracle.Tests;

/// <summary>A small hand-written case run through the real kernel, with concrete expectations.</summary>
[Collection("kernel")]
public class KernelReplayTests(ITestOutputHelper output)
{
    private const string Rules = """
        *nat
        :PREROUTING ACCEPT [0:0]
        :INPUT ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :POSTROUTING ACCEPT [0:0]
        -A PREROUTING -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.1.0.2:80
        -A POSTROUTING -o eth1 -p udp -j MASQUERADE
        COMMIT
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD DROP [0:0]
        :OUTPUT ACCEPT [0:0]
        :web - [0:0]
        -A INPUT -p tcp -m tcp --dport 22 -j DROP
        -A FORWARD -m conntrack --ctstate ESTABLISHED -j ACCEPT
        -A FORWARD -p tcp -j web
        -A FORWARD -p udp -m udp --dport 53 -j REJECT
        -A FORWARD -p udp -j ACCEPT
        -A web -p tcp -m tcp --dport 80 -j ACCEPT
        COMMIT

        """;

    private static readonly Host TwoLegs = new(
        [new HostInterface("eth0", 2, MacAddress.Parse("02:aa:00:00:00:01"), [new InterfaceAddress(Address.Parse("10.0.0.1"), 24)]),
         new HostInterface("eth1", 3, MacAddress.Parse("02:aa:00:00:00:02"), [new InterfaceAddress(Address.Parse("10.1.0.1"), 24)])],
        [], [], Sysctls.Defaults.With("net.ipv4.ip_forward", "1"));

    private static Packet Tcp(long n, string src, string dst, ushort sport, ushort dport, TcpFlags flags, uint seq, uint ack, string iface) =>
        Make(n, src, dst, new TcpHeader(sport, dport, seq, ack, flags, 1000), iface);

    private static Packet Udp(long n, string src, string dst, ushort sport, ushort dport, string iface) =>
        Make(n, src, dst, new UdpHeader(sport, dport, 8), iface);

    private static Packet Make(long n, string src, string dst, TransportHeader t, string iface)
    {
        var ip = new IpHeader
        {
            Family = Family.IPv4, Source = Address.Parse(src), Destination = Address.Parse(dst),
            Protocol = t is TcpHeader ? IpProtocol.Tcp : IpProtocol.Udp, Ttl = 64, TotalLength = 0, HeaderLength = 20, Id = (uint)(100 + n),
        };
        var bytes = PacketBuilder.Build(ip, t, []);
        return PacketDecoder.Decode(bytes, n, new Timestamp(1_700_000_000_000_000_000L + n * 1_000_000L), iface, PacketDirection.Inbound);
    }

    [Fact]
    public void Kernel_forwards_drops_rejects_and_rewrites_as_netfilter_does()
    {
        if (!Kernel.Available(output)) return;
        Packet[] packets =
        [
            Tcp(1, "10.0.0.2", "10.1.0.2", 40000, 80, TcpFlags.Syn, 1000, 0, "eth0"),
            Tcp(2, "10.1.0.2", "10.0.0.2", 80, 40000, TcpFlags.Syn | TcpFlags.Ack, 5000, 1001, "eth1"),
            Tcp(3, "10.0.0.2", "10.1.0.2", 40001, 8080, TcpFlags.Syn, 1000, 0, "eth0"),
            Tcp(4, "10.0.0.2", "10.1.0.2", 40002, 443, TcpFlags.Syn, 1000, 0, "eth0"),
            Tcp(5, "10.0.0.2", "10.0.0.1", 40003, 22, TcpFlags.Syn, 1000, 0, "eth0"),
            Udp(6, "10.0.0.2", "10.1.0.2", 5353, 53, "eth0"),
            Udp(7, "10.0.0.2", "10.1.0.2", 5353, 123, "eth0"),
        ];
        using var session = OracleSession.Create(TwoLegs);
        var result = session.Run(Rules, null, packets, new OracleOptions { Pace = true });
        var byKey = result.Outcomes.ToDictionary(o => o.PacketNumber + (o.Generated ? "r" : ""));
        foreach (var o in result.Outcomes)
            output.WriteLine($"{o.PacketNumber}{(o.Generated ? "r" : "")} {o.Verdict} {o.Disposition} {o.OutInterface} {o.DecidingRule} {o.Conntrack?.StateSeen} {o.Conntrack?.TcpStateAfter} {o.Conntrack?.Nat} {string.Join(";", o.Path)}");

        var syn = byKey["1"];
        Assert.Equal((Disposition.Forwarded, "eth1", "filter:web:1"), (syn.Disposition, syn.OutInterface, syn.DecidingRule));
        Assert.Equal(("NEW", "SYN_SENT"), (syn.Conntrack!.StateSeen, syn.Conntrack.TcpStateAfter));
        Assert.Equal(
            ["PREROUTING:nat:PREROUTING", "PREROUTING:nat:PREROUTING:policy", "FORWARD:filter:FORWARD", "FORWARD:filter:FORWARD:2",
             "FORWARD:filter:web", "FORWARD:filter:web:1", "POSTROUTING:nat:POSTROUTING", "POSTROUTING:nat:POSTROUTING:policy"],
            syn.Path.Select(s => s.ToString()));

        var synAck = byKey["2"];
        Assert.Equal((Disposition.Forwarded, "eth0", "filter:FORWARD:1"), (synAck.Disposition, synAck.OutInterface, synAck.DecidingRule));
        Assert.Equal(("ESTABLISHED", "SYN_RECV"), (synAck.Conntrack!.StateSeen, synAck.Conntrack.TcpStateAfter));

        var dnat = byKey["3"];
        Assert.Equal(Disposition.Forwarded, dnat.Disposition);
        Assert.Equal(80, ((TcpHeader)dnat.Packet.Transport!).DestinationPort);
        Assert.Equal("dst 10.1.0.2:8080->10.1.0.2:80", dnat.Conntrack!.Nat);
        Assert.Equal(63, dnat.Packet.Ip!.Ttl); // captured on the egress peer: the forwarded packet itself

        var dropped = byKey["4"];
        Assert.Equal((FinalVerdict.Drop, "filter:FORWARD:policy", (Hook?)Hook.Forward), (dropped.Verdict, dropped.DecidingRule, dropped.DroppedAt));

        var ssh = byKey["5"];
        Assert.Equal((FinalVerdict.Drop, "filter:INPUT:1", (Hook?)Hook.Input), (ssh.Verdict, ssh.DecidingRule, ssh.DroppedAt));

        var rejected = byKey["6"];
        Assert.Equal((FinalVerdict.Reject, Disposition.Rejected, "filter:FORWARD:3"), (rejected.Verdict, rejected.Disposition, rejected.DecidingRule));
        var icmp = byKey["6r"];
        Assert.Equal((Disposition.Sent, "eth0", "RELATED"), (icmp.Disposition, icmp.OutInterface, icmp.Conntrack!.StateSeen));
        Assert.Equal((3, 3), (((IcmpHeader)icmp.Packet.Transport!).Type, ((IcmpHeader)icmp.Packet.Transport!).Code));

        var masqueraded = byKey["7"];
        Assert.Equal(Address.Parse("10.1.0.1"), masqueraded.Packet.Ip!.Source);
        Assert.Equal("src 10.0.0.2:5353->10.1.0.1:5353", masqueraded.Conntrack!.Nat);
        Assert.Equal(8, result.Outcomes.Length);
    }

    [Fact]
    public void A_bad_tcp_checksum_is_invalid_and_a_bad_ip_checksum_never_reaches_netfilter()
    {
        if (!Kernel.Available(output)) return;
        var good = Tcp(1, "10.0.0.2", "10.1.0.2", 40000, 80, TcpFlags.Syn, 1000, 0, "eth0");
        var badTcp = Corrupt(Tcp(2, "10.0.0.2", "10.1.0.2", 40001, 80, TcpFlags.Syn, 1000, 0, "eth0"), 20 + 16);
        var badIp = Corrupt(Tcp(3, "10.0.0.2", "10.1.0.2", 40002, 80, TcpFlags.Syn, 1000, 0, "eth0"), 10);
        using var session = OracleSession.Create(TwoLegs);
        var result = session.Run(Rules, null, [good, badTcp, badIp], new OracleOptions { Pace = false });
        Assert.Equal("NEW", result.Outcomes[0].Conntrack!.StateSeen);
        Assert.Equal("INVALID", result.Outcomes[1].Conntrack!.StateSeen);
        // Conntrack only classifies: this ruleset lets INVALID through (FORWARD rule 2 sends all TCP to web).
        Assert.Equal((FinalVerdict.Accept, "filter:web:1"), (result.Outcomes[1].Verdict, result.Outcomes[1].DecidingRule));
        Assert.Equal((FinalVerdict.Drop, (string?)null), (result.Outcomes[2].Verdict, result.Outcomes[2].DecidingRule));
        Assert.Equal("dropped by the kernel before netfilter saw it", result.Outcomes[2].Reason);
    }

    private static Packet Corrupt(Packet p, int offset)
    {
        var bytes = p.Raw.ToArray();
        bytes[offset] ^= 0x5A;
        return PacketDecoder.Decode(bytes, p.Number, p.Time, p.Interface, p.Direction);
    }
}
