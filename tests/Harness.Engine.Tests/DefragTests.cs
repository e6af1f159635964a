using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Harness.Engine.Tests.Support;
using Harness.Hosts;
using Harness.Net;
using Harness.Packets;
using Xunit.Abstractions;

namespace Harness.Engine.Tests;

/// <summary>
/// Fragment reassembly before conntrack (nf_defrag_ipv4 / nf_defrag_ipv6): held fragments, the completing fragment
/// carrying the whole datagram through the rules, duplicates, overlaps, expiry, NAT, re-fragmentation on output; the
/// kernel check sends the same fragments through a forwarding namespace (hx-defrag-PID-N, always deleted) and compares
/// the rule counters and the number of fragments that come out.
/// </summary>
public sealed partial class DefragTests(ITestOutputHelper output)
{
    private static int counter;

    private const string Client = "198.51.100.7";
    private const string Server = "192.168.1.53";

    // ---- building fragments ----

    /// <summary>A UDP datagram (IPv4 or IPv6) with <paramref name="payload"/> bytes of counting data.</summary>
    private static byte[] UdpDatagram(string source, string destination, ushort sourcePort, ushort destinationPort, int payload, uint id = 1, bool dontFragment = false)
    {
        var src = Address.Parse(source);
        var data = Enumerable.Range(0, payload).Select(i => (byte)(i * 7 + 3)).ToArray();
        return PacketBuilder.Build(new IpHeader
        {
            Family = src.Family, Source = src, Destination = Address.Parse(destination), Protocol = IpProtocol.Udp,
            Ttl = 64, Id = src.Family == Family.IPv4 ? id : 0, DontFragment = dontFragment, TotalLength = 0, HeaderLength = 0,
        }, new UdpHeader(sourcePort, destinationPort, 0), data);
    }

    /// <summary>
    /// The fragment of an IPv4 datagram carrying data bytes [offset, offset + length) (clamped to the datagram), with
    /// MF unless it reaches the end (or <paramref name="more"/> says otherwise).
    /// </summary>
    private static byte[] Fragment4(byte[] datagram, int offset, int length, bool? more = null)
    {
        int hl = (datagram[0] & 0x0F) * 4;
        int dataLength = datagram.Length - hl;
        length = Math.Min(length, dataLength - offset);
        var f = new byte[hl + length];
        datagram.AsSpan(0, hl).CopyTo(f);
        datagram.AsSpan(hl + offset, length).CopyTo(f.AsSpan(hl));
        bool mf = more ?? offset + length < dataLength;
        ushort flags = (ushort)(BinaryPrimitives.ReadUInt16BigEndian(datagram.AsSpan(6)) & 0x4000);
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(2), (ushort)f.Length);
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(6), (ushort)(flags | (mf ? 0x2000 : 0) | (offset / 8)));
        f[10] = f[11] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(10), InternetChecksum.Compute(f.AsSpan(0, hl)));
        return f;
    }

    /// <summary>The same for an IPv6 datagram (no extension headers): a fragment header with <paramref name="id"/> inserted.</summary>
    private static byte[] Fragment6(byte[] datagram, int offset, int length, uint id, bool? more = null)
    {
        int dataLength = datagram.Length - 40;
        length = Math.Min(length, dataLength - offset);
        var f = new byte[48 + length];
        datagram.AsSpan(0, 40).CopyTo(f);
        f[6] = IpProtocol.Ipv6Frag;
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(4), (ushort)(8 + length));
        f[40] = datagram[6];
        bool mf = more ?? offset + length < dataLength;
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(42), (ushort)(offset | (mf ? 1 : 0)));
        BinaryPrimitives.WriteUInt32BigEndian(f.AsSpan(44), id);
        datagram.AsSpan(40 + offset, length).CopyTo(f.AsSpan(48));
        return f;
    }

    private const string CountingRules = """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A FORWARD -p udp --dport 53
        -A FORWARD -m conntrack --ctstate NEW
        -A FORWARD -f
        COMMIT
        """;

    private static Engine Router(string rules, Family family = Family.IPv4, Sysctls? sysctls = null)
    {
        var ruleset = TestRules.Load(rules, family);
        var host = TestHosts.Router(sysctls: sysctls);
        return family == Family.IPv4 ? Engine.Create(ruleset, null, host, EngineOptions.Default) : Engine.Create(null, ruleset, host, EngineOptions.Default);
    }

    private static List<Outcome> Send(Engine engine, IEnumerable<(byte[] Bytes, double Time)> packets, string? iface = "eth0")
    {
        var outcomes = new List<Outcome>();
        int n = 0;
        foreach (var (bytes, time) in packets)
            outcomes.AddRange(engine.Process(PacketDecoder.Decode(bytes, ++n, Timestamp.FromSeconds(time), iface)));
        return outcomes;
    }

    private static void AssertHeld(Outcome o)
    {
        Assert.Equal((FinalVerdict.Stolen, Disposition.Held, "held for reassembly"), (o.Verdict, o.Disposition, o.Reason));
        Assert.Empty(o.Path);
        Assert.Null(o.Conntrack);
        Assert.Equal(Hook.Prerouting, o.DroppedAt);
    }

    /// <summary>The datagram forwarded once: rule 1 (udp dport 53) and rule 2 (NEW) count it with its whole length, -f never.</summary>
    private static void AssertForwardedWhole(Engine engine, Outcome o, int length, long number)
    {
        var family = o.Packet.Ip!.Family;
        Assert.Equal((FinalVerdict.Accept, Disposition.Forwarded, "eth1"), (o.Verdict, o.Disposition, o.OutInterface));
        Assert.Equal(number, o.PacketNumber);
        Assert.False(o.Packet.Ip!.IsFragment);
        Assert.Equal(length, o.Packet.Ip.TotalLength);
        var udp = Assert.IsType<UdpHeader>(o.Packet.Transport);
        Assert.Equal((53, true), (udp.DestinationPort, udp.ChecksumValid));
        Assert.Equal("NEW", o.Conntrack!.StateSeen);
        Assert.Equal(["FORWARD:filter:FORWARD", "FORWARD:filter:FORWARD:1", "FORWARD:filter:FORWARD:2", "FORWARD:filter:FORWARD:policy"],
            o.Path.Where(p => p.Hook == Hook.Forward).Select(p => p.ToString()));
        Assert.Equal((1UL, (ulong)length), (engine.Counters.Get(family, "filter", "FORWARD", 1).Packets, engine.Counters.Get(family, "filter", "FORWARD", 1).Bytes));
        Assert.Equal((1UL, (ulong)length), (engine.Counters.Get(family, "filter", "FORWARD", 2).Packets, engine.Counters.Get(family, "filter", "FORWARD", 2).Bytes));
        if (family == Family.IPv4) Assert.Equal(0UL, engine.Counters.Get(family, "filter", "FORWARD", 3).Packets);
        Assert.Equal(0, engine.HeldDatagrams);
    }

    // ---- IPv4 ----

    [Fact]
    public void Three_fragments_in_order_are_held_then_cross_the_rules_once_as_the_whole_datagram()
    {
        var d = UdpDatagram(Client, Server, 40000, 53, 100); // 128 bytes: 108 of data, fragments of 48 + 48 + 12
        var engine = Router(CountingRules);
        var o = Send(engine, [(Fragment4(d, 0, 48), 1), (Fragment4(d, 48, 48), 1.1), (Fragment4(d, 96, 48), 1.2)]);
        Assert.Equal(3, o.Count);
        AssertHeld(o[0]);
        AssertHeld(o[1]);
        AssertForwardedWhole(engine, o[2], 128, 3);
        Assert.Equal(d.AsSpan(20).ToArray(), o[2].Packet.Raw.Span[20..].ToArray()); // same data and UDP header
        Assert.Equal(63, o[2].Packet.Ip!.Ttl);
        Assert.Equal("reassembled from 3 fragments; leaves as 3 fragments (largest fragment received 68 bytes, MTU 1500)", o[2].Reason);
    }

    [Fact]
    public void Out_of_order_fragments_complete_with_the_last_one_to_arrive()
    {
        var d = UdpDatagram(Client, Server, 40000, 53, 100);
        var engine = Router(CountingRules);
        var o = Send(engine, [(Fragment4(d, 96, 48), 1), (Fragment4(d, 0, 48), 1.1), (Fragment4(d, 48, 48), 1.2)]);
        AssertHeld(o[0]);
        AssertHeld(o[1]);
        AssertForwardedWhole(engine, o[2], 128, 3);
        Assert.Equal(d.AsSpan(28).ToArray(), o[2].Packet.Raw.Span[28..].ToArray());
    }

    [Fact]
    public void A_duplicate_fragment_is_discarded_and_the_queue_kept()
    {
        var d = UdpDatagram(Client, Server, 40000, 53, 100);
        var engine = Router(CountingRules);
        var o = Send(engine, [(Fragment4(d, 0, 48), 1), (Fragment4(d, 48, 48), 1.1), (Fragment4(d, 48, 48), 1.15), (Fragment4(d, 96, 48), 1.2)]);
        Assert.Equal(4, o.Count);
        AssertHeld(o[0]);
        AssertHeld(o[1]);
        Assert.Equal((FinalVerdict.Drop, Disposition.Dropped), (o[2].Verdict, o[2].Disposition));
        Assert.Equal("duplicate fragment (reassembly discards it)", o[2].Reason);
        Assert.Empty(o[2].Path);
        AssertForwardedWhole(engine, o[3], 128, 4);
    }

    [Fact]
    public void An_overlapping_fragment_discards_the_whole_queue()
    {
        var d = UdpDatagram(Client, Server, 40000, 53, 100);
        var engine = Router(CountingRules);
        var o = Send(engine,
        [
            (Fragment4(d, 0, 48), 1), (Fragment4(d, 40, 48), 1.1), // overlaps bytes 40-47 of the first
            (Fragment4(d, 48, 48), 1.2), (Fragment4(d, 96, 48), 1.3), // a new queue without its first fragment
        ]);
        AssertHeld(o[0]);
        Assert.Equal(Disposition.Dropped, o[1].Disposition);
        Assert.Equal("overlapping fragment: reassembly discards it and the 1 fragment held with it", o[1].Reason);
        AssertHeld(o[2]);
        AssertHeld(o[3]);
        Assert.Equal(1, engine.HeldDatagrams);
        Assert.Equal(0UL, engine.Counters.Get(Family.IPv4, "filter", "FORWARD", 1).Packets);
        Assert.Equal(0UL, engine.Counters.Policy(Family.IPv4, "filter", "FORWARD").Packets);
    }

    [Fact]
    public void An_incomplete_datagram_expires_after_ipfrag_time()
    {
        var d = UdpDatagram(Client, Server, 40000, 53, 100);
        var engine = Router(CountingRules);
        var o = Send(engine, [(Fragment4(d, 0, 48), 10), (Fragment4(d, 48, 48), 20), (Fragment4(d, 96, 48), 40.0)]);
        // 30 s after the first fragment the queue is gone: the last fragment starts a queue of its own.
        Assert.All(o, AssertHeld);
        Assert.Equal(1, engine.HeldDatagrams);
        Assert.Equal(0UL, engine.Counters.Get(Family.IPv4, "filter", "FORWARD", 1).Packets);

        // Just inside the timeout it completes; net.ipv4.ipfrag_time changes the timeout.
        var inTime = Send(Router(CountingRules), [(Fragment4(d, 0, 48), 10), (Fragment4(d, 48, 48), 20), (Fragment4(d, 96, 48), 39.9)]);
        Assert.Equal(Disposition.Forwarded, inTime[2].Disposition);
        var shorter = Router(CountingRules, sysctls: Sysctls.Defaults.With("net.ipv4.ipfrag_time", "5"));
        Assert.All(Send(shorter, [(Fragment4(d, 0, 48), 10), (Fragment4(d, 48, 48), 12), (Fragment4(d, 96, 48), 15.5)]), AssertHeld);
    }

    [Fact]
    public void Fragments_of_different_datagrams_are_kept_apart()
    {
        var a = UdpDatagram(Client, Server, 40000, 53, 100, id: 7);
        var b = UdpDatagram(Client, Server, 40001, 53, 100, id: 8);
        var engine = Router(CountingRules);
        var o = Send(engine,
        [
            (Fragment4(a, 0, 48), 1), (Fragment4(b, 0, 48), 1.1), (Fragment4(b, 48, 48), 1.2),
            (Fragment4(a, 48, 64), 1.3), (Fragment4(b, 96, 48), 1.4),
        ]);
        Assert.Equal([Disposition.Held, Disposition.Held, Disposition.Held, Disposition.Forwarded, Disposition.Forwarded], o.Select(x => x.Disposition));
        Assert.Equal((4L, 40000), (o[3].PacketNumber, (int)((UdpHeader)o[3].Packet.Transport!).SourcePort));
        Assert.Equal((5L, 40001), (o[4].PacketNumber, (int)((UdpHeader)o[4].Packet.Transport!).SourcePort));
        // a came in two fragments (48 + 60 data bytes): the largest, 80 bytes, sets how it leaves.
        Assert.Equal("reassembled from 2 fragments; leaves as 2 fragments (largest fragment received 80 bytes, MTU 1500)", o[3].Reason);
        Assert.Equal(2UL, engine.Counters.Get(Family.IPv4, "filter", "FORWARD", 1).Packets);
    }

    [Fact]
    public void A_fragmented_datagram_is_dnatted_as_one_packet()
    {
        var engine = Router("""
            *nat
            :PREROUTING ACCEPT [0:0]
            :INPUT ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            :POSTROUTING ACCEPT [0:0]
            -A PREROUTING -p udp --dport 53 -j DNAT --to-destination 192.168.1.99:5353
            COMMIT
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD DROP [0:0]
            :OUTPUT ACCEPT [0:0]
            -A FORWARD -d 192.168.1.99/32 -p udp --dport 5353 -j ACCEPT
            COMMIT
            """);
        var d = UdpDatagram(Client, "203.0.113.1", 40000, 53, 100);
        var o = Send(engine, [(Fragment4(d, 48, 48), 1), (Fragment4(d, 96, 48), 1.1), (Fragment4(d, 0, 48), 1.2)]);
        AssertHeld(o[0]);
        AssertHeld(o[1]);
        var whole = o[2];
        Assert.Equal((Disposition.Forwarded, "filter:FORWARD:1"), (whole.Disposition, whole.DecidingRule));
        Assert.Equal("192.168.1.99", whole.Packet.Ip!.Destination.ToString());
        var udp = Assert.IsType<UdpHeader>(whole.Packet.Transport);
        Assert.Equal((5353, true), (udp.DestinationPort, udp.ChecksumValid));
        Assert.Contains("192.168.1.99", whole.Conntrack!.Nat);
        Assert.Equal(128, whole.Packet.Ip.TotalLength);
        Assert.Equal(1UL, engine.Counters.Get(Family.IPv4, "nat", "PREROUTING", 1).Packets);
        Assert.Equal((1UL, 128UL), (engine.Counters.Get(Family.IPv4, "filter", "FORWARD", 1).Packets, engine.Counters.Get(Family.IPv4, "filter", "FORWARD", 1).Bytes));
        Assert.EndsWith("leaves as 3 fragments (largest fragment received 68 bytes, MTU 1500)", whole.Reason);
    }

    [Fact]
    public void The_reassembled_datagram_keeps_DF_only_when_the_largest_fragment_had_it()
    {
        var d = UdpDatagram(Client, Server, 40000, 53, 100, dontFragment: true);
        var engine = Router(CountingRules);
        var o = Send(engine, [(Fragment4(d, 0, 48), 1), (Fragment4(d, 48, 48), 1.1), (Fragment4(d, 96, 48), 1.2)]);
        Assert.True(o[2].Packet.Ip!.DontFragment);
        var plain = UdpDatagram(Client, Server, 40000, 53, 100);
        var sameSize = Send(Router(CountingRules), [(Fragment4(d, 0, 48), 1), (Fragment4(plain, 48, 48), 1.1), (Fragment4(d, 96, 48), 1.2)]);
        Assert.True(sameSize[2].Packet.Ip!.DontFragment); // a DF fragment is as large as the largest (68 bytes)
        var mixed = Send(Router(CountingRules), [(Fragment4(d, 0, 40), 1), (Fragment4(plain, 40, 56), 1.1), (Fragment4(d, 96, 48), 1.2)]);
        Assert.False(mixed[2].Packet.Ip!.DontFragment); // the largest fragment (76 bytes) has no DF
        Assert.EndsWith("leaves as 3 fragments (largest fragment received 76 bytes, MTU 1500)", mixed[2].Reason);
    }

    [Fact]
    public void A_delivered_datagram_says_it_was_reassembled()
    {
        var d = UdpDatagram(Client, "203.0.113.1", 40000, 53, 100);
        var engine = Router("""
            *filter
            :INPUT DROP [0:0]
            :FORWARD DROP [0:0]
            :OUTPUT ACCEPT [0:0]
            -A INPUT -p udp --dport 53 -j ACCEPT
            COMMIT
            """);
        var o = Send(engine, [(Fragment4(d, 0, 48), 1), (Fragment4(d, 48, 48), 1.1), (Fragment4(d, 96, 48), 1.2)]);
        Assert.Equal((Disposition.Delivered, "filter:INPUT:1", "reassembled from 3 fragments"), (o[2].Disposition, o[2].DecidingRule, o[2].Reason));
        Assert.Equal(0UL, engine.Counters.Policy(Family.IPv4, "filter", "INPUT").Packets);
    }

    [Fact]
    public void Fragments_the_host_sends_itself_are_gathered_at_OUTPUT()
    {
        // A raw socket's own fragments (no interface, local source): OUTPUT's defrag (a user of its own) holds them.
        var engine = Engine.Create(TestRules.Load("""
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A OUTPUT -p udp --dport 53
            COMMIT
            """), null, TestHosts.Server(), EngineOptions.Default);
        var d = UdpDatagram("10.0.0.10", "10.0.0.53", 40000, 53, 100);
        var o = Send(engine, [(Fragment4(d, 0, 48), 1), (Fragment4(d, 48, 48), 1.1), (Fragment4(d, 96, 48), 1.2)], iface: null);
        Assert.All(o.Take(2), h =>
        {
            Assert.Equal((FinalVerdict.Stolen, Disposition.Held, Hook.Output), (h.Verdict, h.Disposition, h.DroppedAt));
            Assert.Null(h.InInterface);
        });
        Assert.Equal((Disposition.Sent, "eth0", 128), (o[2].Disposition, o[2].OutInterface, o[2].Packet.Ip!.TotalLength));
        Assert.Equal("reassembled from 3 fragments; leaves as 3 fragments (largest fragment received 68 bytes, MTU 1500)", o[2].Reason);
        Assert.Equal((1UL, 128UL), (engine.Counters.Get(Family.IPv4, "filter", "OUTPUT", 1).Packets, engine.Counters.Get(Family.IPv4, "filter", "OUTPUT", 1).Bytes));
    }

    // ---- IPv6 ----

    private const string CountingRules6 = """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A FORWARD -p udp --dport 53
        -A FORWARD -m conntrack --ctstate NEW
        COMMIT
        """;

    [Fact]
    public void Ipv6_fragments_in_order_out_of_order_and_duplicated_give_one_datagram()
    {
        var d = UdpDatagram("2001:db8:1::7", "2001:db8:2::53", 40000, 53, 100); // 148 bytes, 108 of data
        foreach (var order in new[] { new[] { 0, 48, 96 }, [96, 0, 48], [0, 48, 48, 96] })
        {
            var engine = Router(CountingRules6, Family.IPv6);
            var o = Send(engine, order.Select((off, i) => (Fragment6(d, off, 48, 0x1234), 1 + i / 10.0)));
            Assert.Equal(order.Length, o.Count);
            AssertHeld(o[0]);
            AssertHeld(o[1]);
            if (order.Length == 4) Assert.Equal("duplicate fragment (reassembly discards it)", o[2].Reason);
            var whole = o[^1];
            AssertForwardedWhole(engine, whole, 148, order.Length);
            Assert.DoesNotContain(IpProtocol.Ipv6Frag, whole.Packet.Ip!.ExtensionHeaders);
            Assert.Equal(d.AsSpan(8).ToArray(), whole.Packet.Raw.Span[8..].ToArray()); // all but the hop limit's word
            Assert.Equal("reassembled from 3 fragments; leaves as 3 fragments (largest fragment received 96 bytes, MTU 1500)", whole.Reason);
        }
    }

    [Fact]
    public void Ipv6_incomplete_datagram_expires_after_nf_conntrack_frag6_timeout()
    {
        var d = UdpDatagram("2001:db8:1::7", "2001:db8:2::53", 40000, 53, 100);
        var late = Router(CountingRules6, Family.IPv6);
        Assert.All(Send(late, [(Fragment6(d, 0, 48, 9), 0), (Fragment6(d, 48, 48, 9), 30), (Fragment6(d, 96, 48, 9), 60)]), AssertHeld);
        Assert.Equal(1, late.HeldDatagrams);
        var inTime = Send(Router(CountingRules6, Family.IPv6), [(Fragment6(d, 0, 48, 9), 0), (Fragment6(d, 48, 48, 9), 30), (Fragment6(d, 96, 48, 9), 59.9)]);
        Assert.Equal(Disposition.Forwarded, inTime[2].Disposition);
    }

    [Fact]
    public void Ipv6_overlap_discards_the_queue()
    {
        var d = UdpDatagram("2001:db8:1::7", "2001:db8:2::53", 40000, 53, 100);
        var engine = Router(CountingRules6, Family.IPv6);
        var o = Send(engine, [(Fragment6(d, 0, 48, 5), 1), (Fragment6(d, 40, 48, 5), 1.1), (Fragment6(d, 96, 48, 5), 1.2)]);
        AssertHeld(o[0]);
        Assert.StartsWith("overlapping fragment", o[1].Reason);
        AssertHeld(o[2]);
        Assert.Equal(0UL, engine.Counters.Get(Family.IPv6, "filter", "FORWARD", 1).Packets);
    }

    // ---- the kernel on the same fragments ----

    private static readonly MacAddress FirewallMac = MacAddress.Parse("02:00:00:00:ff:00");

    private const string KernelRules4 = """
        *nat
        :PREROUTING ACCEPT [0:0]
        :INPUT ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :POSTROUTING ACCEPT [0:0]
        -A PREROUTING -p udp --dport 54 -j DNAT --to-destination 10.2.0.3:5353
        COMMIT
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A FORWARD -p udp --dport 53
        -A FORWARD -m conntrack --ctstate NEW
        -A FORWARD -f
        -A FORWARD -d 10.2.0.3/32 -p udp --dport 5353
        COMMIT
        """;

    private const string KernelRules6 = """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A FORWARD -p udp --dport 53
        -A FORWARD -m conntrack --ctstate NEW
        COMMIT
        """;

    /// <summary>
    /// The fragments sent, in order: IPv4 10.1.0.2 → 10.2.0.2 (in order; out of order; a duplicate; an overlap that
    /// discards its queue; fragments of 80 + 16 + 12 data bytes; 2,980 bytes in two fragments of 1,500 bytes, forwarded
    /// through f1's MTU of 1,280) and one to port 54 that the firewall DNATs to
    /// 10.2.0.3:5353; IPv6 2001:db8:1::2 → 2001:db8:2::2 in order, out of order, duplicated and overlapping. Then one of each family
    /// whose last fragment comes after the reassembly timeout (ipfrag_time and nf_conntrack_frag6_timeout set to 2 s).
    /// </summary>
    private static (List<byte[]> V4, List<byte[]> V6, List<byte[]> V4Late, List<byte[]> V6Late) KernelTraffic()
    {
        var v4 = new List<byte[]>();
        byte[] D4(uint id, ushort dport = 53) => UdpDatagram("10.1.0.2", "10.2.0.2", (ushort)(1000 + id), dport, 100, id);
        var a = D4(101); v4.AddRange([Fragment4(a, 0, 48), Fragment4(a, 48, 48), Fragment4(a, 96, 48)]);
        var b = D4(102); v4.AddRange([Fragment4(b, 96, 48), Fragment4(b, 0, 48), Fragment4(b, 48, 48)]);
        var c = D4(103); v4.AddRange([Fragment4(c, 0, 48), Fragment4(c, 48, 48), Fragment4(c, 48, 48), Fragment4(c, 96, 48)]);
        var d = D4(104); v4.AddRange([Fragment4(d, 0, 48), Fragment4(d, 40, 48), Fragment4(d, 48, 48), Fragment4(d, 96, 48)]);
        var e = D4(105, 54); v4.AddRange([Fragment4(e, 0, 48), Fragment4(e, 48, 48), Fragment4(e, 96, 48)]);
        var f = D4(106); v4.AddRange([Fragment4(f, 0, 80), Fragment4(f, 80, 16), Fragment4(f, 96, 48)]);
        var big = UdpDatagram("10.1.0.2", "10.2.0.2", 1107, 53, 2952, 107); // 2980 bytes in 1480 + 1480, out by an MTU of 1280
        v4.AddRange([Fragment4(big, 0, 1480), Fragment4(big, 1480, 1480)]);
        var expiring = D4(108); v4.AddRange([Fragment4(expiring, 0, 48), Fragment4(expiring, 48, 48)]);

        var v6 = new List<byte[]>();
        byte[] D6(ushort sport) => UdpDatagram("2001:db8:1::2", "2001:db8:2::2", sport, 53, 100);
        var g = D6(2001); v6.AddRange([Fragment6(g, 0, 48, 201), Fragment6(g, 48, 48, 201), Fragment6(g, 96, 48, 201)]);
        var h = D6(2002); v6.AddRange([Fragment6(h, 96, 48, 202), Fragment6(h, 0, 48, 202), Fragment6(h, 48, 48, 202)]);
        var i = D6(2003); v6.AddRange([Fragment6(i, 0, 48, 203), Fragment6(i, 48, 48, 203), Fragment6(i, 48, 48, 203), Fragment6(i, 96, 48, 203)]);
        var j = D6(2004); v6.AddRange([Fragment6(j, 0, 48, 204), Fragment6(j, 40, 48, 204), Fragment6(j, 48, 48, 204), Fragment6(j, 96, 48, 204)]);
        var k = D6(2005); v6.AddRange([Fragment6(k, 0, 48, 205), Fragment6(k, 48, 48, 205)]);
        // After the reassembly timeout (2 s in the firewall): the last fragments of 108 and 205 find no queue.
        return (v4, v6, [Fragment4(expiring, 96, 48)], [Fragment6(k, 96, 48, 205)]);
    }

    private static Host Firewall() => new(
        [
            new HostInterface("lo", 1, new MacAddress(0), [new InterfaceAddress(Address.Parse("127.0.0.1"), 8), new InterfaceAddress(Address.Parse("::1"), 128)], IsLoopback: true, Mtu: 65536),
            new HostInterface("f0", 2, FirewallMac, [new InterfaceAddress(Address.Parse("10.1.0.1"), 24), new InterfaceAddress(Address.Parse("2001:db8:1::1"), 64)]),
            new HostInterface("f1", 3, MacAddress.Parse("02:00:00:00:ff:01"), [new InterfaceAddress(Address.Parse("10.2.0.1"), 24), new InterfaceAddress(Address.Parse("2001:db8:2::1"), 64)], Mtu: 1280),
        ],
        ImmutableArray<Route>.Empty,
        ImmutableArray<RoutingRule>.Empty,
        Sysctls.Defaults.With("net.ipv4.ip_forward", "1").With("net.ipv6.conf.all.forwarding", "1")
            .With("net.ipv4.ipfrag_time", "2").With("net.netfilter.nf_conntrack_frag6_timeout", "2"));

    /// <summary>What the model gives: FORWARD counters (packets, bytes) and the fragments leaving per destination.</summary>
    private static (List<(ulong, ulong)> Forward, Dictionary<string, int> Leaving, int Held) ModelRun(string rules, Family family, List<byte[]> packets, List<byte[]> late)
    {
        var ruleset = TestRules.Load(rules, family);
        var engine = family == Family.IPv4
            ? Engine.Create(ruleset, null, Firewall(), EngineOptions.Default)
            : Engine.Create(null, ruleset, Firewall(), EngineOptions.Default);
        var leaving = new Dictionary<string, int>();
        var outcomes = Send(engine, [.. packets.Select((p, i) => (p, 1 + i / 100.0)), .. late.Select((p, i) => (p, 5 + i / 100.0))], "f0");
        foreach (var o in outcomes.Where(o => o.Disposition == Disposition.Forwarded))
        {
            var m = LeavesAs().Match(o.Reason ?? "");
            string dst = o.Packet.Ip!.Destination.ToString();
            leaving[dst] = leaving.GetValueOrDefault(dst) + (m.Success ? int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 1);
        }
        int n = ruleset.Tables.Single(t => t.Name == "filter").Chains.Single(c => c.Name == "FORWARD").Rules.Length;
        var forward = Enumerable.Range(1, n).Select(r => engine.Counters.Get(family, "filter", "FORWARD", r)).Select(c => (c.Packets, c.Bytes)).ToList();
        return (forward, leaving, engine.HeldDatagrams);
    }

    [GeneratedRegex(@"leaves as (\d+) fragments")]
    private static partial Regex LeavesAs();

    [Fact]
    public void Model_counts_for_the_kernel_traffic()
    {
        var (v4, v6, late4, late6) = KernelTraffic();
        var (f4, l4, held4) = ModelRun(KernelRules4, Family.IPv4, v4, late4);
        Assert.Equal(1, held4); // the late fragment of 108, in a queue of its own (104's leftover queue expired)
        Assert.Equal([(5UL, 3492UL), (6UL, 3620UL), (0UL, 0UL), (1UL, 128UL)], f4);
        // The 80+16+12 datagram leaves in the pieces it came in (measured); the 2,980-byte one is cut anew to the MTU:
        // 1,256 data bytes a fragment, 3 fragments.
        Assert.Equal(3 + 3 + 3 + 3 + 3, l4["10.2.0.2"]);
        Assert.Equal(3, l4["10.2.0.3"]);
        var (f6, l6, held6) = ModelRun(KernelRules6, Family.IPv6, v6, late6);
        Assert.Equal([(3UL, 444UL), (3UL, 444UL)], f6);
        Assert.Equal(1, held6); // the late fragment of 205 (2004's queue without its first fragment expired too)
        Assert.Equal(9, l6["2001:db8:2::2"]);
    }

    [Fact]
    public void Kernel_counts_reassembled_datagrams_as_the_model_does()
    {
        if (!KernelShell.Available(out var why, "ip", "iptables", "iptables-restore", "ip6tables", "ip6tables-restore", "python3")) { output.WriteLine(why); return; }
        var (v4, v6, late4, late6) = KernelTraffic();
        var prefix = $"hx-defrag-{Environment.ProcessId}-{Interlocked.Increment(ref counter)}";
        var dir = Directory.CreateTempSubdirectory("hx-defrag-");
        try
        {
            string Frame(byte[] p, ushort type) => "02000000ff00" + "02000000cc01" + type.ToString("x4", CultureInfo.InvariantCulture) + Convert.ToHexString(p);
            File.WriteAllLines(Path.Combine(dir.FullName, "frames"),
            [
                .. v4.Select(p => Frame(p, 0x0800)), .. v6.Select(p => Frame(p, 0x86DD)), "SLEEP",
                .. late4.Select(p => Frame(p, 0x0800)), .. late6.Select(p => Frame(p, 0x86DD)),
            ]);
            File.WriteAllText(Path.Combine(dir.FullName, "rules4"), KernelRules4 + "\n");
            File.WriteAllText(Path.Combine(dir.FullName, "rules6"), KernelRules6 + "\n");
            var text = KernelShell.Script(KernelScript, prefix, dir.FullName);
            output.WriteLine(text);
            List<(ulong, ulong)> Counts(string tag) => [.. text.Split('\n').Where(l => l.StartsWith(tag + " ", StringComparison.Ordinal))
                .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Select(w => (ulong.Parse(w[1], CultureInfo.InvariantCulture), ulong.Parse(w[2], CultureInfo.InvariantCulture)))];
            var (f4, l4, _) = ModelRun(KernelRules4, Family.IPv4, v4, late4);
            var (f6, l6, _) = ModelRun(KernelRules6, Family.IPv6, v6, late6);
            Assert.Equal(f4, Counts("F4"));
            Assert.Equal(f6, Counts("F6"));
            var s4 = Counts("S4");
            var s6 = Counts("S6");
            Assert.Equal((ulong)l4["10.2.0.2"], s4[0].Item1);
            Assert.Equal((ulong)l4["10.2.0.3"], s4[1].Item1);
            Assert.Equal(1UL, s4[2].Item1); // only the first fragment out carries the (DNATed) UDP header
            Assert.Equal((ulong)l6["2001:db8:2::2"], s6[0].Item1);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>
    /// Client c, firewall f, server s: c0 ↔ f0 (10.1.0.0/24, 2001:db8:1::/64), f1 ↔ s0 (10.2.0.0/24, 2001:db8:2::/64),
    /// static neighbours. The frames leave c by AF_PACKET; f forwards with the rules under test; s counts the
    /// fragments that arrive in raw PREROUTING (s has no conntrack, so nothing reassembles them there).
    /// </summary>
    private static readonly string KernelScript = $$"""
        P=$1; D=$2
        {{KernelShell.ThreeNamespaces}}
        ip netns exec $P-f sh -c '
          sysctl -qw net.ipv4.ip_forward=1; sysctl -qw net.ipv6.conf.all.forwarding=1
          sysctl -qw net.ipv4.ipfrag_time=2; sysctl -qw net.netfilter.nf_conntrack_frag6_timeout=2
          ip link set lo up; ip link set f0 up; ip link set f1 up mtu 1280
          ip addr add 10.1.0.1/24 dev f0; ip addr add 10.2.0.1/24 dev f1
          ip -6 addr add 2001:db8:1::1/64 dev f0 nodad; ip -6 addr add 2001:db8:2::1/64 dev f1 nodad
          ip neigh replace 10.2.0.2 lladdr 02:00:00:00:55:01 dev f1 nud permanent
          ip neigh replace 10.2.0.3 lladdr 02:00:00:00:55:01 dev f1 nud permanent
          ip -6 neigh replace 2001:db8:2::2 lladdr 02:00:00:00:55:01 dev f1 nud permanent'
        ip netns exec $P-s sh -c 'ip link set s0 up; ip addr add 10.2.0.2/24 dev s0; ip -6 addr add 2001:db8:2::2/64 dev s0 nodad'
        ip netns exec $P-f iptables-restore < $D/rules4
        ip netns exec $P-f ip6tables-restore < $D/rules6
        printf '*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A PREROUTING -s 10.1.0.2 -d 10.2.0.2\n-A PREROUTING -d 10.2.0.3\n-A PREROUTING -d 10.2.0.3 -p udp --dport 5353\nCOMMIT\n' | ip netns exec $P-s iptables-restore
        printf '*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A PREROUTING -s 2001:db8:1::2\nCOMMIT\n' | ip netns exec $P-s ip6tables-restore
        sleep 0.3
        {{KernelShell.SendFrames("0.01")}}
        sleep 0.5
        ip netns exec $P-f iptables -L FORWARD -v -n -x | tail -n +3 | awk '{print "F4", $1, $2}'
        ip netns exec $P-f ip6tables -L FORWARD -v -n -x | tail -n +3 | awk '{print "F6", $1, $2}'
        ip netns exec $P-s iptables -t raw -L PREROUTING -v -n -x | tail -n +3 | awk '{print "S4", $1, $2}'
        ip netns exec $P-s ip6tables -t raw -L PREROUTING -v -n -x | tail -n +3 | awk '{print "S6", $1, $2}'
        ip netns exec $P-f iptables -L FORWARD -v -n -x
        ip netns exec $P-f iptables -t nat -L PREROUTING -v -n -x
        ip netns exec $P-f ip6tables -L FORWARD -v -n -x
        ip netns exec $P-f nstat -az 2>/dev/null | grep -Ei 'reasm|frag' || true
        """;
}
