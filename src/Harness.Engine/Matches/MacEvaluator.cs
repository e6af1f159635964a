using Harness.Engine.Walk;
using Harness.Net;
using Harness.Rules;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>
/// -m mac (xt_mac): the Ethernet source address. A packet without an Ethernet header (made locally, or a capture
/// without link layer) never matches, negated or not, as in the kernel.
/// </summary>
public sealed class MacEvaluator(Negatable<MacAddress> source) : MatchEvaluator
{
    public static MatchEvaluator Create(MacMatch m, CompileContext c) => new MacEvaluator(m.Source);

    public override bool Matches(PacketState state) =>
        state.InInterface is not null && !state.LocallyGenerated && state.Packet.Link is { } link && source.Apply(link.Source == source.Value);
}
