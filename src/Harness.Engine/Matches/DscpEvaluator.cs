using Harness.Engine.Walk;
using Harness.Net;
using Harness.Rules;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>-m dscp (xt_dscp): DSCP = TOS >> 2.</summary>
public sealed class DscpEvaluator(Negatable<byte> dscp) : MatchEvaluator
{
    public static MatchEvaluator Create(DscpMatch m, CompileContext c) => new DscpEvaluator(m.Dscp);

    public override bool Matches(PacketState state) => dscp.Apply((state.Ip.Tos >> 2) == dscp.Value);
}
