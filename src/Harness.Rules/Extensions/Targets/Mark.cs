using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>-j MARK (revision 2): new mark = (old AND NOT Mask) XOR Value; always saved as --set-xmark.</summary>
public sealed record MarkTarget(uint Value, uint Mask) : TargetExtension
{
    public override string Name => "MARK";
    public override bool IsTerminal => false;

    public uint Apply(uint mark) => (mark & ~Mask) ^ Value;

    protected override void SaveOptions(SaveWriter w) =>
        w.Word("--set-xmark").Word(Values.Hex(Value) + "/" + Values.Hex(Mask));
}

public sealed class MarkTargetParser : TargetParser
{
    private (uint Value, uint Mask)? _result;

    protected override string ExtensionName => "MARK";

    public MarkTargetParser()
    {
        On("set-xmark", (_, a) => Set(Values.MarkMask(a, "MARK"), a));
        On("set-mark", (_, a) => { var (v, m) = Values.MarkMask(a, "MARK"); Set((v, v | m), a); });
        On("and-mark", (_, a) => Set((0, ~Values.UInt32(a, "MARK")), a));
        On("or-mark", (_, a) => { var v = Values.UInt32(a, "MARK"); Set((v, v), a); });
        On("xor-mark", (_, a) => Set((Values.UInt32(a, "MARK"), 0), a));
    }

    private void Set((uint, uint) result, OptionArguments a)
    {
        if (_result is not null) throw a.Error("MARK: Only one of --set-xmark, --set-mark, --and-mark, --or-mark, --xor-mark allowed");
        _result = result;
    }

    public override TargetExtension Finish(RuleContext context)
    {
        var (v, m) = _result ?? throw Error("MARK target: Parameter --set/and/or/xor-mark is required");
        return new MarkTarget(v, m);
    }
}
