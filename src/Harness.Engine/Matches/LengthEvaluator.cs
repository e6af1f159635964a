using Harness.Engine.Walk;
using Harness.Net;
using Harness.Rules;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>-m length (xt_length): the IP total length (IPv6: payload length + 40) in the range.</summary>
public sealed class LengthEvaluator(Negatable<UIntRange> length) : MatchEvaluator
{
    public static MatchEvaluator Create(LengthMatch m, CompileContext c) => new LengthEvaluator(m.Length);

    public override bool Matches(PacketState state) => length.Apply(length.Value.Contains((uint)state.Ip.TotalLength));
}
