using System.Globalization;
using Harness.Net;
using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>-j SNAT --to-source … (nat POSTROUTING/INPUT).</summary>
public sealed record SnatTarget(NatRange Range, Family Family) : TargetExtension
{
    public override string Name => "SNAT";
    public override bool IsTerminal => true;

    protected override void SaveOptions(SaveWriter w)
    {
        w.Word("--to-source").Word(NatRanges.PrintToRange(Range, Family));
        if (Range.Random) w.Word("--random");
        if (Range.FullyRandom) w.Word("--random-fully");
        if (Range.Persistent) w.Word("--persistent");
    }
}

public sealed class SnatTargetParser : TargetParser
{
    private readonly Family _family;
    private NatRange? _range;
    private bool _random, _fully, _persistent;

    protected override string ExtensionName => "SNAT";

    public SnatTargetParser(Family family)
    {
        _family = family;
        On("to-source", (_, a) => _range = NatRanges.ParseToRange(a, a.Next("address"), family, "SNAT"));
        Flag("random", _ => _random = true);
        Flag("random-fully", _ => _fully = true);
        Flag("persistent", _ => _persistent = true);
    }

    public override TargetExtension Finish(RuleContext context)
    {
        if (_range is null) throw Error("SNAT: option \"--to-source\" must be specified");
        if (_range.BasePort is not null) throw Error("SNAT: port shifting (\"/base\") is only valid for DNAT");
        NatRanges.RequirePortProtocol(context, _range);
        return new SnatTarget(_range with { Random = _random, FullyRandom = _fully, Persistent = _persistent }, _family);
    }
}
