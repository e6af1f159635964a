using Harness.Net;
using Harness.Packets;

namespace Harness.Engine.Walk;

/// <summary>
/// Rewrites IP header fields the way the kernel does: in the packet's bytes as well as in its decoded fields, with the
/// IPv4 header checksum updated incrementally (RFC 1624), so a checksum that was wrong stays wrong. A packet without
/// bytes (built from fields) only gets its fields changed.
/// </summary>
public static class HeaderRewrite
{
    /// <summary>TTL (IPv4) or hop limit (IPv6).</summary>
    public static Packet WithTtl(Packet packet, byte ttl) => WithTtl(packet, ttl, null);

    /// <summary>TTL or hop limit, patching <paramref name="ownBytes"/> (the array behind the packet's bytes, owned by the caller) in place when given.</summary>
    internal static Packet WithTtl(Packet packet, byte ttl, byte[]? ownBytes)
    {
        var ip = packet.Ip!;
        if (ip.Ttl == ttl) return packet;
        var raw = packet.Raw;
        if (ip.Family == Family.IPv4 && raw.Length >= 20)
        {
            var buf = ownBytes ?? raw.ToArray();
            ushort oldWord = (ushort)((buf[8] << 8) | buf[9]);
            buf[8] = ttl;
            ushort newWord = (ushort)((buf[8] << 8) | buf[9]);
            UpdateIpv4Checksum(buf, oldWord, newWord);
            return packet with { Ip = ip with { Ttl = ttl }, Raw = buf };
        }
        if (ip.Family == Family.IPv6 && raw.Length >= 40)
        {
            var buf = ownBytes ?? raw.ToArray();
            buf[7] = ttl;
            return packet with { Ip = ip with { Ttl = ttl }, Raw = buf };
        }
        return packet with { Ip = ip with { Ttl = ttl } };
    }

    /// <summary>The TOS byte (IPv4) or traffic class (IPv6).</summary>
    public static Packet WithTos(Packet packet, byte tos)
    {
        var ip = packet.Ip!;
        if (ip.Tos == tos) return packet;
        var raw = packet.Raw;
        if (ip.Family == Family.IPv4 && raw.Length >= 20)
        {
            var buf = raw.ToArray();
            ushort oldWord = (ushort)((buf[0] << 8) | buf[1]);
            buf[1] = tos;
            ushort newWord = (ushort)((buf[0] << 8) | buf[1]);
            UpdateIpv4Checksum(buf, oldWord, newWord);
            return packet with { Ip = ip with { Tos = tos }, Raw = buf };
        }
        if (ip.Family == Family.IPv6 && raw.Length >= 40)
        {
            var buf = raw.ToArray();
            buf[0] = (byte)((buf[0] & 0xF0) | (tos >> 4));
            buf[1] = (byte)((buf[1] & 0x0F) | ((tos & 0x0F) << 4));
            return packet with { Ip = ip with { Tos = tos }, Raw = buf };
        }
        return packet with { Ip = ip with { Tos = tos } };
    }

    /// <summary>True when the packet's bytes can be patched in place (so no full rebuild is needed).</summary>
    public static bool HasBytes(Packet packet) => packet.Raw.Length >= (packet.Ip?.Family == Family.IPv6 ? 40 : 20);

    /// <summary>HC' = ~(~HC + ~m + m'), RFC 1624 eqn. 3, on the header checksum at bytes 10-11.</summary>
    private static void UpdateIpv4Checksum(byte[] buf, ushort oldWord, ushort newWord)
    {
        uint hc = (uint)((buf[10] << 8) | buf[11]);
        uint sum = (~hc & 0xFFFF) + (~(uint)oldWord & 0xFFFF) + newWord;
        sum = (sum & 0xFFFF) + (sum >> 16);
        sum = (sum & 0xFFFF) + (sum >> 16);
        ushort result = (ushort)~sum;
        buf[10] = (byte)(result >> 8);
        buf[11] = (byte)result;
    }
}
