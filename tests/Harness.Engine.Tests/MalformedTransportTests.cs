using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Globalization;
using Harness.Engine.Tests.Support;
using Harness.Hosts;
using Harness.Net;
using Harness.Packets;
using Harness.Rules;
using Xunit.Abstractions;

namespace Harness.Engine.Tests;

/// <summary>
/// Packets whose IP header is sound but whose transport header is short or inconsistent (TCP under 20 bytes, TCP data
/// offset below 20 or past the segment, UDP/ICMP/ICMPv6/SCTP under their fixed header): the IP layer passes them to
/// netfilter, conntrack calls them INVALID, -p matches on the protocol number, iptables-nft's payload reads (tcp/udp
/// ports and flags) read what is there, xt matches that need the header (icmp, sctp, multiport, --tcp-option) drop
/// the packet. The kernel check sends the same packets through a forwarding namespace (hx-malformed-PID-N, always
/// deleted) with three rulesets and compares the FORWARD counters and what arrives on the other side.
/// </summary>
public sealed class MalformedTransportTests(ITestOutputHelper output)
{
    private static int counter;
    private static readonly Address Client4 = Address.Parse("10.1.0.2"), Server4 = Address.Parse("10.2.0.2");
    private static readonly Address Client6 = Address.Parse("2001:db8:1::2"), Server6 = Address.Parse("2001:db8:2::2");

    // ---- building packets ----

    /// <summary>An IP packet (IPv4 with a valid header checksum, or IPv6) carrying <paramref name="payload"/> as protocol <paramref name="protocol"/>.</summary>
    private static byte[] Ip(Family family, byte protocol, byte[] payload, ushort id)
    {
        if (family == Family.IPv4)
        {
            var p = new byte[20 + payload.Length];
            p[0] = 0x45;
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(2), (ushort)p.Length);
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(4), id);
            p[8] = 64;
            p[9] = protocol;
            Client4.WriteBytes(p.AsSpan(12));
            Server4.WriteBytes(p.AsSpan(16));
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(10), InternetChecksum.Compute(p.AsSpan(0, 20)));
            payload.CopyTo(p, 20);
            return p;
        }
        var q = new byte[40 + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(q, 0x60000000u | id);
        BinaryPrimitives.WriteUInt16BigEndian(q.AsSpan(4), (ushort)payload.Length);
        q[6] = protocol;
        q[7] = 64;
        Client6.WriteBytes(q.AsSpan(8));
        Server6.WriteBytes(q.AsSpan(24));
        payload.CopyTo(q, 40);
        return q;
    }

    /// <summary>A 20-byte TCP header (SYN to port 80, data offset <paramref name="dataOffset"/> words), cut to <paramref name="keep"/> bytes.</summary>
    private static byte[] Tcp(ushort sourcePort, int dataOffset = 5, int keep = 20)
    {
        var t = new byte[20];
        BinaryPrimitives.WriteUInt16BigEndian(t, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(t.AsSpan(2), 80);
        BinaryPrimitives.WriteUInt32BigEndian(t.AsSpan(4), 1000);
        t[12] = (byte)(dataOffset << 4);
        t[13] = 0x02;
        BinaryPrimitives.WriteUInt16BigEndian(t.AsSpan(14), 64240);
        return t[..keep];
    }

    private static byte[] Ports(ushort source, ushort destination, int keep)
    {
        var u = new byte[4];
        BinaryPrimitives.WriteUInt16BigEndian(u, source);
        BinaryPrimitives.WriteUInt16BigEndian(u.AsSpan(2), destination);
        return u[..keep];
    }

    /// <summary>A well-formed TCP SYN to port 80 (checksum right), the control packet.</summary>
    private static byte[] GoodSyn(Family family, ushort id)
    {
        var tcp = Tcp(1237);
        var (src, dst) = family == Family.IPv4 ? (Client4, Server4) : (Client6, Server6);
        BinaryPrimitives.WriteUInt16BigEndian(tcp.AsSpan(16), InternetChecksum.Transport(src, dst, IpProtocol.Tcp, tcp));
        return Ip(family, IpProtocol.Tcp, tcp, id);
    }

    /// <summary>
    /// The test packets of one family, named: TCP of 8 and 3 bytes, TCP with data offset 4 (16 bytes) and 15 (60 bytes
    /// in a 20-byte segment), UDP of 4 and 2 bytes, an echo request of 4 bytes, then a good SYN.
    /// </summary>
    private static List<(string Name, byte[] Bytes)> Traffic(Family family)
    {
        ushort id = family == Family.IPv4 ? (ushort)100 : (ushort)200;
        byte icmp = family == Family.IPv4 ? IpProtocol.Icmp : IpProtocol.Icmpv6;
        byte echo = family == Family.IPv4 ? (byte)8 : (byte)128;
        return
        [
            ("tcp8", Ip(family, IpProtocol.Tcp, Tcp(1234, keep: 8), id++)),
            ("tcp3", Ip(family, IpProtocol.Tcp, Tcp(1234, keep: 3), id++)),
            ("tcp-doff4", Ip(family, IpProtocol.Tcp, Tcp(1235, dataOffset: 4), id++)),
            ("tcp-doff15", Ip(family, IpProtocol.Tcp, Tcp(1236, dataOffset: 15), id++)),
            ("udp4", Ip(family, IpProtocol.Udp, Ports(5353, 53, 4), id++)),
            ("udp2", Ip(family, IpProtocol.Udp, Ports(5353, 53, 2), id++)),
            ("icmp4", Ip(family, icmp, [echo, 0, 0, 0], id++)),
            ("syn", GoodSyn(family, id)),
        ];
    }

    private static Packet Decode(byte[] bytes, long number = 1, string? iface = "f0") =>
        PacketDecoder.Decode(bytes, number, Timestamp.FromSeconds(1 + number / 100.0), iface);

    private static Host Firewall() => new(
        [
            new HostInterface("lo", 1, new MacAddress(0), [new InterfaceAddress(Address.Parse("127.0.0.1"), 8), new InterfaceAddress(Address.Parse("::1"), 128)], IsLoopback: true, Mtu: 65536),
            new HostInterface("f0", 2, MacAddress.Parse("02:00:00:00:ff:00"), [new InterfaceAddress(Address.Parse("10.1.0.1"), 24), new InterfaceAddress(Address.Parse("2001:db8:1::1"), 64)]),
            new HostInterface("f1", 3, MacAddress.Parse("02:00:00:00:ff:01"), [new InterfaceAddress(Address.Parse("10.2.0.1"), 24), new InterfaceAddress(Address.Parse("2001:db8:2::1"), 64)]),
        ],
        ImmutableArray<Route>.Empty,
        ImmutableArray<RoutingRule>.Empty,
        Sysctls.Defaults.With("net.ipv4.ip_forward", "1").With("net.ipv6.conf.all.forwarding", "1"));

    private static Engine Create(string rules, Family family, IptablesBackend? backend = null)
    {
        var ruleset = TestRules.Load(rules, family);
        var options = new EngineOptions(Backend: backend);
        return family == Family.IPv4
            ? Engine.Create(ruleset, null, Firewall(), options)
            : Engine.Create(null, ruleset, Firewall(), options);
    }

    // ---- the decoder's classification ----

    [Fact]
    public void Short_transport_headers_are_transport_errors_and_ip_layer_faults_stay_decode_errors()
    {
        var tcp8 = Decode(Traffic(Family.IPv4)[0].Bytes);
        Assert.Equal((null, null, "TCP header truncated: 8 bytes, at least 20 needed"), (tcp8.DecodeError, tcp8.Transport, tcp8.TransportError));
        Assert.Equal(8, tcp8.TransportBytes().Length);

        var doff4 = Decode(Traffic(Family.IPv6)[2].Bytes);
        Assert.Null(doff4.DecodeError);
        Assert.Equal("TCP data offset 16 is less than 20", doff4.TransportError);
        Assert.Equal((ushort)80, Assert.IsType<TcpHeader>(doff4.Transport).DestinationPort);

        var icmp = Decode(Traffic(Family.IPv6)[6].Bytes);
        Assert.Equal("ICMPv6 header truncated: 4 bytes, at least 8 needed", icmp.TransportError);

        // IP-layer faults: still dropped before netfilter with the decoder's reason.
        var badIp = Traffic(Family.IPv4)[0].Bytes;
        BinaryPrimitives.WriteUInt16BigEndian(badIp.AsSpan(2), 200);
        var o = Create(AcceptAll, Family.IPv4).Process(Decode(badIp))[0];
        Assert.Equal((FinalVerdict.Drop, Disposition.Dropped, "IPv4 total length 200 exceeds the 28 bytes of the frame"), (o.Verdict, o.Disposition, o.Reason));
        Assert.Empty(o.Path);

        // A header the capture's snapshot length cut is unknown, not short: it stays a decode error.
        var good = GoodSyn(Family.IPv4, 1);
        var cut = PacketDecoder.Decode(good.AsSpan(0, 28), 1, default, wireLength: good.Length);
        Assert.Equal((null, "TCP header cut short by the capture's snapshot length (8 of 20 bytes captured)"), (cut.TransportError, cut.DecodeError));
    }

    // ---- the engine ----

    private const string AcceptAll = """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A FORWARD -m conntrack --ctstate INVALID
        -A FORWARD -p tcp
        -A FORWARD -j ACCEPT
        COMMIT
        """;

    [Theory]
    [InlineData(Family.IPv4)]
    [InlineData(Family.IPv6)]
    public void Accept_all_forwards_every_malformed_packet_as_invalid_without_an_entry(Family family)
    {
        var engine = Create(AcceptAll, family);
        var traffic = Traffic(family);
        var outcomes = traffic.Select((t, i) => engine.Process(Decode(t.Bytes, i + 1))[0]).ToList();
        foreach (var (o, (name, _)) in outcomes.Zip(traffic))
        {
            Assert.Equal((name, FinalVerdict.Accept, Disposition.Forwarded, "filter:FORWARD:3"), (name, o.Verdict, o.Disposition, o.DecidingRule));
            Assert.Equal((name, name == "syn" ? "NEW" : "INVALID"), (name, o.Conntrack?.StateSeen));
        }
        Assert.Equal(7UL, engine.Counters.Get(family, "filter", "FORWARD", 1).Packets);
        Assert.Equal(5UL, engine.Counters.Get(family, "filter", "FORWARD", 2).Packets); // -p tcp: the protocol number alone
        Assert.Single(engine.Conntrack.Entries); // only the good SYN's
    }

    [Fact]
    public void Conntrack_gives_the_kernels_reason_per_protocol()
    {
        var table = new Harness.Engine.Conntrack.ConntrackTable(Harness.Engine.Conntrack.ConntrackSettings.Default);
        string? Why(string name, Family family) =>
            table.Process(Decode(Traffic(family).Single(t => t.Name == name).Bytes), Hook.Prerouting).InvalidReason;
        Assert.StartsWith("tcp: no complete TCP header", Why("tcp8", Family.IPv4));
        Assert.StartsWith("no tuple", Why("tcp3", Family.IPv4));
        Assert.StartsWith("tcp: truncated packet (TCP data offset 60 exceeds the 20-byte segment)", Why("tcp-doff15", Family.IPv4));
        Assert.StartsWith("udp: short packet", Why("udp4", Family.IPv6));
        Assert.StartsWith("icmpv6: short packet", Why("icmp4", Family.IPv6));
        Assert.Empty(table.Entries);
    }

    private const string PortFirst4 = """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD DROP [0:0]
        :OUTPUT ACCEPT [0:0]
        -A FORWARD -p tcp -m tcp --dport 80 -j ACCEPT
        -A FORWARD -p icmp -m icmp --icmp-type 8 -j ACCEPT
        -A FORWARD -p udp -m multiport --dports 53 -j ACCEPT
        -A FORWARD -p tcp -m tcp --tcp-flags SYN SYN -j ACCEPT
        -A FORWARD -j ACCEPT
        COMMIT
        """;

    private static string PortFirst(Family family) => family == Family.IPv4
        ? PortFirst4
        : PortFirst4.Replace("-p icmp -m icmp --icmp-type 8", "-p ipv6-icmp -m icmp6 --icmpv6-type 128", StringComparison.Ordinal);

    [Theory]
    [InlineData(Family.IPv4)]
    [InlineData(Family.IPv6)]
    public void Port_rules_read_what_is_there_and_xt_matches_drop_what_they_cannot_read(Family family)
    {
        var engine = Create(PortFirst(family), family);
        var o = Traffic(family).Select((t, i) => engine.Process(Decode(t.Bytes, i + 1))[0]).ToList();
        // tcp8: the destination port is in its 8 bytes: rule 1 accepts it.
        Assert.Equal((FinalVerdict.Accept, "filter:FORWARD:1"), (o[0].Verdict, o[0].DecidingRule));
        // tcp3: no destination port, no flags: rules 1 and 4 do not match, the last rule accepts.
        Assert.Equal((FinalVerdict.Accept, "filter:FORWARD:5"), (o[1].Verdict, o[1].DecidingRule));
        // Data offset 4 or 15: the fixed header is whole, rule 1 reads it.
        Assert.Equal(("filter:FORWARD:1", "filter:FORWARD:1"), (o[2].DecidingRule, o[3].DecidingRule));
        // udp4: multiport reads its 4 port bytes; udp2: multiport cannot, and drops it (hotdrop).
        Assert.Equal((FinalVerdict.Accept, "filter:FORWARD:3"), (o[4].Verdict, o[4].DecidingRule));
        Assert.Equal((FinalVerdict.Drop, Disposition.Dropped, "multiport: UDP header truncated: 2 bytes, at least 8 needed: the match drops the packet"),
            (o[5].Verdict, o[5].Disposition, o[5].Reason));
        Assert.Equal(Hook.Forward, o[5].DroppedAt);
        // The short echo request: the icmp match drops it.
        Assert.Equal((FinalVerdict.Drop, (family == Family.IPv4 ? "icmp: ICMP" : "icmp6: ICMPv6") + " header truncated: 4 bytes, at least 8 needed: the match drops the packet"),
            (o[6].Verdict, o[6].Reason));
        Assert.Equal((FinalVerdict.Accept, "filter:FORWARD:1"), (o[7].Verdict, o[7].DecidingRule));
        // The dropping rules do not count the packets they drop.
        Assert.Equal([4UL, 0UL, 1UL, 0UL, 1UL], Enumerable.Range(1, 5).Select(r => engine.Counters.Get(family, "filter", "FORWARD", r).Packets));
    }

    [Fact]
    public void Tcp_option_match_stays_xt_tcp_and_drops_a_header_it_cannot_walk()
    {
        var engine = Create("""
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A FORWARD -p tcp -m tcp --tcp-option 2 -j DROP
            COMMIT
            """, Family.IPv4);
        var o = Traffic(Family.IPv4).Take(4).Select((t, i) => engine.Process(Decode(t.Bytes, i + 1))[0]).ToList();
        Assert.All(o, x => Assert.Equal((FinalVerdict.Drop, (string?)null), (x.Verdict, x.DecidingRule)));
        Assert.Equal("tcp: TCP header truncated: 8 bytes, at least 20 needed: the match drops the packet", o[0].Reason);
        Assert.Equal("tcp --tcp-option: TCP data offset 16 is less than 20: the match drops the packet", o[2].Reason);
        Assert.Equal("tcp --tcp-option: TCP data offset 60 exceeds the 20-byte segment: the match drops the packet", o[3].Reason);
    }

    private const string InvalidFirst = """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A FORWARD -m conntrack --ctstate INVALID -j DROP
        -A FORWARD -j ACCEPT
        COMMIT
        """;

    [Fact]
    public void An_invalid_drop_rule_takes_every_malformed_packet()
    {
        var engine = Create(InvalidFirst, Family.IPv4);
        var o = Traffic(Family.IPv4).Select((t, i) => engine.Process(Decode(t.Bytes, i + 1))[0]).ToList();
        Assert.All(o.Take(7), x => Assert.Equal((FinalVerdict.Drop, "filter:FORWARD:1"), (x.Verdict, x.DecidingRule)));
        Assert.Equal((FinalVerdict.Accept, Disposition.Forwarded), (o[7].Verdict, o[7].Disposition));
    }

    [Fact]
    public void Log_prints_incomplete_headers_as_nf_log_syslog_does()
    {
        var engine = Create("""
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A FORWARD -j MARK --set-mark 5
            -A FORWARD -j LOG --log-prefix "m " --log-tcp-options
            COMMIT
            """, Family.IPv4);
        var t = Traffic(Family.IPv4);
        string Line(int i) => Assert.Single(engine.Process(Decode(t[i].Bytes, i + 1))[0].Log);
        Assert.EndsWith("PROTO=TCP INCOMPLETE [8 bytes] ", Line(0)); // the line ends there: no MARK=
        Assert.EndsWith("PROTO=UDP INCOMPLETE [2 bytes] ", Line(5));
        Assert.EndsWith("PROTO=ICMP INCOMPLETE [4 bytes] MARK=0x5 ", Line(6)); // the ICMP dump goes on
        Assert.EndsWith("URGP=0 OPT (TRUNCATED)", Line(3));
        Assert.Contains("PROTO=TCP SPT=1235 DPT=80 ", Line(2));
    }

    [Fact]
    public void Nat_and_tcpmss_leave_or_drop_a_malformed_segment_as_the_kernel_does()
    {
        var engine = Engine.Create(TestRules.Load("""
            *nat
            :PREROUTING ACCEPT [0:0]
            :INPUT ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            :POSTROUTING ACCEPT [0:0]
            -A PREROUTING -p tcp -j DNAT --to-destination 10.2.0.9
            COMMIT
            *mangle
            :PREROUTING ACCEPT [0:0]
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            :POSTROUTING ACCEPT [0:0]
            -A FORWARD -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1200
            COMMIT
            """, Family.IPv4), null, Firewall(), EngineOptions.Default);
        var t = Traffic(Family.IPv4);
        // No conntrack entry, so no NAT: the 3-byte segment keeps its destination (and has no flags for TCPMSS's rule).
        var tcp3 = engine.Process(Decode(t[1].Bytes, 1))[0];
        Assert.Equal((Disposition.Forwarded, Server4), (tcp3.Disposition, tcp3.Packet.Ip!.Destination));
        // A whole fixed header with a bad data offset: the flags match, TCPMSS refuses the segment.
        var doff = engine.Process(Decode(t[2].Bytes, 2))[0];
        Assert.Equal((FinalVerdict.Drop, "mangle:FORWARD:1"), (doff.Verdict, doff.DecidingRule));
        var syn = engine.Process(Decode(t[7].Bytes, 3))[0];
        Assert.Equal((Disposition.Forwarded, Address.Parse("10.2.0.9")), (syn.Disposition, syn.Packet.Ip!.Destination));
    }

    [Theory]
    [InlineData(Family.IPv4)]
    [InlineData(Family.IPv6)]
    public void With_iptables_legacy_a_tcp_or_udp_port_rule_drops_a_header_it_cannot_read(Family family)
    {
        var engine = Create(PortFirst(family), family, IptablesBackend.Legacy);
        var o = Traffic(family).Select((t, i) => engine.Process(Decode(t.Bytes, i + 1))[0]).ToList();
        // tcp8 and tcp3: xt_tcp cannot read 20 bytes: rule 1 drops both on the spot (and does not count them).
        Assert.Equal((FinalVerdict.Drop, Hook.Forward), (o[0].Verdict, o[0].DroppedAt));
        Assert.Equal("tcp: TCP header truncated: 8 bytes, at least 20 needed: the match drops the packet", o[0].Reason);
        Assert.Equal(FinalVerdict.Drop, o[1].Verdict);
        // Data offset 4 or 15: the fixed header is whole: xt_tcp reads its ports as nft does.
        Assert.Equal(("filter:FORWARD:1", "filter:FORWARD:1"), (o[2].DecidingRule, o[3].DecidingRule));
        // udp4 and udp2: multiport reads the 4 port bytes as with nft (accepts udp4, drops udp2).
        Assert.Equal(("filter:FORWARD:3", FinalVerdict.Drop), (o[4].DecidingRule, o[5].Verdict));
        Assert.Equal([3UL, 0UL, 1UL, 0UL, 0UL], Enumerable.Range(1, 5).Select(r => engine.Counters.Get(family, "filter", "FORWARD", r).Packets));
        // A udp port rule cannot read 8 bytes of udp4: it drops it.
        var udpFirst = Create(PortFirst(family).Replace("-m multiport --dports 53", "-m udp --dport 53", StringComparison.Ordinal), family, IptablesBackend.Legacy);
        Assert.Equal("udp: UDP header truncated: 4 bytes, at least 8 needed: the match drops the packet",
            udpFirst.Process(Decode(Traffic(family)[4].Bytes, 5))[0].Reason);
    }

    [Fact]
    public void The_dumps_generated_by_line_says_which_iptables_loaded_it()
    {
        static Engine Load(string header) => Engine.Create(TestRules.Load(header + "\n" + PortFirst4, Family.IPv4), null, Firewall(), EngineOptions.Default);
        var tcp8 = Decode(Traffic(Family.IPv4)[0].Bytes);
        Assert.Equal(FinalVerdict.Drop, Load("# Generated by iptables-save v1.8.9 (legacy) on Sun Nov 22 10:00:00 2026").Process(tcp8)[0].Verdict);
        Assert.Equal(FinalVerdict.Drop, Load("# Generated by iptables-save v1.4.21 on Wed Oct  7 09:40:21 2015").Process(tcp8)[0].Verdict);
        Assert.Equal(FinalVerdict.Accept, Load("# Generated by iptables-save v1.8.9 (nf_tables) on Sun Nov 22 10:00:00 2026").Process(tcp8)[0].Verdict);
        Assert.Equal(FinalVerdict.Accept, Load("# a comment").Process(tcp8)[0].Verdict);
    }

    // ---- the kernel on the same packets ----

    private static readonly string[] KernelRulesets =
    [
        AcceptAll,
        PortFirst4,
        InvalidFirst,
    ];

    /// <summary>The model's FORWARD counters (packets) and how many packets it forwards, per family.</summary>
    private static (List<ulong> Forward, int Out) ModelRun(string rules, Family family, IptablesBackend backend = IptablesBackend.Nft)
    {
        if (family == Family.IPv6) rules = rules.Replace("-p icmp -m icmp --icmp-type 8", "-p ipv6-icmp -m icmp6 --icmpv6-type 128", StringComparison.Ordinal);
        var engine = Create(rules, family, backend);
        var traffic = Traffic(family);
        int forwarded = traffic.Select((t, i) => engine.Process(Decode(t.Bytes, i + 1))[0]).Count(o => o.Disposition == Disposition.Forwarded);
        int n = TestRules.Load(rules, family).Tables.Single(t => t.Name == "filter").Chains.Single(c => c.Name == "FORWARD").Rules.Length;
        return ([.. Enumerable.Range(1, n).Select(r => engine.Counters.Get(family, "filter", "FORWARD", r).Packets)], forwarded);
    }

    [Theory]
    [InlineData(IptablesBackend.Nft)]
    [InlineData(IptablesBackend.Legacy)]
    public void Kernel_forwards_counts_and_drops_the_malformed_packets_as_the_model_does(IptablesBackend backend)
    {
        var suffix = backend == IptablesBackend.Legacy ? "-legacy" : "";
        if (!KernelShell.Available(out var why, "ip", $"iptables{suffix}-restore", $"ip6tables{suffix}-restore", "python3")) { output.WriteLine(why); return; }
        for (int r = 0; r < KernelRulesets.Length; r++)
        {
            var prefix = $"hx-malformed-{Environment.ProcessId}-{Interlocked.Increment(ref counter)}";
            var dir = Directory.CreateTempSubdirectory("hx-malformed-");
            try
            {
                string Frame(byte[] p, ushort type) => "02000000ff00" + "02000000cc01" + type.ToString("x4", CultureInfo.InvariantCulture) + Convert.ToHexString(p);
                File.WriteAllLines(Path.Combine(dir.FullName, "frames"),
                    [.. Traffic(Family.IPv4).Select(t => Frame(t.Bytes, 0x0800)), .. Traffic(Family.IPv6).Select(t => Frame(t.Bytes, 0x86DD))]);
                File.WriteAllText(Path.Combine(dir.FullName, "rules4"), KernelRulesets[r] + "\n");
                File.WriteAllText(Path.Combine(dir.FullName, "rules6"),
                    KernelRulesets[r].Replace("-p icmp -m icmp --icmp-type 8", "-p ipv6-icmp -m icmp6 --icmpv6-type 128", StringComparison.Ordinal) + "\n");
                var text = KernelShell.Script(KernelScript, prefix, dir.FullName, suffix);
                output.WriteLine($"ruleset {r + 1}:\n{text}");
                List<ulong> Counts(string tag) => [.. text.Split('\n').Where(l => l.StartsWith(tag + " ", StringComparison.Ordinal))
                    .Select(l => ulong.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture))];
                var (f4, out4) = ModelRun(KernelRulesets[r], Family.IPv4, backend);
                var (f6, out6) = ModelRun(KernelRulesets[r], Family.IPv6, backend);
                Assert.Equal(f4, Counts("F4"));
                Assert.Equal(f6, Counts("F6"));
                Assert.Equal([(ulong)out4], Counts("S4"));
                Assert.Equal([(ulong)out6], Counts("S6"));
            }
            finally
            {
                dir.Delete(recursive: true);
            }
        }
    }

    /// <summary>
    /// Client c, firewall f, server s: c0 ↔ f0 (10.1.0.0/24, 2001:db8:1::/64), f1 ↔ s0 (10.2.0.0/24, 2001:db8:2::/64),
    /// static neighbours. The frames leave c by AF_PACKET, one every 20 ms; f forwards with the rules under test; s counts
    /// in raw PREROUTING what arrives from the client (its IP layer passes short transport headers on).
    /// </summary>
    private static readonly string KernelScript = $$"""
        P=$1; D=$2; B=$3
        {{KernelShell.ThreeNamespaces}}
        ip netns exec $P-f sh -c '
          sysctl -qw net.ipv4.ip_forward=1; sysctl -qw net.ipv6.conf.all.forwarding=1
          ip link set lo up; ip link set f0 up; ip link set f1 up
          ip addr add 10.1.0.1/24 dev f0; ip addr add 10.2.0.1/24 dev f1
          ip -6 addr add 2001:db8:1::1/64 dev f0 nodad; ip -6 addr add 2001:db8:2::1/64 dev f1 nodad
          ip neigh replace 10.2.0.2 lladdr 02:00:00:00:55:01 dev f1 nud permanent
          ip -6 neigh replace 2001:db8:2::2 lladdr 02:00:00:00:55:01 dev f1 nud permanent'
        ip netns exec $P-s sh -c 'ip link set s0 up; ip addr add 10.2.0.2/24 dev s0; ip -6 addr add 2001:db8:2::2/64 dev s0 nodad'
        ip netns exec $P-f iptables$B-restore < $D/rules4
        ip netns exec $P-f ip6tables$B-restore < $D/rules6
        printf '*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A PREROUTING -s 10.1.0.2\nCOMMIT\n' | ip netns exec $P-s iptables-restore
        printf '*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A PREROUTING -s 2001:db8:1::2\nCOMMIT\n' | ip netns exec $P-s ip6tables-restore
        sleep 0.3
        {{KernelShell.SendFrames("0.02")}}
        sleep 0.3
        ip netns exec $P-f iptables$B -L FORWARD -v -n -x | tail -n +3 | awk '{print "F4", $1}'
        ip netns exec $P-f ip6tables$B -L FORWARD -v -n -x | tail -n +3 | awk '{print "F6", $1}'
        ip netns exec $P-s iptables -t raw -L PREROUTING -v -n -x | tail -n +3 | awk '{print "S4", $1}'
        ip netns exec $P-s ip6tables -t raw -L PREROUTING -v -n -x | tail -n +3 | awk '{print "S6", $1}'
        ip netns exec $P-f iptables$B -L FORWARD -v -n -x
        ip netns exec $P-f ip6tables$B -L FORWARD -v -n -x
        """;
}
