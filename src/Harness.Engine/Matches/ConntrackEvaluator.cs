using Harness.Engine.Conntrack;
using Harness.Engine.Walk;
using Harness.Net;
using Harness.Rules;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>
/// -m conntrack (xt_conntrack revision 3): --ctstate (with the virtual SNAT/DNAT states), then, only when the packet
/// has an entry, --ctproto, the original/reply addresses and ports, --ctstatus (any of the bits), --ctexpire
/// (seconds left) and --ctdir. A packet without an entry (INVALID, UNTRACKED) matches only a rule that tests
/// --ctstate alone, as the kernel returns "state was tested" there.
/// </summary>
public sealed class ConntrackEvaluator(ConntrackMatch m) : MatchEvaluator
{
    public static MatchEvaluator Create(ConntrackMatch match, CompileContext context) => new ConntrackEvaluator(match);

    public override bool Matches(PacketState state)
    {
        var ct = state.Conntrack;
        var entry = ct?.Entry;
        if (m.State is { } st)
        {
            var bit = StateEvaluator.BitOf(ct);
            if (entry is not null && ct!.State is not (CtState.Invalid or CtState.Untracked))
            {
                if ((entry.Status & CtStatus.SrcNat) != 0) bit |= ConntrackStates.Snat;
                if ((entry.Status & CtStatus.DstNat) != 0) bit |= ConntrackStates.Dnat;
            }
            else
            {
                entry = null;
            }
            if (!st.Apply((st.Value & bit) != 0)) return false;
        }
        else if (ct is null || ct.State is CtState.Invalid or CtState.Untracked)
        {
            entry = null;
        }
        if (entry is null) return m.State is not null;

        var original = entry.Original;
        var reply = entry.Reply;
        if (m.Protocol is { } p && !p.Apply(original.Protocol == p.Value)) return false;
        if (!Address(m.OriginalSource, original.Source)) return false;
        if (!Address(m.OriginalDestination, original.Destination)) return false;
        if (!Address(m.ReplySource, reply.Source)) return false;
        if (!Address(m.ReplyDestination, reply.Destination)) return false;
        if (!Port(m.OriginalSourcePort, original.SourcePort)) return false;
        if (!Port(m.OriginalDestinationPort, original.DestinationPort)) return false;
        if (!Port(m.ReplySourcePort, reply.SourcePort)) return false;
        if (!Port(m.ReplyDestinationPort, reply.DestinationPort)) return false;
        if (m.Status is { } status && !status.Apply(((uint)status.Value & (uint)entry.Status) != 0)) return false;
        if (m.Expire is { } expire)
        {
            var left = entry.SecondsLeft(state.Now);
            if (!expire.Apply(left >= expire.Value.Min && left <= expire.Value.Max)) return false;
        }
        if (m.Direction is { } dir)
        {
            var wanted = dir == ConntrackDirection.Original ? CtDirection.Original : CtDirection.Reply;
            if (ct!.Direction != wanted) return false;
        }
        return true;
    }

    private static bool Address(Negatable<Cidr>? test, Address value) => test is not { } t || t.Apply(t.Value.Contains(value));

    private static bool Port(Negatable<PortRange>? test, ushort value) => test is not { } t || t.Apply(t.Value.Contains(value));
}
