using Harness.Net;
using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>-m icmp6 (IPv6): --icmpv6-type.</summary>
public sealed record Icmp6Match(Negatable<IcmpTypeTest> TypeTest) : MatchExtension
{
    public override string Name => "icmp6";

    protected override void SaveOptions(SaveWriter w) =>
        w.Option("--icmpv6-type", TypeTest.Value.Print(anyHack: false), TypeTest.Negated);

    internal static readonly (string Name, byte Type, byte Min, byte Max)[] Names =
    [
        ("destination-unreachable", 1, 0, 255), ("no-route", 1, 0, 0), ("communication-prohibited", 1, 1, 1),
        ("beyond-scope", 1, 2, 2), ("address-unreachable", 1, 3, 3), ("port-unreachable", 1, 4, 4),
        ("failed-policy", 1, 5, 5), ("reject-route", 1, 6, 6), ("packet-too-big", 2, 0, 255),
        ("time-exceeded", 3, 0, 255), ("ttl-exceeded", 3, 0, 255), ("ttl-zero-during-transit", 3, 0, 0),
        ("ttl-zero-during-reassembly", 3, 1, 1), ("parameter-problem", 4, 0, 255), ("bad-header", 4, 0, 0),
        ("unknown-header-type", 4, 1, 1), ("unknown-option", 4, 2, 2), ("echo-request", 128, 0, 255),
        ("ping", 128, 0, 255), ("echo-reply", 129, 0, 255), ("pong", 129, 0, 255),
        ("mld-listener-query", 130, 0, 255), ("mld-listener-report", 131, 0, 255), ("mld-listener-done", 132, 0, 255),
        ("mld-listener-reduction", 132, 0, 255), ("router-solicitation", 133, 0, 255),
        ("router-advertisement", 134, 0, 255), ("neighbour-solicitation", 135, 0, 255),
        ("neighbor-solicitation", 135, 0, 255), ("neighbour-advertisement", 136, 0, 255),
        ("neighbor-advertisement", 136, 0, 255), ("redirect", 137, 0, 255),
    ];
}

public sealed class Icmp6MatchParser : MatchParser
{
    private Negatable<IcmpTypeTest>? _type;

    protected override string ExtensionName => "icmp6";

    public Icmp6MatchParser() =>
        On("icmpv6-type", (inv, a) => _type = new(IcmpTypeTest.Parse(a, a.Next("type"), Icmp6Match.Names, "ICMPv6"), inv), invert: true);

    public override MatchExtension Finish(RuleContext context)
    {
        ProtocolCheck.Require(context, "icmp6 match: only valid for protocol 58 (-p ipv6-icmp)", IpProtocol.Icmpv6);
        if (_type is null) throw Error("icmp6: option \"--icmpv6-type\" must be specified");
        return new Icmp6Match(_type.Value);
    }
}
