using System.Collections.Concurrent;
using System.Collections.Immutable;
using Harness.Net;
using Harness.Rules.Extensions;
using Harness.Rules.Parsing;

namespace Harness.Rules.Loading;

/// <summary>A rule the kernel refuses when the table is loaded, with iptables' message.</summary>
internal sealed record KernelRefusal(ChainState Chain, RuleEntry Rule, string Message);

/// <summary>
/// The checks x_tables makes when a table is replaced (net/netfilter/x_tables.c, ip_tables.c): mark_source_chains walks
/// every built-in chain, following jumps and gotos, and stops walking a chain at its first unconditional ACCEPT, DROP,
/// RETURN or QUEUE (no matches at all), so later rules of that chain are reached by no hook; a jump back into the
/// current path is a loop (ELOOP). Then each match and target must accept the table, and every hook that reached its
/// rule (xt_check_match/xt_check_target); a rule no hook reaches is checked for the table only.
/// </summary>
internal static class KernelChecks
{
    private static readonly string[] HookOrder =
        [TableNames.Prerouting, TableNames.Input, TableNames.Forward, TableNames.Output, TableNames.Postrouting];

    private static readonly ConcurrentDictionary<(string, Family), MatchDefinition?> MatchCache = new();
    private static readonly ConcurrentDictionary<(string, Family), TargetDefinition?> TargetCache = new();

    /// <summary>Which hooks reach each chain (a bit per hook, in <see cref="HookOrder"/>), and the loops found.</summary>
    public sealed record Reach(Dictionary<ChainState, int> Hooks, List<KernelRefusal> Loops)
    {
        public int Of(ChainState chain) => Hooks.GetValueOrDefault(chain);
    }

    /// <summary>
    /// A rule with no matches at all (every header field "any", not negated) and a standard verdict: the kernel's walk
    /// does not look past it.
    /// </summary>
    public static bool IsUnconditionalVerdict(RuleEntry rule) =>
        rule.Target is VerdictTarget && rule.Matches.IsEmpty && IsAny(rule.Ip);

    private static bool IsAny(IpHeaderMatch ip) =>
        ip.InInterface is null && ip.OutInterface is null && ip.Protocol is null && ip.Fragment is null
        && IsAnyAddress(ip.Source) && IsAnyAddress(ip.Destination);

    private static bool IsAnyAddress(Negatable<Harness.Net.Cidr>? cidr) =>
        cidr is null || (cidr.Value.Value.PrefixLength == 0 && !cidr.Value.Negated);

    /// <summary>How many rules at the top of a chain the kernel's walk visits (up to the first unconditional verdict).</summary>
    public static int LiveCount(ChainState chain)
    {
        for (int i = 0; i < chain.Rules.Count; i++)
            if (IsUnconditionalVerdict(chain.Rules[i])) return i + 1;
        return chain.Rules.Count;
    }

    /// <summary>Everything the kernel refuses in <paramref name="table"/> (at COMMIT of an iptables-restore block, after -R).</summary>
    public static List<KernelRefusal> Check(TableState table, Family family)
    {
        var reach = ComputeReach(table);
        var refusals = new List<KernelRefusal>(reach.Loops);
        foreach (var chain in table.Chains)
        {
            int live = LiveCount(chain), hooks = reach.Of(chain);
            for (int i = 0; i < chain.Rules.Count; i++)
                if (CheckRule(chain.Rules[i], table.Name, i < live ? hooks : 0, family) is { } message)
                    refusals.Add(new KernelRefusal(chain, chain.Rules[i], message));
        }
        return refusals;
    }

    /// <summary>
    /// The refusal, if any, of rules just appended or inserted into <paramref name="chain"/> (the table was accepted
    /// before, and <see cref="TableState.CachedReach"/> holds its reach from then). Keeps the cached reach up to date, so
    /// a long script of jumps stays linear: only the chains below a new jump are walked.
    /// </summary>
    public static KernelRefusal? CheckInserted(TableState table, Family family, ChainState chain, IReadOnlyList<RuleEntry> added)
    {
        var reach = table.CachedReach ?? throw new InvalidOperationException("the reach before the insertion must be cached");
        int live = LiveCount(chain);
        int chainHooks = reach.Of(chain);
        bool shrinks = false;
        foreach (var rule in added)
        {
            int index = IndexOf(chain, rule);
            int hooks = index < live ? chainHooks : 0;
            if (CheckRule(rule, table.Name, hooks, family) is { } message)
                return Refuse(new KernelRefusal(chain, rule, message));
            if (hooks == 0) continue;
            if (IsUnconditionalVerdict(rule)) shrinks = true;
            if (rule.Target is not JumpTarget jump || table.Find(jump.Chain) is not { IsBuiltin: false } target) continue;
            if (HasLoopFrom(table, target)) return Refuse(new KernelRefusal(chain, rule, Messages.Loop(target.Name)));
            foreach (var grown in Propagate(table, target, hooks, reach))
            {
                int grownLive = LiveCount(grown);
                for (int i = 0; i < grownLive; i++)
                    if (CheckRule(grown.Rules[i], table.Name, reach.Of(grown), family) is { } m)
                        return Refuse(new KernelRefusal(grown, grown.Rules[i], m));
            }
        }
        if (shrinks) table.CachedReach = null; // rules behind the new verdict are no longer reached: recompute next time
        return null;

        KernelRefusal Refuse(KernelRefusal refusal)
        {
            table.CachedReach = null; // the propagation may have started: recompute next time
            return refusal;
        }
    }

    private static int IndexOf(ChainState chain, RuleEntry rule)
    {
        for (int i = 0; i < chain.Rules.Count; i++)
            if (ReferenceEquals(chain.Rules[i], rule)) return i;
        return -1;
    }

    /// <summary>The user chains the walk follows from a chain's live rules.</summary>
    private static IEnumerable<ChainState> Jumps(TableState table, ChainState chain)
    {
        int live = LiveCount(chain);
        for (int i = 0; i < live; i++)
            if (chain.Rules[i].Target is JumpTarget j && table.Find(j.Chain) is { IsBuiltin: false } next)
                yield return next;
    }

    /// <summary>Whether some loop of jumps/gotos can be reached from <paramref name="from"/> (the new jump included).</summary>
    private static bool HasLoopFrom(TableState table, ChainState from)
    {
        var done = new HashSet<ChainState>();
        var onPath = new HashSet<ChainState> { from };
        var stack = new Stack<(ChainState Chain, IEnumerator<ChainState> Next)>();
        stack.Push((from, Jumps(table, from).GetEnumerator()));
        while (stack.Count > 0)
        {
            var (chain, next) = stack.Peek();
            if (!next.MoveNext())
            {
                stack.Pop();
                onPath.Remove(chain);
                done.Add(chain);
                continue;
            }
            var target = next.Current;
            if (onPath.Contains(target)) return true;
            if (done.Contains(target)) continue;
            onPath.Add(target);
            stack.Push((target, Jumps(table, target).GetEnumerator()));
        }
        return false;
    }

    /// <summary>Adds <paramref name="hooks"/> to <paramref name="from"/> and everything below it; returns the chains that grew.</summary>
    private static List<ChainState> Propagate(TableState table, ChainState from, int hooks, Reach reach)
    {
        var grown = new List<ChainState>();
        var stack = new Stack<ChainState>([from]);
        while (stack.Count > 0)
        {
            var chain = stack.Pop();
            int old = reach.Of(chain);
            if ((old | hooks) == old) continue;
            reach.Hooks[chain] = old | hooks;
            grown.Add(chain);
            foreach (var next in Jumps(table, chain)) stack.Push(next);
        }
        return grown;
    }

    public static Reach ComputeReach(TableState table)
    {
        var hooks = new Dictionary<ChainState, int>();
        var loops = new List<KernelRefusal>();
        foreach (var builtin in table.Chains.Where(c => c.IsBuiltin))
        {
            int bit = HookBit(builtin.Name);
            if (bit != 0) Walk(table, builtin, bit, hooks, loops);
        }
        return new Reach(hooks, loops);
    }

    private static int HookBit(string chain) => Array.IndexOf(HookOrder, chain) is var i and >= 0 ? 1 << i : 0;

    /// <summary>
    /// Depth-first walk from one built-in chain with an explicit stack (deeply nested chains must not overflow the
    /// thread's stack): records the hook on every chain reached and refuses a jump back into the current path.
    /// </summary>
    private static void Walk(TableState table, ChainState start, int hook, Dictionary<ChainState, int> reach, List<KernelRefusal> loops)
    {
        var onPath = new HashSet<ChainState>();
        var stack = new Stack<(ChainState Chain, int NextRule, int Live)>();
        if (!Enter(start)) return;
        stack.Push((start, 0, LiveCount(start)));
        while (stack.Count > 0)
        {
            var (chain, next, live) = stack.Pop();
            if (next >= live)
            {
                onPath.Remove(chain);
                continue;
            }
            stack.Push((chain, next + 1, live));
            var rule = chain.Rules[next];
            if (rule.Target is not JumpTarget jump) continue;
            var target = table.Find(jump.Chain);
            if (target is null || target.IsBuiltin) continue;
            if (onPath.Contains(target))
            {
                if (!loops.Any(r => r.Rule == rule)) loops.Add(new KernelRefusal(chain, rule, Messages.Loop(target.Name)));
                continue;
            }
            if (Enter(target)) stack.Push((target, 0, LiveCount(target)));
        }

        bool Enter(ChainState chain)
        {
            int old = reach.GetValueOrDefault(chain);
            if ((old & hook) != 0) return false;
            reach[chain] = old | hook;
            onPath.Add(chain);
            return true;
        }
    }

    /// <summary>The kernel's refusal of one rule in <paramref name="table"/> reached from <paramref name="hooks"/>, or null.</summary>
    public static string? CheckRule(RuleEntry rule, string table, int hooks, Family family)
    {
        foreach (var match in rule.Matches)
        {
            var definition = MatchCache.GetOrAdd((match.Name, family), k => ExtensionRegistry.FindMatch(k.Item1, k.Item2));
            if (definition is null) continue;
            var message = CheckLimits("match", match.Name, definition.Tables, definition.Hooks, table, hooks);
            if (message is not null) return message;
        }
        if (rule.Target is TargetExtension target)
        {
            var definition = TargetCache.GetOrAdd((target.Name, family), k => ExtensionRegistry.FindTarget(k.Item1, k.Item2));
            if (definition is not null)
                return CheckLimits("target", target.Name, definition.Tables, definition.Hooks, table, hooks);
        }
        return null;
    }

    /// <summary>Whether an extension of this rule has table or hook limits (only then can the kernel refuse it).</summary>
    public static bool HasLimits(RuleEntry rule, Family family)
    {
        foreach (var match in rule.Matches)
            if (MatchCache.GetOrAdd((match.Name, family), k => ExtensionRegistry.FindMatch(k.Item1, k.Item2)) is { } m
                && (!m.Tables.IsDefaultOrEmpty || !m.Hooks.IsDefaultOrEmpty)) return true;
        return rule.Target is TargetExtension t
            && TargetCache.GetOrAdd((t.Name, family), k => ExtensionRegistry.FindTarget(k.Item1, k.Item2)) is { } d
            && (!d.Tables.IsDefaultOrEmpty || !d.Hooks.IsDefaultOrEmpty);
    }

    private static string? CheckLimits(string what, string name, ImmutableArray<string> tables, ImmutableArray<string> allowedHooks,
        string table, int hooks)
    {
        if (!tables.IsDefaultOrEmpty && !tables.Contains(table))
            return Messages.WrongTable(what, name, tables, table);
        if (allowedHooks.IsDefaultOrEmpty) return null;
        int allowed = allowedHooks.Aggregate(0, (mask, h) => mask | HookBit(h));
        if ((hooks & ~allowed) == 0) return null;
        return Messages.WrongHooks(what, name, HooksIn(hooks), HooksIn(allowed));
    }

    private static IEnumerable<string> HooksIn(int mask) => HookOrder.Where((_, i) => (mask & (1 << i)) != 0);
}
