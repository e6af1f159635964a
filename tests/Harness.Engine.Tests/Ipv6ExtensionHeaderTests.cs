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
/// IPv6 packets whose extension headers (other than a leading hop-by-hop one) are cut short or run past the payload:
/// ip6_rcv passes them to netfilter. Conntrack finds no tuple (INVALID); iptables-nft's -p (meta l4proto, from
/// ipv6_find_hdr, which stops at AH) sees the protocol after a header whose first bytes are there and no protocol at all
/// past an unreadable one (then -p and ! -p both fail); -m rt, multiport, icmp6 and hashlimit's port modes drop what they
/// cannot read. With iptables-legacy, ip6_tables' -p walks through AH and drops a packet it cannot walk at any -p rule.
/// The kernel check forwards the same packets through namespaces (hx-ext6-PID-N, always deleted) with one chain per
/// packet (by source address), loaded by ip6tables-restore or ip6tables-legacy-restore, and compares every rule's
/// counter and what arrives.
/// </summary>
public sealed class Ipv6ExtensionHeaderTests(ITestOutputHelper output)
{
    private static int counter;

    /// <summary>The test packets (network layer, source 2001:db8:1::N for packet N, to 2001:db8:2::2).</summary>
    private static readonly (int N, string Name, string Hex)[] Traffic =
    [
        (1, "dst 16 bytes, 8 there, then tcp", "6000000100083c4020010db800010000000000000000000120010db80002000000000000000000020601010400000000"),
        (2, "dst, 2 bytes", "6000000200023c4020010db800010000000000000000000220010db80002000000000000000000020600"),
        (3, "dst, 1 byte", "6000000300013c4020010db800010000000000000000000320010db800020000000000000000000206"),
        (4, "routing 24 bytes, 8 there", "6000000400082b4020010db800010000000000000000000420010db80002000000000000000000020602000000000000"),
        (5, "routing, 3 bytes", "6000000500032b4020010db800010000000000000000000520010db8000200000000000000000002060000"),
        (6, "dst cut, then routing", "6000000600083c4020010db800010000000000000000000620010db80002000000000000000000022b01010400000000"),
        (7, "fragment header, 4 bytes", "6000000700042c4020010db800010000000000000000000720010db800020000000000000000000206000000"),
        (8, "AH then a good SYN", "600000080020334020010db800010000000000000000000820010db800020000000000000000000206010000000012340000000103f00050000003e8000000005002faf0514b0000"),
        (9, "hop-by-hop 16 bytes, 8 there", "600000090008004020010db800010000000000000000000920010db80002000000000000000000020601010400000000"),
        (10, "dst cut, then udp", "6000000a00083c4020010db800010000000000000000000a20010db80002000000000000000000021101010400000000"),
        (11, "dst cut, then icmpv6", "6000000b00083c4020010db800010000000000000000000b20010db80002000000000000000000023a01010400000000"),
        (12, "good SYN", "6000000c0014064020010db800010000000000000000000c20010db800020000000000000000000203f40050000003e8000000005002faf051430000"),
        (13, "dst whole, tcp 3 bytes", "6000000d000b3c4020010db800010000000000000000000d20010db8000200000000000000000002060001040000000003f500"),
    ];

    private static Packet Decode(string hex, long number = 1) =>
        PacketDecoder.Decode(Convert.FromHexString(hex), number, Timestamp.FromSeconds(1 + number / 100.0), "f0");

    private static Packet Decode(int n) => Decode(Traffic[n - 1].Hex, n);

    private static Host Firewall() => new(
        [
            new HostInterface("lo", 1, new MacAddress(0), [new InterfaceAddress(Address.Parse("::1"), 128)], IsLoopback: true, Mtu: 65536),
            new HostInterface("f0", 2, MacAddress.Parse("02:00:00:00:ff:00"), [new InterfaceAddress(Address.Parse("2001:db8:1::1"), 64), new InterfaceAddress(Address.Parse("10.1.0.1"), 24)]),
            new HostInterface("f1", 3, MacAddress.Parse("02:00:00:00:ff:01"), [new InterfaceAddress(Address.Parse("2001:db8:2::1"), 64), new InterfaceAddress(Address.Parse("10.2.0.1"), 24)]),
        ],
        ImmutableArray<Route>.Empty,
        ImmutableArray<RoutingRule>.Empty,
        Sysctls.Defaults.With("net.ipv6.conf.all.forwarding", "1").With("net.ipv4.ip_forward", "1").With("net.ipv4.icmp_ratelimit", "0"));

    // ---- the decoder ----

    [Fact]
    public void Cut_extension_headers_are_transport_errors_and_a_cut_leading_hop_by_hop_header_stays_a_decode_error()
    {
        var p1 = Decode(1);
        Assert.Equal((null, "IPv6 extension header 60 of 16 bytes at offset 40 runs past the payload (48 bytes)"), (p1.DecodeError, p1.TransportError));
        Assert.Equal((IpProtocol.Tcp, IpProtocol.Tcp, (byte?)60, false, 56), (p1.Ip!.Protocol, p1.Ip.MetaL4Protocol, p1.Ip.CutExtensionHeader, p1.Ip.ExtensionWalkFailed, p1.Ip.HeaderLength));
        Assert.Null(p1.Transport);
        Assert.Equal(0, p1.TransportBytes().Length);

        var p3 = Decode(3);
        Assert.Equal("IPv6 extension header 60 truncated: 1 bytes, at least 8 needed", p3.TransportError);
        Assert.Equal((IpProtocol.Ipv6Opts, -1, true), (p3.Ip!.Protocol, p3.Ip.MetaL4Protocol, p3.Ip.ExtensionWalkFailed));

        // A routing header of 3 bytes: ipv6_skip_exthdr walks past it (2 bytes), ipv6_find_hdr does not (4).
        var p5 = Decode(5);
        Assert.Equal((IpProtocol.Tcp, -1, false), (p5.Ip!.Protocol, p5.Ip.MetaL4Protocol, p5.Ip.ExtensionWalkFailed));
        // Past a header that runs beyond the payload, another extension header cannot be read.
        var p6 = Decode(6);
        Assert.Equal((IpProtocol.Ipv6Route, -1, true), (p6.Ip!.Protocol, p6.Ip.MetaL4Protocol, p6.Ip.ExtensionWalkFailed));
        // A fragment header of 4 bytes is no fragment to gather.
        var p7 = Decode(7);
        Assert.Equal((false, IpProtocol.Tcp, (byte?)44), (p7.Ip!.IsFragment, p7.Ip.MetaL4Protocol, p7.Ip.CutExtensionHeader));
        Assert.Empty(p7.Ip.ExtensionHeaders);
        // A whole AH: conntrack and the decoder see TCP behind it, nft's meta l4proto sees AH.
        var p8 = Decode(8);
        Assert.Equal((null, IpProtocol.Tcp, (int)IpProtocol.Ah), (p8.TransportError, p8.Ip!.Protocol, p8.Ip.MetaL4Protocol));
        Assert.IsType<TcpHeader>(p8.Transport);

        var p9 = Decode(9);
        Assert.Equal("IPv6 extension header 0 of 16 bytes at offset 40 runs past the payload (48 bytes)", p9.DecodeError);
        Assert.Null(p9.Ip);

        // Serialized again (as a forwarded packet is, with its hop limit lowered), the packet keeps its bytes.
        Assert.Equal(Convert.FromHexString(Traffic[0].Hex), Harness.Packets.PacketBuilder.Serialize(p1));
        Assert.Equal(Convert.FromHexString(Traffic[5].Hex), Harness.Packets.PacketBuilder.Serialize(p6));
    }

    // ---- the engine against the kernel's counters ----

    private static readonly string[] Variants = ["base", "rt", "multiport", "icmp6", "hashlimit"];

    private static string VariantRule(string variant, int chain) => variant switch
    {
        "rt" => "-m rt --rt-segsleft 0",
        "multiport" => "-p tcp -m multiport --dports 80",
        "icmp6" => "-p ipv6-icmp -m icmp6 --icmpv6-type 128",
        "hashlimit" => $"-m hashlimit --hashlimit-upto 1000/sec --hashlimit-burst 5 --hashlimit-mode srcport --hashlimit-name h{chain}",
        _ => "",
    };

    /// <summary>One chain T1..T13 per packet (jumped to by source): six -p/tcp/udp rules, the variant's rule, ACCEPT.</summary>
    private static string Rules(string variant)
    {
        var lines = new List<string> { "*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]" };
        for (int i = 1; i <= 13; i++) lines.Add($":T{i} - [0:0]");
        for (int i = 1; i <= 13; i++) lines.Add(string.Create(CultureInfo.InvariantCulture, $"-A FORWARD -s 2001:db8:1::{i:x} -j T{i}"));
        for (int i = 1; i <= 13; i++)
        {
            lines.Add($"-A T{i} -m conntrack --ctstate INVALID");
            lines.Add($"-A T{i} -p tcp");
            lines.Add($"-A T{i} ! -p tcp");
            lines.Add($"-A T{i} -p tcp -m tcp --dport 80");
            lines.Add($"-A T{i} -p udp -m udp --dport 53");
            lines.Add($"-A T{i} -p ah");
            lines.Add($"-A T{i} -p tcp -m tcp --tcp-flags SYN SYN");
            if (VariantRule(variant, i) is { Length: > 0 } rule) lines.Add($"-A T{i} {rule}");
            lines.Add($"-A T{i} -j ACCEPT");
        }
        lines.Add("COMMIT");
        return string.Join('\n', lines) + "\n";
    }

    /// <summary>Per packet: "N: counters of TN | arrived", in packet order.</summary>
    private static List<string> ModelRun(string variant, IptablesBackend backend = IptablesBackend.Nft)
    {
        var options = backend == IptablesBackend.Nft ? EngineOptions.Default : new EngineOptions(Backend: backend);
        var engine = Engine.Create(null, TestRules.Load(Rules(variant), Family.IPv6), Firewall(), options);
        var result = new List<string>();
        foreach (var (n, _, hex) in Traffic)
        {
            var o = engine.Process(Decode(hex, n))[0];
            int rules = VariantRule(variant, n).Length > 0 ? 9 : 8;
            var counts = Enumerable.Range(1, rules).Select(r => engine.Counters.Get(Family.IPv6, "filter", $"T{n}", r).Packets);
            result.Add(string.Create(CultureInfo.InvariantCulture, $"{n}: {string.Join(' ', counts)} | {(o.Disposition == Disposition.Forwarded ? 1 : 0)}"));
        }
        return result;
    }

    /// <summary>
    /// Measured on 6.18 with iptables 1.8.9 nf_tables (the kernel check below repeats it): per packet the counters of its
    /// chain (INVALID, -p tcp, ! -p tcp, tcp dport 80, udp dport 53, -p ah, tcp flags SYN, [variant], ACCEPT) and
    /// whether it arrived. The variant's rule drops: rt the cut routing headers and the unwalkable chains (3-6),
    /// multiport every -p tcp packet without ports (1, 2, 4, 7, 13), icmp6 the ICMPv6 behind a cut header (11),
    /// hashlimit's srcport mode everything without readable ports except ICMPv6 (its protocol has none).
    /// </summary>
    private static readonly Dictionary<string, string[]> Kernel = new()
    {
        ["base"] =
        [
            "1: 1 1 0 0 0 0 0 1 | 1", "2: 1 1 0 0 0 0 0 1 | 1", "3: 1 0 0 0 0 0 0 1 | 1", "4: 1 1 0 0 0 0 0 1 | 1",
            "5: 1 0 0 0 0 0 0 1 | 1", "6: 1 0 0 0 0 0 0 1 | 1", "7: 1 1 0 0 0 0 0 1 | 1", "8: 0 0 1 0 0 1 0 1 | 1",
            "9: 0 0 0 0 0 0 0 0 | 0", "10: 1 0 1 0 0 0 0 1 | 1", "11: 1 0 1 0 0 0 0 1 | 1", "12: 0 1 0 1 0 0 1 1 | 1",
            "13: 1 1 0 0 0 0 0 1 | 1",
        ],
        ["rt"] =
        [
            "1: 1 1 0 0 0 0 0 0 1 | 1", "2: 1 1 0 0 0 0 0 0 1 | 1", "3: 1 0 0 0 0 0 0 0 0 | 0", "4: 1 1 0 0 0 0 0 0 0 | 0",
            "5: 1 0 0 0 0 0 0 0 0 | 0", "6: 1 0 0 0 0 0 0 0 0 | 0", "7: 1 1 0 0 0 0 0 0 1 | 1", "8: 0 0 1 0 0 1 0 0 1 | 1",
            "9: 0 0 0 0 0 0 0 0 0 | 0", "10: 1 0 1 0 0 0 0 0 1 | 1", "11: 1 0 1 0 0 0 0 0 1 | 1", "12: 0 1 0 1 0 0 1 0 1 | 1",
            "13: 1 1 0 0 0 0 0 0 1 | 1",
        ],
        ["multiport"] =
        [
            "1: 1 1 0 0 0 0 0 0 0 | 0", "2: 1 1 0 0 0 0 0 0 0 | 0", "3: 1 0 0 0 0 0 0 0 1 | 1", "4: 1 1 0 0 0 0 0 0 0 | 0",
            "5: 1 0 0 0 0 0 0 0 1 | 1", "6: 1 0 0 0 0 0 0 0 1 | 1", "7: 1 1 0 0 0 0 0 0 0 | 0", "8: 0 0 1 0 0 1 0 0 1 | 1",
            "9: 0 0 0 0 0 0 0 0 0 | 0", "10: 1 0 1 0 0 0 0 0 1 | 1", "11: 1 0 1 0 0 0 0 0 1 | 1", "12: 0 1 0 1 0 0 1 1 1 | 1",
            "13: 1 1 0 0 0 0 0 0 0 | 0",
        ],
        ["icmp6"] =
        [
            "1: 1 1 0 0 0 0 0 0 1 | 1", "2: 1 1 0 0 0 0 0 0 1 | 1", "3: 1 0 0 0 0 0 0 0 1 | 1", "4: 1 1 0 0 0 0 0 0 1 | 1",
            "5: 1 0 0 0 0 0 0 0 1 | 1", "6: 1 0 0 0 0 0 0 0 1 | 1", "7: 1 1 0 0 0 0 0 0 1 | 1", "8: 0 0 1 0 0 1 0 0 1 | 1",
            "9: 0 0 0 0 0 0 0 0 0 | 0", "10: 1 0 1 0 0 0 0 0 1 | 1", "11: 1 0 1 0 0 0 0 0 0 | 0", "12: 0 1 0 1 0 0 1 0 1 | 1",
            "13: 1 1 0 0 0 0 0 0 1 | 1",
        ],
        ["hashlimit"] =
        [
            "1: 1 1 0 0 0 0 0 0 0 | 0", "2: 1 1 0 0 0 0 0 0 0 | 0", "3: 1 0 0 0 0 0 0 0 0 | 0", "4: 1 1 0 0 0 0 0 0 0 | 0",
            "5: 1 0 0 0 0 0 0 0 0 | 0", "6: 1 0 0 0 0 0 0 0 0 | 0", "7: 1 1 0 0 0 0 0 0 0 | 0", "8: 0 0 1 0 0 1 0 1 1 | 1",
            "9: 0 0 0 0 0 0 0 0 0 | 0", "10: 1 0 1 0 0 0 0 0 0 | 0", "11: 1 0 1 0 0 0 0 1 1 | 1", "12: 0 1 0 1 0 0 1 1 1 | 1",
            "13: 1 1 0 0 0 0 0 0 0 | 0",
        ],
    };

    [Theory]
    [InlineData("base")]
    [InlineData("rt")]
    [InlineData("multiport")]
    [InlineData("icmp6")]
    [InlineData("hashlimit")]
    public void Every_rule_counts_and_every_packet_arrives_as_the_kernel_measured(string variant) =>
        Assert.Equal(Kernel[variant], ModelRun(variant));

    /// <summary>
    /// The same measured with iptables-legacy (ip6tables-legacy 1.8.9 on 6.18, the kernel check below repeats it). ip6_tables'
    /// -p walks through AH (packet 8 is -p tcp, not -p ah, and its SYN matches) and drops a packet whose extension headers it
    /// cannot walk at the first -p rule, negated or not (3: 1 byte of a destination header, 5: 3 bytes of a routing header,
    /// 6: a header past a cut one); xt_tcp/xt_udp drop a header they cannot read (1, 2, 4, 7, 13 at the tcp port rule,
    /// 10 at the udp one). Only 8, 11 (ICMPv6 behind a cut header; the icmp6 variant drops it) and 12 arrive.
    /// </summary>
    private static readonly Dictionary<string, string[]> KernelLegacy = new()
    {
        ["base"] =
        [
            "1: 1 1 0 0 0 0 0 0 | 0", "2: 1 1 0 0 0 0 0 0 | 0", "3: 1 0 0 0 0 0 0 0 | 0", "4: 1 1 0 0 0 0 0 0 | 0",
            "5: 1 0 0 0 0 0 0 0 | 0", "6: 1 0 0 0 0 0 0 0 | 0", "7: 1 1 0 0 0 0 0 0 | 0", "8: 0 1 0 1 0 0 1 1 | 1",
            "9: 0 0 0 0 0 0 0 0 | 0", "10: 1 0 1 0 0 0 0 0 | 0", "11: 1 0 1 0 0 0 0 1 | 1", "12: 0 1 0 1 0 0 1 1 | 1",
            "13: 1 1 0 0 0 0 0 0 | 0",
        ],
        ["rt"] =
        [
            "1: 1 1 0 0 0 0 0 0 0 | 0", "2: 1 1 0 0 0 0 0 0 0 | 0", "3: 1 0 0 0 0 0 0 0 0 | 0", "4: 1 1 0 0 0 0 0 0 0 | 0",
            "5: 1 0 0 0 0 0 0 0 0 | 0", "6: 1 0 0 0 0 0 0 0 0 | 0", "7: 1 1 0 0 0 0 0 0 0 | 0", "8: 0 1 0 1 0 0 1 0 1 | 1",
            "9: 0 0 0 0 0 0 0 0 0 | 0", "10: 1 0 1 0 0 0 0 0 0 | 0", "11: 1 0 1 0 0 0 0 0 1 | 1", "12: 0 1 0 1 0 0 1 0 1 | 1",
            "13: 1 1 0 0 0 0 0 0 0 | 0",
        ],
        ["multiport"] =
        [
            "1: 1 1 0 0 0 0 0 0 0 | 0", "2: 1 1 0 0 0 0 0 0 0 | 0", "3: 1 0 0 0 0 0 0 0 0 | 0", "4: 1 1 0 0 0 0 0 0 0 | 0",
            "5: 1 0 0 0 0 0 0 0 0 | 0", "6: 1 0 0 0 0 0 0 0 0 | 0", "7: 1 1 0 0 0 0 0 0 0 | 0", "8: 0 1 0 1 0 0 1 1 1 | 1",
            "9: 0 0 0 0 0 0 0 0 0 | 0", "10: 1 0 1 0 0 0 0 0 0 | 0", "11: 1 0 1 0 0 0 0 0 1 | 1", "12: 0 1 0 1 0 0 1 1 1 | 1",
            "13: 1 1 0 0 0 0 0 0 0 | 0",
        ],
        ["icmp6"] =
        [
            "1: 1 1 0 0 0 0 0 0 0 | 0", "2: 1 1 0 0 0 0 0 0 0 | 0", "3: 1 0 0 0 0 0 0 0 0 | 0", "4: 1 1 0 0 0 0 0 0 0 | 0",
            "5: 1 0 0 0 0 0 0 0 0 | 0", "6: 1 0 0 0 0 0 0 0 0 | 0", "7: 1 1 0 0 0 0 0 0 0 | 0", "8: 0 1 0 1 0 0 1 0 1 | 1",
            "9: 0 0 0 0 0 0 0 0 0 | 0", "10: 1 0 1 0 0 0 0 0 0 | 0", "11: 1 0 1 0 0 0 0 0 0 | 0", "12: 0 1 0 1 0 0 1 0 1 | 1",
            "13: 1 1 0 0 0 0 0 0 0 | 0",
        ],
        ["hashlimit"] =
        [
            "1: 1 1 0 0 0 0 0 0 0 | 0", "2: 1 1 0 0 0 0 0 0 0 | 0", "3: 1 0 0 0 0 0 0 0 0 | 0", "4: 1 1 0 0 0 0 0 0 0 | 0",
            "5: 1 0 0 0 0 0 0 0 0 | 0", "6: 1 0 0 0 0 0 0 0 0 | 0", "7: 1 1 0 0 0 0 0 0 0 | 0", "8: 0 1 0 1 0 0 1 1 1 | 1",
            "9: 0 0 0 0 0 0 0 0 0 | 0", "10: 1 0 1 0 0 0 0 0 0 | 0", "11: 1 0 1 0 0 0 0 1 1 | 1", "12: 0 1 0 1 0 0 1 1 1 | 1",
            "13: 1 1 0 0 0 0 0 0 0 | 0",
        ],
    };

    [Theory]
    [InlineData("base")]
    [InlineData("rt")]
    [InlineData("multiport")]
    [InlineData("icmp6")]
    [InlineData("hashlimit")]
    public void With_iptables_legacy_every_rule_counts_and_every_packet_arrives_as_the_kernel_measured(string variant) =>
        Assert.Equal(KernelLegacy[variant], ModelRun(variant, IptablesBackend.Legacy));

    [Fact]
    public void The_legacy_protocol_walks_through_AH_and_fails_where_ipv6_find_hdr_fails()
    {
        // (decoder protocol, nft's meta l4proto, ip6_tables' protocol)
        (int, int, int) Walk(Packet p) => (p.Ip!.Protocol, p.Ip.MetaL4Protocol, p.Ip.LegacyL4Protocol);
        Assert.Equal((6, 6, 6), Walk(Decode(1)));      // 2 of a cut destination header's bytes are enough
        Assert.Equal((60, -1, -1), Walk(Decode(3)));   // 1 byte: no walk
        Assert.Equal((6, -1, -1), Walk(Decode(5)));    // a routing header needs 4 bytes
        Assert.Equal((43, -1, -1), Walk(Decode(6)));   // a header past a cut one
        Assert.Equal((6, 51, 6), Walk(Decode(8)));     // nft stops at AH, ip6_tables walks through it
        Assert.Equal((6, 6, 6), Walk(Decode(12)));
        // A later fragment: the protocol its fragment header names, none when that is another extension header.
        const string Addresses = "20010db800010000000000000000000120010db8000200000000000000000002";
        var later = Decode("6000000000102c40" + Addresses + "0600000800001234" + "0000000000000000", 20);
        Assert.Equal((6, 6, 6, 8), (later.Ip!.Protocol, later.Ip.MetaL4Protocol, later.Ip.LegacyL4Protocol, later.Ip.FragmentOffset));
        var laterExt = Decode("6000000000102c40" + Addresses + "3c00000800001234" + "0000000000000000", 21);
        Assert.Equal((60, -1, 8), (laterExt.Ip!.Protocol, laterExt.Ip.LegacyL4Protocol, laterExt.Ip.FragmentOffset));
        // IPv4: the header's protocol field.
        var v4 = Decode("4500001c006700004006666e0a0100030a02000204d200500000e6c7", 22);
        Assert.Equal((6, 6), (v4.Ip!.MetaL4Protocol, v4.Ip.LegacyL4Protocol));
    }

    private static Engine Legacy(string forward, IptablesBackend backend = IptablesBackend.Legacy) =>
        Engine.Create(null, TestRules.Load($"*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n{forward}COMMIT\n", Family.IPv6),
            Firewall(), new EngineOptions(Backend: backend));

    [Fact]
    public void With_iptables_legacy_a_protocol_rule_drops_what_ip6_tables_cannot_walk()
    {
        foreach (var rule in new[] { "-p tcp", "! -p tcp", "-p ah" })
        {
            var o = Legacy($"-A FORWARD -s 2001:db8:2::/64\n-A FORWARD {rule} -j ACCEPT\n").Process(Decode(5))[0];
            Assert.Equal((FinalVerdict.Drop, Disposition.Dropped, Hook.Forward,
                "-p: ip6_tables finds no protocol behind the IPv6 extension headers (IPv6 extension header 43 truncated: 3 bytes, at least 8 needed): the rule drops the packet"),
                (o.Verdict, o.Disposition, o.DroppedAt, o.Reason));
        }
        // A rule without -p lets it by; with nft, -p and ! -p both fail and the policy accepts it.
        Assert.Equal(Disposition.Forwarded, Legacy("-A FORWARD -s 2001:db8:1::/64 -j ACCEPT\n").Process(Decode(5))[0].Disposition);
        var nft = Legacy("-A FORWARD -p tcp -j DROP\n-A FORWARD ! -p tcp -j DROP\n", IptablesBackend.Nft);
        Assert.Equal(Disposition.Forwarded, nft.Process(Decode(5))[0].Disposition);
        // AH then TCP: ip6_tables sees TCP (its -m tcp reads the SYN), nft sees AH.
        const string Ah = "-A FORWARD -p ah -j ACCEPT\n-A FORWARD -p tcp -m tcp --dport 80 -j DROP\n";
        var legacy = Legacy(Ah).Process(Decode(8))[0];
        Assert.Equal((FinalVerdict.Drop, "filter:FORWARD:2"), (legacy.Verdict, legacy.DecidingRule));
        var viaNft = Legacy(Ah, IptablesBackend.Nft).Process(Decode(8))[0];
        Assert.Equal((FinalVerdict.Accept, "filter:FORWARD:1"), (viaNft.Verdict, viaNft.DecidingRule));
    }

    [Fact]
    public void With_iptables_legacy_a_chain_indexed_by_protocol_still_drops_at_its_first_protocol_rule()
    {
        // 13 rules keyed by protocol (the compiled walk indexes them): the first -p rule drops what cannot be walked, and
        // AH+TCP finds the -p tcp rule, not the -p ah one.
        var protocols = new[] { "udp", "sctp", "esp", "ah", "gre", "udplite", "47", "103", "112", "tcp", "132", "136", "ipv6-icmp" };
        var rules = string.Concat(protocols.Select((p, i) => $"-A FORWARD -p {p} -j {(p == "tcp" ? "DROP" : "ACCEPT")}\n"));
        var unwalkable = Legacy(rules).Process(Decode(3))[0];
        Assert.Equal((FinalVerdict.Drop, Hook.Forward, (string?)null), (unwalkable.Verdict, unwalkable.DroppedAt, unwalkable.DecidingRule));
        Assert.StartsWith("-p: ip6_tables finds no protocol", unwalkable.Reason, StringComparison.Ordinal);
        var ah = Legacy(rules).Process(Decode(8))[0];
        Assert.Equal((FinalVerdict.Drop, "filter:FORWARD:10"), (ah.Verdict, ah.DecidingRule));
        var ahNft = Legacy(rules, IptablesBackend.Nft).Process(Decode(8))[0];
        Assert.Equal((FinalVerdict.Accept, "filter:FORWARD:4"), (ahNft.Verdict, ahNft.DecidingRule));
    }

    [Fact]
    public void Conntrack_and_the_hotdrop_reasons_name_the_cut_header()
    {
        var table = new Harness.Engine.Conntrack.ConntrackTable(Harness.Engine.Conntrack.ConntrackSettings.Default);
        string? Why(int n) => table.Process(Decode(n), Hook.Prerouting).InvalidReason;
        Assert.Equal("no tuple: fewer than 4 bytes of ports (IPv6 extension header 60 of 16 bytes at offset 40 runs past the payload (48 bytes))", Why(1));
        Assert.Equal("no protocol: the IPv6 extension headers cannot be walked (IPv6 extension header 60 truncated: 1 bytes, at least 8 needed)", Why(3));
        Assert.StartsWith("icmpv6: short packet", Why(11));
        Assert.Null(Why(8)); // AH is walked past: the SYN behind it is tracked

        var engine = Engine.Create(null, TestRules.Load(Rules("rt"), Family.IPv6), Firewall(), EngineOptions.Default);
        var o = engine.Process(Decode(4))[0];
        Assert.Equal((FinalVerdict.Drop, Hook.Forward, "rt: IPv6 extension header 43 of 24 bytes at offset 40 runs past the payload (48 bytes): the match drops the packet"),
            (o.Verdict, o.DroppedAt, o.Reason));
        var hop = Engine.Create(null, TestRules.Load(Rules("base"), Family.IPv6), Firewall(), EngineOptions.Default).Process(Decode(9))[0];
        Assert.Equal((FinalVerdict.Drop, "IPv6 extension header 0 of 16 bytes at offset 40 runs past the payload (48 bytes)"), (hop.Verdict, hop.Reason));
        Assert.Empty(hop.Path);
    }

    [Theory]
    [InlineData(IptablesBackend.Nft)]
    [InlineData(IptablesBackend.Legacy)]
    public void Kernel_counts_and_forwards_the_cut_packets_as_the_model_does(IptablesBackend backend)
    {
        var suffix = backend == IptablesBackend.Legacy ? "-legacy" : "";
        if (!KernelShell.Available(out var why, "ip", "ip6tables-restore", $"ip6tables{suffix}-restore", "python3")) { output.WriteLine(why); return; }
        foreach (var variant in Variants)
        {
            var prefix = $"hx-ext6-{Environment.ProcessId}-{Interlocked.Increment(ref counter)}";
            var dir = Directory.CreateTempSubdirectory("hx-ext6-");
            try
            {
                File.WriteAllLines(Path.Combine(dir.FullName, "frames"), Traffic.Select(t => "02000000ff00" + "02000000cc01" + "86dd" + t.Hex));
                File.WriteAllText(Path.Combine(dir.FullName, "rules6"), Rules(variant));
                var text = KernelShell.Script(KernelScript, prefix, dir.FullName, suffix);
                output.WriteLine($"{variant} ({backend}):\n{text}");
                var counts = text.Split('\n').Where(l => l.StartsWith('T')).Select(l => l.Trim()).ToList();
                var arrived = text.Split('\n').Where(l => l.StartsWith("S ", StringComparison.Ordinal)).Select(l => l.Split(' ')[1]).ToList();
                var kernel = Traffic.Select((t, i) => $"{t.N}: {counts[i][(counts[i].IndexOf(' ', StringComparison.Ordinal) + 1)..]} | {arrived[i]}").ToList();
                Assert.Equal(ModelRun(variant, backend), kernel);
            }
            finally
            {
                dir.Delete(recursive: true);
            }
        }
    }

    /// <summary>
    /// Client c, firewall f, server s as in MalformedTransportTests (IPv6 only): c0 ↔ f0 (2001:db8:1::/64), f1 ↔ s0
    /// (2001:db8:2::/64), static neighbours; the frames leave c by AF_PACKET, one every 20 ms; s counts by source in raw
    /// PREROUTING what arrives. Prints "TN c1 c2 …" per chain and "S arrived" per packet.
    /// </summary>
    private static readonly string KernelScript = $$"""
        P=$1; D=$2; B=$3
        {{KernelShell.ThreeNamespaces}}
        ip netns exec $P-f sh -c '
          sysctl -qw net.ipv6.conf.all.forwarding=1
          ip link set lo up; ip link set f0 up; ip link set f1 up
          ip -6 addr add 2001:db8:1::1/64 dev f0 nodad; ip -6 addr add 2001:db8:2::1/64 dev f1 nodad
          ip -6 neigh replace 2001:db8:2::2 lladdr 02:00:00:00:55:01 dev f1 nud permanent'
        ip netns exec $P-s sh -c 'ip link set s0 up; ip -6 addr add 2001:db8:2::2/64 dev s0 nodad'
        ip netns exec $P-f ip6tables$B-restore < $D/rules6
        { printf '*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n'; for i in $(seq 1 13); do printf -- '-A PREROUTING -s 2001:db8:1::%x\n' $i; done; printf 'COMMIT\n'; } | ip netns exec $P-s ip6tables-restore
        sleep 0.3
        {{KernelShell.SendFrames("0.02")}}
        sleep 0.3
        for i in $(seq 1 13); do echo "T$i $(ip netns exec $P-f ip6tables$B -L T$i -v -n -x | tail -n +3 | awk '{print $1}' | tr '\n' ' ' | sed 's/ $//')"; done
        ip netns exec $P-s ip6tables -t raw -L PREROUTING -v -n -x | tail -n +3 | awk '{print "S", $1}'
        """;

    // ---- two hotdrop/REJECT paths on short IPv4 transport headers (measured in the same topology, IPv4) ----

    /// <summary>
    /// Measured on 6.18 (iptables-nft): a UDP datagram of 2 bytes at "-p udp -m hashlimit --hashlimit-mode srcport" is
    /// dropped by the match (neither that rule nor the ACCEPT after it counts it, nothing arrives); one of 4 bytes is counted
    /// and forwarded.
    /// </summary>
    [Fact]
    public void Hashlimit_port_mode_drops_a_datagram_without_its_ports()
    {
        var engine = Engine.Create(TestRules.Load("""
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A FORWARD -p udp -m hashlimit --hashlimit-upto 1000/sec --hashlimit-burst 5 --hashlimit-mode srcport --hashlimit-name h4
            -A FORWARD -j ACCEPT
            COMMIT
            """, Family.IPv4), null, Firewall(), EngineOptions.Default);
        var udp2 = engine.Process(Decode("45000016006500004011666c0a0100020a02000214e9", 1))[0];
        Assert.Equal((FinalVerdict.Drop, Disposition.Dropped, Hook.Forward, "hashlimit: UDP header truncated: 2 bytes, at least 8 needed: the match drops the packet"),
            (udp2.Verdict, udp2.Disposition, udp2.DroppedAt, udp2.Reason));
        var udp4 = engine.Process(Decode("4500001800660000401166690a0100020a02000214e90035", 2))[0];
        Assert.Equal((FinalVerdict.Accept, Disposition.Forwarded), (udp4.Verdict, udp4.Disposition));
        Assert.Equal((1UL, 1UL), (engine.Counters.Get(Family.IPv4, "filter", "FORWARD", 1).Packets, engine.Counters.Get(Family.IPv4, "filter", "FORWARD", 2).Packets));
    }

    /// <summary>
    /// Measured on 6.18 (tcpdump on the client's side): REJECT with icmp-port-unreachable on an 8-byte TCP segment whose
    /// checksum holds sends one ICMP 3/3 (36 bytes quoted); the same segment with a wrong checksum gets nothing; tcp-reset
    /// on an 8-byte segment sends no RST. All three are rejected (dropped).
    /// </summary>
    [Fact]
    public void Reject_of_a_short_tcp_segment_answers_only_with_an_icmp_error_and_only_when_its_checksum_holds()
    {
        var engine = Engine.Create(TestRules.Load("""
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A FORWARD -s 10.1.0.3 -j REJECT --reject-with icmp-port-unreachable
            -A FORWARD -s 10.1.0.4 -j REJECT --reject-with icmp-port-unreachable
            -A FORWARD -s 10.1.0.5 -p tcp -j REJECT --reject-with tcp-reset
            COMMIT
            """, Family.IPv4), null, Firewall(), EngineOptions.Default);
        var good = engine.Process(Decode("4500001c006700004006666e0a0100030a02000204d200500000e6c7", 1));
        Assert.Equal(2, good.Count);
        Assert.Equal((FinalVerdict.Reject, "filter:FORWARD:1"), (good[0].Verdict, good[0].DecidingRule));
        var icmp = Assert.IsType<IcmpHeader>(good[1].Packet.Transport);
        Assert.Equal(((byte)3, (byte)3, "10.1.0.3", 56), (icmp.Type, icmp.Code, good[1].Packet.Ip!.Destination.ToString(), good[1].Packet.Ip!.TotalLength));
        var bad = engine.Process(Decode("4500001c006800004006666c0a0100040a02000204d200500000f7d7", 2));
        Assert.Equal((1, FinalVerdict.Reject, "filter:FORWARD:2"), (bad.Count, bad[0].Verdict, bad[0].DecidingRule));
        var reset = engine.Process(Decode("4500001c006900004006666a0a0100050a02000204d200500000e6c5", 3));
        Assert.Equal((1, FinalVerdict.Reject, "filter:FORWARD:3"), (reset.Count, reset[0].Verdict, reset[0].DecidingRule));
    }
}
