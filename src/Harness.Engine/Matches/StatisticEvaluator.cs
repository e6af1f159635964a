using Harness.Engine.Walk;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>
/// -m statistic (xt_statistic). Random: a 31-bit draw from the case's seeded random source below the probability.
/// Nth, as xt_statistic: iptables stores --every N as N-1 and starts the counter at (N-1)-P; each packet that
/// reaches the rule advances it, wrapping from N-1 to 0, and the packet that wraps it matches. So --every 3
/// --packet 0 matches the 1st, 4th, 7th … packet, and --packet 1 the 2nd, 5th, ….
/// </summary>
public sealed class StatisticEvaluator : MatchEvaluator
{
    private readonly StatisticMatch _match;
    private uint _count;

    private StatisticEvaluator(StatisticMatch match)
    {
        _match = match;
        _count = match.Every - 1 - match.Packet;
    }

    public static MatchEvaluator Create(StatisticMatch match, CompileContext context) => new StatisticEvaluator(match);

    public override bool Matches(PacketState state)
    {
        bool hit;
        if (_match.Mode == StatisticMode.Random)
        {
            hit = (uint)(state.Runtime.Random.Next() & 0x7FFFFFFF) < _match.Probability;
        }
        else
        {
            _count = _count >= _match.Every - 1 ? 0 : _count + 1;
            hit = _count == 0;
        }
        return hit ^ _match.Negated;
    }
}
