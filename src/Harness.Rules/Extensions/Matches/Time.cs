using System.Globalization;
using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>
/// -m time, evaluated on the capture's clock: time of day in seconds [DaytimeStart, DaytimeStop] (wrapping past
/// midnight when start &gt; stop), month days (bit N = day N), week days (bit 1 = Monday … bit 7 = Sunday), and a
/// date range in Unix seconds. UTC unless <see cref="KernelTimeZone"/>.
/// </summary>
public sealed record TimeMatch(
    uint DaytimeStart,
    uint DaytimeStop,
    uint MonthDays,
    byte WeekDays,
    long DateStart,
    long DateStop,
    bool KernelTimeZone,
    bool Contiguous) : MatchExtension
{
    public const uint MaxDaytime = 24 * 60 * 60 - 1;
    public const uint AllMonthDays = 0xFFFFFFFE;
    public const byte AllWeekDays = 0xFE;
    public const long MaxDate = int.MaxValue;

    public override string Name => "time";

    private static readonly string[] DayNames = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

    private static string Clock(uint seconds) =>
        string.Create(CultureInfo.InvariantCulture, $"{seconds / 3600:D2}:{seconds / 60 % 60:D2}:{seconds % 60:D2}");

    private static string Date(long unix) =>
        DateTimeOffset.FromUnixTimeSeconds(unix).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture);

    protected override void SaveOptions(SaveWriter w)
    {
        if (DaytimeStart != 0 || DaytimeStop != MaxDaytime)
            w.Word("--timestart").Word(Clock(DaytimeStart)).Word("--timestop").Word(Clock(DaytimeStop));
        if (MonthDays != AllMonthDays)
            w.Word("--monthdays").Word(string.Join(",", Enumerable.Range(1, 31).Where(d => (MonthDays & (1u << d)) != 0).Select(d => Values.Dec((ulong)d))));
        if (WeekDays != AllWeekDays)
            w.Word("--weekdays").Word(string.Join(",", Enumerable.Range(1, 7).Where(d => (WeekDays & (1 << d)) != 0).Select(d => DayNames[d - 1])));
        if (DateStart != 0) w.Word("--datestart").Word(Date(DateStart));
        w.Word("--datestop").Word(Date(DateStop));
        if (KernelTimeZone) w.Word("--kerneltz");
        if (Contiguous) w.Word("--contiguous");
    }

    internal static uint ParseClock(OptionArguments a, string text)
    {
        var parts = text.Split(':');
        if (parts.Length is < 2 or > 3 || parts.Any(p => p.Length is 0 or > 2 || !p.All(char.IsAsciiDigit)))
            throw a.Error($"time: invalid time \"{text}\" specified, should be hh:mm[:ss] format");
        var h = uint.Parse(parts[0], CultureInfo.InvariantCulture);
        var m = uint.Parse(parts[1], CultureInfo.InvariantCulture);
        var s = parts.Length == 3 ? uint.Parse(parts[2], CultureInfo.InvariantCulture) : 0;
        if (h > 23 || m > 59 || s > 59) throw a.Error($"time: invalid time \"{text}\" specified, should be hh:mm[:ss] format");
        return h * 3600 + m * 60 + s;
    }

    /// <summary>"YYYY[-MM[-DD[Thh[:mm[:ss]]]]]" in UTC.</summary>
    internal static long ParseDate(OptionArguments a, string text)
    {
        string[] formats = ["yyyy", "yyyy-MM", "yyyy-MM-dd", "yyyy-MM-dd'T'HH", "yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd'T'HH:mm:ss"];
        if (!DateTime.TryParseExact(text, formats, CultureInfo.InvariantCulture,
                DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var dt))
            throw a.Error($"time: invalid date \"{text}\" specified, should be YYYY[-MM[-DD[Thh[:mm[:ss]]]]] format");
        var unix = new DateTimeOffset(dt, TimeSpan.Zero).ToUnixTimeSeconds();
        if (unix < 0 || unix > MaxDate) throw a.Error($"time: date \"{text}\" is out of range (1970 to 2038-01-19T03:14:07)");
        return unix;
    }
}

public sealed class TimeMatchParser : MatchParser
{
    private uint _start, _stop = TimeMatch.MaxDaytime, _monthDays = TimeMatch.AllMonthDays;
    private byte _weekDays = TimeMatch.AllWeekDays;
    private long _dateStart, _dateStop = TimeMatch.MaxDate;
    private bool _kernelTz, _contiguous;

    protected override string ExtensionName => "time";

    public TimeMatchParser()
    {
        On("datestart", (_, a) => _dateStart = TimeMatch.ParseDate(a, a.Next("date")));
        On("datestop", (_, a) => _dateStop = TimeMatch.ParseDate(a, a.Next("date")));
        On("timestart", (_, a) => _start = TimeMatch.ParseClock(a, a.Next("time")));
        On("timestop", (_, a) => _stop = TimeMatch.ParseClock(a, a.Next("time")));
        On("monthdays", (inv, a) =>
        {
            uint days = 0;
            foreach (var p in a.Next("days").Split(','))
            {
                if (!Values.TryUInt(p, 31, out var d) || d == 0) throw a.Error($"time: invalid month day \"{p}\"");
                days |= 1u << (int)d;
            }
            _monthDays = inv ? ~days & TimeMatch.AllMonthDays : days;
        }, invert: true);
        On("weekdays", (inv, a) =>
        {
            byte days = 0;
            string[] names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
            foreach (var p in a.Next("days").Split(','))
            {
                int index = Array.FindIndex(names, n => n.Equals(p, StringComparison.OrdinalIgnoreCase));
                if (index >= 0) days |= (byte)(1 << (index + 1));
                else if (Values.TryUInt(p, 7, out var d) && d >= 1) days |= (byte)(1 << (int)d);
                else throw a.Error($"time: No, \"{p}\" is not a valid day");
            }
            _weekDays = inv ? (byte)(~days & TimeMatch.AllWeekDays) : days;
        }, invert: true);
        Flag("kerneltz", _ => _kernelTz = true, aliases: "localtz");
        Flag("utc", _ => _kernelTz = false);
        Flag("contiguous", _ => _contiguous = true);
    }

    public override MatchExtension Finish(RuleContext context)
    {
        if (_contiguous && _stop >= _start)
            throw Error("time: --contiguous only makes sense when stoptime is smaller than starttime");
        return new TimeMatch(_start, _stop, _monthDays, _weekDays, _dateStart, _dateStop, _kernelTz, _contiguous);
    }
}
