using Harness.Engine.Walk;
using Harness.Net;
using Harness.Rules;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>-m tos: (TOS AND mask) == value; -m dscp: the top six bits of the TOS / traffic class.</summary>
public sealed class TosEvaluator(Negatable<(byte Value, byte Mask)> tos) : MatchEvaluator
{
    public static MatchEvaluator Create(TosMatch m, CompileContext c) => new TosEvaluator(m.Tos);

    public override bool Matches(PacketState state) => tos.Apply((state.Ip.Tos & tos.Value.Mask) == tos.Value.Value);
}
