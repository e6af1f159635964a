using System.Collections.Immutable;
using System.Globalization;
using System.Text;

namespace Harness.Oracle.Fuzz;

/// <summary>One generated rule: where it goes and its iptables-save spec (everything after "-A CHAIN").</summary>
public sealed record FuzzRule(string Table, string Chain, string Spec);

/// <summary>A generated ruleset: built-in chain policies, user chains (filter table), rules in order.</summary>
public sealed record FuzzRuleset(ImmutableArray<(string Table, string Chain, string Policy)> Policies, ImmutableArray<string> UserChains, ImmutableArray<FuzzRule> Rules)
{
    public static readonly ImmutableArray<(string Table, ImmutableArray<string> Chains)> Builtins =
    [
        ("raw", ["PREROUTING", "OUTPUT"]),
        ("mangle", ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"]),
        ("nat", ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"]),
        ("filter", ["INPUT", "FORWARD", "OUTPUT"]),
    ];

    /// <summary>The ruleset as iptables-save text (every table present, so a reload replaces everything).</summary>
    public string ToSave()
    {
        var sb = new StringBuilder();
        foreach (var (table, chains) in Builtins)
        {
            sb.Append('*').Append(table).Append('\n');
            foreach (var chain in chains)
            {
                var policy = Policies.FirstOrDefault(p => p.Table == table && p.Chain == chain).Policy ?? "ACCEPT";
                sb.Append(CultureInfo.InvariantCulture, $":{chain} {policy} [0:0]\n");
            }
            if (table == "filter")
                foreach (var user in UserChains) sb.Append(CultureInfo.InvariantCulture, $":{user} - [0:0]\n");
            foreach (var rule in Rules.Where(r => r.Table == table))
                sb.Append(CultureInfo.InvariantCulture, $"-A {rule.Chain} {rule.Spec}\n");
            sb.Append("COMMIT\n");
        }
        return sb.ToString();
    }
}

/// <summary>Which packet of a flow a traffic step sends.</summary>
public enum StepKind
{
    Syn,
    SynAck,
    Ack,
    ClientData,
    ServerData,
    ClientFin,
    ServerFin,
    ClientRst,
    BadChecksum,
    StrayAck,
    UdpRequest,
    UdpResponse,
    EchoRequest,
    EchoReply,
}

/// <summary>A flow: protocol, endpoints (indexes into the fuzz host's address lists) and ports.</summary>
public sealed record FuzzFlow(byte Protocol, string Client, string Server, ushort ClientPort, ushort ServerPort);

/// <summary>One packet of the traffic: a step of one flow.</summary>
public sealed record FuzzStep(int Flow, StepKind Kind);

/// <summary>A whole differential case: a ruleset (ip6tables when <paramref name="Ipv6"/>), flows, and the packets to send in order.</summary>
public sealed record FuzzCase(FuzzRuleset Ruleset, ImmutableArray<FuzzFlow> Flows, ImmutableArray<FuzzStep> Steps, bool Ipv6 = false)
{
    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append(Ruleset.ToSave());
        for (int i = 0; i < Flows.Length; i++)
        {
            var f = Flows[i];
            sb.Append(CultureInfo.InvariantCulture, $"# flow {i}: proto {f.Protocol} {f.Client}:{f.ClientPort} -> {f.Server}:{f.ServerPort}\n");
        }
        foreach (var s in Steps) sb.Append(CultureInfo.InvariantCulture, $"# step flow {s.Flow} {s.Kind}\n");
        return sb.ToString();
    }
}
