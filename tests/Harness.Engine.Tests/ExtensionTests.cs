using System.Collections.Immutable;
using Harness.Engine.Tests.Support;
using Harness.Net;
using Harness.Packets;

namespace Harness.Engine.Tests;

/// <summary>One ruleset per extension (or small family of them), each asserting concrete outcomes.</summary>
public class ExtensionTests
{
    private static Engine Server(string rules, EngineOptions? options = null) =>
        Engine.Create(TestRules.Load(rules), null, TestHosts.Server(), options ?? EngineOptions.Default);

    private static Engine Router(string rules, EngineOptions? options = null) =>
        Engine.Create(TestRules.Load(rules), null, TestHosts.Router(), options ?? EngineOptions.Default);

    private static string Filter(string input) => $"*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n{input}\nCOMMIT\n";

    [Fact]
    public void Ttl_and_tos_targets_rewrite_bytes_with_valid_checksums()
    {
        var engine = Router("""
            *mangle
            :PREROUTING ACCEPT [0:0]
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            :POSTROUTING ACCEPT [0:0]
            -A FORWARD -o eth0 -j TTL --ttl-set 10
            -A POSTROUTING -o eth0 -p tcp -m tcp --dport 22 -j DSCP --set-dscp 0x2e
            COMMIT
            """);
        var o = engine.Process(Wire.Tcp("192.168.1.50", 40000, "198.51.100.7", 22, TcpFlags.Syn, "eth1"))[0];
        Assert.Equal((10, 0xB8), (o.Packet.Ip!.Ttl, o.Packet.Ip.Tos));
        var again = Wire.Redecoded(o.Packet);
        Assert.True(again.Ip!.HeaderChecksumValid);
        Assert.Equal((10, 0xB8), (again.Ip.Ttl, again.Ip.Tos));
    }

    [Fact]
    public void Tcpmss_clamps_the_syn_option_and_keeps_the_checksum_right()
    {
        var engine = Router("""
            *mangle
            :PREROUTING ACCEPT [0:0]
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            :POSTROUTING ACCEPT [0:0]
            -A FORWARD -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1400
            COMMIT
            """);
        var o = engine.Process(Wire.Tcp("192.168.1.50", 40000, "198.51.100.7", 443, TcpFlags.Syn, "eth1", options: [2, 4, 0x05, 0xB4]))[0];
        var tcp = Assert.IsType<TcpHeader>(Wire.Redecoded(o.Packet).Transport);
        Assert.True(tcp.ChecksumValid);
        Assert.Equal(new byte[] { 2, 4, 0x05, 0x78 }, tcp.Options.ToArray());
    }

    [Fact]
    public void Mark_and_connmark_carry_a_decision_from_the_first_packet_to_the_replies()
    {
        var engine = Router("""
            *mangle
            :PREROUTING ACCEPT [0:0]
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            :POSTROUTING ACCEPT [0:0]
            -A PREROUTING -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff
            -A PREROUTING -m mark --mark 0x0 -i eth1 -j MARK --set-xmark 0x7/0xffffffff
            -A PREROUTING -j CONNMARK --save-mark --nfmask 0xffffffff --ctmask 0xffffffff
            COMMIT
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD DROP [0:0]
            :OUTPUT ACCEPT [0:0]
            -A FORWARD -m connmark --mark 0x7 -j ACCEPT
            COMMIT
            """);
        var first = engine.Process(P.Tcp("192.168.1.50", 40000, "198.51.100.7", 443, TcpFlags.Syn, "eth1", 1, 1, seq: 1))[0];
        var reply = engine.Process(P.Tcp("198.51.100.7", 443, "192.168.1.50", 40000, TcpFlags.Syn | TcpFlags.Ack, "eth0", 2, 1.1, seq: 9, ack: 2))[0];
        Assert.Equal((Disposition.Forwarded, 7u), (first.Disposition, first.Mark));
        Assert.Equal((Disposition.Forwarded, 7u, "filter:FORWARD:1"), (reply.Disposition, reply.Mark, reply.DecidingRule));
    }

    [Fact]
    public void Notrack_in_raw_makes_the_packet_untracked()
    {
        var engine = Server("""
            *raw
            :PREROUTING ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A PREROUTING -p udp -m udp --dport 53 -j CT --notrack
            COMMIT
            *filter
            :INPUT DROP [0:0]
            :FORWARD DROP [0:0]
            :OUTPUT ACCEPT [0:0]
            -A INPUT -m conntrack --ctstate UNTRACKED -j ACCEPT
            COMMIT
            """);
        var o = engine.Process(P.Udp("198.51.100.7", 5353, "10.0.0.10", 53))[0];
        Assert.Equal((Disposition.Delivered, "filter:INPUT:1", "UNTRACKED"), (o.Disposition, o.DecidingRule, o.Conntrack!.StateSeen));
        Assert.Empty(engine.Conntrack.Entries);
    }

    [Fact]
    public void Ipset_match_and_set_target_build_a_blocklist()
    {
        var sets = IpSets.Parse("create blocked hash:ip family inet hashsize 1024 maxelem 65536\nadd blocked 198.51.100.66\ncreate web hash:ip,port family inet\nadd web 10.0.0.10,tcp:443\n", "sets.txt");
        var engine = Server(Filter("""
            -A INPUT -m set --match-set blocked src -j DROP
            -A INPUT -p tcp -m tcp --dport 23 -j SET --add-set blocked src
            -A INPUT -m set --match-set web dst,dst -j ACCEPT
            """), new EngineOptions(Sets: sets));
        Assert.Equal("filter:INPUT:1", engine.Process(P.Syn("198.51.100.66", 1, "10.0.0.10", 443, "eth0", 1, 1))[0].DecidingRule);
        Assert.Equal("filter:INPUT:3", engine.Process(P.Syn("198.51.100.7", 1, "10.0.0.10", 443, "eth0", 2, 2))[0].DecidingRule);
        Assert.Equal("filter:INPUT:policy", engine.Process(P.Syn("198.51.100.7", 2, "10.0.0.10", 23, "eth0", 3, 3))[0].DecidingRule);
        Assert.Equal("filter:INPUT:1", engine.Process(P.Syn("198.51.100.7", 3, "10.0.0.10", 443, "eth0", 4, 4))[0].DecidingRule);
    }

    [Fact]
    public void A_missing_ipset_stops_the_run_naming_the_rule()
    {
        var e = Assert.Throws<EngineSetupException>(() => Server(Filter("-A INPUT -m set --match-set nope src -j DROP")));
        Assert.Contains("test.rules:5", e.Message);
        Assert.Contains("nope", e.Message);
    }

    [Fact]
    public void Header_field_matches()
    {
        var engine = Server(Filter("""
            -A INPUT -m iprange --src-range 198.51.100.10-198.51.100.20 -j ACCEPT
            -A INPUT -p udp -m length --length 0:100 -j ACCEPT
            -A INPUT -m ttl --ttl-lt 5 -j ACCEPT
            -A INPUT -m addrtype --dst-type BROADCAST -j ACCEPT
            -A INPUT -m pkttype --pkt-type multicast -j ACCEPT
            """));
        Assert.Equal("filter:INPUT:1", engine.Process(P.Syn("198.51.100.15", 1, "10.0.0.10", 80))[0].DecidingRule);
        Assert.Equal("filter:INPUT:2", engine.Process(P.Udp("198.51.100.7", 1, "10.0.0.10", 80, payload: 50))[0].DecidingRule);
        Assert.Equal("filter:INPUT:policy", engine.Process(P.Udp("198.51.100.7", 1, "10.0.0.10", 80, payload: 500))[0].DecidingRule);
        Assert.Equal("filter:INPUT:3", engine.Process(P.Tcp("198.51.100.7", 1, "10.0.0.10", 80, TcpFlags.Syn, ttl: 3))[0].DecidingRule);
        Assert.Equal("filter:INPUT:4", engine.Process(P.Syn("10.0.0.7", 1, "10.0.0.255", 80))[0].DecidingRule);
        // mDNS reaches INPUT only when some socket joined 224.0.0.251 on eth0 (avahi does); else routing drops it
        var mdns = P.Udp("10.0.0.7", 1, "224.0.0.251", 5353, payload: 300);
        var notJoined = engine.Process(mdns)[0];
        Assert.Equal(Disposition.Dropped, notJoined.Disposition);
        Assert.Null(notJoined.DecidingRule);
        var host = TestHosts.Server();
        host = host with { Interfaces = host.Interfaces.Select(i => i.Name == "eth0" ? i with { MulticastGroups = [Address.Parse("224.0.0.251")] } : i).ToImmutableArray() };
        var joined = Engine.Create(TestRules.Load(Filter("-A INPUT -m pkttype --pkt-type multicast -j ACCEPT")), null, host, EngineOptions.Default);
        var delivered = joined.Process(mdns)[0];
        Assert.Equal("filter:INPUT:1", delivered.DecidingRule);
        Assert.Equal(Disposition.Delivered, delivered.Disposition);
    }

    [Fact]
    public void Mac_source_matches_only_with_an_ethernet_header()
    {
        var engine = Server(Filter("-A INPUT -m mac --mac-source 02:00:00:00:00:AA -j ACCEPT"));
        var withLink = P.Syn("198.51.100.7", 1, "10.0.0.10", 80) with
        {
            Link = new LinkHeader(MacAddress.Parse("02:00:00:00:00:aa"), TestHosts.WanMac, [], 0x0800),
        };
        Assert.Equal(FinalVerdict.Accept, engine.Process(withLink)[0].Verdict);
        Assert.Equal(FinalVerdict.Drop, engine.Process(P.Syn("198.51.100.7", 1, "10.0.0.10", 80))[0].Verdict);
    }

    [Fact]
    public void Owner_matches_the_socket_the_case_gives()
    {
        var owners = ImmutableDictionary<long, SocketOwner>.Empty.Add(1, new SocketOwner(1000, 1000)).Add(2, new SocketOwner(0, 0));
        var engine = Engine.Create(TestRules.Load("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -m owner --uid-owner 1000 -j REJECT\nCOMMIT\n"),
            null, TestHosts.Server(), new EngineOptions(Owners: owners));
        Assert.Equal(Disposition.Rejected, engine.Process(P.Udp("10.0.0.10", 5000, "198.51.100.7", 53, null, 1, 1))[0].Disposition);
        Assert.Equal(Disposition.Sent, engine.Process(P.Udp("10.0.0.10", 5001, "198.51.100.7", 53, null, 2, 2))[0].Disposition);
        Assert.Equal(Disposition.Sent, engine.Process(P.Udp("10.0.0.10", 5002, "198.51.100.7", 53, null, 3, 3))[0].Disposition);
    }

    [Fact]
    public void Time_match_uses_the_capture_clock_in_utc()
    {
        var engine = Server(Filter("-A INPUT -m time --timestart 09:00:00 --timestop 17:00:00 --weekdays Mon,Tue,Wed,Thu,Fri -j ACCEPT"));
        // 2023-11-14 (a Tuesday) 10:00 UTC and 20:00 UTC; 2023-11-18 (a Saturday) 10:00 UTC.
        Assert.Equal(FinalVerdict.Accept, engine.Process(P.Syn("198.51.100.7", 1, "10.0.0.10", 80, time: 1699956000))[0].Verdict);
        Assert.Equal(FinalVerdict.Drop, engine.Process(P.Syn("198.51.100.7", 2, "10.0.0.10", 80, time: 1699992000))[0].Verdict);
        Assert.Equal(FinalVerdict.Drop, engine.Process(P.Syn("198.51.100.7", 3, "10.0.0.10", 80, time: 1700301600))[0].Verdict);
    }

    [Fact]
    public void String_match_searches_the_packet_bytes()
    {
        var engine = Server(Filter("-A INPUT -p tcp -m string --string \"GET /admin\" --algo bm -j DROP\n-A INPUT -j ACCEPT"));
        var text = System.Text.Encoding.ASCII.GetBytes("GET /admin HTTP/1.1\r\n");
        var ip = new IpHeader { Family = Family.IPv4, Source = Address.Parse("198.51.100.7"), Destination = Address.Parse("10.0.0.10"), Protocol = IpProtocol.Tcp, Ttl = 64, TotalLength = 0, HeaderLength = 0 };
        var bad = PacketBuilder.Create(1, Timestamp.FromSeconds(1), ip, new TcpHeader(1, 80, 1, 1, TcpFlags.Ack | TcpFlags.Psh, 100), text, "eth0");
        var good = PacketBuilder.Create(2, Timestamp.FromSeconds(2), ip, new TcpHeader(1, 80, 1, 1, TcpFlags.Ack | TcpFlags.Psh, 100), "GET / HTTP/1.1\r\n"u8, "eth0");
        Assert.Equal("filter:INPUT:1", engine.Process(bad)[0].DecidingRule);
        Assert.Equal("filter:INPUT:2", engine.Process(good)[0].DecidingRule);
    }

    [Fact]
    public void Nflog_and_log_lines_follow_the_kernel_format()
    {
        var engine = Router("""
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A FORWARD -p udp -j LOG --log-prefix "FWD " --log-level 6
            -A FORWARD -p icmp -j NFLOG --nflog-group 2 --nflog-prefix "PING "
            COMMIT
            """);
        var udp = P.Udp("192.168.1.50", 5000, "198.51.100.7", 53, "eth1", payload: 20) with
        {
            Link = new LinkHeader(MacAddress.Parse("02:00:00:00:00:50"), TestHosts.LanMac, [], 0x0800),
        };
        Assert.Equal(
            "FWD IN=eth1 OUT=eth0 MAC=02:00:00:00:00:02:02:00:00:00:00:50:08:00 SRC=192.168.1.50 DST=198.51.100.7 LEN=48 TOS=0x00 PREC=0x00 TTL=63 ID=1 PROTO=UDP SPT=5000 DPT=53 LEN=28 ",
            Assert.Single(engine.Process(udp)[0].Log));
        Assert.Equal(
            "PING IN=eth1 OUT=eth0 MAC= SRC=192.168.1.50 DST=198.51.100.7 LEN=84 TOS=0x00 PREC=0x00 TTL=63 ID=1 PROTO=ICMP TYPE=8 CODE=0 ID=7 SEQ=1 ",
            Assert.Single(engine.Process(P.Ping("192.168.1.50", "198.51.100.7", "eth1"))[0].Log));
    }

    [Fact]
    public void Log_macdecode_writes_the_ethernet_header_as_fields_and_ce_is_the_reserved_flag()
    {
        var engine = Router("""
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A FORWARD -p udp -j LOG --log-prefix "DEC " --log-macdecode
            COMMIT
            """);
        var udp = P.Udp("192.168.1.50", 5000, "198.51.100.7", 53, "eth1", payload: 20) with
        {
            Link = new LinkHeader(MacAddress.Parse("02:00:00:00:00:5A"), TestHosts.LanMac, [], 0x0800),
        };
        // nf_log_syslog's dump_mac_header: %pM is lower case, MACPROTO is four hex digits.
        Assert.Equal(
            "DEC IN=eth1 OUT=eth0 MACSRC=02:00:00:00:00:5a MACDST=02:00:00:00:00:02 MACPROTO=0800 SRC=192.168.1.50 DST=198.51.100.7 LEN=48 TOS=0x00 PREC=0x00 TTL=63 ID=1 PROTO=UDP SPT=5000 DPT=53 LEN=28 ",
            Assert.Single(engine.Process(udp)[0].Log));
        // Without a MAC header there is nothing to decode, so nothing is written (not "MAC=").
        Assert.StartsWith("DEC IN=eth1 OUT=eth0 SRC=", Assert.Single(engine.Process(P.Udp("192.168.1.50", 5001, "198.51.100.7", 53, "eth1"))[0].Log));
        // "CE" is the reserved flag bit of the fragment field (IP_CE), not the ECN bits of the TOS byte.
        var ecn = P.Udp("192.168.1.50", 5002, "198.51.100.7", 53, "eth1") with { Ip = P.Udp("192.168.1.50", 5002, "198.51.100.7", 53, "eth1").Ip! with { Tos = 0x03 } };
        Assert.DoesNotContain(" CE ", Assert.Single(engine.Process(ecn)[0].Log));
        var evil = P.Udp("192.168.1.50", 5003, "198.51.100.7", 53, "eth1") with { Ip = P.Udp("192.168.1.50", 5003, "198.51.100.7", 53, "eth1").Ip! with { ReservedFlag = true } };
        Assert.Contains(" ID=1 CE PROTO=UDP ", Assert.Single(engine.Process(evil)[0].Log));
    }

    [Fact]
    public void Log_writes_the_tcp_reserved_bits_and_the_ae_flag_as_the_kernel_does()
    {
        var engine = Router("""
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A FORWARD -p tcp -j LOG --log-prefix "T "
            COMMIT
            """);
        var plain = P.Tcp("192.168.1.50", 40000, "198.51.100.7", 80, TcpFlags.Syn, "eth1");
        Assert.Contains(" WINDOW=64240 RES=0x00 SYN URGP=0 ", Assert.Single(engine.Process(plain)[0].Log));
        // Byte 12's low nibble 1011: reserved bits 101 ((word & 0x0E000000) >> 22 = 0x28) and AE.
        var odd = plain with { Transport = ((TcpHeader)plain.Transport!) with { ReservedBits = 0x0B, SourcePort = 40001 } };
        Assert.Contains(" RES=0x28 AE SYN URGP=0 ", Assert.Single(engine.Process(odd)[0].Log));
    }

    [Fact]
    public void Ipv6_rules_see_icmpv6_and_hop_limit_and_reject_with_icmpv6()
    {
        var v6 = TestRules.Load("""
            *filter
            :INPUT DROP [0:0]
            :FORWARD DROP [0:0]
            :OUTPUT ACCEPT [0:0]
            -A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 128 -m hl --hl-eq 64 -j ACCEPT
            -A INPUT -p tcp -j REJECT --reject-with icmp6-adm-prohibited
            COMMIT
            """, Family.IPv6);
        var engine = Engine.Create(null, v6, TestHosts.Router(), EngineOptions.Default);
        Assert.Equal("filter:INPUT:1", engine.Process(P.Ping("2001:db8:1::99", "2001:db8:1::1", "eth0"))[0].DecidingRule);
        var rejected = engine.Process(Wire.Tcp("2001:db8:1::99", 4000, "2001:db8:1::1", 22, TcpFlags.Syn, "eth0"));
        Assert.Equal(2, rejected.Count);
        Assert.Equal(Disposition.Rejected, rejected[0].Disposition);
        var icmp = Assert.IsType<IcmpHeader>(rejected[1].Packet.Transport);
        Assert.Equal((1, 1, true), (icmp.Type, icmp.Code, icmp.IsV6));
        Assert.Equal((Disposition.Sent, "eth0"), (rejected[1].Disposition, rejected[1].OutInterface));
        Assert.Equal("2001:db8:1::99", rejected[1].Packet.Ip!.Destination.ToString());
    }

    /// <summary>An IPv4 (10.1.0.2 → 10.2.0.2, ID 1, TTL 64) or IPv6 (2001:db8:1::2 → 2001:db8:2::2) packet of <paramref name="protocol"/>.</summary>
    private static Packet LogPacket(bool v6, byte protocol, string payloadHex)
    {
        var payload = Convert.FromHexString(payloadHex);
        var header = v6
            ? Convert.FromHexString("60000000" + (payload.Length).ToString("x4", System.Globalization.CultureInfo.InvariantCulture) + protocol.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)
                + "40" + "20010db8000100000000000000000002" + "20010db8000200000000000000000002")
            : Convert.FromHexString("4500" + (20 + payload.Length).ToString("x4", System.Globalization.CultureInfo.InvariantCulture) + "00010000" + "40"
                + protocol.ToString("x2", System.Globalization.CultureInfo.InvariantCulture) + "0000" + "0a010002" + "0a020002");
        if (!v6) System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(10), InternetChecksum.Compute(header));
        return PacketDecoder.Decode([.. header, .. payload], 1, default);
    }

    [Fact]
    public void Log_prints_sctp_and_the_protocols_nf_log_syslog_has_no_case_for_by_number()
    {
        // nf_log_syslog (6.18) dump_ipv4_packet / dump_ipv6_packet: cases for TCP, UDP, UDP-Lite, ICMP(v6), and IPv4
        // AH/ESP; SCTP, GRE and the rest get "PROTO=<number>" without ports. IPv6 ends its extension-header walk at ESP
        // (nothing more on the line without --log-ip-options).
        string Line(bool v6, byte protocol, string payload) => Targets.LogFormatter.Format("", LogPacket(v6, protocol, payload), null, null, 5);
        const string V4 = "IN= OUT= SRC=10.1.0.2 DST=10.2.0.2 ";
        const string V6 = "IN= OUT= SRC=2001:db8:1::2 DST=2001:db8:2::2 ";
        const string Sctp = "04d2005000000001000000000a000004";
        Assert.Equal(V4 + "LEN=36 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=132 MARK=0x5 ", Line(false, IpProtocol.Sctp, Sctp));
        Assert.Equal(V6 + "LEN=56 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=132 MARK=0x5 ", Line(true, IpProtocol.Sctp, Sctp));
        Assert.Equal(V4 + "LEN=28 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=UDPLITE SPT=1000 DPT=2000 LEN=8 MARK=0x5 ", Line(false, IpProtocol.UdpLite, "03e807d000080000"));
        Assert.Equal(V6 + "LEN=48 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=UDPLITE SPT=1000 DPT=2000 LEN=8 MARK=0x5 ", Line(true, IpProtocol.UdpLite, "03e807d000080000"));
        Assert.Equal(V4 + "LEN=24 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=UDPLITE INCOMPLETE [4 bytes] ", Line(false, IpProtocol.UdpLite, "03e807d0"));
        Assert.Equal(V4 + "LEN=32 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=AH SPI=0x1234 MARK=0x5 ", Line(false, IpProtocol.Ah, "060100000000123400000001"));
        Assert.Equal(V4 + "LEN=28 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=ESP SPI=0xabcd MARK=0x5 ", Line(false, IpProtocol.Esp, "0000abcd00000001"));
        Assert.Equal(V4 + "LEN=24 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=ESP INCOMPLETE [4 bytes] MARK=0x5 ", Line(false, IpProtocol.Esp, "0000abcd"));
        Assert.Equal(V4 + "LEN=28 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=47 MARK=0x5 ", Line(false, IpProtocol.Gre, "0000080000000000"));
        Assert.Equal(V6 + "LEN=48 TC=0 HOPLIMIT=64 FLOWLBL=0 ", Line(true, IpProtocol.Esp, "0000abcd00000001"));
        Assert.Equal(V6 + "LEN=48 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=1 MARK=0x5 ", Line(true, IpProtocol.Icmp, "0800000000000000"));
    }

    [Fact]
    public void Log_of_a_cut_ipv6_extension_header_ends_where_nf_log_syslog_stops()
    {
        string Line(string hex) => Targets.LogFormatter.Format("", PacketDecoder.Decode(Convert.FromHexString(hex), 1, default), null, null, 5);
        const string Head = "IN= OUT= SRC=2001:db8:1::2 DST=2001:db8:2::2 ";
        // Destination options of 16 bytes with 8 there, then TCP: the TCP dump finds its header 8 bytes past the end, and
        // the kernel's unsigned count wraps.
        Assert.Equal(Head + "LEN=48 TC=0 HOPLIMIT=64 FLOWLBL=1 PROTO=TCP INCOMPLETE [4294967288 bytes] ",
            Line("6000000100083c4020010db800010000000000000000000220010db80002000000000000000000020601010400000000"));
        // One byte of a header: its 2 bytes cannot be read.
        Assert.Equal(Head + "LEN=41 TC=0 HOPLIMIT=64 FLOWLBL=3 TRUNCATED",
            Line("6000000300013c4020010db800010000000000000000000220010db800020000000000000000000206"));
        // A fragment header of 4 bytes: "FRAG:" and its 8 bytes missing.
        Assert.Equal(Head + "LEN=44 TC=0 HOPLIMIT=64 FLOWLBL=7 FRAG:TRUNCATED ",
            Line("6000000700042c4020010db800010000000000000000000220010db800020000000000000000000206000000"));
    }
}
