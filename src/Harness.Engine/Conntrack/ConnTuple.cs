using System.Globalization;
using Harness.Net;

namespace Harness.Engine.Conntrack;

/// <summary>
/// One direction of a connection, as the kernel's nf_conntrack_tuple: addresses, protocol and the protocol's two
/// identifiers. TCP/UDP/SCTP/UDP-Lite: source and destination ports. ICMP/ICMPv6: <see cref="SourcePort"/> is the echo
/// identifier and <see cref="DestinationPort"/> is <c>type &lt;&lt; 8 | code</c>. GRE: the keys (0 without PPTP).
/// Other protocols: both 0.
/// </summary>
public readonly record struct ConnTuple(
    Family Family,
    byte Protocol,
    Address Source,
    Address Destination,
    ushort SourcePort,
    ushort DestinationPort)
{
    /// <summary>True for the protocols whose tuple carries ports (and that NAT can remap ports for).</summary>
    public bool HasPorts => Protocol is IpProtocol.Tcp or IpProtocol.Udp or IpProtocol.UdpLite or IpProtocol.Sctp;

    public bool IsIcmp => Protocol is IpProtocol.Icmp or IpProtocol.Icmpv6;

    /// <summary>ICMP type (ICMP tuples only).</summary>
    public byte IcmpType => (byte)(DestinationPort >> 8);

    /// <summary>ICMP code (ICMP tuples only).</summary>
    public byte IcmpCode => (byte)DestinationPort;

    /// <summary>ICMP echo identifier (ICMP tuples only).</summary>
    public ushort IcmpId => SourcePort;

    public ConnTuple WithSource(Address address, ushort port) => this with { Source = address, SourcePort = port };

    public ConnTuple WithDestination(Address address, ushort port) => this with { Destination = address, DestinationPort = port };

    /// <summary>The shared outcome model's view of this tuple.</summary>
    public CtTuple ToCtTuple() => new(Family, Protocol, Source, Destination, SourcePort, DestinationPort);

    /// <summary>The tuple as <c>conntrack -L</c> prints one direction ("src=… dst=… sport=… dport=…").</summary>
    public override string ToString()
    {
        var addresses = $"src={Source} dst={Destination}";
        if (IsIcmp)
            return string.Create(CultureInfo.InvariantCulture, $"{addresses} type={IcmpType} code={IcmpCode} id={IcmpId}");
        if (HasPorts)
            return string.Create(CultureInfo.InvariantCulture, $"{addresses} sport={SourcePort} dport={DestinationPort}");
        if (Protocol == IpProtocol.Gre)
            return string.Create(CultureInfo.InvariantCulture, $"{addresses} srckey=0x{SourcePort:x} dstkey=0x{DestinationPort:x}");
        return addresses;
    }
}
