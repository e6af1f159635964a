using System.Collections.Immutable;
using System.Globalization;
using System.Text.RegularExpressions;
using Harness.Engine.Conntrack;
using Harness.Engine.Tests.Support;
using Harness.Hosts;
using Harness.Net;
using Harness.Packets;
using Harness.Rules;
using Xunit.Abstractions;
using static Harness.Engine.Tests.Conntrack.CtPackets;
using static Harness.Engine.Tests.Support.KernelShell;

namespace Harness.Engine.Tests.Conntrack;

/// <summary>
/// The conntrack helpers sane, amanda and snmp: model tests on the table, and kernel checks in namespaces
/// hx-cth2-PID-N (always deleted) comparing "conntrack -L expect", RELATED/NEW counters and states with the model.
/// </summary>
public sealed partial class HelperMoreTests(ITestOutputHelper output)
{
    private static int counter;
    private const string C = "10.9.0.1", S = "10.9.0.2";

    private static CtPacket Send(ConntrackTable table, Packet p, Hook hook, CtTemplate? template = null, IReadOnlyList<InterfaceAddress>? addresses = null)
    {
        var ct = table.Process(p, hook, template ?? CtTemplate.Default);
        Assert.True(table.Confirm(ct, p, addresses), ct.DropReason);
        return ct;
    }

    private static string Hex(byte[] b) => Convert.ToHexString(b);

    /// <summary>Runs <paramref name="script"/> ($1 = namespace prefix, $2 = a scratch directory) and gives its output lines.</summary>
    private string[]? Kernel(string script, string? rules = null) =>
        Run(output, "cth2", script, rules is null ? null : new Dictionary<string, string> { ["rules"] = rules },
            "ip", "iptables-restore", "iptables", "conntrack", "python3");

    private static List<string> Tagged(string[] lines, string tag) =>
        lines.Where(l => l.StartsWith(tag, StringComparison.Ordinal)).Select(l => MaskTimeout(l[tag.Length..])).Order(StringComparer.Ordinal).ToList();

    private const string Peers = KernelShell.TwoPeers;

    // ---- sane ----

    private static readonly CtTemplate Sane = CtTemplate.Default.WithHelper("sane");

    private static byte[] Be32(uint v) => [(byte)(v >> 24), (byte)(v >> 16), (byte)(v >> 8), (byte)v];

    /// <summary>A client request: RPC code and handle (8 bytes); a server reply: status, zero word, port, then 4 more bytes.</summary>
    private static byte[] SaneRequest(uint code) => [.. Be32(code), .. Be32(1)];

    private static byte[] SaneReply(uint status, ushort zero, ushort port) => [.. Be32(status), (byte)(zero >> 8), (byte)zero, (byte)(port >> 8), (byte)port, 0, 0, 0, 0];

    /// <summary>
    /// The exchanges of the sane checks, in order: (client request, server reply). Only a START request (code 7) answered
    /// with status 0 and a zero word arms an expectation; the last one wins (one per master).
    /// </summary>
    private static readonly (byte[] Request, byte[] Reply)[] SaneExchanges =
    [
        (SaneRequest(2), SaneReply(0, 0, 7001)),        // not SANE_NET_START: the reply is not read
        (SaneRequest(7), SaneReply(4, 0, 7002)),        // START refused (status 4)
        (SaneRequest(7), SaneReply(0, 1, 7003)),        // the zero word is not zero
        (SaneRequest(7), SaneReply(0, 0, 7000)),        // expects 7000
        (SaneRequest(7), SaneReply(0, 0, 7020)),        // expects 7020 instead (one per master)
        (SaneRequest(7), SaneReply(0, 0, 7030)),        // expects 7030 instead
    ];

    /// <summary>The bytes as the payload string <see cref="CtPackets.Tcp"/> takes (ASCII: every byte must be below 0x80).</summary>
    private static string Text(byte[] b) => b.All(x => x < 0x80) ? System.Text.Encoding.ASCII.GetString(b) : throw new ArgumentException("not ASCII");

    /// <summary>Handshake, then each exchange as one client segment and one server segment, on the model's table.</summary>
    private static ConntrackTable SaneSession(IEnumerable<(byte[] Request, byte[] Reply)> exchanges, out double time)
    {
        var table = Table();
        const TcpFlags ack = TcpFlags.Ack, psh = TcpFlags.Psh | TcpFlags.Ack;
        uint cseq = 1001, sseq = 5001;
        Send(table, Tcp(0, C, 40001, S, 6566, TcpFlags.Syn, 1000, 0), Hook.Prerouting, Sane);
        Send(table, Tcp(0.001, S, 6566, C, 40001, TcpFlags.Syn | TcpFlags.Ack, 5000, 1001), Hook.Output);
        Send(table, Tcp(0.002, C, 40001, S, 6566, ack, 1001, 5001), Hook.Prerouting);
        time = 0.002;
        foreach (var (req, rep) in exchanges)
        {
            Send(table, Tcp(time += 0.1, C, 40001, S, 6566, psh, cseq, sseq, Text(req)), Hook.Prerouting);
            cseq += (uint)req.Length;
            Send(table, Tcp(time += 0.001, S, 6566, C, 40001, psh, sseq, cseq, Text(rep)), Hook.Output);
            sseq += (uint)rep.Length;
        }
        return table;
    }

    [Fact]
    public void Sane_START_reply_expects_the_clients_connection_to_the_servers_data_port()
    {
        var table = SaneSession(SaneExchanges.Take(4), out double t);
        var x = Assert.Single(table.Expectations);
        Assert.Equal(
            "299 proto=6 src=10.9.0.1 dst=10.9.0.2 sport=0 dport=7000 mask-src=255.255.255.255 mask-dst=255.255.255.255 sport=0 dport=65535 master-src=10.9.0.1 master-dst=10.9.0.2 sport=40001 dport=6566 class=0 helper=sane",
            ConntrackListFormatter.FormatExpectation(x, T(t + 0.5)));
        Assert.Equal(CtState.New, Send(table, Tcp(t + 1, S, 33000, C, 7000, TcpFlags.Syn, 1, 0), Hook.Output).State); // not from the server
        Assert.Equal(CtState.Related, Send(table, Tcp(t + 1, C, 33000, S, 7000, TcpFlags.Syn, 1, 0), Hook.Prerouting).State);
    }

    [Fact]
    public void Sane_a_request_of_another_size_or_an_empty_ack_keeps_the_state_and_a_second_reply_is_not_read()
    {
        // START, then a 9-byte client packet (not a request: the helper stays armed), then the reply
        var armed = SaneSession([(SaneRequest(7), [])], out double t);
        Send(armed, Tcp(t + 0.1, C, 40001, S, 6566, TcpFlags.Psh | TcpFlags.Ack, 1009, 5001, "123456789"), Hook.Prerouting);
        Send(armed, Tcp(t + 0.2, S, 6566, C, 40001, TcpFlags.Psh | TcpFlags.Ack, 5001, 1018, Text(SaneReply(0, 0, 7010))), Hook.Output);
        Assert.Equal((ushort)7010, Assert.Single(armed.Expectations).DestinationPort);
        // a second reply after that is not read (the first disarmed the helper)
        Send(armed, Tcp(t + 0.3, S, 6566, C, 40001, TcpFlags.Psh | TcpFlags.Ack, 5013, 1018, Text(SaneReply(0, 0, 7200))), Hook.Output);
        Assert.Equal((ushort)7010, Assert.Single(armed.Expectations).DestinationPort);
        // a short reply disarms without expecting
        var shortReply = SaneSession([(SaneRequest(7), [0, 0, 0, 0, 0, 0, 0x1b])], out t);
        Send(shortReply, Tcp(t + 0.1, S, 6566, C, 40001, TcpFlags.Psh | TcpFlags.Ack, 5008, 1009, Text(SaneReply(0, 0, 7210))), Hook.Output);
        Assert.Empty(shortReply.Expectations);
    }

    /// <summary>
    /// $P-s (10.9.0.2) listens on 6566, 7030, 7000 with "-j CT --helper sane"; $P-c connects from 40001 and plays
    /// <see cref="SaneExchanges"/>; $P-s lists its expectations; $P-c connects to 7030 (expected) and 7000 (replaced).
    /// CNT: the server's INPUT SYN counters RELATED, NEW.
    /// </summary>
    private static string SaneScript() => Peers + $$"""
        printf '*raw\n-A PREROUTING -p tcp --dport 6566 -j CT --helper sane\nCOMMIT\n*filter\n-A INPUT -p tcp --syn -m conntrack --ctstate RELATED\n-A INPUT -p tcp --syn -m conntrack --ctstate NEW\nCOMMIT\n' | ip netns exec $P-s iptables-restore
        ip netns exec $P-s python3 -c '
        import socket, time
        ls = []
        for p in (7030, 7000):
            l = socket.socket(); l.bind(("10.9.0.2", p)); l.listen(1); ls.append(l)
        s = socket.socket(); s.bind(("10.9.0.2", 6566)); s.listen(1); s.settimeout(10)
        c, a = s.accept(); c.settimeout(10); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for rep in "{{string.Join(" ", SaneExchanges.Select(x => Hex(x.Reply)))}}".split():
            c.recv(100); c.send(bytes.fromhex(rep))
        time.sleep(6)
        ' &
        SRV=$!
        sleep 0.5
        ip netns exec $P-c python3 -c '
        import socket, time
        c = socket.socket(); c.bind(("10.9.0.1", 40001)); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.connect(("10.9.0.2", 6566))
        for req in "{{string.Join(" ", SaneExchanges.Select(x => Hex(x.Request)))}}".split():
            c.send(bytes.fromhex(req)); c.recv(100); time.sleep(0.1)
        time.sleep(3)
        ' &
        CLI=$!
        sleep 2
        ip netns exec $P-s conntrack -L expect 2>/dev/null | sed 's/^/EXP /'
        ip netns exec $P-c python3 -c '
        import socket
        for p in (7030, 7000):
            socket.create_connection(("10.9.0.2", p), timeout=2).close()
        '
        ip netns exec $P-s iptables -L INPUT -v -n -x | awk 'NR>2 {print "CNT " $1}'
        wait $CLI; wait $SRV
        """;

    [Fact]
    public void Kernel_sane_expects_as_the_model_does()
    {
        if (Kernel(SaneScript()) is not { } lines) return;
        var table = SaneSession(SaneExchanges, out double t);
        var model = ConntrackListFormatter.ExpectationLines(table, T(t + 0.1)).Select(MaskTimeout).Order(StringComparer.Ordinal).ToList();
        Assert.Single(model);
        Assert.Equal(model, Tagged(lines, "EXP "));
        // the client's connection to 7030 is RELATED, to 7000 (replaced) NEW, and the master's SYN NEW
        Assert.Equal(new ulong[] { 1, 2 }, Counters(lines));
        Assert.Equal(CtState.Related, Send(table, Tcp(t + 1, C, 33000, S, 7030, TcpFlags.Syn, 1, 0), Hook.Prerouting).State);
        Assert.Equal(CtState.New, Send(table, Tcp(t + 1, C, 33001, S, 7000, TcpFlags.Syn, 1, 0), Hook.Prerouting).State);
    }

    // ---- amanda ----

    private static readonly CtTemplate Amanda = CtTemplate.Default.WithHelper("amanda");

    /// <summary>
    /// The amanda client's replies (one datagram each, to the server's request from 10.9.0.2:850 to 10.9.0.1:10080)
    /// and the ports each makes the kernel expect, in order. Linux 6.18 keeps 4 per master (measured; the source's policy
    /// says 3): the sixth reply's port replaces the oldest.
    /// </summary>
    private static readonly (string Reply, ushort[] Expects)[] AmandaReplies =
    [
        ("OPTIONS features=ffff;\n", []),                                  // no CONNECT
        ("CONNECT DATA 5000 MESG 0 INDEX 5002\n", [5000]),                 // MESG 0 ends the search: INDEX is not read
        ("CONNECT INDEX 5010 DATA 70000\n", [4464, 5010]),                 // DATA first; 70000 is taken modulo 65536
        ("CONNECT MESG 5020", []),                                          // no line end
        ("OPTIONS x;\nCONNECT DATA 50\n30 MESG 5040\n", [50]),            // the number stops at the line end; MESG is on the next line
        ("CONNECT DATA 5060 INDEX 5061\n", [5060, 5061]),                  // a fifth and sixth: 5000 and 4464, the oldest, go
    ];

    /// <summary>The request, then each reply, on the model's table (from the server's point of view: OUTPUT, then PREROUTING).</summary>
    private static ConntrackTable AmandaSession(IEnumerable<string> replies, out double time)
    {
        var table = Table();
        Send(table, Udp(0, S, 850, C, 10080, "Amanda 2.6 REQ HANDLE 000-1 SEQ 1\n"), Hook.Output, Amanda);
        time = 0;
        foreach (var reply in replies) Send(table, Udp(time += 0.1, C, 10080, S, 850, reply), Hook.Prerouting);
        return table;
    }

    [Fact]
    public void Amanda_CONNECT_reply_expects_the_servers_connections_to_the_clients_ports()
    {
        var table = AmandaSession(AmandaReplies.Take(2).Select(r => r.Reply), out double t);
        var x = Assert.Single(table.Expectations);
        Assert.Equal(
            "179 proto=6 src=10.9.0.2 dst=10.9.0.1 sport=0 dport=5000 mask-src=255.255.255.255 mask-dst=255.255.255.255 sport=0 dport=65535 master-src=10.9.0.2 master-dst=10.9.0.1 sport=850 dport=10080 class=0 helper=amanda",
            ConntrackListFormatter.FormatExpectation(x, T(t + 0.5)));
        Assert.Equal(CtState.Related, Send(table, Tcp(t + 1, S, 33000, C, 5000, TcpFlags.Syn, 1, 0), Hook.Output).State);
    }

    [Fact]
    public void Amanda_reads_only_the_clients_replies_and_keeps_four_per_master()
    {
        var table = AmandaSession(AmandaReplies.Select(r => r.Reply), out _);
        Assert.Equal(new ushort[] { 50, 5010, 5060, 5061 }, table.Expectations.Select(x => x.DestinationPort).Order()); // 5000 and 4464, the oldest, went
        var request = Table();
        Send(request, Udp(0, S, 850, C, 10080, "CONNECT DATA 5000\n"), Hook.Output, Amanda); // the server's own packet: not read
        Assert.Empty(request.Expectations);
    }

    [Fact]
    public void Amanda_a_reply_sets_the_masters_timeout_to_300_seconds()
    {
        var table = AmandaSession(["OPTIONS x;\n"], out double t);
        var master = Assert.Single(table.Entries);
        Assert.Equal(299, master.SecondsLeft(T(t + 0.5)));
        var quiet = AmandaSession([], out t);
        Assert.Equal(29, Assert.Single(quiet.Entries).SecondsLeft(T(t + 0.5))); // no reply: the UDP timeout
    }

    // ---- amanda through NAT (nf_nat_amanda) ----

    private const string Inside = "10.1.0.2", Outside = "10.2.0.2", RouterOut = "10.2.0.1";

    private static Host RouterHost() => NatRouterKernel.RouterHost(RouterOut);

    private const string AmandaNatRules = """
        *raw
        :PREROUTING ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A PREROUTING -p udp --dport 10080 -j CT --helper amanda
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
        -A FORWARD -p tcp --syn -m conntrack --ctstate RELATED
        -A FORWARD -p tcp --syn -m conntrack --ctstate NEW
        -A FORWARD -p udp -m conntrack --ctstate NEW
        -A FORWARD -p udp -m conntrack --ctstate ESTABLISHED
        COMMIT

        """;

    /// <summary>
    /// The NAT check's frames ('c': the amanda server 10.1.0.2 behind the MASQUERADE router; 's': the amanda client
    /// 10.2.0.2 outside): two requests (masters A from 850, B from 851), A's reply announcing DATA 9999 and MESG 5001, B's
    /// announcing DATA 9999 (A has it: nf_nat_amanda takes another port, in the model 10000, one digit longer; the kernel
    /// draws one at random above 9999, five digits too) and INDEX 99 (looked for at the old offsets: "INDEX 9"), then the
    /// server's connections to 9999 (A's) and 5002 (never announced), and, with <paramref name="toB"/>, to B's port.
    /// </summary>
    private static List<(char Side, Packet Packet)> AmandaNatFrames(bool toB = true) =>
    [
        ('c', Udp(1, Inside, 850, Outside, 10080, "REQ A\n")),
        ('c', Udp(1.1, Inside, 851, Outside, 10080, "REQ B\n")),
        ('s', Udp(1.2, Outside, 10080, RouterOut, 850, "CONNECT DATA 9999 MESG 5001\n")),
        ('s', Udp(1.3, Outside, 10080, RouterOut, 851, "CONNECT DATA 9999 INDEX 99\n")),
        ('c', Tcp(1.4, Inside, 40001, Outside, 9999, TcpFlags.Syn, 2000, 0)),
        ('c', Tcp(1.5, Inside, 40002, Outside, 5002, TcpFlags.Syn, 3000, 0)),
        .. (toB ? [('c', Tcp(1.6, Inside, 40000, Outside, 10000, TcpFlags.Syn, 1000, 0))] : new List<(char, Packet)>()),
    ];

    private sealed record NatRun(List<string> ToOutside, List<string> ToInside, List<ulong> Counters, List<string> Expect);

    private static NatRun ModelAmandaNat(bool toB = true)
    {
        var engine = Engine.Create(TestRules.Load(AmandaNatRules), null, RouterHost(), EngineOptions.Default);
        var toOutside = new List<string>();
        var toInside = new List<string>();
        List<string> expect = [];
        int n = 0;
        foreach (var (side, p) in AmandaNatFrames(toB))
        {
            if (p.Transport is TcpHeader && expect.Count == 0)
                expect = ConntrackListFormatter.ExpectationLines(engine.Conntrack, p.Time).Select(MaskTimeout).Order(StringComparer.Ordinal).ToList();
            foreach (var o in engine.Process(PacketDecoder.Decode(p.Raw.Span, ++n, p.Time, side == 'c' ? "f0" : "f1")))
                if (o.Disposition == Disposition.Forwarded)
                    (o.OutInterface == "f1" ? toOutside : toInside).Add(Convert.ToHexString(o.Packet.Raw.Span));
        }
        var counters = Enumerable.Range(1, 4).Select(i => engine.Counters.Get(Family.IPv4, "filter", "FORWARD", i).Packets).ToList();
        return new NatRun(toOutside, toInside, counters, expect);
    }

    private static string UdpPayload(string hex)
    {
        var p = PacketDecoder.Decode(Convert.FromHexString(hex), 0, T(0));
        return System.Text.Encoding.ASCII.GetString(p.Raw.Span[(p.Ip!.HeaderLength + 8)..]);
    }

    [Fact]
    public void Amanda_through_MASQUERADE_takes_the_next_free_port_and_rewrites_the_reply()
    {
        var run = ModelAmandaNat();
        Assert.Equal(["CONNECT DATA 9999 MESG 5001\n", "CONNECT DATA 10000 INDEX 99\n"], run.ToInside.Select(UdpPayload));
        Assert.Equal(
            [
                $"T proto=6 src={Inside} dst={Outside} sport=0 dport=10000 mask-src=255.255.255.255 mask-dst=255.255.255.255 sport=0 dport=65535 master-src={Inside} master-dst={Outside} sport=851 dport=10080 class=0 helper=amanda",
                $"T proto=6 src={Inside} dst={Outside} sport=0 dport=5001 mask-src=255.255.255.255 mask-dst=255.255.255.255 sport=0 dport=65535 master-src={Inside} master-dst={Outside} sport=850 dport=10080 class=0 helper=amanda",
                $"T proto=6 src={Inside} dst={Outside} sport=0 dport=9 mask-src=255.255.255.255 mask-dst=255.255.255.255 sport=0 dport=65535 master-src={Inside} master-dst={Outside} sport=851 dport=10080 class=0 helper=amanda",
                $"T proto=6 src={Inside} dst={Outside} sport=0 dport=9999 mask-src=255.255.255.255 mask-dst=255.255.255.255 sport=0 dport=65535 master-src={Inside} master-dst={Outside} sport=850 dport=10080 class=0 helper=amanda",
            ],
            run.Expect);
        // the connection to 10000 follows B's NAT back to the announced 9999, from the router's address
        var syns = run.ToOutside.Select(h => PacketDecoder.Decode(Convert.FromHexString(h), 0, T(0))).Where(p => p.Transport is TcpHeader).ToList();
        Assert.Equal([(RouterOut, (ushort)9999), (RouterOut, (ushort)5002), (RouterOut, (ushort)9999)],
            syns.Select(p => (p.Ip!.Source.ToString(), ((TcpHeader)p.Transport!).DestinationPort)));
        Assert.Equal(new ulong[] { 2, 1, 2, 2 }, run.Counters); // RELATED: A's and B's; NEW: 5002
        var reply = PacketDecoder.Decode(Convert.FromHexString(run.ToInside[1]), 0, T(0));
        Assert.Equal(56, reply.Ip!.TotalLength); // one byte longer; IP and UDP checksums valid
        Assert.Equal(0, InternetChecksum.Compute(reply.Raw.Span[..20]));
        Assert.Equal(0, InternetChecksum.Transport(reply.Ip.Source, reply.Ip.Destination, IpProtocol.Udp, reply.Raw.Span[20..]));
    }

    [Fact]
    public void Kernel_amanda_through_MASQUERADE_as_the_model_does()
    {
        // the expectations are listed before the first TCP frame
        var frames = new List<string>();
        foreach (var (side, packet) in AmandaNatFrames(toB: false))
        {
            if (packet.Transport is TcpHeader && !frames.Contains("EXPECT")) frames.Add(NatRouterKernel.Frame(side, null));
            frames.Add(NatRouterKernel.Frame(side, packet));
        }
        if (NatRouterKernel.Run(output, "cth2", AmandaNatRules, frames, far: "10.2.0") is not { } lines) return;
        var model = ModelAmandaNat(toB: false);
        var toInside = Field(lines, "RXC ");
        Assert.Equal(2, toInside.Count);
        Assert.Equal(model.ToInside[0], toInside[0]);
        // B's DATA: the kernel drew a random free port above 9999 (five digits), the model took 10000
        var m = Regex.Match(UdpPayload(toInside[1]), @"^CONNECT DATA (\d{5}) INDEX 99\n$");
        Assert.True(m.Success, UdpPayload(toInside[1]));
        string port = m.Groups[1].Value;
        Assert.InRange(int.Parse(port, CultureInfo.InvariantCulture), 10000, 65534);
        Assert.Equal(UdpPayload(model.ToInside[1]).Replace("10000", port, StringComparison.Ordinal), UdpPayload(toInside[1]));
        var kernelReply = PacketDecoder.Decode(Convert.FromHexString(toInside[1]), 0, T(0));
        Assert.Equal(0, InternetChecksum.Transport(kernelReply.Ip!.Source, kernelReply.Ip.Destination, IpProtocol.Udp, kernelReply.Raw.Span[20..]));
        Assert.Equal(model.Expect.Select(l => l.Replace("dport=10000 ", $"dport={port} ", StringComparison.Ordinal)).Order(StringComparer.Ordinal), Tagged(lines, "EXP "));
        Assert.Equal(model.ToOutside, Field(lines, "RXS "));
        Assert.Equal(model.Counters, Counters(lines));
    }

    /// <summary>
    /// $P-s (10.9.0.2, "-j CT --helper amanda" on its requests) sends a request from 850 to $P-c's 10080; $P-c answers
    /// with each of <see cref="AmandaReplies"/>; $P-s lists its expectations and the master, then connects to 5010
    /// (expected) and 5000 (evicted). CNT: the server's OUTPUT SYN counters RELATED, NEW.
    /// </summary>
    private static string AmandaScript() => Peers + $$"""
        printf '*raw\n-A OUTPUT -p udp --dport 10080 -j CT --helper amanda\nCOMMIT\n*filter\n-A OUTPUT -p tcp --syn -m conntrack --ctstate RELATED\n-A OUTPUT -p tcp --syn -m conntrack --ctstate NEW\nCOMMIT\n' | ip netns exec $P-s iptables-restore
        ip netns exec $P-c python3 -c '
        import socket, time
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("10.9.0.1", 10080)); u.settimeout(10)
        ls = []
        for p in (5010, 5000):
            l = socket.socket(); l.bind(("10.9.0.1", p)); l.listen(1); ls.append(l)
        d, a = u.recvfrom(200)
        for rep in "{{string.Join(" ", AmandaReplies.Select(r => Hex(System.Text.Encoding.ASCII.GetBytes(r.Reply))))}}".split():
            u.sendto(bytes.fromhex(rep), a); time.sleep(0.1)
        time.sleep(4)
        ' &
        CLI=$!
        sleep 0.5
        ip netns exec $P-s python3 -c '
        import socket, time
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("10.9.0.2", 850))
        u.sendto(b"Amanda 2.6 REQ HANDLE 000-1 SEQ 1\n", ("10.9.0.1", 10080))
        time.sleep(1.5)
        '
        ip netns exec $P-s conntrack -L expect 2>/dev/null | sed 's/^/EXP /'
        ip netns exec $P-s conntrack -L -p udp 2>/dev/null | sed 's/^/CT /'
        ip netns exec $P-s python3 -c '
        import socket
        for p in (5010, 5000):
            socket.create_connection(("10.9.0.1", p), timeout=2).close()
        '
        ip netns exec $P-s iptables -L OUTPUT -v -n -x | awk 'NR>2 {print "CNT " $1}'
        wait $CLI
        """;

    [Fact]
    public void Kernel_amanda_expects_as_the_model_does()
    {
        if (Kernel(AmandaScript()) is not { } lines) return;
        var table = AmandaSession(AmandaReplies.Select(r => r.Reply), out double t);
        var model = ConntrackListFormatter.ExpectationLines(table, T(t + 0.1)).Select(MaskTimeout).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(4, model.Count);
        Assert.Equal(model, Tagged(lines, "EXP "));
        // the master: 300 s after the last reply in both (the kernel's line read about 1 s later)
        var master = lines.Single(l => l.StartsWith("CT udp", StringComparison.Ordinal));
        int kernelLeft = int.Parse(master.Split(' ', StringSplitOptions.RemoveEmptyEntries)[3], CultureInfo.InvariantCulture);
        Assert.InRange(kernelLeft, 297, 299);
        Assert.Equal(299, Assert.Single(table.Entries).SecondsLeft(T(t + 0.5)));
        Assert.Equal(new ulong[] { 1, 1 }, Counters(lines));
        Assert.Equal(CtState.Related, Send(table, Tcp(t + 1, S, 33000, C, 5010, TcpFlags.Syn, 1, 0), Hook.Output).State);
        Assert.Equal(CtState.New, Send(table, Tcp(t + 1, S, 33001, C, 5000, TcpFlags.Syn, 1, 0), Hook.Output).State);
    }

    // ---- snmp ----

    private static readonly CtTemplate Snmp = CtTemplate.Default.WithHelper("snmp");
    private static readonly InterfaceAddress[] WithBroadcast = [new(Address.Parse(C), 24, Address.Parse("10.9.0.255"))];

    [Fact]
    public void Snmp_broadcast_query_expects_answers_from_the_subnets_port_161_for_30_seconds()
    {
        var table = Table();
        var query = Send(table, Udp(0, C, 4000, "10.9.0.255", 161, "get"), Hook.Output, Snmp, WithBroadcast);
        Assert.Equal(
            "29 proto=17 src=10.9.0.255 dst=10.9.0.1 sport=161 dport=4000 mask-src=255.255.255.0 mask-dst=255.255.255.255 sport=65535 dport=65535 master-src=10.9.0.1 master-dst=10.9.0.255 sport=4000 dport=161 PERMANENT class=0 helper=snmp",
            Assert.Single(ConntrackListFormatter.ExpectationLines(table, T(0.5))));
        Assert.Equal(29, query.Entry!.SecondsLeft(T(0.5))); // the master's timeout: 30 s
        Assert.Equal(CtState.Related, Send(table, Udp(1, S, 161, C, 4000), Hook.Prerouting).State);
        Assert.Equal(CtState.Related, Send(table, Udp(1.1, "10.9.0.3", 161, C, 4000), Hook.Prerouting).State); // permanent
        Assert.Equal(CtState.New, Send(table, Udp(1.2, "10.9.0.4", 162, C, 4000), Hook.Prerouting).State);
        Assert.Equal(CtState.New, Send(table, Udp(30, "10.9.0.5", 161, C, 4000), Hook.Prerouting).State); // expired at 30 s
        var unicast = Table();
        Send(unicast, Udp(0, C, 4000, S, 161, "get"), Hook.Output, Snmp, WithBroadcast);
        Assert.Empty(unicast.Expectations);
    }

    [Fact]
    public void Snmp_a_NATed_connection_is_refused_by_name()
    {
        var table = Table();
        var p = Udp(0, "10.9.0.7", 4000, "192.0.2.1", 161, "get");
        var ct = table.Process(p, Hook.Prerouting, Snmp);
        table.SetupNat(ct, NatManipType.Source, new NatRange(A("10.9.0.9"), A("10.9.0.9"), null, null));
        var ex = Assert.Throws<NotSupportedException>(() => table.Confirm(ct, p));
        Assert.Contains("nf_nat_snmp_basic", ex.Message, StringComparison.Ordinal);
        Assert.Contains("-j CT --helper snmp", ex.Message, StringComparison.Ordinal);
    }

    private static Host Client() => new(
        [
            new HostInterface("lo", 1, new MacAddress(0), [new InterfaceAddress(Address.Parse("127.0.0.1"), 8)], IsLoopback: true, Mtu: 65536),
            new HostInterface("c0", 2, MacAddress.Parse("02:00:00:00:cc:01"), [new InterfaceAddress(Address.Parse(C), 24, Address.Parse("10.9.0.255"))]),
        ],
        [],
        ImmutableArray<RoutingRule>.Empty,
        Sysctls.Defaults);

    private const string SnmpRules = """
        *raw
        :PREROUTING ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A OUTPUT -p udp --dport 161 -j CT --helper snmp
        COMMIT
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A INPUT -p udp -m conntrack --ctstate NEW
        -A INPUT -p udp -m conntrack --ctstate RELATED
        -A INPUT -p udp -m conntrack --ctstate ESTABLISHED
        COMMIT

        """;

    /// <summary>Through the engine: a broadcast query from 4000, answers from 10.9.0.2:161 and :162 1 s later.</summary>
    private static (List<ulong> Counters, List<string> Expect, List<string> Conntrack) ModelSnmp()
    {
        var engine = Engine.Create(TestRules.Load(SnmpRules), null, Client(), EngineOptions.Default);
        int n = 0;
        _ = engine.Process(PacketDecoder.Decode(Udp(1, C, 4000, "10.9.0.255", 161, "get").Raw.Span, ++n, T(1))).ToList();
        var expect = ConntrackListFormatter.ExpectationLines(engine.Conntrack, T(1.1)).Select(MaskTimeout).ToList();
        _ = engine.Process(PacketDecoder.Decode(Udp(2, S, 161, C, 4000, "answer").Raw.Span, ++n, T(2), "c0")).ToList();
        _ = engine.Process(PacketDecoder.Decode(Udp(2.01, S, 162, C, 4000, "other").Raw.Span, ++n, T(2.01), "c0")).ToList();
        var counters = Enumerable.Range(1, 3).Select(i => engine.Counters.Get(Family.IPv4, "filter", "INPUT", i).Packets).ToList();
        var lines = ConntrackListFormatter.Lines(engine.Conntrack, T(2.2)).Select(MaskTimeout).Order(StringComparer.Ordinal).ToList();
        return (counters, expect, lines);
    }

    /// <summary>$P-c ($D/rules) sends a broadcast query from 4000 to port 161; $P-s answers from 161 and from 162.</summary>
    private static string SnmpScript() => Peers + $$"""
        ip netns exec $P-c iptables-restore < $D/rules
        ip netns exec $P-s python3 -c '
        import socket, time
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 161)); s.settimeout(10)
        d, a = s.recvfrom(100)
        time.sleep(1)
        s.sendto(b"answer", a)
        t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); t.bind(("10.9.0.2", 162)); t.sendto(b"other", a)
        ' &
        SRV=$!
        sleep 0.5
        ip netns exec $P-c python3 -c '
        import socket, subprocess
        c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        c.bind(("10.9.0.1", 4000)); c.settimeout(5)
        c.sendto(b"get", ("10.9.0.255", 161))
        out = subprocess.run(["conntrack", "-L", "expect"], capture_output=True, text=True).stdout
        for l in out.splitlines(): print("EXP " + l, flush=True)
        c.recvfrom(100); c.recvfrom(100)
        '
        wait $SRV
        ip netns exec $P-c iptables -L INPUT -v -n -x | awk 'NR>2 {print "CNT " $1}'
        ip netns exec $P-c conntrack -L 2>/dev/null | sed 's/^/CT /'
        """;

    [Fact]
    public void Kernel_snmp_counts_and_lists_as_the_model_does()
    {
        if (Kernel(SnmpScript(), SnmpRules) is not { } lines) return;
        var model = ModelSnmp();
        Assert.Single(model.Expect);
        Assert.Equal(model.Expect, Tagged(lines, "EXP "));
        Assert.Equal(new ulong[] { 2, 1, 0 }, model.Counters); // NEW (the looped-back broadcast, the answer from 162), RELATED (from 161), ESTABLISHED
        Assert.Equal(model.Counters, Counters(lines));
        Assert.Equal(model.Conntrack, Tagged(lines, "CT "));
    }

    // ---- loading: what the kernel refuses ----

    /// <summary>Rules the kernel loads (null) or refuses (the model's reason contains the text), in iptables (4) or ip6tables (6).</summary>
    public static TheoryData<int, string, string?> HelperRules => new()
    {
        { 4, "-p tcp --dport 6566 -j CT --helper sane", null },
        { 6, "-p tcp --dport 6566 -j CT --helper sane", null },
        { 4, "-p udp --dport 6566 -j CT --helper sane", "-p tcp" },
        { 4, "-j CT --helper sane", "-p tcp" },
        { 4, "-p udp --dport 10080 -j CT --helper amanda", null },
        { 6, "-p udp --dport 10080 -j CT --helper amanda", null },
        { 4, "-p tcp --dport 10080 -j CT --helper amanda", "-p udp" },
        { 4, "! -p udp -j CT --helper amanda", "-p udp" },
        { 4, "-p udp --dport 161 -j CT --helper snmp", null },
        { 6, "-p udp --dport 161 -j CT --helper snmp", "IPv4 only" },
        { 4, "-p tcp --dport 161 -j CT --helper snmp", "-p udp" },
        { 4, "-p udp --dport 162 -j CT --helper snmp_trap", "not modelled" },
    };

    [Theory]
    [MemberData(nameof(HelperRules))]
    public void Helper_rules_load_or_are_refused(int family, string spec, string? error)
    {
        var rules = $"*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A PREROUTING {spec}\nCOMMIT\n";
        var fam = family == 4 ? Family.IPv4 : Family.IPv6;
        Engine Create() => family == 4
            ? Engine.Create(TestRules.Load(rules, fam), null, Client(), EngineOptions.Default)
            : Engine.Create(null, TestRules.Load(rules, fam), Client(), EngineOptions.Default);
        if (error is null)
        {
            Assert.NotNull(Create());
            return;
        }
        var ex = Assert.ThrowsAny<Exception>(Create);
        Assert.Contains(error, ex.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// The same rules through iptables-restore / ip6tables-restore in a namespace: "OK" or "REFUSED" per rule, in order.
    /// snmp_trap (nf_nat_snmp_basic's helper) exists in the kernel: only the model refuses it, as not modelled.
    /// </summary>
    [Fact]
    public void Kernel_loads_and_refuses_the_helper_rules_as_the_model_does()
    {
        var rows = HelperRules.Select(r => ((int)r[0], (string)r[1], (string?)r[2])).ToList();
        var script = """
            P=$1
            trap 'ip netns del $P-x 2>/dev/null; true' EXIT
            ip netns add $P-x
            shift 2
            while [ $# -gt 0 ]; do
              if printf '*raw\n-A PREROUTING %s\nCOMMIT\n' "$2" | ip netns exec $P-x ip$1tables-restore 2>/dev/null; then echo "RES OK"; else echo "RES REFUSED"; fi
              shift 2
            done
            """.Replace("ip$1tables", "$( [ $1 = 6 ] && echo ip6 || echo ip )tables", StringComparison.Ordinal);
        if (!KernelShell.Available(out var why, "ip", "iptables-restore", "ip6tables-restore")) { output.WriteLine(why); return; }
        var prefix = $"hx-cth2-{Environment.ProcessId}-{Interlocked.Increment(ref counter)}";
        var args = new List<string> { prefix, "-" };
        foreach (var (f, spec, _) in rows) { args.Add(f.ToString(CultureInfo.InvariantCulture)); args.Add(spec); }
        var text = KernelShell.Script(script, [.. args]);
        output.WriteLine(text);
        var kernel = text.Split('\n').Where(l => l.StartsWith("RES ", StringComparison.Ordinal)).Select(l => l[4..]).ToList();
        Assert.Equal(rows.Select(r => r.Item3 is null or "not modelled" ? "OK" : "REFUSED"), kernel);
    }
}
