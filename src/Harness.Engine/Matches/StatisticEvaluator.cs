using Harness.Engine.Walk;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>
/// -m statistic (xt_statistic). Random: a 31-bit draw from the case's seeded random source below the probability.
/// Nth: a per-rule counter starting at --packet that wraps after --every packets; the packet that wraps it to 0
/// matches (so --every 3 --packet 0 matches the 3rd, 6th, … packet; --packet 2 the 1st, 4th, …).
/// </summary>
public sealed class StatisticEvaluator : MatchEvaluator
{
    private readonly StatisticMatch _match;
    private uint _count;

    private StatisticEvaluator(StatisticMatch match)
    {
        _match = match;
        _count = match.Packet;
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
            _count = _count + 1 >= _match.Every ? 0 : _count + 1;
            hit = _count == 0;
        }
        return hit ^ _match.Negated;
    }
}
