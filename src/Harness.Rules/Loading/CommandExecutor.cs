using Harness.Net;
using Harness.Rules.Extensions;
using Harness.Rules.Parsing;

namespace Harness.Rules.Loading;

/// <summary>
/// Applies one iptables command to a table with iptables' semantics and refusals. A refused command throws a
/// <see cref="RuleSyntaxException"/> (message and column) and leaves the table unchanged.
/// </summary>
internal sealed class CommandExecutor(Family family)
{
    public Family Family { get; } = family;

    /// <summary>
    /// Runs <paramref name="command"/> on <paramref name="table"/>. <paramref name="kernelChecks"/>: check the table
    /// the way the kernel does after this one command (iptables); false inside an iptables-restore block (checked at COMMIT).
    /// </summary>
    public void Execute(Command command, TableState table, SourceLocation location, string text, bool kernelChecks)
    {
        switch (command.Kind)
        {
            case CommandKind.Append:
            case CommandKind.Insert:
            case CommandKind.Replace:
                AddRules(command, table, location, text, kernelChecks);
                break;
            case CommandKind.Delete:
                Delete(command, table, kernelChecks);
                break;
            case CommandKind.NewChain:
                NewChain(command, table);
                break;
            case CommandKind.DeleteChain:
                DeleteChain(command, table);
                break;
            case CommandKind.Flush:
                table.CachedReach = null;
                foreach (var chain in ChainsNamedOrAll(command, table)) chain.Rules.Clear();
                break;
            case CommandKind.Zero:
                Zero(command, table);
                break;
            case CommandKind.Policy:
                Policy(command, table);
                break;
            case CommandKind.Rename:
                Rename(command, table);
                break;
        }
    }

    private IReadOnlyList<RuleSpec> ParseSpecs(Command command, TableState table)
    {
        var chainName = command.Chain!.Text;
        var specs = RuleSpecParser.ParseAll(command.SpecWords, new RuleContext(Family, table.Name, chainName, null))
            .Select(WithoutAnyAddress).ToList();
        foreach (var spec in specs)
        {
            if (spec.Target is not JumpTarget jump) continue;
            var chain = table.Find(jump.Chain);
            if (chain is { IsBuiltin: true })
                throw new RuleSyntaxException(Messages.JumpToBuiltin(jump.Chain), ColumnOfTarget(command));
            if (chain is null)
                throw new RuleSyntaxException(
                    jump.IsGoto ? Messages.MissingGotoTarget(jump.Chain) : Messages.MissingJumpTarget(jump.Chain), ColumnOfTarget(command));
        }
        return specs;
    }

    /// <summary>"-s 0.0.0.0/0" (not negated) is no address match at all for the kernel: iptables-save omits it.</summary>
    private static RuleSpec WithoutAnyAddress(RuleSpec spec)
    {
        var ip = spec.Ip;
        if (ip.Source is { Negated: false, Value.PrefixLength: 0 }) ip = ip with { Source = null };
        if (ip.Destination is { Negated: false, Value.PrefixLength: 0 }) ip = ip with { Destination = null };
        return ip == spec.Ip ? spec : spec with { Ip = ip };
    }

    private static int ColumnOfTarget(Command command)
    {
        var words = command.SpecWords;
        for (int i = 0; i < words.Count; i++)
            if (!words[i].WasQuoted && words[i].Text is "-j" or "--jump" or "-g" or "--goto")
                return i + 1 < words.Count ? words[i + 1].Column : words[i].Column;
        return command.CommandToken.Column;
    }

    private ChainState RequireChain(Command command, TableState table)
    {
        var name = command.Chain!;
        return table.Find(name.Text) ?? throw new RuleSyntaxException(Messages.NoSuchChain(name.Text), name.Column);
    }

    private void AddRules(Command command, TableState table, SourceLocation location, string text, bool kernelChecks)
    {
        IReadOnlyList<RuleSpec> specs;
        try
        {
            specs = ParseSpecs(command, table);
        }
        catch (RuleSyntaxException e) when (IsKernelPlacementRefusal(e.Message))
        {
            // The rule parser applies the kernel's table/hook limits already; the kernel itself only sees the rule
            // after libiptc's own checks, so an unknown chain or a bad index is what iptables reports first.
            var chainFirst = RequireChain(command, table);
            if (command.Kind == CommandKind.Insert && (command.RuleNumber ?? 1) - 1 > chainFirst.Rules.Count)
                throw new RuleSyntaxException(Messages.IndexInsertTooBig, command.Chain!.Column);
            if (command.Kind == CommandKind.Replace && command.RuleNumber!.Value > chainFirst.Rules.Count)
                throw new RuleSyntaxException(Messages.IndexReplaceTooBig, command.Chain!.Column);
            throw;
        }
        if (command.Kind == CommandKind.Replace && specs.Count != 1)
            throw new RuleSyntaxException(Messages.ReplaceNotUnique, command.CommandToken.Column);
        var chain = RequireChain(command, table);
        var entries = specs.Select(s => new RuleEntry(s.Ip, s.Matches, s.Target, command.Counters ?? s.Counters, location, text)).ToList();
        var before = chain.Rules.ToList();
        // A rule without a jump or a limited extension cannot be refused, but an unconditional verdict can hide
        // (and so free) the rules behind it: the cached reach is then dropped.
        bool check = kernelChecks && (command.Kind == CommandKind.Replace || entries.Any(MayNeedKernelCheck));
        if (command.Kind == CommandKind.Replace || !kernelChecks || (!check && entries.Any(KernelChecks.IsUnconditionalVerdict)))
            table.CachedReach = null;
        else if (check) table.CachedReach ??= KernelChecks.ComputeReach(table); // the reach before the new rules
        switch (command.Kind)
        {
            case CommandKind.Append:
                chain.Rules.AddRange(entries);
                break;
            case CommandKind.Insert:
                int at = (command.RuleNumber ?? 1) - 1;
                if (at > chain.Rules.Count)
                    throw new RuleSyntaxException(Messages.IndexInsertTooBig, command.Chain!.Column);
                // iptables inserts each expanded rule at the same position, so the last one ends up first.
                foreach (var entry in entries) chain.Rules.Insert(at, entry);
                break;
            case CommandKind.Replace:
                int index = command.RuleNumber!.Value - 1;
                if (index >= chain.Rules.Count)
                    throw new RuleSyntaxException(Messages.IndexReplaceTooBig, command.Chain!.Column);
                chain.Rules[index] = entries[0];
                break;
        }
        if (!check) return;
        var refusal = command.Kind == CommandKind.Replace
            ? KernelChecks.Check(table, Family).FirstOrDefault()
            : KernelChecks.CheckInserted(table, Family, chain, entries);
        if (refusal is null) return;
        chain.Rules.Clear();
        chain.Rules.AddRange(before);
        throw new RuleSyntaxException(refusal.Message, command.CommandToken.Column);
    }

    private static bool IsKernelPlacementRefusal(string message) =>
        message.Contains(": used from hook", StringComparison.Ordinal) || message.Contains(" table, not ", StringComparison.Ordinal);

    /// <summary>
    /// Only a rule that jumps (reachability changes) or uses an extension with table/hook limits can make the kernel
    /// refuse the table; skipping the others keeps long scripts linear.
    /// </summary>
    private bool MayNeedKernelCheck(RuleEntry rule) => rule.Target is JumpTarget || KernelChecks.HasLimits(rule, Family);

    /// <summary>
    /// -D by number or by specification. Deleting an unconditional verdict lets the kernel's walk reach the rules behind
    /// it, so (for a command) the table is checked again and the deletion refused if one of them is refused.
    /// </summary>
    private void Delete(Command command, TableState table, bool kernelChecks)
    {
        table.CachedReach = null;
        var chain = RequireChainAfterSpec(command, table, out var specs);
        var before = chain.Rules.ToList();
        var removed = new List<RuleEntry>();
        if (command.RuleNumber is int number)
        {
            if (number > chain.Rules.Count)
                throw new RuleSyntaxException(Messages.IndexDeleteTooBig, command.Chain!.Column);
            removed.Add(chain.Rules[number - 1]);
            chain.Rules.RemoveAt(number - 1);
        }
        else
        {
            var remaining = chain.Rules.ToList();
            foreach (var spec in specs!)
            {
                // iptables-nft compares the rules as it reads them back, a repeated tcp/udp match folded on both sides
                // (checked: "-D … --dport 54" deletes "--dport 53 -m udp --dport 54"; iptables-legacy would not)
                var wanted = RuleSpecPrinter.Print(spec.Ip, spec.Matches, spec.Target, Family);
                int found = remaining.FindIndex(r => RuleSpecPrinter.Print(r.Ip, r.Matches, r.Target, Family) == wanted);
                if (found < 0) throw new RuleSyntaxException(Messages.NoMatchingRule, command.CommandToken.Column);
                removed.Add(remaining[found]);
                remaining.RemoveAt(found);
            }
            chain.Rules.Clear();
            chain.Rules.AddRange(remaining);
        }
        if (!kernelChecks || !removed.Any(KernelChecks.IsUnconditionalVerdict)) return;
        var refusal = KernelChecks.Check(table, Family).FirstOrDefault();
        if (refusal is null) return;
        chain.Rules.Clear();
        chain.Rules.AddRange(before);
        throw new RuleSyntaxException(refusal.Message, command.CommandToken.Column);
    }

    /// <summary>The chain of a -D, after its rule specification (if any) was read, as iptables reads them.</summary>
    private ChainState RequireChainAfterSpec(Command command, TableState table, out IReadOnlyList<RuleSpec>? specs)
    {
        specs = command.RuleNumber is null ? ParseSpecs(command, table) : null;
        return RequireChain(command, table);
    }

    private void NewChain(Command command, TableState table)
    {
        var name = command.Chain!;
        CheckNewChainName(name);
        if (table.Find(name.Text) is not null) throw new RuleSyntaxException(Messages.ChainAlreadyExists, name.Column);
        table.AddUserChain(name.Text);
    }

    /// <summary>iptables' own checks of a new chain name, made before it asks the kernel.</summary>
    public void CheckNewChainName(Token name)
    {
        var text = name.Text;
        if (text.StartsWith('-')) throw new RuleSyntaxException(Messages.ChainStartsWithDash, name.Column);
        if (text.Length >= 29) throw new RuleSyntaxException(Messages.ChainTooLong(text), name.Column);
        if (text is "ACCEPT" or "DROP" or "QUEUE" or "RETURN" || ExtensionRegistry.FindTarget(text, Family) is not null)
            throw new RuleSyntaxException(Messages.ChainClashesWithTarget, name.Column);
        if (text.Length == 0 || text.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
            throw new RuleSyntaxException(Messages.InvalidChainName(text), name.Column);
    }

    private static void DeleteChain(Command command, TableState table)
    {
        if (command.Chain is { } name)
        {
            var refusal = DeleteRefusal(table, name.Text);
            if (refusal is not null) throw new RuleSyntaxException(refusal, name.Column);
            table.RemoveUserChain(name.Text);
            return;
        }
        // Without a name: every user chain, all or nothing; iptables reports the last refusal (errno is overwritten).
        string? last = null;
        var deletable = new List<string>();
        foreach (var chain in table.UserChains)
        {
            var refusal = DeleteRefusal(table, chain.Name);
            if (refusal is null) deletable.Add(chain.Name);
            else last = refusal;
        }
        if (last is not null) throw new RuleSyntaxException(last, command.CommandToken.Column);
        foreach (var chainName in deletable) table.RemoveUserChain(chainName);
    }

    private static string? DeleteRefusal(TableState table, string name)
    {
        var chain = table.Find(name);
        if (chain is null) return Messages.NoSuchChain(name);
        if (chain.IsBuiltin) return Messages.DeleteBuiltin(name);
        if (table.References(name) > 0) return Messages.ChainReferenced(name);
        if (chain.Rules.Count > 0) return Messages.ChainNotEmpty(name);
        return null;
    }

    private static IEnumerable<ChainState> ChainsNamedOrAll(Command command, TableState table)
    {
        if (command.Chain is not { } name) return table.Chains;
        var chain = table.Find(name.Text) ?? throw new RuleSyntaxException(Messages.NoSuchChain(name.Text), name.Column);
        return [chain];
    }

    private static void Zero(Command command, TableState table)
    {
        var chains = ChainsNamedOrAll(command, table).ToList();
        if (command.RuleNumber is int number)
        {
            var chain = chains[0];
            if (number > chain.Rules.Count) throw new RuleSyntaxException(Messages.IndexCounterTooBig, command.Chain!.Column);
            chain.Rules[number - 1] = ZeroCounters(chain.Rules[number - 1]);
            return;
        }
        foreach (var chain in chains)
        {
            for (int i = 0; i < chain.Rules.Count; i++) chain.Rules[i] = ZeroCounters(chain.Rules[i]);
            if (chain.IsBuiltin && chain.PolicyCounters is not null) chain.PolicyCounters = new Counters(0, 0);
        }
    }

    private static RuleEntry ZeroCounters(RuleEntry rule) => rule.Counters is null ? rule : rule with { Counters = new Counters(0, 0) };

    private static void Policy(Command command, TableState table)
    {
        var name = command.Chain!;
        var policy = command.Argument!;
        if (table.Name == TableNames.Nat && policy.Text == "DROP")
            throw new RuleSyntaxException(Messages.NatDrop, policy.Column);
        var chain = table.Find(name.Text);
        if (chain is null || !chain.IsBuiltin) throw new RuleSyntaxException(Messages.BadBuiltinChain(name.Text), name.Column);
        chain.Policy = ParsePolicy(policy.Text) ?? throw new RuleSyntaxException(Messages.BadPolicy(policy.Text), policy.Column);
    }

    public static Verdict? ParsePolicy(string text) => text switch
    {
        "ACCEPT" => Verdict.Accept,
        "DROP" => Verdict.Drop,
        _ => null,
    };

    private void Rename(Command command, TableState table)
    {
        var oldName = command.Chain!;
        var newName = command.Argument!;
        // Unlike -N, iptables -E only checks the length (renaming a chain to "LOG" is accepted).
        if (newName.Text.Length >= 29) throw new RuleSyntaxException(Messages.ChainTooLong(newName.Text), newName.Column);
        if (table.Find(newName.Text) is not null) throw new RuleSyntaxException(Messages.RenameTargetExists(newName.Text), newName.Column);
        if (table.Find(oldName.Text) is not { IsBuiltin: false })
            throw new RuleSyntaxException(Messages.NoSuchChain(oldName.Text), oldName.Column);
        table.RenameUserChain(oldName.Text, newName.Text);
    }
}
