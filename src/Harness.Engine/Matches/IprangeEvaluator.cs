using Harness.Engine.Walk;
using Harness.Net;
using Harness.Rules;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>-m iprange (xt_iprange): source and/or destination inside an inclusive address range.</summary>
public sealed class IprangeEvaluator(IprangeMatch m) : MatchEvaluator
{
    public static MatchEvaluator Create(IprangeMatch m, CompileContext c) => new IprangeEvaluator(m);

    public override bool Matches(PacketState state)
    {
        if (m.Source is { } s && !s.Apply(In(s.Value, state.Ip.Source))) return false;
        if (m.Destination is { } d && !d.Apply(In(d.Value, state.Ip.Destination))) return false;
        return true;
    }

    private static bool In(AddressRange r, Address a) => a.Family == r.First.Family && a.Value >= r.First.Value && a.Value <= r.Last.Value;
}
