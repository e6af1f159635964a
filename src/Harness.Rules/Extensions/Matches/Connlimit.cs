using Harness.Net;
using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>
/// -m connlimit (revision 1): counts the connections of the packet's source (or destination) network of
/// <see cref="PrefixLength"/> bits. Above: match when the count is over <see cref="Limit"/>; otherwise (upto) when at most.
/// </summary>
public sealed record ConnlimitMatch(uint Limit, bool Above, int PrefixLength, bool UseDestination) : MatchExtension
{
    public override string Name => "connlimit";

    protected override void SaveOptions(SaveWriter w)
    {
        w.Word(Above ? "--connlimit-above" : "--connlimit-upto").Word(Values.Dec(Limit));
        w.Word("--connlimit-mask").Word(Values.Dec((ulong)PrefixLength));
        w.Word(UseDestination ? "--connlimit-daddr" : "--connlimit-saddr");
    }
}

public sealed class ConnlimitMatchParser : MatchParser
{
    private readonly Family _family;
    private uint? _limit;
    private bool _above;
    private int? _prefix;
    private bool _dest;

    protected override string ExtensionName => "connlimit";

    public ConnlimitMatchParser(Family family)
    {
        _family = family;
        On("connlimit-upto", (inv, a) => Limit(a, above: inv), invert: true);
        On("connlimit-above", (inv, a) => Limit(a, above: !inv), invert: true);
        On("connlimit-mask", (_, a) => _prefix = (int)Values.UInt(a, "connlimit", family == Family.IPv4 ? 32UL : 128UL));
        Flag("connlimit-saddr", _ => _dest = false);
        Flag("connlimit-daddr", _ => _dest = true);
    }

    private void Limit(OptionArguments a, bool above)
    {
        if (_limit is not null)
            throw a.Error("connlimit: option \"--connlimit-upto\" cannot be used together with \"--connlimit-above\".");
        _limit = Values.UInt32(a, "connlimit");
        _above = above;
    }

    public override MatchExtension Finish(RuleContext context)
    {
        if (_limit is null) throw Error("connlimit: You must specify \"--connlimit-above\" or \"--connlimit-upto\"");
        if (Given("connlimit-saddr") && Given("connlimit-daddr"))
            throw Error("connlimit: option \"--connlimit-daddr\" cannot be used together with \"--connlimit-saddr\".");
        return new ConnlimitMatch(_limit.Value, _above, _prefix ?? (_family == Family.IPv4 ? 32 : 128), _dest);
    }
}
