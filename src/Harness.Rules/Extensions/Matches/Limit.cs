using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>
/// -m limit: a token bucket. <see cref="Average"/> is the time per packet in 1/10000 s (XT_LIMIT_SCALE), as
/// iptables computes it from "--limit N/unit"; <see cref="Burst"/> the bucket size.
/// </summary>
public sealed record LimitMatch(uint Average, uint Burst) : MatchExtension
{
    public const uint Scale = 10000;

    public override string Name => "limit";

    private static readonly (string Name, uint Mult)[] Rates =
        [("day", Scale * 24 * 60 * 60), ("hour", Scale * 60 * 60), ("min", Scale * 60), ("sec", Scale)];

    /// <summary>libxt_limit's print_rate: the coarsest unit that still shows the rate well.</summary>
    internal static string PrintRate(uint period)
    {
        int i;
        for (i = 1; i < Rates.Length; i++)
            if (period > Rates[i].Mult || Rates[i].Mult / period < Rates[i].Mult % period) break;
        return Values.Dec(Rates[i - 1].Mult / period) + "/" + Rates[i - 1].Name;
    }

    /// <summary>
    /// libxt_limit's parse_rate: "N[/second|minute|hour|day]" (unit prefixes allowed) to 1/10000 s per packet.
    /// Null when the text is not a rate; 0 when the rate is too fast to represent.
    /// </summary>
    internal static uint? ParseRate(string text)
    {
        ulong mult = 1;
        var slash = text.IndexOf('/');
        if (slash >= 0)
        {
            var unit = text[(slash + 1)..];
            if (unit.Length == 0) return null;
            if ("second".StartsWith(unit, StringComparison.OrdinalIgnoreCase)) mult = 1;
            else if ("minute".StartsWith(unit, StringComparison.OrdinalIgnoreCase)) mult = 60;
            else if ("hour".StartsWith(unit, StringComparison.OrdinalIgnoreCase)) mult = 3600;
            else if ("day".StartsWith(unit, StringComparison.OrdinalIgnoreCase)) mult = 86400;
            else return null;
        }
        int digits = 0;
        while (digits < text.Length && char.IsAsciiDigit(text[digits])) digits++;
        if (digits == 0 || digits > 9) return null;
        var r = ulong.Parse(text.AsSpan(0, digits), System.Globalization.CultureInfo.InvariantCulture);
        if (r == 0) return null;
        return (uint)(Scale * mult / r);
    }

    protected override void SaveOptions(SaveWriter w)
    {
        w.Word("--limit").Word(PrintRate(Average));
        if (Burst is not (5 or 0)) w.Word("--limit-burst").Word(Values.Dec(Burst));
    }
}

public sealed class LimitMatchParser : MatchParser
{
    private uint _average = LimitMatch.Scale * 3600 / 3;
    private uint _burst = 5;

    protected override string ExtensionName => "limit";

    public LimitMatchParser()
    {
        On("limit", (_, a) =>
        {
            var text = a.Next("rate");
            _average = LimitMatch.ParseRate(text) switch
            {
                null => throw a.Error($"bad rate \"{text}\"'"),
                0 => throw a.Error($"Rate too fast \"{text}\""),
                var v => v.Value,
            };
        });
        On("limit-burst", (_, a) => _burst = Values.UInt32(a, "limit", 10000));
    }

    public override MatchExtension Finish(RuleContext context) => new LimitMatch(_average, _burst);
}
