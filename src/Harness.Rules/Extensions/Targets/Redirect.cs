using System.Globalization;
using Harness.Net;
using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>-j REDIRECT [--to-ports p[-q]] [--random] (nat PREROUTING/OUTPUT).</summary>
public sealed record RedirectTarget(NatRange Range) : TargetExtension
{
    public override string Name => "REDIRECT";
    public override bool IsTerminal => true;

    protected override void SaveOptions(SaveWriter w)
    {
        if (Range.HasPorts) w.Word("--to-ports").Word(NatRanges.PrintPorts(Range));
        if (Range.Random) w.Word("--random");
    }
}

public sealed class RedirectTargetParser : TargetParser
{
    private NatRange _range = new(null, null, null, null);

    protected override string ExtensionName => "REDIRECT";

    public RedirectTargetParser()
    {
        On("to-ports", (_, a) =>
        {
            var (lo, hi) = NatRanges.ParsePorts(a, a.Next("port[-port]"));
            _range = _range with { MinPort = lo, MaxPort = hi };
        });
        Flag("random", _ => _range = _range with { Random = true });
    }

    public override TargetExtension Finish(RuleContext context)
    {
        NatRanges.RequirePortProtocol(context, _range);
        return new RedirectTarget(_range);
    }
}
