using Harness.Engine.Walk;
using Harness.Rules;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>-m connmark (xt_connmark): (ctmark AND mask) == value; a packet without a connection never matches.</summary>
public sealed class ConnmarkEvaluator(Negatable<MarkMask> mark) : MatchEvaluator
{
    public static MatchEvaluator Create(ConnmarkMatch m, CompileContext c) => new ConnmarkEvaluator(m.Mark);

    public override bool Matches(PacketState state) =>
        state.Conntrack?.Entry is { } e && mark.Apply(mark.Value.Matches(e.Mark));
}
