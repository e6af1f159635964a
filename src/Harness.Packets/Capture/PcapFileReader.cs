using System.Buffers.Binary;
using System.Globalization;
using Harness.Net;

namespace Harness.Packets;

/// <summary>
/// Classic libpcap files (microsecond and nanosecond magics, either byte order). Hand-written rather than through
/// SharpPcap/libpcap so that damage is reported with its exact byte offset after every earlier packet was delivered.
/// </summary>
internal sealed class PcapFileReader : ICaptureFileReader
{
    /// <summary>Largest record accepted (libpcap's own upper bound for a snapshot length).</summary>
    private const int MaxRecordLength = 262_144 * 4;

    private readonly CaptureStream input;
    private readonly CaptureOptions options;
    private readonly bool bigEndian;
    private readonly bool nanoseconds;
    private readonly int linkType;
    private readonly int fcsLength;
    private long number;

    public PcapFileReader(CaptureStream input, CaptureOptions options, uint magicLittleEndian)
    {
        this.input = input;
        this.options = options;
        (bigEndian, nanoseconds) = magicLittleEndian switch
        {
            0xA1B2C3D4 => (false, false),
            0xD4C3B2A1 => (true, false),
            0xA1B23C4D => (false, true),
            _ => (true, true),
        };
        int got = input.Read(20);
        if (got < 20)
            throw input.Error(0, string.Create(CultureInfo.InvariantCulture, $"pcap file header truncated: {got + 4} of 24 bytes"));
        var h = input.Bytes(20);
        ushort major = U16(h);
        if (major != 2)
            throw input.Error(4, string.Create(CultureInfo.InvariantCulture, $"pcap version {major}.{U16(h[2..])} is not 2.x"));
        uint network = U32(h[16..]);
        linkType = (int)(network & 0xFFFF);
        // Bit 28 set: the frames end with an FCS of (bits 29-31) 16-bit words.
        fcsLength = (network & 0x1000_0000) != 0 ? (int)((network >> 29) & 7) * 2 : 0;
    }

    public Packet? ReadNext()
    {
        long start = input.Offset;
        int got = input.Read(16);
        if (got == 0) return null;
        if (got < 16)
            throw input.Error(start, string.Create(CultureInfo.InvariantCulture, $"packet record header truncated: {got} of 16 bytes"));
        var h = input.Bytes(16);
        uint seconds = U32(h), fraction = U32(h[4..]);
        int captured = (int)Math.Min(U32(h[8..]), int.MaxValue);
        int original = (int)Math.Min(U32(h[12..]), int.MaxValue);
        if (captured > MaxRecordLength)
            throw input.Error(start, string.Create(CultureInfo.InvariantCulture,
                $"packet record says {captured} captured bytes, more than the {MaxRecordLength} any pcap file holds"));
        got = input.Read(captured);
        if (got < captured)
            throw input.Error(start, string.Create(CultureInfo.InvariantCulture,
                $"packet record truncated: {captured} bytes announced, the file ends after {got}"));
        var time = new Timestamp(seconds * 1_000_000_000L + fraction * (nanoseconds ? 1L : 1000L));
        var bytes = input.Bytes(captured);
        int wire = Math.Max(original, captured);
        if (fcsLength > 0 && captured == wire && captured >= fcsLength)
        {
            bytes = bytes[..(captured - fcsLength)];
            wire -= fcsLength;
        }
        var frame = new LinkLayerDecoder.Frame(bytes, wire, ++number, time, options.DefaultInterface, PacketDirection.Unknown);
        return LinkLayerDecoder.Decode(linkType, frame, options);
    }

    private ushort U16(ReadOnlySpan<byte> b) => bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(b) : BinaryPrimitives.ReadUInt16LittleEndian(b);
    private uint U32(ReadOnlySpan<byte> b) => bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(b) : BinaryPrimitives.ReadUInt32LittleEndian(b);

    public void Dispose() => input.Dispose();
}

/// <summary>One capture file format: yields decoded packets in file order, null at the clean end, throws <see cref="CaptureFormatException"/> on damage.</summary>
internal interface ICaptureFileReader : IDisposable
{
    Packet? ReadNext();
}
