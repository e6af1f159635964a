using System.CommandLine;
using Harness.Golden.Cases;

namespace Harness.Cli;

/// <summary>The options that describe one replay: rulesets, host, traffic, seed.</summary>
public sealed class ReplayOptions
{
    public Option<string[]> Rules { get; } = new("--rules")
    {
        Description = "IPv4 ruleset: an iptables-save dump or a script of iptables commands; repeat to load several in order",
        AllowMultipleArgumentsPerToken = false,
        HelpName = "FILE",
    };

    public Option<string[]> Rules6 { get; } = new("--rules6")
    {
        Description = "IPv6 ruleset (ip6tables-save dump or ip6tables script); repeat to load several in order",
        HelpName = "FILE",
    };

    public Option<string> Host { get; } = new("--host")
    {
        Description = "Host description: a YAML file, or a directory holding ip-addr.json (ip -j addr), ip-route.json " +
            "(ip -j route show table all), ip-rule.json (ip -j rule), sysctl.txt (sysctl -a) and ip-maddr.json (ip -j maddr)",
        Required = true,
        HelpName = "FILE|DIR",
    };

    public Option<string> Pcap { get; } = new("--pcap") { Description = "Traffic: a pcap or pcapng capture", HelpName = "FILE" };

    public Option<string> Flows { get; } = new("--flows") { Description = "Traffic: a flow description for the generator (docs/flows.md)", HelpName = "FILE" };

    public Option<int> Seed { get; } = new("--seed") { Description = "Seed for generated traffic and -m statistic --mode random", DefaultValueFactory = _ => 0 };

    public Option<string> In { get; } = new("--in") { Description = "Ingress interface of packets whose capture does not name one", HelpName = "IFACE" };

    public Option<string> IpSets { get; } = new("--ipsets") { Description = "ipsets for -m set (ipset save output)", HelpName = "FILE" };

    public void AddTo(Command command, bool traffic = true)
    {
        command.Options.Add(Rules);
        command.Options.Add(Rules6);
        command.Options.Add(Host);
        if (traffic)
        {
            command.Options.Add(Pcap);
            command.Options.Add(Flows);
        }
        command.Options.Add(Seed);
        command.Options.Add(In);
        command.Options.Add(IpSets);
    }

    public CaseManifest Manifest(ParseResult p, IReadOnlyList<string>? rulesOverride = null, bool trafficRequired = true) =>
        AdHocCase.Create(
            rulesOverride ?? p.GetValue(Rules) ?? [],
            p.GetValue(Rules6) ?? [],
            p.GetValue(Host)!,
            p.GetValue(Pcap),
            p.GetValue(Flows),
            p.GetValue(Seed),
            p.GetValue(In),
            p.GetValue(IpSets),
            trafficRequired);
}
