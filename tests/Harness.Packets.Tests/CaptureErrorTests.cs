using System.Buffers.Binary;
using FsCheck;
using FsCheck.Xunit;
using Harness.Net;

namespace Harness.Packets.Tests;

/// <summary>Damaged captures stop with a located error after every earlier packet; damaged frames become decode errors.</summary>
public sealed class CaptureErrorTests
{
    private static readonly Lazy<byte[]> Pcapng = new(() =>
    {
        using var memory = new MemoryStream();
        FlowGenerator.WritePcapng(FlowGenerator.Load(GeneratorTests.SampleFlows), 5, memory);
        return memory.ToArray();
    });

    /// <summary>The sample flows as a classic microsecond pcap (Ethernet), written here field by field.</summary>
    private static readonly Lazy<byte[]> Pcap = new(() =>
    {
        using var memory = new MemoryStream();
        var header = new byte[24];
        BinaryPrimitives.WriteUInt32LittleEndian(header, 0xA1B2C3D4);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(4), 2);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(6), 4);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(16), 65535);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(20), 1);
        memory.Write(header);
        foreach (var packet in CaptureReader.Read(new MemoryStream(Pcapng.Value), "sample"))
            memory.Write(PcapRecord(packet));
        return memory.ToArray();
    });

    private static byte[] PcapRecord(Packet packet)
    {
        var frame = new byte[14 + packet.Raw.Length];
        packet.Link!.Destination.WriteBytes(frame);
        packet.Link.Source.WriteBytes(frame.AsSpan(6));
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(12), packet.Ip!.Family == Family.IPv6 ? (ushort)0x86DD : (ushort)0x0800);
        packet.Raw.Span.CopyTo(frame.AsSpan(14));
        var record = new byte[16 + frame.Length];
        long us = packet.Time.Nanoseconds / 1000;
        BinaryPrimitives.WriteUInt32LittleEndian(record, (uint)(us / 1_000_000));
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(4), (uint)(us % 1_000_000));
        BinaryPrimitives.WriteInt32LittleEndian(record.AsSpan(8), frame.Length);
        BinaryPrimitives.WriteInt32LittleEndian(record.AsSpan(12), frame.Length);
        frame.CopyTo(record, 16);
        return record;
    }

    /// <summary>Reads a capture from bytes: the packets delivered, and the format error that stopped it (or null).</summary>
    private static (List<Packet> Packets, CaptureFormatException? Error) ReadAll(byte[] bytes)
    {
        var packets = new List<Packet>();
        try
        {
            foreach (var packet in CaptureReader.Read(new MemoryStream(bytes), "damaged.cap")) packets.Add(packet);
            return (packets, null);
        }
        catch (CaptureFormatException e)
        {
            return (packets, e);
        }
    }

    [Fact]
    public void ThePcapCopyReadsLikeThePcapng()
    {
        var fromPcap = ReadAll(Pcap.Value);
        var fromPcapng = ReadAll(Pcapng.Value);
        Assert.Null(fromPcap.Error);
        Assert.Equal(fromPcapng.Packets.Count, fromPcap.Packets.Count);
        Assert.Equal(fromPcapng.Packets.Select(p => p.Raw.ToArray()), fromPcap.Packets.Select(p => p.Raw.ToArray()));
    }

    [Fact]
    public void BigEndianFilesReadLikeLittleEndianOnes()
    {
        var expected = ReadAll(Pcapng.Value).Packets;
        var fromPcap = ReadAll(SwapPcap(Pcap.Value));
        var fromPcapng = ReadAll(SwapPcapng(Pcapng.Value));
        Assert.Null(fromPcap.Error);
        Assert.Null(fromPcapng.Error);
        Assert.Equal(expected.Select(p => p.Raw.ToArray()), fromPcap.Packets.Select(p => p.Raw.ToArray()));
        Assert.Equal(expected.Select(p => (p.Raw.ToArray(), p.Interface, p.Direction, p.Time)),
            fromPcapng.Packets.Select(p => (p.Raw.ToArray(), p.Interface, p.Direction, p.Time)));
    }

    private static void Swap32(byte[] b, int at) => b.AsSpan(at, 4).Reverse();
    private static void Swap16(byte[] b, int at) => b.AsSpan(at, 2).Reverse();

    /// <summary>The same pcap as written by a big-endian host: every header field byte-swapped.</summary>
    private static byte[] SwapPcap(byte[] le)
    {
        var b = le.ToArray();
        Swap32(b, 0); Swap16(b, 4); Swap16(b, 6); Swap32(b, 8); Swap32(b, 12); Swap32(b, 16); Swap32(b, 20);
        for (int at = 24; at < b.Length;)
        {
            int captured = BinaryPrimitives.ReadInt32LittleEndian(le.AsSpan(at + 8));
            for (int f = 0; f < 16; f += 4) Swap32(b, at + f);
            at += 16 + captured;
        }
        return b;
    }

    /// <summary>The same pcapng (SHB, IDBs with options, EPBs with options, as PcapngWriter writes) in big-endian byte order.</summary>
    private static byte[] SwapPcapng(byte[] le)
    {
        var b = le.ToArray();
        for (int at = 0; at < b.Length;)
        {
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(le.AsSpan(at));
            int total = BinaryPrimitives.ReadInt32LittleEndian(le.AsSpan(at + 4));
            Swap32(b, at); Swap32(b, at + 4); Swap32(b, at + total - 4);
            int options;
            switch (type)
            {
                case 0x0A0D0D0A: Swap32(b, at + 8); Swap16(b, at + 12); Swap16(b, at + 14); b.AsSpan(at + 16, 8).Reverse(); options = at + 24; break;
                case 1: Swap16(b, at + 8); Swap16(b, at + 10); Swap32(b, at + 12); options = at + 16; break;
                case 6:
                    for (int f = 8; f < 28; f += 4) Swap32(b, at + f);
                    options = at + 28 + ((BinaryPrimitives.ReadInt32LittleEndian(le.AsSpan(at + 20)) + 3) & ~3);
                    break;
                default: throw new InvalidOperationException($"unexpected block {type}");
            }
            while (options < at + total - 4)
            {
                int code = BinaryPrimitives.ReadUInt16LittleEndian(le.AsSpan(options));
                int length = BinaryPrimitives.ReadUInt16LittleEndian(le.AsSpan(options + 2));
                Swap16(b, options); Swap16(b, options + 2);
                if (type == 6 && code == 2) Swap32(b, options + 4);
                if (code == 0) break;
                options += 4 + ((length + 3) & ~3);
            }
            at += total;
        }
        return b;
    }

    [Fact]
    public void TruncatedPcapDeliversEveryWholeRecordThenNamesTheOffset()
    {
        var whole = Pcap.Value;
        int firstRecordLength = 16 + BinaryPrimitives.ReadInt32LittleEndian(whole.AsSpan(24 + 8));
        var cut = whole[..(24 + firstRecordLength + 20)];
        var (packets, error) = ReadAll(cut);
        Assert.Single(packets);
        Assert.NotNull(error);
        Assert.Equal(24 + firstRecordLength, error!.Offset);
        Assert.Contains("truncated", error.Message);
        Assert.StartsWith("damaged.cap: byte offset " + (24 + firstRecordLength), error.Message);
    }

    [Fact]
    public void TruncatedPcapngDeliversEveryWholeBlockThenNamesTheOffset()
    {
        var whole = Pcapng.Value;
        var cut = whole[..(whole.Length - 10)];
        var (packets, error) = ReadAll(cut);
        int total = ReadAll(whole).Packets.Count;
        Assert.Equal(total - 1, packets.Count);
        Assert.NotNull(error);
        Assert.Contains("block truncated", error!.Detail);
        Assert.InRange(error.Offset, whole.Length - 2000, whole.Length - 10);
    }

    [Fact]
    public void BadMagicAndAbsurdLengthsAreLocated()
    {
        var notCapture = ReadAll("hello world, not a capture"u8.ToArray()).Error;
        Assert.Equal(0, notCapture!.Offset);
        Assert.Contains("not a pcap or pcapng file", notCapture.Detail);

        var huge = Pcap.Value.ToArray();
        BinaryPrimitives.WriteInt32LittleEndian(huge.AsSpan(24 + 8), 100_000_000);
        var (packets, error) = ReadAll(huge);
        Assert.Empty(packets);
        Assert.Equal(24, error!.Offset);

        var badInterface = Pcapng.Value.ToArray();
        // The first EPB follows the SHB (28 bytes) and the first IDB; its interface id is 8 bytes into the block.
        int idbLength = BinaryPrimitives.ReadInt32LittleEndian(badInterface.AsSpan(28 + 4));
        BinaryPrimitives.WriteInt32LittleEndian(badInterface.AsSpan(28 + idbLength + 8), 99);
        var located = ReadAll(badInterface).Error;
        Assert.Equal(28 + idbLength, located!.Offset);
        Assert.Contains("interface 99", located.Detail);
    }

    [Fact]
    public void MissingFileIsAFormatErrorAtOffsetZero()
    {
        var error = Assert.Throws<CaptureFormatException>(() => CaptureReader.Read("/nonexistent/harness.pcap").ToList());
        Assert.Equal(0, error.Offset);
    }

    [Theory]
    [InlineData("45000014000040004006", "IPv4 header truncated")]
    [InlineData("5500001400004000400600000a0000010a000002", "IP version 5")]
    [InlineData("4300001400004000400600000a0000010a000002", "IPv4 header length 12")]
    [InlineData("4500ffff00004000400600000a0000010a000002", "IPv4 total length 65535 exceeds")]
    public void UndecodableFramesBecomeDecodeErrors(string hex, string reason)
    {
        var packet = PacketDecoder.Decode(Convert.FromHexString(hex), 1, default);
        Assert.NotNull(packet.DecodeError);
        Assert.Contains(reason, packet.DecodeError);
    }

    /// <summary>A short or inconsistent transport header behind a sound IP header reaches netfilter: not a decode error.</summary>
    [Theory]
    [InlineData("4500002800004000400600000a0000010a0000020001005000000001000000002002ffff00000000", "TCP data offset 8 is less than 20")]
    [InlineData("6000000000023a40" + "20010db8000000000000000000000001" + "20010db8000000000000000000000002" + "8000", "ICMPv6 header truncated")]
    public void ShortTransportHeadersBecomeTransportErrors(string hex, string reason)
    {
        var packet = PacketDecoder.Decode(Convert.FromHexString(hex), 1, default);
        Assert.Null(packet.DecodeError);
        Assert.NotNull(packet.Ip);
        Assert.Contains(reason, packet.TransportError);
    }

    [Fact]
    public void NonIpFramesAreKeptWithoutError()
    {
        var arp = new byte[42];
        arp.AsSpan(0, 6).Fill(0xFF);
        BinaryPrimitives.WriteUInt16BigEndian(arp.AsSpan(12), 0x0806);
        var packet = LinkLayerDecoder.Decode(LinkType.Ethernet, new LinkLayerDecoder.Frame(arp, arp.Length, 1, default, "eth0", PacketDirection.Unknown), CaptureOptions.Default);
        Assert.Null(packet.Ip);
        Assert.Null(packet.DecodeError);
        Assert.Equal("broadcast", packet.Link!.PacketType);
    }

    [Property(MaxTest = 300, Replay = "20261122,21")]
    public bool TruncatedCapturesGivePacketsOrALocatedError(PositiveInt cutSeed, bool pcapng)
    {
        var whole = pcapng ? Pcapng.Value : Pcap.Value;
        int cut = cutSeed.Get % whole.Length;
        var (packets, error) = ReadAll(whole[..cut]);
        bool located = error is null || (error.Offset >= 0 && error.Offset <= cut);
        return (located && packets.All(p => p.Number > 0));
    }

    [Fact]
    public void A_loopback_frame_of_another_address_family_is_not_an_ip_packet_and_says_which_family()
    {
        byte[] frame = [7, 0, 0, 0, 0x45, 0, 0, 20];
        var packet = LinkLayerDecoder.Decode(LinkType.Null, new LinkLayerDecoder.Frame(frame, frame.Length, 1, default, null, PacketDirection.Inbound), CaptureOptions.Default);
        Assert.Null(packet.Ip);
        Assert.Equal("loopback address family 7 is neither IPv4 nor IPv6: not an IP packet", packet.DecodeError);
    }

    [Property(MaxTest = 300, Replay = "20261122,23")]
    public bool BitFlippedCapturesGivePacketsOrALocatedError(PositiveInt positionSeed, byte mask, bool pcapng, PositiveInt secondSeed)
    {
        var bytes = (pcapng ? Pcapng.Value : Pcap.Value).ToArray();
        bytes[positionSeed.Get % bytes.Length] ^= mask == 0 ? (byte)1 : mask;
        bytes[secondSeed.Get % bytes.Length] ^= 0x80;
        var (packets, error) = ReadAll(bytes);
        bool located = error is null || (error.Offset >= 0 && error.Offset < bytes.Length);
        return (located && packets.All(p => p.Ip is not null || p.DecodeError is not null || p.Link is not null));
    }

    [Property(MaxTest = 500, Replay = "20261122,25")]
    public bool RandomBytesNeverThrowFromTheDecoder(byte[] bytes, bool v6)
    {
        if (bytes.Length > 0) bytes[0] = (byte)((v6 ? 0x60 : 0x40) | (bytes[0] & 0x0F));
        var packet = PacketDecoder.Decode(bytes, 1, default);
        return (packet.Ip is not null || packet.DecodeError is not null);
    }

    [Property(MaxTest = 300, Replay = "20261122,27")]
    public bool DecodedRandomPacketsSerializeWithoutThrowing(byte[] tail, byte protocol, bool v6)
    {
        var header = v6
            ? Convert.FromHexString("6000000000000040" + "20010db8000000000000000000000001" + "20010db8000000000000000000000002")
            : Convert.FromHexString("45000000000040004000" + "0000" + "0a000001" + "0a000002");
        var bytes = header.Concat(tail).ToArray();
        if (v6) { BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(4), (ushort)tail.Length); bytes[6] = protocol; }
        else { BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(2), (ushort)bytes.Length); bytes[9] = protocol; }
        var packet = PacketDecoder.Decode(bytes, 1, default);
        if (packet.Ip is null || packet.DecodeError is not null) return true;
        var again = PacketBuilder.Rebuild(packet);
        return (again.Ip!.Source == packet.Ip.Source && again.Raw.Length == packet.Raw.Length);
    }
}
