using System.Buffers.Binary;
using Harness.Net;

namespace Harness.Packets;

/// <summary>
/// Writes a rewritten <see cref="QuotedPacket"/> back into the bytes an ICMP error quotes, as the kernel's NAT does
/// for errors RELATED to a NATed connection: the inner IP header fields (its checksum recomputed) and the inner
/// ports / TCP sequence / ICMP id, with the inner transport checksum adjusted incrementally (RFC 1624) where the
/// quote holds it, since the rest of the inner datagram is not there to recompute it.
/// </summary>
internal static class QuotedRewriter
{
    public static void Write(Span<byte> q, QuotedPacket quoted)
    {
        var ip = quoted.Ip;
        int transportOffset;
        Span<byte> oldAddresses = stackalloc byte[32];
        Span<byte> newAddresses = stackalloc byte[32];
        int addressBytes = ip.Family == Family.IPv4 ? 8 : 32;
        if (ip.Family == Family.IPv4)
        {
            if (q.Length < 20 || q[0] >> 4 != 4) return;
            transportOffset = (q[0] & 0x0F) * 4;
            if (transportOffset < 20 || q.Length < transportOffset) return;
            q.Slice(12, 8).CopyTo(oldAddresses);
            q[1] = ip.Tos;
            BinaryPrimitives.WriteUInt16BigEndian(q[4..], (ushort)ip.Id);
            q[8] = ip.Ttl;
            ip.Source.WriteBytes(q[12..]);
            ip.Destination.WriteBytes(q[16..]);
            q[10] = q[11] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(q[10..], InternetChecksum.Compute(q[..transportOffset]));
            q.Slice(12, 8).CopyTo(newAddresses);
        }
        else
        {
            if (q.Length < 40 || q[0] >> 4 != 6) return;
            transportOffset = ip.HeaderLength;
            q.Slice(8, 32).CopyTo(oldAddresses);
            q[7] = ip.Ttl;
            ip.Source.WriteBytes(q[8..]);
            ip.Destination.WriteBytes(q[24..]);
            q.Slice(8, 32).CopyTo(newAddresses);
        }
        if (transportOffset > q.Length || ip.IsLaterFragment) return;
        WriteTransport(q[transportOffset..], quoted.Transport, oldAddresses[..addressBytes], newAddresses[..addressBytes]);
    }

    private static void WriteTransport(Span<byte> t, TransportHeader? transport, ReadOnlySpan<byte> oldAddresses, ReadOnlySpan<byte> newAddresses)
    {
        Span<byte> before = stackalloc byte[8];
        switch (transport)
        {
            case TcpHeader tcp when t.Length >= 4:
                int tcpBytes = Math.Min(8, t.Length) & ~1;
                t[..tcpBytes].CopyTo(before);
                BinaryPrimitives.WriteUInt16BigEndian(t, tcp.SourcePort);
                BinaryPrimitives.WriteUInt16BigEndian(t[2..], tcp.DestinationPort);
                if (t.Length >= 8) BinaryPrimitives.WriteUInt32BigEndian(t[4..], tcp.Sequence);
                if (t.Length >= 18)
                    Adjust(t, 16, oldAddresses, newAddresses, before[..tcpBytes], t[..tcpBytes]);
                break;
            case UdpHeader udp when t.Length >= 4:
                t[..4].CopyTo(before);
                BinaryPrimitives.WriteUInt16BigEndian(t, udp.SourcePort);
                BinaryPrimitives.WriteUInt16BigEndian(t[2..], udp.DestinationPort);
                if (t.Length >= 8 && (t[6] | t[7]) != 0)
                    Adjust(t, 6, oldAddresses, newAddresses, before[..4], t[..4]);
                break;
            case IcmpHeader icmp when t.Length >= 8 && !icmp.IsError:
                t[..8].CopyTo(before);
                BinaryPrimitives.WriteUInt16BigEndian(t[4..], icmp.Identifier);
                BinaryPrimitives.WriteUInt16BigEndian(t[6..], icmp.SequenceNumber);
                if (icmp.IsV6) Adjust(t, 2, oldAddresses, newAddresses, before[4..8], t[4..8]);
                else Adjust(t, 2, [], [], before[4..8], t[4..8]);
                break;
            case SctpHeader sctp when t.Length >= 4:
                BinaryPrimitives.WriteUInt16BigEndian(t, sctp.SourcePort);
                BinaryPrimitives.WriteUInt16BigEndian(t[2..], sctp.DestinationPort);
                break;
        }
    }

    /// <summary>RFC 1624 incremental update of the checksum at <paramref name="at"/>: HC' = ~(~HC + ~m + m').</summary>
    private static void Adjust(Span<byte> t, int at, ReadOnlySpan<byte> oldPseudo, ReadOnlySpan<byte> newPseudo, ReadOnlySpan<byte> oldFields, ReadOnlySpan<byte> newFields)
    {
        ushort check = BinaryPrimitives.ReadUInt16BigEndian(t[at..]);
        uint oldSum = InternetChecksum.Add(InternetChecksum.Add(0, oldPseudo), oldFields);
        uint newSum = InternetChecksum.Add(InternetChecksum.Add(0, newPseudo), newFields);
        uint acc = (uint)(ushort)~check + InternetChecksum.Finish(oldSum) + (uint)(ushort)~InternetChecksum.Finish(newSum);
        ushort updated = InternetChecksum.Finish(acc);
        BinaryPrimitives.WriteUInt16BigEndian(t[at..], updated);
    }
}
