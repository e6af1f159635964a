using Harness.Net;
using Harness.Rules.Parsing;
using Harness.Rules.Tests.Support;
using Xunit.Abstractions;

namespace Harness.Rules.Tests.Extensions;

/// <summary>
/// One rule per supported option, loaded by the real iptables-restore in a throwaway namespace; iptables-save's text
/// must equal what RuleSpecPrinter prints for the same input, rule for rule. Skips (printing why) without root/iptables.
/// </summary>
public class ExtensionKernelTests(ITestOutputHelper output)
{
    /// <summary>(table, chain, rule spec) written the way people write them (abbreviations, names, unsorted lists).</summary>
    private static readonly (string Table, string Chain, string Spec)[] Common =
    [
        ("filter", "INPUT", "-p tcp --dport 22 -j ACCEPT"),
        ("filter", "INPUT", "-p tcp -m tcp --sport 1024:65535 ! --dport ssh --tcp-flags SYN,ACK,FIN SYN"),
        ("filter", "INPUT", "-p tcp ! --syn -m tcp --tcp-option 2"),
        ("filter", "INPUT", "-p udp --sport 53 --dport 1024: -j ACCEPT"),
        ("filter", "INPUT", "! -i eth+ -p udp -m multiport ! --dports 53,67:68,domain"),
        ("filter", "INPUT", "-p tcp -m multiport --sports 80,443"),
        ("filter", "INPUT", "-p sctp -m multiport --ports 5000:5010"),
        ("filter", "INPUT", "-m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"),
        ("filter", "INPUT", "-m conntrack ! --ctstate INVALID,NEW,UNTRACKED,SNAT,DNAT --ctproto tcp --ctstatus ASSURED,SEEN_REPLY"),
        ("filter", "INPUT", "-m conntrack --ctorigsrcport 1:2 ! --ctorigdstport 3 --ctreplsrcport 4: --ctrepldstport :5 --ctexpire 10:20 --ctdir REPLY"),
        ("filter", "INPUT", "-m conntrack --ctstatus NONE ! --ctexpire 5"),
        ("filter", "INPUT", "-m state --state ESTABLISHED,RELATED,NEW -j ACCEPT"),
        ("filter", "INPUT", "-m state ! --state INVALID,UNTRACKED"),
        ("filter", "INPUT", "-m comment --comment \"allow ssh: 'x' \\\"y\\\"\" -j ACCEPT"),
        ("filter", "INPUT", "-m comment --comment plain_word-1"),
        ("filter", "INPUT", "-m limit --limit 5/min --limit-burst 10 -j LOG --log-prefix \"IN: \" --log-level info"),
        ("filter", "INPUT", "-m limit --limit 2/s"),
        ("filter", "INPUT", "-m limit --limit 1000/day"),
        ("filter", "INPUT", "-m mark ! --mark 0x10/0xf0"),
        ("filter", "INPUT", "-m mark --mark 7"),
        ("filter", "INPUT", "-m connmark --mark 1/0x3"),
        ("filter", "INPUT", "-m mac ! --mac-source 00:11:22:AA:bb:cc"),
        ("filter", "INPUT", "-m statistic --mode random --probability 0.25"),
        ("filter", "INPUT", "-m statistic --mode nth ! --every 4 --packet 1"),
        ("filter", "INPUT", "-m recent --name ssh --set"),
        ("filter", "INPUT", "-m recent --update --seconds 60 --hitcount 4 --rttl --name ssh --rdest -j DROP"),
        ("filter", "INPUT", "-m recent ! --rcheck --seconds 30 --reap"),
        ("filter", "INPUT", "-m recent --remove --name x"),
        ("filter", "INPUT", "-p tcp -m connlimit --connlimit-above 15 --connlimit-daddr -j REJECT --reject-with tcp-reset"),
        ("filter", "INPUT", "-m connlimit ! --connlimit-above 3 --connlimit-mask 24"),
        ("filter", "INPUT", "-m hashlimit --hashlimit-above 10/sec --hashlimit-burst 20 --hashlimit-mode srcip,dstport --hashlimit-name aflood --hashlimit-srcmask 8"),
        ("filter", "INPUT", "-m hashlimit --hashlimit-upto 5/min --hashlimit-name b --hashlimit-htable-size 64 --hashlimit-htable-max 128 --hashlimit-htable-expire 5000 --hashlimit-htable-gcinterval 500 --hashlimit-dstmask 16 --hashlimit-rate-match --hashlimit-rate-interval 2"),
        ("filter", "INPUT", "-m hashlimit --hashlimit-upto 4kb/s --hashlimit-burst 400kb --hashlimit-name c"),
        ("filter", "INPUT", "-m length --length 40:1500"),
        ("filter", "INPUT", "-m length ! --length 64"),
        ("filter", "INPUT", "-m tos --tos Minimize-Delay"),
        ("filter", "INPUT", "-m tos ! --tos 0x10/0x1c"),
        ("filter", "INPUT", "-m dscp --dscp-class AF41"),
        ("filter", "INPUT", "-m dscp ! --dscp 10"),
        ("filter", "INPUT", "-m pkttype --pkt-type broadcast -j DROP"),
        ("filter", "INPUT", "-m pkttype ! --pkt-type multicast"),
        ("filter", "FORWARD", "-m physdev --physdev-is-bridged -j ACCEPT"),
        ("filter", "FORWARD", "-m physdev --physdev-in eth0 ! --physdev-out eth1 --physdev-is-out"),
        ("filter", "INPUT", "-m set --match-set hxset src -j DROP"),
        ("filter", "INPUT", "-m set ! --match-set hxset src,dst --return-nomatch ! --update-counters --packets-gt 3 ! --bytes-eq 7"),
        ("filter", "OUTPUT", "-m owner --uid-owner 1000 -j ACCEPT"),
        ("filter", "OUTPUT", "-m owner ! --socket-exists --uid-owner 0-99 ! --gid-owner 5 --suppl-groups"),
        ("filter", "INPUT", "-p sctp --dport 50000 -j ACCEPT"),
        ("filter", "INPUT", "-p sctp -m sctp ! --sport 1:2 --chunk-types any INIT,DATA:Be"),
        ("filter", "INPUT", "-p sctp -m sctp --chunk-types only ABORT:t,SHUTDOWN_COMPLETE"),
        ("filter", "INPUT", "-m policy --dir in --pol ipsec -j ACCEPT"),
        ("filter", "OUTPUT", "-m policy --dir out --pol none"),
        ("filter", "INPUT", "-m time --timestart 06:59 --timestop 23:59 --weekdays Sun,Mon,Tue"),
        ("filter", "INPUT", "-m time --monthdays 1,15 --datestart 2024-01-01 --datestop 2025-06-30T12:00 --kerneltz"),
        ("filter", "INPUT", "-m time ! --weekdays Sat,Sun --timestart 22:00 --timestop 06:00 --contiguous"),
        ("filter", "INPUT", "-m helper --helper ftp"),
        ("filter", "INPUT", "-m u32 ! --u32 \"0>>22&0x3C@12>>26&0x3C@0=1:5,7 && 6&0xFF=17\""),
        ("filter", "INPUT", "-m string --string \"X-Kazaa-User\" --algo bm --to 1000 -j DROP"),
        ("filter", "INPUT", "-m string ! --hex-string \"|00 01|ab\" --algo kmp --from 10 --icase"),
        ("filter", "INPUT", "-m addrtype --dst-type LOCAL,MULTICAST"),
        ("filter", "INPUT", "-m addrtype ! --src-type UNICAST --limit-iface-in"),
        ("filter", "INPUT", "-j REJECT"),
        ("filter", "FORWARD", "-j NFLOG --nflog-group 5 --nflog-prefix blocked --nflog-threshold 3 --nflog-size 128"),
        ("filter", "FORWARD", "-j LOG --log-level 7 --log-tcp-sequence --log-tcp-options --log-ip-options --log-uid --log-macdecode"),
        ("filter", "FORWARD", "-j MARK --set-mark 0x1/0xff"),
        ("filter", "FORWARD", "-j MARK --xor-mark 3"),
        ("filter", "FORWARD", "-j CONNMARK --save-mark --mask 0xff"),
        ("filter", "FORWARD", "-j CONNMARK --or-mark 4"),
        ("filter", "FORWARD", "-j CONNMARK --restore-mark --ctmask 0xf --right-shift-mark 2"),
        ("filter", "FORWARD", "-p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu"),
        ("filter", "FORWARD", "-p tcp -j TCPMSS --set-mss 1400"),
        ("filter", "FORWARD", "-j CLASSIFY --set-class 1:10"),
        ("filter", "FORWARD", "-j SET --add-set hxset src --exist --timeout 30"),
        ("filter", "FORWARD", "-j SET --del-set hxset dst,src"),
        ("filter", "FORWARD", "-i eth1 -g hxchain"),
        ("filter", "FORWARD", "-j hxchain"),
        ("filter", "hxchain", "-j RETURN"),
        ("filter", "hxchain", "-c 5 10"),
        ("mangle", "PREROUTING", "-m rpfilter --loose --validmark --accept-local --invert -j DROP"),
        ("mangle", "PREROUTING", "-j TOS --set-tos Maximize-Throughput"),
        ("mangle", "PREROUTING", "-j TOS --and-tos 0x0f"),
        ("mangle", "PREROUTING", "-j DSCP --set-dscp-class EF"),
        ("mangle", "POSTROUTING", "-p udp --dport 68 -j CHECKSUM --checksum-fill"),
        ("nat", "PREROUTING", "-p tcp --dport 8080 -j DNAT --to-destination :80"),
        ("nat", "PREROUTING", "-p tcp -j REDIRECT --to-ports 3128-3130 --random"),
        ("nat", "POSTROUTING", "-o eth0 -j MASQUERADE"),
        ("nat", "POSTROUTING", "-p udp -j MASQUERADE --to-ports 1024-2048 --random-fully"),
        ("raw", "PREROUTING", "-p udp --dport 53 -j NOTRACK"),
        ("raw", "PREROUTING", "-j CT --notrack"),
        ("raw", "OUTPUT", "-j CT --zone-orig 7 --ctevents new,destroy --expevents new"),
        ("raw", "PREROUTING", "-j TRACE"),
    ];

    private static readonly (string Table, string Chain, string Spec)[] OnlyV4 =
    [
        ("filter", "INPUT", "-s 10.1.2.3/255.255.0.0 ! -d 192.168.0.0/16 -i eth0 -p icmp --icmp-type echo-request -j ACCEPT"),
        ("filter", "INPUT", "-s 1.2.3.4,5.6.7.8 -d localhost -f"),
        ("filter", "INPUT", "! -f -p icmp -m icmp ! --icmp-type 3/1"),
        ("filter", "INPUT", "-p icmp --icmp-type any"),
        ("filter", "INPUT", "-m iprange --src-range 10.0.0.1-10.0.0.9 ! --dst-range 10.0.1.1-10.0.1.2"),
        ("filter", "INPUT", "-m conntrack --ctorigsrc 10.0.0.0/8 ! --ctorigdst 1.2.3.4 --ctreplsrc 1.2.3.4/30 --ctrepldst 5.6.7.8"),
        ("filter", "INPUT", "-m ttl --ttl-lt 5"),
        ("filter", "INPUT", "-m ttl ! --ttl-eq 64"),
        ("filter", "INPUT", "-m policy --dir in --pol ipsec --strict --reqid 1 --spi 0x10 --proto esp --mode tunnel --tunnel-src 10.0.0.0/8 --tunnel-dst 1.2.3.4 --next ! --proto ah"),
        ("filter", "INPUT", "-p 47 -j ACCEPT"),
        ("filter", "INPUT", "-p ipencap"),
        ("filter", "INPUT", "-j REJECT --reject-with icmp-host-prohibited"),
        ("filter", "INPUT", "-m recent --set --mask 255.255.255.0"),
        ("mangle", "PREROUTING", "-j TTL --ttl-inc 3"),
        ("nat", "PREROUTING", "-d 203.0.113.1/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.0.0.2-10.0.0.4:8080-8090/8000 --random --persistent"),
        ("nat", "OUTPUT", "-p udp -j DNAT --to 10.0.0.9"),
        ("nat", "POSTROUTING", "-s 10.0.0.0/24 -p tcp -j SNAT --to-source 198.51.100.1:1000-2000 --random --random-fully --persistent"),
        ("nat", "POSTROUTING", "-j NETMAP --to 10.9.0.0/16"),
        ("nat", "PREROUTING", "-j NETMAP --to 1.2.3.4"),
    ];

    private static readonly (string Table, string Chain, string Spec)[] OnlyV6 =
    [
        ("filter", "INPUT", "-s 2001:db8::1/64 ! -d fe80::/10 -p ipv6-icmp --icmpv6-type neighbour-solicitation -j ACCEPT"),
        ("filter", "INPUT", "-p icmpv6 -m icmp6 ! --icmpv6-type 1/4"),
        ("filter", "INPUT", "-m iprange ! --src-range 2001:db8::1-2001:db8::ff"),
        ("filter", "INPUT", "-m conntrack --ctorigsrc 2001:db8::/32 --ctrepldst ::1"),
        ("filter", "INPUT", "-m hl --hl-eq 255"),
        ("filter", "INPUT", "-m hl --hl-gt 1"),
        ("filter", "INPUT", "-m rt --rt-type 0 ! --rt-segsleft 0 --rt-len 8 --rt-0-res"),
        ("filter", "INPUT", "-m rt --rt-type 0 --rt-0-addrs ::1,2001:db8::2 --rt-0-not-strict"),
        ("filter", "INPUT", "-m policy --dir in --pol ipsec --strict --mode tunnel --tunnel-src 2001:db8::/32"),
        ("filter", "INPUT", "-j REJECT --reject-with icmp6-adm-prohibited"),
        ("filter", "INPUT", "-m recent --set --mask ffff:ffff::"),
        ("mangle", "PREROUTING", "-j HL --hl-set 64"),
        ("nat", "PREROUTING", "-p tcp -j DNAT --to-destination [2001:db8::1-2001:db8::9]:80"),
        ("nat", "POSTROUTING", "-j SNAT --to-source 2001:db8::5"),
        ("nat", "POSTROUTING", "-j NETMAP --to 2001:db8:1::/48"),
    ];

    [Fact]
    public void IPv4_rules_print_as_iptables_save_prints_them() => Check(Family.IPv4, "iptables", [.. Common, .. OnlyV4]);

    [Fact]
    public void IPv6_rules_print_as_iptables_save_prints_them() => Check(Family.IPv6, "ip6tables", [.. Common, .. OnlyV6]);

    private void Check(Family family, string tool, (string Table, string Chain, string Spec)[] rules)
    {
        if (!KernelNamespace.Available(out var why, tool + "-restore", tool + "-save", "ipset"))
        {
            output.WriteLine(why);
            return;
        }
        var ours = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var (table, chain, spec) in rules)
        {
            var words = ShellWords.SplitRestore(spec);
            IReadOnlyList<RuleSpec> specs;
            try { specs = RuleSpecParser.ParseAll(words, new RuleContext(family, table, chain, null)); }
            catch (RuleSyntaxException e) { throw new Xunit.Sdk.XunitException($"Harness refused -t {table} -A {chain} {spec}: {e.Message}"); }
            foreach (var parsed in specs) Lines(ours, table).Add($"-A {chain} {parsed.Print(family)}".TrimEnd());
        }
        var dump = BuildDump(rules);
        using var ns = KernelNamespace.Create();
        var setType = family == Family.IPv4 ? "inet" : "inet6";
        var ipset = ns.Exec("ipset", ["create", "hxset", "hash:ip", "family", setType, "timeout", "60", "counters"]);
        Assert.True(ipset.ExitCode == 0, ipset.Stderr);
        var restore = ns.Exec(tool + "-restore", [], dump);
        Assert.True(restore.ExitCode == 0, $"{tool}-restore refused the generated dump: {restore.Stderr}\n{dump}");
        var saved = ns.Exec(tool + "-save", []);
        var kernel = SaveText.Blocks(saved.Stdout);
        int compared = 0;
        var differences = new List<string>();
        foreach (var (table, all) in ours)
        foreach (var chain in all.Select(ChainOf).Distinct())
        {
            var lines = all.Where(l => ChainOf(l) == chain).ToList();
            var kernelLines = kernel[table].Where(l => l.StartsWith("-A ", StringComparison.Ordinal) && ChainOf(l) == chain).ToList();
            for (int i = 0; i < Math.Max(lines.Count, kernelLines.Count); i++)
            {
                var a = i < lines.Count ? lines[i] : "<none>";
                var b = i < kernelLines.Count ? kernelLines[i] : "<none>";
                compared++;
                if (a != b) differences.Add($"{table}: ours:   {a}\n        kernel: {b}");
            }
        }
        output.WriteLine($"{tool}: {compared} rules compared, {differences.Count} different");
        foreach (var d in differences) output.WriteLine(d);
        Assert.Empty(differences);
    }

    private static string ChainOf(string line) => line.Split(' ')[1];

    private static List<string> Lines(Dictionary<string, List<string>> map, string table)
    {
        if (!map.TryGetValue(table, out var list)) map[table] = list = [];
        return list;
    }

    /// <summary>A restore document: each table with its built-in chains, the user chains named in the rules, the rules.</summary>
    private static string BuildDump((string Table, string Chain, string Spec)[] rules)
    {
        var text = new System.Text.StringBuilder();
        foreach (var table in rules.Select(r => r.Table).Distinct())
        {
            text.Append('*').Append(table).Append('\n');
            foreach (var chain in TableNames.BuiltinChains(table)) text.Append($":{chain} ACCEPT [0:0]\n");
            foreach (var chain in rules.Where(r => r.Table == table).Select(r => r.Chain).Distinct()
                         .Where(c => !TableNames.BuiltinChains(table).Contains(c)))
                text.Append($":{chain} - [0:0]\n");
            foreach (var (_, chain, spec) in rules.Where(r => r.Table == table)) text.Append($"-A {chain} {spec}\n");
            text.Append("COMMIT\n");
        }
        return text.ToString();
    }
}
