using Harness.Net;
using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>-m udp (xt_udp): source and destination port ranges. Null: not tested.</summary>
public sealed record UdpMatch(Negatable<PortRange>? SourcePorts, Negatable<PortRange>? DestinationPorts) : MatchExtension
{
    public override string Name => "udp";

    protected override void SaveOptions(SaveWriter w)
    {
        Printing.Negatable(w, "--sport", SourcePorts, r => Printing.Range(r));
        Printing.Negatable(w, "--dport", DestinationPorts, r => Printing.Range(r));
    }
}

public sealed class UdpMatchParser : MatchParser
{
    private Negatable<PortRange>? _sport, _dport;

    protected override string ExtensionName => "udp";

    public UdpMatchParser()
    {
        On("source-port", (inv, a) => _sport = TcpMatchParser.Ports(a, inv, null), invert: true, aliases: "sport");
        On("destination-port", (inv, a) => _dport = TcpMatchParser.Ports(a, inv, null), invert: true, aliases: "dport");
    }

    public override MatchExtension Finish(RuleContext context)
    {
        ProtocolCheck.Require(context, "UDP match requires '-p udp'", IpProtocol.Udp);
        return new UdpMatch(_sport, _dport);
    }
}
