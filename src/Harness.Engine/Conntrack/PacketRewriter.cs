using Harness.Net;
using Harness.Packets;

namespace Harness.Engine.Conntrack;

/// <summary>
/// Rewrites a packet's addresses and ports for NAT, in the decoded fields and in <see cref="Packet.Raw"/>, updating
/// the checksums incrementally as the kernel does (RFC 1624), so a checksum that was wrong stays wrong.
/// </summary>
internal static class PacketRewriter
{
    /// <summary>
    /// Sets the source (or destination) address and port / ICMP id of the packet to those of <paramref name="target"/>.
    /// <paramref name="ownBytes"/>: the array behind <paramref name="p"/>.Raw when the caller owns it (patched in place), else null (copied).
    /// </summary>
    public static Packet Manip(Packet p, ConnTuple target, NatManipType manip, byte[]? ownBytes = null)
    {
        var buf = ownBytes ?? p.Raw.ToArray();
        var (ip, transport) = ManipAt(buf, 0, p.Ip!, p.Transport, target, manip, buf.Length);
        return p with { Ip = ip, Transport = transport, Raw = buf };
    }

    /// <summary>
    /// The ICMP error translation: the quoted packet gets <paramref name="innerManip"/> towards <paramref name="inner"/>,
    /// the ICMP checksum is recomputed, and the outer header gets <paramref name="outerManip"/> towards <paramref name="outer"/>.
    /// </summary>
    public static Packet ManipIcmpError(Packet p, ConnTuple inner, NatManipType innerManip, ConnTuple outer, NatManipType outerManip, byte[]? ownBytes = null)
    {
        var buf = ownBytes ?? p.Raw.ToArray();
        var ip = p.Ip!;
        var icmp = (IcmpHeader)p.Transport!;
        int icmpOff = ip.HeaderLength;
        int end = Math.Min(buf.Length, ip.TotalLength);
        var quoted = icmp.Quoted!;
        var (qIp, qTransport) = ManipAt(buf, icmpOff + 8, quoted.Ip, quoted.Transport, inner, innerManip, end);
        var newIcmp = icmp with { Quoted = new QuotedPacket(qIp, qTransport) };
        var (outerIp, _) = ManipAt(buf, 0, ip, null, outer, outerManip, end);
        if (buf.Length >= icmpOff + 4)
        {
            buf[icmpOff + 2] = 0;
            buf[icmpOff + 3] = 0;
            uint sum = Sum(buf.AsSpan(icmpOff, end - icmpOff), 0);
            if (icmp.IsV6) sum = PseudoHeader(outerIp, (uint)(end - icmpOff), IpProtocol.Icmpv6, sum);
            WriteU16(buf, icmpOff + 2, (ushort)~Fold(sum));
        }
        return p with { Ip = outerIp, Transport = newIcmp, Raw = buf };
    }

    /// <summary>Rewrites one IP packet (or quoted packet) starting at <paramref name="ipOff"/> of <paramref name="buf"/>.</summary>
    private static (IpHeader, TransportHeader?) ManipAt(byte[] buf, int ipOff, IpHeader ip, TransportHeader? t, ConnTuple target, NatManipType manip, int end)
    {
        bool src = manip == NatManipType.Source;
        var oldAddr = src ? ip.Source : ip.Destination;
        var newAddr = src ? target.Source : target.Destination;
        bool v4 = ip.Family == Family.IPv4;
        int addrLen = v4 ? 4 : 16;
        int addrOff = ipOff + (v4 ? (src ? 12 : 16) : (src ? 8 : 24));
        int l4 = ipOff + ip.HeaderLength;
        Span<byte> oldBytes = stackalloc byte[16], newBytes = stackalloc byte[16];
        oldAddr.WriteBytes(oldBytes);
        newAddr.WriteBytes(newBytes);
        oldBytes = oldBytes[..(oldAddr.BitLength / 8)];
        newBytes = newBytes[..(newAddr.BitLength / 8)];
        bool haveAddr = buf.Length >= addrOff + addrLen;

        TransportHeader? newT = t;
        switch (t)
        {
            case TcpHeader th:
            {
                ushort oldPort = src ? th.SourcePort : th.DestinationPort, newPort = src ? target.SourcePort : target.DestinationPort;
                bool fullHeader = end >= l4 + 20 && buf.Length >= l4 + 20;
                if (fullHeader && haveAddr)
                {
                    Replace(buf, l4 + 16, oldBytes, newBytes);
                    Replace16(buf, l4 + 16, oldPort, newPort);
                }
                if (buf.Length >= l4 + 4) WriteU16(buf, l4 + (src ? 0 : 2), newPort);
                newT = src ? th with { SourcePort = newPort } : th with { DestinationPort = newPort };
                break;
            }
            case UdpHeader uh:
            {
                ushort oldPort = src ? uh.SourcePort : uh.DestinationPort, newPort = src ? target.SourcePort : target.DestinationPort;
                if (buf.Length >= l4 + 8 && haveAddr && ReadU16(buf, l4 + 6) != 0)
                {
                    Replace(buf, l4 + 6, oldBytes, newBytes);
                    Replace16(buf, l4 + 6, oldPort, newPort);
                    if (ReadU16(buf, l4 + 6) == 0) WriteU16(buf, l4 + 6, 0xFFFF); // CSUM_MANGLED_0
                }
                if (buf.Length >= l4 + 4) WriteU16(buf, l4 + (src ? 0 : 2), newPort);
                newT = src ? uh with { SourcePort = newPort } : uh with { DestinationPort = newPort };
                break;
            }
            case OtherTransport { Protocol: IpProtocol.UdpLite }:
            {
                // UDP-Lite: ports like UDP; its checksum (always present) covers the pseudo-header.
                if (buf.Length >= l4 + 8)
                {
                    int portOff = l4 + (src ? 0 : 2);
                    ushort oldPort = ReadU16(buf, portOff), newPort = src ? target.SourcePort : target.DestinationPort;
                    if (haveAddr) Replace(buf, l4 + 6, oldBytes, newBytes);
                    Replace16(buf, l4 + 6, oldPort, newPort);
                    WriteU16(buf, portOff, newPort);
                }
                break;
            }
            case SctpHeader sh:
            {
                ushort newPort = src ? target.SourcePort : target.DestinationPort;
                if (buf.Length >= l4 + 4) WriteU16(buf, l4 + (src ? 0 : 2), newPort);
                // The kernel recomputes SCTP's CRC32c after rewriting the ports (it does not cover the addresses).
                if (buf.Length >= l4 + 12 && end <= buf.Length && end > l4)
                    System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(buf.AsSpan(l4 + 8), InternetChecksum.SctpCrc32c(buf.AsSpan(l4, end - l4)));
                newT = src ? sh with { SourcePort = newPort } : sh with { DestinationPort = newPort };
                break;
            }
            case IcmpHeader ih when !ih.IsError:
            {
                bool echoLike = ih.IsV6 ? ih.Type is 128 or 129 : ih.Type is 0 or 8 or 13 or 14 or 15 or 16 or 17 or 18;
                if (buf.Length >= l4 + 8)
                {
                    if (ih.IsV6 && haveAddr) Replace(buf, l4 + 2, oldBytes, newBytes); // ICMPv6 covers the pseudo-header
                    if (echoLike)
                    {
                        Replace16(buf, l4 + 2, ih.Identifier, target.IcmpId);
                        WriteU16(buf, l4 + 4, target.IcmpId);
                    }
                }
                if (echoLike) newT = ih with { Identifier = target.IcmpId };
                break;
            }
        }

        if (haveAddr)
        {
            if (v4 && buf.Length >= ipOff + 12) Replace(buf, ipOff + 10, oldBytes, newBytes);
            newBytes.CopyTo(buf.AsSpan(addrOff));
        }
        var newIp = src ? ip with { Source = newAddr } : ip with { Destination = newAddr };
        return (newIp, newT);
    }

    /// <summary>Incremental update of the checksum at <paramref name="at"/> for 16-bit words changing from old to new.</summary>
    private static void Replace(byte[] buf, int at, ReadOnlySpan<byte> oldBytes, ReadOnlySpan<byte> newBytes)
    {
        uint sum = (ushort)~ReadU16(buf, at);
        for (int i = 0; i + 1 < oldBytes.Length; i += 2)
        {
            sum += (ushort)~(oldBytes[i] << 8 | oldBytes[i + 1]);
            sum += (uint)(newBytes[i] << 8 | newBytes[i + 1]);
        }
        WriteU16(buf, at, (ushort)~Fold(sum));
    }

    private static void Replace16(byte[] buf, int at, ushort oldValue, ushort newValue)
    {
        uint sum = (ushort)~ReadU16(buf, at);
        sum += (ushort)~oldValue;
        sum += newValue;
        WriteU16(buf, at, (ushort)~Fold(sum));
    }

    private static uint Sum(ReadOnlySpan<byte> data, uint sum)
    {
        int i = 0;
        for (; i + 1 < data.Length; i += 2) sum += (uint)(data[i] << 8 | data[i + 1]);
        if (i < data.Length) sum += (uint)(data[i] << 8);
        return sum;
    }

    private static uint PseudoHeader(IpHeader ip, uint length, byte protocol, uint sum)
    {
        sum = Sum(ip.Source.ToBytes(), sum);
        sum = Sum(ip.Destination.ToBytes(), sum);
        sum += length >> 16;
        sum += length & 0xFFFF;
        sum += protocol;
        return sum;
    }

    private static ushort Fold(uint sum)
    {
        while (sum >> 16 != 0) sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)sum;
    }

    private static ushort ReadU16(byte[] b, int at) => (ushort)(b[at] << 8 | b[at + 1]);

    private static void WriteU16(byte[] b, int at, ushort v)
    {
        b[at] = (byte)(v >> 8);
        b[at + 1] = (byte)v;
    }
}
