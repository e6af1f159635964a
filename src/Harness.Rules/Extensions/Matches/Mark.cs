using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>-m mark --mark VALUE[/MASK]: (skb mark AND Mask) == Value.</summary>
public sealed record MarkMatch(Negatable<MarkMask> Mark) : MatchExtension
{
    public override string Name => "mark";

    protected override void SaveOptions(SaveWriter w) => w.Option("--mark", Mark.Value.ToString(), Mark.Negated);
}

/// <summary>A 32-bit value with a mask, printed "0xV" or "0xV/0xM" (mask omitted when all ones).</summary>
public readonly record struct MarkMask(uint Value, uint Mask)
{
    public bool Matches(uint mark) => (mark & Mask) == Value;

    public override string ToString() =>
        Mask == uint.MaxValue ? Values.Hex(Value) : Values.Hex(Value) + "/" + Values.Hex(Mask);

    internal static MarkMask Parse(OptionArguments a, string ext)
    {
        var (v, m) = Values.MarkMask(a, ext);
        return new MarkMask(v, m);
    }
}

public sealed class MarkMatchParser : MatchParser
{
    private Negatable<MarkMask>? _mark;

    protected override string ExtensionName => "mark";

    public MarkMatchParser() => On("mark", (inv, a) => _mark = new(MarkMask.Parse(a, "mark"), inv), invert: true);

    public override MatchExtension Finish(RuleContext context) =>
        new MarkMatch(_mark ?? throw Error("mark: option \"--mark\" must be specified"));
}
