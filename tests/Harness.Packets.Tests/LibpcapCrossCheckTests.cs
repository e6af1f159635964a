using Harness.Net;
using SharpPcap;
using SharpPcap.LibPcap;
using Xunit.Abstractions;

namespace Harness.Packets.Tests;

/// <summary>
/// A second referee for the reader and decoder: libpcap (through SharpPcap) reads the same files and PacketDotNet
/// decodes the same frames; packet counts, timestamps and the TCP/UDP/ICMP fields both sides decode must agree.
/// </summary>
public sealed class LibpcapCrossCheckTests(ITestOutputHelper output)
{
    [Fact]
    public void ReaderAndDecoderAgreeWithLibpcapAndPacketDotNet()
    {
        var root = ExternalTools.RealPcaps(out var why);
        if (root is null) { output.WriteLine(why); return; }
        int files = 0, tcp = 0, udp = 0, icmp = 0;
        foreach (var file in ExternalTools.RealCaptureFiles(root))
        {
            var ours = CaptureReader.Read(file).ToList();
            var theirs = ReadWithLibpcap(file);
            Assert.True(ours.Count == theirs.Count, $"{file}: Harness {ours.Count} packets, libpcap {theirs.Count}");
            for (int i = 0; i < ours.Count; i++)
            {
                var (microseconds, packet) = theirs[i];
                Assert.True(ours[i].Time.Nanoseconds / 1000 == microseconds, $"{file} #{i + 1}: time {ours[i].Time} vs libpcap {microseconds} µs");
                // PacketDotNet does not walk IPv6 extension headers (tcpdump and tshark agree with Harness there).
                if (packet is null || ours[i].Ip is not { IsLaterFragment: false } ip || !ip.ExtensionHeaders.IsDefaultOrEmpty) continue;
                switch (ours[i].Transport)
                {
                    case TcpHeader t when packet.Extract<PacketDotNet.TcpPacket>() is { } p:
                        Assert.Equal((p.SourcePort, p.DestinationPort, p.SequenceNumber, p.AcknowledgmentNumber, p.Flags, p.WindowSize),
                            (t.SourcePort, t.DestinationPort, t.Sequence, t.Acknowledgment, (ushort)t.Flags, t.Window));
                        tcp++;
                        break;
                    case UdpHeader u when packet.Extract<PacketDotNet.UdpPacket>() is { } p:
                        Assert.Equal((p.SourcePort, p.DestinationPort), (u.SourcePort, u.DestinationPort));
                        udp++;
                        break;
                    case IcmpHeader { IsV6: false } c when packet.Extract<PacketDotNet.IcmpV4Packet>() is { } p:
                        Assert.Equal((ushort)p.TypeCode, (ushort)((c.Type << 8) | c.Code));
                        icmp++;
                        break;
                    case IcmpHeader { IsV6: true } c when packet.Extract<PacketDotNet.IcmpV6Packet>() is { } p:
                        Assert.Equal(((byte)p.Type, p.Code), (c.Type, c.Code));
                        icmp++;
                        break;
                }
            }
            files++;
        }
        output.WriteLine($"{files} captures: counts and timestamps agree with libpcap; {tcp} TCP, {udp} UDP, {icmp} ICMP headers agree with PacketDotNet");
        Assert.True(tcp > 300 && udp > 20 && icmp > 50);
    }

    /// <summary>Every record of a capture as libpcap reads it: its time in microseconds and PacketDotNet's decoding (null when it cannot).</summary>
    private static List<(long Microseconds, PacketDotNet.Packet? Packet)> ReadWithLibpcap(string file)
    {
        var list = new List<(long, PacketDotNet.Packet?)>();
        using var device = new CaptureFileReaderDevice(file);
        device.Open();
        while (device.GetNextPacket(out PacketCapture capture) == GetPacketStatus.PacketRead)
        {
            var raw = capture.GetPacket();
            PacketDotNet.Packet? packet;
            try { packet = raw.GetPacket(); }
            catch (Exception) { packet = null; } // PacketDotNet gives up on some link types and malformed frames
            list.Add(((long)raw.Timeval.Seconds * 1_000_000 + (long)raw.Timeval.MicroSeconds, packet));
        }
        return list;
    }
}
