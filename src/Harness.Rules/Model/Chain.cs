using System.Collections.Immutable;

namespace Harness.Rules;

/// <summary>
/// A chain: built-in ones have a policy (ACCEPT or DROP), user chains have none (falling off the end returns).
/// </summary>
public sealed record Chain(string Name, Verdict? Policy, ImmutableArray<Rule> Rules, Counters? PolicyCounters = null)
{
    public bool IsBuiltin => Policy is not null;
}
