using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>-j TOS (revision 1, mangle): new TOS = (old AND NOT Mask) XOR Value; always saved as --set-tos V/M.</summary>
public sealed record TosTarget(byte Value, byte Mask) : TargetExtension
{
    public override string Name => "TOS";
    public override bool IsTerminal => false;

    protected override void SaveOptions(SaveWriter w) =>
        w.Word("--set-tos").Word(TosMatch.Hex2(Value) + "/" + TosMatch.Hex2(Mask));
}

public sealed class TosTargetParser : TargetParser
{
    private (byte, byte)? _tos;

    protected override string ExtensionName => "TOS";

    public TosTargetParser()
    {
        On("set-tos", (_, a) => Set(TosMatch.Parse(a, "TOS", 0x3f), a));
        On("and-tos", (_, a) => { var v = (byte)Values.UInt(a, "TOS", 255); Set((0, (byte)~v), a); });
        On("or-tos", (_, a) => { var v = (byte)Values.UInt(a, "TOS", 255); Set((v, v), a); });
        On("xor-tos", (_, a) => { var v = (byte)Values.UInt(a, "TOS", 255); Set((v, 0), a); });
    }

    private void Set((byte, byte) tos, OptionArguments a)
    {
        if (_tos is not null) throw a.Error("TOS: only one of --set-tos, --and-tos, --or-tos, --xor-tos allowed");
        _tos = tos;
    }

    public override TargetExtension Finish(RuleContext context)
    {
        var (v, m) = _tos ?? throw Error("TOS: You must specify an action");
        return new TosTarget(v, m);
    }
}
