using Harness.Engine.Walk;
using Harness.Rules.Extensions;

namespace Harness.Engine.Targets;

/// <summary>-j MARK (xt_MARK revision 2): mark = (mark AND NOT mask) XOR value; continues.</summary>
public sealed class MarkTargetEvaluator(MarkTarget target) : TargetEvaluator
{
    public static TargetEvaluator Create(MarkTarget target, Matches.CompileContext context) => new MarkTargetEvaluator(target);

    public override TargetVerdict Execute(PacketState state)
    {
        state.Mark = target.Apply(state.Mark);
        return TargetVerdict.Continue;
    }
}
