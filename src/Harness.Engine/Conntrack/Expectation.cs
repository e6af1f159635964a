using Harness.Net;

namespace Harness.Engine.Conntrack;

/// <summary>
/// A connection a helper expects (nf_conntrack_expect): its first packet will be RELATED and its entry EXPECTED,
/// with <see cref="Master"/> as master. By default the source port is a wildcard (FTP, TFTP) and the source address
/// exact; <see cref="SourcePrefixLength"/> and <see cref="SourcePort"/> narrow or widen that (the expectation's source
/// mask: netbios-ns expects any address of the subnet, from port 137). A <see cref="Permanent"/> expectation stays
/// after a connection used it, until it expires. <see cref="Follow"/>: a NAT helper made it, and the connection gets
/// its master's NAT (nf_nat_follow_master).
/// </summary>
public sealed record Expectation(
    ConnEntry Master,
    ushort Zone,
    Family Family,
    byte Protocol,
    Address Source,
    Address Destination,
    ushort DestinationPort,
    Timestamp Expires,
    string Helper,
    int? SourcePrefixLength = null,
    ushort? SourcePort = null,
    bool Permanent = false,
    NatFollow? Follow = null)
{
    /// <summary>True when a new connection's original tuple is the expected one.</summary>
    public bool Matches(ConnTuple t) =>
        t.Family == Family && t.Protocol == Protocol && t.Destination == Destination && t.DestinationPort == DestinationPort
        && (SourcePort is not { } sp || t.SourcePort == sp)
        && (SourcePrefixLength is not { } len ? t.Source == Source : t.Source.Family == Source.Family && new Cidr(Source, len).Contains(t.Source));

    /// <summary>As "conntrack -L expect" prints it (without the timeout).</summary>
    public override string ToString() => string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"proto={Protocol} src={Source} dst={Destination} sport={SourcePort ?? 0} dport={DestinationPort} master={Master.Original} helper={Helper}");
}
