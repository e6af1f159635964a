using Harness.Engine.Walk;
using Harness.Rules;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>-m helper (xt_helper): the packet's connection was expected by a connection using that helper.</summary>
public sealed class HelperEvaluator(Negatable<string> helper) : MatchEvaluator
{
    public static MatchEvaluator Create(HelperMatch m, CompileContext c) => new HelperEvaluator(m.Helper);

    public override bool Matches(PacketState state)
    {
        if (state.Conntrack?.Entry?.Master is not { } master) return helper.Negated;
        if (master.Helper is null) return helper.Negated;
        return helper.Apply(helper.Value.Length == 0 || string.Equals(master.Helper, helper.Value, StringComparison.Ordinal));
    }
}
