using Harness.Engine.Walk;
using Harness.Rules;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>-m mark (xt_mark): (nfmark AND mask) == value, negatable.</summary>
public sealed class MarkEvaluator(Negatable<MarkMask> mark) : MatchEvaluator
{
    public static MatchEvaluator Create(MarkMatch match, CompileContext context) => new MarkEvaluator(match.Mark);

    public override bool Matches(PacketState state) => mark.Apply(mark.Value.Matches(state.Mark));
}
