namespace Harness.Oracle.Kernel;

/// <summary>
/// The oracle's own nft table in the firewall namespace, beside (never inside) the ruleset under test:
/// it turns tracing on before raw (priority -350), drops the oracle's marker packets there, records the conntrack
/// state each packet got (one rule per state just after conntrack, -199), and sees each packet as it is delivered
/// (input, last of all) or leaves (postrouting, 1000), after every NAT.
/// </summary>
public static class TraceTable
{
    public const string Name = "hxoracle";

    /// <summary>The IP protocol of the marker packet that closes each packet's window of events (253: experimental).</summary>
    public const byte MarkerProtocol = 253;

    public static readonly IReadOnlyList<string> CtStates = ["NEW", "ESTABLISHED", "RELATED", "INVALID", "UNTRACKED"];

    public const string PreChain = "pre";
    public const string OutChain = "out";
    public const string CtPreChain = "ctpre";
    public const string CtOutChain = "ctout";
    public const string LastInChain = "lastin";
    public const string LastPostChain = "lastpost";

    /// <summary>
    /// The delivered-packet chain runs last of all (after conntrack confirmed the packet's entry, at the same INT_MAX
    /// priority but registered later) and drops: the firewall's own TCP/UDP/ICMP stack never sees replayed packets,
    /// so it never answers them (a capture already holds the host's real answers, replayed through OUTPUT).
    /// </summary>
    public const int LastInPriority = int.MaxValue;

    public static string Script()
    {
        var states = string.Concat(CtStates.Select(s => $"    ct state {s.ToLowerInvariant()} counter\n"));
        return $$"""
            table inet {{Name}} {
              chain {{PreChain}} {
                type filter hook prerouting priority -350; policy accept;
                meta l4proto {{MarkerProtocol}} meta nftrace set 1 drop
                meta nftrace set 1
              }
              chain {{OutChain}} {
                type filter hook output priority -350; policy accept;
                meta nftrace set 1
              }
              chain {{CtPreChain}} {
                type filter hook prerouting priority -199; policy accept;
            {{states}}  }
              chain {{CtOutChain}} {
                type filter hook output priority -199; policy accept;
            {{states}}  }
              chain {{LastInChain}} {
                type filter hook input priority {{LastInPriority}}; policy drop;
              }
              chain {{LastPostChain}} {
                type filter hook postrouting priority 1000; policy accept;
              }
            }

            """;
    }
}
