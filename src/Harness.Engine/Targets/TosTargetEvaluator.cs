using Harness.Engine.Walk;
using Harness.Rules.Extensions;

namespace Harness.Engine.Targets;

/// <summary>-j TOS (xt_TOS revision 1: tos = (tos AND NOT mask) XOR value) and -j DSCP (the top six bits, ECN kept); continue.</summary>
public sealed class TosTargetEvaluator(Func<byte, byte> change) : TargetEvaluator
{
    public static TargetEvaluator Create(TosTarget t, Matches.CompileContext c) =>
        new TosTargetEvaluator(tos => (byte)((tos & ~t.Mask) ^ t.Value));

    public static TargetEvaluator CreateDscp(DscpTarget t, Matches.CompileContext c) =>
        new TosTargetEvaluator(tos => (byte)((tos & 0x03) | (t.Dscp << 2)));

    public override TargetVerdict Execute(PacketState state)
    {
        state.Rewrite(HeaderRewrite.WithTos(state.Packet, change(state.Ip.Tos)));
        return TargetVerdict.Continue;
    }
}
