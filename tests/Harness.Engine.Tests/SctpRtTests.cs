using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using Harness.Engine.Tests.Support;
using Harness.Net;
using Harness.Packets;
using Xunit.Abstractions;

namespace Harness.Engine.Tests;

/// <summary>
/// -m sctp --chunk-types with chunk flags and ip6tables -m rt: counting rules (no target) in raw PREROUTING against a
/// fixed set of packets, with the counts the model must give; the kernel checks send the same packets over a veth
/// between two throwaway namespaces (hx-sctprt-PID-N, always deleted) and compare the real rule counters.
/// </summary>
public sealed class SctpRtTests(ITestOutputHelper output)
{
    private static int counter;

    // ---- SCTP ----

    private const string SctpRules = """
        *raw
        :PREROUTING ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A PREROUTING -p sctp -m sctp --chunk-types any DATA:Be
        -A PREROUTING -p sctp -m sctp --chunk-types any DATA:B
        -A PREROUTING -p sctp -m sctp --chunk-types all DATA:BE,SACK
        -A PREROUTING -p sctp -m sctp --chunk-types only DATA:be
        -A PREROUTING -p sctp -m sctp ! --chunk-types any DATA:E
        -A PREROUTING -p sctp -m sctp --chunk-types any ABORT:T
        -A PREROUTING -p sctp -m sctp --chunk-types only DATA,SACK
        -A PREROUTING -p sctp -m sctp --chunk-types all DATA:B,DATA:E
        -A PREROUTING -p sctp -m sctp --chunk-types any DATA:b,INIT
        -A PREROUTING -p sctp -m sctp --chunk-types all DATA:E
        -A PREROUTING -p sctp -m sctp --dport 6000 --chunk-types any INIT
        -A PREROUTING -p sctp -m sctp ! --chunk-types only DATA
        COMMIT
        """;

    private const byte Data = 0, Init = 1, Sack = 3, Abort = 6;

    /// <summary>Each packet's chunks as (type, flags); DATA flags: E 0x01, B 0x02; ABORT's T 0x01.</summary>
    private static readonly (byte Type, byte Flags)[][] SctpChunkLists =
    [
        [(Data, 0x03)],
        [(Data, 0x02)],
        [(Data, 0x01)],
        [(Data, 0x00)],
        [(Sack, 0), (Data, 0x03)],
        [(Init, 0)],
        [(Abort, 0x01)],
        [(Abort, 0x00)],
        [(Data, 0x03), (Data, 0x00)],
        [(Data, 0x02), (Data, 0x01)],
    ];

    /// <summary>What each rule above counts over the ten packets (worked out by hand from xt_sctp's walk).</summary>
    private static readonly ulong[] SctpExpected = [2, 5, 1, 1, 5, 1, 7, 3, 5, 5, 1, 4];

    private static byte[] SctpPacket((byte Type, byte Flags)[] chunks, ushort id, string destination = "10.0.0.2")
    {
        var body = new List<byte>();
        foreach (var (type, flags) in chunks)
        {
            ushort length = type switch { Data => 20, Init => 20, Sack => 16, _ => 4 };
            body.AddRange([type, flags, (byte)(length >> 8), (byte)length]);
            body.AddRange(new byte[length - 4]);
        }
        return PacketBuilder.Build(new IpHeader
        {
            Family = Family.IPv4, Source = Address.Parse("10.0.0.1"), Destination = Address.Parse(destination),
            Protocol = IpProtocol.Sctp, Ttl = 64, Id = id, TotalLength = 0, HeaderLength = 0,
        }, new SctpHeader(5000, 6000, 0x01020304), body.ToArray());
    }

    private static List<byte[]> SctpPackets() => [.. SctpChunkLists.Select((c, i) => SctpPacket(c, (ushort)(i + 1)))];

    [Fact]
    public void Sctp_chunk_flag_tests_count_as_xt_sctp_does()
    {
        Assert.Equal(SctpExpected, ModelCounts(SctpRules, Family.IPv4, SctpPackets()));
    }

    [Fact]
    public void Sctp_chunk_flags_decide_the_verdict()
    {
        var engine = Engine.Create(TestRules.Load("""
            *filter
            :INPUT DROP [0:0]
            :FORWARD DROP [0:0]
            :OUTPUT ACCEPT [0:0]
            -A INPUT -p sctp -m sctp --dport 6000 --chunk-types any DATA:Be -j ACCEPT
            COMMIT
            """), null, TestHosts.Server(), EngineOptions.Default);
        Disposition Send(byte flags, ushort id)
        {
            var bytes = SctpPacket([(Data, flags)], id, "10.0.0.10");
            return engine.Process(PacketDecoder.Decode(bytes, id, Timestamp.FromSeconds(id), "eth0"))[0].Disposition;
        }
        Assert.Equal(Disposition.Delivered, Send(0x02, 1)); // B set, E clear
        Assert.Equal(Disposition.Dropped, Send(0x03, 2));   // E set
        Assert.Equal(Disposition.Dropped, Send(0x00, 3));   // B clear
    }

    [Fact]
    public void A_zero_length_chunk_reached_by_the_walk_drops_the_packet_at_that_rule()
    {
        // DATA (B) then a chunk of length 0: "any DATA:B" stops at the DATA chunk and matches; "only DATA" reaches the
        // bad chunk, and the kernel drops the packet there (hotdrop): that rule does not count it, no later rule sees
        // it, the policy does not count it. Checked in a namespace: counters 1 0 0 0, policy 0.
        var bytes = SctpPacket([(Data, 0x02), (Sack, 0)], 1);
        bytes[20 + 12 + 20 + 2] = 0;
        bytes[20 + 12 + 20 + 3] = 0;
        var rules = """
            *raw
            :PREROUTING ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A PREROUTING -p sctp -m sctp --chunk-types any DATA:B
            -A PREROUTING -p sctp -m sctp --chunk-types only DATA
            -A PREROUTING -p sctp -m sctp ! --chunk-types only DATA
            -A PREROUTING -p sctp
            COMMIT
            """;
        Assert.Equal([1UL, 0, 0, 0], ModelCounts(rules, Family.IPv4, [bytes]));
        var engine = Engine.Create(TestRules.Load(rules), null, TestHosts.Server(), EngineOptions.Default);
        var outcome = engine.Process(PacketDecoder.Decode(bytes, 1, Timestamp.FromSeconds(1), "eth0"))[0];
        Assert.Equal((FinalVerdict.Drop, Disposition.Dropped, Hook.Prerouting), (outcome.Verdict, outcome.Disposition, outcome.DroppedAt));
        Assert.Null(outcome.DecidingRule);
        Assert.StartsWith("sctp: malformed chunk", outcome.Reason);
        Assert.Equal(["PREROUTING:raw:PREROUTING", "PREROUTING:raw:PREROUTING:1"], outcome.Path.Select(p => p.ToString()));
        Assert.Equal(0UL, engine.Counters.Policy(Family.IPv4, "raw", "PREROUTING").Packets);
    }

    // ---- rt ----

    private const string RtRules = """
        *raw
        :PREROUTING ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A PREROUTING -s 2001:db8::1/128 -m rt --rt-type 0
        -A PREROUTING -s 2001:db8::1/128 -m rt ! --rt-type 0
        -A PREROUTING -s 2001:db8::1/128 -m rt --rt-segsleft 1:2
        -A PREROUTING -s 2001:db8::1/128 -m rt ! --rt-segsleft 1
        -A PREROUTING -s 2001:db8::1/128 -m rt --rt-len 40
        -A PREROUTING -s 2001:db8::1/128 -m rt ! --rt-len 40
        -A PREROUTING -s 2001:db8::1/128 -m rt --rt-type 0 --rt-0-res
        -A PREROUTING -s 2001:db8::1/128 -m rt --rt-type 0 --rt-0-addrs 2001:db8::a,2001:db8::b
        -A PREROUTING -s 2001:db8::1/128 -m rt --rt-type 0 --rt-0-addrs 2001:db8::a,2001:db8::b --rt-0-not-strict
        -A PREROUTING -s 2001:db8::1/128 -m rt --rt-type 0 --rt-0-addrs 2001:db8::a
        -A PREROUTING -s 2001:db8::1/128 -m rt --rt-type 0 --rt-0-addrs 2001:db8::a --rt-0-not-strict
        -A PREROUTING -s 2001:db8::1/128 -m rt --rt-type 2 --rt-segsleft 1
        -A PREROUTING -s 2001:db8::1/128 -m rt
        COMMIT
        """;

    private const string A = "2001:db8::a", B = "2001:db8::b", C = "2001:db8::c";

    private static readonly (byte Type, byte SegmentsLeft, uint Reserved, string[] Addresses, bool HopByHop)?[] RtHeaders =
    [
        (0, 2, 0, [A, B], false),
        (0, 1, 0, [A, C, B], false),
        (0, 0, 1, [A], false),
        (2, 1, 0, [A], false),
        (4, 3, 0x0100_0000, [A, B], false),
        null,
        (0, 5, 0, [B, A], true),
    ];

    private static readonly ulong[] RtExpected = [4, 2, 3, 4, 3, 3, 3, 1, 2, 1, 4, 1, 6];

    private static List<byte[]> RtPackets() => [.. RtHeaders.Select(h => h is { } r
        ? RoutedPacket(r.Type, r.SegmentsLeft, r.Reserved, r.Addresses, r.HopByHop)
        : RoutedPacket(0, 0, 0, [], false, withRouting: false))];

    /// <summary>IPv6 2001:db8::1 → 2001:db8::2: optional hop-by-hop (PadN), optional routing header, no next header.</summary>
    private static byte[] RoutedPacket(byte type, byte segmentsLeft, uint reserved, string[] addresses, bool hopByHop, bool withRouting = true)
    {
        int rh = withRouting ? 8 + 16 * addresses.Length : 0;
        int hbh = hopByHop ? 8 : 0;
        var b = new byte[40 + hbh + rh];
        BinaryPrimitives.WriteUInt32BigEndian(b, 6u << 28);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(4), (ushort)(hbh + rh));
        byte afterHbh = withRouting ? IpProtocol.Ipv6Route : IpProtocol.Ipv6NoNext;
        b[6] = hopByHop ? IpProtocol.HopByHop : afterHbh;
        b[7] = 64;
        Address.Parse("2001:db8::1").WriteBytes(b.AsSpan(8));
        Address.Parse("2001:db8::2").WriteBytes(b.AsSpan(24));
        if (hopByHop) { b[40] = afterHbh; b[42] = 1; b[43] = 4; }
        if (!withRouting) return b;
        var r = b.AsSpan(40 + hbh);
        r[0] = IpProtocol.Ipv6NoNext;
        r[1] = (byte)(2 * addresses.Length);
        r[2] = type;
        r[3] = segmentsLeft;
        BinaryPrimitives.WriteUInt32BigEndian(r[4..], reserved);
        for (int i = 0; i < addresses.Length; i++) Address.Parse(addresses[i]).WriteBytes(r[(8 + 16 * i)..]);
        return b;
    }

    [Fact]
    public void Rt_options_count_as_ip6t_rt_does()
    {
        Assert.Equal(RtExpected, ModelCounts(RtRules, Family.IPv6, RtPackets()));
    }

    [Fact]
    public void Rt_decides_the_verdict_and_ignores_packets_without_a_routing_header()
    {
        var rules = TestRules.Load("""
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A FORWARD -m rt --rt-type 0 ! --rt-segsleft 0 -j DROP
            -A FORWARD -m rt ! --rt-type 0 -j DROP
            COMMIT
            """, Family.IPv6);
        var engine = Engine.Create(null, rules, TestHosts.Router(), EngineOptions.Default);
        Outcome Send(byte[] bytes, int n)
        {
            // From the WAN to a LAN address, so the packet is forwarded.
            Address.Parse("2001:db8:1::7").WriteBytes(bytes.AsSpan(8));
            Address.Parse("2001:db8:2::7").WriteBytes(bytes.AsSpan(24));
            return engine.Process(PacketDecoder.Decode(bytes, n, Timestamp.FromSeconds(n), "eth0"))[0];
        }
        var rh0 = Send(RoutedPacket(0, 2, 0, [A, B], false), 1);
        Assert.Equal((Disposition.Dropped, "filter:FORWARD:1"), (rh0.Disposition, rh0.DecidingRule));
        Assert.Equal(Disposition.Forwarded, Send(RoutedPacket(0, 0, 0, [A], false), 2).Disposition);
        var rh2 = Send(RoutedPacket(2, 1, 0, [A], false), 3);
        Assert.Equal((Disposition.Dropped, "filter:FORWARD:2"), (rh2.Disposition, rh2.DecidingRule));
        Assert.Equal(Disposition.Forwarded, Send(RoutedPacket(0, 0, 0, [], false, withRouting: false), 4).Disposition);
    }

    [Fact]
    public void Rt_in_an_ipv4_ruleset_is_refused()
    {
        var ruleset = Harness.Rules.Loading.RulesetLoader.Load(
            [new Harness.Rules.Loading.RulesetInput("v4.rules", "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -m rt --rt-type 0\nCOMMIT\n")],
            Family.IPv4);
        if (!ruleset.Success)
        {
            // The loader already refuses it: the diagnostic names the extension.
            Assert.Contains(ruleset.Diagnostics, d => d.ToString()!.Contains("rt", StringComparison.Ordinal));
            return;
        }
        var e = Assert.Throws<EngineSetupException>(() => Engine.Create(ruleset.Ruleset, null, TestHosts.Router(), EngineOptions.Default));
        Assert.Contains("IPv6", e.Message);
    }

    // ---- the model and the kernel on the same packets ----

    private static ulong[] ModelCounts(string rules, Family family, List<byte[]> packets)
    {
        var ruleset = TestRules.Load(rules, family);
        var engine = family == Family.IPv4
            ? Engine.Create(ruleset, null, TestHosts.Router(), EngineOptions.Default)
            : Engine.Create(null, ruleset, TestHosts.Router(), EngineOptions.Default);
        for (int i = 0; i < packets.Count; i++)
            engine.Process(PacketDecoder.Decode(packets[i], i + 1, Timestamp.FromSeconds(i + 1), "eth0"));
        int n = ruleset.Tables.Single(t => t.Name == "raw").Chains.Single(c => c.Name == "PREROUTING").Rules.Length;
        return [.. Enumerable.Range(1, n).Select(r => engine.Counters.Get(family, "raw", "PREROUTING", r).Packets)];
    }

    [Fact]
    public void Kernel_sctp_chunk_flag_counters_equal_the_model()
    {
        if (!KernelShell.Available(out var why, "ip", "iptables", "iptables-restore", "python3")) { output.WriteLine(why); return; }
        var kernel = KernelCounts(SctpRules, "iptables", 0x0800, SctpPackets());
        Assert.Equal(SctpExpected, kernel);
    }

    [Fact]
    public void Kernel_rt_counters_equal_the_model()
    {
        if (!KernelShell.Available(out var why, "ip", "ip6tables", "ip6tables-restore", "python3")) { output.WriteLine(why); return; }
        var kernel = KernelCounts(RtRules, "ip6tables", 0x86DD, RtPackets());
        Assert.Equal(RtExpected, kernel);
    }

    /// <summary>
    /// Two namespaces joined by a veth: the packets leave a0 as Ethernet frames to b0's MAC (AF_PACKET), the rules are
    /// loaded in the other namespace, whose raw PREROUTING counters are read back (one number per rule).
    /// </summary>
    private ulong[] KernelCounts(string rules, string tool, ushort etherType, List<byte[]> packets)
    {
        var prefix = $"hx-sctprt-{Environment.ProcessId}-{Interlocked.Increment(ref counter)}";
        var dir = Directory.CreateTempSubdirectory("hx-sctprt-");
        try
        {
            var frames = packets.Select(p =>
                "02000000bb01" + "02000000aa01" + etherType.ToString("x4", CultureInfo.InvariantCulture) + Convert.ToHexString(p));
            File.WriteAllLines(Path.Combine(dir.FullName, "frames"), frames);
            File.WriteAllText(Path.Combine(dir.FullName, "rules"), rules + "\n");
            var text = KernelShell.Script(Script, prefix, dir.FullName, tool);
            output.WriteLine(text);
            var counts = text.Split('\n').Where(l => l.StartsWith("COUNT ", StringComparison.Ordinal))
                .Select(l => ulong.Parse(l[6..].Trim(), CultureInfo.InvariantCulture)).ToArray();
            Assert.True(counts.Length > 0, "no counters read from the kernel:\n" + text);
            return counts;
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private const string Script = """
        P=$1; D=$2; T=$3
        trap 'ip netns del $P-a 2>/dev/null; ip netns del $P-b 2>/dev/null; true' EXIT
        set -e
        ip netns add $P-a; ip netns add $P-b
        ip link add a0 netns $P-a address 02:00:00:00:aa:01 type veth peer name b0 netns $P-b address 02:00:00:00:bb:01
        ip netns exec $P-a sh -c 'sysctl -qw net.ipv6.conf.all.disable_ipv6=1; ip link set a0 up'
        ip netns exec $P-b sh -c 'ip link set lo up; ip link set b0 up; ip addr add 10.0.0.2/24 dev b0; ip -6 addr add 2001:db8::2/64 dev b0 nodad'
        ip netns exec $P-b $T-restore < $D/rules
        sleep 0.2
        ip netns exec $P-a python3 -c '
        import socket, sys
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind(("a0", 0))
        for line in open(sys.argv[1]):
            if line.strip(): s.send(bytes.fromhex(line.strip()))
        ' $D/frames
        sleep 0.5
        ip netns exec $P-b $T -t raw -L PREROUTING -v -n -x | tail -n +3 | awk '{print "COUNT", $1}'
        ip netns exec $P-b $T -t raw -L PREROUTING -v -n -x
        """;
}
