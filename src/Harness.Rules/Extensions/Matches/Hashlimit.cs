using Harness.Net;
using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>What -m hashlimit keys its buckets on.</summary>
[Flags]
public enum HashlimitModes
{
    None = 0,
    SourceIp = 1,
    SourcePort = 2,
    DestinationIp = 4,
    DestinationPort = 8,
}

/// <summary>
/// -m hashlimit (revision 3): one token bucket per key. Packet mode: <see cref="Average"/> is the time per packet in
/// 1/1,000,000 s (XT_HASHLIMIT_SCALE_v2) and <see cref="Burst"/> packets. Byte mode: <see cref="Average"/> is bytes per
/// second and <see cref="Burst"/> bytes (0: none given). Above: match when over the rate (hashlimit-above).
/// With <see cref="RateMatch"/> (packet mode), <see cref="Average"/> is instead the packet count allowed per
/// <see cref="RateIntervalSeconds"/>, as iptables 1.8.9 stores it (the interval then defaults to the rate's unit).
/// <see cref="ExpireMs"/> defaults as in iptables: the rate's unit (1,000 for N/sec), byte mode 15,000 (60,000 with a burst).
/// </summary>
public sealed record HashlimitMatch(
    bool Above,
    bool ByteMode,
    ulong Average,
    ulong Burst,
    HashlimitModes Modes,
    string TableName,
    uint TableSize,
    uint TableMax,
    uint GcIntervalMs,
    uint ExpireMs,
    int SourcePrefixLength,
    int DestinationPrefixLength,
    bool RateMatch,
    uint RateIntervalSeconds,
    Family Family) : MatchExtension
{
    public const ulong Scale = 1_000_000;

    public override string Name => "hashlimit";

    internal static readonly (string Name, uint Bit)[] ModeNames =
        [("srcip", 1), ("srcport", 2), ("dstip", 4), ("dstport", 8)];

    private static readonly (string Name, ulong Mult)[] Rates =
        [("day", Scale * 86400), ("hour", Scale * 3600), ("min", Scale * 60), ("sec", Scale)];

    /// <summary>
    /// The expiry iptables-save leaves out: byte mode 15 s (60 s with a burst), else the unit of the printed rate.
    /// </summary>
    private ulong PrintedExpireMs =>
        ByteMode ? (Burst != 0 ? 60_000UL : 15_000UL)
        : RateUnitMs(RateMatch ? (Average == 0 ? 0 : Scale / Average) : Average);

    private static ulong RateUnitMs(ulong period)
    {
        if (period == 0) return 0;
        int i;
        for (i = 1; i < Rates.Length; i++)
            if (period > Rates[i].Mult || Rates[i].Mult / period < Rates[i].Mult % period) break;
        return Rates[i - 1].Mult / Scale * 1000;
    }

    internal static string PrintRate(ulong period)
    {
        int i;
        for (i = 1; i < Rates.Length; i++)
            if (period > Rates[i].Mult || Rates[i].Mult / period < Rates[i].Mult % period) break;
        return Values.Dec(Rates[i - 1].Mult / period) + "/" + Rates[i - 1].Name;
    }

    /// <summary>
    /// The byte rate as the kernel gets it: iptables stores 2^32-1 over the number of 16-byte chunks per second
    /// (XT_HASHLIMIT_BYTE_SHIFT), which turns back into bytes a little below the given rate (1000b/s: 992).
    /// </summary>
    public static ulong ByteCost(ulong bytesPerSecond) => uint.MaxValue / ((ulong)(uint)(bytesPerSecond >> 4) + 1);

    /// <summary>Bytes per second that <see cref="ByteCost"/> stands for (iptables' cost_to_bytes).</summary>
    public static ulong RoundedBytesPerSecond(ulong bytesPerSecond)
    {
        ulong cost = ByteCost(bytesPerSecond);
        ulong chunks = cost == 0 ? uint.MaxValue : uint.MaxValue / cost;
        return (chunks - 1) << 4;
    }

    /// <summary>Bytes in the largest unit (mb, kb, b) that divides them exactly.</summary>
    internal static string PrintBytes(ulong bytes) =>
        bytes % (1 << 20) == 0 && bytes > 0 ? Values.Dec(bytes >> 20) + "mb"
        : bytes % (1 << 10) == 0 && bytes > 0 ? Values.Dec(bytes >> 10) + "kb"
        : Values.Dec(bytes) + "b";

    protected override void SaveOptions(SaveWriter w)
    {
        w.Word(Above ? "--hashlimit-above" : "--hashlimit-upto");
        w.Word(ByteMode ? PrintBytes(Average) + "/s" : RateMatch ? Values.Dec(Average) + "/sec" : PrintRate(Average));
        if (!ByteMode) w.Word("--hashlimit-burst").Word(Values.Dec(Burst));
        else if (Burst != 0) w.Word("--hashlimit-burst").Word(PrintBytes(Burst));
        if (Modes != 0) w.Word("--hashlimit-mode").Word(Values.FlagNames((uint)Modes, ModeNames));
        w.Word("--hashlimit-name").Word(TableName);
        if (TableSize != 0) w.Word("--hashlimit-htable-size").Word(Values.Dec(TableSize));
        if (TableMax != 0) w.Word("--hashlimit-htable-max").Word(Values.Dec(TableMax));
        if (GcIntervalMs != 1000) w.Word("--hashlimit-htable-gcinterval").Word(Values.Dec(GcIntervalMs));
        if (ExpireMs != PrintedExpireMs) w.Word("--hashlimit-htable-expire").Word(Values.Dec(ExpireMs));
        int full = Family == Family.IPv4 ? 32 : 128;
        if (SourcePrefixLength != full) w.Word("--hashlimit-srcmask").Word(Values.Dec((ulong)SourcePrefixLength));
        if (DestinationPrefixLength != full) w.Word("--hashlimit-dstmask").Word(Values.Dec((ulong)DestinationPrefixLength));
        if (RateMatch) w.Word("--hashlimit-rate-match");
        if (RateMatch && RateIntervalSeconds != 1) w.Word("--hashlimit-rate-interval").Word(Values.Dec(RateIntervalSeconds));
    }
}

public sealed class HashlimitMatchParser : MatchParser
{
    private readonly Family _family;
    private bool? _above;
    private bool _bytes;
    private ulong _average;
    private string? _burstText;
    private OptionArguments? _burstArgs;
    private HashlimitModes _modes;
    private string? _name;
    private uint _size, _max, _gc = 1000, _expire = 10000, _interval = 1;
    private int? _srcMask, _dstMask;
    private bool _rateMatch;
    private ulong _count, _unitSeconds = 1;

    protected override string ExtensionName => "hashlimit";

    public HashlimitMatchParser(Family family)
    {
        _family = family;
        On("hashlimit-upto", (inv, a) => Rate(a, above: inv), invert: true, aliases: "hashlimit");
        On("hashlimit-above", (inv, a) => Rate(a, above: !inv), invert: true);
        On("hashlimit-burst", (_, a) => { _burstText = a.Next("burst"); _burstArgs = a; });
        On("hashlimit-mode", (_, a) =>
        {
            var text = a.Next("mode");
            _modes = text.Length == 0 ? 0 : (HashlimitModes)Values.FlagList(a, text, HashlimitMatch.ModeNames, "hashlimit");
        });
        On("hashlimit-name", (_, a) =>
        {
            var text = a.Next("name");
            if (text.Length == 0 || text.Length > 254) throw a.Error("hashlimit: name too long or empty");
            _name = text;
        });
        On("hashlimit-htable-size", (_, a) => _size = Values.UInt32(a, "hashlimit"));
        On("hashlimit-htable-max", (_, a) => _max = Values.UInt32(a, "hashlimit"));
        On("hashlimit-htable-gcinterval", (_, a) => _gc = Values.UInt32(a, "hashlimit"));
        On("hashlimit-htable-expire", (_, a) => _expire = Values.UInt32(a, "hashlimit"));
        ulong full = family == Family.IPv4 ? 32UL : 128UL;
        On("hashlimit-srcmask", (_, a) => _srcMask = (int)Values.UInt(a, "hashlimit", full));
        On("hashlimit-dstmask", (_, a) => _dstMask = (int)Values.UInt(a, "hashlimit", full));
        Flag("hashlimit-rate-match", _ => _rateMatch = true);
        On("hashlimit-rate-interval", (_, a) => _interval = Values.UInt32(a, "hashlimit", uint.MaxValue, 1));
    }

    private void Rate(OptionArguments a, bool above)
    {
        if (_above is not null)
            throw a.Error("hashlimit: option \"--hashlimit-upto\" cannot be used together with \"--hashlimit-above\".");
        _above = above;
        var text = a.Next("rate");
        if (TryBytes(text, true, out var bytes)) { _bytes = true; _average = bytes; return; }
        var period = LimitMatch.ParseRate(text);
        ulong? scaled = period is null ? null : ScaledPeriod(text, out _count, out _unitSeconds);
        if (scaled is null) throw a.Error($"hashlimit: bad rate \"{text}\"");
        if (scaled == 0) throw a.Error($"hashlimit: Rate too fast \"{text}\"");
        _average = scaled.Value;
    }

    private static ulong? ScaledPeriod(string text, out ulong count, out ulong unitSeconds)
    {
        var slash = text.IndexOf('/');
        ulong mult = 1;
        if (slash >= 0)
        {
            var unit = text[(slash + 1)..];
            mult = "second".StartsWith(unit, StringComparison.OrdinalIgnoreCase) ? 1UL
                : "minute".StartsWith(unit, StringComparison.OrdinalIgnoreCase) ? 60UL
                : "hour".StartsWith(unit, StringComparison.OrdinalIgnoreCase) ? 3600UL : 86400UL;
        }
        int digits = 0;
        while (digits < text.Length && char.IsAsciiDigit(text[digits])) digits++;
        var r = ulong.Parse(text.AsSpan(0, digits), System.Globalization.CultureInfo.InvariantCulture);
        count = r;
        unitSeconds = mult;
        return HashlimitMatch.Scale * mult / r;
    }

    /// <summary>"Nb/s", "Nkb/s", "Nmb/s" (rate) or "Nb", "Nkb", "Nmb" (burst).</summary>
    private static bool TryBytes(string text, bool rate, out ulong bytes)
    {
        bytes = 0;
        var body = text;
        if (rate)
        {
            if (!body.EndsWith("b/s", StringComparison.Ordinal)) return false;
            body = body[..^3];
        }
        else
        {
            if (!body.EndsWith('b')) return false;
            body = body[..^1];
        }
        ulong factor = 1;
        if (body.EndsWith('k')) { factor = 1UL << 10; body = body[..^1]; }
        else if (body.EndsWith('m')) { factor = 1UL << 20; body = body[..^1]; }
        if (body.Length == 0 || !body.All(char.IsAsciiDigit) || !ulong.TryParse(body, System.Globalization.CultureInfo.InvariantCulture, out var n)) return false;
        bytes = n * factor;
        return bytes != 0;
    }

    public override MatchExtension Finish(RuleContext context)
    {
        if (_above is null) throw Error("hashlimit: option \"--hashlimit-upto\" or \"--hashlimit-above\" must be specified");
        if (_name is null) throw Error("hashlimit: option \"--hashlimit-name\" must be specified");
        ulong burst = _bytes ? 0UL : 5UL;
        if (_burstText is not null && _burstArgs is not null)
        {
            if (_bytes)
            {
                if (!TryBytes(_burstText, false, out burst)) throw _burstArgs.Error($"hashlimit: bad value for option \"--hashlimit-burst\" ({_burstText})");
                // iptables turns the burst into whole seconds of the (rounded) rate and refuses less than one
                ulong perSecond = HashlimitMatch.RoundedBytesPerSecond(_average);
                if (burst < perSecond) throw _burstArgs.Error($"hashlimit: burst cannot be smaller than {Values.Dec(perSecond)}b");
            }
            else if (!Values.TryUInt(_burstText, 1_000_000, out burst) || burst == 0)
                throw _burstArgs.Error($"hashlimit: bad value for option \"--hashlimit-burst\", or out of range (1-1000000).");
        }
        int full = _family == Family.IPv4 ? 32 : 128;
        ulong average = _average;
        uint interval = _interval, expire = _expire;
        // iptables' default expiry: the rate's unit (1 s for N/sec), in byte mode 15 s, or 60 s with a burst
        if (!Given("hashlimit-htable-expire"))
            expire = _bytes ? (_burstText is not null ? 60_000U : 15_000U) : (uint)(_unitSeconds * 1000);
        if (_rateMatch && !_bytes)
        {
            average = _count;
            if (!Given("hashlimit-rate-interval")) interval = (uint)_unitSeconds;
        }
        return new HashlimitMatch(_above.Value, _bytes, average, burst, _modes, _name, _size, _max, _gc, expire,
            _srcMask ?? full, _dstMask ?? full, _rateMatch, interval, _family);
    }
}
