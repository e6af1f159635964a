using System.Collections.Immutable;
using Harness.Net;

namespace Harness.Rules;

/// <summary>
/// The whole ruleset of one family, as the kernel would hold it after loading every input in order.
/// Tables appear in iptables-save order for the tables that exist.
/// </summary>
public sealed record Ruleset(Family Family, ImmutableArray<Table> Tables)
{
    public static Ruleset Empty(Family family) => new(family, ImmutableArray<Table>.Empty);

    public Table? FindTable(string name) => Tables.FirstOrDefault(t => t.Name == name);

    public IEnumerable<Rule> AllRules => Tables.SelectMany(t => t.Chains).SelectMany(c => c.Rules);
}
