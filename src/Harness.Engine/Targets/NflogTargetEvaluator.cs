using Harness.Engine.Walk;
using Harness.Rules.Extensions;

namespace Harness.Engine.Targets;

/// <summary>
/// -j NFLOG: the packet goes to the netlink log group; the outcome records the line a logging daemon writes for it,
/// in the kernel's LOG format with the NFLOG prefix. Continues.
/// </summary>
public sealed class NflogTargetEvaluator(NflogTarget t) : TargetEvaluator
{
    public static TargetEvaluator Create(NflogTarget t, Matches.CompileContext c) => new NflogTargetEvaluator(t);

    public override TargetVerdict Execute(PacketState state)
    {
        state.AddLog(LogFormatter.Format(t.Prefix, state.Packet, state.InInterface, state.OutInterface, state.Mark));
        return TargetVerdict.Continue;
    }
}
