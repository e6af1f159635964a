using Harness.Net;
using Harness.Packets;

namespace Harness.Engine.Tests.Support;

/// <summary>Packets with real bytes (built and decoded by Harness.Packets), to check rewrites at the byte level.</summary>
public static class Wire
{
    public static Packet Tcp(string src, ushort sport, string dst, ushort dport, TcpFlags flags, string iface, long number = 1, double time = 1,
        byte ttl = 64, byte tos = 0, byte[]? options = null, int payload = 0)
    {
        var s = Address.Parse(src);
        var ip = new IpHeader
        {
            Family = s.Family, Source = s, Destination = Address.Parse(dst), Protocol = IpProtocol.Tcp, Ttl = ttl, Tos = tos,
            TotalLength = 0, HeaderLength = 0, Id = 4242, DontFragment = true,
        };
        var tcp = new TcpHeader(sport, dport, 1000, 0, flags, 64240) { Options = options ?? [] };
        return PacketBuilder.Create(number, Timestamp.FromSeconds(time), ip, tcp, new byte[payload], iface);
    }

    /// <summary>Decodes the outcome's bytes again: the checksums the kernel would check must still be right.</summary>
    public static Packet Redecoded(Packet p) => PacketDecoder.Decode(p.Raw.Span, p.Number, p.Time, p.Interface);
}
