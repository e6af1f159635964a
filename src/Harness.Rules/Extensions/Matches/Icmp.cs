using Harness.Net;
using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>An ICMP type with a range of codes; type 255 with every code is iptables' "any".</summary>
public readonly record struct IcmpTypeTest(byte Type, byte MinCode, byte MaxCode)
{
    public bool IsAny => Type == 255 && MinCode == 0 && MaxCode == 255;

    public bool Matches(byte type, byte code) => IsAny || (type == Type && code >= MinCode && code <= MaxCode);

    internal string Print(bool anyHack) =>
        anyHack && IsAny ? "any"
        : MinCode == 0 && MaxCode == 255 ? Values.Dec(Type)
        : Values.Dec(Type) + "/" + Values.Dec(MinCode);

    /// <summary>A name (unique prefix, case-insensitive) from the table, or "type[/code]".</summary>
    internal static IcmpTypeTest Parse(OptionArguments args, string text, (string Name, byte Type, byte Min, byte Max)[] names, string ext)
    {
        if (text.Length > 0 && !char.IsAsciiDigit(text[0]))
        {
            var hits = names.Where(n => n.Name.StartsWith(text, StringComparison.OrdinalIgnoreCase)).ToList();
            var exact = hits.FirstOrDefault(n => n.Name.Equals(text, StringComparison.OrdinalIgnoreCase));
            if (exact.Name is not null) return new IcmpTypeTest(exact.Type, exact.Min, exact.Max);
            if (hits.Count > 1) throw args.Error($"Ambiguous {ext} type `{text}': `{hits[0].Name}' or `{hits[1].Name}'?");
            if (hits.Count == 1) return new IcmpTypeTest(hits[0].Type, hits[0].Min, hits[0].Max);
            throw args.Error($"Invalid {ext} type `{text}'");
        }
        var slash = text.IndexOf('/');
        var typeText = slash < 0 ? text : text[..slash];
        if (!Values.TryUInt(typeText, 255, out var type)) throw args.Error($"Invalid {ext} type `{typeText}'");
        if (slash < 0) return new IcmpTypeTest((byte)type, 0, 255);
        var codeText = text[(slash + 1)..];
        var colon = codeText.IndexOf(':');
        if (colon >= 0)
        {
            if (!Values.TryUInt(codeText[..colon], 255, out var lo) || !Values.TryUInt(codeText[(colon + 1)..], 255, out var hi) || lo > hi)
                throw args.Error($"Invalid {ext} code `{codeText}'");
            return new IcmpTypeTest((byte)type, (byte)lo, (byte)hi);
        }
        if (!Values.TryUInt(codeText, 255, out var code)) throw args.Error($"Invalid {ext} code `{codeText}'");
        return new IcmpTypeTest((byte)type, (byte)code, (byte)code);
    }
}

/// <summary>-m icmp (IPv4): --icmp-type.</summary>
public sealed record IcmpMatch(Negatable<IcmpTypeTest> TypeTest) : MatchExtension
{
    public override string Name => "icmp";

    protected override void SaveOptions(SaveWriter w) =>
        w.Option("--icmp-type", TypeTest.Value.Print(anyHack: true), TypeTest.Negated);

    internal static readonly (string Name, byte Type, byte Min, byte Max)[] Names =
    [
        ("any", 255, 0, 255), ("echo-reply", 0, 0, 255), ("pong", 0, 0, 255), ("destination-unreachable", 3, 0, 255),
        ("network-unreachable", 3, 0, 0), ("host-unreachable", 3, 1, 1), ("protocol-unreachable", 3, 2, 2),
        ("port-unreachable", 3, 3, 3), ("fragmentation-needed", 3, 4, 4), ("source-route-failed", 3, 5, 5),
        ("network-unknown", 3, 6, 6), ("host-unknown", 3, 7, 7), ("network-prohibited", 3, 9, 9),
        ("host-prohibited", 3, 10, 10), ("TOS-network-unreachable", 3, 11, 11), ("TOS-host-unreachable", 3, 12, 12),
        ("communication-prohibited", 3, 13, 13), ("host-precedence-violation", 3, 14, 14),
        ("precedence-cutoff", 3, 15, 15), ("source-quench", 4, 0, 255), ("redirect", 5, 0, 255),
        ("network-redirect", 5, 0, 0), ("host-redirect", 5, 1, 1), ("TOS-network-redirect", 5, 2, 2),
        ("TOS-host-redirect", 5, 3, 3), ("echo-request", 8, 0, 255), ("ping", 8, 0, 255),
        ("router-advertisement", 9, 0, 255), ("router-solicitation", 10, 0, 255), ("time-exceeded", 11, 0, 255),
        ("ttl-exceeded", 11, 0, 255), ("ttl-zero-during-transit", 11, 0, 0), ("ttl-zero-during-reassembly", 11, 1, 1),
        ("parameter-problem", 12, 0, 255), ("ip-header-bad", 12, 0, 0), ("required-option-missing", 12, 1, 1),
        ("timestamp-request", 13, 0, 255), ("timestamp-reply", 14, 0, 255), ("address-mask-request", 17, 0, 255),
        ("address-mask-reply", 18, 0, 255),
    ];
}

public sealed class IcmpMatchParser : MatchParser
{
    private Negatable<IcmpTypeTest>? _type;

    protected override string ExtensionName => "icmp";

    public IcmpMatchParser() =>
        On("icmp-type", (inv, a) => _type = new(IcmpTypeTest.Parse(a, a.Next("type"), IcmpMatch.Names, "ICMP"), inv), invert: true);

    public override MatchExtension Finish(RuleContext context)
    {
        ProtocolCheck.Require(context, "icmp match: only valid for protocol 1 (-p icmp)", IpProtocol.Icmp);
        if (_type is null) throw Error("icmp: option \"--icmp-type\" must be specified");
        return new IcmpMatch(_type.Value);
    }
}
