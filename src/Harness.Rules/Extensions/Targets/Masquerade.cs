using System.Globalization;
using Harness.Net;
using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>-j MASQUERADE [--to-ports p[-q]] [--random] [--random-fully] (nat POSTROUTING).</summary>
public sealed record MasqueradeTarget(NatRange Range) : TargetExtension
{
    public override string Name => "MASQUERADE";
    public override bool IsTerminal => true;

    protected override void SaveOptions(SaveWriter w)
    {
        if (Range.HasPorts) w.Word("--to-ports").Word(NatRanges.PrintPorts(Range));
        if (Range.Random) w.Word("--random");
        if (Range.FullyRandom) w.Word("--random-fully");
    }
}

public sealed class MasqueradeTargetParser : TargetParser
{
    private NatRange _range = new(null, null, null, null);

    protected override string ExtensionName => "MASQUERADE";

    public MasqueradeTargetParser()
    {
        On("to-ports", (_, a) =>
        {
            var (lo, hi) = NatRanges.ParsePorts(a, a.Next("port[-port]"));
            _range = _range with { MinPort = lo, MaxPort = hi };
        });
        Flag("random", _ => _range = _range with { Random = true });
        Flag("random-fully", _ => _range = _range with { FullyRandom = true });
    }

    public override TargetExtension Finish(RuleContext context)
    {
        NatRanges.RequirePortProtocol(context, _range);
        return new MasqueradeTarget(_range);
    }
}
