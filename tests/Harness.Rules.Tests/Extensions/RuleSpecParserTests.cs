using Harness.Net;
using Harness.Rules.Extensions;
using Harness.Rules.Parsing;

namespace Harness.Rules.Tests.Extensions;

/// <summary>Rule specs in, canonical text or iptables' refusal (with the column) out. Expected texts were checked against iptables 1.8.9.</summary>
public class RuleSpecParserTests
{
    private static string Print(string spec, Family family = Family.IPv4, string table = "filter", string chain = "INPUT") =>
        string.Join("\n", RuleSpecParser.ParseAll(ShellWords.Split(spec), new RuleContext(family, table, chain, null))
            .Select(s => s.Print(family)));

    private static RuleSyntaxException Refusal(string spec, Family family = Family.IPv4, string table = "filter", string chain = "INPUT") =>
        Assert.Throws<RuleSyntaxException>(() => Print(spec, family, table, chain));

    [Theory]
    [InlineData("-p tcp --dport 80", "-p tcp -m tcp --dport 80")]
    [InlineData("-s 10.1.2.3", "-s 10.1.2.3/32")]
    [InlineData("-s 10.1.2.3/255.255.0.0", "-s 10.1.0.0/16")]
    [InlineData("-j ACCEPT -p udp ! -s 1.2.3.0/24 -i eth0", "! -s 1.2.3.0/24 -i eth0 -p udp -j ACCEPT")]
    [InlineData("--protocol=tcp --source=1.2.3.4 --jump=ACCEPT", "-s 1.2.3.4/32 -p tcp -j ACCEPT")]
    [InlineData("-ptcp -s1.2.3.4 -jACCEPT", "-s 1.2.3.4/32 -p tcp -j ACCEPT")]
    [InlineData("--src 1.1.1.1 --dst 2.2.2.2", "-s 1.1.1.1/32 -d 2.2.2.2/32")]
    [InlineData("--sou 1.1.1.1 -p tcp --dp 80", "-s 1.1.1.1/32 -p tcp -m tcp --dport 80")]
    [InlineData("-p tcp -m comment --comment x --dport 80", "-p tcp -m comment --comment x -m tcp --dport 80")]
    [InlineData("-p 6 --dport ssh", "-p tcp -m tcp --dport 22")]
    [InlineData("-p all", "")]
    [InlineData("-s 0.0.0.0/0 -d 1.2.3.4/0", "")]
    [InlineData("-i +", "")]
    [InlineData("! -i +", "! -i +")]
    [InlineData("-p 4", "-p ipencap")]
    [InlineData("-m mark --mark 1 -m connmark --mark 2", "-m mark --mark 0x1 -m connmark --mark 0x2")]
    [InlineData("-s 1.2.3.4,5.6.7.8 -d 9.9.9.9,8.8.8.8", "-s 1.2.3.4/32 -d 9.9.9.9/32\n-s 1.2.3.4/32 -d 8.8.8.8/32\n-s 5.6.7.8/32 -d 9.9.9.9/32\n-s 5.6.7.8/32 -d 8.8.8.8/32")]
    [InlineData("-j USERCHAIN", "-j USERCHAIN")]
    [InlineData("-g USERCHAIN", "-g USERCHAIN")]
    [InlineData("-c 2 3 -j ACCEPT", "-j ACCEPT")]
    [InlineData("-m state --state ESTABLISHED,NEW,RELATED,INVALID,UNTRACKED", "-m state --state INVALID,NEW,RELATED,ESTABLISHED,UNTRACKED")]
    [InlineData("-m limit --limit 7/min --limit-burst 5", "-m limit --limit 7/min")]
    [InlineData("-m limit --limit 100/s", "-m limit --limit 100/sec")]
    [InlineData("-j MARK --and-mark 5", "-j MARK --set-xmark 0x0/0xfffffffa")]
    [InlineData("-j LOG --log-level warning --log-prefix \"a.b\" --log-uid", "-j LOG --log-prefix \"a.b\" --log-uid")]
    [InlineData("-j LOG --log-prefix \"a'b\"", "-j LOG --log-prefix \"a\\'b\"")]
    [InlineData("-m conntrack --ctorigsrc 1.2.3.4/16 --ctdir REPLY --ctproto udp ! --ctstate NEW", "-m conntrack ! --ctstate NEW --ctproto 17 --ctorigsrc 1.2.3.4/16 --ctdir REPLY")]
    [InlineData("-m recent --name foo --rcheck --seconds 60 --hitcount 2 --rttl --reap", "-m recent --rcheck --seconds 60 --reap --hitcount 2 --rttl --name foo --mask 255.255.255.255 --rsource")]
    [InlineData("-m statistic --mode random --probability 0.3", "-m statistic --mode random --probability 0.29999999981")]
    [InlineData("-m time --datestart 2020-01-01 --utc", "-m time --datestart 2020-01-01T00:00:00 --datestop 2038-01-19T03:14:07")]
    [InlineData("-m time ! --weekdays Mon", "-m time --weekdays Tue,Wed,Thu,Fri,Sat,Sun --datestop 2038-01-19T03:14:07")]
    [InlineData("-m string --hex-string '|41 42|C' --algo kmp --icase", "-m string --string \"ABC\" --algo kmp --icase")]
    [InlineData("-m connlimit ! --connlimit-above 4", "-m connlimit --connlimit-upto 4 --connlimit-mask 32 --connlimit-saddr")]
    [InlineData("-m hashlimit --hashlimit 5/min --hashlimit-name x", "-m hashlimit --hashlimit-upto 5/min --hashlimit-burst 5 --hashlimit-name x")]
    [InlineData("-m hashlimit --hashlimit-upto 5/min --hashlimit-name b --hashlimit-rate-match", "-m hashlimit --hashlimit-upto 5/sec --hashlimit-burst 5 --hashlimit-name b --hashlimit-htable-expire 60000 --hashlimit-rate-match --hashlimit-rate-interval 60")]
    [InlineData("-m pkttype --pkt-type host", "-m pkttype --pkt-type unicast")]
    [InlineData("-m mac --mac-source AA:bb:01:02:03:04", "-m mac --mac-source aa:bb:01:02:03:04")]
    [InlineData("-p tcp -m tcp --dport 22 -m tcp --sport 80", "-p tcp -m tcp --sport 80 --dport 22")]
    [InlineData("-p tcp -m tcp --syn -m comment --comment x -m tcp --dport 4", "-p tcp -m tcp --dport 4 --tcp-flags FIN,SYN,RST,ACK SYN -m comment --comment x")]
    [InlineData("-p tcp --dport 80 -m tcp", "-p tcp -m tcp --dport 80 -m tcp")]
    [InlineData("-p tcp -m tcp --dport 1 -m tcp --dport 2", "-p tcp -m tcp --dport 2")]
    [InlineData("-p udp --dport 53 -m udp --sport 1", "-p udp -m udp --sport 1 --dport 53")]
    [InlineData("-m u32 --u32 \"6 & 0xFF = 1 && 4 & 0x3FFF = 0 && 0 >> 22 & 0x3C @ 0 >> 24 = 0x8\"", "-m u32 --u32 \"0x6&0xff=0x1&&0x4&0x3fff=0x0&&0x0>>0x16&0x3c@0x0>>0x18=0x8\"")]
    [InlineData("-m u32 ! --u32 \"0>>22&0x3C@12>>26&0x3C@0=1:5,7\"", "-m u32 ! --u32 \"0x0>>0x16&0x3c@0xc>>0x1a&0x3c@0x0=0x1:0x5,0x7\"")]
    [InlineData("-m addrtype --src-type local,unicast --limit-iface-in", "-m addrtype --src-type UNICAST,LOCAL --limit-iface-in")]
    public void Prints_what_iptables_save_prints(string spec, string expected) => Assert.Equal(expected, Print(spec));

    [Theory]
    [InlineData("--out eth0", "-o eth0")]
    [InlineData("--prot tcp --dp 22", "-p tcp -m tcp --dport 22")]
    [InlineData("--ma comment --comment x", "-m comment --comment x")]
    [InlineData("--jum ACCEPT --frag", "-f -j ACCEPT")]
    public void Accepts_getopt_abbreviations(string spec, string expected) => Assert.Equal(expected, Print(spec, chain: "FORWARD"));

    /// <summary>What iptables 1.8.9 (nf_tables) saved for each, tried in a namespace.</summary>
    [Theory]
    [InlineData("-j CT --zone-orig 3 --zone-reply 4", "-j CT --zone 4")]
    [InlineData("-j CT --zone-orig 3 --zone 0", "-j CT")]
    [InlineData("-j CT --zone-reply mark --zone-orig 7", "-j CT --zone mark")]
    [InlineData("-j CT --zone 7 --zone-orig mark", "-j CT --zone-orig mark")]
    public void Ct_zone_options_combine_as_libxt_ct_combines_them(string spec, string expected) =>
        Assert.Equal(expected, Print(spec, table: "raw", chain: "PREROUTING"));

    [Fact]
    public void The_same_ct_zone_option_twice_is_refused() =>
        Assert.Contains("can only be used once", Refusal("-j CT --zone 3 --zone 5", table: "raw", chain: "PREROUTING").Message);

    [Fact]
    public void Ambiguous_abbreviation_is_an_unknown_option() =>
        Assert.Equal("unknown option \"--in\"", Refusal("--in eth0", chain: "FORWARD").Message);

    [Theory]
    [InlineData("-p tcp -j DNAT --to-destination 1.1.1.1:10-20/ftp", "-p tcp -j DNAT --to-destination 1.1.1.1:10-20/21")]
    [InlineData("-p tcp -j DNAT --to-destination :80", "-p tcp -j DNAT --to-destination :80")]
    [InlineData("-p tcp -j REDIRECT --to-ports ftp-data", "-p tcp -j REDIRECT --to-ports 20")]
    public void Prints_nat_targets(string spec, string expected) => Assert.Equal(expected, Print(spec, table: "nat", chain: "PREROUTING"));

    [Theory]
    [InlineData("-p ipv6-icmp --icmpv6-type neighbor-solicitation", "-p ipv6-icmp -m icmp6 --icmpv6-type 135")]
    [InlineData("-s ::1 -d 2001:db8::1/64 -p udp", "-s ::1/128 -d 2001:db8::/64 -p udp")]
    [InlineData("-m recent --set", "-m recent --set --name DEFAULT --mask ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff --rsource")]
    [InlineData("-m connlimit --connlimit-above 4", "-m connlimit --connlimit-above 4 --connlimit-mask 128 --connlimit-saddr")]
    public void Prints_ipv6(string spec, string expected) => Assert.Equal(expected, Print(spec, Family.IPv6));

    [Theory]
    [InlineData("-p tcp --bogus 1", "unknown option \"--bogus\"", 8)]
    [InlineData("-m foo", "Couldn't load match `foo':No such file or directory", 1)]
    [InlineData("-m socket", "match `socket' is not supported by Harness", 1)]
    [InlineData("-j TPROXY", "target `TPROXY' is not supported by Harness", 1)]
    [InlineData("-s", "option \"-s\" requires an argument", 1)]
    [InlineData("-s 1.2.3.4/33", "invalid mask `33' specified", 4)]
    [InlineData("-i thisinterfaceistoolong0", "interface name `thisinterfaceistoolong0' must be shorter than IFNAMSIZ (15)", 4)]
    [InlineData("! ! -s 1.2.3.4", "multiple consecutive ! not allowed", 3)]
    [InlineData("-s 1.2.3.4 !", "nothing appropriate following !", 12)]
    [InlineData("-j ACCEPT -j DROP", "multiple -j flags not allowed", 11)]
    [InlineData("-p tcp -p udp", "multiple -p flags not allowed", 8)]
    [InlineData("-p foo", "unknown protocol \"foo\" specified", 4)]
    [InlineData("! -p all", "rule would never match protocol", 6)]
    [InlineData("-p tcp --d 80", "unknown option \"--d\"", 8)]
    [InlineData("-o eth0", "Can't use -o with INPUT", 1)]
    [InlineData("-p tcp ! -s 0.0.0.0/0", "! -s with a /0 prefix never matches: iptables refuses it (Invalid argument)", 10)]
    [InlineData("-m tcp --dport 1", "TCP match requires '-p tcp'", 1)]
    [InlineData("-p tcp --dport 4:3", "invalid portrange (4:3) specified", 16)]
    [InlineData("-p tcp --sport 65536", "invalid port/service `65536' specified", 16)]
    [InlineData("-m icmp --icmp-type echo -p icmp", "Ambiguous ICMP type `echo': `echo-reply' or `echo-request'?", 21)]
    [InlineData("-p icmp -m icmp", "icmp: option \"--icmp-type\" must be specified", 9)]
    [InlineData("-m state", "state: option \"--state\" must be specified", 1)]
    [InlineData("-m conntrack", "conntrack: At least one option is required", 1)]
    [InlineData("-m comment --comment", "option \"--comment\" requires an argument (comment)", 21)]
    [InlineData("-m mark --mark 4294967296", "mark: bad value for option \"--mark\", or out of range (0-4294967295).", 16)]
    [InlineData("-m limit --limit 20000/sec", "Rate too fast \"20000/sec\"", 18)]
    [InlineData("-j MARK", "MARK target: Parameter --set/and/or/xor-mark is required", 1)]
    [InlineData("-j REJECT --reject-with tcp-reset", "REJECT: TCP_RESET invalid for non-tcp", 1)]
    [InlineData("-j CT --notrack", "CT target: only valid in raw table, not filter", 1)]
    [InlineData("-m string ! --icase --string x --algo bm", "string: option \"--icase\" cannot be inverted.", 13)]
    [InlineData("-m ttl --ttl-gt 5 --ttl-lt 7", "ttl: only one of --ttl-eq, --ttl-lt, --ttl-gt allowed", 19)]
    [InlineData("-m owner --uid-owner 0", "owner match: used from hook INPUT, but only usable from OUTPUT/POSTROUTING", 1)]
    [InlineData("-m statistic --mode nth --every 3", "statistic: option \"--every\" also requires \"--packet\".", 1)]
    [InlineData("-m recent ! --rcheck --reap", "recent: option \"--reap\" also requires \"--seconds\".", 1)]
    [InlineData("-m policy --dir in --pol ipsec --strict", "policy match: --strict given without any policy element", 1)]
    [InlineData("-m time --timestart 01:00 --timestop 02:00 --contiguous", "time: --contiguous only makes sense when stoptime is smaller than starttime", 1)]
    public void Refuses_like_iptables(string spec, string message, int column)
    {
        var e = Refusal(spec);
        Assert.Equal(message, e.Message);
        Assert.Equal(column, e.Column);
    }

    [Fact]
    public void Refuses_drop_in_nat_with_iptables_wording()
    {
        var e = Refusal("-p tcp -j DROP", table: "nat", chain: "PREROUTING");
        Assert.Equal("The \"nat\" table is not intended for filtering, the use of DROP is therefore inhibited.", e.Message);
        Assert.Equal(8, e.Column);
    }

    [Theory]
    [InlineData("filter", "INPUT", "-j DNAT --to-destination 1.2.3.4", "DNAT target: only valid in nat table, not filter")]
    [InlineData("nat", "POSTROUTING", "-j DNAT --to-destination 1.2.3.4", "DNAT target: used from hook POSTROUTING, but only usable from PREROUTING/OUTPUT")]
    [InlineData("mangle", "PREROUTING", "-j REJECT", "REJECT target: only valid in filter table, not mangle")]
    [InlineData("nat", "PREROUTING", "-j MASQUERADE", "MASQUERADE target: used from hook PREROUTING, but only usable from POSTROUTING")]
    [InlineData("filter", "FORWARD", "-j TTL --ttl-set 1", "TTL target: only valid in mangle table, not filter")]
    public void Refuses_targets_outside_their_tables_and_hooks(string table, string chain, string spec, string message) =>
        Assert.Equal(message, Refusal(spec, table: table, chain: chain).Message);

    [Fact]
    public void Ipv6_refuses_fragment_flag() =>
        Assert.Equal("`-f' is not supported in IPv6, use -m frag instead", Refusal("-f", Family.IPv6).Message);

    [Fact]
    public void Parse_refuses_address_lists()
    {
        var context = new RuleContext(Family.IPv4, "filter", "INPUT", null);
        Assert.Throws<RuleSyntaxException>(() => RuleSpecParser.Parse(ShellWords.Split("-s 1.1.1.1,2.2.2.2"), context));
    }

    [Fact]
    public void Records_hold_kernel_values()
    {
        var context = new RuleContext(Family.IPv4, "filter", "INPUT", null);
        var spec = RuleSpecParser.Parse(ShellWords.Split("-p tcp --syn ! --dport 1000:2000 -c 7 9 -j LOG"), context);
        var tcp = Assert.IsType<TcpMatch>(Assert.Single(spec.Matches));
        Assert.Equal(new Negatable<PortRange>(new PortRange(1000, 2000), true), tcp.DestinationPorts);
        Assert.Equal(TcpFlags.Fin | TcpFlags.Syn | TcpFlags.Rst | TcpFlags.Ack, tcp.Flags!.Value.Value.Mask);
        Assert.Equal(TcpFlags.Syn, tcp.Flags!.Value.Value.Compare);
        Assert.Null(tcp.SourcePorts);
        Assert.Equal(new Counters(7, 9), spec.Counters);
        var log = Assert.IsType<LogTarget>(spec.Target);
        Assert.Equal(4, log.Level);
        Assert.False(log.IsTerminal);
        Assert.Equal(new Negatable<byte>(IpProtocol.Tcp, false), spec.Ip.Protocol);
    }

    [Fact]
    public void Nat_ranges_hold_kernel_values()
    {
        var context = new RuleContext(Family.IPv4, "nat", "PREROUTING", null);
        var spec = RuleSpecParser.Parse(ShellWords.Split("-p tcp -j DNAT --to-destination 10.0.0.1-10.0.0.5:1000-2000/1500 --random"), context);
        var dnat = Assert.IsType<DnatTarget>(spec.Target);
        Assert.Equal(Address.Parse("10.0.0.1"), dnat.Range.MinAddress);
        Assert.Equal(Address.Parse("10.0.0.5"), dnat.Range.MaxAddress);
        Assert.Equal((ushort)1000, dnat.Range.MinPort);
        Assert.Equal((ushort)2000, dnat.Range.MaxPort);
        Assert.Equal((ushort)1500, dnat.Range.BasePort);
        Assert.True(dnat.Range.Random);
    }

    [Fact]
    public void Registry_lists_every_supported_extension()
    {
        string[] matches = ["tcp", "udp", "icmp", "multiport", "conntrack", "state", "iprange", "addrtype", "mark", "connmark",
            "mac", "comment", "limit", "statistic", "recent", "connlimit", "hashlimit", "length", "ttl", "tos", "dscp",
            "pkttype", "physdev", "set", "owner", "sctp", "policy", "time", "rpfilter", "nfacct", "helper", "string"];
        string[] targets = ["REJECT", "LOG", "NFLOG", "DNAT", "SNAT", "MASQUERADE", "REDIRECT", "NETMAP", "MARK", "CONNMARK",
            "CT", "NOTRACK", "TRACE", "TTL", "TOS", "DSCP", "TCPMSS", "CHECKSUM", "CLASSIFY", "SET"];
        foreach (var m in matches) Assert.NotNull(ExtensionRegistry.FindMatch(m, Family.IPv4));
        foreach (var t in targets) Assert.NotNull(ExtensionRegistry.FindTarget(t, Family.IPv4));
        Assert.NotNull(ExtensionRegistry.FindMatch("icmp6", Family.IPv6));
        Assert.NotNull(ExtensionRegistry.FindMatch("hl", Family.IPv6));
        Assert.NotNull(ExtensionRegistry.FindMatch("rt", Family.IPv6));
        Assert.NotNull(ExtensionRegistry.FindTarget("HL", Family.IPv6));
        Assert.Null(ExtensionRegistry.FindMatch("icmp", Family.IPv6));
        Assert.Null(ExtensionRegistry.FindTarget("TTL", Family.IPv6));
    }
}
