using Harness.Engine;
using Harness.Packets;

namespace Harness.Oracle.Kernel;

/// <summary>One conntrack entry as the kernel listed it: tuples, TCP state, status bits.</summary>
internal sealed record ConntrackEntry(uint Id, CtTuple Original, CtTuple Reply, string? TcpState, uint Status)
{
    public static ConntrackEntry? From(ConntrackEvent? e) =>
        e is { Original: { } o, Reply: { } r } ? new ConntrackEntry(e.Id, o, r, e.TcpState, e.Status) : null;

    /// <summary>The conntrack tuple of a packet as the kernel builds it (ICMP echo: id, and type/code), or null for ICMP errors.</summary>
    public static CtTuple? TupleOf(Packet p)
    {
        if (p.Ip is not { } ip) return null;
        return p.Transport switch
        {
            TcpHeader t => new CtTuple(ip.Family, ip.Protocol, ip.Source, ip.Destination, t.SourcePort, t.DestinationPort),
            UdpHeader u => new CtTuple(ip.Family, ip.Protocol, ip.Source, ip.Destination, u.SourcePort, u.DestinationPort),
            SctpHeader s => new CtTuple(ip.Family, ip.Protocol, ip.Source, ip.Destination, s.SourcePort, s.DestinationPort),
            IcmpHeader { IsError: false } i => new CtTuple(ip.Family, ip.Protocol, ip.Source, ip.Destination, i.Identifier, (ushort)(i.Type << 8 | i.Code)),
            IcmpHeader => null,
            _ => new CtTuple(ip.Family, ip.Protocol, ip.Source, ip.Destination, 0, 0),
        };
    }
}
