using System.Collections.Immutable;
using System.Globalization;
using System.Text.RegularExpressions;
using Harness.Engine.Conntrack;
using Harness.Engine.Tests.Support;
using Harness.Hosts;
using Harness.Net;
using Harness.Packets;
using Harness.Rules.Extensions;
using Xunit.Abstractions;

namespace Harness.Engine.Tests;

/// <summary>
/// CT --zone-orig / --zone-reply (a zone for one direction's tuple, the other in zone 0), "--zone mark" (the mark when
/// conntrack runs) and the first CT target winning. The kernel check forwards the same TCP packets through a namespace
/// (hx-ctz-PID-N, always deleted) and compares the FORWARD counters per flow and state, what reaches the server and
/// "conntrack -L" with the model.
/// </summary>
public sealed partial class CtZoneTests(ITestOutputHelper output)
{
    private static int counter;

    private const string C = "10.1.0.2", S = "10.2.0.2";

    private static Host Firewall() => new(
        [
            new HostInterface("lo", 1, new MacAddress(0), [new InterfaceAddress(Address.Parse("127.0.0.1"), 8)], IsLoopback: true, Mtu: 65536),
            new HostInterface("f0", 2, MacAddress.Parse("02:00:00:00:ff:00"), [new InterfaceAddress(Address.Parse("10.1.0.1"), 24)]),
            new HostInterface("f1", 3, MacAddress.Parse("02:00:00:00:ff:01"), [new InterfaceAddress(Address.Parse("10.2.0.1"), 24)]),
        ],
        [],
        ImmutableArray<RoutingRule>.Empty,
        Sysctls.Defaults.With("net.ipv4.ip_forward", "1"));

    private static readonly int[] Ports = [1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008];

    /// <summary>
    /// Per flow (server port): 1001 zone-orig 5 from the client only; 1002 zone-orig 5 from the client, zone-reply 5 on
    /// the server's answer; 1003 zone-reply 6 from the client only; 1004 zone 7 both ways (TTL 64 only); 1005 zone 8
    /// then zone 9; 1006 zone mark, then mark 12; 1007 zone-orig mark, then mark 13; 1008 zone-reply 6 both ways.
    /// FORWARD counts NEW / ESTABLISHED / INVALID per port and direction.
    /// </summary>
    private static string Rules()
    {
        var forward = string.Join("\n", Ports.SelectMany(p => new[] { "dport", "sport" }.SelectMany(d =>
            new[] { "NEW", "ESTABLISHED", "INVALID" }.Select(s => $"-A FORWARD -p tcp -m tcp --{d} {p} -m conntrack --ctstate {s}"))));
        return $"""
            *raw
            :PREROUTING ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A PREROUTING -i f0 -p tcp -m tcp --dport 1001 -m ttl --ttl-eq 64 -j CT --zone-orig 5
            -A PREROUTING -i f0 -p tcp -m tcp --dport 1002 -j CT --zone-orig 5
            -A PREROUTING -i f1 -p tcp -m tcp --sport 1002 -j CT --zone-reply 5
            -A PREROUTING -i f0 -p tcp -m tcp --dport 1003 -j CT --zone-reply 6
            -A PREROUTING -i f0 -p tcp -m tcp --dport 1004 -m ttl --ttl-eq 64 -j CT --zone 7
            -A PREROUTING -i f1 -p tcp -m tcp --sport 1004 -j CT --zone 7
            -A PREROUTING -i f0 -p tcp -m tcp --dport 1005 -j CT --zone 8
            -A PREROUTING -i f0 -p tcp -m tcp --dport 1005 -j CT --zone 9
            -A PREROUTING -i f0 -p tcp -m tcp --dport 1006 -j CT --zone mark
            -A PREROUTING -i f0 -p tcp -m tcp --dport 1006 -j MARK --set-xmark 0xc/0xffffffff
            -A PREROUTING -i f0 -p tcp -m tcp --dport 1007 -j CT --zone-orig mark
            -A PREROUTING -i f0 -p tcp -m tcp --dport 1007 -j MARK --set-xmark 0x1000d/0xffffffff
            -A PREROUTING -i f0 -p tcp -m tcp --dport 1008 -j CT --zone-reply 6
            -A PREROUTING -i f1 -p tcp -m tcp --sport 1008 -j CT --zone-reply 6
            COMMIT
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            {forward}
            COMMIT

            """;
    }

    private const TcpFlags Syn = TcpFlags.Syn, SynAck = TcpFlags.Syn | TcpFlags.Ack, Ack = TcpFlags.Ack;

    /// <summary>The frames in order: (arriving interface, IP packet).</summary>
    private static List<(string Interface, byte[] Ip)> Traffic()
    {
        byte[] FromClient(ushort port, TcpFlags flags, uint seq, uint ack, byte ttl = 64) => Tcp(C, 40000, S, port, flags, seq, ack, ttl);
        byte[] FromServer(ushort port, TcpFlags flags, uint seq, uint ack) => Tcp(S, port, C, 40000, flags, seq, ack, 64);
        return
        [
            ("f0", FromClient(1001, Syn, 100, 0)),
            ("f1", FromServer(1001, SynAck, 900, 101)),     // no template: zone 0 finds the reply tuple
            ("f0", FromClient(1001, Ack, 101, 901)),
            ("f0", FromClient(1001, Syn, 5000, 0, ttl: 63)), // zone 0: a new entry, whose reply tuple clashes in zone 0
            ("f0", FromClient(1002, Syn, 100, 0)),
            ("f1", FromServer(1002, SynAck, 900, 101)),     // zone-reply 5 does not find a reply kept in zone 0
            ("f0", FromClient(1002, Ack, 101, 901)),
            ("f0", FromClient(1003, Syn, 100, 0)),
            ("f1", FromServer(1003, SynAck, 900, 101)),     // zone 0 does not find a reply kept in zone 6
            ("f0", FromClient(1004, Syn, 100, 0)),
            ("f1", FromServer(1004, SynAck, 900, 101)),
            ("f0", FromClient(1004, Ack, 101, 901)),
            ("f0", FromClient(1004, Syn, 5000, 0, ttl: 63)), // zone 0: the same tuples as zone 7's, no clash
            ("f0", FromClient(1005, Syn, 100, 0)),
            ("f0", FromClient(1006, Syn, 100, 0)),
            ("f0", FromClient(1007, Syn, 100, 0)),
            ("f0", FromClient(1008, Syn, 100, 0)),
            ("f1", FromServer(1008, SynAck, 900, 101)),
            ("f0", FromClient(1008, Ack, 101, 901)),
        ];
    }

    private static byte[] Tcp(string src, ushort sport, string dst, ushort dport, TcpFlags flags, uint seq, uint ack, byte ttl) =>
        PacketBuilder.Build(new IpHeader
        {
            Family = Family.IPv4, Source = Address.Parse(src), Destination = Address.Parse(dst), Protocol = IpProtocol.Tcp,
            Ttl = ttl, Id = seq, DontFragment = true, TotalLength = 0, HeaderLength = 0,
        }, new TcpHeader(sport, dport, seq, ack, flags, 64240), []);

    private sealed record Run(List<ulong> Forward, List<string> Arrived, List<string> Conntrack);

    private static Run ModelRun()
    {
        var engine = Engine.Create(TestRules.Load(Rules()), null, Firewall(), EngineOptions.Default);
        var arrived = new List<string>();
        int n = 0;
        Timestamp last = default;
        foreach (var (iface, ip) in Traffic())
        {
            n++;
            last = Timestamp.FromSeconds(1 + n / 100.0);
            foreach (var o in engine.Process(PacketDecoder.Decode(ip, n, last, iface)))
                if (!o.Generated && o.Disposition == Disposition.Forwarded) arrived.Add(Arrival(o.Packet));
        }
        int rules = Ports.Length * 6;
        var forward = Enumerable.Range(1, rules).Select(i => engine.Counters.Get(Family.IPv4, "filter", "FORWARD", i).Packets).ToList();
        var lines = ConntrackListFormatter.Lines(engine.Conntrack, last).Select(MaskTimeout).Order(StringComparer.Ordinal).ToList();
        return new Run(forward, [.. arrived.Order(StringComparer.Ordinal)], lines);
    }

    /// <summary>"DIRECTION PORT FLAGS TTL" of a packet that left the firewall.</summary>
    private static string Arrival(Packet p)
    {
        var t = (TcpHeader)p.Transport!;
        bool toServer = p.Ip!.Destination == Address.Parse(S);
        string flags = t.Flags == Syn ? "S" : t.Flags == SynAck ? "SA" : t.Flags == Ack ? "A" : "?";
        return string.Create(CultureInfo.InvariantCulture, $"{(toServer ? "S" : "C")} {(toServer ? t.DestinationPort : t.SourcePort)} {flags} {p.Ip.Ttl}");
    }

    private static string MaskTimeout(string line) => TimeoutField().Replace(line, "$1 T ");

    [GeneratedRegex(@"^(\w+ +\d+) \d+ ")]
    private static partial Regex TimeoutField();

    // ---- the model ----

    [Fact]
    public void Model_counts_states_per_flow_as_the_zones_decide()
    {
        var run = ModelRun();
        ulong[] Flow(int port) => [.. run.Forward.Skip(Array.IndexOf(Ports, port) * 6).Take(6)];
        // dport NEW/EST/INV, sport NEW/EST/INV
        Assert.Equal(new ulong[] { 2, 1, 0, 0, 1, 0 }, Flow(1001)); // the TTL 63 SYN is NEW (zone 0) and dropped at confirm
        Assert.Equal(new ulong[] { 1, 0, 1, 0, 0, 1 }, Flow(1002));
        Assert.Equal(new ulong[] { 1, 0, 0, 0, 0, 1 }, Flow(1003));
        Assert.Equal(new ulong[] { 2, 1, 0, 0, 1, 0 }, Flow(1004));
        Assert.Equal(new ulong[] { 1, 1, 0, 0, 1, 0 }, Flow(1008));
        Assert.DoesNotContain("S 1001 S 62", run.Arrived); // insert clash: dropped after POSTROUTING
        Assert.Contains("S 1004 S 62", run.Arrived);
        Assert.Equal(
        [
            "tcp      6 T ESTABLISHED src=10.1.0.2 dst=10.2.0.2 sport=40000 dport=1001 zone-orig=5 src=10.2.0.2 dst=10.1.0.2 sport=1001 dport=40000 [ASSURED] mark=0 use=1",
            "tcp      6 T ESTABLISHED src=10.1.0.2 dst=10.2.0.2 sport=40000 dport=1004 src=10.2.0.2 dst=10.1.0.2 sport=1004 dport=40000 [ASSURED] mark=0 zone=7 use=1",
            "tcp      6 T ESTABLISHED src=10.1.0.2 dst=10.2.0.2 sport=40000 dport=1008 src=10.2.0.2 dst=10.1.0.2 sport=1008 dport=40000 zone-reply=6 [ASSURED] mark=0 use=1",
            "tcp      6 T SYN_SENT src=10.1.0.2 dst=10.2.0.2 sport=40000 dport=1002 zone-orig=5 [UNREPLIED] src=10.2.0.2 dst=10.1.0.2 sport=1002 dport=40000 mark=0 use=1",
            "tcp      6 T SYN_SENT src=10.1.0.2 dst=10.2.0.2 sport=40000 dport=1003 [UNREPLIED] src=10.2.0.2 dst=10.1.0.2 sport=1003 dport=40000 zone-reply=6 mark=0 use=1",
            "tcp      6 T SYN_SENT src=10.1.0.2 dst=10.2.0.2 sport=40000 dport=1004 [UNREPLIED] src=10.2.0.2 dst=10.1.0.2 sport=1004 dport=40000 mark=0 use=1",
            "tcp      6 T SYN_SENT src=10.1.0.2 dst=10.2.0.2 sport=40000 dport=1005 [UNREPLIED] src=10.2.0.2 dst=10.1.0.2 sport=1005 dport=40000 mark=0 zone=8 use=1",
            "tcp      6 T SYN_SENT src=10.1.0.2 dst=10.2.0.2 sport=40000 dport=1006 [UNREPLIED] src=10.2.0.2 dst=10.1.0.2 sport=1006 dport=40000 mark=0 zone=12 use=1",
            "tcp      6 T SYN_SENT src=10.1.0.2 dst=10.2.0.2 sport=40000 dport=1007 zone-orig=13 [UNREPLIED] src=10.2.0.2 dst=10.1.0.2 sport=1007 dport=40000 mark=0 use=1",
        ], run.Conntrack);
    }

    [Fact]
    public void Zone_orig_entry_is_found_by_its_reply_in_zone_0_and_not_by_its_original_tuple_there()
    {
        var table = new ConntrackTable(ConntrackSettings.FromSysctls(Sysctls.Defaults));
        var syn = PacketDecoder.Decode(Tcp(C, 40000, S, 80, Syn, 1, 0, 64), 1, Timestamp.FromSeconds(1), "f0");
        var ct = table.Process(syn, Hook.Prerouting, new CtTemplate(Zone: 5, ZoneDirection: CtZoneDirection.Original));
        Assert.True(table.Confirm(ct, syn));
        var original = ct.Entry!.Original;
        var now = Timestamp.FromSeconds(2);
        Assert.Same(ct.Entry, table.Find(ConntrackTable.Invert(original), 0, now));
        Assert.Null(table.Find(original, 0, now));
        Assert.Same(ct.Entry, table.Find(original, new CtZone(5, CtZoneDirection.Original), now));
        Assert.Same(ct.Entry, table.Find(original, 5, now)); // zone 5 for both directions: its original id is 5 too
        Assert.Null(table.Find(original, new CtZone(5, CtZoneDirection.Reply), now)); // its original id is 0
        Assert.Null(table.Find(ConntrackTable.Invert(original), new CtZone(5, CtZoneDirection.Reply), now));
        Assert.Equal(0, ct.Entry.ZoneIdOf(CtDirection.Reply));
        Assert.Equal(5, ct.Entry.ZoneIdOf(CtDirection.Original));
    }

    [Fact]
    public void Zone_mark_is_the_mark_when_conntrack_runs_and_the_first_CT_target_wins()
    {
        var run = ModelRun();
        Assert.Contains(run.Conntrack, l => l.Contains("dport=1005 ", StringComparison.Ordinal) && l.Contains(" zone=8 ", StringComparison.Ordinal));
        Assert.Contains(run.Conntrack, l => l.Contains("dport=1006 ", StringComparison.Ordinal) && l.Contains(" zone=12 ", StringComparison.Ordinal));
        Assert.Contains(run.Conntrack, l => l.Contains("dport=1007 zone-orig=13 ", StringComparison.Ordinal)); // 0x1000d: the low 16 bits
        Assert.Equal(new CtTemplate(Zone: 12), new CtTemplate(ZoneFromMark: true).AtConntrack(0x1000c) with { ZoneFromMark = false });
    }

    // ---- the kernel ----

    [Fact]
    public void Kernel_counts_states_and_lists_entries_as_the_model_does()
    {
        if (!KernelShell.Available(out var why, "ip", "iptables-restore", "iptables", "conntrack", "python3")) { output.WriteLine(why); return; }
        var prefix = $"hx-ctz-{Environment.ProcessId}-{Interlocked.Increment(ref counter)}";
        var dir = Directory.CreateTempSubdirectory("hx-ctz-");
        try
        {
            static string Frame(string iface, byte[] p) =>
                (iface == "f0" ? "c 02000000ff00" + "02000000cc01" : "s 02000000ff01" + "020000005501") + "0800" + Convert.ToHexString(p);
            File.WriteAllLines(Path.Combine(dir.FullName, "frames"), Traffic().Select(t => Frame(t.Interface, t.Ip)));
            File.WriteAllText(Path.Combine(dir.FullName, "rules"), Rules());
            var text = KernelShell.Script(KernelScript, prefix, dir.FullName);
            output.WriteLine(text);
            var lines = text.Split('\n');
            var model = ModelRun();
            var forward = lines.Where(l => l.StartsWith("FWD ", StringComparison.Ordinal)).Select(l => ulong.Parse(l[4..], CultureInfo.InvariantCulture)).ToList();
            Assert.Equal(model.Forward, forward);
            var arrived = lines.Where(l => l.StartsWith("ARR ", StringComparison.Ordinal)).Select(l => l[4..]).Order(StringComparer.Ordinal).ToList();
            Assert.Equal(model.Arrived, arrived);
            var kernelCt = lines.Where(l => l.StartsWith("tcp ", StringComparison.Ordinal)).Select(MaskTimeout).Order(StringComparer.Ordinal).ToList();
            Assert.Equal(model.Conntrack, kernelCt);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>
    /// Client side c, firewall f, server side s: c0 ↔ f0, f1 ↔ s0, offloads off, static neighbours, no addresses on the
    /// peers (their stacks stay silent). Frames are sent by AF_PACKET from c0 or s0, one at a time; each peer prints
    /// "ARR DIRECTION PORT FLAGS TTL" for every TCP frame that reaches it; f prints its FORWARD counters and conntrack -L.
    /// </summary>
    private const string KernelScript = $$"""
        P=$1; D=$2
        {{KernelShell.SilentPeersForwarder}}
        ip netns exec $P-f iptables-restore < $D/rules
        sleep 0.3
        python3 - $P $D <<'PY'
        import socket, sys, time, os, ctypes
        P, D = sys.argv[1], sys.argv[2]
        libc = ctypes.CDLL(None, use_errno=True)
        def sock(ns, ifname):
            # a socket stays in the namespace it was made in: enter each peer's namespace in turn (setns, CLONE_NEWNET)
            fd = os.open("/run/netns/" + ns, os.O_RDONLY)
            if libc.setns(fd, 0x40000000) != 0:
                raise OSError(ctypes.get_errno(), "setns " + ns)
            os.close(fd)
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
            s.bind((ifname, 0))
            s.setblocking(False)
            return s
        c = sock(P + "-c", "c0")
        s = sock(P + "-s", "s0")
        def drain(sk):
            while True:
                try:
                    data, addr = sk.recvfrom(65535)
                except BlockingIOError:
                    return
                if addr[2] == socket.PACKET_OUTGOING or data[12:14] != b"\x08\x00":
                    continue
                ip = data[14:]
                if ip[9] != 6:
                    continue
                t = ip[(ip[0] & 15) * 4:]
                sport, dport, fl = int.from_bytes(t[0:2], "big"), int.from_bytes(t[2:4], "big"), t[13] & 0x3f
                name = {0x02: "S", 0x12: "SA", 0x10: "A"}.get(fl, "?")
                to_server = sk is s
                print("ARR", "S" if to_server else "C", dport if to_server else sport, name, ip[8], flush=True)
        for line in open(D + "/frames"):
            side, hexframe = line.split()
            (c if side == "c" else s).send(bytes.fromhex(hexframe))
            time.sleep(0.02)
            drain(c); drain(s)
        time.sleep(0.2)
        drain(c); drain(s)
        PY
        ip netns exec $P-f iptables -L FORWARD -v -n -x | tail -n +3 | awk '{print "FWD", $1}'
        ip netns exec $P-f conntrack -L 2>/dev/null
        """;
}
