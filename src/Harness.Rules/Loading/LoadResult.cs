using System.Collections.Immutable;

namespace Harness.Rules.Loading;

/// <summary>
/// The ruleset built from every input, and every problem found. The ruleset holds what could be loaded (refused
/// commands and lines are left out, as iptables leaves them out); <see cref="Success"/> is false if anything was refused.
/// </summary>
public sealed record LoadResult(Ruleset Ruleset, ImmutableArray<Diagnostic> Diagnostics)
{
    public bool Success => Diagnostics.IsDefaultOrEmpty;
}
