using System.Buffers.Binary;
using Harness.Net;
using Xunit.Abstractions;

namespace Harness.Packets.Tests;

public sealed class PacketBuilderTests(ITestOutputHelper output)
{
    private static readonly Address Client = Address.Parse("192.168.1.10");
    private static readonly Address Server = Address.Parse("203.0.113.5");
    private static readonly Address Client6 = Address.Parse("2001:db8:1::10");
    private static readonly Address Server6 = Address.Parse("2001:db8:ffff::5");

    internal static Packet Tcp(Address source, Address destination, TcpFlags flags, uint sequence, uint ack, int payload, ushort id = 1234) =>
        PacketBuilder.Create(1, new Timestamp(1_700_000_000_000_000_000), new IpHeader
        {
            Family = source.Family, Source = source, Destination = destination, Protocol = IpProtocol.Tcp, Ttl = 64,
            Id = source.Family == Family.IPv4 ? id : 0u, DontFragment = source.Family == Family.IPv4, TotalLength = 0, HeaderLength = 0,
        }, new TcpHeader(40000, 80, sequence, ack, flags, 502) { Options = new byte[] { 1, 1, 4, 2 } }, Filler(payload), "eth0", PacketDirection.Inbound);

    internal static Packet Udp(Address source, Address destination, int payload) =>
        PacketBuilder.Create(2, new Timestamp(1_700_000_000_000_000_000), new IpHeader
        {
            Family = source.Family, Source = source, Destination = destination, Protocol = IpProtocol.Udp, Ttl = 64,
            Id = source.Family == Family.IPv4 ? 77u : 0u, TotalLength = 0, HeaderLength = 0,
        }, new UdpHeader(53000, 53, 0), Filler(payload), "eth0", PacketDirection.Inbound);

    private static byte[] Filler(int length) => Enumerable.Range(0, length).Select(i => (byte)(i * 7)).ToArray();

    [Fact]
    public void BuiltPacketsDecodeToTheirFieldsWithValidChecksums()
    {
        foreach (var packet in new[] { Tcp(Client, Server, TcpFlags.Syn, 1000, 0, 0), Tcp(Client6, Server6, TcpFlags.Ack | TcpFlags.Psh, 5, 9, 300),
                     Udp(Client, Server, 40), Udp(Client6, Server6, 40) })
        {
            Assert.Null(packet.DecodeError);
            Assert.True(packet.Ip!.HeaderChecksumValid);
            Assert.True(packet.Transport!.ChecksumValid);
            Assert.Equal(packet.Raw.Length, packet.Ip.TotalLength);
        }
        var tcp = Tcp(Client, Server, TcpFlags.Ack, 5, 9, 300);
        Assert.Equal(300, tcp.PayloadLength);
        Assert.Equal(24, ((TcpHeader)tcp.Transport!).HeaderLength);
        Assert.Equal(1234u, tcp.Ip!.Id);
    }

    [Fact]
    public void TheReservedIpv4FlagIsWrittenAndRead()
    {
        var udp = Udp(Client, Server, 8);
        Assert.False(udp.Ip!.ReservedFlag);
        var flagged = PacketBuilder.Rebuild(udp with { Ip = udp.Ip with { ReservedFlag = true } });
        Assert.Equal(0x80, flagged.Raw.Span[6] & 0x80);
        Assert.True(flagged.Ip!.ReservedFlag);
        Assert.True(flagged.Ip.HeaderChecksumValid);
    }

    [Fact]
    public void TheTcpReservedBitsAndAeAreWrittenAndRead()
    {
        var tcp = Tcp(Client, Server, TcpFlags.Syn, 1, 0, 0);
        Assert.Equal(0, ((TcpHeader)tcp.Transport!).ReservedBits);
        var odd = PacketBuilder.Rebuild(tcp with { Transport = ((TcpHeader)tcp.Transport) with { ReservedBits = 0x0B } });
        Assert.Equal(0x6B, odd.Raw.Span[20 + 12]); // data offset 6 (24 bytes), then 1011
        Assert.Equal(0x0B, ((TcpHeader)odd.Transport!).ReservedBits);
        Assert.True(odd.Transport.ChecksumValid);
    }

    [Fact]
    public void RebuildAfterNatRewriteKeepsPayloadAndFixesChecksums()
    {
        var original = Tcp(Client, Server, TcpFlags.Ack | TcpFlags.Psh, 5, 9, 300);
        var rewritten = original with
        {
            Ip = original.Ip! with { Source = Address.Parse("198.51.100.1"), Ttl = 63, Tos = 0x10 },
            Transport = ((TcpHeader)original.Transport!) with { SourcePort = 61000 },
        };
        var rebuilt = PacketBuilder.Rebuild(rewritten);
        Assert.Equal(Address.Parse("198.51.100.1"), rebuilt.Ip!.Source);
        Assert.Equal(63, rebuilt.Ip.Ttl);
        Assert.Equal(0x10, rebuilt.Ip.Tos);
        Assert.Equal(61000, ((TcpHeader)rebuilt.Transport!).SourcePort);
        Assert.True(rebuilt.Ip.HeaderChecksumValid);
        Assert.True(rebuilt.Transport.ChecksumValid);
        Assert.Equal(original.Raw[^300..].ToArray(), rebuilt.Raw[^300..].ToArray());
        Assert.Equal(original.Number, rebuilt.Number);
        Assert.Equal(original.Interface, rebuilt.Interface);
        // Unchanged fields serialize to the very same bytes.
        Assert.Equal(original.Raw.ToArray(), PacketBuilder.Serialize(original));
    }

    [Fact]
    public void AWrongTransportChecksumStaysWrongByTheSameAmount()
    {
        foreach (var original in new[] { Tcp(Client, Server, TcpFlags.Ack, 5, 9, 50), Tcp(Client6, Server6, TcpFlags.Ack, 5, 9, 50), Udp(Client, Server, 9) })
        {
            var raw = original.Raw.ToArray();
            int at = original.Ip!.HeaderLength + (original.Transport is TcpHeader ? 16 : 6);
            raw[at + 1] ^= 0x5A;
            var broken = PacketDecoder.Redecode(original, raw);
            Assert.False(broken.Transport!.ChecksumValid);
            var moved = PacketBuilder.Rebuild(broken with { Ip = broken.Ip! with { Destination = broken.Ip.Family == Family.IPv4 ? Address.Parse("10.9.9.9") : Address.Parse("2001:db8::99") } });
            Assert.False(moved.Transport!.ChecksumValid);
            // The verification sum (0 for a right checksum) is the same before and after: the error was carried over.
            static ushort Verify(Packet p) => InternetChecksum.Transport(p.Ip!.Source, p.Ip.Destination, p.Ip.Protocol, p.Raw.Span[p.Ip.HeaderLength..]);
            Assert.NotEqual(0, Verify(broken));
            Assert.Equal(Verify(broken), Verify(moved));
        }
    }

    [Fact]
    public void ZeroUdpChecksumStaysZeroOnIpv4()
    {
        var packet = Udp(Client, Server, 20);
        var raw = packet.Raw.ToArray();
        raw[26] = raw[27] = 0;
        var noChecksum = PacketDecoder.Redecode(packet, raw);
        Assert.True(noChecksum.Transport!.ChecksumValid);
        var rebuilt = PacketBuilder.Rebuild(noChecksum with { Ip = noChecksum.Ip! with { Destination = Address.Parse("10.0.0.1") } });
        Assert.Equal(0, BinaryPrimitives.ReadUInt16BigEndian(rebuilt.Raw.Span[26..]));
        Assert.True(rebuilt.Transport!.ChecksumValid);
    }

    [Fact]
    public void TcpResetAnswersASynWithRstAckAndAnAckWithRst()
    {
        var syn = Tcp(Client, Server, TcpFlags.Syn, 1000, 0, 0);
        var reset = PacketBuilder.TcpReset(syn);
        var tcp = Assert.IsType<TcpHeader>(reset.Transport);
        Assert.Equal(TcpFlags.Rst | TcpFlags.Ack, tcp.Flags);
        Assert.Equal(0u, tcp.Sequence);
        Assert.Equal(1001u, tcp.Acknowledgment);
        Assert.Equal((ushort)80, tcp.SourcePort);
        Assert.Equal((ushort)40000, tcp.DestinationPort);
        Assert.Equal(Server, reset.Ip!.Source);
        Assert.Equal(Client, reset.Ip.Destination);
        Assert.True(reset.Ip.DontFragment);
        Assert.Equal(0u, reset.Ip.Id);
        Assert.Equal(40, reset.Ip.TotalLength);
        Assert.True(tcp.ChecksumValid);

        var data = Tcp(Client6, Server6, TcpFlags.Ack | TcpFlags.Psh, 5000, 777, 100);
        var reset6 = PacketBuilder.TcpReset(data);
        var tcp6 = Assert.IsType<TcpHeader>(reset6.Transport);
        Assert.Equal(TcpFlags.Rst, tcp6.Flags);
        Assert.Equal(777u, tcp6.Sequence);
        Assert.Equal(60, reset6.Ip!.TotalLength);
        Assert.True(tcp6.ChecksumValid);
    }

    [Fact]
    public void IcmpErrorsQuoteTheOffendingPacketWithinTheSizeLimits()
    {
        var big = Tcp(Client, Server, TcpFlags.Ack, 5, 9, 1400);
        var error = PacketBuilder.IcmpError(big, 3, 4, Address.Parse("198.51.100.254"), mtu: 1280);
        var icmp = Assert.IsType<IcmpHeader>(error.Transport);
        Assert.Equal(576, error.Ip!.TotalLength);
        Assert.Equal(1280u, icmp.Mtu);
        Assert.True(icmp.ChecksumValid);
        Assert.Equal(0xC0, error.Ip.Tos);
        Assert.Equal(Client, error.Ip.Destination);
        Assert.Equal(Client, icmp.Quoted!.Ip.Source);
        Assert.Equal((ushort)40000, ((TcpHeader)icmp.Quoted.Transport!).SourcePort);

        var big6 = Tcp(Client6, Server6, TcpFlags.Ack, 5, 9, 1400);
        var error6 = PacketBuilder.IcmpError(big6, 2, 0, Address.Parse("2001:db8:ffff::1"), mtu: 1280);
        Assert.Equal(1280, error6.Ip!.TotalLength);
        var icmp6 = Assert.IsType<IcmpHeader>(error6.Transport);
        Assert.True(icmp6.ChecksumValid);
        Assert.Equal(1280u, icmp6.Mtu);
        Assert.Equal(Server6, icmp6.Quoted!.Ip.Destination);

        var small = Udp(Client, Server, 20);
        var unreachable = PacketBuilder.IcmpError(small, 3, 3, Server);
        Assert.Equal(20 + 8 + small.Ip!.TotalLength, unreachable.Ip!.TotalLength);
    }

    [Fact]
    public void RewritingTheQuotedPacketKeepsEveryChecksumRight()
    {
        // An ICMP port unreachable for a SNATed UDP flow, de-NATed by the host: the inner source goes back to the client.
        var translatedRequest = Udp(Address.Parse("198.51.100.1"), Server, 20);
        var error = PacketBuilder.IcmpError(translatedRequest, 3, 3, Server);
        var icmp = (IcmpHeader)error.Transport!;
        var quoted = icmp.Quoted!;
        var restored = error with
        {
            Ip = error.Ip! with { Destination = Client },
            Transport = icmp with
            {
                Quoted = quoted with { Ip = quoted.Ip with { Source = Client }, Transport = ((UdpHeader)quoted.Transport!) with { SourcePort = 41000 } },
            },
        };
        var rebuilt = PacketBuilder.Rebuild(restored);
        var rebuiltIcmp = (IcmpHeader)rebuilt.Transport!;
        Assert.True(rebuiltIcmp.ChecksumValid);
        Assert.True(rebuiltIcmp.Quoted!.Ip.HeaderChecksumValid);
        Assert.Equal(Client, rebuiltIcmp.Quoted.Ip.Source);
        Assert.Equal((ushort)41000, ((UdpHeader)rebuiltIcmp.Quoted.Transport!).SourcePort);

        // The whole datagram is quoted, so the incrementally adjusted inner UDP checksum must equal a full recomputation.
        var inner = PacketDecoder.Decode(rebuilt.Raw.Span[28..], 9, default);
        Assert.True(inner.Transport!.ChecksumValid, "inner UDP checksum after the rewrite");
        var direct = PacketBuilder.Rebuild(Udp(Client, Server, 20) with { Transport = new UdpHeader(41000, 53, 28) });
        Assert.Equal(direct.Raw.Span[26..28].ToArray(), inner.Raw.Span[26..28].ToArray());
    }

    [Fact]
    public void BuiltRepliesAreCleanForTshark()
    {
        if (!ExternalTools.Available("tshark", out var why)) { output.WriteLine(why); return; }
        var packets = new List<Packet>
        {
            PacketBuilder.TcpReset(Tcp(Client, Server, TcpFlags.Syn, 1000, 0, 0)),
            PacketBuilder.TcpReset(Tcp(Client6, Server6, TcpFlags.Ack, 1000, 5, 10)),
            PacketBuilder.IcmpError(Tcp(Client, Server, TcpFlags.Ack, 5, 9, 1400), 3, 4, Address.Parse("198.51.100.254"), mtu: 1280),
            PacketBuilder.IcmpError(Tcp(Client6, Server6, TcpFlags.Ack, 5, 9, 1400), 2, 0, Address.Parse("2001:db8:ffff::1"), mtu: 1280),
            PacketBuilder.IcmpError(Udp(Client, Server, 20), 3, 3, Server),
            PacketBuilder.IcmpError(Udp(Client6, Server6, 20), 1, 4, Server6),
            PacketBuilder.Rebuild(Tcp(Client, Server, TcpFlags.Ack, 5, 9, 100) with { Ip = Tcp(Client, Server, TcpFlags.Ack, 5, 9, 100).Ip! with { Ttl = 1 } }),
        };
        var file = Path.Combine(Path.GetTempPath(), $"hx-packets-{Environment.ProcessId}-replies.pcapng");
        try
        {
            PcapngWriter.WriteFile(file, packets.Select((p, i) => p with { Number = i + 1, Time = new Timestamp(1_700_000_000_000_000_000 + i) }));
            var report = TsharkTests.ExpertWarnings(file);
            output.WriteLine(report);
            TsharkTests.AssertNoPacketProblems(report);
            Assert.Equal(packets.Count, CaptureReader.Read(file).Count(p => p.DecodeError is null && p.Transport!.ChecksumValid));
        }
        finally { File.Delete(file); }
    }
}
