using System.Collections.Immutable;

namespace Harness.Rules;

/// <summary>
/// One rule of a chain. <see cref="Number"/> is its 1-based position in the chain (what iptables -L --line-numbers shows,
/// and what the golden files print as table:chain:N). Matches are in the order iptables evaluates them.
/// </summary>
public sealed record Rule(
    string Table,
    string Chain,
    int Number,
    IpHeaderMatch Ip,
    ImmutableArray<MatchExtension> Matches,
    Target? Target,
    Counters? Counters,
    SourceLocation Source,
    string Text)
{
    /// <summary>"table:chain:N", the way goldens and reports name a rule.</summary>
    public string Id => $"{Table}:{Chain}:{Number}";

    /// <summary>
    /// The rule's identity for "-D" by specification and for comparing with iptables-save: matches and target,
    /// ignoring position, source and counters.
    /// </summary>
    public bool SameSpecAs(Rule other) =>
        Ip == other.Ip && Target == other.Target && Matches.SequenceEqual(other.Matches);
}
