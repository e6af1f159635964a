using System.Globalization;
using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>-j CLASSIFY --set-class MAJOR:MINOR (POSTROUTING, FORWARD, OUTPUT): sets skb->priority.</summary>
public sealed record ClassifyTarget(ushort Major, ushort Minor) : TargetExtension
{
    public override string Name => "CLASSIFY";
    public override bool IsTerminal => false;

    public uint Priority => ((uint)Major << 16) | Minor;

    protected override void SaveOptions(SaveWriter w) =>
        w.Word("--set-class").Word(Major.ToString("x4", CultureInfo.InvariantCulture) + ":" + Minor.ToString("x4", CultureInfo.InvariantCulture));
}

public sealed class ClassifyTargetParser : TargetParser
{
    private (ushort, ushort)? _class;

    protected override string ExtensionName => "CLASSIFY";

    public ClassifyTargetParser() => On("set-class", (_, a) =>
    {
        var text = a.Next("MAJOR:MINOR");
        var parts = text.Split(':');
        if (parts.Length != 2 ||
            !ushort.TryParse(parts[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var major) ||
            !ushort.TryParse(parts[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var minor))
            throw a.Error($"CLASSIFY: Bad class value \"{text}\"");
        _class = (major, minor);
    });

    public override TargetExtension Finish(RuleContext context)
    {
        var (major, minor) = _class ?? throw Error("CLASSIFY: option \"--set-class\" must be specified");
        return new ClassifyTarget(major, minor);
    }
}
