using Harness.Engine.Walk;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>
/// -m physdev (xt_physdev): the model has no bridges, so no packet carries bridge information; as the kernel does then,
/// the rule matches only when every option it gives is negated.
/// </summary>
public sealed class PhysdevEvaluator(PhysdevMatch m) : MatchEvaluator
{
    public static MatchEvaluator Create(PhysdevMatch m, CompileContext c) => new PhysdevEvaluator(m);

    public override bool Matches(PacketState state) =>
        (m.IsBridged is null || m.IsBridged.Value.Negated) && (m.IsIn is null || m.IsIn.Value.Negated)
        && (m.IsOut is null || m.IsOut.Value.Negated) && (m.In is null || m.In.Value.Negated) && (m.Out is null || m.Out.Value.Negated);
}
