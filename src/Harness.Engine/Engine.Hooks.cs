using System.Collections.Immutable;
using System.Globalization;
using System.Runtime.InteropServices;
using Harness.Engine.Walk;
using Harness.Net;
using Harness.Packets;
using Harness.Rules;

namespace Harness.Engine;

public sealed partial class Engine
{
    /// <summary>One step of a hook: a table's chain or conntrack's own work, in priority order.</summary>
    private enum HookStep
    {
        Raw,
        Conntrack,
        Mangle,
        NatDestination,
        Filter,
        Security,
        NatSource,
    }

    private static readonly HookStep[] PreroutingSteps = [HookStep.Raw, HookStep.Conntrack, HookStep.Mangle, HookStep.NatDestination];
    private static readonly HookStep[] InputSteps = [HookStep.Mangle, HookStep.Filter, HookStep.Security, HookStep.NatSource];
    private static readonly HookStep[] ForwardSteps = [HookStep.Mangle, HookStep.Filter, HookStep.Security];
    private static readonly HookStep[] OutputSteps = [HookStep.Raw, HookStep.Conntrack, HookStep.Mangle, HookStep.NatDestination, HookStep.Filter, HookStep.Security];
    private static readonly HookStep[] PostroutingSteps = [HookStep.Mangle, HookStep.NatSource];

    private static HookStep[] StepsOf(Hook hook) => hook switch
    {
        Hook.Prerouting => PreroutingSteps,
        Hook.Input => InputSteps,
        Hook.Forward => ForwardSteps,
        Hook.Output => OutputSteps,
        _ => PostroutingSteps,
    };

    /// <summary>
    /// Runs every table of the hook in priority order. Returns false with the final outcome in <paramref name="stop"/>
    /// when a table dropped, rejected or queued the packet.
    /// </summary>
    private bool RunHook(PacketState s, Hook hook, out Outcome? stop)
    {
        stop = null;
        s.Hook = hook;
        var rules = RulesetFor(s.Family);
        foreach (var step in StepsOf(hook))
        {
            switch (step)
            {
                case HookStep.Conntrack:
                    if (TrackConnection(s) is { } dropReason)
                    {
                        stop = Finish(s, FinalVerdict.Drop, Disposition.Dropped, dropReason, hook);
                        return false;
                    }
                    continue;
                case HookStep.NatDestination:
                case HookStep.NatSource:
                    if (!RunNat(s, rules, hook, step == HookStep.NatSource, out stop)) return false;
                    continue;
            }
            // Indexes into CompiledRuleset.TablesByPriority: raw, mangle, nat, filter, security.
            int table = step switch
            {
                HookStep.Raw => 0,
                HookStep.Mangle => 1,
                HookStep.Filter => 3,
                _ => 4,
            };
            var chain = rules?.Builtin(table, hook);
            if (chain is null) continue;
            uint markBefore = s.Mark;
            var destinationBefore = s.Ip.Destination;
            var sourceBefore = s.Ip.Source;
            byte tosBefore = s.Ip.Tos;
            if (!WalkTable(s, chain, out stop)) return false;
            if (hook == Hook.Output && step == HookStep.Mangle
                && (s.Mark != markBefore || s.Ip.Destination != destinationBefore || s.Ip.Source != sourceBefore || s.Ip.Tos != tosBefore))
                Reroute(s);
        }
        return true;
    }

    /// <summary>Walks one built-in chain and applies its verdict; false (with the outcome) when the packet stops here.</summary>
    private bool WalkTable(PacketState s, CompiledChain chain, out Outcome? stop)
    {
        stop = null;
        s.Table = chain.Table;
        s.RejectReply = null;
        s.Rejected = false;
        var result = ChainWalker.Walk(chain, s);
        s.AnyDecision = result;
        if (result.DecidingRule is not null) s.RuleDecision = result;
        if (chain.Table == TableNames.Filter) s.FilterDecision = result;
        switch (result.Verdict)
        {
            case Verdict.Accept:
                return true;
            case Verdict.Queue:
                stop = Finish(s, FinalVerdict.Drop, Disposition.Dropped, "queued to userspace with no listener (the kernel drops it)", s.Hook, result);
                return false;
            default:
                if (s.Rejected)
                {
                    var why = s.RejectReply is not null ? null
                        : s.ReplySuppressed is { } limit ? "REJECT reply suppressed by " + limit
                        : "REJECT sent no reply (the kernel does not answer this packet)";
                    stop = Finish(s, FinalVerdict.Reject, Disposition.Rejected, why, s.Hook, result);
                    if (s.RejectReply is { } reply) SendGenerated(s, reply);
                    s.RejectReply = null;
                }
                else
                {
                    stop = Finish(s, FinalVerdict.Drop, Disposition.Dropped, s.HotDrop, s.Hook, result);
                }
                return false;
        }
    }

    /// <summary>
    /// Builds the outcome. The deciding rule: the one that dropped/rejected, else the filter table's last decision,
    /// else the last rule that decided in any table, else the last policy.
    /// </summary>
    private Outcome Finish(PacketState s, FinalVerdict verdict, Disposition disposition, string? reason, Hook? droppedAt, WalkResult? decision = null)
    {
        decision ??= verdict == FinalVerdict.Accept ? s.FilterDecision ?? s.RuleDecision ?? s.AnyDecision : null;
        var packet = s.Dirty && _runtime.Options.RebuildBytes ? Rebuild(s.Packet) : s.Packet;
        return new Outcome
        {
            PacketNumber = s.Original.Number,
            Time = s.Original.Time,
            InInterface = s.InInterface ?? (s.LocallyGenerated ? null : s.Original.Interface ?? _runtime.Options.DefaultInterface),
            OutInterface = disposition is Disposition.Forwarded or Disposition.Sent ? s.OutInterface : null,
            Verdict = verdict,
            Disposition = disposition,
            DecidingRule = decision?.DecidedBy,
            DecidingRuleSource = decision?.DecidingRule?.SourceText,
            Reason = s.ReplySuppressed is { } limit && verdict != FinalVerdict.Reject
                ? (reason is null ? "" : reason + "; ") + "ICMP error suppressed by " + limit
                : reason,
            DroppedAt = verdict == FinalVerdict.Accept ? null : droppedAt,
            Packet = packet,
            Path = _paths.Intern(s.Path),
            Conntrack = ConntrackView(s),
            Log = s.Log is null ? ImmutableArray<string>.Empty : ImmutableCollectionsMarshal.AsImmutableArray(s.Log.ToArray()),
            Mark = s.Mark,
            Generated = s.IsGeneratedPacket,
        };
    }

    /// <summary>Sends a packet the host made in answer to <paramref name="cause"/> (REJECT reply, ICMP error) through OUTPUT and POSTROUTING.</summary>
    private void SendGenerated(PacketState cause, Packet reply)
    {
        if (cause.GeneratedDepth >= 2) return; // the kernel never answers an answer to an answer
        var state = new PacketState(reply, _runtime, _pathBuffer) { IsGeneratedPacket = true, GeneratedDepth = cause.GeneratedDepth + 1 };
        // With an entry the reply is attached to it (RELATED); without one it is tracked in OUTPUT like any local
        // packet. An UNTRACKED cause leaves the reply's skb->_nfct non-zero, so raw's NOTRACK/CT skip the reply.
        if (cause.Conntrack is { } ct)
        {
            state.Conntrack = _runtime.Conntrack.AttachToGeneratedReply(ct, reply, Hook.Output);
            state.RawTemplateIgnored = ct.State == Harness.Engine.Conntrack.CtState.Untracked;
        }
        var outcome = RunLocal(state);
        cause.AddGenerated(outcome);
        if (state.Generated is not null)
            foreach (var g in state.Generated) cause.AddGenerated(g);
    }

    private static Packet Rebuild(Packet packet) => PacketBuilder.Rebuild(packet);

    internal static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
