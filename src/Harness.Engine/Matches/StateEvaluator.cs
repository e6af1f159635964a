using Harness.Engine.Conntrack;
using Harness.Engine.Walk;
using Harness.Rules;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>-m state (xt_state): the packet's conntrack state bit against the mask; no entry means INVALID (or UNTRACKED).</summary>
public sealed class StateEvaluator(Negatable<ConntrackStates> states) : MatchEvaluator
{
    public static MatchEvaluator Create(StateMatch match, CompileContext context) => new StateEvaluator(match.States);

    public override bool Matches(PacketState state) => states.Apply((states.Value & BitOf(state.Conntrack)) != 0);

    /// <summary>The state bit of a packet: from conntrack's classification; a packet conntrack never saw is INVALID.</summary>
    public static ConntrackStates BitOf(CtPacket? ct) => ct?.State switch
    {
        CtState.New => ConntrackStates.New,
        CtState.Established => ConntrackStates.Established,
        CtState.Related => ConntrackStates.Related,
        CtState.Untracked => ConntrackStates.Untracked,
        _ => ConntrackStates.Invalid,
    };
}
