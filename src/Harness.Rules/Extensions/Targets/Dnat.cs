using System.Globalization;
using Harness.Net;
using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>-j DNAT --to-destination … (nat PREROUTING/OUTPUT).</summary>
public sealed record DnatTarget(NatRange Range, Family Family) : TargetExtension
{
    public override string Name => "DNAT";
    public override bool IsTerminal => true;

    protected override void SaveOptions(SaveWriter w)
    {
        w.Word("--to-destination").Word(NatRanges.PrintToRange(Range, Family));
        if (Range.Random) w.Word("--random");
        if (Range.Persistent) w.Word("--persistent");
    }
}

public sealed class DnatTargetParser : TargetParser
{
    private readonly Family _family;
    private NatRange? _range;
    private bool _random, _persistent;

    protected override string ExtensionName => "DNAT";

    public DnatTargetParser(Family family)
    {
        _family = family;
        On("to-destination", (_, a) => _range = NatRanges.ParseToRange(a, a.Next("address"), family, "DNAT"));
        Flag("random", _ => _random = true);
        Flag("persistent", _ => _persistent = true);
    }

    public override TargetExtension Finish(RuleContext context)
    {
        if (_range is null) throw Error("DNAT: option \"--to-destination\" must be specified");
        NatRanges.RequirePortProtocol(context, _range);
        return new DnatTarget(_range with { Random = _random, Persistent = _persistent }, _family);
    }
}
