using Harness.Net;
using Harness.Packets;

namespace Harness.Engine.Tests.Support;

/// <summary>Builds decoded packets field by field for the tests (time in seconds, 1-based numbers).</summary>
public static class P
{
    private static IpHeader Ip(string src, string dst, byte proto, int payload, byte ttl)
    {
        var s = Address.Parse(src);
        int header = s.Family == Family.IPv4 ? 20 : 40;
        return new IpHeader
        {
            Family = s.Family,
            Source = s,
            Destination = Address.Parse(dst),
            Protocol = proto,
            Ttl = ttl,
            TotalLength = header + payload,
            HeaderLength = header,
            Id = 1,
        };
    }

    public static Packet Tcp(string src, ushort sport, string dst, ushort dport, TcpFlags flags, string? iface = "eth0",
        long number = 1, double time = 1, uint seq = 1000, uint ack = 0, int payload = 0, byte ttl = 64) => new()
    {
        Number = number,
        Time = Timestamp.FromSeconds(time),
        Interface = iface,
        Ip = Ip(src, dst, IpProtocol.Tcp, 20 + payload, ttl),
        Transport = new TcpHeader(sport, dport, seq, ack, flags, 64240),
        PayloadLength = payload,
    };

    public static Packet Syn(string src, ushort sport, string dst, ushort dport, string? iface = "eth0", long number = 1, double time = 1) =>
        Tcp(src, sport, dst, dport, TcpFlags.Syn, iface, number, time);

    public static Packet Udp(string src, ushort sport, string dst, ushort dport, string? iface = "eth0", long number = 1,
        double time = 1, int payload = 10, byte ttl = 64) => new()
    {
        Number = number,
        Time = Timestamp.FromSeconds(time),
        Interface = iface,
        Ip = Ip(src, dst, IpProtocol.Udp, 8 + payload, ttl),
        Transport = new UdpHeader(sport, dport, (ushort)(8 + payload)),
        PayloadLength = payload,
    };

    public static Packet Ping(string src, string dst, string? iface = "eth0", long number = 1, double time = 1, ushort id = 7, ushort seq = 1)
    {
        bool v6 = src.Contains(':');
        return new Packet
        {
            Number = number,
            Time = Timestamp.FromSeconds(time),
            Interface = iface,
            Ip = Ip(src, dst, v6 ? IpProtocol.Icmpv6 : IpProtocol.Icmp, 8 + 56, 64),
            Transport = new IcmpHeader(v6 ? (byte)128 : (byte)8, 0, v6) { Identifier = id, SequenceNumber = seq },
            PayloadLength = 56,
        };
    }

    public static Packet WithNumber(this Packet p, long number, double time) => p with { Number = number, Time = Timestamp.FromSeconds(time) };
}
