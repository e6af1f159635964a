using System.Globalization;
using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

public enum StatisticMode
{
    Random,
    Nth,
}

/// <summary>
/// -m statistic. Random: matches when a draw below <see cref="Probability"/>/2^31 (the kernel's u32 scale) succeeds.
/// Nth: as xt_statistic, the counter starts at (Every-1)-Packet and the packet that wraps it from Every-1 to 0 matches. Negated inverts the result.
/// </summary>
public sealed record StatisticMatch(StatisticMode Mode, uint Probability, uint Every, uint Packet, bool Negated) : MatchExtension
{
    public override string Name => "statistic";

    public double ProbabilityValue => Probability / (double)0x80000000;

    protected override void SaveOptions(SaveWriter w)
    {
        if (Mode == StatisticMode.Random)
        {
            w.Word("--mode").Word("random");
            w.Option("--probability", ProbabilityValue.ToString("F11", CultureInfo.InvariantCulture), Negated);
        }
        else
        {
            w.Word("--mode").Word("nth");
            w.Option("--every", Values.Dec(Every), Negated);
            w.Word("--packet").Word(Values.Dec(Packet));
        }
    }
}

public sealed class StatisticMatchParser : MatchParser
{
    private StatisticMode? _mode;
    private uint _probability;
    private uint? _every;
    private uint? _packet;
    private bool _negated;

    protected override string ExtensionName => "statistic";

    public StatisticMatchParser()
    {
        On("mode", (_, a) =>
        {
            var text = a.Next("random|nth");
            _mode = text switch
            {
                "random" => StatisticMode.Random,
                "nth" => StatisticMode.Nth,
                _ => throw a.Error($"Bad mode \"{text}\""),
            };
        });
        On("probability", (inv, a) =>
        {
            var text = a.Next("probability");
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var p) || p < 0 || p > 1)
                throw a.Error($"invalid --probability `{text}'");
            _probability = (uint)Math.Round(0x80000000 * p, MidpointRounding.AwayFromZero);
            _negated |= inv;
        }, invert: true);
        On("every", (inv, a) => { _every = Values.UInt32(a, "statistic", uint.MaxValue, 1); _negated |= inv; }, invert: true);
        On("packet", (_, a) => _packet = Values.UInt32(a, "statistic"));
    }

    public override MatchExtension Finish(RuleContext context)
    {
        if (_mode is null) throw Error("statistic: option \"--mode\" must be specified");
        if (_mode == StatisticMode.Random)
        {
            if (!Given("probability")) throw Error("--probability must be specified when using random mode");
            if (_every is not null || _packet is not null) throw Error("--every and --packet are only valid in nth mode");
            return new StatisticMatch(StatisticMode.Random, _probability, 0, 0, _negated);
        }
        if (Given("probability")) throw Error("--probability can only be specified in random mode");
        if (_every is null) throw Error("--every must be specified when using nth mode");
        if (_packet is null) throw Error("statistic: option \"--every\" also requires \"--packet\".");
        if (_packet >= _every) throw Error("the --packet p must be 0 <= p <= n-1");
        return new StatisticMatch(StatisticMode.Nth, 0, _every.Value, _packet.Value, _negated);
    }
}
