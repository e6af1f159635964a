using Harness.Engine.Targets;
using Harness.Rules;

namespace Harness.Engine.Walk;

/// <summary>The end of one table's traversal at one hook.</summary>
public readonly record struct WalkResult(Verdict Verdict, CompiledRule? DecidingRule, CompiledChain? PolicyChain)
{
    /// <summary>"table:chain:N" or "table:chain:policy".</summary>
    public string? DecidedBy => DecidingRule?.Id ?? PolicyChain?.PolicyId;
}

/// <summary>
/// Walks one built-in chain the way ipt_do_table does: rules in order, jump pushes a return point, goto does not,
/// RETURN or the end of a user chain pops, and an empty stack (RETURN in the built-in chain, or the end of a chain
/// reached by goto from it) means the built-in chain's policy. Every chain entered and every matching rule is added
/// to the packet's path.
/// </summary>
public static class ChainWalker
{
    private const int MaxDepth = 64;

    public static WalkResult Walk(CompiledChain builtin, PacketState state)
    {
        // The jump stack is the packet state's own, kept from packet to packet (a walk never starts another).
        var stack = state.WalkStack;
        int depth = 0;
        var chain = builtin;
        int next = 0;
        int[]? candidates = Enter(chain, state);
        int ci = 0;
        while (true)
        {
            CompiledRule? rule = NextCandidate(chain, candidates, ref ci, next);
            bool returns = rule is not null && rule.Action == RuleAction.Return && Matched(rule, state);
            if (state.HotDrop is not null) return new WalkResult(Verdict.Drop, null, null);
            if (rule is null || returns)
            {
                // End of chain or RETURN.
                if (depth == 0)
                {
                    return Policy(builtin, state);
                }
                depth--;
                (chain, next) = stack![depth];
                candidates = chain.Index?.Candidates(state);
                ci = 0;
                continue;
            }
            next = rule.Index + 1;
            if (rule.Action == RuleAction.Return) continue; // did not match (a matching RETURN was handled above)
            if (!Matched(rule, state))
            {
                if (state.HotDrop is not null) return new WalkResult(Verdict.Drop, null, null);
                continue;
            }
            switch (rule.Action)
            {
                case RuleAction.None:
                    continue;
                case RuleAction.Accept:
                    return new WalkResult(Verdict.Accept, rule, null);
                case RuleAction.Drop:
                    return new WalkResult(Verdict.Drop, rule, null);
                case RuleAction.Queue:
                    return new WalkResult(Verdict.Queue, rule, null);
                case RuleAction.Jump:
                    if (depth >= MaxDepth) return new WalkResult(Verdict.Drop, rule, null);
                    stack ??= state.WalkStack = new (CompiledChain, int)[8];
                    if (depth == stack.Length)
                    {
                        Array.Resize(ref stack, stack.Length * 2);
                        state.WalkStack = stack;
                    }
                    stack[depth++] = (chain, next);
                    chain = rule.JumpTo!;
                    next = 0;
                    candidates = Enter(chain, state);
                    ci = 0;
                    continue;
                case RuleAction.Goto:
                    chain = rule.JumpTo!;
                    next = 0;
                    candidates = Enter(chain, state);
                    ci = 0;
                    continue;
                default:
                    switch (rule.Target!.Execute(state))
                    {
                        case TargetVerdict.Continue:
                            continue;
                        case TargetVerdict.Accept:
                            return new WalkResult(Verdict.Accept, rule, null);
                        case TargetVerdict.Drop:
                            return new WalkResult(Verdict.Drop, rule, null);
                        case TargetVerdict.Queue:
                            return new WalkResult(Verdict.Queue, rule, null);
                        default:
                            if (depth == 0) return Policy(builtin, state);
                            depth--;
                            (chain, next) = stack![depth];
                            candidates = chain.Index?.Candidates(state);
                            ci = 0;
                            continue;
                    }
            }
        }
    }

    private static bool Matched(CompiledRule rule, PacketState state)
    {
        if (!rule.Matches(state)) return false;
        rule.Count(state.Packet);
        state.Path.Add(rule.StepAt(state.Hook));
        return true;
    }

    private static int[]? Enter(CompiledChain chain, PacketState state)
    {
        state.Path.Add(chain.EnteredAt(state.Hook));
        return chain.Index?.Candidates(state);
    }

    private static CompiledRule? NextCandidate(CompiledChain chain, int[]? candidates, ref int ci, int next)
    {
        var rules = chain.Rules;
        if (candidates is null) return next < rules.Length ? rules[next] : null;
        if (ci > 0 && ci <= candidates.Length && (ci == candidates.Length || candidates[ci] >= next) && candidates[ci - 1] < next)
        {
            // ci already points at the first candidate at or after next.
        }
        else
        {
            int lo = Array.BinarySearch(candidates, next);
            ci = lo >= 0 ? lo : ~lo;
        }
        if (ci >= candidates.Length) return null;
        return rules[candidates[ci++]];
    }

    private static WalkResult Policy(CompiledChain builtin, PacketState state)
    {
        builtin.PolicyPackets++;
        builtin.PolicyBytes += state.Ip.TotalLength;
        state.Path.Add(builtin.PolicyAt(state.Hook));
        return new WalkResult(builtin.Policy ?? Verdict.Accept, null, builtin);
    }
}
