using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>The link-layer packet type (PACKET_*).</summary>
public enum PacketType
{
    Host = 0,
    Broadcast = 1,
    Multicast = 2,
    OtherHost = 3,
    Outgoing = 4,
    Loopback = 5,
}

/// <summary>-m pkttype --pkt-type unicast|broadcast|multicast|otherhost|…</summary>
public sealed record PkttypeMatch(Negatable<PacketType> Type) : MatchExtension
{
    public override string Name => "pkttype";

    internal static readonly (string Name, PacketType Type)[] Names =
    [
        ("unicast", PacketType.Host), ("broadcast", PacketType.Broadcast), ("multicast", PacketType.Multicast),
        ("host", PacketType.Host), ("otherhost", PacketType.OtherHost), ("outgoing", PacketType.Outgoing),
        ("loopback", PacketType.Loopback),
    ];

    protected override void SaveOptions(SaveWriter w) =>
        w.Option("--pkt-type", Names.First(n => n.Type == Type.Value).Name, Type.Negated);
}

public sealed class PkttypeMatchParser : MatchParser
{
    private Negatable<PacketType>? _type;

    protected override string ExtensionName => "pkttype";

    public PkttypeMatchParser() => On("pkt-type", (inv, a) =>
    {
        var text = a.Next("packet type");
        var hit = PkttypeMatch.Names.FirstOrDefault(n => n.Name.Equals(text, StringComparison.OrdinalIgnoreCase));
        if (hit.Name is null) throw a.Error($"Bad packet type '{text}'");
        _type = new(hit.Type, inv);
    }, invert: true);

    public override MatchExtension Finish(RuleContext context) =>
        new PkttypeMatch(_type ?? throw Error("pkttype: option \"--pkt-type\" must be specified"));
}
