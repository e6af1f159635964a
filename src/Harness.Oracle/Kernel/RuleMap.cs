using System.Text.Json;
using Harness.Engine;

namespace Harness.Oracle.Kernel;

/// <summary>What one nft rule handle means: the iptables chain and 1-based rule number, and whether it is a REJECT.</summary>
public sealed record MappedRule(string Table, string Chain, int Number, bool IsReject);

/// <summary>
/// Maps nft rule handles (what a trace event names) back to iptables rule numbers: iptables-nft writes one nft rule
/// per iptables rule, in order, so the n-th rule listed in a chain is iptables rule n. Also records which chains are
/// base chains and at which hook, and which handles of the oracle's own table test which conntrack state.
/// </summary>
public sealed class RuleMap
{
    private readonly Dictionary<(byte Family, string Table, string Chain, ulong Handle), MappedRule> _rules = [];
    private readonly Dictionary<(byte Family, string Table, string Chain), Hook> _baseChains = [];
    private readonly Dictionary<ulong, string> _ctStateRules = [];

    public static RuleMap FromNftJson(string json)
    {
        var map = new RuleMap();
        var counters = new Dictionary<(byte, string, string), int>();
        using var doc = JsonDocument.Parse(json);
        foreach (var item in doc.RootElement.GetProperty("nftables").EnumerateArray())
        {
            if (item.TryGetProperty("chain", out var chain))
            {
                if (chain.TryGetProperty("hook", out var hook) && ParseHook(hook.GetString()) is Hook h)
                    map._baseChains[(Family(chain), chain.GetProperty("table").GetString()!, chain.GetProperty("name").GetString()!)] = h;
            }
            else if (item.TryGetProperty("rule", out var rule))
            {
                var family = Family(rule);
                var table = rule.GetProperty("table").GetString()!;
                var chainName = rule.GetProperty("chain").GetString()!;
                var handle = rule.GetProperty("handle").GetUInt64();
                var key = (family, table, chainName);
                counters[key] = counters.GetValueOrDefault(key) + 1;
                var exprText = rule.GetProperty("expr").GetRawText();
                bool isReject = exprText.Contains("\"reject\"", StringComparison.Ordinal)
                    || exprText.Contains("\"REJECT\"", StringComparison.Ordinal);
                map._rules[(family, table, chainName, handle)] = new MappedRule(table, chainName, counters[key], isReject);
                if (table == TraceTable.Name) map._ctStateRules[handle] = CtStateOf(exprText);
            }
        }
        return map;
    }

    public MappedRule? Rule(byte family, string table, string chain, ulong handle) =>
        _rules.TryGetValue((family, table, chain, handle), out var r) ? r : null;

    public Hook? BaseChainHook(byte family, string table, string chain) =>
        _baseChains.TryGetValue((family, table, chain), out var h) ? h : null;

    /// <summary>The conntrack state ("NEW", …) a rule of the oracle's state chains tests, or null.</summary>
    public string? CtState(ulong handle) => _ctStateRules.TryGetValue(handle, out var s) && s.Length > 0 ? s : null;

    private static byte Family(JsonElement e) => e.GetProperty("family").GetString() switch
    {
        "ip" => TraceEvent.NfProtoIpv4,
        "ip6" => TraceEvent.NfProtoIpv6,
        "inet" => TraceEvent.NfProtoInet,
        var other => throw new OracleException($"unexpected nft table family '{other}'"),
    };

    private static Hook? ParseHook(string? hook) => hook switch
    {
        "prerouting" => Hook.Prerouting,
        "input" => Hook.Input,
        "forward" => Hook.Forward,
        "output" => Hook.Output,
        "postrouting" => Hook.Postrouting,
        _ => null,
    };

    private static string CtStateOf(string exprText)
    {
        foreach (var state in TraceTable.CtStates)
            if (exprText.Contains($"\"{state.ToLowerInvariant()}\"", StringComparison.Ordinal)) return state;
        return "";
    }
}
