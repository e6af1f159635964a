using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Harness.Engine.Conntrack;
using Harness.Engine.Tests.Support;
using Harness.Hosts;
using Harness.Net;
using Harness.Packets;
using Xunit.Abstractions;
using static Harness.Engine.Tests.Conntrack.CtPackets;
using static Harness.Engine.Tests.Support.KernelShell;
using static Harness.Engine.Tests.Support.NatRouterKernel;

namespace Harness.Engine.Tests.Conntrack;

/// <summary>
/// The helpers' refusals (nf_ct_expect_related, nf_nat_exp_find_port): two connections making the same expectation,
/// and a NAT helper finding no free port. A router 10.1.0.1 (f0, the client 10.1.0.2) / 172.16.100.1 (f1, the server
/// 172.16.100.2), with or without MASQUERADE towards the server. Model tests through the engine, and kernel checks
/// replaying the same frames in namespaces hx-ctne-PID-N (always deleted) that compare the packets arriving on each
/// side byte for byte, the FORWARD counters, "conntrack -L expect" and "conntrack -L".
/// </summary>
public sealed partial class HelperEdgeTests(ITestOutputHelper output)
{
    private const string Client = "10.1.0.2", Server = "172.16.100.2", RouterOut = "172.16.100.1";
    private const TcpFlags Syn = TcpFlags.Syn, Ack = TcpFlags.Ack, SynAck = TcpFlags.Syn | TcpFlags.Ack, PshAck = TcpFlags.Psh | TcpFlags.Ack;

    private static string Rules(bool nat) => $$"""
        *raw
        :PREROUTING ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A PREROUTING -p tcp --dport 21 -j CT --helper ftp
        -A PREROUTING -p udp -m multiport --dports 69,1069 -j CT --helper tftp
        -A PREROUTING -p tcp --dport 6667 -j CT --helper irc
        COMMIT
        {{(nat ? "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -o f1 -j MASQUERADE\nCOMMIT\n" : "")}}*filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A FORWARD -m conntrack --ctstate NEW
        -A FORWARD -m conntrack --ctstate RELATED
        -A FORWARD -m conntrack --ctstate ESTABLISHED
        -A FORWARD -m conntrack --ctstate INVALID
        COMMIT

        """;

    private static Host RouterHost() => NatRouterKernel.RouterHost(RouterOut);

    /// <summary>One frame: sent by the client ('c', into f0) or the server ('s', into f1); 'E' lists the expectations there.</summary>
    private sealed record Step(char Side, Packet? Packet);

    /// <summary>A session: its frames, and whether the router masquerades.</summary>
    private sealed record Session(bool Nat, List<Step> Steps);

    private sealed class Builder(bool nat)
    {
        public readonly List<Step> Steps = [];
        public double Time = 1;
        private string ToClient => nat ? RouterOut : Client;

        public void C(ushort sport, ushort dport, TcpFlags f, uint seq, uint ack, string payload = "") =>
            Steps.Add(new('c', Tcp(Time += 0.05, Client, sport, Server, dport, f, seq, ack, payload, window: 65535)));

        public void S(ushort sport, ushort dport, TcpFlags f, uint seq, uint ack, string payload = "") =>
            Steps.Add(new('s', Tcp(Time += 0.05, Server, sport, ToClient, dport, f, seq, ack, payload, window: 65535)));

        public void CU(ushort sport, ushort dport, string payload) => Steps.Add(new('c', Udp(Time += 0.05, Client, sport, Server, dport, payload)));

        public void SU(ushort sport, ushort dport, string payload) => Steps.Add(new('s', Udp(Time += 0.05, Server, sport, ToClient, dport, payload)));

        public void Expect() => Steps.Add(new('E', null));

        /// <summary>A control connection from <paramref name="sport"/> to <paramref name="dport"/> up to established, the server's greeting read.</summary>
        public void Open(ushort sport, ushort dport, uint c, uint s)
        {
            C(sport, dport, Syn, c - 1, 0);
            S(dport, sport, SynAck, s - 1, c);
            C(sport, dport, Ack, c, s);
            S(dport, sport, PshAck, s, c, "220 ready\r\n");
            C(sport, dport, PshAck, c, s + 11, "USER a\r\n"); // (the ftp helper reads a line only after a newline of the same direction)
            S(dport, sport, Ack, s + 11, c + 8);
        }
    }

    private static readonly string[] Tags = ["NEW", "RELATED", "ESTABLISHED", "INVALID"];

    /// <summary>
    /// Two FTP control connections from the same client to the same server announce the same data port 50000
    /// ("PORT 10,1,0,2,195,80"); the second then announces 50001 at the same sequence number (a new line there), and
    /// the server opens the data connections to 50000 and 50001.
    /// </summary>
    private static Session FtpSamePort(bool nat, ushort port = 50000)
    {
        var b = new Builder(nat);
        string Port(int p) => $"PORT 10,1,0,2,{p >> 8},{p & 0xFF}\r\n";
        b.Open(40000, 21, 1001, 5001);
        b.Open(40010, 21, 3001, 6001);
        b.C(40000, 21, PshAck, 1009, 5012, Port(port));
        b.Expect();
        b.C(40010, 21, PshAck, 3009, 6012, Port(port));
        b.Expect();
        b.C(40010, 21, PshAck, 3009, 6012, Port(50001));
        b.Expect();
        return new Session(nat, b.Steps);
    }

    /// <summary>Two IRC connections from the client announce DCC SEND to the same port; the second then announces port 5001.</summary>
    private static Session IrcSamePort(bool nat, ushort port = 5000)
    {
        var b = new Builder(nat);
        string Send(int p) => $"PRIVMSG bob :\u0001DCC SEND file 167837698 {p} 100\u0001\r\n";
        b.Open(40100, 6667, 2001, 8001);
        b.Open(40110, 6667, 4001, 9001);
        b.C(40100, 6667, PshAck, 2009, 8012, Send(port));
        b.Expect();
        b.C(40110, 6667, PshAck, 4009, 9012, Send(port));
        b.Expect();
        b.C(40110, 6667, PshAck, 4009, 9012, Send(5001));
        b.Expect();
        return new Session(nat, b.Steps);
    }

    /// <summary>
    /// Two TFTP read requests from the client's port 4000, to the server's 69 and 1069 (both with the helper): the same
    /// expected answer (server, any port → the client's 4000). Then the answer, from 5000, and a third request from 4001.
    /// </summary>
    private static Session TftpSameAnswer(bool nat)
    {
        var b = new Builder(nat);
        b.CU(4000, 69, "\0\u0001a\0octet\0");
        b.Expect();
        b.CU(4000, 1069, "\0\u0001b\0octet\0");
        b.Expect();
        b.SU(5000, 4000, "\0\u0003\0\u0001data");
        b.CU(4001, 1069, "\0\u0001c\0octet\0");
        b.Expect();
        return new Session(nat, b.Steps);
    }

    /// <summary>An FTP client's PORT for 5000, then an IRC connection's DCC SEND for 5000, then for 5001 (a new line at the same place).</summary>
    private static Session FtpThenIrc()
    {
        var b = new Builder(false);
        string Send(int p) => $"PRIVMSG bob :\u0001DCC SEND file 167837698 {p} 100\u0001\r\n";
        b.Open(40000, 21, 1001, 5001);
        b.Open(40100, 6667, 2001, 8001);
        b.C(40000, 21, PshAck, 1009, 5012, "PORT 10,1,0,2,19,136\r\n");
        b.C(40100, 6667, PshAck, 2009, 8012, Send(5000));
        b.Expect();
        b.C(40100, 6667, PshAck, 2009, 8012, Send(5001));
        b.Expect();
        return new Session(false, b.Steps);
    }

    private sealed record Run(List<string> ToServer, List<string> ToClient, List<ulong> Counters, List<string> Expect, List<string> Conntrack, List<Outcome> Outcomes);

    private static Run Model(Session session)
    {
        var engine = Engine.Create(TestRules.Load(Rules(session.Nat)), null, RouterHost(), EngineOptions.Default);
        var toServer = new List<string>();
        var toClient = new List<string>();
        var outcomes = new List<Outcome>();
        var expect = new List<string>();
        int n = 0;
        var last = T(0);
        foreach (var step in session.Steps)
        {
            if (step.Packet is not { } p)
            {
                expect.AddRange(ConntrackListFormatter.ExpectationLines(engine.Conntrack, last).Select(MaskTimeout).Order(StringComparer.Ordinal));
                expect.Add("--");
                continue;
            }
            last = p.Time;
            var inPacket = PacketDecoder.Decode(p.Raw.Span, ++n, p.Time, step.Side == 'c' ? "f0" : "f1");
            foreach (var o in engine.Process(inPacket))
            {
                outcomes.Add(o);
                if (o.Disposition != Disposition.Forwarded) continue;
                (o.OutInterface == "f1" ? toServer : toClient).Add(Convert.ToHexString(o.Packet.Raw.Span));
            }
        }
        var counters = Enumerable.Range(1, 4).Select(i => engine.Counters.Get(Family.IPv4, "filter", "FORWARD", i).Packets).ToList();
        var lines = ConntrackListFormatter.Lines(engine.Conntrack, last).Select(MaskTimeout).Order(StringComparer.Ordinal).ToList();
        return new Run(toServer, toClient, counters, expect, lines, outcomes);
    }

    private static Packet Decoded(string hex) => PacketDecoder.Decode(Convert.FromHexString(hex), 0, T(0));

    private static string PayloadOf(Packet p) =>
        Encoding.ASCII.GetString(p.Raw.Span[(p.Ip!.HeaderLength + p.Ip.Protocol switch { IpProtocol.Tcp => ((TcpHeader)p.Transport!).HeaderLength, _ => 8 })..]);

    /// <summary>A packet with a payload other than the login line.</summary>
    private static bool Announces(Packet p) => p.PayloadLength > 0 && !PayloadOf(p).StartsWith("USER", StringComparison.Ordinal);

    private static List<string> Dropped(Run run) => run.Outcomes.Where(o => o.Disposition == Disposition.Dropped).Select(o => o.Reason ?? "").ToList();

    // ---- the model ----

    [Fact]
    public void Ftp_second_master_expecting_the_same_data_connection_has_its_PORT_dropped()
    {
        var run = Model(FtpSamePort(nat: false));
        Assert.Equal(["nf_ct_ftp: dropping packet: cannot add expectation"], Dropped(run));
        var ports = run.ToServer.Select(Decoded).Where(Announces).Select(PayloadOf).ToList();
        Assert.Equal(["PORT 10,1,0,2,195,80\r\n", "PORT 10,1,0,2,195,81\r\n"], ports); // the first and the second's new line
        Assert.Equal([
            "T proto=6 src=172.16.100.2 dst=10.1.0.2 sport=0 dport=50000 mask-src=255.255.255.255 mask-dst=255.255.255.255 sport=0 dport=65535 master-src=10.1.0.2 master-dst=172.16.100.2 sport=40000 dport=21 class=0 helper=ftp", "--",
            "T proto=6 src=172.16.100.2 dst=10.1.0.2 sport=0 dport=50000 mask-src=255.255.255.255 mask-dst=255.255.255.255 sport=0 dport=65535 master-src=10.1.0.2 master-dst=172.16.100.2 sport=40000 dport=21 class=0 helper=ftp", "--",
            "T proto=6 src=172.16.100.2 dst=10.1.0.2 sport=0 dport=50000 mask-src=255.255.255.255 mask-dst=255.255.255.255 sport=0 dport=65535 master-src=10.1.0.2 master-dst=172.16.100.2 sport=40000 dport=21 class=0 helper=ftp",
            "T proto=6 src=172.16.100.2 dst=10.1.0.2 sport=0 dport=50001 mask-src=255.255.255.255 mask-dst=255.255.255.255 sport=0 dport=65535 master-src=10.1.0.2 master-dst=172.16.100.2 sport=40010 dport=21 class=0 helper=ftp", "--"],
            run.Expect);
        Assert.Equal([2ul, 0, 13, 0], run.Counters); // the dropped PORT passed FORWARD (ESTABLISHED) and was dropped at confirm
    }

    [Fact]
    public void Ftp_through_MASQUERADE_announcing_port_65535_taken_by_another_master_is_dropped_all_ports_in_use()
    {
        var run = Model(FtpSamePort(nat: true, port: 65535));
        Assert.Equal(["nf_ct_ftp: dropping packet: all ports in use"], Dropped(run));
        var ports = run.ToServer.Select(Decoded).Where(Announces).Select(PayloadOf).ToList();
        Assert.Equal(["PORT 172,16,100,1,255,255\r\n", "PORT 172,16,100,1,195,81\r\n"], ports);
        Assert.DoesNotContain(run.Outcomes, o => o.Reason?.Contains("warn", StringComparison.OrdinalIgnoreCase) == true);
    }

    [Fact]
    public void Ftp_through_MASQUERADE_announcing_port_65534_taken_is_dropped_though_65535_is_free()
    {
        var run = Model(FtpSamePort(nat: true, port: 65534));
        Assert.Equal(["nf_ct_ftp: dropping packet: all ports in use"], Dropped(run));
        Assert.DoesNotContain(run.Expect, l => l.Contains("dport=65535 mask", StringComparison.Ordinal));
    }

    [Fact]
    public void Ftp_through_MASQUERADE_with_the_port_taken_moves_to_a_free_one()
    {
        var run = Model(FtpSamePort(nat: true));
        Assert.Empty(Dropped(run));
        var ports = run.ToServer.Select(Decoded).Where(Announces).Select(PayloadOf).ToList();
        // the kernel takes a random free port of 50000..65534 for the second; the model the next one (which its new line, 50001, then keeps)
        Assert.Equal(["PORT 172,16,100,1,195,80\r\n", "PORT 172,16,100,1,195,81\r\n", "PORT 172,16,100,1,195,81\r\n"], ports);
    }

    [Fact]
    public void Irc_second_master_announcing_the_same_DCC_port_has_its_packet_dropped()
    {
        var run = Model(IrcSamePort(nat: false));
        Assert.Equal(["nf_ct_irc: dropping packet: cannot add expectation"], Dropped(run));
        Assert.Equal(2, run.ToServer.Select(Decoded).Count(Announces));
        Assert.Equal([2ul, 0, 13, 0], run.Counters);
        Assert.Equal(3, run.Expect.Count(l => l.Contains("dport=5000 ", StringComparison.Ordinal))); // the first master's, in each listing
        Assert.Single(run.Expect, l => l.Contains("dport=5001 ", StringComparison.Ordinal) && l.Contains("master-src=10.1.0.2 master-dst=172.16.100.2 sport=40110 ", StringComparison.Ordinal));
    }

    [Fact]
    public void Irc_through_MASQUERADE_announcing_port_65535_taken_by_another_master_is_dropped_all_ports_in_use()
    {
        var run = Model(IrcSamePort(nat: true, port: 65535));
        Assert.Equal(["nf_ct_irc: dropping packet: all ports in use"], Dropped(run));
        var sends = run.ToServer.Select(Decoded).Where(Announces).Select(PayloadOf).ToList();
        Assert.Equal(["PRIVMSG bob :\u0001DCC SEND file 2886755329 65535 100\u0001\r\n", "PRIVMSG bob :\u0001DCC SEND file 2886755329 5001 100\u0001\r\n"], sends);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Tftp_second_request_expecting_the_same_answer_is_dropped_and_its_connection_not_confirmed(bool nat)
    {
        var run = Model(TftpSameAnswer(nat));
        Assert.Equal(["nf_ct_tftp: dropping packet: cannot add expectation"], Dropped(run));
        Assert.DoesNotContain(run.Conntrack, l => l.Contains("dport=1069 ", StringComparison.Ordinal) && l.Contains("sport=4000 ", StringComparison.Ordinal));
        Assert.Equal([3ul, 1, 0, 0], run.Counters); // NEW: the three requests passed FORWARD; RELATED: the answer
    }

    [Fact]
    public void Irc_DCC_to_the_port_an_ftp_master_expects_clashes_under_the_intersection_of_the_masks()
    {
        // the ftp expectation (from the server only) and the irc one (from anywhere) to 10.1.0.2:5000 clash
        var run = Model(FtpThenIrc());
        Assert.Equal(["nf_ct_irc: dropping packet: cannot add expectation"], Dropped(run));
        Assert.Equal(["PORT 10,1,0,2,19,136\r\n", "PRIVMSG bob :\u0001DCC SEND file 167837698 5001 100\u0001\r\n"],
            run.ToServer.Select(Decoded).Where(Announces).Select(PayloadOf));
    }

    // ---- the kernel ----

    [Fact]
    public void Kernel_ftp_same_expectation_without_NAT() => KernelCompare(FtpSamePort(nat: false));

    [Fact]
    public void Kernel_ftp_all_ports_in_use_through_MASQUERADE() => KernelCompare(FtpSamePort(nat: true, port: 65535));

    /// <summary>65534 taken: the kernel's one other try is 65534 + random(1), 65534 again, so it drops though 65535 is free.</summary>
    [Fact]
    public void Kernel_ftp_port_65534_taken_is_dropped_though_65535_is_free() => KernelCompare(FtpSamePort(nat: true, port: 65534));

    [Fact]
    public void Kernel_irc_same_expectation_without_NAT() => KernelCompare(IrcSamePort(nat: false));

    [Fact]
    public void Kernel_irc_all_ports_in_use_through_MASQUERADE() => KernelCompare(IrcSamePort(nat: true, port: 65535));

    [Fact]
    public void Kernel_ftp_and_irc_expectations_clash() => KernelCompare(FtpThenIrc());

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Kernel_tftp_same_expectation(bool nat) => KernelCompare(TftpSameAnswer(nat));

    private void KernelCompare(Session session)
    {
        if (NatRouterKernel.Run(output, "ctne", Rules(session.Nat), session.Steps.Select(s => Frame(s.Side, s.Packet))) is not { } lines) return;
        var model = Model(session);
        Assert.Equal(model.ToServer, Field(lines, "RXS "));
        Assert.Equal(model.ToClient, Field(lines, "RXC "));
        Assert.Equal(model.Counters, Counters(lines));
        Assert.Equal(model.Expect, ExpectationBlocks(lines));
        Assert.Equal(model.Conntrack, NatRouterKernel.Conntrack(lines));
    }

    // ---- sequence adjustment through lo ----

    private const string LoRules = """
        *raw
        :PREROUTING ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A OUTPUT -p tcp --dport 21 -j CT --helper ftp
        COMMIT
        *nat
        :PREROUTING ACCEPT [0:0]
        :INPUT ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :POSTROUTING ACCEPT [0:0]
        -A POSTROUTING -o lo -p tcp --dport 21 -j SNAT --to-source 10.200.0.100
        COMMIT

        """;

    private static Host LoHost() => new(
        [
            new HostInterface("lo", 1, new MacAddress(0),
                [new InterfaceAddress(Address.Parse("127.0.0.1"), 8), new InterfaceAddress(Address.Parse("10.200.0.1"), 32), new InterfaceAddress(Address.Parse("10.200.0.100"), 32)],
                IsLoopback: true, Mtu: 65536),
        ],
        [],
        ImmutableArray<RoutingRule>.Empty,
        Sysctls.Defaults);

    /// <summary>One packet as it crossed lo: "SRC:SPORT>DST:DPORT seq ack payload".</summary>
    private static string LoLine(Packet p)
    {
        var th = (TcpHeader)p.Transport!;
        return string.Create(CultureInfo.InvariantCulture, $"{p.Ip!.Source}:{th.SourcePort}>{p.Ip.Destination}:{th.DestinationPort} {th.Sequence} {th.Acknowledgment} {PayloadOf(p)}").TrimEnd();
    }

    /// <summary>
    /// A local FTP session over lo, both ends on 10.200.0.1 (client port 40000), the client SNATed to 10.200.0.100 on
    /// its way out through lo: the packets as the sockets send them (client ISN <paramref name="c0"/>, server ISN
    /// <paramref name="s0"/>; the server acknowledges the 26 bytes of the rewritten PORT), each locally generated; the
    /// packets as they come back in, and "conntrack -L expect".
    /// </summary>
    private static (List<string> Looped, List<string> Expect, List<Outcome> Outcomes) LoModel(uint c0, uint s0)
    {
        var engine = Engine.Create(TestRules.Load(LoRules), null, LoHost(), EngineOptions.Default);
        const string me = "10.200.0.1", nat = "10.200.0.100", port = "PORT 10,200,0,1,195,80\r\n";
        uint c = c0 + 1, s = s0 + 1;
        double t = 1;
        Packet Cl(TcpFlags f, uint seq, uint ack, string payload = "") => Tcp(t += 0.05, me, 40000, me, 21, f, seq, ack, payload, window: 65535);
        Packet Sv(TcpFlags f, uint seq, uint ack, string payload = "") => Tcp(t += 0.05, me, 21, nat, 40000, f, seq, ack, payload, window: 65535);
        var sent = new List<Packet>
        {
            Cl(Syn, c0, 0), Sv(SynAck, s0, c), Cl(Ack, c, s),
            Sv(PshAck, s, c, "220 hi\r\n"), Cl(Ack, c, s + 8),
            Cl(PshAck, c, s + 8, "USER a\r\n"), Sv(Ack, s + 8, c + 8),
            Cl(PshAck, c + 8, s + 8, port), Sv(Ack, s + 8, c + 8 + 26), // the server received the rewritten 26 bytes
            Cl(PshAck, c + 8 + 24, s + 8, "LIST\r\n"), Sv(Ack, s + 8, c + 8 + 26 + 6),
        };
        var outcomes = new List<Outcome>();
        foreach (var p in sent)
            outcomes.AddRange(engine.Process(PacketDecoder.Decode(p.Raw.Span, p.Number, p.Time)));
        var expect = ConntrackListFormatter.ExpectationLines(engine.Conntrack, T(t)).Select(MaskTimeout).ToList();
        return (outcomes.Select(o => LoLine(o.Packet)).ToList(), expect, outcomes);
    }

    [Fact]
    public void Ftp_through_SNAT_on_lo_is_sequence_adjusted_once_on_the_way_out()
    {
        // the numbers of a kernel run (Kernel_ftp_through_SNAT_on_lo_is_sequence_adjusted_once)
        const uint c0 = 3391836623, s0 = 2029485160;
        var (looped, expect, outcomes) = LoModel(c0, s0);
        Assert.All(outcomes, o => Assert.Equal(Disposition.Delivered, o.Disposition));
        Assert.Equal([
            "10.200.0.100:40000>10.200.0.1:21 3391836632 2029485169 PORT 10,200,0,100,195,80", // rewritten, 2 bytes longer
            "10.200.0.1:21>10.200.0.1:40000 2029485169 3391836656", // the server's ack (658) back in the client's numbers
            "10.200.0.100:40000>10.200.0.1:21 3391836658 2029485169 LIST", // the client's 656 moved on by 2
            "10.200.0.1:21>10.200.0.1:40000 2029485169 3391836662",
        ], looped[^4..]);
        Assert.Equal(["T proto=6 src=10.200.0.1 dst=10.200.0.100 sport=0 dport=50000 mask-src=255.255.255.255 mask-dst=255.255.255.255 sport=0 dport=65535 master-src=10.200.0.1 master-dst=10.200.0.1 sport=40000 dport=21 class=0 helper=ftp"], expect);
    }

    [Fact]
    public void A_packet_received_on_lo_is_not_sequence_adjusted_at_its_confirm()
    {
        // a masqueraded ftp control connection whose PORT grew by 4 (10,1,0,2 -> 172,16,100,1)
        var table = Table();
        var helper = CtTemplate.Default.WithHelper("ftp");
        Forward(Tcp(1, Client, 40000, Server, 21, Syn, 1000, 0), helper);
        Forward(Tcp(1.1, Server, 21, RouterOut, 40000, SynAck, 5000, 1001), null);
        Forward(Tcp(1.2, Client, 40000, Server, 21, PshAck, 1001, 5001, "USER a\r\n"), null);
        Forward(Tcp(1.3, Server, 21, RouterOut, 40000, Ack, 5001, 1009), null);
        var port = Forward(Tcp(1.4, Client, 40000, Server, 21, PshAck, 1009, 5001, "PORT 10,1,0,2,195,80\r\n"), null);
        Assert.Equal("PORT 172,16,100,1,195,80\r\n", PayloadOf(port));
        var list = Tcp(1.5, Client, 40000, Server, 21, PshAck, 1031, 5001, "LIST\r\n");
        Assert.Equal(1035u, ((TcpHeader)Forward(list, null).Transport!).Sequence); // on the way out: moved by 4
        var again = Tcp(1.6, Client, 40000, Server, 21, PshAck, 1031, 5001, "LIST\r\n");
        Assert.Equal(1031u, ((TcpHeader)Forward(again, null, loopback: true).Transport!).Sequence); // received on lo: as it came

        Packet Forward(Packet p, CtTemplate? template, bool loopback = false)
        {
            var ct = table.Process(p, Hook.Prerouting, template);
            if (table.NeedsNat(ct, NatManipType.Destination)) table.SetupNullBinding(ct, NatManipType.Destination);
            p = table.ApplyNat(ct, p, NatManipType.Destination);
            if (table.NeedsNat(ct, NatManipType.Source)) table.SetupNat(ct, NatManipType.Source, Router.To(RouterOut));
            p = table.ApplyNat(ct, p, NatManipType.Source);
            Assert.True(table.Confirm(ct, ref p, loopback: loopback));
            return p;
        }
    }

    /// <summary>
    /// Real sockets in one namespace $1 (deleted at exit): a server on 10.200.0.1:21, a client from 10.200.0.1:40000,
    /// SNAT to 10.200.0.100 on lo; USER, PORT, LIST. Prints "ISN c s", "LO line" per data packet and per server ACK
    /// (as tcpdump saw them on lo) and "GOT" (what the server read).
    /// </summary>
    private const string LoScript = """
        P=$1; D=$2
        trap 'set +e; kill $T 2>/dev/null; ip netns del $P 2>/dev/null; true' EXIT
        set -e
        ip netns add $P
        ip netns exec $P sh -c 'ip link set lo up; ip addr add 10.200.0.1/32 dev lo; ip addr add 10.200.0.100/32 dev lo; ethtool -K lo tx off tso off gso off >/dev/null 2>&1; true'
        ip netns exec $P iptables-restore < $D/rules
        ip netns exec $P tcpdump -i lo -U -w $D/lo.pcap >/dev/null 2>&1 & T=$!
        sleep 1.5
        ip netns exec $P python3 -c '
        import socket, threading, time
        srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); srv.bind(("10.200.0.1", 21)); srv.listen(1)
        got = []
        def serve():
            c, a = srv.accept()
            c.sendall(b"220 hi\r\n"); c.settimeout(2)
            try:
                while True:
                    d = c.recv(4096)
                    if not d: break
                    got.append(d)
            except OSError: pass
        th = threading.Thread(target=serve); th.start()
        cl = socket.socket(); cl.bind(("10.200.0.1", 40000)); cl.connect(("10.200.0.1", 21)); cl.recv(100)
        cl.sendall(b"USER a\r\n"); time.sleep(0.3)
        cl.sendall(b"PORT 10,200,0,1,195,80\r\n"); time.sleep(0.3)
        cl.sendall(b"LIST\r\n"); time.sleep(0.3)
        cl.close(); th.join()
        print("GOT " + repr(b"".join(got)), flush=True)
        '
        sleep 0.5
        kill -INT $T; wait $T || true
        python3 -c '
        import struct, sys
        data = open(sys.argv[1], "rb").read()
        i = 24; isn = {}; after_port = False
        while i + 16 <= len(data):
            incl = struct.unpack("<I", data[i + 8:i + 12])[0]
            f = data[i + 16:i + 16 + incl]; i += 16 + incl
            ip = f[14:]
            if ip[9] != 6: continue
            hl = (ip[0] & 15) * 4; tl = int.from_bytes(ip[2:4], "big"); tcp = ip[hl:tl]
            sport, dport, seq, ack = struct.unpack(">HHII", tcp[:12]); flags = tcp[13]; pl = tcp[(tcp[12] >> 4) * 4:]
            src = ".".join(map(str, ip[12:16])); dst = ".".join(map(str, ip[16:20]))
            if flags & 2: isn[sport] = seq
            if pl.startswith(b"PORT"): after_port = True
            if after_port and not flags & 1 and (pl or sport == 21):
                print("LO %s:%d>%s:%d %d %d %s" % (src, sport, dst, dport, seq, ack, pl.decode().rstrip()))
        print("ISN %d %d" % (isn[40000], isn[21]))
        ' $D/lo.pcap
        """;

    [Fact]
    public void Kernel_ftp_through_SNAT_on_lo_is_sequence_adjusted_once()
    {
        if (Run(output, "ctne", LoScript, new Dictionary<string, string> { ["rules"] = LoRules }, "ip", "iptables-restore", "python3", "tcpdump") is not { } lines) return;
        var isn = Field(lines, "ISN ").Single().Split(' ').Select(x => uint.Parse(x, CultureInfo.InvariantCulture)).ToArray();
        var (looped, _, _) = LoModel(isn[0], isn[1]);
        Assert.Equal(looped[^4..], Field(lines, "LO "));
        Assert.Equal("b'USER a\\r\\nPORT 10,200,0,100,195,80\\r\\nLIST\\r\\n'", Field(lines, "GOT ").Single());
    }
}
