using System.Buffers.Binary;
using Harness.Net;

namespace Harness.Packets.Tests;

/// <summary>The SCTP chunk walk (types, flags, where it breaks) and the IPv6 routing header fields the decoder exposes.</summary>
public sealed class SctpChunkAndRoutingHeaderTests
{
    private static readonly IpHeader V4Sctp = new()
    {
        Family = Family.IPv4, Source = Address.Parse("10.0.0.1"), Destination = Address.Parse("10.0.0.2"), Protocol = IpProtocol.Sctp,
        Ttl = 64, TotalLength = 0, HeaderLength = 0,
    };

    /// <summary>Chunk headers (type, flags, length field) each followed by the padded body the length says.</summary>
    private static byte[] Chunks(params (byte Type, byte Flags, ushort Length)[] chunks)
    {
        var bytes = new List<byte>();
        foreach (var (type, flags, length) in chunks)
        {
            bytes.AddRange([type, flags, (byte)(length >> 8), (byte)length]);
            int padded = Math.Max(4, (length + 3) & ~3);
            bytes.AddRange(new byte[padded - 4]);
        }
        return [.. bytes];
    }

    private static SctpHeader Sctp(byte[] chunks)
    {
        var packet = PacketDecoder.Decode(PacketBuilder.Build(V4Sctp, new SctpHeader(5000, 6000, 1), chunks), 1, default);
        Assert.Null(packet.DecodeError);
        return Assert.IsType<SctpHeader>(packet.Transport);
    }

    [Fact]
    public void Chunk_types_and_flags_are_listed_in_order()
    {
        // DATA with B and E (17 bytes, padded to 20), then a SACK.
        var sctp = Sctp(Chunks((0, 0x03, 17), (3, 0, 16)));
        Assert.Equal([0, 3], sctp.ChunkTypes.ToArray());
        Assert.Equal([0x03, 0x00], sctp.ChunkFlags.ToArray());
        Assert.False(sctp.ChunksMalformed);
        Assert.True(sctp.ChecksumValid);
    }

    [Fact]
    public void A_chunk_length_below_four_advances_by_four_as_the_kernel_does()
    {
        var sctp = Sctp(Chunks((6, 0x01, 2), (1, 0, 20)));
        Assert.Equal([6, 1], sctp.ChunkTypes.ToArray());
        Assert.Equal([0x01, 0x00], sctp.ChunkFlags.ToArray());
        Assert.False(sctp.ChunksMalformed);
    }

    [Fact]
    public void Zero_length_chunk_missing_chunks_and_a_cut_chunk_header_are_malformed()
    {
        var zero = Sctp(Chunks((0, 0x02, 20), (3, 0, 0)));
        Assert.Equal([0], zero.ChunkTypes.ToArray());
        Assert.True(zero.ChunksMalformed);

        var none = Sctp([]);
        Assert.Empty(none.ChunkTypes);
        Assert.True(none.ChunksMalformed);

        var cut = Sctp([.. Chunks((0, 0x03, 20)), 3, 0]);
        Assert.Equal([0], cut.ChunkTypes.ToArray());
        Assert.True(cut.ChunksMalformed);
    }

    /// <summary>IPv6 2001:db8::1 → 2001:db8::2 with an optional hop-by-hop header, a routing header, then no next header.</summary>
    internal static byte[] Ipv6WithRouting(byte type, byte segmentsLeft, uint reserved, string[] addresses, bool hopByHop = false)
    {
        int rh = 8 + 16 * addresses.Length;
        int hbh = hopByHop ? 8 : 0;
        var b = new byte[40 + hbh + rh];
        BinaryPrimitives.WriteUInt32BigEndian(b, 6u << 28);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(4), (ushort)(hbh + rh));
        b[6] = hopByHop ? IpProtocol.HopByHop : IpProtocol.Ipv6Route;
        b[7] = 64;
        Address.Parse("2001:db8::1").WriteBytes(b.AsSpan(8));
        Address.Parse("2001:db8::2").WriteBytes(b.AsSpan(24));
        if (hopByHop) { b[40] = IpProtocol.Ipv6Route; b[42] = 1; b[43] = 4; } // PadN of 4
        var r = b.AsSpan(40 + hbh);
        r[0] = IpProtocol.Ipv6NoNext;
        r[1] = (byte)(2 * addresses.Length);
        r[2] = type;
        r[3] = segmentsLeft;
        BinaryPrimitives.WriteUInt32BigEndian(r[4..], reserved);
        for (int i = 0; i < addresses.Length; i++) Address.Parse(addresses[i]).WriteBytes(r[(8 + 16 * i)..]);
        return b;
    }

    [Fact]
    public void The_first_routing_header_is_exposed_with_its_fields_and_addresses()
    {
        var packet = PacketDecoder.Decode(Ipv6WithRouting(0, 2, 0x0000_00FF, ["2001:db8::a", "2001:db8::b"], hopByHop: true), 1, default);
        Assert.Null(packet.DecodeError);
        Assert.Equal([IpProtocol.HopByHop, IpProtocol.Ipv6Route], packet.Ip!.ExtensionHeaders.ToArray());
        var rh = packet.Ip.RoutingHeader!;
        Assert.Equal((0, 2, 40, 0xFFu), (rh.Type, rh.SegmentsLeft, rh.Length, rh.Reserved));
        Assert.Equal([Address.Parse("2001:db8::a"), Address.Parse("2001:db8::b")], rh.Addresses.ToArray());

        var type2 = PacketDecoder.Decode(Ipv6WithRouting(2, 1, 0, ["2001:db8::c"]), 1, default).Ip!.RoutingHeader!;
        Assert.Equal((2, 1, 24), (type2.Type, type2.SegmentsLeft, type2.Length));

        var plain = PacketDecoder.Decode(PacketBuilder.Build(new IpHeader
        {
            Family = Family.IPv6, Source = Address.Parse("2001:db8::1"), Destination = Address.Parse("2001:db8::2"),
            Protocol = IpProtocol.Udp, Ttl = 64, TotalLength = 0, HeaderLength = 0,
        }, new UdpHeader(1, 2, 0), new byte[4]), 1, default);
        Assert.Null(plain.Ip!.RoutingHeader);
    }
}
