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

namespace Harness.Engine.Tests.Conntrack;

/// <summary>
/// The conntrack helpers besides ftp: tftp (a read/write request expects the server's answer from any port) and
/// netbios-ns (a local broadcast expects answers from the subnet). Model tests on the table and through the engine,
/// and kernel checks in namespaces hx-cth-PID-N (always deleted) comparing counters and "conntrack -L" with the model.
/// </summary>
public sealed partial class HelperTests(ITestOutputHelper output)
{
    private static int counter;
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
        if (!KernelShell.Available(out var why, "ip", "iptables-restore", "iptables", "conntrack", "python3")) { output.WriteLine(why); return; }
        var prefix = $"hx-cth-{Environment.ProcessId}-{Interlocked.Increment(ref counter)}";
        var dir = Directory.CreateTempSubdirectory("hx-cth-");
        try
        {
            File.WriteAllText(Path.Combine(dir.FullName, "rules"), TftpRules);
            var text = KernelShell.Script(TwoNamespaces + TftpScript, prefix, dir.FullName);
            output.WriteLine(text);
            var lines = text.Split('\n');
            var model = ModelTftp();
            var counters = lines.Where(l => l.StartsWith("CNT ", StringComparison.Ordinal)).Select(l => ulong.Parse(l[4..], CultureInfo.InvariantCulture)).ToList();
            Assert.Equal(model.Counters, counters);
            var expect = lines.Where(l => l.StartsWith("EXP ", StringComparison.Ordinal)).Select(l => MaskTimeout(l[4..])).ToList();
            Assert.Equal(model.Expect, expect);
            var ct = lines.Where(l => l.StartsWith("udp ", StringComparison.Ordinal)).Select(MaskTimeout).Order(StringComparer.Ordinal).ToList();
            Assert.Equal(model.Conntrack, ct);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>$P-c (c0, 10.9.0.1/24) ↔ $P-s (s0, 10.9.0.2/24), both deleted at exit; $D/rules loaded in $P-s.</summary>
    private const string TwoNamespaces = """
        P=$1; D=$2
        trap 'set +e; for n in c s; do ip netns del $P-$n 2>/dev/null; done; true' EXIT
        set -e
        for n in c s; do ip netns add $P-$n; done
        ip link add c0 netns $P-c address 02:00:00:00:cc:01 type veth peer name s0 netns $P-s address 02:00:00:00:55:01
        ip netns exec $P-c sh -c 'sysctl -qw net.ipv6.conf.all.disable_ipv6=1; ip addr add 10.9.0.1/24 dev c0; ip link set c0 up; ip link set lo up'
        ip netns exec $P-s sh -c 'sysctl -qw net.ipv6.conf.all.disable_ipv6=1; ip addr add 10.9.0.2/24 dev s0; ip link set s0 up; ip link set lo up'
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

    private static string MaskTimeout(string line) => TimeoutField().Replace(line, "$1T ");

    [GeneratedRegex(@"^((?:\w+ +\d+ )?)\d+ ")]
    private static partial Regex TimeoutField();
}
