using System.Globalization;
using System.Text;
using Harness.Engine.Walk;
using Harness.Net;
using Harness.Rules;

namespace Harness.Engine;

/// <summary>One counter: a rule (<see cref="RuleNumber"/> set) or a built-in chain's policy (null).</summary>
public sealed record RuleCounter(Family Family, string Table, string Chain, int? RuleNumber, ulong Packets, ulong Bytes)
{
    public string Id => RuleNumber is int n
        ? string.Create(CultureInfo.InvariantCulture, $"{Table}:{Chain}:{n}")
        : $"{Table}:{Chain}:policy";
}

/// <summary>Per-rule and per-policy packet/byte counters, like `iptables -L -v`, live as packets are processed.</summary>
public sealed class RuleCounters
{
    private readonly CompiledRuleset? _ipv4, _ipv6;

    internal RuleCounters(CompiledRuleset? ipv4, CompiledRuleset? ipv6)
    {
        _ipv4 = ipv4;
        _ipv6 = ipv6;
    }

    /// <summary>The counters of rule <paramref name="ruleNumber"/> (1-based) of a chain; throws when there is no such rule.</summary>
    public Counters Get(Family family, string table, string chain, int ruleNumber)
    {
        var c = Chain(family, table, chain);
        if (ruleNumber < 1 || ruleNumber > c.Rules.Length)
            throw new ArgumentOutOfRangeException(nameof(ruleNumber), $"{table}:{chain} has {c.Rules.Length} rules");
        var r = c.Rules[ruleNumber - 1];
        return new Counters((ulong)r.Packets, (ulong)r.Bytes);
    }

    /// <summary>The counters of a built-in chain's policy.</summary>
    public Counters Policy(Family family, string table, string chain)
    {
        var c = Chain(family, table, chain);
        return new Counters((ulong)c.PolicyPackets, (ulong)c.PolicyBytes);
    }

    /// <summary>Every counter, in ruleset order (tables, chains, rules as the ruleset lists them; a chain's policy first).</summary>
    public IEnumerable<RuleCounter> All
    {
        get
        {
            foreach (var rs in new[] { _ipv4, _ipv6 })
            {
                if (rs is null) continue;
                foreach (var chain in rs.Chains)
                {
                    if (chain.IsBuiltin)
                        yield return new RuleCounter(rs.Family, chain.Table, chain.Name, null, (ulong)chain.PolicyPackets, (ulong)chain.PolicyBytes);
                    foreach (var r in chain.Rules)
                        yield return new RuleCounter(rs.Family, chain.Table, chain.Name, r.Rule.Number, (ulong)r.Packets, (ulong)r.Bytes);
                }
            }
        }
    }

    /// <summary>The counters as iptables-save -c prints them: "[packets:bytes]" before each rule and after each chain.</summary>
    public string Format(Family family)
    {
        var rs = family == Family.IPv4 ? _ipv4 : _ipv6;
        var sb = new StringBuilder();
        if (rs is null) return "";
        string? table = null;
        foreach (var chain in rs.Chains)
        {
            if (chain.Table != table)
            {
                table = chain.Table;
                sb.Append('*').Append(table).Append('\n');
            }
            sb.Append(CultureInfo.InvariantCulture, $"# {chain.Name}")
              .Append(chain.IsBuiltin ? string.Create(CultureInfo.InvariantCulture, $" policy {chain.Policy.ToString()!.ToUpperInvariant()} [{chain.PolicyPackets}:{chain.PolicyBytes}]") : "")
              .Append('\n');
            foreach (var r in chain.Rules)
                sb.Append(CultureInfo.InvariantCulture, $"[{r.Packets}:{r.Bytes}] {r.Rule.Text}\n");
        }
        return sb.ToString();
    }

    private CompiledChain Chain(Family family, string table, string chain)
    {
        var rs = family == Family.IPv4 ? _ipv4 : _ipv6;
        return rs?.Find(table, chain) ?? throw new ArgumentException($"no chain {table}:{chain} in the {family} ruleset");
    }
}
