using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Globalization;
using Harness.Net;

namespace Harness.Packets;

/// <summary>
/// Strips a capture's link-layer header (Ethernet with 802.1Q/802.1ad tags, Linux cooked SLL/SLL2, BSD loopback,
/// raw IP, NFLOG), records what it says (MACs, VLAN ids, direction, interface) and decodes the IP packet inside.
/// A frame that carries no IP (ARP, LLC, …) becomes a packet with no <see cref="Packet.Ip"/> and no error.
/// </summary>
public static class LinkLayerDecoder
{
    private const ushort EtherTypeIpv4 = 0x0800;
    private const ushort EtherTypeIpv6 = 0x86DD;

    /// <summary>One captured frame: its bytes, its length on the wire, where and when it was seen.</summary>
    public readonly ref struct Frame(ReadOnlySpan<byte> bytes, int wireLength, long number, Timestamp time, string? interfaceName, PacketDirection direction)
    {
        public ReadOnlySpan<byte> Bytes { get; } = bytes;
        public int WireLength { get; } = wireLength;
        public long Number { get; } = number;
        public Timestamp Time { get; } = time;
        public string? InterfaceName { get; } = interfaceName;
        public PacketDirection Direction { get; } = direction;
    }

    public static Packet Decode(int linkType, Frame frame, CaptureOptions options) => linkType switch
    {
        LinkType.Ethernet => DecodeEthernet(frame),
        LinkType.Raw or LinkType.RawBsd12 or LinkType.RawBsd14 => DecodeIp(frame, 0, null, null),
        LinkType.Ipv4 => DecodeIp(frame, 0, null, EtherTypeIpv4),
        LinkType.Ipv6 => DecodeIp(frame, 0, null, EtherTypeIpv6),
        LinkType.Null => DecodeLoopback(frame, bigEndian: false),
        LinkType.Loop => DecodeLoopback(frame, bigEndian: true),
        LinkType.LinuxSll => DecodeSll(frame),
        LinkType.LinuxSll2 => DecodeSll2(frame, options),
        LinkType.Nflog => DecodeNflog(frame, options),
        _ => Empty(frame) with { DecodeError = Invariant($"link-layer type {linkType} is not supported") },
    };

    private static Packet Empty(Frame frame) => new()
    {
        Number = frame.Number,
        Time = frame.Time,
        Interface = frame.InterfaceName,
        Direction = frame.Direction,
    };

    /// <summary>Decodes the IP packet at <paramref name="offset"/>; <paramref name="etherType"/> (when known) must agree with the IP version.</summary>
    private static Packet DecodeIp(Frame frame, int offset, LinkHeader? link, ushort? etherType,
        string? interfaceName = null, PacketDirection? direction = null)
    {
        var bytes = frame.Bytes[offset..];
        var packet = PacketDecoder.Decode(bytes, frame.Number, frame.Time, interfaceName ?? frame.InterfaceName,
            direction ?? frame.Direction, link, frame.WireLength - offset);
        if (etherType is { } type && bytes.Length > 0)
        {
            int expected = type == EtherTypeIpv4 ? 4 : 6;
            int version = bytes[0] >> 4;
            if (version != expected)
                return packet with { Ip = null, Transport = null, PayloadLength = 0, Raw = ReadOnlyMemory<byte>.Empty,
                    DecodeError = Invariant($"link layer says IPv{expected} but the IP header has version {version}") };
        }
        return packet;
    }

    private static Packet DecodeEthernet(Frame frame)
    {
        var b = frame.Bytes;
        if (b.Length < 14)
            return Empty(frame) with { DecodeError = Invariant($"Ethernet header truncated: {b.Length} of 14 bytes") };
        var destination = MacAddress.FromBytes(b);
        var source = MacAddress.FromBytes(b[6..]);
        var (etherType, offset, vlans, error) = ReadVlanTags(b, 12);
        var link = new LinkHeader(source, destination, vlans, etherType);
        if (error is not null)
            return Empty(frame) with { Link = link, DecodeError = error };
        return IsIp(etherType) ? DecodeIp(frame, offset, link, etherType) : Empty(frame) with { Link = link };
    }

    /// <summary>Reads the EtherType at <paramref name="typeOffset"/>, walking 802.1Q / 802.1ad / QinQ tags.</summary>
    private static (ushort EtherType, int PayloadOffset, ImmutableArray<ushort> Vlans, string? Error) ReadVlanTags(ReadOnlySpan<byte> b, int typeOffset)
    {
        ushort etherType = BinaryPrimitives.ReadUInt16BigEndian(b[typeOffset..]);
        int offset = typeOffset + 2;
        var vlans = ImmutableArray<ushort>.Empty;
        while (etherType is 0x8100 or 0x88A8 or 0x9100)
        {
            if (b.Length < offset + 4)
                return (etherType, offset, vlans, Invariant($"VLAN tag truncated at byte {offset} of the frame"));
            vlans = vlans.Add((ushort)(BinaryPrimitives.ReadUInt16BigEndian(b[offset..]) & 0x0FFF));
            etherType = BinaryPrimitives.ReadUInt16BigEndian(b[(offset + 2)..]);
            offset += 4;
        }
        return (etherType, offset, vlans, null);
    }

    private static bool IsIp(ushort etherType) => etherType is EtherTypeIpv4 or EtherTypeIpv6;

    private static Packet DecodeLoopback(Frame frame, bool bigEndian)
    {
        var b = frame.Bytes;
        if (b.Length < 4)
            return Empty(frame) with { DecodeError = Invariant($"loopback header truncated: {b.Length} of 4 bytes") };
        uint family = bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(b) : BinaryPrimitives.ReadUInt32LittleEndian(b);
        if (!bigEndian && family > 0xFFFF) family = BinaryPrimitives.ReadUInt32BigEndian(b); // written on a big-endian host
        return family switch
        {
            2 => DecodeIp(frame, 4, null, EtherTypeIpv4),
            24 or 28 or 30 => DecodeIp(frame, 4, null, EtherTypeIpv6),
            _ => Empty(frame) with { DecodeError = Invariant($"loopback address family {family} is neither IPv4 nor IPv6: not an IP packet") },
        };
    }

    /// <summary>Linux cooked v1: packet type, ARPHRD type, address, protocol. No interface; packet type 4 (outgoing) means Outbound.</summary>
    private static Packet DecodeSll(Frame frame)
    {
        var b = frame.Bytes;
        if (b.Length < 16)
            return Empty(frame) with { DecodeError = Invariant($"Linux cooked (SLL) header truncated: {b.Length} of 16 bytes") };
        ushort packetType = BinaryPrimitives.ReadUInt16BigEndian(b);
        ushort hardwareType = BinaryPrimitives.ReadUInt16BigEndian(b[2..]);
        int addressLength = BinaryPrimitives.ReadUInt16BigEndian(b[4..]);
        return DecodeCooked(frame, b, 14, 16, packetType, hardwareType, addressLength, b.Slice(6, 8), frame.InterfaceName);
    }

    /// <summary>Linux cooked v2: adds the interface index (named through <see cref="CaptureOptions.InterfaceNamesByIndex"/>).</summary>
    private static Packet DecodeSll2(Frame frame, CaptureOptions options)
    {
        var b = frame.Bytes;
        if (b.Length < 20)
            return Empty(frame) with { DecodeError = Invariant($"Linux cooked (SLL2) header truncated: {b.Length} of 20 bytes") };
        int index = BinaryPrimitives.ReadInt32BigEndian(b[4..]);
        ushort hardwareType = BinaryPrimitives.ReadUInt16BigEndian(b[8..]);
        byte packetType = b[10];
        byte addressLength = b[11];
        return DecodeCooked(frame, b, 0, 20, packetType, hardwareType, addressLength, b.Slice(12, 8), options.NameOfIndex(index) ?? frame.InterfaceName);
    }

    private static Packet DecodeCooked(Frame frame, ReadOnlySpan<byte> b, int protocolOffset, int headerLength,
        int packetType, ushort hardwareType, int addressLength, ReadOnlySpan<byte> address, string? interfaceName)
    {
        var direction = packetType == 4 ? PacketDirection.Outbound : PacketDirection.Inbound;
        ushort protocol = BinaryPrimitives.ReadUInt16BigEndian(b[protocolOffset..]);
        // The cooked header keeps only the source address; the destination is implied by the packet type.
        var source = hardwareType == 1 && addressLength == 6 ? MacAddress.FromBytes(address) : default;
        var destination = packetType switch
        {
            1 => new MacAddress(0xFFFF_FFFF_FFFF),
            2 => new MacAddress(protocol == EtherTypeIpv6 ? 0x3333_0000_0000UL : 0x0100_5E00_0000UL),
            _ => default,
        };
        var vlans = ImmutableArray<ushort>.Empty;
        int offset = headerLength;
        if (protocol is 0x8100 or 0x88A8 or 0x9100 && b.Length >= headerLength + 4)
        {
            // The tag follows the cooked header: walk it as an Ethernet tag stack whose first EtherType is the protocol field.
            vlans = vlans.Add((ushort)(BinaryPrimitives.ReadUInt16BigEndian(b[headerLength..]) & 0x0FFF));
            protocol = BinaryPrimitives.ReadUInt16BigEndian(b[(headerLength + 2)..]);
            offset += 4;
        }
        var link = hardwareType == 1 ? new LinkHeader(source, destination, vlans, protocol) : null;
        var empty = Empty(frame) with { Link = link, Interface = interfaceName, Direction = direction };
        return IsIp(protocol) ? DecodeIp(frame, offset, link, protocol, interfaceName, direction) : empty;
    }

    /// <summary>NFLOG: a 4-byte header then TLVs (length and type in the logging host's byte order); the payload TLV (9) is the IP packet.</summary>
    private static Packet DecodeNflog(Frame frame, CaptureOptions options)
    {
        var b = frame.Bytes;
        if (b.Length < 4)
            return Empty(frame) with { DecodeError = Invariant($"NFLOG header truncated: {b.Length} of 4 bytes") };
        byte family = b[0];
        int offset = 4;
        int payloadOffset = -1, payloadLength = 0;
        string? interfaceName = null;
        var direction = PacketDirection.Unknown;
        while (offset + 4 <= b.Length)
        {
            int length = BinaryPrimitives.ReadUInt16LittleEndian(b[offset..]);
            int type = BinaryPrimitives.ReadUInt16LittleEndian(b[(offset + 2)..]);
            if (length < 4 || offset + length > b.Length)
            {
                length = BinaryPrimitives.ReadUInt16BigEndian(b[offset..]);
                type = BinaryPrimitives.ReadUInt16BigEndian(b[(offset + 2)..]);
                if (length < 4 || offset + length > b.Length)
                    return Empty(frame) with { DecodeError = Invariant($"NFLOG TLV at byte {offset} has a bad length") };
            }
            var value = b.Slice(offset + 4, length - 4);
            switch (type)
            {
                case 9:
                    payloadOffset = offset + 4;
                    payloadLength = length - 4;
                    break;
                case 4 when value.Length >= 4:
                    interfaceName = options.NameOfIndex(BinaryPrimitives.ReadInt32BigEndian(value));
                    direction = PacketDirection.Inbound;
                    break;
                case 5 when value.Length >= 4 && direction == PacketDirection.Unknown:
                    interfaceName = options.NameOfIndex(BinaryPrimitives.ReadInt32BigEndian(value));
                    direction = PacketDirection.Outbound;
                    break;
            }
            offset += (length + 3) & ~3;
        }
        if (payloadOffset < 0)
            return Empty(frame) with { DecodeError = "NFLOG record has no payload TLV" };
        var inner = new Frame(b.Slice(payloadOffset, payloadLength), payloadLength, frame.Number, frame.Time,
            interfaceName ?? frame.InterfaceName, direction);
        ushort? etherType = family switch { 2 => EtherTypeIpv4, 10 => EtherTypeIpv6, _ => null };
        return DecodeIp(inner, 0, null, etherType);
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
