using System.Collections.Immutable;

namespace Harness.Rules.Loading;

/// <summary>A rule while a ruleset is being built: its spec, counters and where it was written.</summary>
internal sealed record RuleEntry(
    IpHeaderMatch Ip,
    ImmutableArray<MatchExtension> Matches,
    Target? Target,
    Counters? Counters,
    SourceLocation Source,
    string Text);

/// <summary>A chain while a ruleset is being built (mutable; frozen into <see cref="Chain"/> at the end).</summary>
internal sealed class ChainState(string name, Verdict? policy)
{
    public string Name { get; set; } = name;
    public Verdict? Policy { get; set; } = policy;
    public Counters? PolicyCounters { get; set; }
    public List<RuleEntry> Rules { get; } = [];
    public bool IsBuiltin => Policy is not null;

    public ChainState Clone()
    {
        var copy = new ChainState(Name, Policy) { PolicyCounters = PolicyCounters };
        copy.Rules.AddRange(Rules);
        return copy;
    }

    public Chain Freeze(string table) => new(
        Name,
        Policy,
        [.. Rules.Select((r, i) => new Rule(table, Name, i + 1, r.Ip, r.Matches, r.Target, r.Counters, r.Source, r.Text))],
        PolicyCounters);
}

/// <summary>
/// A table while a ruleset is being built: built-in chains in kernel order, user chains sorted by name (byte order),
/// which is the order iptables-save prints them in.
/// </summary>
internal sealed class TableState
{
    private readonly List<ChainState> _builtins;
    private readonly SortedDictionary<string, ChainState> _userChains = new(StringComparer.Ordinal);

    public TableState(string name)
    {
        Name = name;
        _builtins = [.. TableNames.BuiltinChains(name).Select(c => new ChainState(c, Verdict.Accept))];
    }

    private TableState(string name, List<ChainState> builtins)
    {
        Name = name;
        _builtins = builtins;
    }

    public string Name { get; }

    /// <summary>
    /// Which hooks reach each chain, kept while a script only adds rules (see <see cref="KernelChecks.CheckInserted"/>);
    /// null after anything that may shrink it (delete, flush, replace).
    /// </summary>
    public KernelChecks.Reach? CachedReach { get; set; }

    public IEnumerable<ChainState> Chains => _builtins.Concat(_userChains.Values);

    public IEnumerable<ChainState> UserChains => _userChains.Values;

    public ChainState? Find(string name) =>
        _userChains.TryGetValue(name, out var user) ? user : _builtins.FirstOrDefault(c => c.Name == name);

    public bool IsBuiltinName(string name) => _builtins.Any(c => c.Name == name);

    public void AddUserChain(string name) => _userChains.Add(name, new ChainState(name, null));

    public void RemoveUserChain(string name) => _userChains.Remove(name);

    public void RenameUserChain(string oldName, string newName)
    {
        var chain = _userChains[oldName];
        _userChains.Remove(oldName);
        chain.Name = newName;
        _userChains.Add(newName, chain);
        foreach (var c in Chains)
            for (int i = 0; i < c.Rules.Count; i++)
                if (c.Rules[i].Target is JumpTarget j && j.Chain == oldName)
                    c.Rules[i] = c.Rules[i] with { Target = j with { Chain = newName } };
    }

    /// <summary>How many rules (in any chain of this table) jump or go to <paramref name="chain"/>.</summary>
    public int References(string chain) =>
        Chains.Sum(c => c.Rules.Count(r => r.Target is JumpTarget j && j.Chain == chain));

    public TableState Clone()
    {
        var copy = new TableState(Name, [.. _builtins.Select(c => c.Clone())]);
        foreach (var (name, chain) in _userChains) copy._userChains.Add(name, chain.Clone());
        return copy;
    }

    /// <summary>A table as iptables-restore starts it: flushed, no user chains, the built-in policies kept.</summary>
    public TableState FlushedCopy()
    {
        var copy = new TableState(Name);
        foreach (var c in copy._builtins)
        {
            var old = Find(c.Name);
            if (old is not null) { c.Policy = old.Policy; c.PolicyCounters = old.PolicyCounters; }
        }
        return copy;
    }

    public Table Freeze() => new(Name, [.. Chains.Select(c => c.Freeze(Name))]);
}
