using System.Buffers.Binary;
using System.Globalization;

namespace Harness.Packets;

/// <summary>
/// Reads pcap and pcapng captures as a stream of decoded packets, one at a time (memory does not grow with the file).
/// <para>
/// Errors: a frame that cannot be decoded is yielded as a packet with <see cref="Packet.DecodeError"/>. A truncated or
/// corrupt file makes the enumerator throw <see cref="CaptureFormatException"/> (path, byte offset of the damaged
/// record, what was wrong) when it reaches the damage, after every earlier packet has been yielded.
/// </para>
/// </summary>
public static class CaptureReader
{
    public static IEnumerable<Packet> Read(string path, CaptureOptions? options = null)
    {
        Stream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CaptureFormatException(path, 0, "cannot open the capture: " + e.Message);
        }
        return Read(stream, path, options);
    }

    /// <summary>Reads a capture from a stream (disposed when the enumeration ends); <paramref name="name"/> names it in errors.</summary>
    public static IEnumerable<Packet> Read(Stream stream, string name, CaptureOptions? options = null)
    {
        using var reader = Open(new CaptureStream(stream, name), options ?? CaptureOptions.Default);
        while (reader.ReadNext() is { } packet)
            yield return packet;
    }

    private static ICaptureFileReader Open(CaptureStream input, CaptureOptions options)
    {
        int got = input.Read(4);
        if (got < 4)
        {
            input.Dispose();
            throw input.Error(0, string.Create(CultureInfo.InvariantCulture, $"not a capture: {got} bytes, too short for a pcap or pcapng header"));
        }
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(input.Bytes(4));
        switch (magic)
        {
            case 0x0A0D0D0A:
                input.Unread(4);
                return new PcapngFileReader(input, options);
            case 0xA1B2C3D4 or 0xD4C3B2A1 or 0xA1B23C4D or 0x4D3CB2A1:
                return new PcapFileReader(input, options, magic);
            default:
                input.Dispose();
                throw input.Error(0, string.Create(CultureInfo.InvariantCulture, $"not a pcap or pcapng file (first four bytes 0x{magic:x8})"));
        }
    }
}
