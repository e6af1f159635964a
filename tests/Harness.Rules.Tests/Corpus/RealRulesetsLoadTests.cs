using System.Text;
using Harness.Net;
using Harness.Rules.Loading;
using Harness.Rules.Tests.Support;
using Xunit.Abstractions;

namespace Harness.Rules.Tests.Corpus;

/// <summary>The 400 real rulesets of ../shared/realdata/rulesets load (or are refused exactly where iptables refuses them).</summary>
public partial class RealRulesetsLoadTests(ITestOutputHelper output)
{
    /// <summary>The modules and targets issue 2 asks for (rules using them must load).</summary>
    public static readonly HashSet<string> Supported = new(StringComparer.Ordinal)
    {
        "tcp", "udp", "icmp", "icmp6", "multiport", "conntrack", "state", "iprange", "addrtype", "mark", "connmark", "mac",
        "comment", "limit", "statistic", "recent", "connlimit", "hashlimit", "length", "ttl", "hl", "tos", "dscp", "pkttype",
        "physdev", "set", "owner", "sctp", "policy", "time", "rt", "rpfilter", "nfacct", "helper", "string",
        "ACCEPT", "DROP", "REJECT", "RETURN", "LOG", "NFLOG", "DNAT", "SNAT", "MASQUERADE", "REDIRECT", "NETMAP", "MARK",
        "CONNMARK", "CT", "NOTRACK", "TRACE", "TTL", "HL", "TOS", "DSCP", "TCPMSS", "CHECKSUM", "CLASSIFY", "SET",
    };

    /// <summary>Files iptables-restore (1.8.9, legacy and nft alike) refuses, and why; Harness must refuse them too.</summary>
    public static readonly IReadOnlyDictionary<string, string> RefusedByIptables = new Dictionary<string, string>
    {
        ["Iptables_Semantics/thy/Iptables_Semantics/Examples/Parser_Test/data/iptables-save"] = "unknown option \"--something-else\" (a parser torture test)",
        ["net-network/blog_a-unikernel-firewall-for-qubesos/iptables-save"] = "prose and ip addr output around the dump",
        ["net-network/config_private_root/iptables-save"] = "anonymised address `<private_ip>'",
        ["net-network/config_veroneau.net/iptables-save"] = "\"COMMIT \" with a trailing blank is not COMMIT",
        ["net-network/config_vsrv/iptables-save.txt"] = "CRLF line endings",
        ["net-network/configs_chair_for_Network_Architectures_and_Services/ip6tables-save-2016-03-16_13-53-28"] = "anonymised MAC XX:XX:…",
        ["net-network/configs_chair_for_Network_Architectures_and_Services/ip6tables-save-2016-06-27_16-29-01"] = "anonymised MAC XX:XX:…",
        ["net-network/configs_chair_for_Network_Architectures_and_Services/iptables-save-2015-05-13_10-53-20"] = "anonymised MAC XX:XX:…",
        ["net-network/configs_chair_for_Network_Architectures_and_Services/iptables-save-2015-05-15_14-14-46"] = "anonymised MAC XX:XX:…",
        ["net-network/configs_chair_for_Network_Architectures_and_Services/iptables-save-2015-05-15_14-35-03"] = "anonymised MAC XX:XX:…",
        ["net-network/configs_chair_for_Network_Architectures_and_Services/iptables-save-2015-05-15_15-11-14"] = "anonymised MAC XX:XX:…",
        ["net-network/configs_chair_for_Network_Architectures_and_Services/iptables-save-2015-05-15_15-23-41"] = "anonymised MAC XX:XX:…",
        ["net-network/configs_chair_for_Network_Architectures_and_Services/iptables-save-2015-09-03_15-56-50"] = "anonymised MAC XX:XX:…",
        ["net-network/configs_chair_for_Network_Architectures_and_Services/iptables-save-2016-03-16_13-53-28"] = "anonymised MAC XX:XX:…",
        ["net-network/configs_chair_for_Network_Architectures_and_Services/iptables-save-2016-06-27_16-29-01"] = "anonymised MAC XX:XX:…",
        ["net-network/configs_chair_for_Network_Architectures_and_Services/iptables_20.10.2013"] = "anonymised MAC XX:XX:…",
        ["net-network/configs_chair_for_Network_Architectures_and_Services/iptables_25.07.2014"] = "anonymised MAC XX:XX:…",
        ["net-network/configs_corny_docker/docker.txt.extracted-10.iptables-save"] = "cut off before its COMMIT",
        ["net-network/configs_ipv6_server/webserver"] = "a line of one blank after the last COMMIT",
        ["net-network/configs_ugent/iptables-save"] = "iptables 1.3 syntax \"-d ! ADDR\"",
        ["net-network/configs_ugent/iptables-save.v1.4.21"] = "iptables 1.3 syntax \"-d ! ADDR\"",
        ["net-network/found_online/jvehent/firewall"] = "host name `ntp.example.net' (iptables would ask DNS)",
        ["net-network/found_online/lafibre.info/iptable-save.txt"] = "CRLF line endings",
        ["net-network/found_online/linux.gda.pl/firewallp.txt"] = "iptables 1.2 time match option \"--days\"",
        ["net-network/found_online/openwrt.org/iptables-save-AA.txt"] = "a shell prompt line before the dump",
        ["net-network/found_online/pastebin.com_2hux32dS/iptables-save"] = "CRLF line endings",
        ["net-network/found_online/pastebin.com_FNwfaEED/iptables-save"] = "a shell prompt line before the dump",
    };

    [Fact]
    public void Every_real_ruleset_loads_unless_iptables_refuses_it_too()
    {
        if (!RealData.Available(out var why)) { output.WriteLine(why); return; }
        var root = Path.Combine(RealData.Root!, "rulesets");
        var refusedPerOption = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var unexpected = new List<string>();
        int files = 0, loaded = 0, refusedAsExpected = 0, rules = 0;
        foreach (var (path, family) in RealData.Rulesets())
        {
            files++;
            var relative = Path.GetRelativePath(root, path).Replace('\\', '/');
            var result = RulesetLoader.LoadFiles([path], family);
            rules += result.Ruleset.AllRules.Count();
            bool expectedRefusal = RefusedByIptables.ContainsKey(relative);
            if (result.Success)
            {
                loaded++;
                if (expectedRefusal) unexpected.Add($"{relative}: loads, but iptables refuses it ({RefusedByIptables[relative]})");
                continue;
            }
            if (expectedRefusal) { refusedAsExpected++; continue; }
            var lines = File.ReadAllLines(path);
            foreach (var d in result.Diagnostics)
            {
                var text = d.Location.Line >= 1 && d.Location.Line <= lines.Length ? lines[d.Location.Line - 1] : "";
                var named = NamedModule().Match(d.Message);
                var key = named.Success ? named.Groups["name"].Value : ModuleAt(text, d.Location.Column) ?? "(other error)";
                refusedPerOption[key] = refusedPerOption.GetValueOrDefault(key) + 1;
                if (!named.Success || Supported.Contains(key)) unexpected.Add($"{d}\n    line: {text}");
            }
        }
        var report = new StringBuilder();
        report.AppendLine($"files: {files}, loaded: {loaded}, refused as iptables refuses them: {refusedAsExpected}, rules loaded: {rules}");
        var usage = OptionUsage();
        report.AppendLine($"rules using a module/target outside the supported list: {usage.Where(u => !Supported.Contains(u.Key)).Sum(u => u.Value)}");
        foreach (var (option, count) in usage.OrderByDescending(p => p.Value))
            report.AppendLine($"  {(Supported.Contains(option) ? " " : "*")} {option,-16} used by {count} rules");
        report.AppendLine("rules refused, per module or target named in the error (* = outside the supported list, must be 0 otherwise):");
        foreach (var (option, count) in refusedPerOption.OrderByDescending(p => p.Value))
            report.AppendLine($"  {(Supported.Contains(option) ? " " : "*")} {option,-16} {count}");
        foreach (var u in unexpected.Take(60)) report.AppendLine("UNEXPECTED " + u);
        output.WriteLine(report.ToString());
        Assert.True(unexpected.Count == 0, report.ToString());
    }

    [Fact]
    public void The_family_shown_by_a_dump_matches_the_manifest()
    {
        if (!RealData.Available(out var why)) { output.WriteLine(why); return; }
        var wrong = new List<string>();
        int files = 0;
        foreach (var (path, family) in RealData.Rulesets())
        {
            files++;
            var result = RulesetLoader.LoadFiles([path]);
            if (result.Ruleset.Family != family) wrong.Add($"{path}: guessed {result.Ruleset.Family}, manifest says {family}");
        }
        output.WriteLine($"files: {files}, family guessed wrong: {wrong.Count}");
        foreach (var w in wrong) output.WriteLine(w);
        Assert.Empty(wrong);
    }

    /// <summary>For every "-m NAME" and extension "-j NAME" of the corpus' rule lines, how many rules use it.</summary>
    private static SortedDictionary<string, int> OptionUsage()
    {
        var usage = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var (path, _) in Support.RealData.Rulesets())
        {
            var lines = File.ReadAllLines(path);
            var userChains = lines.Where(l => l.StartsWith(':')).Select(l => l[1..].Split(' ')[0]).ToHashSet(StringComparer.Ordinal);
            foreach (var line in lines.Where(l => RuleLine().IsMatch(l)))
            {
                var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                var used = new HashSet<string>(StringComparer.Ordinal);
                for (int i = 0; i + 1 < words.Length; i++)
                {
                    if (words[i] is "-m" or "--match") used.Add(words[i + 1]);
                    if (words[i] is "-j" or "--jump" && !userChains.Contains(words[i + 1])) used.Add(words[i + 1]);
                }
                foreach (var u in used) usage[u] = usage.GetValueOrDefault(u) + 1;
            }
        }
        return usage;
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^(\[\d+:\d+\] )?-[AI] ")]
    private static partial System.Text.RegularExpressions.Regex RuleLine();

    /// <summary>The module whose option sits at <paramref name="column"/>: the last "-m NAME" or "-j NAME" before it.</summary>
    private static string? ModuleAt(string line, int column)
    {
        string? found = null;
        var words = line.Split(' ');
        int position = 1;
        for (int i = 0; i < words.Length; i++)
        {
            if (position > column) break;
            if (words[i] is "-m" or "--match" or "-j" or "--jump" && i + 1 < words.Length) found = words[i + 1];
            position += words[i].Length + 1;
        }
        return found;
    }

    /// <summary>The module an error names: "match `x' is not supported", "Couldn't load target `X'", ….</summary>
    [System.Text.RegularExpressions.GeneratedRegex(@"(?:match|target) `(?<name>[^']+)'")]
    private static partial System.Text.RegularExpressions.Regex NamedModule();
}
