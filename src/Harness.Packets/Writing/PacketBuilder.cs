using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Globalization;
using Harness.Net;

namespace Harness.Packets;

/// <summary>
/// Turns packet records into network-layer bytes: re-serializes a packet after the engine rewrote its fields
/// (addresses, ports, TTL, TOS, ids, the headers an ICMP error quotes), builds packets from fields (the traffic
/// generator), and builds the replies REJECT sends (TCP RST, ICMP/ICMPv6 errors quoting the offending packet).
/// Checksums are always recomputed (IPv4 header, TCP, UDP, ICMP, ICMPv6, SCTP CRC32c), except a transport checksum
/// of a fragment, which covers bytes the fragment does not hold.
/// </summary>
public static class PacketBuilder
{
    /// <summary>The most an IPv4 ICMP error may be (RFC 1812 4.3.2.3; the kernel's icmp_send).</summary>
    public const int Ipv4IcmpErrorLimit = 576;

    /// <summary>The most an ICMPv6 error may be (RFC 4443 2.4(c): the IPv6 minimum MTU).</summary>
    public const int Ipv6IcmpErrorLimit = 1280;

    /// <summary>
    /// The network-layer bytes of <paramref name="packet"/> with every header field taken from the record. The bytes
    /// beyond the headers (payload, IPv4/TCP options, IPv6 extension headers) come from <see cref="Packet.Raw"/>; a
    /// packet without Raw gets a zero payload of <see cref="Packet.PayloadLength"/> bytes.
    /// </summary>
    public static byte[] Serialize(Packet packet)
    {
        var ip = packet.Ip ?? throw new ArgumentException(Invariant($"packet {packet.Number} has no IP header to serialize"), nameof(packet));
        var raw = packet.Raw.Span;
        // An IPv6 extension header cut short puts the header length past the packet's end: the packet keeps its length.
        int length = ip.CutExtensionHeader is null ? Math.Max(ip.TotalLength, ip.HeaderLength) : ip.TotalLength;
        bool rawMatches = raw.Length >= Math.Min(ip.HeaderLength, length) && raw.Length > 0 && raw[0] >> 4 == (ip.Family == Family.IPv4 ? 4 : 6);
        if (!rawMatches)
            return Build(ip, packet.Transport, new byte[packet.PayloadLength]);
        var bytes = new byte[length];
        raw[..Math.Min(raw.Length, bytes.Length)].CopyTo(bytes);
        ushort? error = packet.Transport is { ChecksumValid: false } ? ChecksumError(raw, ip) : null;
        WriteHeaders(bytes, ip, packet.Transport, keepZeroUdpChecksum: true);
        if (error is { } e) KeepChecksumError(bytes, ip, e);
        return bytes;
    }

    /// <summary>
    /// Where a packet's transport checksum is stored (TCP, UDP, ICMP, ICMPv6), or -1. UDP without a checksum (0) has none
    /// to adjust; SCTP's CRC is not a ones'-complement sum.
    /// </summary>
    private static int ChecksumOffset(ReadOnlySpan<byte> bytes, IpHeader ip)
    {
        if (ip.IsFragment || bytes.Length < ip.TotalLength) return -1;
        int at = ip.Protocol switch
        {
            IpProtocol.Tcp => 16,
            IpProtocol.Udp => 6,
            IpProtocol.Icmp when ip.Family == Family.IPv4 => 2,
            IpProtocol.Icmpv6 when ip.Family == Family.IPv6 => 2,
            _ => -1,
        };
        if (at < 0 || ip.HeaderLength + at + 2 > ip.TotalLength) return -1;
        if (ip.Protocol == IpProtocol.Udp && BinaryPrimitives.ReadUInt16BigEndian(bytes[(ip.HeaderLength + at)..]) == 0) return -1;
        return ip.HeaderLength + at;
    }

    /// <summary>The verification sum of the packet's own bytes: 0 when the stored checksum is right, else how far off it is.</summary>
    private static ushort? ChecksumError(ReadOnlySpan<byte> raw, IpHeader ip)
    {
        if (ChecksumOffset(raw, ip) < 0) return null;
        bool v4 = ip.Family == Family.IPv4;
        var source = Address.FromBytes(v4 ? raw.Slice(12, 4) : raw.Slice(8, 16));
        var destination = Address.FromBytes(v4 ? raw.Slice(16, 4) : raw.Slice(24, 16));
        var segment = raw[ip.HeaderLength..ip.TotalLength];
        return ip.Protocol == IpProtocol.Icmp
            ? InternetChecksum.Compute(segment)
            : InternetChecksum.Transport(source, destination, ip.Protocol, segment);
    }

    /// <summary>
    /// A wrong transport checksum stays exactly as wrong after a rewrite, as the kernel's incremental updates leave it
    /// (conntrack must still call the packet INVALID): stored = correct + the original error, in ones'-complement.
    /// </summary>
    private static void KeepChecksumError(Span<byte> bytes, IpHeader ip, ushort error)
    {
        int at = ChecksumOffset(bytes, ip);
        if (at < 0 || error == 0) return;
        ushort correct = BinaryPrimitives.ReadUInt16BigEndian(bytes[at..]);
        uint sum = (uint)(ushort)~error + correct;
        while ((sum >> 16) != 0) sum = (sum & 0xFFFF) + (sum >> 16);
        BinaryPrimitives.WriteUInt16BigEndian(bytes[at..], (ushort)sum);
    }

    /// <summary>The packet with <see cref="Packet.Raw"/> rebuilt from its fields and decoded again (checksum flags refreshed).</summary>
    public static Packet Rebuild(Packet packet) =>
        PacketDecoder.DecodeOwned(Serialize(packet), packet.Number, packet.Time, packet.Interface, packet.Direction, packet.Link);

    /// <summary>
    /// Builds network-layer bytes from fields: the IP header (IPv4 with <see cref="IpHeader.Options"/>; IPv6 with no
    /// extension headers), the transport header (TCP with its options) and <paramref name="payload"/> (for an ICMP
    /// error: the quoted packet). Lengths are computed; <see cref="IpHeader.TotalLength"/>, <see cref="IpHeader.HeaderLength"/>,
    /// <see cref="TcpHeader.HeaderLength"/> and <see cref="UdpHeader.Length"/> are ignored.
    /// </summary>
    public static byte[] Build(IpHeader ip, TransportHeader? transport, ReadOnlySpan<byte> payload)
    {
        int ipHeaderLength = ip.Family == Family.IPv4 ? 20 + ((ip.Options.Length + 3) & ~3) : 40;
        int transportLength = transport switch
        {
            TcpHeader tcp => 20 + ((tcp.Options.Length + 3) & ~3),
            UdpHeader => 8,
            IcmpHeader => 8,
            SctpHeader => 12,
            _ => 0,
        };
        var bytes = new byte[ipHeaderLength + transportLength + payload.Length];
        payload.CopyTo(bytes.AsSpan(ipHeaderLength + transportLength));
        if (ip.Family == Family.IPv4)
        {
            bytes[0] = (byte)(0x40 | (ipHeaderLength / 4));
            ip.Options.Span.CopyTo(bytes.AsSpan(20));
        }
        else
        {
            bytes[0] = 0x60;
            bytes[6] = ip.Protocol;
        }
        var fixedIp = ip with { TotalLength = bytes.Length, HeaderLength = ipHeaderLength, ExtensionHeaders = ImmutableArray<byte>.Empty, RoutingHeader = null };
        var fixedTransport = transport switch
        {
            TcpHeader tcp => tcp with { HeaderLength = transportLength },
            UdpHeader udp => udp with { Length = (ushort)(transportLength + payload.Length) },
            _ => transport,
        };
        if (fixedTransport is TcpHeader t)
            t.Options.Span.CopyTo(bytes.AsSpan(ipHeaderLength + 20));
        WriteHeaders(bytes, fixedIp, fixedTransport, keepZeroUdpChecksum: false);
        return bytes;
    }

    /// <summary>Builds a whole packet record from fields (decoded back from the bytes, so every derived field is consistent).</summary>
    public static Packet Create(long number, Timestamp time, IpHeader ip, TransportHeader? transport, ReadOnlySpan<byte> payload,
        string? interfaceName = null, PacketDirection direction = PacketDirection.Unknown, LinkHeader? link = null) =>
        PacketDecoder.DecodeOwned(Build(ip, transport, payload), number, time, interfaceName, direction, link);

    /// <summary>
    /// The TCP RST that REJECT --reject-with tcp-reset sends for <paramref name="offending"/> (the kernel's
    /// nf_send_reset / nf_send_reset6): addresses and ports swapped; if the offending segment had ACK, seq = its ack
    /// and only RST; otherwise seq 0, ack = its seq + SYN + FIN + payload, RST|ACK; window 0, no options; IPv4 TOS 0,
    /// id 0, DF; IPv6 traffic class and flow label 0. The kernel sends none for a RST, a later fragment or a bad
    /// checksum: that decision is the caller's. Number, time and interface are the offending packet's.
    /// </summary>
    public static Packet TcpReset(Packet offending, byte ttl = 64)
    {
        var ip = offending.Ip ?? throw new ArgumentException(Invariant($"packet {offending.Number} has no IP header"), nameof(offending));
        if (offending.Transport is not TcpHeader tcp)
            throw new ArgumentException(Invariant($"packet {offending.Number} is not TCP"), nameof(offending));
        bool hadAck = (tcp.Flags & TcpFlags.Ack) != 0;
        uint ack = unchecked(tcp.Sequence + ((tcp.Flags & TcpFlags.Syn) != 0 ? 1u : 0u) + ((tcp.Flags & TcpFlags.Fin) != 0 ? 1u : 0u) + (uint)offending.PayloadLength);
        var reply = new TcpHeader(tcp.DestinationPort, tcp.SourcePort, hadAck ? tcp.Acknowledgment : 0, hadAck ? 0 : ack,
            hadAck ? TcpFlags.Rst : TcpFlags.Rst | TcpFlags.Ack, 0);
        var replyIp = ReplyIp(ip, IpProtocol.Tcp, ttl, tos: 0) with { DontFragment = ip.Family == Family.IPv4 };
        return Create(offending.Number, offending.Time, replyIp, reply, ReadOnlySpan<byte>.Empty);
    }

    /// <summary>
    /// An ICMP (IPv4) or ICMPv6 error of <paramref name="type"/>/<paramref name="code"/> from <paramref name="source"/>
    /// to the offending packet's source, quoting the offending packet from its IP header on, as much as fits in 576
    /// (IPv4) or 1280 (IPv6) bytes, as the kernel's icmp_send / icmp6_send do. IPv4 TOS is the offending TOS's
    /// precedence-free bits with precedence "internetwork control" (0xc0 | tos &amp; 0x1e); <paramref name="mtu"/>
    /// fills "fragmentation needed" (3/4) and "packet too big" (ICMPv6 2).
    /// </summary>
    public static Packet IcmpError(Packet offending, byte type, byte code, Address source, uint mtu = 0, byte ttl = 64, ushort id = 0)
    {
        var ip = offending.Ip ?? throw new ArgumentException(Invariant($"packet {offending.Number} has no IP header"), nameof(offending));
        if (source.Family != ip.Family)
            throw new ArgumentException(Invariant($"ICMP error source {source} is not {ip.Family} like packet {offending.Number}"), nameof(source));
        bool v6 = ip.Family == Family.IPv6;
        var original = offending.Raw.IsEmpty ? Serialize(offending) : offending.Raw.ToArray();
        int room = (v6 ? Ipv6IcmpErrorLimit - 48 : Ipv4IcmpErrorLimit - 28);
        var quote = original.AsSpan(0, Math.Min(original.Length, room));
        var icmp = new IcmpHeader(type, code, v6) { Mtu = mtu };
        byte tos = v6 ? (byte)0 : (byte)(0xC0 | (ip.Tos & 0x1E));
        var replyIp = ReplyIp(ip, v6 ? IpProtocol.Icmpv6 : IpProtocol.Icmp, ttl, tos) with { Source = source, Id = v6 ? 0u : id };
        return Create(offending.Number, offending.Time, replyIp, icmp, quote);
    }

    private static IpHeader ReplyIp(IpHeader ip, byte protocol, byte ttl, byte tos) => new()
    {
        Family = ip.Family,
        Source = ip.Destination,
        Destination = ip.Source,
        Protocol = protocol,
        Ttl = ttl,
        Tos = tos,
        TotalLength = 0,
        HeaderLength = 0,
    };

    /// <summary>Writes the IP and transport header fields of the record over <paramref name="bytes"/> and recomputes checksums.</summary>
    private static void WriteHeaders(Span<byte> bytes, IpHeader ip, TransportHeader? transport, bool keepZeroUdpChecksum)
    {
        if (ip.Family == Family.IPv4) WriteIpv4Fields(bytes, ip);
        else WriteIpv6Fields(bytes, ip);
        if (transport is not null && !ip.IsLaterFragment && ip.HeaderLength <= bytes.Length)
            WriteTransport(bytes[ip.HeaderLength..], ip, transport, checksum: !ip.MoreFragments, keepZeroUdpChecksum);
        if (ip.Family == Family.IPv4)
            FinishIpv4Checksum(bytes);
    }

    private static void WriteIpv4Fields(Span<byte> b, IpHeader ip)
    {
        int headerLength = (b[0] & 0x0F) * 4;
        b[0] = (byte)(0x40 | (headerLength / 4));
        b[1] = ip.Tos;
        BinaryPrimitives.WriteUInt16BigEndian(b[2..], (ushort)b.Length);
        BinaryPrimitives.WriteUInt16BigEndian(b[4..], (ushort)ip.Id);
        int fragment = (ip.ReservedFlag ? 0x8000 : 0) | (ip.DontFragment ? 0x4000 : 0) | (ip.MoreFragments ? 0x2000 : 0) | ((ip.FragmentOffset / 8) & 0x1FFF);
        BinaryPrimitives.WriteUInt16BigEndian(b[6..], (ushort)fragment);
        b[8] = ip.Ttl;
        if (ip.ExtensionHeaders.IsDefaultOrEmpty) b[9] = ip.Protocol;
        ip.Source.WriteBytes(b[12..]);
        ip.Destination.WriteBytes(b[16..]);
        if (ip.Options.Length == headerLength - 20)
            ip.Options.Span.CopyTo(b[20..]);
    }

    private static void FinishIpv4Checksum(Span<byte> b)
    {
        int headerLength = (b[0] & 0x0F) * 4;
        b[10] = b[11] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(b[10..], InternetChecksum.Compute(b[..headerLength]));
    }

    private static void WriteIpv6Fields(Span<byte> b, IpHeader ip)
    {
        BinaryPrimitives.WriteUInt32BigEndian(b, (6u << 28) | ((uint)ip.Tos << 20) | (ip.FlowLabel & 0xFFFFF));
        BinaryPrimitives.WriteUInt16BigEndian(b[4..], (ushort)(b.Length - 40));
        if (ip.ExtensionHeaders.IsDefaultOrEmpty && ip.CutExtensionHeader is null) b[6] = ip.Protocol;
        b[7] = ip.Ttl;
        ip.Source.WriteBytes(b[8..]);
        ip.Destination.WriteBytes(b[24..]);
    }

    private static void WriteTransport(Span<byte> s, IpHeader ip, TransportHeader transport, bool checksum, bool keepZeroUdpChecksum)
    {
        switch (transport)
        {
            case TcpHeader tcp when s.Length >= 20:
                WriteTcp(s, tcp);
                if (checksum) StoreChecksum(s, 16, InternetChecksum.Transport(ip.Source, ip.Destination, IpProtocol.Tcp, ZeroChecksum(s, 16)));
                break;
            case UdpHeader udp when s.Length >= 8:
                WriteUdp(s, ip, udp, checksum, keepZeroUdpChecksum);
                break;
            case IcmpHeader icmp when s.Length >= 8:
                WriteIcmp(s, icmp);
                if (checksum)
                    StoreChecksum(s, 2, icmp.IsV6
                        ? InternetChecksum.Transport(ip.Source, ip.Destination, IpProtocol.Icmpv6, ZeroChecksum(s, 2))
                        : InternetChecksum.Compute(ZeroChecksum(s, 2)));
                break;
            case SctpHeader sctp when s.Length >= 12:
                BinaryPrimitives.WriteUInt16BigEndian(s, sctp.SourcePort);
                BinaryPrimitives.WriteUInt16BigEndian(s[2..], sctp.DestinationPort);
                BinaryPrimitives.WriteUInt32BigEndian(s[4..], sctp.VerificationTag);
                if (checksum) BinaryPrimitives.WriteUInt32LittleEndian(s[8..], InternetChecksum.SctpCrc32c(s));
                break;
        }
    }

    private static void WriteTcp(Span<byte> s, TcpHeader tcp)
    {
        BinaryPrimitives.WriteUInt16BigEndian(s, tcp.SourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(s[2..], tcp.DestinationPort);
        BinaryPrimitives.WriteUInt32BigEndian(s[4..], tcp.Sequence);
        BinaryPrimitives.WriteUInt32BigEndian(s[8..], tcp.Acknowledgment);
        s[12] = (byte)(((tcp.HeaderLength / 4) << 4) | (tcp.ReservedBits & 0x0F));
        s[13] = (byte)tcp.Flags;
        BinaryPrimitives.WriteUInt16BigEndian(s[14..], tcp.Window);
        BinaryPrimitives.WriteUInt16BigEndian(s[18..], tcp.UrgentPointer);
        if (tcp.Options.Length == tcp.HeaderLength - 20 && s.Length >= tcp.HeaderLength)
            tcp.Options.Span.CopyTo(s[20..]);
    }

    private static void WriteUdp(Span<byte> s, IpHeader ip, UdpHeader udp, bool checksum, bool keepZeroUdpChecksum)
    {
        bool hadNoChecksum = s[6] == 0 && s[7] == 0;
        BinaryPrimitives.WriteUInt16BigEndian(s, udp.SourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(s[2..], udp.DestinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(s[4..], udp.Length);
        // A UDP packet sent without a checksum keeps none (on IPv6 that stays invalid, as the kernel's NAT leaves it).
        if (!checksum || (keepZeroUdpChecksum && hadNoChecksum)) return;
        int length = Math.Clamp((int)udp.Length, 8, s.Length);
        ushort sum = InternetChecksum.Transport(ip.Source, ip.Destination, IpProtocol.Udp, ZeroChecksum(s, 6)[..length]);
        BinaryPrimitives.WriteUInt16BigEndian(s[6..], sum == 0 ? (ushort)0xFFFF : sum);
    }

    private static void WriteIcmp(Span<byte> s, IcmpHeader icmp)
    {
        s[0] = icmp.Type;
        s[1] = icmp.Code;
        if (!icmp.IsError)
        {
            BinaryPrimitives.WriteUInt16BigEndian(s[4..], icmp.Identifier);
            BinaryPrimitives.WriteUInt16BigEndian(s[6..], icmp.SequenceNumber);
            return;
        }
        // Only the MTU is a field of the record; other error types keep their bytes 4-7 (pointer, gateway, unused).
        if (icmp.IsV6 && icmp.Type == 2)
            BinaryPrimitives.WriteUInt32BigEndian(s[4..], icmp.Mtu);
        else if (!icmp.IsV6 && icmp.Type == 3 && icmp.Code == 4)
            BinaryPrimitives.WriteUInt32BigEndian(s[4..], icmp.Mtu & 0xFFFF);
        if (icmp.Quoted is { } quoted)
            QuotedRewriter.Write(s[8..], quoted);
    }

    private static Span<byte> ZeroChecksum(Span<byte> s, int at)
    {
        s[at] = s[at + 1] = 0;
        return s;
    }

    private static void StoreChecksum(Span<byte> s, int at, ushort value) => BinaryPrimitives.WriteUInt16BigEndian(s[at..], value);

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
