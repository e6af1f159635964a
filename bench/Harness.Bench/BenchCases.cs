using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using Harness.Hosts;
using Harness.Net;
using Harness.Packets;
using Harness.Rules;
using Harness.Rules.Loading;

namespace Harness.Bench;

/// <summary>
/// The two benchmark cases of issue 4, built for the generated benchmark traffic (FlowGenerator.GenerateBenchmark:
/// clients 10.1.0.0/16 on eth0, servers 203.0.113.0/24 on eth1, TCP 80/443, UDP 53, ping):
/// (a) a 50-rule stateful FORWARD firewall; (b) kube-proxy style nat rules for 5,000 services (~25,000 rules).
/// </summary>
public static class BenchCases
{
    /// <summary>The router between the clients (eth0) and the servers (eth1); MACs are the generator's host-side ones.</summary>
    public static Host Router()
    {
        Cidr C(string s) => Cidr.TryParse(s, out var c) ? c : throw new FormatException(s);
        return new Host(
            [
                new HostInterface("lo", 1, new MacAddress(0), [new InterfaceAddress(Address.Parse("127.0.0.1"), 8)], IsLoopback: true),
                new HostInterface("eth0", 2, PcapngWriter.SyntheticMac("eth0", farSide: false), [new InterfaceAddress(Address.Parse("10.1.255.254"), 16)]),
                new HostInterface("eth1", 3, PcapngWriter.SyntheticMac("eth1", farSide: false), [new InterfaceAddress(Address.Parse("203.0.113.254"), 24)]),
            ],
            [
                new Route(C("10.244.0.0/16"), "eth1", Address.Parse("203.0.113.253")),
                new Route(C("0.0.0.0/0"), "eth1", Address.Parse("203.0.113.253")),
            ],
            ImmutableArray<RoutingRule>.Empty,
            Sysctls.Defaults.With("net.ipv4.ip_forward", "1"));
    }

    /// <summary>(a) 50 rules: established first, INVALID dropped, then per-service and per-network allows and denies.</summary>
    public static string FirewallText()
    {
        var sb = new StringBuilder();
        sb.Append("*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n");
        sb.Append("-A INPUT -i lo -j ACCEPT\n");
        sb.Append("-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n");
        sb.Append("-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n");
        sb.Append("-A FORWARD -m conntrack --ctstate INVALID -j DROP\n");
        for (int i = 0; i < 20; i++)
            sb.Append(CultureInfo.InvariantCulture, $"-A FORWARD -s 10.{100 + i}.0.0/16 -j DROP\n");
        for (int i = 0; i < 20; i++)
            sb.Append(CultureInfo.InvariantCulture, $"-A FORWARD -d 198.18.{i}.0/24 -p tcp -m tcp --dport {8000 + i} -j ACCEPT\n");
        sb.Append("-A FORWARD -i eth0 -o eth1 -p tcp -m multiport --dports 80,443 -m conntrack --ctstate NEW -j ACCEPT\n");
        sb.Append("-A FORWARD -i eth0 -o eth1 -p udp -m udp --dport 53 -j ACCEPT\n");
        sb.Append("-A FORWARD -p icmp -m icmp --icmp-type 8 -m limit --limit 1000/sec --limit-burst 1000 -j ACCEPT\n");
        sb.Append("-A FORWARD -p tcp -m tcp --dport 22 -j DROP\n");
        sb.Append("-A FORWARD -p tcp -m tcp --dport 23 -j DROP\n");
        sb.Append("-A FORWARD -m limit --limit 10/min -j LOG --log-prefix \"FWD-DROP: \"\n");
        sb.Append("-A FORWARD -p udp -j DROP\n");
        sb.Append("-A FORWARD -p tcp -j DROP\n");
        sb.Append("COMMIT\n");
        return sb.ToString();
    }

    /// <summary>(c) the firewall of (a) on a NAT router: every forwarded connection is masqueraded behind eth1.</summary>
    public static string NatRouterText() =>
        FirewallText() + "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
        + "-A POSTROUTING -o eth1 -j MASQUERADE\nCOMMIT\n";

    /// <summary>
    /// (a) with conntrack off: raw's NOTRACK for every arriving packet, and the ESTABLISHED rules also accepting UNTRACKED
    /// (the same verdicts without connection tracking; a measurement of what tracking costs, not a target).
    /// </summary>
    public static string UntrackedFirewallText() =>
        "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A PREROUTING -j NOTRACK\nCOMMIT\n"
        + FirewallText().Replace("RELATED,ESTABLISHED", "RELATED,ESTABLISHED,UNTRACKED", StringComparison.Ordinal);

    /// <summary>
    /// (b) kube-proxy style: KUBE-SERVICES with one rule per service (ClusterIP:port → KUBE-SVC-*), each service
    /// chain spreading over its endpoints with "-m statistic --mode random" (one or two endpoints), each
    /// endpoint chain marking hairpin traffic and DNATing, plus KUBE-POSTROUTING masquerading marked traffic.
    /// The 200 benchmark servers on ports 80, 443 and 53 are services; the other 4,400 are never hit.
    /// </summary>
    public static string KubeProxyText(int services = 5000, bool withStatistic = true)
    {
        var sb = new StringBuilder();
        sb.Append("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n");
        sb.Append(":KUBE-SERVICES - [0:0]\n:KUBE-POSTROUTING - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n:KUBE-NODEPORTS - [0:0]\n");
        var body = new StringBuilder();
        var chains = new StringBuilder();
        for (int s = 0; s < services; s++)
        {
            var (ip, port, proto) = Service(s);
            string svc = "KUBE-SVC-" + s.ToString("D6", CultureInfo.InvariantCulture);
            chains.Append(':').Append(svc).Append(" - [0:0]\n");
            body.Append(CultureInfo.InvariantCulture, $"-A KUBE-SERVICES -d {ip}/32 -p {proto} -m comment --comment \"ns/svc-{s}:port\" -m {proto} --dport {port} -j {svc}\n");
            int endpoints = s % 2 == 0 ? 2 : 1;
            for (int e = 0; e < endpoints; e++)
            {
                string sep = $"KUBE-SEP-{s:D6}{e}";
                chains.Append(':').Append(sep).Append(" - [0:0]\n");
                var pod = $"10.244.{(s * 2 + e) / 250 % 250}.{(s * 2 + e) % 250 + 1}";
                bool last = e == endpoints - 1;
                if (!last && withStatistic)
                    body.Append(CultureInfo.InvariantCulture, $"-A {svc} -m comment --comment \"ns/svc-{s}:port\" -m statistic --mode random --probability 0.50000000000 -j {sep}\n");
                else if (!last)
                    body.Append(CultureInfo.InvariantCulture, $"-A {svc} -s {pod}/32 -m comment --comment \"ns/svc-{s}:port\" -j {sep}\n");
                else
                    body.Append(CultureInfo.InvariantCulture, $"-A {svc} -m comment --comment \"ns/svc-{s}:port\" -j {sep}\n");
                body.Append(CultureInfo.InvariantCulture, $"-A {sep} -s {pod}/32 -m comment --comment \"ns/svc-{s}:port\" -j KUBE-MARK-MASQ\n");
                body.Append(CultureInfo.InvariantCulture, $"-A {sep} -p {proto} -m comment --comment \"ns/svc-{s}:port\" -m {proto} -j DNAT --to-destination {pod}:{port}\n");
            }
        }
        sb.Append(chains);
        sb.Append("-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n");
        sb.Append("-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n");
        sb.Append("-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING\n");
        sb.Append("-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n");
        sb.Append("-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n");
        sb.Append("-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0\n");
        sb.Append("-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE\n");
        sb.Append(body);
        sb.Append("-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n");
        sb.Append("COMMIT\n");
        sb.Append("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
        sb.Append("-A FORWARD -m conntrack --ctstate INVALID -j DROP\n");
        sb.Append("COMMIT\n");
        return sb.ToString();
    }

    /// <summary>Service s: the first 600 are the benchmark's servers (203.0.113.1-200 on tcp/80, tcp/443, udp/53); the rest are 10.96.x.y.</summary>
    private static (string Ip, int Port, string Proto) Service(int s)
    {
        if (s < 600)
        {
            int server = s / 3 + 1;
            return (s % 3) switch
            {
                0 => ($"203.0.113.{server}", 80, "tcp"),
                1 => ($"203.0.113.{server}", 443, "tcp"),
                _ => ($"203.0.113.{server}", 53, "udp"),
            };
        }
        return ($"10.96.{s / 250}.{s % 250 + 1}", 80, "tcp");
    }

    public static Ruleset Load(string text, string name)
    {
        var result = RulesetLoader.Load([new RulesetInput(name, text)], Family.IPv4);
        if (!result.Success) throw new InvalidOperationException(string.Join("\n", result.Diagnostics.Take(5)));
        return result.Ruleset;
    }
}
