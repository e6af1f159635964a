using Harness.Engine.Walk;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>
/// -m owner (xt_owner, OUTPUT/POSTROUTING): the socket of a locally generated packet, from the case's owner list.
/// A packet without a known socket (arriving, made by the kernel, or with no owner in the case) matches only when every
/// given test is negated, as the kernel does for a packet with no socket.
/// </summary>
public sealed class OwnerEvaluator(OwnerMatch m) : MatchEvaluator
{
    public static MatchEvaluator Create(OwnerMatch m, CompileContext c) => new OwnerEvaluator(m);

    public override bool Matches(PacketState state)
    {
        if (state.Owner is not { } owner)
        {
            return (m.SocketExists is null || m.SocketExists.Value.Negated)
                && (m.Uid is null || m.Uid.Value.Negated)
                && (m.Gid is null || m.Gid.Value.Negated);
        }
        if (m.SocketExists is { } s && !s.Apply(true)) return false;
        if (m.Uid is { } uid && !uid.Apply(uid.Value.Contains(owner.Uid))) return false;
        if (m.Gid is { } gid)
        {
            bool hit = gid.Value.Contains(owner.Gid)
                || (m.SupplementaryGroups && !owner.SupplementaryGids.IsDefault && owner.SupplementaryGids.Any(gid.Value.Contains));
            if (!gid.Apply(hit)) return false;
        }
        return true;
    }
}
