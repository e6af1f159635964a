using Harness.Engine.Walk;
using Harness.Rules.Extensions;

namespace Harness.Engine.Targets;

/// <summary>-j TRACE (raw table): marks the packet traced; the engine records every packet's path anyway. Continues.</summary>
public sealed class TraceTargetEvaluator : TargetEvaluator
{
    public static TargetEvaluator Create(TraceTarget t, Matches.CompileContext context) => new TraceTargetEvaluator();

    public override TargetVerdict Execute(PacketState state)
    {
        state.Traced = true;
        return TargetVerdict.Continue;
    }
}
