using System.Collections.Immutable;

namespace Harness.Rules;

/// <summary>A table (raw, mangle, nat, filter, security) with its chains in the order iptables-save prints them.</summary>
public sealed record Table(string Name, ImmutableArray<Chain> Chains)
{
    public Chain? FindChain(string name) => Chains.FirstOrDefault(c => c.Name == name);
}
