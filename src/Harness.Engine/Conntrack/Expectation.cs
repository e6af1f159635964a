using Harness.Net;

namespace Harness.Engine.Conntrack;

/// <summary>
/// A connection a helper expects (nf_conntrack_expect): its first packet will be RELATED and its entry EXPECTED,
/// with <see cref="Master"/> as master. The source port is a wildcard, as for FTP data connections.
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
    string Helper)
{
    /// <summary>True when a new connection's original tuple is the expected one.</summary>
    public bool Matches(ConnTuple t) =>
        t.Family == Family && t.Protocol == Protocol && t.Source == Source && t.Destination == Destination
        && t.DestinationPort == DestinationPort;

    /// <summary>As "conntrack -L expect" prints it (without the timeout).</summary>
    public override string ToString() => string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"proto={Protocol} src={Source} dst={Destination} sport=0 dport={DestinationPort} master={Master.Original} helper={Helper}");
}
