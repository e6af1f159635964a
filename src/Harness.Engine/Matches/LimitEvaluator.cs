using Harness.Engine.Walk;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>
/// -m limit (xt_limit, and nft's limit that iptables-nft turns it into): a token bucket per rule on the capture's
/// clock. One packet costs the average interval (Average/10000 s); the bucket holds Burst packets and starts full;
/// it refills with the time elapsed between packets, capped at Burst. Matches while a whole packet's cost is left.
/// </summary>
public sealed class LimitEvaluator : MatchEvaluator
{
    private readonly long _costNs;
    private readonly long _capacityNs;
    private long _tokensNs;
    private long _lastNs;
    private bool _started;

    public LimitEvaluator(LimitMatch match)
    {
        _costNs = (long)match.Average * (1_000_000_000L / LimitMatch.Scale);
        _capacityNs = _costNs * Math.Max(1u, match.Burst);
    }

    public static MatchEvaluator Create(LimitMatch match, CompileContext context) => new LimitEvaluator(match);

    public override bool Matches(PacketState state)
    {
        long now = state.Now.Nanoseconds;
        if (!_started)
        {
            _started = true;
            _tokensNs = _capacityNs;
            _lastNs = now;
        }
        else if (now > _lastNs)
        {
            _tokensNs = Math.Min(_capacityNs, _tokensNs + (now - _lastNs));
            _lastNs = now;
        }
        if (_tokensNs >= _costNs)
        {
            _tokensNs -= _costNs;
            return true;
        }
        return false;
    }
}
