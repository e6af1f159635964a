using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Globalization;
using Harness.Net;

namespace Harness.Packets;

/// <summary>
/// Decodes network-layer bytes (an IPv4 or IPv6 packet, no link header) into a <see cref="Packet"/>. Never throws on
/// bad bytes: what the kernel would refuse becomes <see cref="Packet.DecodeError"/>; a short or inconsistent transport header
/// behind a sound IP header, which the kernel passes to netfilter, becomes <see cref="Packet.TransportError"/>.
/// <para>
/// <see cref="Packet.Raw"/> is a fresh copy trimmed to the IP total length (Ethernet padding dropped, as the kernel
/// trims the skb). When the capture's snapshot length cut the packet (<c>wireLength</c> larger than the bytes
/// given), the headers are still decoded as far as they were captured, and checksums that cover missing bytes are
/// reported as valid (they cannot be checked). A later fragment has no transport header; a first fragment's transport
/// checksum covers the reassembled datagram and is likewise not checked.
/// </para>
/// </summary>
public static class PacketDecoder
{
    /// <summary>Decodes an IP packet. <paramref name="wireLength"/> is its length on the wire when the capture cut it short (default: the bytes given).</summary>
    public static Packet Decode(
        ReadOnlySpan<byte> networkLayer,
        long number,
        Timestamp time,
        string? interfaceName = null,
        PacketDirection direction = PacketDirection.Unknown,
        LinkHeader? link = null,
        int? wireLength = null)
    {
        int wire = Math.Max(wireLength ?? networkLayer.Length, networkLayer.Length);
        return Assemble(DecodeNetwork(networkLayer, wire, null), number, time, interfaceName, direction, link);
    }

    /// <summary>Decodes bytes this library just built, keeping the array as <see cref="Packet.Raw"/> (no copy).</summary>
    internal static Packet DecodeOwned(byte[] networkLayer, long number, Timestamp time, string? interfaceName, PacketDirection direction, LinkHeader? link) =>
        Assemble(DecodeNetwork(networkLayer, networkLayer.Length, networkLayer), number, time, interfaceName, direction, link);

    private static Packet Assemble(Draft draft, long number, Timestamp time, string? interfaceName, PacketDirection direction, LinkHeader? link)
    {
        return new Packet
        {
            Number = number,
            Time = time,
            Interface = interfaceName,
            Direction = direction,
            Link = link,
            Raw = draft.Raw,
            Ip = draft.Ip,
            Transport = draft.Transport,
            PayloadLength = draft.PayloadLength,
            DecodeError = draft.DecodeError,
            TransportError = draft.TransportError,
        };
    }

    /// <summary>The decoded parts of a packet, assembled into one <see cref="Packet"/> at the end (a struct: no copies on the heap).</summary>
    private readonly record struct Draft(ReadOnlyMemory<byte> Raw, IpHeader? Ip, TransportHeader? Transport, int PayloadLength, string? DecodeError, string? TransportError = null);

    private static Draft DecodeNetwork(ReadOnlySpan<byte> networkLayer, int wire, byte[]? owned)
    {
        var packet = default(Draft);
        if (networkLayer.IsEmpty)
            return packet with { DecodeError = "empty network layer: no IP header" };
        int version = networkLayer[0] >> 4;
        return version switch
        {
            4 => DecodeIpv4(packet, networkLayer, wire, owned),
            6 => DecodeIpv6(packet, networkLayer, wire, owned),
            _ => packet with { DecodeError = Invariant($"IP version {version} (first byte 0x{networkLayer[0]:x2}) is neither 4 nor 6") },
        };
    }

    /// <summary>Decodes a packet whose <see cref="Packet.Raw"/> bytes are complete (used after rewriting); keeps the other fields of <paramref name="template"/>.</summary>
    public static Packet Redecode(Packet template, ReadOnlySpan<byte> networkLayer) =>
        Decode(networkLayer, template.Number, template.Time, template.Interface, template.Direction, template.Link);

    private static Draft DecodeIpv4(Draft packet, ReadOnlySpan<byte> data, int wire, byte[]? owned)
    {
        if (data.Length < 20)
            return packet with { DecodeError = Truncated("IPv4 header", data.Length, 20, wire) };
        int headerLength = (data[0] & 0x0F) * 4;
        if (headerLength < 20)
            return packet with { DecodeError = Invariant($"IPv4 header length {headerLength} is less than 20") };
        if (data.Length < headerLength)
            return packet with { DecodeError = Truncated("IPv4 header with options", data.Length, headerLength, wire) };
        int totalLength = BinaryPrimitives.ReadUInt16BigEndian(data[2..]);
        if (totalLength < headerLength)
            return packet with { DecodeError = Invariant($"IPv4 total length {totalLength} is less than the header length {headerLength}") };
        if (totalLength > wire)
            return packet with { DecodeError = Invariant($"IPv4 total length {totalLength} exceeds the {wire} bytes of the frame") };

        var raw = owned is not null && owned.Length == totalLength ? owned : data[..Math.Min(totalLength, data.Length)].ToArray();
        var ip = ReadIpv4Header(raw, headerLength, totalLength);
        packet = packet with { Raw = raw, Ip = ip };
        if (ip.IsLaterFragment)
            return packet;
        bool checkable = raw.Length == totalLength && !ip.MoreFragments;
        return DecodeTransport(packet, ip, raw.AsMemory(headerLength), totalLength - headerLength, checkable);
    }

    private static IpHeader ReadIpv4Header(byte[] raw, int headerLength, int totalLength)
    {
        ReadOnlySpan<byte> h = raw;
        ushort fragment = BinaryPrimitives.ReadUInt16BigEndian(h[6..]);
        return new IpHeader
        {
            Family = Family.IPv4,
            Tos = h[1],
            TotalLength = totalLength,
            HeaderLength = headerLength,
            Id = BinaryPrimitives.ReadUInt16BigEndian(h[4..]),
            ReservedFlag = (fragment & 0x8000) != 0,
            DontFragment = (fragment & 0x4000) != 0,
            MoreFragments = (fragment & 0x2000) != 0,
            FragmentOffset = (fragment & 0x1FFF) * 8,
            Ttl = h[8],
            Protocol = h[9],
            Source = Address.V4(BinaryPrimitives.ReadUInt32BigEndian(h[12..])),
            Destination = Address.V4(BinaryPrimitives.ReadUInt32BigEndian(h[16..])),
            Options = raw.AsMemory(20, headerLength - 20),
            HeaderChecksumValid = InternetChecksum.Compute(h[..headerLength]) == 0,
        };
    }

    private static Draft DecodeIpv6(Draft packet, ReadOnlySpan<byte> data, int wire, byte[]? owned)
    {
        if (data.Length < 40)
            return packet with { DecodeError = Truncated("IPv6 header", data.Length, 40, wire) };
        int payloadLength = BinaryPrimitives.ReadUInt16BigEndian(data[4..]);
        if (payloadLength == 0 && data[6] == IpProtocol.HopByHop)
            return packet with { DecodeError = "IPv6 jumbogram (payload length 0 with a hop-by-hop header) is not supported" };
        int totalLength = 40 + payloadLength;
        if (totalLength > wire)
            return packet with { DecodeError = Invariant($"IPv6 payload length {payloadLength} exceeds the {wire - 40} bytes after the header") };

        var raw = owned is not null && owned.Length == totalLength ? owned : data[..Math.Min(totalLength, data.Length)].ToArray();
        var walk = WalkIpv6Extensions(raw, totalLength);
        if (walk.Error is not null)
            return packet with { Raw = raw, DecodeError = walk.Error };
        var ip = ReadIpv6Header(raw, totalLength, walk);
        packet = packet with { Raw = raw, Ip = ip };
        if (walk.CutError is not null)
            return packet with { TransportError = walk.CutError };
        if (ip.IsLaterFragment || walk.NextHeader == IpProtocol.Ipv6NoNext)
            return packet;
        bool checkable = raw.Length == totalLength && !ip.MoreFragments;
        return DecodeTransport(packet, ip, raw.AsMemory(walk.Offset), totalLength - walk.Offset, checkable);
    }

    private static IpHeader ReadIpv6Header(byte[] raw, int totalLength, Ipv6Walk walk)
    {
        ReadOnlySpan<byte> h = raw;
        uint first = BinaryPrimitives.ReadUInt32BigEndian(h);
        return new IpHeader
        {
            Family = Family.IPv6,
            Tos = (byte)(first >> 20),
            FlowLabel = first & 0xFFFFF,
            TotalLength = totalLength,
            HeaderLength = walk.Offset,
            Protocol = walk.NextHeader,
            Ttl = h[7],
            Source = new Address(BinaryPrimitives.ReadUInt128BigEndian(h[8..]), Family.IPv6),
            Destination = new Address(BinaryPrimitives.ReadUInt128BigEndian(h[24..]), Family.IPv6),
            ExtensionHeaders = walk.Extensions,
            RoutingHeader = walk.Routing,
            Id = walk.FragmentId,
            MoreFragments = walk.MoreFragments,
            FragmentOffset = walk.FragmentOffset,
            CutExtensionHeader = walk.Cut,
            ExtensionWalkFailed = walk.WalkFailed,
            MetaL4Protocol = walk.MetaL4Protocol,
            LegacyL4Protocol = walk.LegacyL4Protocol,
        };
    }

    private readonly record struct Ipv6Walk(
        int Offset, byte NextHeader, ImmutableArray<byte> Extensions, uint FragmentId, bool MoreFragments, int FragmentOffset, string? Error,
        Ipv6RoutingHeader? Routing = null, string? CutError = null, byte? Cut = null, bool WalkFailed = false, int MetaL4Protocol = -2,
        int LegacyL4Protocol = -2);

    /// <summary>True for the headers ip6tables walks past to find the upper-layer protocol (the kernel's ipv6_ext_hdr, less "no next header").</summary>
    private static bool IsExtensionHeader(byte next) =>
        next is IpProtocol.HopByHop or IpProtocol.Ipv6Route or IpProtocol.Ipv6Frag or IpProtocol.Ipv6Opts or IpProtocol.Ah;

    /// <summary>
    /// Walks the extension headers after the fixed header. <paramref name="totalLength"/> is the wire length; raw may be
    /// shorter (snaplen). A leading hop-by-hop header that is cut short is a decode error (ip6_rcv drops it before
    /// netfilter). Any other header cut short or running past the payload reaches netfilter: the walk goes on as the
    /// kernel's do (ipv6_skip_exthdr needs 2 bytes of a header, 4 of a fragment header; ipv6_find_hdr also 4 of a routing
    /// header, and nft's meta l4proto stops at AH) and the packet gets <see cref="Ipv6Walk.CutError"/>.
    /// </summary>
    private static Ipv6Walk WalkIpv6Extensions(ReadOnlySpan<byte> raw, int totalLength, bool lenient = false)
    {
        byte next = raw[6];
        int offset = 40;
        var extensions = ImmutableArray.CreateBuilder<byte>();
        uint fragmentId = 0;
        bool more = false;
        int fragmentOffset = 0;
        Ipv6RoutingHeader? routing = null;
        string? cutError = null;
        byte? cut = null;
        int meta = -2, legacy = -2;
        while (IsExtensionHeader(next))
        {
            int wireLeft = totalLength - offset;
            if (cutError is null && (offset + 8 > raw.Length || offset + HeaderLength(next, raw[(offset + 1)..]) > totalLength))
            {
                if (lenient) break;
                int need = offset + 8 > raw.Length ? 8 : HeaderLength(next, raw[(offset + 1)..]);
                bool firstHopByHop = offset == 40 && next == IpProtocol.HopByHop;
                // Bytes the capture did not keep, or a leading hop-by-hop header (ip6_rcv checks it): not replayable.
                if (firstHopByHop || (need == 8 && wireLeft >= 8))
                    return new Ipv6Walk(offset, next, extensions.ToImmutable(), 0, false, 0,
                        need == 8 ? Truncated(Invariant($"IPv6 extension header {next}"), raw.Length - offset, 8, wireLeft)
                            : Invariant($"IPv6 extension header {next} of {need} bytes at offset {offset} runs past the payload ({totalLength} bytes)"));
                cutError = need == 8 && wireLeft < 8
                    ? Truncated(Invariant($"IPv6 extension header {next}"), raw.Length - offset, 8, wireLeft)
                    : Invariant($"IPv6 extension header {next} of {need} bytes at offset {offset} runs past the payload ({totalLength} bytes)");
                cut = next;
            }
            if (cutError is not null)
            {
                // From the cut header on, only the bytes that are there: the header's first 2 (4 for a fragment header).
                int skipNeed = next == IpProtocol.Ipv6Frag ? 4 : 2;
                int findNeed = next is IpProtocol.Ipv6Frag or IpProtocol.Ipv6Route ? 4 : 2;
                if (meta == -2) meta = wireLeft < findNeed ? -1 : next == IpProtocol.Ah ? IpProtocol.Ah : -2;
                if (wireLeft < findNeed) legacy = -1; // ip6_tables' walk goes through AH and fails here
                if (wireLeft >= skipNeed && raw.Length - offset < skipNeed)
                    return new Ipv6Walk(offset, next, extensions.ToImmutable(), 0, false, 0,
                        Truncated(Invariant($"IPv6 extension header {next}"), raw.Length - offset, skipNeed, wireLeft));
                if (wireLeft < skipNeed)
                    return new Ipv6Walk(offset, next, extensions.ToImmutable(), fragmentId, more, fragmentOffset, null, routing,
                        cutError, cut, WalkFailed: true, MetaL4Protocol: meta, LegacyL4Protocol: legacy);
                var c = raw[offset..];
                int skip = HeaderLength(next, c[1..]);
                next = c[0];
                offset += skip;
                continue;
            }
            var h = raw[offset..];
            int length = HeaderLength(next, h[1..]);
            if (meta == -2 && next == IpProtocol.Ah) meta = IpProtocol.Ah;
            extensions.Add(next);
            if (next == IpProtocol.Ipv6Frag)
            {
                ushort field = BinaryPrimitives.ReadUInt16BigEndian(h[2..]);
                fragmentOffset = field & 0xFFF8;
                more = (field & 1) != 0;
                fragmentId = BinaryPrimitives.ReadUInt32BigEndian(h[4..]);
            }
            if (next == IpProtocol.Ipv6Route && routing is null)
                routing = ReadRoutingHeader(h, length);
            next = h[0];
            offset += length;
            if (fragmentOffset != 0)
            {
                // A later fragment: ipv6_find_hdr gives the protocol named by its fragment header, and fails when that is
                // another extension header (what ip6_tables' -p sees; nft's meta l4proto is left as it was).
                if (IsExtensionHeader(next)) legacy = -1;
                break;
            }
        }
        return new Ipv6Walk(offset, next, extensions.ToImmutable(), fragmentId, more, fragmentOffset, null, routing,
            cutError, cut, MetaL4Protocol: meta == -2 ? -2 : meta, LegacyL4Protocol: legacy);
    }

    /// <summary>An extension header's length in bytes from its second byte: 8 for a fragment header, (n + 2) × 4 for AH, else (n + 1) × 8.</summary>
    private static int HeaderLength(byte type, ReadOnlySpan<byte> fromSecondByte) => type switch
    {
        IpProtocol.Ipv6Frag => 8,
        IpProtocol.Ah => (fromSecondByte[0] + 2) * 4,
        _ => (fromSecondByte[0] + 1) * 8,
    };

    /// <summary>A routing header's fixed fields and its 16-byte entries from byte 8 on (those the capture holds).</summary>
    private static Ipv6RoutingHeader ReadRoutingHeader(ReadOnlySpan<byte> h, int length)
    {
        int count = (Math.Min(length, h.Length) - 8) / 16;
        var addresses = ImmutableArray.CreateBuilder<Address>(count);
        for (int i = 0; i < count; i++)
            addresses.Add(new Address(BinaryPrimitives.ReadUInt128BigEndian(h[(8 + 16 * i)..]), Family.IPv6));
        return new Ipv6RoutingHeader(h[2], h[3], length, BinaryPrimitives.ReadUInt32BigEndian(h[4..]), addresses.MoveToImmutable());
    }

    private static Draft DecodeTransport(Draft packet, IpHeader ip, ReadOnlyMemory<byte> segmentMemory, int segmentWireLength, bool checkable)
    {
        var segment = segmentMemory.Span;
        switch (ip.Protocol)
        {
            case IpProtocol.Tcp:
                return DecodeTcp(packet, ip, segmentMemory, segmentWireLength, checkable);
            case IpProtocol.Udp:
                return DecodeUdp(packet, ip, segment, segmentWireLength, checkable);
            case IpProtocol.Icmp when ip.Family == Family.IPv4:
            case IpProtocol.Icmpv6 when ip.Family == Family.IPv6:
                return DecodeIcmp(packet, ip, segment, segmentWireLength, checkable);
            case IpProtocol.Sctp:
                return DecodeSctp(packet, segment, segmentWireLength, checkable);
            case IpProtocol.Gre:
                return packet with { Transport = new OtherTransport(IpProtocol.Gre) { Key = ReadGreKey(segment) } };
            default:
                return packet with { Transport = new OtherTransport(ip.Protocol) };
        }
    }

    private static Draft DecodeTcp(Draft packet, IpHeader ip, ReadOnlyMemory<byte> segmentMemory, int wire, bool checkable)
    {
        var s = segmentMemory.Span;
        if (s.Length < 20)
            return ShortHeader(packet, "TCP header", s.Length, 20, wire);
        int headerLength = (s[12] >> 4) * 4;
        // A data offset below 20 or past the segment: the fixed header is there (ports, flags), the packet still reaches
        // netfilter (conntrack's tcp_error calls it invalid).
        string? offsetError = headerLength < 20 ? Invariant($"TCP data offset {headerLength} is less than 20")
            : headerLength > wire ? Invariant($"TCP data offset {headerLength} exceeds the {wire}-byte segment")
            : null;
        bool valid = !checkable || InternetChecksum.Transport(ip.Source, ip.Destination, IpProtocol.Tcp, s[..wire]) == 0;
        return packet with
        {
            Transport = ReadTcp(s, segmentMemory, headerLength, valid),
            PayloadLength = Math.Max(0, wire - headerLength),
            TransportError = offsetError,
        };
    }

    private static TcpHeader ReadTcp(ReadOnlySpan<byte> s, ReadOnlyMemory<byte> memory, int headerLength, bool checksumValid = true) =>
        new(BinaryPrimitives.ReadUInt16BigEndian(s),
            BinaryPrimitives.ReadUInt16BigEndian(s[2..]),
            BinaryPrimitives.ReadUInt32BigEndian(s[4..]),
            BinaryPrimitives.ReadUInt32BigEndian(s[8..]),
            (TcpFlags)s[13],
            BinaryPrimitives.ReadUInt16BigEndian(s[14..]))
        {
            HeaderLength = headerLength,
            ReservedBits = (byte)(s[12] & 0x0F),
            ChecksumValid = checksumValid,
            UrgentPointer = BinaryPrimitives.ReadUInt16BigEndian(s[18..]),
            Options = memory.Length >= 20 && headerLength > 20 ? memory.Slice(20, Math.Min(headerLength, memory.Length) - 20) : ReadOnlyMemory<byte>.Empty,
        };

    private static Draft DecodeUdp(Draft packet, IpHeader ip, ReadOnlySpan<byte> s, int wire, bool checkable)
    {
        if (s.Length < 8)
            return ShortHeader(packet, "UDP header", s.Length, 8, wire);
        ushort length = BinaryPrimitives.ReadUInt16BigEndian(s[4..]);
        ushort checksum = BinaryPrimitives.ReadUInt16BigEndian(s[6..]);
        // A length field outside 8..segment is malformed (conntrack: INVALID); the header still matches -p udp.
        // A first fragment's length field counts the whole datagram.
        bool lengthOk = length >= 8 && (length <= wire || ip.MoreFragments);
        bool valid = lengthOk && (checksum == 0
            ? ip.Family == Family.IPv4
            : !checkable || InternetChecksum.Transport(ip.Source, ip.Destination, IpProtocol.Udp, s[..length]) == 0);
        int payload = lengthOk && length <= wire ? length - 8 : Math.Max(0, wire - 8);
        var udp = new UdpHeader(BinaryPrimitives.ReadUInt16BigEndian(s), BinaryPrimitives.ReadUInt16BigEndian(s[2..]), length) { ChecksumValid = valid };
        return packet with { Transport = udp, PayloadLength = payload };
    }

    private static Draft DecodeIcmp(Draft packet, IpHeader ip, ReadOnlySpan<byte> s, int wire, bool checkable)
    {
        bool v6 = ip.Family == Family.IPv6;
        string name = v6 ? "ICMPv6" : "ICMP";
        if (s.Length < 8)
            return ShortHeader(packet, name + " header", s.Length, 8, wire);
        var icmp = ReadIcmp(s, v6);
        bool valid = !checkable || (v6
            ? InternetChecksum.Transport(ip.Source, ip.Destination, IpProtocol.Icmpv6, s[..wire])
            : InternetChecksum.Compute(s[..wire])) == 0;
        return packet with { Transport = icmp with { ChecksumValid = valid }, PayloadLength = wire - 8 };
    }

    private static IcmpHeader ReadIcmp(ReadOnlySpan<byte> s, bool v6)
    {
        var icmp = new IcmpHeader(s[0], s[1], v6)
        {
            Identifier = BinaryPrimitives.ReadUInt16BigEndian(s[4..]),
            SequenceNumber = BinaryPrimitives.ReadUInt16BigEndian(s[6..]),
        };
        if (!icmp.IsError)
            return icmp;
        uint mtu = (v6, icmp.Type, icmp.Code) switch
        {
            (true, 2, _) => BinaryPrimitives.ReadUInt32BigEndian(s[4..]),
            (false, 3, 4) => BinaryPrimitives.ReadUInt16BigEndian(s[6..]),
            _ => 0,
        };
        return icmp with { Identifier = 0, SequenceNumber = 0, Mtu = mtu, Quoted = DecodeQuoted(s[8..]) };
    }

    /// <summary>Decodes the packet an ICMP error quotes, as far as its bytes go (the quote is usually cut short).</summary>
    public static QuotedPacket? DecodeQuoted(ReadOnlySpan<byte> quote)
    {
        if (quote.IsEmpty) return null;
        return (quote[0] >> 4) switch
        {
            4 => DecodeQuotedIpv4(quote),
            6 => DecodeQuotedIpv6(quote),
            _ => null,
        };
    }

    private static QuotedPacket? DecodeQuotedIpv4(ReadOnlySpan<byte> q)
    {
        int headerLength = (q[0] & 0x0F) * 4;
        if (q.Length < 20 || headerLength < 20 || q.Length < headerLength) return null;
        var raw = q[..headerLength].ToArray();
        int totalLength = BinaryPrimitives.ReadUInt16BigEndian(q[2..]);
        var ip = ReadIpv4Header(raw, headerLength, totalLength);
        var transport = ip.IsLaterFragment ? null : DecodeQuotedTransport(ip.Protocol, false, q[headerLength..]);
        return new QuotedPacket(ip, transport);
    }

    private static QuotedPacket? DecodeQuotedIpv6(ReadOnlySpan<byte> q)
    {
        if (q.Length < 40) return null;
        var raw = q.ToArray();
        int totalLength = 40 + BinaryPrimitives.ReadUInt16BigEndian(q[4..]);
        var walk = WalkIpv6Extensions(raw, Math.Max(totalLength, raw.Length), lenient: true);
        var ip = ReadIpv6Header(raw, totalLength, walk);
        var transport = ip.IsLaterFragment || walk.Offset > q.Length || IsExtensionHeader(walk.NextHeader)
            ? null
            : DecodeQuotedTransport(walk.NextHeader, true, q[walk.Offset..]);
        return new QuotedPacket(ip, transport);
    }

    /// <summary>The first transport bytes of a quoted packet: ports (and TCP sequence, UDP length, ICMP id) where present.</summary>
    private static TransportHeader? DecodeQuotedTransport(byte protocol, bool v6, ReadOnlySpan<byte> s)
    {
        switch (protocol)
        {
            case IpProtocol.Tcp when s.Length >= 4:
                Span<byte> tcp = stackalloc byte[20];
                s[..Math.Min(20, s.Length)].CopyTo(tcp);
                return ReadTcp(tcp, ReadOnlyMemory<byte>.Empty, 20);
            case IpProtocol.Udp when s.Length >= 4:
                return new UdpHeader(BinaryPrimitives.ReadUInt16BigEndian(s), BinaryPrimitives.ReadUInt16BigEndian(s[2..]),
                    s.Length >= 6 ? BinaryPrimitives.ReadUInt16BigEndian(s[4..]) : (ushort)0);
            case IpProtocol.Icmp when !v6 && s.Length >= 8:
            case IpProtocol.Icmpv6 when v6 && s.Length >= 8:
                return new IcmpHeader(s[0], s[1], v6)
                {
                    Identifier = BinaryPrimitives.ReadUInt16BigEndian(s[4..]),
                    SequenceNumber = BinaryPrimitives.ReadUInt16BigEndian(s[6..]),
                };
            case IpProtocol.Sctp when s.Length >= 8:
                return new SctpHeader(BinaryPrimitives.ReadUInt16BigEndian(s), BinaryPrimitives.ReadUInt16BigEndian(s[2..]),
                    BinaryPrimitives.ReadUInt32BigEndian(s[4..]));
            case IpProtocol.Tcp or IpProtocol.Udp or IpProtocol.Icmp or IpProtocol.Icmpv6 or IpProtocol.Sctp:
                return null;
            default:
                return new OtherTransport(protocol);
        }
    }

    private static Draft DecodeSctp(Draft packet, ReadOnlySpan<byte> s, int wire, bool checkable)
    {
        if (s.Length < 12)
            return ShortHeader(packet, "SCTP common header", s.Length, 12, wire);
        var types = ImmutableArray.CreateBuilder<byte>();
        var flags = ImmutableArray.CreateBuilder<byte>();
        bool malformed = false;
        // The chunk walk of xt_sctp: at least one chunk header, each advancing by its length padded to 4, until the
        // end of the packet. A header past the packet's end or of length 0 ends it as malformed. Past the captured
        // bytes (snapshot length) nothing more is known.
        int offset = 12;
        do
        {
            if (offset + 4 > wire) { malformed = true; break; }
            if (offset + 4 > s.Length) break;
            int length = BinaryPrimitives.ReadUInt16BigEndian(s[(offset + 2)..]);
            if (length == 0) { malformed = true; break; }
            types.Add(s[offset]);
            flags.Add(s[offset + 1]);
            offset += (length + 3) & ~3;
        }
        while (offset < wire);
        bool valid = !checkable || BinaryPrimitives.ReadUInt32LittleEndian(s[8..]) == InternetChecksum.SctpCrc32c(s[..wire]);
        var sctp = new SctpHeader(BinaryPrimitives.ReadUInt16BigEndian(s), BinaryPrimitives.ReadUInt16BigEndian(s[2..]),
            BinaryPrimitives.ReadUInt32BigEndian(s[4..]))
        { ChunkTypes = types.ToImmutable(), ChunkFlags = flags.ToImmutable(), ChunksMalformed = malformed, ChecksumValid = valid };
        return packet with { Transport = sctp, PayloadLength = Math.Max(0, wire - 12) };
    }

    /// <summary>The GRE key (RFC 2890 K bit; for PPTP's enhanced GRE the payload length and call id), or 0.</summary>
    private static uint ReadGreKey(ReadOnlySpan<byte> s)
    {
        if (s.Length < 4) return 0;
        ushort flags = BinaryPrimitives.ReadUInt16BigEndian(s);
        if ((flags & 0x2000) == 0) return 0;
        int offset = (flags & 0xC000) != 0 ? 8 : 4;
        return s.Length >= offset + 4 ? BinaryPrimitives.ReadUInt32BigEndian(s[offset..]) : 0;
    }

    /// <summary>
    /// A transport header shorter than its fixed part: a packet that is that short on the wire reaches netfilter with the
    /// bytes it has (<see cref="Packet.TransportError"/>); one the capture's snapshot length cut cannot be replayed.
    /// </summary>
    private static Draft ShortHeader(Draft packet, string what, int have, int need, int wire) => wire >= need
        ? packet with { DecodeError = Truncated(what, have, need, wire) }
        : packet with { TransportError = Truncated(what, have, need, wire) };

    private static string Truncated(string what, int have, int need, int wire) => wire >= need
        ? Invariant($"{what} cut short by the capture's snapshot length ({have} of {need} bytes captured)")
        : Invariant($"{what} truncated: {wire} bytes, at least {need} needed");

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
