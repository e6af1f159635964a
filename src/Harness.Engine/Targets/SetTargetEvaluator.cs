using Harness.Engine.Matches;
using Harness.Engine.Walk;
using Harness.Rules.Extensions;

namespace Harness.Engine.Targets;

/// <summary>
/// -j SET --add-set/--del-set NAME src,dst… (xt_SET): adds the packet's values to (or removes them from) the live
/// ipset; later -m set lookups see the change. An added entry gets --timeout N seconds (else the set's default) when the
/// set was created with timeouts — the kernel takes and ignores --timeout for a set without — and, in a set with
/// counters, counts this packet. An entry already there is left alone, unless --exist: then its timeout and counters
/// start over. In a "net" dimension the element is the packet's address under the longest prefix the set's members
/// use (see <see cref="LiveIpSet.ElementForPacket"/>). Continues.
/// </summary>
public sealed class SetTargetEvaluator(SetTarget t) : TargetEvaluator
{
    public static TargetEvaluator Create(SetTarget t, CompileContext c)
    {
        if (t.Add is { } a) SetEvaluator.CheckSet(c, a.SetName, a.Directions);
        if (t.Delete is { } d) SetEvaluator.CheckSet(c, d.SetName, d.Directions);
        return new SetTargetEvaluator(t);
    }

    public override TargetVerdict Execute(PacketState state)
    {
        var sets = state.Runtime.LiveSets;
        if (t.Add is { } add)
        {
            var set = sets[add.SetName];
            if (SetEvaluator.ProbeOf(state, set.Definition, add.Directions) is { } entry)
                set.Add(set.ElementForPacket(entry, state.Now), state.Now, (ulong)state.Ip.TotalLength, t.Timeout, t.Exist);
        }
        if (t.Delete is { } del)
        {
            var set = sets[del.SetName];
            if (SetEvaluator.ProbeOf(state, set.Definition, del.Directions) is { } entry)
                set.Delete(set.ElementForPacket(entry, state.Now), state.Now);
        }
        return TargetVerdict.Continue;
    }
}
