using System.Buffers.Binary;
using Harness.Net;

namespace Harness.Packets.Tests;

public sealed class DecoderTests
{
    private static IpHeader V4(byte protocol, byte[]? options = null) => new()
    {
        Family = Family.IPv4, Source = Address.Parse("10.0.0.1"), Destination = Address.Parse("10.0.0.2"), Protocol = protocol,
        Ttl = 9, Tos = 0x2E, Id = 4242, MoreFragments = false, TotalLength = 0, HeaderLength = 0, Options = options,
    };

    [Fact]
    public void Ipv4OptionsAndHeaderFieldsDecode()
    {
        var bytes = PacketBuilder.Build(V4(IpProtocol.Udp, [0x94, 0x04, 0x00, 0x00]), new UdpHeader(1, 2, 0), new byte[3]);
        var packet = PacketDecoder.Decode(bytes, 1, default);
        Assert.Equal(24, packet.Ip!.HeaderLength);
        Assert.Equal([0x94, 0x04, 0x00, 0x00], packet.Ip.Options.ToArray());
        Assert.Equal(0x2E, packet.Ip.Tos);
        Assert.Equal(9, packet.Ip.Ttl);
        Assert.Equal(4242u, packet.Ip.Id);
        Assert.Equal(3, packet.PayloadLength);
        Assert.True(packet.Transport!.ChecksumValid);

        bytes[10] ^= 0xFF;
        Assert.False(PacketDecoder.Decode(bytes, 1, default).Ip!.HeaderChecksumValid);
    }

    [Fact]
    public void SctpPortsChunksAndCrc32c()
    {
        // INIT chunk (type 1, 20 bytes) then a COOKIE ECHO (type 10, 8 bytes).
        var chunks = new byte[28];
        chunks[0] = 1;
        BinaryPrimitives.WriteUInt16BigEndian(chunks.AsSpan(2), 20);
        chunks[20] = 10;
        BinaryPrimitives.WriteUInt16BigEndian(chunks.AsSpan(22), 8);
        var bytes = PacketBuilder.Build(V4(IpProtocol.Sctp), new SctpHeader(5000, 36412, 0xDEADBEEF), chunks);
        var packet = PacketDecoder.Decode(bytes, 1, default);
        var sctp = Assert.IsType<SctpHeader>(packet.Transport);
        Assert.Equal((ushort)36412, sctp.DestinationPort);
        Assert.Equal(0xDEADBEEFu, sctp.VerificationTag);
        Assert.Equal([1, 10], sctp.ChunkTypes.ToArray());
        Assert.True(sctp.ChecksumValid);
        bytes[^1] ^= 1;
        Assert.False(PacketDecoder.Decode(bytes, 1, default).Transport!.ChecksumValid);
    }

    [Fact]
    public void GreKeyIsRead()
    {
        var gre = new byte[12];
        BinaryPrimitives.WriteUInt16BigEndian(gre, 0x2000); // K bit
        BinaryPrimitives.WriteUInt16BigEndian(gre.AsSpan(2), 0x0800);
        BinaryPrimitives.WriteUInt32BigEndian(gre.AsSpan(4), 0x01020304);
        var packet = PacketDecoder.Decode(PacketBuilder.Build(V4(IpProtocol.Gre), null, gre), 1, default);
        var other = Assert.IsType<OtherTransport>(packet.Transport);
        Assert.Equal(IpProtocol.Gre, other.Protocol);
        Assert.Equal(0x01020304u, other.Key);
    }

    [Fact]
    public void LaterFragmentsHaveNoTransportAndSnaplenCutsAreNotErrors()
    {
        var whole = PacketBuilder.Build(V4(IpProtocol.Udp) with { FragmentOffset = 1480, MoreFragments = true }, null, new byte[100]);
        var later = PacketDecoder.Decode(whole, 1, default);
        Assert.True(later.Ip!.IsLaterFragment);
        Assert.Null(later.Transport);
        Assert.Null(later.DecodeError);

        var tcp = PacketBuilder.Build(V4(IpProtocol.Tcp), new TcpHeader(1, 2, 3, 4, TcpFlags.Ack, 5), new byte[1000]);
        var cut = PacketDecoder.Decode(tcp.AsSpan(0, 68), 1, default, wireLength: tcp.Length);
        Assert.Null(cut.DecodeError);
        Assert.Equal(1000, cut.PayloadLength);
        Assert.True(cut.Transport!.ChecksumValid); // cannot be checked: counted as valid
        Assert.Equal(68, cut.Raw.Length);
        Assert.Equal(tcp.Length, cut.Ip!.TotalLength);
    }

    [Fact]
    public void Ipv6ExtensionHeadersAreWalkedToTheUpperLayer()
    {
        var udp = PacketBuilder.Build(new IpHeader
        {
            Family = Family.IPv6, Source = Address.Parse("2001:db8::1"), Destination = Address.Parse("2001:db8::2"), Protocol = IpProtocol.Udp,
            Ttl = 64, TotalLength = 0, HeaderLength = 0,
        }, new UdpHeader(7, 9, 0), new byte[4]);
        // Insert a hop-by-hop header (8 bytes, PadN) and a fragment header (offset 0, more fragments) before UDP.
        var bytes = new byte[udp.Length + 16];
        udp.AsSpan(0, 40).CopyTo(bytes);
        bytes[6] = IpProtocol.HopByHop;
        bytes[40] = IpProtocol.Ipv6Frag; bytes[41] = 0; bytes[42] = 1; bytes[43] = 4;
        bytes[48] = IpProtocol.Udp; BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(50), 1); BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(52), 77);
        udp.AsSpan(40).CopyTo(bytes.AsSpan(56));
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(4), (ushort)(bytes.Length - 40));
        var packet = PacketDecoder.Decode(bytes, 1, default);
        Assert.Null(packet.DecodeError);
        Assert.Equal(IpProtocol.Udp, packet.Ip!.Protocol);
        Assert.Equal([IpProtocol.HopByHop, IpProtocol.Ipv6Frag], packet.Ip.ExtensionHeaders.ToArray());
        Assert.Equal(56, packet.Ip.HeaderLength);
        Assert.True(packet.Ip.MoreFragments);
        Assert.Equal(77u, packet.Ip.Id);
        Assert.Equal((ushort)9, ((UdpHeader)packet.Transport!).DestinationPort);

        // The rebuilt packet keeps the extension headers and rewrites the fixed header.
        var rebuilt = PacketBuilder.Rebuild(packet with { Ip = packet.Ip with { Ttl = 3 } });
        Assert.Equal(3, rebuilt.Ip!.Ttl);
        Assert.Equal(packet.Ip.ExtensionHeaders.ToArray(), rebuilt.Ip.ExtensionHeaders.ToArray());
    }

    [Fact]
    public void CookedCapturesGiveDirectionAndMappedInterface()
    {
        var root = ExternalTools.RealPcaps(out _);
        if (root is null) return;
        var map = new Dictionary<int, string> { [1] = "lo" };
        var sll2 = CaptureReader.Read(Path.Combine(root, "zeek/linux_dlt_sll2.pcap"), new CaptureOptions("eth0", map)).ToList();
        Assert.Equal("lo", sll2[0].Interface);
        Assert.Equal(PacketDirection.Inbound, sll2[0].Direction);
        Assert.Equal(PacketDirection.Outbound, sll2[^1].Direction);
        var plain = CaptureReader.Read(Path.Combine(root, "zeek/tcp_options.pcap"), new CaptureOptions("wan0")).First();
        Assert.Equal("wan0", plain.Interface);
        Assert.Equal(PacketDirection.Unknown, plain.Direction);
        var ext = CaptureReader.Read(Path.Combine(root, "zeek/icmp_icmp6-destunreach-ip6ext-udp.pcap")).Single();
        var quoted = ((IcmpHeader)ext.Transport!).Quoted!;
        Assert.False(quoted.Ip.ExtensionHeaders.IsDefaultOrEmpty);
        Assert.IsType<UdpHeader>(quoted.Transport);
    }
}
