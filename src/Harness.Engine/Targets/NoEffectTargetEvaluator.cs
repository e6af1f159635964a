using Harness.Engine.Walk;
using Harness.Rules.Extensions;

namespace Harness.Engine.Targets;

/// <summary>
/// -j CHECKSUM (fills in a checksum left for offload: captured packets already carry theirs) and -j CLASSIFY (sets the
/// queueing priority, which nothing in netfilter reads): both leave the packet as it is and continue.
/// </summary>
public sealed class NoEffectTargetEvaluator : TargetEvaluator
{
    public static TargetEvaluator CreateChecksum(ChecksumTarget t, Matches.CompileContext c) => new NoEffectTargetEvaluator();

    public static TargetEvaluator CreateClassify(ClassifyTarget t, Matches.CompileContext c) => new NoEffectTargetEvaluator();

    public override TargetVerdict Execute(PacketState state) => TargetVerdict.Continue;
}
