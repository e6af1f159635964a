using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>-m length --length MIN[:MAX]: the IP packet's total length (IPv6: payload + 40).</summary>
public sealed record LengthMatch(Negatable<UIntRange> Length) : MatchExtension
{
    public override string Name => "length";

    protected override void SaveOptions(SaveWriter w) => w.Option("--length", Length.Value.ToString(), Length.Negated);
}

public sealed class LengthMatchParser : MatchParser
{
    private Negatable<UIntRange>? _length;

    protected override string ExtensionName => "length";

    public LengthMatchParser() => On("length", (inv, a) => _length = new(ParseLoose(a), inv), invert: true);

    /// <summary>iptables 1.8.9 accepts a reversed range (it then never matches).</summary>
    private static UIntRange ParseLoose(OptionArguments a)
    {
        var text = a.Next("length[:length]");
        var sep = text.IndexOf(':');
        ulong lo, hi;
        bool ok;
        if (sep < 0) { ok = Values.TryUInt(text, 65535, out lo); hi = lo; }
        else
        {
            lo = 0; hi = 65535;
            ok = (sep == 0 || Values.TryUInt(text[..sep], 65535, out lo)) &&
                 (sep == text.Length - 1 || Values.TryUInt(text[(sep + 1)..], 65535, out hi));
        }
        if (!ok) throw a.Error($"length: bad value for option \"--length\", or out of range (0-65535).");
        return new UIntRange((uint)lo, (uint)hi);
    }

    public override MatchExtension Finish(RuleContext context) =>
        new LengthMatch(_length ?? throw Error("length: option \"--length\" must be specified"));
}
