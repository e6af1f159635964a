using Harness.Engine.Walk;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>
/// -m time (xt_time) on the packet's capture timestamp, in UTC (--kerneltz is taken as UTC: the model has no kernel
/// time zone): date range, time of day (a range wrapping midnight, with --contiguous), weekdays and month days.
/// </summary>
public sealed class TimeEvaluator(TimeMatch m) : MatchEvaluator
{
    public static MatchEvaluator Create(TimeMatch m, CompileContext c) => new TimeEvaluator(m);

    public override bool Matches(PacketState state)
    {
        long stamp = Math.DivRem(state.Now.Nanoseconds, 1_000_000_000L, out long rem);
        if (rem < 0) stamp--;
        if (stamp < m.DateStart || stamp > m.DateStop) return false;
        long packetTime = ((stamp % 86400) + 86400) % 86400;
        if (m.DaytimeStart < m.DaytimeStop)
        {
            if (packetTime < m.DaytimeStart || packetTime > m.DaytimeStop) return false;
        }
        else
        {
            if (packetTime < m.DaytimeStart && packetTime > m.DaytimeStop) return false;
            if (m.Contiguous && packetTime <= m.DaytimeStop) stamp -= 86400;
        }
        var date = DateTimeOffset.FromUnixTimeSeconds(stamp).UtcDateTime;
        int weekday = date.DayOfWeek == DayOfWeek.Sunday ? 7 : (int)date.DayOfWeek;
        if ((m.WeekDays & (1 << weekday)) == 0) return false;
        if (m.MonthDays != TimeMatch.AllMonthDays && (m.MonthDays & (1u << date.Day)) == 0) return false;
        return true;
    }
}
