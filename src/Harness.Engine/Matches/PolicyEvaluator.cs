using Harness.Engine.Walk;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>
/// -m policy (xt_policy): the model has no IPsec, so no packet has a security path: "--pol none" matches every packet,
/// "--pol ipsec" none.
/// </summary>
public sealed class PolicyEvaluator(PolicyMatch m) : MatchEvaluator
{
    public static MatchEvaluator Create(PolicyMatch m, CompileContext c) => new PolicyEvaluator(m);

    public override bool Matches(PacketState state) => !m.Ipsec;
}
