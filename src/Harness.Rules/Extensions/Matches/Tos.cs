using System.Globalization;
using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>-m tos (revision 1): (TOS byte AND Mask) == Value. Symbolic names use mask 0x3f.</summary>
public sealed record TosMatch(Negatable<(byte Value, byte Mask)> Tos) : MatchExtension
{
    public override string Name => "tos";

    internal static readonly (string Name, byte Value)[] Names =
    [
        ("Minimize-Cost", 0x02), ("Maximize-Reliability", 0x04), ("Maximize-Throughput", 0x08), ("Minimize-Delay", 0x10),
        ("Normal-Service", 0x00),
    ];

    internal static string Hex2(byte b) => "0x" + b.ToString("x2", CultureInfo.InvariantCulture);

    protected override void SaveOptions(SaveWriter w) =>
        w.Option("--tos", Hex2(Tos.Value.Value) + "/" + Hex2(Tos.Value.Mask), Tos.Negated);

    /// <summary>"name", "value" (mask 0xff) or "value/mask", values 0-255.</summary>
    internal static (byte Value, byte Mask) Parse(OptionArguments a, string ext, byte nameMask)
    {
        var text = a.Next("value[/mask]");
        foreach (var (name, value) in Names)
            if (name.Equals(text, StringComparison.OrdinalIgnoreCase)) return (value, nameMask);
        var slash = text.IndexOf('/');
        var vText = slash < 0 ? text : text[..slash];
        if (!Values.TryUInt(vText, 255, out var v)) throw a.Error($"{ext}: Bad TOS value \"{text}\"");
        ulong m = 0xff;
        if (slash >= 0 && !Values.TryUInt(text[(slash + 1)..], 255, out m)) throw a.Error($"{ext}: Bad TOS mask \"{text}\"");
        return ((byte)v, (byte)m);
    }
}

public sealed class TosMatchParser : MatchParser
{
    private Negatable<(byte, byte)>? _tos;

    protected override string ExtensionName => "tos";

    public TosMatchParser() => On("tos", (inv, a) => _tos = new(TosMatch.Parse(a, "tos", 0x3f), inv), invert: true);

    public override MatchExtension Finish(RuleContext context) =>
        new TosMatch(_tos ?? throw Error("tos: option \"--tos\" must be specified"));
}
