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
/// The conntrack helpers through NAT (nf_nat_tftp, nf_nat_ftp): a router 10.1.0.1 (f0, the client's side) /
/// 172.16.100.1 (f1, the server's side) masquerades the client 10.1.0.2 towards the server 172.16.100.2. Model tests
/// through the engine, and a kernel check replaying the same frames in namespaces hx-cthn-PID-N (always deleted) that
/// compares the packets arriving on each side byte for byte, the FORWARD counters and "conntrack -L".
/// </summary>
public sealed partial class HelperNatTests(ITestOutputHelper output)
{
    private const string Client = "10.1.0.2", Server = "172.16.100.2", RouterOut = "172.16.100.1";
    private const ushort ControlPort = 40000;
    private const TcpFlags Syn = TcpFlags.Syn, Ack = TcpFlags.Ack, SynAck = TcpFlags.Syn | TcpFlags.Ack, PshAck = TcpFlags.Psh | TcpFlags.Ack;

    private const string Rules = """
        *raw
        :PREROUTING ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A PREROUTING -p tcp --dport 21 -j CT --helper ftp
        -A PREROUTING -p udp --dport 69 -j CT --helper tftp
        -A PREROUTING -p tcp --dport 6667 -j CT --helper irc
        COMMIT
        *nat
        :PREROUTING ACCEPT [0:0]
        :INPUT ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :POSTROUTING ACCEPT [0:0]
        -A POSTROUTING -o f1 -j MASQUERADE
        COMMIT
        *filter
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

    /// <summary>One frame of the replay: sent by the client ('c', into f0) or the server ('s', into f1); "EXPECT" lists the expectations there.</summary>
    private sealed record Step(char Side, Packet? Packet);

    private static Step C(double t, ushort sport, ushort dport, TcpFlags f, uint seq, uint ack, string payload = "") =>
        new('c', Tcp(t, Client, sport, Server, dport, f, seq, ack, payload, window: 65535));

    private static Step S(double t, ushort sport, ushort dport, TcpFlags f, uint seq, uint ack, string payload = "") =>
        new('s', Tcp(t, Server, sport, RouterOut, dport, f, seq, ack, payload, window: 65535));

    /// <summary>
    /// The FTP session: the client's PORT and EPRT each grow by 4 bytes ("10,1,0,2" becomes "172,16,100,1"), so the
    /// server acknowledges in numbers 4 and then 8 higher than the client's; the server's active data connection
    /// from port 20 to the NATed port 40001; then a TFTP read request answered from a new port.
    /// </summary>
    private static List<Step> Session()
    {
        double t = 1;
        const string port = "PORT 10,1,0,2,156,65\r\n", eprt = "EPRT |1|10.1.0.2|40002|\r\n";
        uint c = 1001, s = 5001;
        var steps = new List<Step>
        {
            C(t += 0.05, ControlPort, 21, Syn, 1000, 0),
            S(t += 0.05, 21, ControlPort, SynAck, 5000, 1001),
            C(t += 0.05, ControlPort, 21, Ack, 1001, 5001),
            S(t += 0.05, 21, ControlPort, PshAck, s, c, "220 ready\r\n"),
        };
        s += 11;
        steps.Add(C(t += 0.05, ControlPort, 21, PshAck, c, s, "USER a\r\n"));
        c += 8;
        steps.Add(S(t += 0.05, 21, ControlPort, Ack, s, c));
        steps.Add(C(t += 0.05, ControlPort, 21, PshAck, c, s, port));
        steps.Add(new Step('E', null));
        c += (uint)port.Length;
        steps.Add(S(t += 0.05, 21, ControlPort, PshAck, s, c + 4, "200 ok\r\n")); // the server saw 4 more bytes
        s += 8;
        // the data connection: server 20 -> the router's 40001, on to the client's 40001
        steps.Add(S(t += 0.05, 20, 40001, Syn, 9000, 0));
        steps.Add(C(t += 0.05, 40001, 20, SynAck, 7000, 9001));
        steps.Add(S(t += 0.05, 20, 40001, Ack, 9001, 7001));
        steps.Add(C(t += 0.05, ControlPort, 21, PshAck, c, s, eprt));
        c += (uint)eprt.Length;
        steps.Add(S(t += 0.05, 21, ControlPort, PshAck, s, c + 8, "200 ok\r\n"));
        s += 8;
        steps.Add(C(t += 0.05, ControlPort, 21, PshAck, c, s, "QUIT\r\n"));
        c += 6;
        steps.Add(S(t += 0.05, 21, ControlPort, PshAck, s, c + 8, "221 bye\r\n"));
        // tftp: a read request from 4000, the answer from 5000 to the router's 4000, the client's ACK to 5000
        steps.Add(new Step('c', Udp(t += 0.05, Client, 4000, Server, 69, "\0\u0001file\0octet\0")));
        steps.Add(new Step('s', Udp(t += 0.05, Server, 5000, RouterOut, 4000, "\0\u0003\0\u0001data")));
        steps.Add(new Step('c', Udp(t += 0.05, Client, 4000, Server, 5000, "\0\u0004\0\u0001")));
        return steps;
    }

    private const ushort IrcPort = 40100;
    private const string IrcSend = "PRIVMSG bob :\u0001DCC SEND file 167837698 5000 100\u0001\r\n", IrcChat = "PRIVMSG bob :\u0001DCC CHAT chat 2886755329 5001\u0001\r\n";

    /// <summary>
    /// The IRC session: a DCC SEND announcing the client's own address (167837698 = 10.1.0.2), rewritten to the NATed
    /// 2886755329 = 172.16.100.1 (one digit more); the DCC connection from the server machine to the NATed port 5000;
    /// a DCC CHAT already announcing the NATed address (the same text again); QUIT.
    /// </summary>
    private static List<Step> IrcSession()
    {
        double t = 1;
        const string send = IrcSend, chat = IrcChat;
        uint c = 2001, s = 8001;
        var steps = new List<Step>
        {
            C(t += 0.05, IrcPort, 6667, Syn, 2000, 0),
            S(t += 0.05, 6667, IrcPort, SynAck, 8000, 2001),
            C(t += 0.05, IrcPort, 6667, Ack, c, s),
            C(t += 0.05, IrcPort, 6667, PshAck, c, s, send),
            new Step('E', null),
        };
        c += (uint)send.Length;
        steps.Add(S(t += 0.05, 6667, IrcPort, Ack, s, c + 1));
        steps.Add(S(t += 0.05, 33000, 5000, Syn, 9500, 0));
        steps.Add(C(t += 0.05, 5000, 33000, SynAck, 7500, 9501));
        steps.Add(S(t += 0.05, 33000, 5000, Ack, 9501, 7501));
        steps.Add(C(t += 0.05, IrcPort, 6667, PshAck, c, s, chat));
        c += (uint)chat.Length;
        steps.Add(S(t += 0.05, 6667, IrcPort, Ack, s, c + 1));
        steps.Add(C(t += 0.05, IrcPort, 6667, PshAck, c, s, "QUIT\r\n"));
        c += 6;
        steps.Add(S(t += 0.05, 6667, IrcPort, Ack, s, c + 1));
        return steps;
    }

    private sealed record Run(List<string> ToServer, List<string> ToClient, List<ulong> Counters, List<string> Expect, List<string> Conntrack, List<Outcome> Outcomes);

    private static Run Model(List<Step> steps)
    {
        var engine = Engine.Create(TestRules.Load(Rules), null, RouterHost(), EngineOptions.Default);
        var toServer = new List<string>();
        var toClient = new List<string>();
        var outcomes = new List<Outcome>();
        var expect = new List<string>();
        int n = 0;
        var last = T(0);
        foreach (var step in steps)
        {
            if (step.Packet is not { } p)
            {
                expect.AddRange(ConntrackListFormatter.ExpectationLines(engine.Conntrack, last).Select(MaskTimeout));
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
        Encoding.ASCII.GetString(p.Raw.Span[(p.Ip!.HeaderLength + ((TcpHeader)p.Transport!).HeaderLength)..]);

    // ---- the model ----

    [Fact]
    public void Ftp_PORT_and_EPRT_through_MASQUERADE_are_rewritten_and_later_packets_seq_adjusted()
    {
        var run = Model(Session());
        var toServer = run.ToServer.Select(Decoded).ToList();
        var toClient = run.ToClient.Select(Decoded).ToList();
        var control = toServer.Where(p => p.Transport is TcpHeader { SourcePort: ControlPort }).ToList();
        // SYN, ACK, USER, PORT, EPRT, QUIT as the server receives them
        Assert.Equal(["", "", "USER a\r\n", "PORT 172,16,100,1,156,65\r\n", "EPRT |1|172.16.100.1|40002|\r\n", "QUIT\r\n"], control.Select(PayloadOf));
        Assert.Equal([1000u, 1001, 1001, 1009, 1031 + 4, 1056 + 8], control.Select(p => ((TcpHeader)p.Transport!).Sequence));
        Assert.All(control, p => Assert.Equal(RouterOut, p.Ip!.Source.ToString()));
        // every packet leaves with correct IP and TCP checksums, the resized ones with their new length
        foreach (var p in toServer.Concat(toClient))
        {
            Assert.Null(p.TransportError);
            Assert.Equal(p.Raw.Length, p.Ip!.TotalLength);
            Assert.Equal(0, InternetChecksum.Compute(p.Raw.Span[..p.Ip.HeaderLength]));
            Assert.Equal(0, InternetChecksum.Transport(p.Ip.Source, p.Ip.Destination, p.Ip.Protocol, p.Raw.Span[p.Ip.HeaderLength..]));
        }
        Assert.Equal(20 + 20 + 26, control[3].Ip!.TotalLength);
        // the server's acknowledgments, taken back to the client's numbers
        var replies = toClient.Where(p => p.Transport is TcpHeader { SourcePort: 21 }).ToList();
        Assert.Equal([1001u, 1001, 1009, 1031, 1056, 1062], replies.Select(p => ((TcpHeader)p.Transport!).Acknowledgment));
        // the data connection: RELATED, from the server's port 20 to the client's own address and port 40001
        var dataSyn = toClient.Single(p => p.Transport is TcpHeader { SourcePort: 20, Flags: Syn });
        Assert.Equal((Server, Client, (ushort)40001), (dataSyn.Ip!.Source.ToString(), dataSyn.Ip.Destination.ToString(), ((TcpHeader)dataSyn.Transport!).DestinationPort));
        var synAck = toServer.Single(p => p.Transport is TcpHeader { SourcePort: 40001 });
        Assert.Equal(RouterOut, synAck.Ip!.Source.ToString());
        Assert.Equal([2ul, 2, 14, 0], run.Counters); // FORWARD NEW (ftp, tftp) / RELATED (their data) / ESTABLISHED / INVALID
        Assert.Equal(["T proto=6 src=172.16.100.2 dst=172.16.100.1 sport=0 dport=40001 mask-src=255.255.255.255 mask-dst=255.255.255.255 sport=0 dport=65535 master-src=10.1.0.2 master-dst=172.16.100.2 sport=40000 dport=21 class=0 helper=ftp"], run.Expect);
        Assert.Contains(run.Conntrack, l => l.StartsWith("tcp      6 T ESTABLISHED src=172.16.100.2 dst=172.16.100.1 sport=20 dport=40001 src=10.1.0.2 dst=172.16.100.2 sport=40001 dport=20 [ASSURED]", StringComparison.Ordinal));
        Assert.DoesNotContain(run.Outcomes, o => o.Disposition != Disposition.Forwarded);
    }

    [Fact]
    public void Tftp_answer_to_the_masqueraded_port_follows_the_master_back_to_the_client()
    {
        var run = Model(Session());
        var answer = Decoded(run.ToClient.Last(h => Decoded(h).Transport is UdpHeader { SourcePort: 5000 }));
        Assert.Equal((Server, Client, (ushort)4000), (answer.Ip!.Source.ToString(), answer.Ip.Destination.ToString(), ((UdpHeader)answer.Transport!).DestinationPort));
        var ack = Decoded(run.ToServer.Last(h => Decoded(h).Transport is UdpHeader { DestinationPort: 5000 }));
        Assert.Equal((RouterOut, (ushort)4000), (ack.Ip!.Source.ToString(), ((UdpHeader)ack.Transport!).SourcePort));
        Assert.Contains(run.Conntrack, l => l.StartsWith("udp      17 T src=172.16.100.2 dst=172.16.100.1 sport=5000 dport=4000 src=10.1.0.2 dst=172.16.100.2 sport=4000 dport=5000 ", StringComparison.Ordinal));
    }

    [Fact]
    public void Ftp_port_taken_by_another_masters_expectation_moves_to_the_next()
    {
        var table = Table();
        Packet? last = null;
        foreach (var (sport, clientPort) in new[] { ((ushort)40000, (ushort)50000), ((ushort)40010, (ushort)50000) })
        {
            var helper = CtTemplate.Default.WithHelper("ftp");
            Forward(table, Tcp(1, Client, sport, Server, 21, Syn, 1000, 0), helper);
            Forward(table, Tcp(1.1, Server, 21, RouterOut, sport, SynAck, 5000, 1001), null);
            Forward(table, Tcp(1.2, Client, sport, Server, 21, PshAck, 1001, 5001, "USER a\r\n"), null);
            Forward(table, Tcp(1.3, Server, 21, RouterOut, sport, Ack, 5001, 1009), null);
            last = Forward(table, Tcp(1.4, Client, sport, Server, 21, PshAck, 1009, 5001, $"PORT 10,1,0,2,{clientPort >> 8},{clientPort & 0xFF}\r\n"), null);
        }
        Assert.Equal([(ushort)50000, 50001], table.Expectations.Select(x => x.DestinationPort));
        Assert.Equal("PORT 172,16,100,1,195,81\r\n", PayloadOf(last!));
        // the second data connection, to 50001, reaches the second client port 50000
        var ct = table.Process(Tcp(2, Server, 20, RouterOut, 50001, Syn, 1, 0), Hook.Prerouting);
        Assert.Equal(CtState.Related, ct.State);
        Assert.Equal("10.1.0.2:50000", $"{ct.Entry!.Reply.Source}:{ct.Entry.Reply.SourcePort}");
        Assert.Equal(40010, ct.Entry.Master!.Original.SourcePort);

        Packet Forward(ConntrackTable t, Packet p, CtTemplate? template)
        {
            var c = t.Process(p, Hook.Prerouting, template);
            foreach (var manip in new[] { NatManipType.Destination, NatManipType.Source })
            {
                if (t.NeedsNat(c, manip))
                {
                    if (manip == NatManipType.Source && p.Ip!.Destination.ToString() == Server) t.SetupNat(c, manip, Router.To(RouterOut));
                    else t.SetupNullBinding(c, manip);
                }
                p = t.ApplyNat(c, p, manip);
            }
            Assert.True(t.Confirm(c, ref p));
            return p;
        }
    }

    [Fact]
    public void Ftp_passive_227_and_229_through_a_DNAT_port_forward_announce_the_public_address()
    {
        // the client 198.51.100.7 talks to the public 203.0.113.1:21, forwarded to the server 10.0.0.5:21
        var table = Table();
        var helper = CtTemplate.Default.WithHelper("ftp");
        const string pub = "203.0.113.1", srv = "10.0.0.5", cli = "198.51.100.7";
        Forward(Tcp(1, cli, 41000, pub, 21, Syn, 100, 0), helper);
        Forward(Tcp(1.1, srv, 21, cli, 41000, SynAck, 900, 101), null);
        Forward(Tcp(1.2, cli, 41000, pub, 21, Ack, 101, 901), null);
        Forward(Tcp(1.3, srv, 21, cli, 41000, PshAck, 901, 101, "220 hi\r\n"), null);
        const string pasvLine = "227 Entering Passive Mode (10,0,0,5,117,48).\r\n", epsvLine = "229 Entering Extended Passive Mode (|||30001|)\r\n";
        var pasv = Forward(Tcp(1.4, srv, 21, cli, 41000, PshAck, 909, 101, pasvLine), null);
        Assert.Equal("227 Entering Passive Mode (203,0,113,1,117,48).\r\n", PayloadOf(pasv)); // 3 bytes longer
        var x = Assert.Single(table.Expectations);
        Assert.Equal((cli, pub, (ushort)30000), (x.Source.ToString(), x.Destination.ToString(), x.DestinationPort));
        var epsv = Forward(Tcp(1.5, srv, 21, cli, 41000, PshAck, 909 + (uint)pasvLine.Length, 101, epsvLine), null);
        Assert.Equal(epsvLine, PayloadOf(epsv)); // the same text: no further adjustment
        Assert.Equal(909u + (uint)pasvLine.Length + 3, ((TcpHeader)epsv.Transport!).Sequence); // but shifted by the 227's 3
        Assert.Equal(30001, Assert.Single(table.Expectations).DestinationPort); // one per master: the 229's replaced the 227's
        // the client's ACK of both answers, in its numbers (3 more than the server's): back to the server's
        uint end = 909 + (uint)pasvLine.Length + (uint)epsvLine.Length;
        var ack = Forward(Tcp(1.6, cli, 41000, pub, 21, Ack, 101, end + 3), null);
        Assert.Equal(end, ((TcpHeader)ack.Transport!).Acknowledgment);
        // the data connection to the public address and port 30001 goes to the server's own 10.0.0.5:30001
        var c = table.Process(Tcp(2, cli, 41001, pub, 30001, Syn, 1, 0), Hook.Prerouting);
        Assert.Equal(CtState.Related, c.State);
        Assert.False(table.NeedsNat(c, NatManipType.Destination)); // NAT set up by the expectation, no nat chain
        var data = table.ApplyNat(c, Tcp(2, cli, 41001, pub, 30001, Syn, 1, 0), NatManipType.Destination);
        Assert.Equal($"{srv}:30001", $"{data.Ip!.Destination}:{((TcpHeader)data.Transport!).DestinationPort}");

        Packet Forward(Packet p, CtTemplate? template)
        {
            var ct = table.Process(p, Hook.Prerouting, template);
            if (table.NeedsNat(ct, NatManipType.Destination)) table.SetupNat(ct, NatManipType.Destination, Router.To(srv));
            p = table.ApplyNat(ct, p, NatManipType.Destination);
            if (table.NeedsNat(ct, NatManipType.Source)) table.SetupNullBinding(ct, NatManipType.Source);
            p = table.ApplyNat(ct, p, NatManipType.Source);
            Assert.True(table.Confirm(ct, ref p));
            return p;
        }
    }

    [Fact]
    public void Irc_DCC_through_MASQUERADE_announces_the_NATed_address_and_the_DCC_connection_reaches_the_client()
    {
        var run = Model(IrcSession());
        var toServer = run.ToServer.Select(Decoded).ToList();
        var control = toServer.Where(p => p.Transport is TcpHeader { SourcePort: IrcPort } && p.PayloadLength > 0).ToList();
        Assert.Equal(
            ["PRIVMSG bob :\u0001DCC SEND file 2886755329 5000 100\u0001\r\n", "PRIVMSG bob :\u0001DCC CHAT chat 2886755329 5001\u0001\r\n", "QUIT\r\n"],
            control.Select(PayloadOf));
        uint send = (uint)IrcSend.Length, chat = (uint)IrcChat.Length;
        Assert.Equal([2001u, 2001 + send + 1, 2001 + send + chat + 1], control.Select(p => ((TcpHeader)p.Transport!).Sequence)); // one digit more from the SEND on
        var acks = run.ToClient.Select(Decoded).Where(p => p.Transport is TcpHeader { SourcePort: 6667, Flags: Ack }).ToList();
        Assert.Equal([2001u + send, 2001 + send + chat, 2001 + send + chat + 6], acks.Select(p => ((TcpHeader)p.Transport!).Acknowledgment));
        Assert.Equal(["T proto=6 src=0.0.0.0 dst=172.16.100.1 sport=0 dport=5000 mask-src=0.0.0.0 mask-dst=255.255.255.255 sport=0 dport=65535 master-src=10.1.0.2 master-dst=172.16.100.2 sport=40100 dport=6667 class=0 helper=irc"], run.Expect);
        var dcc = run.ToClient.Select(Decoded).Single(p => p.Transport is TcpHeader { SourcePort: 33000, Flags: Syn });
        Assert.Equal((Server, Client, (ushort)5000), (dcc.Ip!.Source.ToString(), dcc.Ip.Destination.ToString(), ((TcpHeader)dcc.Transport!).DestinationPort));
        Assert.Equal([1ul, 1, 10, 0], run.Counters); // FORWARD NEW / RELATED / ESTABLISHED / INVALID
    }

    [Fact]
    public void Kernel_irc_through_MASQUERADE_arrives_as_the_model_says() => KernelCompare(IrcSession());

    // ---- the kernel ----

    [Fact]
    public void Kernel_ftp_and_tftp_through_MASQUERADE_arrive_as_the_model_says() => KernelCompare(Session());

    private void KernelCompare(List<Step> steps)
    {
        if (NatRouterKernel.Run(output, "cthn", Rules, steps.Select(s => Frame(s.Side, s.Packet))) is not { } lines) return;
        var model = Model(steps);
        Assert.Equal(model.ToServer, Field(lines, "RXS "));
        Assert.Equal(model.ToClient, Field(lines, "RXC "));
        Assert.Equal(model.Counters, Counters(lines));
        Assert.Equal(model.Expect, Expectations(lines));
        Assert.Equal(model.Conntrack, NatRouterKernel.Conntrack(lines));
    }
}
