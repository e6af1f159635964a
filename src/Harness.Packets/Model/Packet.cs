using System.Collections.Immutable;
using Harness.Net;

namespace Harness.Packets;

/// <summary>Which way a capture saw a packet go, where the capture says so.</summary>
public enum PacketDirection
{
    Unknown,
    Inbound,
    Outbound,
}

/// <summary>
/// One decoded packet: what netfilter looks at. Immutable; the engine makes rewritten copies with "with".
/// <see cref="Raw"/> holds the bytes from the network layer on (no link header), as the kernel's skb sees them at
/// the IP hooks; <see cref="Link"/> keeps the link layer fields netfilter can match on (mac, vlan).
/// </summary>
public sealed record Packet
{
    /// <summary>1-based number in the capture (or in the generated traffic).</summary>
    public required long Number { get; init; }

    public required Timestamp Time { get; init; }

    /// <summary>Interface it arrived on (or left by, for <see cref="PacketDirection.Outbound"/>), null when the capture does not say.</summary>
    public string? Interface { get; init; }

    public PacketDirection Direction { get; init; }

    public LinkHeader? Link { get; init; }

    /// <summary>Null when the frame carries no IP packet (ARP, …) or could not be decoded; see <see cref="DecodeError"/>.</summary>
    public IpHeader? Ip { get; init; }

    /// <summary>TCP, UDP, ICMP, ICMPv6, SCTP, or null for other protocols, non-first fragments and decode errors.</summary>
    public TransportHeader? Transport { get; init; }

    /// <summary>Length in bytes of the transport payload (TCP/UDP data), 0 where there is none.</summary>
    public int PayloadLength { get; init; }

    /// <summary>The network-layer bytes (IP header on), exactly as captured. Empty when there is no IP layer.</summary>
    public ReadOnlyMemory<byte> Raw { get; init; }

    /// <summary>Why the frame could not be decoded (the kernel would drop it too), or null.</summary>
    public string? DecodeError { get; init; }

    /// <summary>
    /// Why the transport header is short or inconsistent while the IP header is sound (a TCP, UDP, ICMP/ICMPv6 or SCTP
    /// header shorter than its fixed part, a TCP data offset below 20 or past the segment), or null. The kernel's IP
    /// layer passes such a packet on to netfilter (conntrack calls it invalid; rules that need the header find it
    /// missing), so it is not a <see cref="DecodeError"/>. <see cref="Transport"/> is null when the fixed header is
    /// incomplete, and set (with the bogus <see cref="TcpHeader.HeaderLength"/>) when only the TCP data offset is wrong;
    /// <see cref="TransportBytes"/> holds what there is.
    /// </summary>
    public string? TransportError { get; init; }

    /// <summary>The bytes after the IP header (and IPv6 extension headers), as far as they were captured; empty without an IP header.</summary>
    public ReadOnlySpan<byte> TransportBytes() =>
        Ip is { } ip && Raw.Length >= ip.HeaderLength ? Raw.Span[ip.HeaderLength..] : ReadOnlySpan<byte>.Empty;
}

/// <summary>Ethernet (or cooked) link fields: addresses, VLAN tags outermost first, the EtherType of the payload.</summary>
public sealed record LinkHeader(MacAddress Source, MacAddress Destination, ImmutableArray<ushort> VlanIds, ushort EtherType)
{
    /// <summary>The kernel's packet type as -m pkttype sees it, from the destination MAC.</summary>
    public string PacketType => Destination.IsBroadcast ? "broadcast" : Destination.IsMulticast ? "multicast" : "unicast";
}

/// <summary>IPv4 or IPv6 header fields. For IPv6, <see cref="Protocol"/> is the upper-layer protocol after extension headers.</summary>
public sealed record IpHeader
{
    public required Family Family { get; init; }
    public required Address Source { get; init; }
    public required Address Destination { get; init; }

    /// <summary>Upper-layer protocol number (after IPv6 extension headers).</summary>
    public required byte Protocol { get; init; }

    /// <summary>TTL (IPv4) or hop limit (IPv6).</summary>
    public required byte Ttl { get; init; }

    /// <summary>TOS byte (IPv4) or traffic class (IPv6): DSCP in the top six bits, ECN in the low two.</summary>
    public byte Tos { get; init; }

    /// <summary>Total length of the IP packet in bytes (IPv6: payload length + 40), what -m length and LOG's LEN= see.</summary>
    public required int TotalLength { get; init; }

    /// <summary>Header length in bytes (IPv4 with options; IPv6 40 plus extension headers).</summary>
    public required int HeaderLength { get; init; }

    /// <summary>IPv4 identification, or the IPv6 fragment header's identification (0 when none).</summary>
    public uint Id { get; init; }

    public bool DontFragment { get; init; }
    public bool MoreFragments { get; init; }

    /// <summary>The reserved IPv4 flag bit (0x8000 of the fragment field; the kernel's IP_CE, "CE" in LOG lines).</summary>
    public bool ReservedFlag { get; init; }

    /// <summary>Fragment offset in bytes (0 for the first or only fragment).</summary>
    public int FragmentOffset { get; init; }

    /// <summary>IPv6 flow label.</summary>
    public uint FlowLabel { get; init; }

    /// <summary>IPv4 options bytes (empty when none).</summary>
    public ReadOnlyMemory<byte> Options { get; init; }

    /// <summary>IPv6 extension headers in order (next-header numbers), empty for IPv4.</summary>
    public ImmutableArray<byte> ExtensionHeaders { get; init; } = ImmutableArray<byte>.Empty;

    /// <summary>The first IPv6 routing header (what ip6tables -m rt finds), or null when there is none.</summary>
    public Ipv6RoutingHeader? RoutingHeader { get; init; }

    /// <summary>
    /// The first IPv6 extension header (other than a leading hop-by-hop one, which the IP layer checks) that is cut short
    /// or runs past the payload, or null. The kernel passes such a packet to netfilter; it is not in
    /// <see cref="ExtensionHeaders"/>, and <see cref="Packet.TransportError"/> says what is wrong.
    /// </summary>
    public byte? CutExtensionHeader { get; init; }

    /// <summary>
    /// True when the kernel's walk past the extension headers (ipv6_skip_exthdr: 2 bytes of each header, 4 of a fragment
    /// header) meets a header it cannot read: no upper-layer protocol (conntrack has no tuple); <see cref="Protocol"/> is
    /// then the unreadable header's number.
    /// </summary>
    public bool ExtensionWalkFailed { get; init; }

    private readonly short _metaL4Protocol = -2;

    /// <summary>
    /// What iptables-nft's <c>-p</c> (nft meta l4proto) compares: for IPv6 the protocol ipv6_find_hdr finds, stopping at
    /// an AH header (51), or -1 when that walk meets a header it cannot read (a routing header needs 4 bytes); then no
    /// <c>-p</c> rule matches, negated or not. Defaults to <see cref="Protocol"/>.
    /// </summary>
    public int MetaL4Protocol
    {
        get => _metaL4Protocol == -2 ? Protocol : _metaL4Protocol;
        init => _metaL4Protocol = (short)value;
    }

    private readonly short _legacyL4Protocol = -2;

    /// <summary>
    /// What iptables-legacy's <c>-p</c> (ip6_tables' ip6_packet_match) compares: for IPv6 the protocol ipv6_find_hdr finds
    /// without stopping at AH (so an AH+TCP packet is TCP), or -1 when that walk fails: a header it cannot read (2 bytes,
    /// 4 of a routing or fragment header), or a later fragment whose fragment header names another extension header.
    /// Then every <c>-p</c> rule drops the packet (hotdrop). Defaults to <see cref="Protocol"/>.
    /// </summary>
    public int LegacyL4Protocol
    {
        get => _legacyL4Protocol == -2 ? Protocol : _legacyL4Protocol;
        init => _legacyL4Protocol = (short)value;
    }

    /// <summary>False when the IPv4 header checksum is wrong (the kernel drops it before netfilter).</summary>
    public bool HeaderChecksumValid { get; init; } = true;

    /// <summary>True for a non-first fragment: no transport header to look at (what -f matches for IPv4).</summary>
    public bool IsLaterFragment => FragmentOffset != 0;

    public bool IsFragment => MoreFragments || FragmentOffset != 0;
}

/// <summary>
/// An IPv6 routing header's fields: <see cref="Length"/> in bytes ((hdr ext len + 1) × 8), the 32 bits after
/// segments left (type 0's reserved field) and the 16-byte addresses from byte 8 on, as many as the length holds
/// (type 0's address list; as far as the capture has them).
/// </summary>
public sealed record Ipv6RoutingHeader(byte Type, byte SegmentsLeft, int Length, uint Reserved, ImmutableArray<Address> Addresses);

/// <summary>The transport header: one subtype per protocol.</summary>
public abstract record TransportHeader
{
    /// <summary>False when the transport checksum is wrong (conntrack then calls the packet INVALID).</summary>
    public bool ChecksumValid { get; init; } = true;
}

public sealed record TcpHeader(ushort SourcePort, ushort DestinationPort, uint Sequence, uint Acknowledgment, TcpFlags Flags, ushort Window) : TransportHeader
{
    /// <summary>The low four bits of byte 12: three reserved bits and the AE (AccECN) flag, as on the wire.</summary>
    public byte ReservedBits { get; init; }

    /// <summary>Header length in bytes (20 plus options).</summary>
    public int HeaderLength { get; init; } = 20;

    /// <summary>The raw option bytes (between byte 20 and the data offset).</summary>
    public ReadOnlyMemory<byte> Options { get; init; }

    public ushort UrgentPointer { get; init; }
}

public sealed record UdpHeader(ushort SourcePort, ushort DestinationPort, ushort Length) : TransportHeader;

public sealed record SctpHeader(ushort SourcePort, ushort DestinationPort, uint VerificationTag) : TransportHeader
{
    /// <summary>Chunk types in order, for -m sctp --chunk-types.</summary>
    public ImmutableArray<byte> ChunkTypes { get; init; } = ImmutableArray<byte>.Empty;

    /// <summary>Each chunk's flags byte, in the order of <see cref="ChunkTypes"/> (same length).</summary>
    public ImmutableArray<byte> ChunkFlags { get; init; } = ImmutableArray<byte>.Empty;

    /// <summary>
    /// True when walking the chunks (as xt_sctp does: 4-byte-padded lengths until the end of the packet) met a chunk
    /// header with length 0 or cut short by the end of the packet; the chunks before it are listed.
    /// </summary>
    public bool ChunksMalformed { get; init; }
}

/// <summary>
/// ICMP or ICMPv6 (<see cref="IsV6"/>). Echo request/reply carry <see cref="Identifier"/> and <see cref="SequenceNumber"/>;
/// errors carry the offending packet's headers in <see cref="Quoted"/>.
/// </summary>
public sealed record IcmpHeader(byte Type, byte Code, bool IsV6) : TransportHeader
{
    public ushort Identifier { get; init; }
    public ushort SequenceNumber { get; init; }

    /// <summary>For errors: the quoted packet's IP header and first transport bytes, decoded as far as they go.</summary>
    public QuotedPacket? Quoted { get; init; }

    /// <summary>For "fragmentation needed" / "packet too big": the next-hop MTU.</summary>
    public uint Mtu { get; init; }

    public bool IsError => IsV6 ? Type < 128 : Type is 3 or 4 or 5 or 11 or 12;
}

/// <summary>The headers an ICMP error quotes (IP header plus at least the first 8 bytes of the transport header).</summary>
public sealed record QuotedPacket(IpHeader Ip, TransportHeader? Transport);

/// <summary>A protocol the model knows only by number (GRE, ESP, AH, …), with the ports-free fields the kernel uses.</summary>
public sealed record OtherTransport(byte Protocol) : TransportHeader
{
    /// <summary>For GRE: the key field when present (conntrack's pptp/gre keys), else 0.</summary>
    public uint Key { get; init; }
}
