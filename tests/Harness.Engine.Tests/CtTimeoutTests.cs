using System.Collections.Immutable;
using System.Globalization;
using System.Text.RegularExpressions;
using Harness.Engine.Conntrack;
using Harness.Engine.Tests.Support;
using Harness.Hosts;
using Harness.Net;
using Harness.Packets;
using Xunit.Abstractions;

namespace Harness.Engine.Tests;

/// <summary>
/// CT --timeout: the host's conntrack-timeouts policies (nfnetlink_cttimeout), the rule checks xt_ct_set_timeout makes,
/// and the per-state timeouts new entries take from their policy. The kernel check makes the same policies with nfct in
/// a namespace (hx-ctto-PID-N, always deleted), forwards the same UDP and TCP packets and compares conntrack -L.
/// </summary>
public sealed partial class CtTimeoutTests(ITestOutputHelper output)
{
    private static int counter;

    private const string C = "10.1.0.2", S = "10.2.0.2";

    private const string PolicyYaml = """
        conntrack-timeouts:
          - name: dns
            family: inet
            protocol: udp
            timeouts: {unreplied: 5, replied: 7}
          - name: web
            family: inet
            protocol: tcp
            timeouts: {established: 100, close: 9}
          - name: other
            family: inet
            protocol: generic
            timeouts: {timeout: 44}
          - name: ping
            family: inet
            protocol: icmp
            timeouts: {timeout: 3}
          - name: dns6
            family: inet6
            protocol: udp
            timeouts: {replied: 9}
        """;

    /// <summary>The nfct commands that make <see cref="PolicyYaml"/>'s policies in the kernel.</summary>
    private const string NfctCommands = """
        nfct add timeout dns inet udp unreplied 5 replied 7
        nfct add timeout web inet tcp established 100 close 9
        """;

    private static Host Firewall(string yaml = PolicyYaml) => new Host(
        [
            new HostInterface("lo", 1, new MacAddress(0), [new InterfaceAddress(Address.Parse("127.0.0.1"), 8)], IsLoopback: true, Mtu: 65536),
            new HostInterface("f0", 2, MacAddress.Parse("02:00:00:00:ff:00"), [new InterfaceAddress(Address.Parse("10.1.0.1"), 24)]),
            new HostInterface("f1", 3, MacAddress.Parse("02:00:00:00:ff:01"), [new InterfaceAddress(Address.Parse("10.2.0.1"), 24)]),
        ],
        [],
        ImmutableArray<RoutingRule>.Empty,
        Sysctls.Defaults.With("net.ipv4.ip_forward", "1"))
    { ConntrackTimeouts = HostLoader.ParseYaml(yaml, "policies.yaml").ConntrackTimeouts };

    private const string Rules = """
        *raw
        :PREROUTING ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A PREROUTING -i f0 -p udp -m udp --dport 53 -j CT --timeout dns
        -A PREROUTING -i f0 -p tcp -m tcp --dport 80 -j CT --timeout web
        COMMIT

        """;

    private const TcpFlags Syn = TcpFlags.Syn, SynAck = TcpFlags.Syn | TcpFlags.Ack, Ack = TcpFlags.Ack, RstAck = TcpFlags.Rst | TcpFlags.Ack;

    /// <summary>The frames in order: (seconds to wait before it, arriving interface, IP packet).</summary>
    private static List<(double Gap, string Interface, byte[] Ip)> Traffic() =>
    [
        (0, "f0", Udp(C, 5001, S, 53)),                     // answered: unreplied timeout while young,
        (0, "f1", Udp(S, 53, C, 5001)),
        (2.3, "f0", Udp(C, 5001, S, 53)),                   // the replied one after two seconds (ASSURED)
        (0, "f0", Udp(C, 5000, S, 53)),                     // unanswered: unreplied 5
        (0, "f0", Udp(C, 5002, S, 54)),                     // no policy: nf_conntrack_udp_timeout 30
        (0, "f0", Tcp(C, 40000, S, 80, Syn, 100, 0)),       // SYN_SENT: not in the policy, 120
        (0, "f0", Tcp(C, 40001, S, 80, Syn, 100, 0)),
        (0, "f1", Tcp(S, 80, C, 40001, SynAck, 900, 101)),
        (0, "f0", Tcp(C, 40001, S, 80, Ack, 101, 901)),     // ESTABLISHED 100
        (0, "f0", Tcp(C, 40002, S, 80, Syn, 100, 0)),
        (0, "f1", Tcp(S, 80, C, 40002, SynAck, 900, 101)),
        (0, "f0", Tcp(C, 40002, S, 80, Ack, 101, 901)),
        (0, "f0", Tcp(C, 40002, S, 80, RstAck, 101, 901)),  // CLOSE 9
        (0, "f0", Tcp(C, 40003, S, 81, Syn, 100, 0)),       // no policy
        (0, "f1", Tcp(S, 81, C, 40003, SynAck, 900, 101)),
        (0, "f0", Tcp(C, 40003, S, 81, Ack, 101, 901)),     // ESTABLISHED 432000
    ];

    private static byte[] Tcp(string src, ushort sport, string dst, ushort dport, TcpFlags flags, uint seq, uint ack) =>
        PacketBuilder.Build(new IpHeader
        {
            Family = Family.IPv4, Source = Address.Parse(src), Destination = Address.Parse(dst), Protocol = IpProtocol.Tcp,
            Ttl = 64, Id = seq, DontFragment = true, TotalLength = 0, HeaderLength = 0,
        }, new TcpHeader(sport, dport, seq, ack, flags, 64240), []);

    private static byte[] Udp(string src, ushort sport, string dst, ushort dport) =>
        PacketBuilder.Build(new IpHeader
        {
            Family = Family.IPv4, Source = Address.Parse(src), Destination = Address.Parse(dst), Protocol = IpProtocol.Udp,
            Ttl = 64, Id = sport, DontFragment = true, TotalLength = 0, HeaderLength = 0,
        }, new UdpHeader(sport, dport, 0), "q"u8.ToArray());

    /// <summary>"PROTO KEY TIMEOUT STATE" per entry, KEY the client's port (sorted), at the last packet's time.</summary>
    private static List<string> ModelList()
    {
        var engine = Engine.Create(TestRules.Load(Rules), null, Firewall(), EngineOptions.Default);
        double t = 1;
        int n = 0;
        foreach (var (gap, iface, ip) in Traffic())
        {
            t += gap + 0.02;
            _ = engine.Process(PacketDecoder.Decode(ip, ++n, Timestamp.FromSeconds(t), iface)).ToList();
        }
        t += 0.2; // the kernel script lists the table 0.2 s after its last frame
        return Summaries(ConntrackListFormatter.Lines(engine.Conntrack, Timestamp.FromSeconds(t)));
    }

    private static List<string> Summaries(IEnumerable<string> lines) =>
        [.. lines.Select(l => ListLine().Match(l)).Where(m => m.Success)
            .Select(m => $"{m.Groups[1].Value} {m.Groups[4].Value} {m.Groups[2].Value} {(m.Groups[3].Success ? m.Groups[3].Value : "-")}")
            .Order(StringComparer.Ordinal)];

    [GeneratedRegex(@"^(tcp|udp) +\d+ (\d+) (?:([A-Z_]+) )?src=\S+ dst=\S+ sport=(\d+) ")]
    private static partial Regex ListLine();

    // ---- the model ----

    [Fact]
    public void Model_gives_policy_timeouts_per_state_and_defaults_for_unlisted_states()
    {
        Assert.Equal(
        [
            "tcp 40000 119 SYN_SENT",     // not in the policy: the host's 120
            "tcp 40001 99 ESTABLISHED",
            "tcp 40002 8 CLOSE",
            "tcp 40003 431999 ESTABLISHED",
            "udp 5000 4 -",
            "udp 5001 6 -",
            "udp 5002 29 -",
        ], ModelList());
    }

    [Fact]
    public void Unlisted_states_keep_the_host_sysctls_and_every_tracker_uses_its_policy()
    {
        var host = ConntrackSettings.FromSysctls(Sysctls.Defaults.With("net.netfilter.nf_conntrack_tcp_timeout_syn_sent", "77"));
        var web = CtTimeoutPolicy.From(Firewall().FindConntrackTimeout("web")!, host);
        Assert.Equal(77, web.Settings.TcpTimeouts[(int)TcpConntrackState.SynSent]);
        Assert.Equal(100, web.Settings.TcpTimeouts[(int)TcpConntrackState.Established]);
        Assert.Equal(9, web.Settings.TcpTimeouts[(int)TcpConntrackState.Close]);
        Assert.Equal(300, web.Settings.TcpTimeoutUnacknowledged);
        Assert.Equal(30, web.Settings.UdpTimeout); // another protocol's timeouts: untouched

        var table = new ConntrackTable(ConntrackSettings.Default);
        var hostPolicies = Firewall();
        long Left(byte[] ip, string policy)
        {
            var p = PacketDecoder.Decode(ip, 1, Timestamp.FromSeconds(10), "f0");
            var ct = table.Process(p, Hook.Prerouting, new CtTemplate(Timeouts: CtTimeoutPolicy.From(hostPolicies.FindConntrackTimeout(policy)!, table.Settings)));
            Assert.True(table.Confirm(ct, p));
            return ct.Entry!.SecondsLeft(Timestamp.FromSeconds(10));
        }
        var esp = PacketBuilder.Build(new IpHeader
        {
            Family = Family.IPv4, Source = Address.Parse(C), Destination = Address.Parse(S), Protocol = 50,
            Ttl = 64, Id = 1, TotalLength = 0, HeaderLength = 0,
        }, new OtherTransport(50), new byte[16]);
        Assert.Equal(44, Left(esp, "other"));
        var echo = PacketBuilder.Build(new IpHeader
        {
            Family = Family.IPv4, Source = Address.Parse(C), Destination = Address.Parse(S), Protocol = IpProtocol.Icmp,
            Ttl = 64, Id = 2, TotalLength = 0, HeaderLength = 0,
        }, new IcmpHeader(8, 0, false) { Identifier = 7, SequenceNumber = 1 }, new byte[8]);
        Assert.Equal(3, Left(echo, "ping"));
        Assert.Equal(5, Left(Udp(C, 6000, S, 53), "dns"));
    }

    [Theory]
    [InlineData("-A PREROUTING -p udp -j CT --timeout nope", "no conntrack timeout policy \"nope\"")]
    [InlineData("-A PREROUTING -j CT --timeout dns", "must name a protocol with -p")]
    [InlineData("-A PREROUTING ! -p udp -j CT --timeout dns", "must name a protocol with -p")]
    [InlineData("-A PREROUTING -p tcp -j CT --timeout dns", "the policy is for protocol udp")]
    [InlineData("-A PREROUTING -p udp -j CT --timeout dns6", "the policy is for family inet6")]
    [InlineData("-A PREROUTING -p gre -j CT --timeout other", "the policy is for protocol generic")]
    public void Rules_the_kernel_refuses_are_refused_at_setup_naming_the_rule(string rule, string message)
    {
        var rules = $"*raw\n:PREROUTING ACCEPT [0:0]\n{rule}\nCOMMIT\n";
        var e = Assert.Throws<EngineSetupException>(() => Engine.Create(TestRules.Load(rules), null, Firewall(), EngineOptions.Default));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
        Assert.Contains("raw:PREROUTING:1", e.Message, StringComparison.Ordinal);
        Assert.Contains(rule.Replace("-A PREROUTING ", "", StringComparison.Ordinal).Split(' ')[^1], e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("-A PREROUTING -p esp -j CT --timeout other")]        // no tracker of its own: generic fits
    [InlineData("-A PREROUTING -p 6 -j CT --timeout web")]
    [InlineData("-A PREROUTING -p udp -j CT --notrack --timeout nope")] // --notrack never looks the policy up
    public void Rules_the_kernel_accepts_load(string rule)
    {
        var rules = $"*raw\n:PREROUTING ACCEPT [0:0]\n{rule}\nCOMMIT\n";
        var engine = Engine.Create(TestRules.Load(rules), null, Firewall(), EngineOptions.Default);
        Assert.NotNull(engine);
    }

    [Theory]
    [InlineData("conntrack-timeouts:\n  - name: a\n    family: inet\n    protocol: udp\n    timeouts: {established: 5}\n", 5, 16, "unknown udp timeout 'established'")]
    [InlineData("conntrack-timeouts:\n  - name: a\n    family: inet\n    protocol: esp\n    timeouts: {timeout: 5}\n", 4, 15, "unknown protocol 'esp'")]
    [InlineData("conntrack-timeouts:\n  - name: a\n    family: inet4\n    protocol: tcp\n    timeouts: {close: 5}\n", 3, 13, "invalid family 'inet4'")]
    [InlineData("conntrack-timeouts:\n  - name: a\n    family: inet\n    protocol: tcp\n    timeouts: {}\n", 5, 15, "needs at least one timeout")]
    [InlineData("conntrack-timeouts:\n  - name: a\n    family: inet\n    protocol: tcp\n    timeouts: {close: -1}\n", 5, 23, "between 0 and 2147483")]
    [InlineData("conntrack-timeouts:\n  - name: a\n    family: inet\n    protocol: icmp\n    timeouts: {timeout: 1}\n  - name: a\n    family: inet\n    protocol: tcp\n    timeouts: {close: 1}\n", 6, 11, "duplicate timeout policy 'a'")]
    [InlineData("conntrack-timeouts:\n  - name: a\n    protocol: tcp\n    timeouts: {close: 1}\n", 2, 5, "needs 'family'")]
    public void Host_yaml_errors_name_file_line_and_column(string yaml, int line, int column, string message)
    {
        var e = Assert.Throws<HostFormatException>(() => HostLoader.ParseYaml(yaml, "h.yaml"));
        Assert.Contains($"h.yaml:{line}:{column}:", e.Message, StringComparison.Ordinal);
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Host_yaml_reads_policies()
    {
        var p = Firewall().FindConntrackTimeout("dns")!;
        Assert.Equal(Family.IPv4, p.Family);
        Assert.Equal(17, p.Protocol);
        Assert.Equal(new[] { "replied=7", "unreplied=5" }, p.Timeouts.Select(kv => $"{kv.Key}={kv.Value}"));
        Assert.Equal(Family.IPv6, Firewall().FindConntrackTimeout("dns6")!.Family);
    }

    // ---- the kernel ----

    [Fact]
    public void Kernel_lists_the_policy_timeouts_the_model_gives()
    {
        if (!KernelShell.Available(out var why, "ip", "iptables-restore", "conntrack", "nfct", "python3")) { output.WriteLine(why); return; }
        var prefix = $"hx-ctto-{Environment.ProcessId}-{Interlocked.Increment(ref counter)}";
        var dir = Directory.CreateTempSubdirectory("hx-ctto-");
        try
        {
            static string Frame(double gap, string iface, byte[] p) => gap.ToString("0.###", CultureInfo.InvariantCulture) + " " +
                (iface == "f0" ? "c 02000000ff00" + "02000000cc01" : "s 02000000ff01" + "020000005501") + "0800" + Convert.ToHexString(p);
            File.WriteAllLines(Path.Combine(dir.FullName, "frames"), Traffic().Select(t => Frame(t.Gap, t.Interface, t.Ip)));
            File.WriteAllText(Path.Combine(dir.FullName, "rules"), Rules);
            File.WriteAllText(Path.Combine(dir.FullName, "nfct"), NfctCommands + "\n");
            var text = KernelShell.Script(KernelScript, prefix, dir.FullName);
            output.WriteLine(text);
            var kernel = Summaries(text.Split('\n'));
            var model = ModelList();
            output.WriteLine("model:\n" + string.Join("\n", model));
            Assert.Equal(model.Count, kernel.Count);
            for (int i = 0; i < model.Count; i++)
            {
                var m = model[i].Split(' ');
                var k = kernel[i].Split(' ');
                Assert.Equal((m[0], m[1], m[3]), (k[0], k[1], k[3]));
                Assert.InRange(long.Parse(k[2], CultureInfo.InvariantCulture), long.Parse(m[2], CultureInfo.InvariantCulture) - 1, long.Parse(m[2], CultureInfo.InvariantCulture) + 1);
            }
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>
    /// Client side c, firewall f, server side s (c0 ↔ f0, f1 ↔ s0), the policies made with nfct in f, frames sent by
    /// AF_PACKET from c0 or s0 after each line's wait (0.02 s at least); f prints conntrack -L 0.2 s after the last.
    /// </summary>
    private const string KernelScript = $$"""
        P=$1; D=$2
        {{KernelShell.SilentPeersForwarder}}
        while read -r cmd; do [ -n "$cmd" ] && ip netns exec $P-f $cmd; done < $D/nfct
        ip netns exec $P-f iptables-restore < $D/rules
        sleep 0.3
        python3 - $P $D <<'PY'
        import socket, sys, time, os, ctypes
        P, D = sys.argv[1], sys.argv[2]
        libc = ctypes.CDLL(None, use_errno=True)
        def sock(ns, ifname):
            fd = os.open("/run/netns/" + ns, os.O_RDONLY)
            if libc.setns(fd, 0x40000000) != 0:
                raise OSError(ctypes.get_errno(), "setns " + ns)
            os.close(fd)
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
            s.bind((ifname, 0))
            return s
        c = sock(P + "-c", "c0")
        s = sock(P + "-s", "s0")
        for line in open(D + "/frames"):
            gap, side, hexframe = line.split()
            time.sleep(float(gap) + 0.02)
            (c if side == "c" else s).send(bytes.fromhex(hexframe))
        time.sleep(0.2)
        PY
        ip netns exec $P-f conntrack -L 2>/dev/null
        """;
}
