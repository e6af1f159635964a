using System.Collections.Immutable;
using System.Globalization;
using System.Text.RegularExpressions;
using Harness.Engine.Conntrack;
using Harness.Engine.Tests.Support;
using Harness.Hosts;
using Harness.Net;
using Harness.Packets;
using Xunit.Abstractions;
using static Harness.Engine.Tests.Conntrack.CtPackets;
using static Harness.Engine.Tests.Support.KernelShell;

namespace Harness.Engine.Tests.Conntrack;

/// <summary>
/// The conntrack helpers besides ftp: tftp (a read/write request expects the server's answer from any port) and
/// netbios-ns (a local broadcast expects answers from the subnet). Model tests on the table and through the engine,
/// and kernel checks in namespaces hx-cth-PID-N (always deleted) comparing counters and "conntrack -L" with the model.
/// </summary>
public sealed partial class HelperTests(ITestOutputHelper output)
{
    /// <summary>What the kernel checks of this class need.</summary>
    private static readonly string[] Tools = ["ip", "iptables-restore", "iptables", "conntrack", "python3"];
    private const string C = "10.9.0.1", S = "10.9.0.2";
    private static readonly CtTemplate Tftp = CtTemplate.Default.WithHelper("tftp");

    private static string TftpRequest(ushort opcode) => opcode switch
    {
        1 or 2 => "\0" + (char)opcode + "file\0octet\0",
        _ => "\0" + (char)opcode + "\0\u0001data",
    };

    private static CtPacket Send(ConntrackTable table, Packet p, Hook hook, CtTemplate? template = null)
    {
        var ct = table.Process(p, hook, template ?? CtTemplate.Default);
        Assert.True(table.Confirm(ct, p));
        return ct;
    }

    // ---- tftp, the model ----

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Tftp_read_or_write_request_makes_the_answer_from_a_new_port_RELATED(int opcode)
    {
        var table = Table();
        var request = Send(table, Udp(0, C, 4000, S, 69, TftpRequest((ushort)opcode)), Hook.Prerouting, Tftp);
        Assert.Equal(CtState.New, request.State);
        var x = Assert.Single(table.Expectations);
        Assert.Equal((S, C, (ushort)4000, IpProtocol.Udp), (x.Source.ToString(), x.Destination.ToString(), x.DestinationPort, x.Protocol));
        // As conntrack -L expect printed it on Linux 6.18 (see the kernel check).
        Assert.Equal(
            $"299 proto=17 src={S} dst={C} sport=0 dport=4000 mask-src=255.255.255.255 mask-dst=255.255.255.255 sport=0 dport=65535 master-src={C} master-dst={S} sport=4000 dport=69 class=0 helper=tftp",
            Assert.Single(ConntrackListFormatter.ExpectationLines(table, T(0.5))));

        var data = Send(table, Udp(1, S, 5000, C, 4000, "\0\u0003\0\u0001data"), Hook.Output);
        Assert.Equal(CtState.Related, data.State);
        Assert.True((data.Entry!.Status & CtStatus.Expected) != 0);
        Assert.Same(request.Entry, data.Entry.Master);
        Assert.Null(data.Entry.Helper); // the data connection is not helped itself
        Assert.Empty(table.Expectations); // used up
        Assert.Equal(CtState.Established, Send(table, Udp(1.1, C, 4000, S, 5000, "\0\u0004\0\u0001"), Hook.Prerouting).State);
        // the master is referenced by its child: use=2, as the kernel prints it
        Assert.EndsWith("helper=tftp use=2", ConntrackListFormatter.Lines(table, T(1.2)).Single(l => l.Contains("dport=69 ", StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData(3)] // DATA
    [InlineData(4)] // ACK
    [InlineData(5)] // ERROR
    [InlineData(9)] // unknown
    public void Tftp_other_opcodes_expect_nothing(int opcode)
    {
        var table = Table();
        Send(table, Udp(0, C, 4000, S, 69, TftpRequest((ushort)opcode)), Hook.Prerouting, Tftp);
        Assert.Empty(table.Expectations);
        Assert.Equal(CtState.New, Send(table, Udp(1, S, 5000, C, 4000), Hook.Output).State);
    }

    [Fact]
    public void Tftp_a_payload_shorter_than_the_opcode_is_ignored()
    {
        var table = Table();
        Send(table, Udp(0, C, 4000, S, 69, "\0"), Hook.Prerouting, Tftp);
        Assert.Empty(table.Expectations);
    }

    [Theory]
    [InlineData(299.5, CtState.Related)]
    [InlineData(300.5, CtState.New)]
    public void Tftp_expectation_expires_after_300_seconds(double answerAt, CtState expected)
    {
        var table = Table();
        Send(table, Udp(0, C, 4000, S, 69, TftpRequest(1)), Hook.Prerouting, Tftp);
        // DATA packets keep the master (unreplied UDP: 30 s) alive without a new expectation
        for (int t = 20; t < answerAt; t += 20) Send(table, Udp(t, C, 4000, S, 69, TftpRequest(3)), Hook.Prerouting, Tftp);
        Assert.Equal(expected, Send(table, Udp(answerAt, S, 5000, C, 4000), Hook.Output).State);
    }

    [Fact]
    public void Tftp_expectations_go_with_the_master_and_a_newer_request_replaces_the_older()
    {
        var table = Table();
        Send(table, Udp(0, C, 4000, S, 69, TftpRequest(1)), Hook.Prerouting, Tftp);
        Send(table, Udp(10, C, 4000, S, 69, TftpRequest(2)), Hook.Prerouting, Tftp);
        Assert.Equal(T(310), Assert.Single(table.Expectations).Expires); // max_expected 1: the newer one, 300 s from 10 s
        // the master (unreplied UDP, 30 s after its last packet) dies at 40 s and takes its expectation with it
        Assert.Equal(CtState.New, Send(table, Udp(41, S, 5000, C, 4000), Hook.Output).State);
    }

    [Fact]
    public void Tftp_without_the_helper_the_answer_is_NEW()
    {
        var table = Table();
        Send(table, Udp(0, C, 4000, S, 69, TftpRequest(1)), Hook.Prerouting);
        Assert.Empty(table.Expectations);
        Assert.Equal(CtState.New, Send(table, Udp(1, S, 5000, C, 4000), Hook.Output).State);
    }

    // ---- loading: what xt_ct refuses ----

    [Theory]
    [InlineData("-p udp --dport 69 -j CT --helper tftp", null)]
    [InlineData("-p tcp --dport 21 -j CT --helper ftp", null)]
    [InlineData("-j CT --helper tftp", "-p udp")]
    [InlineData("-p tcp -j CT --helper tftp", "-p udp")]
    [InlineData("! -p udp -j CT --helper tftp", "-p udp")]
    [InlineData("-p udp -j CT --helper ftp", "-p tcp")]
    [InlineData("-p udp -j CT --helper sip", "not modelled")]
    [InlineData("-p udp --dport 137 -j CT --helper netbios-ns", null)]
    [InlineData("-p tcp -j CT --helper netbios-ns", "-p udp")]
    [InlineData("-p tcp --dport 6667 -j CT --helper irc", null)]
    [InlineData("-p udp -j CT --helper irc", "-p tcp")]
    public void Helper_rules_need_the_helpers_protocol(string spec, string? error)
    {
        var rules = $"*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A PREROUTING {spec}\nCOMMIT\n";
        if (error is null)
        {
            Assert.NotNull(Engine.Create(TestRules.Load(rules), null, Server(), EngineOptions.Default));
            return;
        }
        var ex = Assert.ThrowsAny<Exception>(() => Engine.Create(TestRules.Load(rules), null, Server(), EngineOptions.Default));
        Assert.Contains(error, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Netbios_ns_exists_for_IPv4_only()
    {
        const string rules = "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -p udp -j CT --helper netbios-ns\nCOMMIT\n";
        var ex = Assert.ThrowsAny<Exception>(() => Engine.Create(null, TestRules.Load(rules, Family.IPv6), Server(), EngineOptions.Default));
        Assert.Contains("IPv4 only", ex.Message, StringComparison.Ordinal);
        const string tftp = "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -p udp -j CT --helper tftp\nCOMMIT\n";
        Assert.NotNull(Engine.Create(null, TestRules.Load(tftp, Family.IPv6), Server(), EngineOptions.Default));
    }

    // ---- netbios-ns, the model ----

    private static readonly CtTemplate Netbios = CtTemplate.Default.WithHelper("netbios-ns");
    private static readonly InterfaceAddress[] WithBroadcast = [new(Address.Parse(C), 24, Address.Parse("10.9.0.255"))];

    /// <summary>A query from 10.9.0.1:4000 to 10.9.0.255:137 sent by the host itself (OUTPUT), confirmed with the device's addresses.</summary>
    private static CtPacket Query(ConntrackTable table, double t, IReadOnlyList<InterfaceAddress>? addresses, string destination = "10.9.0.255")
    {
        var p = Udp(t, C, 4000, destination, 137, "query");
        var ct = table.Process(p, Hook.Output, Netbios);
        Assert.True(table.Confirm(ct, p, addresses));
        return ct;
    }

    [Fact]
    public void Netbios_ns_broadcast_query_expects_answers_from_the_subnet_from_port_137()
    {
        var table = Table();
        var query = Query(table, 0, WithBroadcast);
        // as conntrack -L expect printed it on Linux 6.18 (the kernel check's addresses)
        Assert.Equal(
            "2 proto=17 src=10.9.0.255 dst=10.9.0.1 sport=137 dport=4000 mask-src=255.255.255.0 mask-dst=255.255.255.255 sport=65535 dport=65535 master-src=10.9.0.1 master-dst=10.9.0.255 sport=4000 dport=137 PERMANENT class=0 helper=netbios-ns",
            Assert.Single(ConntrackListFormatter.ExpectationLines(table, T(0.5))));
        Assert.Equal(2, query.Entry!.SecondsLeft(T(0.5))); // the master's timeout is cut to 3 s
        Assert.Equal(CtState.Related, Send(table, Udp(1, "10.9.0.2", 137, C, 4000), Hook.Prerouting).State);
        Assert.Equal(CtState.Related, Send(table, Udp(1.1, "10.9.0.3", 137, C, 4000), Hook.Prerouting).State); // permanent: a second host too
        Assert.Single(table.Expectations);
        Assert.Equal(CtState.New, Send(table, Udp(1.2, "10.9.0.4", 138, C, 4000), Hook.Prerouting).State); // not from 137
        Assert.Equal(CtState.New, Send(table, Udp(1.3, "10.8.0.4", 137, C, 4000), Hook.Prerouting).State); // not the subnet
        Assert.Equal(CtState.New, Send(table, Udp(1.4, "10.9.0.5", 137, C, 4001), Hook.Prerouting).State); // not the query's port
        Assert.EndsWith("helper=netbios-ns use=3", ConntrackListFormatter.Lines(table, T(1.5)).Single(l => l.Contains("dport=137 [UNREPLIED] src=10.9.0.255", StringComparison.Ordinal)));
    }

    [Fact]
    public void Netbios_ns_expectation_and_master_last_3_seconds()
    {
        var table = Table();
        Query(table, 0, WithBroadcast);
        Assert.Equal(CtState.New, Send(table, Udp(3.01, "10.9.0.2", 137, C, 4000), Hook.Prerouting).State);
        Assert.DoesNotContain(ConntrackListFormatter.Lines(table, T(3.01)), l => l.Contains("helper=netbios-ns", StringComparison.Ordinal));
        // a second query 2 s after the first renews both: the answer at 4 s is RELATED
        var again = Table();
        Query(again, 0, WithBroadcast);
        Query(again, 2, WithBroadcast);
        Assert.Equal(CtState.Related, Send(again, Udp(4, "10.9.0.2", 137, C, 4000), Hook.Prerouting).State);
    }

    [Fact]
    public void Netbios_ns_does_nothing_without_the_devices_broadcast_or_for_forwarded_traffic()
    {
        var none = Table();
        var q = Query(none, 0, [new InterfaceAddress(Address.Parse(C), 24)]); // "ip addr add 10.9.0.1/24" without brd
        Assert.Empty(none.Expectations);
        Assert.Equal(29, q.Entry!.SecondsLeft(T(0.5))); // the UDP timeout stays: the helper did not refresh
        var forwarded = Table();
        Query(forwarded, 0, null); // not locally generated: the engine gives no device addresses
        Assert.Empty(forwarded.Expectations);
        var unicast = Table();
        Query(unicast, 0, WithBroadcast, "10.9.0.2");
        Assert.Empty(unicast.Expectations);
        var secondary = Table(); // 10.9.0.9/24 after 10.9.0.1/24 is secondary: its broadcast is not looked at
        Query(secondary, 0, [new InterfaceAddress(Address.Parse("10.9.0.1"), 24, Address.Parse("10.9.0.254")), new InterfaceAddress(Address.Parse("10.9.0.9"), 24, Address.Parse("10.9.0.255"))]);
        Assert.Empty(secondary.Expectations);
    }

    // ---- netbios-ns through the engine, and the kernel ----

    private static Host Client() => new(
        [
            new HostInterface("lo", 1, new MacAddress(0), [new InterfaceAddress(Address.Parse("127.0.0.1"), 8)], IsLoopback: true, Mtu: 65536),
            new HostInterface("c0", 2, MacAddress.Parse("02:00:00:00:cc:01"), [new InterfaceAddress(Address.Parse(C), 24, Address.Parse("10.9.0.255"))]),
        ],
        [],
        ImmutableArray<RoutingRule>.Empty,
        Sysctls.Defaults);

    private const string NetbiosRules = """
        *raw
        :PREROUTING ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A OUTPUT -p udp --dport 137 -j CT --helper netbios-ns
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

    /// <summary>The client of the kernel check: a broadcast query from 4000, then answers from 10.9.0.2:137 and :138 1 s later.</summary>
    private static TftpRun ModelNetbios()
    {
        var engine = Engine.Create(TestRules.Load(NetbiosRules), null, Client(), EngineOptions.Default);
        int n = 0;
        _ = engine.Process(PacketDecoder.Decode(Udp(1, C, 4000, "10.9.0.255", 137, "query").Raw.Span, ++n, T(1))).ToList();
        var expect = ConntrackListFormatter.ExpectationLines(engine.Conntrack, T(1.1)).Select(MaskTimeout).ToList();
        _ = engine.Process(PacketDecoder.Decode(Udp(2, S, 137, C, 4000, "answer").Raw.Span, ++n, T(2), "c0")).ToList();
        _ = engine.Process(PacketDecoder.Decode(Udp(2.01, S, 138, C, 4000, "other").Raw.Span, ++n, T(2.01), "c0")).ToList();
        var counters = Enumerable.Range(1, 3).Select(i => engine.Counters.Get(Family.IPv4, "filter", "INPUT", i).Packets).ToList();
        var lines = ConntrackListFormatter.Lines(engine.Conntrack, T(2.2)).Select(MaskTimeout).Order(StringComparer.Ordinal).ToList();
        return new TftpRun(counters, expect, lines);
    }

    [Fact]
    public void Model_netbios_ns_through_the_engine()
    {
        var run = ModelNetbios();
        Assert.Equal(new ulong[] { 2, 1, 0 }, run.Counters); // INPUT NEW/REL/EST: the query looped back (NEW), the answer from 137 RELATED, from 138 NEW
        Assert.Single(run.Expect);
        Assert.Contains(run.Conntrack, l => l.Contains("dport=137 [UNREPLIED]", StringComparison.Ordinal) && l.EndsWith("helper=netbios-ns use=2", StringComparison.Ordinal));
    }

    [Fact]
    public void Kernel_netbios_ns_counts_and_lists_as_the_model_does()
    {
        if (Run(output, "cth", NetbiosScript, new Dictionary<string, string> { ["rules"] = NetbiosRules }, Tools) is not { } lines) return;
        var model = ModelNetbios();
        Assert.Equal(model.Counters, Counters(lines));
        Assert.Equal(model.Expect, Field(lines, "EXP ").Select(MaskTimeout));
        Assert.Equal(model.Conntrack, lines.Where(l => l.StartsWith("udp ", StringComparison.Ordinal)).Select(MaskTimeout).Order(StringComparer.Ordinal));
        // the master's timeout: cut to 3 s by the helper (about 2 s left when listed)
        Assert.Contains(lines, l => Regex.IsMatch(l, @"^udp +17 [12] src=10\.9\.0\.1 dst=10\.9\.0\.255 "));
    }

    /// <summary><see cref="KernelShell.TwoPeers"/>, the rules in $P-c.</summary>
    private const string NetbiosScript = $$"""
        {{KernelShell.TwoPeers}}
        ip netns exec $P-c iptables-restore < $D/rules
        ip netns exec $P-s python3 -c '
        import socket, time
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 137)); s.settimeout(10)
        d, a = s.recvfrom(100)
        time.sleep(1)
        s.sendto(b"answer", a)
        t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); t.bind(("10.9.0.2", 138)); t.sendto(b"other", a)
        ' &
        SRV=$!
        sleep 0.5
        ip netns exec $P-c python3 -c '
        import socket, subprocess
        c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        c.bind(("10.9.0.1", 4000)); c.settimeout(5)
        c.sendto(b"query", ("10.9.0.255", 137))
        out = subprocess.run(["conntrack", "-L", "expect"], capture_output=True, text=True).stdout
        for l in out.splitlines(): print("EXP " + l, flush=True)
        c.recvfrom(100); c.recvfrom(100)
        '
        wait $SRV
        ip netns exec $P-c iptables -L INPUT -v -n -x | awk 'NR>2 {print "CNT " $1}'
        ip netns exec $P-c conntrack -L 2>/dev/null
        """;

    // ---- irc ----

    private static readonly CtTemplate Irc = CtTemplate.Default.WithHelper("irc");

    /// <summary>
    /// Client lines of the irc checks (the client is 10.9.0.1 = 168361985, the server 10.9.0.2 = 168361986), each in its
    /// own segment, and the DCC port each makes the kernel expect (0: none; from Linux 6.18, see the kernel check).
    /// </summary>
    private static readonly (string Line, int Expects)[] IrcLines =
    [
        ("PRIVMSG bob :\u0001DCC SEND file 168361985 5000 100\u0001\r\n", 5000),
        ("NOTICE bob :\u0001DCC SEND file 168361985 5001 100\u0001\r\n", 0),          // not a PRIVMSG
        ("PRIVMSG bob :\u0001DCC SEND file 168361986 5002 100\u0001\r\n", 0),         // the server's address: forged
        (":me!u@h PRIVMSG bob :\u0001DCC CHAT chat 168361985 5003\u0001\r\n", 0),     // a prefix before PRIVMSG
        ("hello \u0001DCC SEND file 168361985 5004 100\u0001\r\n", 0),
        ("PRIVMSG bob :\u0001DCC SEND file 168361985 5005\u0001\r\n", 5005),          // no size
        ("PRIVMSG bob :\u0001DCC RESUME file 5006 100\u0001\r\n", 0),
        ("privmsg bob :\u0001DCC SEND file 168361985  5007 100\u0001\n", 5007),        // lower case, two blanks
        ("PRIVMSG bob :hi \u0001DCC SEND file 168361985 5008 100\u0001\r\n", 0),      // the DCC is not right after " :"
        ("PRIVMSG bob :\u0001DCC SEND file 168361985 5009 100\u0001", 0),              // no line end
        ("PRIVMSG bob :\u0001DCC TSEND file 168361985 5010 100\u0001\r\n", 5010),
    ];

    private const ushort IrcClientPort = 40000;

    /// <summary>The handshake, then each line from the client (ACKed by the server), on the model's table.</summary>
    private static ConntrackTable IrcSession(IEnumerable<string> lines, out double time)
    {
        var table = Table();
        const TcpFlags syn = TcpFlags.Syn, ack = TcpFlags.Ack, synAck = TcpFlags.Syn | TcpFlags.Ack, pshAck = TcpFlags.Psh | TcpFlags.Ack;
        uint cseq = 1001, sseq = 5001;
        Send(table, Tcp(0, C, IrcClientPort, S, 6667, syn, 1000, 0), Hook.Prerouting, Irc);
        Send(table, Tcp(0.001, S, 6667, C, IrcClientPort, synAck, 5000, 1001), Hook.Output);
        Send(table, Tcp(0.002, C, IrcClientPort, S, 6667, ack, 1001, 5001), Hook.Prerouting);
        time = 0.002;
        foreach (var line in lines)
        {
            Send(table, Tcp(time += 0.1, C, IrcClientPort, S, 6667, pshAck, cseq, sseq, line), Hook.Prerouting);
            cseq += (uint)line.Length;
            Send(table, Tcp(time += 0.001, S, 6667, C, IrcClientPort, ack, sseq, cseq), Hook.Output);
        }
        return table;
    }

    [Fact]
    public void Irc_DCC_in_a_PRIVMSG_expects_the_connection_to_the_clients_port_from_anywhere()
    {
        var table = IrcSession(IrcLines.Select(l => l.Line), out double t);
        Assert.Equal(IrcLines.Where(l => l.Expects != 0).Select(l => (ushort)l.Expects).Order(),
            table.Expectations.Select(x => x.DestinationPort).Order());
        var x = table.Expectations.First();
        Assert.Equal(
            "299 proto=6 src=0.0.0.0 dst=10.9.0.1 sport=0 dport=5000 mask-src=0.0.0.0 mask-dst=255.255.255.255 sport=0 dport=65535 master-src=10.9.0.1 master-dst=10.9.0.2 sport=40000 dport=6667 class=0 helper=irc",
            ConntrackListFormatter.FormatExpectation(x, T(0.5)));
        var dcc = Send(table, Tcp(t + 1, "192.0.2.77", 33000, C, 5000, TcpFlags.Syn, 1, 0), Hook.Prerouting);
        Assert.Equal(CtState.Related, dcc.State); // from any address and port
        Assert.Equal(CtState.New, Send(table, Tcp(t + 1.1, S, 33001, C, 5001, TcpFlags.Syn, 1, 0), Hook.Prerouting).State);
    }

    [Fact]
    public void Irc_reads_neither_the_servers_packets_nor_the_handshake()
    {
        var table = Table();
        const string line = "PRIVMSG bob :\u0001DCC SEND file 168361985 5000 100\u0001\r\n";
        // on the first packet (not ESTABLISHED yet) nothing is read
        Send(table, Tcp(0, C, IrcClientPort, S, 6667, TcpFlags.Syn, 1000, 0, line), Hook.Prerouting, Irc);
        Assert.Empty(table.Expectations);
        var session = IrcSession([], out double t);
        Send(session, Tcp(t + 0.1, S, 6667, C, IrcClientPort, TcpFlags.Psh | TcpFlags.Ack, 5001, 1001, "PRIVMSG bob :\u0001DCC SEND file 168361986 5000 100\u0001\r\n"), Hook.Output);
        Assert.Empty(session.Expectations);
    }

    [Fact]
    public void Irc_keeps_at_most_8_expectations_per_connection()
    {
        var lines = Enumerable.Range(0, 9).Select(i => $"PRIVMSG bob :\u0001DCC SEND file 168361985 {6000 + i} 100\u0001\r\n");
        var table = IrcSession(lines, out _);
        Assert.Equal(Enumerable.Range(6001, 8).Select(p => (ushort)p), table.Expectations.Select(x => x.DestinationPort).Order()); // 6000, the oldest, went
    }

    [Fact]
    public void Kernel_irc_keeps_as_many_expectations_per_connection_as_the_model()
    {
        // ten DCC offers on one connection: the kernel forgets the oldest beyond its limit, as the model does
        var dcc = Enumerable.Range(0, 10).Select(i => $"PRIVMSG bob :\u0001DCC SEND file 168361985 {6000 + i} 100\u0001\r\n").ToList();
        if (Run(output, "cth", IrcScript, new Dictionary<string, string> { ["lines"] = HexLines(dcc) }, Tools) is not { } lines) return;
        var table = IrcSession(dcc, out double t);
        var model = ConntrackListFormatter.ExpectationLines(table, T(t + 0.1)).Select(MaskTimeout).Order(StringComparer.Ordinal);
        Assert.Equal(model, Field(lines, "EXP ").Select(MaskTimeout).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Kernel_irc_expects_as_the_model_does()
    {
        var offers = IrcLines.Select(l => l.Line).ToList();
        if (Run(output, "cth", IrcScript, new Dictionary<string, string> { ["lines"] = HexLines(offers) }, Tools) is not { } lines) return;
        var table = IrcSession(offers, out double t);
        var model = ConntrackListFormatter.ExpectationLines(table, T(t + 0.1)).Select(MaskTimeout).Order(StringComparer.Ordinal);
        Assert.Equal(model, Field(lines, "EXP ").Select(MaskTimeout).Order(StringComparer.Ordinal));
        // the server's connection to the first DCC port is RELATED, to a port never announced NEW
        Assert.Equal(new ulong[] { 1, 1 }, Counters(lines));
        Assert.Equal(CtState.Related, Send(table, Tcp(t + 1, S, 33000, C, 5000, TcpFlags.Syn, 1, 0), Hook.Output).State);
        Assert.Equal(CtState.New, Send(table, Tcp(t + 1, S, 33001, C, 5001, TcpFlags.Syn, 1, 0), Hook.Output).State);
    }

    /// <summary>One line of hex per text (the scripts send each in its own segment).</summary>
    private static string HexLines(IEnumerable<string> texts) =>
        string.Concat(texts.Select(l => Convert.ToHexString(System.Text.Encoding.ASCII.GetBytes(l)) + "\n"));

    /// <summary>
    /// $P-c (10.9.0.1, listens on 5000/5001) connects from port 40000 to $P-s (10.9.0.2:6667, "-j CT --helper irc") and
    /// sends each line of $D/lines (hex) in its own segment; $P-s lists its expectations, then connects to 5000 and 5001;
    /// CNT: its OUTPUT SYN counters RELATED, NEW.
    /// </summary>
    private const string IrcScript = $$"""
        {{KernelShell.TwoPeers}}
        printf '*raw\n-A PREROUTING -p tcp --dport 6667 -j CT --helper irc\nCOMMIT\n*filter\n-A OUTPUT -p tcp --syn -m conntrack --ctstate RELATED\n-A OUTPUT -p tcp --syn --dport 5000:5010 -m conntrack --ctstate NEW\nCOMMIT\n' | ip netns exec $P-s iptables-restore
        ip netns exec $P-s python3 -c '
        import socket, time
        s = socket.socket(); s.bind(("10.9.0.2", 6667)); s.listen(1); s.settimeout(10)
        c, a = s.accept(); c.settimeout(10)
        while c.recv(4096): pass
        ' &
        SRV=$!
        ip netns exec $P-c python3 -c '
        import socket, time
        ls = []
        for p in (5000, 5001):
            l = socket.socket(); l.bind(("10.9.0.1", p)); l.listen(1); ls.append(l)
        c = socket.socket(); c.bind(("10.9.0.1", 40000)); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        time.sleep(0.3)
        c.connect(("10.9.0.2", 6667))
        for line in open("'$D'/lines"):
            c.send(bytes.fromhex(line.strip())); time.sleep(0.1)
        time.sleep(5)
        c.close()
        ' &
        CLI=$!
        sleep 2.5
        ip netns exec $P-s conntrack -L expect 2>/dev/null | sed 's/^/EXP /'
        ip netns exec $P-s python3 -c '
        import socket
        for p in (5000, 5001):
            try:
                socket.create_connection(("10.9.0.1", p), timeout=2).close()
            except OSError as e:
                print("connect", p, e)
        '
        ip netns exec $P-s iptables -L OUTPUT -v -n -x | awk 'NR>2 {print "CNT " $1}'
        wait $CLI; wait $SRV
        """;

    // ---- tftp through the engine, and the kernel ----

    private static Host Server() => new(
        [
            new HostInterface("lo", 1, new MacAddress(0), [new InterfaceAddress(Address.Parse("127.0.0.1"), 8)], IsLoopback: true, Mtu: 65536),
            new HostInterface("s0", 2, MacAddress.Parse("02:00:00:00:55:01"), [new InterfaceAddress(Address.Parse(S), 24)]),
        ],
        [],
        ImmutableArray<RoutingRule>.Empty,
        Sysctls.Defaults);

    private const string TftpRules = """
        *raw
        :PREROUTING ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A PREROUTING -p udp --dport 69 -j CT --helper tftp
        -A OUTPUT -p udp --dport 69 -j CT --helper tftp
        COMMIT
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A INPUT -p udp -m conntrack --ctstate NEW
        -A INPUT -p udp -m conntrack --ctstate RELATED
        -A INPUT -p udp -m conntrack --ctstate ESTABLISHED
        -A OUTPUT -p udp -m conntrack --ctstate NEW
        -A OUTPUT -p udp -m conntrack --ctstate RELATED
        -A OUTPUT -p udp -m conntrack --ctstate ESTABLISHED
        COMMIT

        """;

    private sealed record TftpRun(List<ulong> Counters, List<string> Expect, List<string> Conntrack);

    /// <summary>
    /// The server of the kernel check: a DATA packet from 10.9.0.1:4001 to port 69 (answered from 5001), then a read
    /// request from 4000 (the expectation is listed), answered from 5000, and the client's ACK to 5000.
    /// </summary>
    private static TftpRun ModelTftp()
    {
        var engine = Engine.Create(TestRules.Load(TftpRules), null, Server(), EngineOptions.Default);
        int n = 0;
        double t = 1;
        void In(ushort sport, ushort dport, string payload) =>
            _ = engine.Process(PacketDecoder.Decode(Udp(t += 0.1, C, sport, S, dport, payload).Raw.Span, ++n, T(t), "s0")).ToList();
        void Out(ushort sport, ushort dport, string payload) =>
            _ = engine.Process(PacketDecoder.Decode(Udp(t += 0.1, S, sport, C, dport, payload).Raw.Span, ++n, T(t))).ToList();
        In(4001, 69, TftpRequest(3));
        Out(5001, 4001, TftpRequest(4));
        In(4000, 69, TftpRequest(1));
        var expect = ConntrackListFormatter.ExpectationLines(engine.Conntrack, T(t + 0.1)).Select(MaskTimeout).ToList();
        Out(5000, 4000, TftpRequest(3));
        In(4000, 5000, TftpRequest(4));
        var counters = Enumerable.Range(1, 3).Select(i => engine.Counters.Get(Family.IPv4, "filter", "INPUT", i).Packets)
            .Concat(Enumerable.Range(1, 3).Select(i => engine.Counters.Get(Family.IPv4, "filter", "OUTPUT", i).Packets)).ToList();
        var lines = ConntrackListFormatter.Lines(engine.Conntrack, T(t + 0.1)).Select(MaskTimeout).Order(StringComparer.Ordinal).ToList();
        return new TftpRun(counters, expect, lines);
    }

    [Fact]
    public void Model_tftp_through_the_engine()
    {
        var run = ModelTftp();
        Assert.Equal(new ulong[] { 2, 0, 1, 1, 1, 0 }, run.Counters); // INPUT NEW/REL/EST, OUTPUT NEW/REL/EST
        Assert.Single(run.Expect);
        Assert.Contains(run.Conntrack, l => l.Contains("sport=4000 dport=69 [UNREPLIED]", StringComparison.Ordinal) && l.EndsWith("helper=tftp use=2", StringComparison.Ordinal));
    }

    [Fact]
    public void Kernel_tftp_counts_and_lists_as_the_model_does()
    {
        if (Run(output, "cth", TwoNamespaces + TftpScript, new Dictionary<string, string> { ["rules"] = TftpRules }, Tools) is not { } lines) return;
        var model = ModelTftp();
        Assert.Equal(model.Counters, Counters(lines));
        Assert.Equal(model.Expect, Field(lines, "EXP ").Select(MaskTimeout));
        Assert.Equal(model.Conntrack, lines.Where(l => l.StartsWith("udp ", StringComparison.Ordinal)).Select(MaskTimeout).Order(StringComparer.Ordinal));
    }

    /// <summary><see cref="KernelShell.TwoPeers"/> with $D/rules loaded in $P-s.</summary>
    private const string TwoNamespaces = $$"""
        {{KernelShell.TwoPeers}}
        ip netns exec $P-s iptables-restore < $D/rules

        """;

    /// <summary>The server answers on the sockets the model's traffic names; it lists the expectations after the request.</summary>
    private const string TftpScript = """
        ip netns exec $P-s python3 -c '
        import socket, subprocess, sys
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.9.0.2", 69)); s.settimeout(10)
        d, a = s.recvfrom(100)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("10.9.0.2", 5001)); u.sendto(b"\x00\x04\x00\x01", a)
        d, a = s.recvfrom(100)
        out = subprocess.run(["conntrack", "-L", "expect"], capture_output=True, text=True).stdout
        for l in out.splitlines(): print("EXP " + l, flush=True)
        t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); t.bind(("10.9.0.2", 5000)); t.settimeout(10)
        t.sendto(b"\x00\x03\x00\x01data", a)
        t.recvfrom(100)
        ' > $D/server.out 2>&1 &
        SRV=$!
        sleep 0.5
        ip netns exec $P-c python3 -c '
        import socket, time
        x = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); x.bind(("10.9.0.1", 4001)); x.settimeout(5)
        x.sendto(b"\x00\x03\x00\x01data", ("10.9.0.2", 69)); x.recvfrom(100)
        c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.bind(("10.9.0.1", 4000)); c.settimeout(5)
        time.sleep(0.2)
        c.sendto(b"\x00\x01file\x00octet\x00", ("10.9.0.2", 69))
        d, a = c.recvfrom(100)
        c.sendto(b"\x00\x04\x00\x01", a)
        '
        wait $SRV
        cat $D/server.out
        for ch in INPUT OUTPUT; do ip netns exec $P-s iptables -L $ch -v -n -x | awk 'NR>2 {print "CNT " $1}'; done
        ip netns exec $P-s conntrack -L 2>/dev/null
        """;
}
