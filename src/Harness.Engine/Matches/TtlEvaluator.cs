using Harness.Engine.Walk;
using Harness.Net;
using Harness.Rules;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>-m ttl (IPv4) and -m hl (IPv6): eq, ne, lt, gt against the TTL / hop limit as the hook sees it.</summary>
public sealed class TtlEvaluator(TtlComparison comparison, byte value) : MatchEvaluator
{
    public static MatchEvaluator Create(TtlMatch m, CompileContext c) => new TtlEvaluator(m.Comparison, m.Value);

    public static MatchEvaluator CreateHl(HlMatch m, CompileContext c) => new TtlEvaluator(m.Comparison, m.Value);

    public override bool Matches(PacketState state)
    {
        byte ttl = state.Ip.Ttl;
        return comparison switch
        {
            TtlComparison.Equal => ttl == value,
            TtlComparison.NotEqual => ttl != value,
            TtlComparison.LessThan => ttl < value,
            _ => ttl > value,
        };
    }
}
