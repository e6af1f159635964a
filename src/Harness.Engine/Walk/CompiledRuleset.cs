using Harness.Engine.Matches;
using Harness.Engine.Targets;
using Harness.Net;
using Harness.Rules;

namespace Harness.Engine.Walk;

/// <summary>
/// One family's ruleset compiled for the walk: every chain of every table with its rules' evaluators, the jump
/// targets resolved, and the built-in chain of each (hook, table) pair in kernel priority order.
/// Construction fails with an <see cref="EngineSetupException"/> naming the rule when a match or target has no evaluator.
/// </summary>
public sealed class CompiledRuleset
{
    /// <summary>Tables by priority: raw -300, mangle -150, nat (DNAT) -100, filter 0, security 50, nat (SNAT) 100.</summary>
    private static readonly string[] TablePriority = [TableNames.Raw, TableNames.Mangle, TableNames.Nat, TableNames.Filter, TableNames.Security];

    private readonly Dictionary<(string Table, string Chain), CompiledChain> _chains = [];
    private readonly List<CompiledChain> _allChains = [];
    private readonly CompiledChain?[,] _builtins = new CompiledChain?[5, 5];

    public CompiledRuleset(Ruleset ruleset, EngineRuntime runtime)
    {
        Family = ruleset.Family;
        HasNat = ruleset.FindTable(TableNames.Nat) is not null;
        foreach (var table in ruleset.Tables)
        {
            foreach (var chain in table.Chains)
            {
                var rules = new CompiledRule[chain.Rules.Length];
                for (int i = 0; i < rules.Length; i++) rules[i] = Compile(chain.Rules[i], i, runtime, ruleset.Family);
                var compiled = new CompiledChain(table.Name, chain.Name, chain.Policy, rules);
                _chains[(table.Name, chain.Name)] = compiled;
                _allChains.Add(compiled);
            }
        }
        foreach (var chain in _allChains)
        {
            foreach (var rule in chain.Rules)
            {
                if (rule.Rule.Target is not JumpTarget jump) continue;
                if (!_chains.TryGetValue((chain.Table, jump.Chain), out var to) || to.IsBuiltin)
                    throw new EngineSetupException($"{rule.Rule.Source}: rule {rule.Rule.Id}: {(jump.IsGoto ? "goto" : "jump")} to \"{jump.Chain}\", which is not a user chain of table {chain.Table} (in \"{rule.Rule.Text}\")");
                rule.JumpTo = to;
            }
            if (!runtime.Options.LinearWalk) chain.Index = ChainIndex.Build(chain);
        }
        CheckLoops();
        foreach (var hook in Enum.GetValues<Hook>())
            for (int t = 0; t < TablePriority.Length; t++)
                _builtins[(int)hook, t] = _chains.TryGetValue((TablePriority[t], ChainName(hook)), out var c) && c.IsBuiltin ? c : null;
    }

    public Family Family { get; }

    /// <summary>
    /// True when the ruleset has a nat table. Without one the kernel registers no NAT hooks in the namespace, so
    /// connections get no NAT bindings at all (not even null ones).
    /// </summary>
    public bool HasNat { get; }

    public IReadOnlyList<CompiledChain> Chains => _allChains;

    /// <summary>The built-in chain of <paramref name="table"/> for <paramref name="hook"/>, or null when the table or chain does not exist.</summary>
    public CompiledChain? Builtin(string table, Hook hook) =>
        Array.IndexOf(TablePriority, table) is var t and >= 0 ? _builtins[(int)hook, t] : null;

    /// <summary>The built-in chain of the table at <paramref name="tableIndex"/> in <see cref="TablesByPriority"/>, without a lookup.</summary>
    public CompiledChain? Builtin(int tableIndex, Hook hook) => _builtins[(int)hook, tableIndex];

    public CompiledChain? Find(string table, string chain) => _chains.TryGetValue((table, chain), out var c) ? c : null;

    public static string ChainName(Hook hook) => hook switch
    {
        Hook.Prerouting => TableNames.Prerouting,
        Hook.Input => TableNames.Input,
        Hook.Forward => TableNames.Forward,
        Hook.Output => TableNames.Output,
        _ => TableNames.Postrouting,
    };

    public static IReadOnlyList<string> TablesByPriority => TablePriority;

    private static CompiledRule Compile(Rule rule, int index, EngineRuntime runtime, Family family)
    {
        var context = new CompileContext(rule, family, runtime);
        var matches = new MatchEvaluator[rule.Matches.Length];
        for (int i = 0; i < matches.Length; i++) matches[i] = MatchRegistry.Create(rule.Matches[i], context);
        TargetEvaluator? target = null;
        RuleAction action;
        switch (rule.Target)
        {
            case null:
                action = RuleAction.None;
                break;
            case VerdictTarget v:
                action = v.Verdict switch
                {
                    Verdict.Accept => RuleAction.Accept,
                    Verdict.Drop => RuleAction.Drop,
                    Verdict.Return => RuleAction.Return,
                    _ => RuleAction.Queue,
                };
                break;
            case JumpTarget j:
                action = j.IsGoto ? RuleAction.Goto : RuleAction.Jump;
                break;
            case TargetExtension ext:
                action = RuleAction.Extension;
                target = TargetRegistry.Create(ext, context);
                break;
            default:
                throw context.Error($"target {rule.Target.GetType().Name} cannot be evaluated");
        }
        return new CompiledRule(rule, index, matches, action, target);
    }

    /// <summary>A jump loop would make the kernel refuse the ruleset (ELOOP); refuse it too, naming a rule in the loop.</summary>
    private void CheckLoops()
    {
        var state = new Dictionary<CompiledChain, int>();
        foreach (var chain in _allChains)
            Visit(chain, state);
    }

    private static void Visit(CompiledChain chain, Dictionary<CompiledChain, int> state)
    {
        if (state.ContainsKey(chain)) return;
        state[chain] = 1;
        foreach (var rule in chain.Rules)
        {
            if (rule.JumpTo is not { } to) continue;
            if (state.TryGetValue(to, out var ts) && ts == 1)
                throw new EngineSetupException($"{rule.Rule.Source}: rule {rule.Rule.Id}: jumping to {to.Name} makes a loop (the kernel refuses it with ELOOP) (in \"{rule.Rule.Text}\")");
            Visit(to, state);
        }
        state[chain] = 2;
    }
}
