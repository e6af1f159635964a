using Harness.Engine.Matches;
using Harness.Engine.Walk;
using Harness.Rules.Extensions;

namespace Harness.Engine.Targets;

/// <summary>
/// -j SET --add-set/--del-set NAME src,dst… (xt_SET): adds the packet's values to (or removes them from) the live
/// ipset; later -m set lookups see the change. Entry timeouts (--timeout) are refused: set timeouts are not modelled.
/// Continues.
/// </summary>
public sealed class SetTargetEvaluator(SetTarget t) : TargetEvaluator
{
    public static TargetEvaluator Create(SetTarget t, CompileContext c)
    {
        if (t.Timeout is not null) throw c.Error("SET --timeout: ipset entry timeouts are not modelled");
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
            if (SetEvaluator.ProbeOf(state, set, add.Directions) is { } entry && !set.Contains(entry))
                sets[add.SetName] = set with { Entries = set.Entries.Add(entry) };
        }
        if (t.Delete is { } del)
        {
            var set = sets[del.SetName];
            if (SetEvaluator.ProbeOf(state, set, del.Directions) is { } entry)
                sets[del.SetName] = set with { Entries = set.Entries.RemoveAll(e => e == entry || e.Networks.SequenceEqual(entry.Networks) && e.Protocol == entry.Protocol && e.Port == entry.Port) };
        }
        return TargetVerdict.Continue;
    }
}
