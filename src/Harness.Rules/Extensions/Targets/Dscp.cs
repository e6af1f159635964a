using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>-j DSCP (mangle): sets the 6-bit DSCP field.</summary>
public sealed record DscpTarget(byte Dscp) : TargetExtension
{
    public override string Name => "DSCP";
    public override bool IsTerminal => false;

    protected override void SaveOptions(SaveWriter w) => w.Word("--set-dscp").Word(TosMatch.Hex2(Dscp));
}

public sealed class DscpTargetParser : TargetParser
{
    private byte? _dscp;

    protected override string ExtensionName => "DSCP";

    public DscpTargetParser()
    {
        On("set-dscp", (_, a) => Set((byte)Values.UInt(a, "DSCP", 63), a));
        On("set-dscp-class", (_, a) => Set(DscpMatch.ParseClass(a, "DSCP"), a));
    }

    private void Set(byte v, OptionArguments a)
    {
        if (_dscp is not null) throw a.Error("DSCP: only one of --set-dscp and --set-dscp-class may be given");
        _dscp = v;
    }

    public override TargetExtension Finish(RuleContext context) =>
        new DscpTarget(_dscp ?? throw Error("DSCP target: Parameter --set-dscp is required"));
}
