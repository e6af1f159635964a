using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Globalization;
using System.Text.RegularExpressions;
using Harness.Engine.Tests.Support;
using Harness.Hosts;
using Harness.Net;
using Harness.Packets;
using Xunit.Abstractions;

namespace Harness.Engine.Tests;

/// <summary>
/// The egress MTU: ip_forward / ip6_forward refuse a packet longer than the route's MTU before FORWARD (ICMP
/// fragmentation needed with DF, ICMPv6 packet too big) and otherwise fragment it after POSTROUTING; route mtu
/// metrics; reassembled datagrams; GRO aggregates; packets the host makes. The kernel check sends the same packets
/// through a forwarding namespace (hx-mtu-PID-N, always deleted) and compares counters, the frames that arrive behind
/// it and the ICMP errors that come back.
/// </summary>
public sealed partial class MtuTests(ITestOutputHelper output)
{
    private static int counter;

    private static readonly MacAddress FirewallMac = MacAddress.Parse("02:00:00:00:ff:00");

    /// <summary>
    /// The firewall: f0 (10.1.0.1/24, 2001:db8:1::1/64, MTU 4000) towards the client, f1 (10.2.0.1/24, 2001:db8:2::1/64,
    /// MTU 1400) towards the server; 10.3.0.0/24 and 2001:db8:3::/64 via the server with a route MTU of 1300,
    /// 2001:db8:4::/64 the same with the MTU locked. Forwarding on; ICMP limits off for TTL-exceeded.
    /// </summary>
    private static Host Firewall(Sysctls? extra = null)
    {
        var sysctls = (extra ?? Sysctls.Defaults).With("net.ipv4.ip_forward", "1").With("net.ipv6.conf.all.forwarding", "1");
        return new Host(
            [
                new HostInterface("lo", 1, new MacAddress(0), [new InterfaceAddress(Address.Parse("127.0.0.1"), 8), new InterfaceAddress(Address.Parse("::1"), 128)], IsLoopback: true, Mtu: 65536),
                new HostInterface("f0", 2, FirewallMac, [new InterfaceAddress(Address.Parse("10.1.0.1"), 24), new InterfaceAddress(Address.Parse("2001:db8:1::1"), 64)], Mtu: 4000),
                new HostInterface("f1", 3, MacAddress.Parse("02:00:00:00:ff:01"), [new InterfaceAddress(Address.Parse("10.2.0.1"), 24), new InterfaceAddress(Address.Parse("2001:db8:2::1"), 64)], Mtu: 1400),
            ],
            [
                new Route(Cidr("10.3.0.0/24"), "f1", Address.Parse("10.2.0.2"), Mtu: 1300),
                new Route(Cidr("2001:db8:3::/64"), "f1", Address.Parse("2001:db8:2::2"), Metric: 1024, Mtu: 1300),
                new Route(Cidr("2001:db8:4::/64"), "f1", Address.Parse("2001:db8:2::2"), Metric: 1024, Mtu: 1300, MtuLocked: true),
            ],
            ImmutableArray<RoutingRule>.Empty,
            sysctls);
    }

    private static Cidr Cidr(string text) => Net.Cidr.TryParse(text, out var c) ? c : throw new ArgumentException(text);

    /// <summary>Counts per hook: mangle PREROUTING, filter FORWARD, mangle POSTROUTING (rule 1 each), conntrack loaded.</summary>
    private const string Rules4 = """
        *mangle
        :PREROUTING ACCEPT [0:0]
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :POSTROUTING ACCEPT [0:0]
        -A PREROUTING -p udp
        -A POSTROUTING -p udp
        COMMIT
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A FORWARD -p udp
        -A FORWARD -m conntrack --ctstate NEW
        -A OUTPUT -p icmp
        COMMIT
        """;

    private static readonly string Rules6 = Rules4.Replace("-p icmp", "-p ipv6-icmp", StringComparison.Ordinal);

    private static Engine Create(Host? host = null, Family family = Family.IPv4, EngineOptions? options = null) =>
        family == Family.IPv4
            ? Engine.Create(TestRules.Load(Rules4), null, host ?? Firewall(), options ?? EngineOptions.Default)
            : Engine.Create(null, TestRules.Load(Rules6, Family.IPv6), host ?? Firewall(), options ?? EngineOptions.Default);

    /// <summary>A UDP datagram of <paramref name="total"/> bytes on the wire (IP header included).</summary>
    private static byte[] Udp(string source, string destination, int total, bool dontFragment = false, uint id = 1, byte ttl = 64, ushort dport = 53)
    {
        var src = Address.Parse(source);
        int payload = total - (src.Family == Family.IPv4 ? 28 : 48);
        var data = Enumerable.Range(0, payload).Select(i => (byte)(i * 7 + 3)).ToArray();
        return PacketBuilder.Build(new IpHeader
        {
            Family = src.Family, Source = src, Destination = Address.Parse(destination), Protocol = IpProtocol.Udp,
            Ttl = ttl, Id = src.Family == Family.IPv4 ? id : 0, DontFragment = dontFragment, TotalLength = 0, HeaderLength = 0,
        }, new UdpHeader(40000, dport, 0), data);
    }

    /// <summary>IPv4 fragment carrying data bytes [offset, offset + length), MF unless it reaches the end.</summary>
    private static byte[] Fragment4(byte[] datagram, int offset, int length)
    {
        int hl = (datagram[0] & 0x0F) * 4;
        int dataLength = datagram.Length - hl;
        length = Math.Min(length, dataLength - offset);
        var f = new byte[hl + length];
        datagram.AsSpan(0, hl).CopyTo(f);
        datagram.AsSpan(hl + offset, length).CopyTo(f.AsSpan(hl));
        bool mf = offset + length < dataLength;
        ushort flags = (ushort)(BinaryPrimitives.ReadUInt16BigEndian(datagram.AsSpan(6)) & 0x4000);
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(2), (ushort)f.Length);
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(6), (ushort)(flags | (mf ? 0x2000 : 0) | (offset / 8)));
        f[10] = f[11] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(10), InternetChecksum.Compute(f.AsSpan(0, hl)));
        return f;
    }

    /// <summary>IPv6 fragment (no other extension headers) with a fragment header of identification <paramref name="id"/>.</summary>
    private static byte[] Fragment6(byte[] datagram, int offset, int length, uint id)
    {
        int dataLength = datagram.Length - 40;
        length = Math.Min(length, dataLength - offset);
        var f = new byte[48 + length];
        datagram.AsSpan(0, 40).CopyTo(f);
        f[6] = IpProtocol.Ipv6Frag;
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(4), (ushort)(8 + length));
        f[40] = datagram[6];
        bool mf = offset + length < dataLength;
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(42), (ushort)(offset | (mf ? 1 : 0)));
        BinaryPrimitives.WriteUInt32BigEndian(f.AsSpan(44), id);
        datagram.AsSpan(40 + offset, length).CopyTo(f.AsSpan(48));
        return f;
    }

    private static List<Outcome> Send(Engine engine, IEnumerable<byte[]> packets, string? iface = "f0", double start = 1)
    {
        var outcomes = new List<Outcome>();
        int n = 0;
        foreach (var bytes in packets)
        {
            n++;
            outcomes.AddRange(engine.Process(PacketDecoder.Decode(bytes, n, Timestamp.FromSeconds(start + n / 100.0), iface)));
        }
        return outcomes;
    }

    private static IcmpHeader Icmp(Outcome generated) => Assert.IsType<IcmpHeader>(generated.Packet.Transport);

    private static (ulong Pre, ulong Forward, ulong Post) Hooks(Engine engine, Family family = Family.IPv4) =>
        (engine.Counters.Get(family, "mangle", "PREROUTING", 1).Packets, engine.Counters.Get(family, "filter", "FORWARD", 1).Packets,
         engine.Counters.Get(family, "mangle", "POSTROUTING", 1).Packets);

    // ---- IPv4 ----

    [Theory]
    [InlineData("10.2.0.10", 1360)] // the device MTU out (1400), the route back (f0, 4000) is larger
    [InlineData("10.3.0.10", 1260)] // the route's mtu metric (1300)
    public void Tcpmss_clamps_to_the_route_mtu_out_and_back(string server, int expectedMss)
    {
        const string rules = """
            *mangle
            :PREROUTING ACCEPT [0:0]
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            :POSTROUTING ACCEPT [0:0]
            -A FORWARD -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu
            COMMIT
            """;
        var engine = Engine.Create(TestRules.Load(rules), null, Firewall(), EngineOptions.Default);
        var syn = Wire.Tcp("10.1.0.10", 40000, server, 80, TcpFlags.Syn, "f0", options: [2, 4, 0x0F, 0x78]); // MSS 3960
        var o = engine.Process(syn)[0];
        Assert.Equal(Disposition.Forwarded, o.Disposition);
        var tcp = Assert.IsType<TcpHeader>(Wire.Redecoded(o.Packet).Transport);
        Assert.True(tcp.ChecksumValid);
        Assert.Equal(expectedMss, BinaryPrimitives.ReadUInt16BigEndian(tcp.Options.Span[2..4]));
    }

    [Fact]
    public void Tcpmss_takes_the_smaller_mtu_of_the_route_back_to_the_source()
    {
        const string rules = """
            *mangle
            :PREROUTING ACCEPT [0:0]
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            :POSTROUTING ACCEPT [0:0]
            -A FORWARD -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu
            COMMIT
            """;
        // A SYN from behind f1 (MTU 1400) to the client side (f0, MTU 4000): the route back caps the MSS at 1360.
        var engine = Engine.Create(TestRules.Load(rules), null, Firewall(), EngineOptions.Default);
        var syn = Wire.Tcp("10.2.0.10", 40000, "10.1.0.10", 80, TcpFlags.Syn, "f1", options: [2, 4, 0x0F, 0x78]);
        var o = engine.Process(syn)[0];
        Assert.Equal(Disposition.Forwarded, o.Disposition);
        var tcp = Assert.IsType<TcpHeader>(Wire.Redecoded(o.Packet).Transport);
        Assert.Equal(1360, BinaryPrimitives.ReadUInt16BigEndian(tcp.Options.Span[2..4]));
    }

    [Fact]
    public void A_DF_packet_longer_than_the_MTU_is_refused_before_FORWARD_with_fragmentation_needed()
    {
        var engine = Create();
        var o = Send(engine, [Udp("10.1.0.2", "10.2.0.2", 1401, dontFragment: true)]);
        Assert.Equal(2, o.Count);
        Assert.Equal((FinalVerdict.Drop, Disposition.Dropped, Hook.Prerouting), (o[0].Verdict, o[0].Disposition, o[0].DroppedAt));
        Assert.Equal("fragmentation needed: 1401 bytes exceeds the MTU 1400 of f1", o[0].Reason);
        Assert.Equal((1UL, 0UL, 0UL), Hooks(engine));
        Assert.Equal(64, o[0].Packet.Ip!.Ttl); // refused before the TTL is decremented

        var error = o[1];
        Assert.True(error.Generated);
        Assert.Equal((Disposition.Sent, "f0"), (error.Disposition, error.OutInterface));
        Assert.Equal(("10.1.0.1", "10.1.0.2"), (error.Packet.Ip!.Source.ToString(), error.Packet.Ip.Destination.ToString()));
        var icmp = Icmp(error);
        Assert.Equal((3, 4, 1400u), (icmp.Type, icmp.Code, icmp.Mtu));
        Assert.Equal(576, error.Packet.Ip.TotalLength); // the quote is cut to 576 bytes in all
        Assert.Equal(64, icmp.Quoted!.Ip.Ttl);
        Assert.Equal("RELATED", error.Conntrack!.StateSeen);
        Assert.Equal(1UL, engine.Counters.Get(Family.IPv4, "filter", "OUTPUT", 1).Packets);
    }

    [Fact]
    public void A_packet_that_fits_leaves_whole_and_one_without_DF_leaves_in_fragments_after_crossing_the_rules_once()
    {
        var engine = Create();
        var o = Send(engine, [Udp("10.1.0.2", "10.2.0.2", 1400, dontFragment: true), Udp("10.1.0.2", "10.2.0.3", 1401), Udp("10.1.0.2", "10.2.0.4", 3000, id: 3)]);
        Assert.Equal(3, o.Count);
        Assert.All(o, x => Assert.Equal((Disposition.Forwarded, "f1"), (x.Disposition, x.OutInterface)));
        Assert.Null(o[0].Reason);
        Assert.Equal("leaves as 2 fragments (MTU 1400 of f1)", o[1].Reason);
        Assert.Equal("leaves as 3 fragments (MTU 1400 of f1)", o[2].Reason); // 1376 data bytes a fragment: 2980 → 3
        Assert.Equal((3UL, 3UL, 3UL), Hooks(engine));
        Assert.Equal(1400UL + 1401 + 3000, engine.Counters.Get(Family.IPv4, "filter", "FORWARD", 1).Bytes);
    }

    [Fact]
    public void The_route_mtu_metric_overrides_the_device_MTU()
    {
        var engine = Create();
        var o = Send(engine, [Udp("10.1.0.2", "10.3.0.2", 1350, dontFragment: true), Udp("10.1.0.2", "10.3.0.3", 1350)]);
        Assert.Equal("fragmentation needed: 1350 bytes exceeds the MTU 1300 of f1", o[0].Reason);
        Assert.Equal(1300u, Icmp(o[1]).Mtu);
        Assert.Equal("leaves as 2 fragments (MTU 1300 of f1)", o[2].Reason);
    }

    [Fact]
    public void An_expired_TTL_is_answered_before_the_MTU_is_looked_at()
    {
        var o = Send(Create(), [Udp("10.1.0.2", "10.2.0.2", 1401, dontFragment: true, ttl: 1)]);
        Assert.Equal("TTL exceeded in forwarding", o[0].Reason);
        Assert.Equal((11, 0), (Icmp(o[1]).Type, Icmp(o[1]).Code));
    }

    [Fact]
    public void Fragmentation_needed_is_never_rate_limited()
    {
        // 20 in 10 ms from one source: destination unreachables of other codes would stop after 6 (icmp_ratelimit).
        var engine = Create();
        var o = Send(engine, Enumerable.Range(0, 20).Select(i => Udp("10.1.0.2", "10.2.0.2", 1401, dontFragment: true, id: (uint)i)));
        Assert.Equal(20, o.Count(x => x.Generated && Icmp(x) is { Type: 3, Code: 4 }));
        Assert.DoesNotContain(o, x => x.Reason?.Contains("suppressed", StringComparison.Ordinal) == true);
    }

    [Fact]
    public void A_reassembled_datagram_is_refused_only_when_its_largest_fragment_exceeds_the_MTU()
    {
        var engine = Create();
        var fits = Udp("10.1.0.2", "10.2.0.2", 2020, dontFragment: true, id: 11);
        var big = Udp("10.1.0.2", "10.2.0.3", 2100, dontFragment: true, id: 12);
        var o = Send(engine, [Fragment4(fits, 0, 1000), Fragment4(fits, 1000, 1000), Fragment4(big, 0, 1480), Fragment4(big, 1480, 1000)]);
        Assert.Equal(Disposition.Held, o[0].Disposition);
        Assert.Equal(Disposition.Forwarded, o[1].Disposition);
        Assert.True(o[1].Packet.Ip!.DontFragment);
        Assert.Equal("reassembled from 2 fragments; leaves as 2 fragments (largest fragment received 1020 bytes, MTU 1400)", o[1].Reason);
        Assert.Equal(Disposition.Held, o[2].Disposition);
        Assert.Equal((Disposition.Dropped, Hook.Prerouting), (o[3].Disposition, o[3].DroppedAt));
        Assert.Equal("fragmentation needed: the largest fragment received, 1500 bytes, exceeds the MTU 1400 of f1 (reassembled from 2 fragments)", o[3].Reason);
        var icmp = Icmp(o[4]);
        Assert.Equal((3, 4, 1400u), (icmp.Type, icmp.Code, icmp.Mtu));
        Assert.Equal(2100, icmp.Quoted!.Ip.TotalLength); // it quotes the whole datagram's header
    }

    [Fact]
    public void A_GRO_aggregate_is_forwarded_without_an_MTU_check()
    {
        // 3000 bytes through an interface of MTU 1500 cannot have been one frame: GRO merged it (tcpdump sees that).
        var host = Firewall() with { Interfaces = [.. Firewall().Interfaces.Select(i => i.Name == "f0" ? i with { Mtu = 1500 } : i)] };
        var o = Send(Create(host), [Udp("10.1.0.2", "10.2.0.2", 3000, dontFragment: true)]);
        Assert.Single(o);
        Assert.Equal(Disposition.Forwarded, o[0].Disposition);
        Assert.Equal("a GRO aggregate of 3000 bytes (more than the MTU 1500 of f0): leaves as GSO segments, whose size the capture does not give, so the MTU 1400 of f1 is not checked", o[0].Reason);
    }

    [Fact]
    public void Packets_the_host_makes_are_fragmented_or_sent_as_segments()
    {
        var engine = Engine.Create(TestRules.Load(Rules4), TestRules.Load(Rules6, Family.IPv6), Firewall(), EngineOptions.Default);
        var tcp = PacketBuilder.Build(new IpHeader
        {
            Family = Family.IPv4, Source = Address.Parse("10.2.0.1"), Destination = Address.Parse("10.2.0.2"), Protocol = IpProtocol.Tcp,
            Ttl = 64, DontFragment = true, TotalLength = 0, HeaderLength = 0,
        }, new TcpHeader(40000, 80, 1, 1, TcpFlags.Ack, 512), new byte[2960]);
        var icmp = PacketBuilder.Build(new IpHeader
        {
            Family = Family.IPv4, Source = Address.Parse("10.2.0.1"), Destination = Address.Parse("10.2.0.2"), Protocol = IpProtocol.Icmp,
            Ttl = 64, DontFragment = true, TotalLength = 0, HeaderLength = 0,
        }, new IcmpHeader(8, 0, false) { Identifier = 1, SequenceNumber = 1 }, new byte[1972]);
        var o = Send(engine, [tcp, Udp("10.2.0.1", "10.2.0.2", 2000), icmp, Udp("2001:db8:2::1", "2001:db8:2::2", 2000)], iface: null);
        Assert.Equal(4, o.Count);
        Assert.Equal((Disposition.Sent, "3000 bytes, more than the MTU 1400 of f1: a TSO/GSO packet, leaves as segments (not checked)"), (o[0].Disposition, o[0].Reason));
        Assert.Equal((Disposition.Sent, "leaves as 2 fragments (MTU 1400 of f1)"), (o[1].Disposition, o[1].Reason));
        Assert.Equal((Disposition.Dropped, Hook.Postrouting), (o[2].Disposition, o[2].DroppedAt));
        Assert.StartsWith("fragmentation needed: 2000 bytes exceeds the MTU 1400 of f1 (a datagram the host made with DF", o[2].Reason);
        // IPv6: 1400 - 40 - 8 = 1352, 1344 data bytes a fragment: 1960 → 2.
        Assert.Equal((Disposition.Sent, "leaves as 2 fragments (MTU 1400 of f1)"), (o[3].Disposition, o[3].Reason));
    }

    // ---- IPv6 ----

    [Fact]
    public void Ipv6_longer_than_the_MTU_is_refused_before_FORWARD_with_packet_too_big()
    {
        var engine = Create(family: Family.IPv6);
        var o = Send(engine, [Udp("2001:db8:1::2", "2001:db8:2::2", 1400), Udp("2001:db8:1::2", "2001:db8:2::2", 1401)]);
        Assert.Equal(3, o.Count);
        Assert.Equal((Disposition.Forwarded, null), (o[0].Disposition, o[0].Reason));
        Assert.Equal((Disposition.Dropped, Hook.Prerouting, "packet too big: 1401 bytes exceeds the MTU 1400 of f1"), (o[1].Disposition, o[1].DroppedAt, o[1].Reason));
        var icmp = Icmp(o[2]);
        Assert.Equal((2, 0, 1400u), (icmp.Type, icmp.Code, icmp.Mtu));
        Assert.Equal(("2001:db8:1::1", 1280), (o[2].Packet.Ip!.Source.ToString(), o[2].Packet.Ip!.TotalLength));
        Assert.Equal((2UL, 1UL, 1UL), Hooks(engine, Family.IPv6));
    }

    [Fact]
    public void Ipv6_an_unlocked_route_mtu_is_met_after_POSTROUTING_a_locked_one_before_FORWARD()
    {
        var engine = Create(family: Family.IPv6);
        var o = Send(engine, [Udp("2001:db8:1::2", "2001:db8:3::2", 1350), Udp("2001:db8:1::2", "2001:db8:4::2", 1350)]);
        Assert.Equal(4, o.Count);
        Assert.Equal((Disposition.Dropped, Hook.Postrouting, "packet too big: 1350 bytes exceeds the MTU 1300 of f1"), (o[0].Disposition, o[0].DroppedAt, o[0].Reason));
        Assert.Contains(o[0].Path, p => p.Hook == Hook.Forward);
        Assert.Equal((2, 1300u), (Icmp(o[1]).Type, Icmp(o[1]).Mtu));
        Assert.Equal(63, Icmp(o[1]).Quoted!.Ip.Ttl); // the packet as it was when ip6_fragment refused it
        Assert.Equal((Disposition.Dropped, Hook.Prerouting), (o[2].Disposition, o[2].DroppedAt));
        Assert.DoesNotContain(o[2].Path, p => p.Hook == Hook.Forward);
        Assert.Equal(1300u, Icmp(o[3]).Mtu);
        Assert.Equal((2UL, 1UL, 1UL), Hooks(engine, Family.IPv6));
    }

    [Fact]
    public void Ipv6_the_interface_mtu6_sysctl_is_the_IPv6_MTU()
    {
        var o = Send(Create(Firewall(Sysctls.Defaults.With("net.ipv6.conf.f1.mtu", "1300")), Family.IPv6), [Udp("2001:db8:1::2", "2001:db8:2::2", 1350)]);
        Assert.Equal("packet too big: 1350 bytes exceeds the MTU 1300 of f1", o[0].Reason);
    }

    [Fact]
    public void Ipv6_reassembled_datagrams_are_refused_by_their_largest_fragment()
    {
        var engine = Create(family: Family.IPv6);
        var fits = Udp("2001:db8:1::2", "2001:db8:2::2", 2040);
        var big = Udp("2001:db8:1::2", "2001:db8:2::3", 2040);
        var o = Send(engine, [Fragment6(fits, 0, 1000, 1), Fragment6(fits, 1000, 1000, 1), Fragment6(big, 0, 1448, 2), Fragment6(big, 1448, 1000, 2)]);
        Assert.Equal("reassembled from 2 fragments; leaves as 2 fragments (largest fragment received 1048 bytes, MTU 1400)", o[1].Reason);
        Assert.Equal("packet too big: the largest fragment received, 1496 bytes, exceeds the MTU 1400 of f1 (reassembled from 2 fragments)", o[3].Reason);
        Assert.Equal((2, 1400u), (Icmp(o[4]).Type, Icmp(o[4]).Mtu));
    }

    [Fact]
    public void Packet_too_big_is_limited_only_when_the_ratemask_names_it()
    {
        var burst = Enumerable.Range(0, 20).Select(_ => Udp("2001:db8:1::2", "2001:db8:2::2", 1401)).ToList();
        Assert.Equal(20, Send(Create(family: Family.IPv6), burst).Count(x => x.Generated));
        var masked = Create(Firewall(Sysctls.Defaults.With("net.ipv6.icmp.ratemask", "0-127")), Family.IPv6);
        var o = Send(masked, burst);
        Assert.Equal(7, o.Count(x => x.Generated)); // kernel 6.18: the burst of 6, then one 100 ms later (20 packets in 200 ms)
        Assert.EndsWith("ICMP error suppressed by net.ipv6.icmp.ratelimit", o.Last().Reason!);
    }

    // ---- the host description ----

    [Fact]
    public void Route_mtu_is_read_from_ip_json_and_from_the_yaml()
    {
        var dir = Directory.CreateTempSubdirectory("hx-mtu-host-");
        try
        {
            File.WriteAllText(Path.Combine(dir.FullName, "ip-addr.json"), """
                [{"ifindex":2,"ifname":"d0","mtu":1500,"address":"02:00:00:00:09:01","addr_info":[{"family":"inet","local":"10.9.0.1","prefixlen":24}]}]
                """);
            File.WriteAllText(Path.Combine(dir.FullName, "ip-route.json"), """
                [{"dst":"10.7.0.0/24","gateway":"10.9.0.2","dev":"d0","flags":["linkdown"],"metrics":[{"mtu":1300,"advmss":1200}]},
                 {"dst":"10.8.0.0/24","gateway":"10.9.0.2","dev":"d0","metrics":[{"mtu":["lock",1280]}]},
                 {"dst":"10.9.0.0/24","dev":"d0","protocol":"kernel","scope":"link","prefsrc":"10.9.0.1"}]
                """);
            var routes = HostLoader.LoadDirectory(dir.FullName).Routes.Where(r => r.Device == "d0").ToList();
            Assert.Equal([(1300, false), (1280, true), (0, false)], routes.Select(r => (r.Mtu, r.MtuLocked)));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
        var yaml = HostLoader.ParseYaml("""
            interfaces:
              - name: eth0
                mac: 02:00:00:00:01:01
                addresses: 10.1.0.1/24
            routes:
              - to: 10.5.0.0/16
                via: 10.1.0.254
                mtu: 1400
              - to: 10.6.0.0/16
                via: 10.1.0.254
                mtu: 1300
                mtu-lock: true
            """);
        Assert.Equal([(1400, false), (1300, true)], yaml.Routes.Where(r => r.Mtu > 0).Select(r => (r.Mtu, r.MtuLocked)));
        var e = Assert.Throws<HostFormatException>(() => HostLoader.ParseYaml("""
            interfaces:
              - name: eth0
                mac: 02:00:00:00:01:01
                addresses: 10.1.0.1/24
            routes:
              - to: 10.5.0.0/16
                via: 10.1.0.254
                mtu-lock: true
            """));
        Assert.Contains("'mtu-lock' needs an 'mtu'", e.Message);
    }

    // ---- the kernel on the same packets ----

    /// <summary>
    /// The packets sent, each to a destination of its own: IPv4 from 10.1.0.2 (1,400 bytes with DF; 1,401 with and
    /// without DF; 3,000 without and with DF; 1,350 with and without DF through the route MTU of 1,300; datagrams
    /// reassembled from 1,000 + 1,000 and 1,480 + 600 data bytes with DF; 1,401 with DF and TTL 1), IPv6 from
    /// 2001:db8:1::2 (1,400; 1,401; 3,000; 1,350 through the unlocked and the locked route MTU; reassembled from
    /// 1,000 + 1,000 and 1,448 + 544 data bytes).
    /// </summary>
    private static List<(string Destination, List<byte[]> Frames)> KernelTraffic()
    {
        const string c4 = "10.1.0.2", c6 = "2001:db8:1::2";
        var g = Udp(c4, "10.2.0.14", 2020, dontFragment: true, id: 107);
        var h = Udp(c4, "10.2.0.15", 2100, dontFragment: true, id: 108);
        var o = Udp(c6, "2001:db8:2::12", 2040);
        var p = Udp(c6, "2001:db8:2::13", 2040);
        return
        [
            ("10.2.0.10", [Udp(c4, "10.2.0.10", 1400, dontFragment: true, id: 101)]),
            ("10.2.0.11", [Udp(c4, "10.2.0.11", 1401, dontFragment: true, id: 102)]),
            ("10.2.0.12", [Udp(c4, "10.2.0.12", 1401, id: 103)]),
            ("10.2.0.13", [Udp(c4, "10.2.0.13", 3000, id: 104)]),
            ("10.3.0.10", [Udp(c4, "10.3.0.10", 1350, dontFragment: true, id: 105)]),
            ("10.3.0.11", [Udp(c4, "10.3.0.11", 1350, id: 106)]),
            ("10.2.0.14", [Fragment4(g, 0, 1000), Fragment4(g, 1000, 1000)]),
            ("10.2.0.15", [Fragment4(h, 0, 1480), Fragment4(h, 1480, 1000)]),
            ("10.2.0.16", [Udp(c4, "10.2.0.16", 1401, dontFragment: true, id: 109, ttl: 1)]),
            ("10.2.0.17", [Udp(c4, "10.2.0.17", 3000, dontFragment: true, id: 110)]),
            ("2001:db8:2::10", [Udp(c6, "2001:db8:2::10", 1400)]),
            ("2001:db8:2::11", [Udp(c6, "2001:db8:2::11", 1401)]),
            ("2001:db8:2::14", [Udp(c6, "2001:db8:2::14", 3000)]),
            ("2001:db8:3::10", [Udp(c6, "2001:db8:3::10", 1350)]),
            ("2001:db8:4::10", [Udp(c6, "2001:db8:4::10", 1350)]),
            ("2001:db8:2::12", [Fragment6(o, 0, 1000, 301), Fragment6(o, 1000, 1000, 301)]),
            ("2001:db8:2::13", [Fragment6(p, 0, 1448, 302), Fragment6(p, 1448, 1000, 302)]),
        ];
    }

    /// <summary>One counting rule per destination in mangle PREROUTING, filter FORWARD and mangle POSTROUTING; conntrack loaded.</summary>
    private static string KernelRules(IEnumerable<string> destinations, Family family)
    {
        var list = destinations.ToList();
        string Rules(string chain) => string.Join("\n", list.Select(d => $"-A {chain} -d {d}"));
        return $"""
            *mangle
            :PREROUTING ACCEPT [0:0]
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            :POSTROUTING ACCEPT [0:0]
            {Rules("PREROUTING")}
            {Rules("POSTROUTING")}
            COMMIT
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            {Rules("FORWARD")}
            -A FORWARD -m conntrack --ctstate NEW
            -A OUTPUT -p {(family == Family.IPv4 ? "icmp" : "ipv6-icmp")}
            COMMIT

            """;
    }

    /// <summary>Per destination: (PREROUTING, FORWARD, POSTROUTING) packets, frames that leave, and the ICMP errors sent back ("type/code mtu").</summary>
    private sealed record Run(Dictionary<string, (ulong, ulong, ulong)> Hooks, Dictionary<string, int> Leaving, Dictionary<string, string> Errors);

    private static Run ModelRun(List<(string Destination, List<byte[]> Frames)> traffic)
    {
        var hooks = new Dictionary<string, (ulong, ulong, ulong)>();
        var leaving = new Dictionary<string, int>();
        var errors = new Dictionary<string, string>();
        foreach (var family in new[] { Family.IPv4, Family.IPv6 })
        {
            var mine = traffic.Where(t => Address.Parse(t.Destination).Family == family).ToList();
            var ruleset = TestRules.Load(KernelRules(mine.Select(t => t.Destination), family), family);
            var engine = family == Family.IPv4
                ? Engine.Create(ruleset, null, Firewall(), EngineOptions.Default)
                : Engine.Create(null, ruleset, Firewall(), EngineOptions.Default);
            var outcomes = Send(engine, mine.SelectMany(t => t.Frames));
            foreach (var o in outcomes)
            {
                if (o.Generated && o.Packet.Transport is IcmpHeader { Quoted: { } quoted } icmp)
                    errors[quoted.Ip.Destination.ToString()] = Invariant($"{icmp.Type}/{icmp.Code} {icmp.Mtu}");
                else if (!o.Generated && o.Disposition == Disposition.Forwarded)
                {
                    var m = LeavesAs().Match(o.Reason ?? "");
                    leaving[o.Packet.Ip!.Destination.ToString()] = m.Success ? int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 1;
                }
            }
            for (int i = 0; i < mine.Count; i++)
                hooks[mine[i].Destination] = (engine.Counters.Get(family, "mangle", "PREROUTING", i + 1).Packets,
                    engine.Counters.Get(family, "filter", "FORWARD", i + 1).Packets, engine.Counters.Get(family, "mangle", "POSTROUTING", i + 1).Packets);
        }
        return new Run(hooks, leaving, errors);
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    [GeneratedRegex(@"leaves as (\d+) fragments")]
    private static partial Regex LeavesAs();

    [Fact]
    public void Model_outcomes_for_the_kernel_traffic()
    {
        var run = ModelRun(KernelTraffic());
        Assert.Equal(new Dictionary<string, string>
        {
            ["10.2.0.11"] = "3/4 1400", ["10.3.0.10"] = "3/4 1300", ["10.2.0.15"] = "3/4 1400", ["10.2.0.16"] = "11/0 0", ["10.2.0.17"] = "3/4 1400",
            ["2001:db8:2::11"] = "2/0 1400", ["2001:db8:2::14"] = "2/0 1400", ["2001:db8:3::10"] = "2/0 1300", ["2001:db8:4::10"] = "2/0 1300",
            ["2001:db8:2::13"] = "2/0 1400",
        }, run.Errors);
        Assert.Equal(new Dictionary<string, int>
        {
            ["10.2.0.10"] = 1, ["10.2.0.12"] = 2, ["10.2.0.13"] = 3, ["10.3.0.11"] = 2, ["10.2.0.14"] = 2,
            ["2001:db8:2::10"] = 1, ["2001:db8:2::12"] = 2,
        }, run.Leaving);
        Assert.Equal((1UL, 1UL, 1UL), run.Hooks["2001:db8:3::10"]); // through FORWARD and POSTROUTING, then refused
        Assert.Equal((1UL, 0UL, 0UL), run.Hooks["2001:db8:4::10"]);
        Assert.Equal((1UL, 0UL, 0UL), run.Hooks["10.2.0.11"]);
    }

    [Fact]
    public void Kernel_refuses_and_fragments_as_the_model_does()
    {
        if (!KernelShell.Available(out var why, "ip", "iptables-restore", "ip6tables-restore", "python3", "ethtool")) { output.WriteLine(why); return; }
        var traffic = KernelTraffic();
        var prefix = $"hx-mtu-{Environment.ProcessId}-{Interlocked.Increment(ref counter)}";
        var dir = Directory.CreateTempSubdirectory("hx-mtu-");
        try
        {
            static string Frame(byte[] p) => "02000000ff00" + "02000000cc01" + (p[0] >> 4 == 4 ? "0800" : "86dd") + Convert.ToHexString(p);
            File.WriteAllLines(Path.Combine(dir.FullName, "frames"), traffic.SelectMany(t => t.Frames).Select(Frame));
            var v4 = traffic.Where(t => !t.Destination.Contains(':', StringComparison.Ordinal)).Select(t => t.Destination).ToList();
            var v6 = traffic.Where(t => t.Destination.Contains(':', StringComparison.Ordinal)).Select(t => t.Destination).ToList();
            File.WriteAllText(Path.Combine(dir.FullName, "rules4"), KernelRules(v4, Family.IPv4));
            File.WriteAllText(Path.Combine(dir.FullName, "rules6"), KernelRules(v6, Family.IPv6));
            File.WriteAllLines(Path.Combine(dir.FullName, "dst4"), v4);
            File.WriteAllLines(Path.Combine(dir.FullName, "dst6"), v6);
            var text = KernelShell.Script(KernelScript, prefix, dir.FullName);
            output.WriteLine(text);
            var model = ModelRun(traffic);
            var lines = text.Split('\n');
            (ulong, ulong, ulong) KernelHooks(string d) =>
            (
                Count(lines, "PRE", d), Count(lines, "FWD", d), Count(lines, "POST", d)
            );
            foreach (var (d, _) in traffic)
            {
                Assert.True(model.Hooks[d] == KernelHooks(d), $"{d}: hooks model {model.Hooks[d]} kernel {KernelHooks(d)}");
                ulong arrived = Count(lines, "S", d);
                Assert.True((ulong)model.Leaving.GetValueOrDefault(d) == arrived, $"{d}: frames model {model.Leaving.GetValueOrDefault(d)} kernel {arrived}");
            }
            var kernelErrors = lines.Where(l => l.StartsWith("ERR ", StringComparison.Ordinal)).Select(l => l.Split(' '))
                .ToDictionary(w => w[1], w => w[2] + " " + w[3]);
            Assert.Equal(model.Errors.OrderBy(e => e.Key, StringComparer.Ordinal), kernelErrors.OrderBy(e => e.Key, StringComparer.Ordinal));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>The packet counter of the line "TAG DESTINATION PACKETS" the script prints (0 when absent).</summary>
    private static ulong Count(string[] lines, string tag, string destination) =>
        lines.Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(w => w.Length == 3 && w[0] == tag && w[1] == destination)
            .Aggregate(0UL, (sum, w) => sum + ulong.Parse(w[2], CultureInfo.InvariantCulture));

    /// <summary>
    /// Client c, firewall f, server s: c0 ↔ f0 (MTU 4000), f1 ↔ s0 (MTU 1400), offloads off, static neighbours, the
    /// routes with MTU metrics of <see cref="Firewall"/>. Frames leave c by AF_PACKET; the same socket reads the ICMP
    /// errors f sends back (ERR quoted-destination type/code mtu); s counts the frames that arrive per destination in
    /// raw PREROUTING (no conntrack there, so nothing is reassembled).
    /// </summary>
    private const string KernelScript = """
        P=$1; D=$2
        trap 'for n in c f s; do ip netns del $P-$n 2>/dev/null; done; true' EXIT
        set -e
        for n in c f s; do ip netns add $P-$n; done
        ip link add c0 netns $P-c address 02:00:00:00:cc:01 mtu 4000 type veth peer name f0 netns $P-f address 02:00:00:00:ff:00 mtu 4000
        ip link add f1 netns $P-f address 02:00:00:00:ff:01 mtu 1400 type veth peer name s0 netns $P-s address 02:00:00:00:55:01 mtu 1400
        ip netns exec $P-c sh -c 'sysctl -qw net.ipv6.conf.all.disable_ipv6=1; ip link set c0 up; ethtool -K c0 tx off tso off gso off gro off >/dev/null 2>&1 || true'
        ip netns exec $P-f sh -c '
          sysctl -qw net.ipv4.ip_forward=1; sysctl -qw net.ipv6.conf.all.forwarding=1; sysctl -qw net.ipv4.icmp_ratelimit=0
          ip link set lo up; ip link set f0 up; ip link set f1 up
          for i in f0 f1; do ethtool -K $i tx off tso off gso off gro off >/dev/null 2>&1 || true; done
          ip addr add 10.1.0.1/24 dev f0; ip addr add 10.2.0.1/24 dev f1
          ip -6 addr add 2001:db8:1::1/64 dev f0 nodad; ip -6 addr add 2001:db8:2::1/64 dev f1 nodad
          ip neigh replace 10.1.0.2 lladdr 02:00:00:00:cc:01 dev f0 nud permanent
          ip -6 neigh replace 2001:db8:1::2 lladdr 02:00:00:00:cc:01 dev f0 nud permanent
          for h in 2 10 11 12 13 14 15 16 17; do ip neigh replace 10.2.0.$h lladdr 02:00:00:00:55:01 dev f1 nud permanent; done
          for h in 2 10 11 12 13 14; do ip -6 neigh replace 2001:db8:2::$h lladdr 02:00:00:00:55:01 dev f1 nud permanent; done
          ip route add 10.3.0.0/24 via 10.2.0.2 dev f1 mtu 1300
          ip -6 route add 2001:db8:3::/64 via 2001:db8:2::2 dev f1 mtu 1300
          ip -6 route add 2001:db8:4::/64 via 2001:db8:2::2 dev f1 mtu lock 1300'
        ip netns exec $P-s sh -c 'ip link set s0 up; ethtool -K s0 tx off tso off gso off gro off >/dev/null 2>&1 || true
          ip addr add 10.2.0.2/24 dev s0; ip -6 addr add 2001:db8:2::2/64 dev s0 nodad'
        ip netns exec $P-f iptables-restore < $D/rules4
        ip netns exec $P-f ip6tables-restore < $D/rules6
        { printf '*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n'; while read d; do echo "-A PREROUTING -d $d"; done < $D/dst4; echo COMMIT; } | ip netns exec $P-s iptables-restore
        { printf '*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n'; while read d; do echo "-A PREROUTING -d $d"; done < $D/dst6; echo COMMIT; } | ip netns exec $P-s ip6tables-restore
        ip netns exec $P-f nstat -n >/dev/null 2>&1 || true
        sleep 0.3
        ip netns exec $P-c python3 -c '
        import socket, sys, time, ipaddress
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
        s.bind(("c0", 0))
        s.setblocking(False)
        def drain():
            while True:
                try:
                    data, addr = s.recvfrom(65535)
                except BlockingIOError:
                    return
                if addr[2] == socket.PACKET_OUTGOING:
                    continue
                et = int.from_bytes(data[12:14], "big"); ip = data[14:]
                if et == 0x0800 and ip[9] == 1:
                    ic = ip[(ip[0] & 15) * 4:]
                    q = ic[8:]
                    print("ERR", ipaddress.ip_address(q[16:20]), "%d/%d" % (ic[0], ic[1]), int.from_bytes(ic[6:8], "big"))
                elif et == 0x86DD and ip[6] == 58 and ip[40] < 128:
                    ic = ip[40:]
                    q = ic[8:]
                    print("ERR", ipaddress.ip_address(q[24:40]), "%d/%d" % (ic[0], ic[1]), int.from_bytes(ic[4:8], "big"))
        for line in open(sys.argv[1]):
            if line.strip():
                s.send(bytes.fromhex(line.strip()))
                time.sleep(0.02)
                drain()
        time.sleep(0.3)
        drain()
        ' $D/frames
        sleep 0.3
        ip netns exec $P-f iptables -t mangle -L PREROUTING -v -n -x | tail -n +3 | awk '{print "PRE", $8, $1}'
        ip netns exec $P-f iptables -L FORWARD -v -n -x | tail -n +3 | awk '{print "FWD", $8, $1}'
        ip netns exec $P-f iptables -t mangle -L POSTROUTING -v -n -x | tail -n +3 | awk '{print "POST", $8, $1}'
        ip netns exec $P-f ip6tables -t mangle -L PREROUTING -v -n -x | tail -n +3 | awk '{print "PRE", $8, $1}'
        ip netns exec $P-f ip6tables -L FORWARD -v -n -x | tail -n +3 | awk '{print "FWD", $8, $1}'
        ip netns exec $P-f ip6tables -t mangle -L POSTROUTING -v -n -x | tail -n +3 | awk '{print "POST", $8, $1}'
        ip netns exec $P-s iptables -t raw -L PREROUTING -v -n -x | tail -n +3 | awk '{print "S", $8, $1}'
        ip netns exec $P-s ip6tables -t raw -L PREROUTING -v -n -x | tail -n +3 | awk '{print "S", $8, $1}'
        ip netns exec $P-f iptables -L OUTPUT -v -n -x
        ip netns exec $P-f ip6tables -L OUTPUT -v -n -x
        ip netns exec $P-f nstat 2>/dev/null | grep -Ei 'frag|toobig|reasm' || true
        """;
}
