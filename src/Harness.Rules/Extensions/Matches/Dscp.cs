using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>-m dscp: the 6-bit DSCP field equals <see cref="Dscp"/> (--dscp or --dscp-class).</summary>
public sealed record DscpMatch(Negatable<byte> Dscp) : MatchExtension
{
    public override string Name => "dscp";

    internal static readonly (string Name, byte Value)[] Classes =
    [
        ("CS0", 0), ("CS1", 8), ("CS2", 16), ("CS3", 24), ("CS4", 32), ("CS5", 40), ("CS6", 48), ("CS7", 56), ("BE", 0),
        ("AF11", 10), ("AF12", 12), ("AF13", 14), ("AF21", 18), ("AF22", 20), ("AF23", 22), ("AF31", 26), ("AF32", 28),
        ("AF33", 30), ("AF41", 34), ("AF42", 36), ("AF43", 38), ("EF", 46),
    ];

    protected override void SaveOptions(SaveWriter w) => w.Option("--dscp", TosMatch.Hex2(Dscp.Value), Dscp.Negated);

    internal static byte ParseClass(OptionArguments a, string ext)
    {
        var text = a.Next("class");
        foreach (var (name, value) in Classes)
            if (name.Equals(text, StringComparison.OrdinalIgnoreCase)) return value;
        throw a.Error($"{ext}: Invalid DSCP class value \"{text}\"");
    }
}

public sealed class DscpMatchParser : MatchParser
{
    private Negatable<byte>? _dscp;

    protected override string ExtensionName => "dscp";

    public DscpMatchParser()
    {
        On("dscp", (inv, a) => Set(new((byte)Values.UInt(a, "dscp", 63), inv), a), invert: true);
        On("dscp-class", (inv, a) => Set(new(DscpMatch.ParseClass(a, "dscp"), inv), a), invert: true);
    }

    private void Set(Negatable<byte> value, OptionArguments a)
    {
        if (_dscp is not null) throw a.Error("dscp: only one of --dscp and --dscp-class may be given");
        _dscp = value;
    }

    public override MatchExtension Finish(RuleContext context) =>
        new DscpMatch(_dscp ?? throw Error("dscp: option \"--dscp\" or \"--dscp-class\" must be specified"));
}
