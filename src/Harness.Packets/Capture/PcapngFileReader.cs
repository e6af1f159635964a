using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Harness.Net;

namespace Harness.Packets;

/// <summary>
/// pcapng files: sections (SHB, either byte order), interfaces (IDB: link type, if_name, if_tsresol, if_tsoffset,
/// if_fcslen), and packets (EPB with epb_flags direction, SPB, the obsolete PB). Other blocks are skipped.
/// Hand-written rather than through libpcap, which hides interface names and direction flags per packet and refuses
/// files whose interfaces have different link types.
/// </summary>
internal sealed class PcapngFileReader : ICaptureFileReader
{
    private const uint SectionHeader = 0x0A0D0D0A;
    private const uint InterfaceDescription = 1;
    private const uint ObsoletePacket = 2;
    private const uint SimplePacket = 3;
    private const uint EnhancedPacket = 6;
    private const int MaxBlockLength = 16 * 1024 * 1024;

    private sealed record Interface(int LinkType, string? Name, byte TimestampResolution, long TimestampOffsetSeconds, int FcsLength, uint SnapLength);

    private readonly CaptureStream input;
    private readonly CaptureOptions options;
    private readonly List<Interface> interfaces = [];
    private bool bigEndian;
    private long number;
    private Timestamp lastTime;

    public PcapngFileReader(CaptureStream input, CaptureOptions options)
    {
        this.input = input;
        this.options = options;
    }

    public Packet? ReadNext()
    {
        while (true)
        {
            long start = input.Offset;
            int got = input.Read(8);
            if (got == 0) return null;
            if (got < 8)
                throw input.Error(start, Invariant($"block header truncated: {got} of 8 bytes"));
            var header = input.Bytes(8);
            uint type = U32(header);
            if (type == SectionHeader)
            {
                ReadSectionHeader(start, BinaryPrimitives.ReadUInt32LittleEndian(header[4..]), BinaryPrimitives.ReadUInt32BigEndian(header[4..]));
                continue;
            }
            if (start == 0)
                throw input.Error(0, Invariant($"not a pcapng file: the first block has type 0x{type:x8}, not a section header"));
            int bodyLength = ReadBlockBody(start, U32(input.Bytes(8)[4..]));
            var body = input.Bytes(bodyLength);
            switch (type)
            {
                case InterfaceDescription:
                    interfaces.Add(ReadInterface(start, body));
                    break;
                case EnhancedPacket:
                    return ReadEnhancedPacket(start, body);
                case SimplePacket:
                    return ReadSimplePacket(start, body);
                case ObsoletePacket:
                    return ReadObsoletePacket(start, body);
            }
        }
    }

    /// <summary>Reads a section header block after its type; the length is read in the byte order its magic gives.</summary>
    private void ReadSectionHeader(long start, uint lengthLittleEndian, uint lengthBigEndian)
    {
        int got = input.Read(4);
        if (got < 4)
            throw input.Error(start, "section header block truncated before its byte-order magic");
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(input.Bytes(4));
        bigEndian = magic switch
        {
            0x1A2B3C4D => false,
            0x4D3C2B1A => true,
            _ => throw input.Error(start, Invariant($"section header byte-order magic 0x{magic:x8} is not 0x1a2b3c4d")),
        };
        uint total = bigEndian ? lengthBigEndian : lengthLittleEndian;
        if (total < 28 || total % 4 != 0 || total > MaxBlockLength)
            throw input.Error(start, Invariant($"section header block length {total} is invalid"));
        int rest = (int)total - 12;
        got = input.Read(rest);
        if (got < rest)
            throw input.Error(start, Invariant($"section header block truncated: {total} bytes announced, the file ends after {12 + got}"));
        var body = input.Bytes(rest);
        uint trailing = U32(body[^4..]);
        if (trailing != total)
            throw input.Error(start, Invariant($"section header block: trailing length {trailing} differs from leading length {total}"));
        ushort major = U16(body);
        if (major != 1)
            throw input.Error(start, Invariant($"pcapng version {major} is not 1"));
        interfaces.Clear();
    }

    /// <summary>Reads the rest of a block whose 8-byte header was read; returns the body length (without the trailing length).</summary>
    private int ReadBlockBody(long start, uint total)
    {
        if (total < 12 || total % 4 != 0 || total > MaxBlockLength)
            throw input.Error(start, Invariant($"block total length {total} is invalid (a multiple of 4 from 12 to {MaxBlockLength})"));
        int rest = (int)total - 8;
        int got = input.Read(rest);
        if (got < rest)
            throw input.Error(start, Invariant($"block truncated: {total} bytes announced, the file ends after {8 + got}"));
        var bytes = input.Bytes(rest);
        uint trailing = U32(bytes[^4..]);
        if (trailing != total)
            throw input.Error(start, Invariant($"block trailing length {trailing} differs from its leading length {total}"));
        return rest - 4;
    }

    private Interface ReadInterface(long start, ReadOnlySpan<byte> body)
    {
        if (body.Length < 8)
            throw input.Error(start, Invariant($"interface description block body has {body.Length} bytes, at least 8 needed"));
        int linkType = U16(body);
        uint snapLength = U32(body[4..]);
        string? name = null;
        byte resolution = 6;
        long offsetSeconds = 0;
        int fcsLength = 0;
        var options = body[8..];
        if (TryFindOption(start, options, 2, out int at, out int length))
            name = Encoding.UTF8.GetString(options.Slice(at, length)).TrimEnd('\0');
        if (TryFindOption(start, options, 9, out at, out length) && length >= 1)
            resolution = options[at];
        if (TryFindOption(start, options, 13, out at, out length) && length >= 1)
            fcsLength = options[at];
        if (TryFindOption(start, options, 14, out at, out length) && length >= 8)
            offsetSeconds = (long)U64(options[at..]);
        return new Interface(linkType, string.IsNullOrEmpty(name) ? null : name, resolution, offsetSeconds, fcsLength, snapLength);
    }

    private Packet ReadEnhancedPacket(long start, ReadOnlySpan<byte> body)
    {
        if (body.Length < 20)
            throw input.Error(start, Invariant($"enhanced packet block body has {body.Length} bytes, at least 20 needed"));
        var iface = InterfaceAt(start, U32(body));
        ulong units = ((ulong)U32(body[4..]) << 32) | U32(body[8..]);
        uint captured = U32(body[12..]);
        uint original = U32(body[16..]);
        int padded = (int)Math.Min(((ulong)captured + 3) & ~3UL, int.MaxValue);
        if (20L + padded > body.Length)
            throw input.Error(start, Invariant($"enhanced packet block: {captured} captured bytes do not fit in its {body.Length - 20}-byte body"));
        var direction = DirectionOption(start, body[(20 + padded)..]);
        return Decode(iface, body.Slice(20, (int)captured), (int)Math.Min(original, int.MaxValue), TimeOf(iface, units), direction);
    }

    private Packet ReadSimplePacket(long start, ReadOnlySpan<byte> body)
    {
        if (body.Length < 4)
            throw input.Error(start, Invariant($"simple packet block body has {body.Length} bytes, at least 4 needed"));
        var iface = InterfaceAt(start, 0);
        uint original = U32(body);
        long captured = Math.Min(Math.Min(original, body.Length - 4), iface.SnapLength == 0 ? uint.MaxValue : iface.SnapLength);
        // A simple packet has no timestamp: it keeps the previous packet's time so the clock never runs backwards.
        return Decode(iface, body.Slice(4, (int)captured), (int)Math.Min(original, int.MaxValue), lastTime, PacketDirection.Unknown);
    }

    private Packet ReadObsoletePacket(long start, ReadOnlySpan<byte> body)
    {
        if (body.Length < 20)
            throw input.Error(start, Invariant($"packet block body has {body.Length} bytes, at least 20 needed"));
        var iface = InterfaceAt(start, U16(body));
        ulong units = ((ulong)U32(body[4..]) << 32) | U32(body[8..]);
        uint captured = U32(body[12..]);
        uint original = U32(body[16..]);
        int padded = (int)Math.Min(((ulong)captured + 3) & ~3UL, int.MaxValue);
        if (20L + padded > body.Length)
            throw input.Error(start, Invariant($"packet block: {captured} captured bytes do not fit in its {body.Length - 20}-byte body"));
        var direction = DirectionOption(start, body[(20 + padded)..]);
        return Decode(iface, body.Slice(20, (int)captured), (int)Math.Min(original, int.MaxValue), TimeOf(iface, units), direction);
    }

    private Packet Decode(Interface iface, ReadOnlySpan<byte> bytes, int original, Timestamp time, PacketDirection direction)
    {
        lastTime = time;
        int wire = Math.Max(original, bytes.Length);
        if (iface.FcsLength > 0 && bytes.Length == wire && bytes.Length >= iface.FcsLength)
        {
            bytes = bytes[..^iface.FcsLength];
            wire -= iface.FcsLength;
        }
        var frame = new LinkLayerDecoder.Frame(bytes, wire, ++number, time, iface.Name ?? options.DefaultInterface, direction);
        return LinkLayerDecoder.Decode(iface.LinkType, frame, options);
    }

    private Interface InterfaceAt(long start, uint id) => id < (uint)interfaces.Count
        ? interfaces[(int)id]
        : throw input.Error(start, Invariant($"packet refers to interface {id}, but the section defines {interfaces.Count}"));

    /// <summary>Nanoseconds on the capture's clock from an interface's timestamp units (if_tsresol, if_tsoffset).</summary>
    private static Timestamp TimeOf(Interface iface, ulong units)
    {
        int exponent = iface.TimestampResolution & 0x7F;
        long offset = iface.TimestampOffsetSeconds * 1_000_000_000L;
        if ((iface.TimestampResolution & 0x80) == 0 && exponent <= 9 && units < (1UL << 53))
            return new Timestamp(unchecked((long)units * PowersOfTen[9 - exponent] + offset)); // the usual µs or ns
        UInt128 nanoseconds;
        if ((iface.TimestampResolution & 0x80) != 0)
            nanoseconds = exponent >= 127 ? 0 : ((UInt128)units * 1_000_000_000UL) >> exponent;
        else if (exponent <= 9)
            nanoseconds = (UInt128)units * Pow10(9 - exponent);
        else
            nanoseconds = exponent - 9 > 38 ? 0 : (UInt128)units / Pow10(exponent - 9);
        return new Timestamp(unchecked((long)(ulong)nanoseconds + offset));
    }

    private static readonly long[] PowersOfTen = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000];

    private static UInt128 Pow10(int n)
    {
        UInt128 value = 1;
        for (int i = 0; i < n; i++) value *= 10;
        return value;
    }

    /// <summary>Finds option <paramref name="wanted"/> among a block's options (checking every option's length on the way); false when absent.</summary>
    private bool TryFindOption(long start, ReadOnlySpan<byte> bytes, ushort wanted, out int valueOffset, out int valueLength)
    {
        int offset = 0;
        bool found = false;
        valueOffset = valueLength = 0;
        while (offset + 4 <= bytes.Length)
        {
            ushort code = U16(bytes[offset..]);
            int length = U16(bytes[(offset + 2)..]);
            if (code == 0) break;
            if (offset + 4 + length > bytes.Length)
                throw input.Error(start, Invariant($"option {code} of {length} bytes runs past the end of its block"));
            if (code == wanted && !found)
            {
                (valueOffset, valueLength, found) = (offset + 4, length, true);
            }
            offset += 4 + ((length + 3) & ~3);
        }
        return found;
    }

    private PacketDirection DirectionOption(long start, ReadOnlySpan<byte> options) =>
        TryFindOption(start, options, 2, out int at, out int length) && length >= 4
            ? (U32(options[at..]) & 3) switch { 1 => PacketDirection.Inbound, 2 => PacketDirection.Outbound, _ => PacketDirection.Unknown }
            : PacketDirection.Unknown;

    private ushort U16(ReadOnlySpan<byte> b) => bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(b) : BinaryPrimitives.ReadUInt16LittleEndian(b);
    private uint U32(ReadOnlySpan<byte> b) => bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(b) : BinaryPrimitives.ReadUInt32LittleEndian(b);
    private ulong U64(ReadOnlySpan<byte> b) => bigEndian ? BinaryPrimitives.ReadUInt64BigEndian(b) : BinaryPrimitives.ReadUInt64LittleEndian(b);

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    public void Dispose() => input.Dispose();
}
