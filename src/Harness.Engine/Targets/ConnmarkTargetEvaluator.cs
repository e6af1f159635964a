using Harness.Engine.Walk;
using Harness.Rules.Extensions;

namespace Harness.Engine.Targets;

/// <summary>
/// -j CONNMARK (xt_CONNMARK revision 2): --set-xmark: ctmark = (ctmark AND NOT ctmask) XOR value; --save-mark: the
/// packet mark (AND nfmask, shifted) into the ctmark bits of ctmask; --restore-mark: the ctmark (AND ctmask, shifted)
/// into the packet mark bits of nfmask. No connection: nothing happens. Continues.
/// </summary>
public sealed class ConnmarkTargetEvaluator(ConnmarkTarget t) : TargetEvaluator
{
    public static TargetEvaluator Create(ConnmarkTarget t, Matches.CompileContext c) => new ConnmarkTargetEvaluator(t);

    public override TargetVerdict Execute(PacketState state)
    {
        if (state.Conntrack?.Entry is not { } entry) return TargetVerdict.Continue;
        switch (t.Mode)
        {
            case ConnmarkMode.Set:
                entry.Mark = (entry.Mark & ~t.CtMask) ^ t.CtMark;
                break;
            case ConnmarkMode.Save:
                entry.Mark = (entry.Mark & ~t.CtMask) ^ (Shift(state.Mark & t.NfMask) & t.CtMask);
                break;
            default:
                state.Mark = (state.Mark & ~t.NfMask) ^ (Shift(entry.Mark & t.CtMask) & t.NfMask);
                break;
        }
        return TargetVerdict.Continue;
    }

    private uint Shift(uint value) => t.ShiftDirection == ConnmarkShift.Right ? value >> t.ShiftBits : value << t.ShiftBits;
}
