using Harness.Net;
using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>Route types -m addrtype tests (1 &lt;&lt; RTN_*).</summary>
[Flags]
public enum AddressTypes
{
    None = 0,
    Unspec = 1 << 0,
    Unicast = 1 << 1,
    Local = 1 << 2,
    Broadcast = 1 << 3,
    Anycast = 1 << 4,
    Multicast = 1 << 5,
    Blackhole = 1 << 6,
    Unreachable = 1 << 7,
    Prohibit = 1 << 8,
    Throw = 1 << 9,
    Nat = 1 << 10,
    XResolve = 1 << 11,
}

/// <summary>-m addrtype (revision 1). Types null: not tested. LimitIn/LimitOut: look up in the in/out interface only.</summary>
public sealed record AddrtypeMatch(
    Negatable<AddressTypes>? SourceTypes,
    Negatable<AddressTypes>? DestinationTypes,
    bool LimitToInInterface,
    bool LimitToOutInterface) : MatchExtension
{
    public override string Name => "addrtype";

    internal static readonly (string Name, uint Bit)[] Names =
    [
        ("UNSPEC", 1 << 0), ("UNICAST", 1 << 1), ("LOCAL", 1 << 2), ("BROADCAST", 1 << 3), ("ANYCAST", 1 << 4),
        ("MULTICAST", 1 << 5), ("BLACKHOLE", 1 << 6), ("UNREACHABLE", 1 << 7), ("PROHIBIT", 1 << 8), ("THROW", 1 << 9),
        ("NAT", 1 << 10), ("XRESOLVE", 1 << 11),
    ];

    protected override void SaveOptions(SaveWriter w)
    {
        Printing.Negatable(w, "--src-type", SourceTypes, t => Values.FlagNames((uint)t, Names));
        Printing.Negatable(w, "--dst-type", DestinationTypes, t => Values.FlagNames((uint)t, Names));
        if (LimitToInInterface) w.Word("--limit-iface-in");
        if (LimitToOutInterface) w.Word("--limit-iface-out");
    }
}

public sealed class AddrtypeMatchParser : MatchParser
{
    private Negatable<AddressTypes>? _src, _dst;
    private bool _in, _out;

    protected override string ExtensionName => "addrtype";

    public AddrtypeMatchParser()
    {
        On("src-type", (inv, a) => _src = new((AddressTypes)Values.FlagList(a, a.Next("type"), AddrtypeMatch.Names, "addrtype"), inv), invert: true);
        On("dst-type", (inv, a) => _dst = new((AddressTypes)Values.FlagList(a, a.Next("type"), AddrtypeMatch.Names, "addrtype"), inv), invert: true);
        Flag("limit-iface-in", _ => _in = true);
        Flag("limit-iface-out", _ => _out = true);
    }

    public override MatchExtension Finish(RuleContext context)
    {
        if (_src is null && _dst is null) throw Error("addrtype: you must specify --src-type or --dst-type");
        if (_in && _out) throw Error("addrtype: you can't specify both --limit-iface-in and --limit-iface-out");
        if (_in && context.Chain is TableNames.Output or TableNames.Postrouting)
            throw Error("addrtype: input interface limitation not valid in POSTROUTING and OUTPUT");
        if (_out && context.Chain is TableNames.Prerouting or TableNames.Input)
            throw Error("addrtype: output interface limitation not valid in PREROUTING and INPUT");
        if (context.Family == Family.IPv6)
        {
            var all = (_src?.Value ?? 0) | (_dst?.Value ?? 0);
            if ((all & (AddressTypes.Blackhole | AddressTypes.Prohibit | AddressTypes.Broadcast)) != 0)
                throw Error("addrtype: ipv6 does not support BLACKHOLE, PROHIBIT or BROADCAST matching");
        }
        return new AddrtypeMatch(_src, _dst, _in, _out);
    }
}
