using System.Buffers.Binary;
using System.Text;
using Harness.Net;

namespace Harness.Packets;

/// <summary>
/// Writes packets as a pcapng file with Ethernet framing: one section, one interface description block per
/// interface name (in order of first use, nanosecond timestamps), one enhanced packet block per packet with the
/// direction flag (inbound/outbound) when the packet's direction is known.
/// <para>
/// The frame carries <see cref="Packet.Raw"/> (call <see cref="PacketBuilder.Rebuild"/> after changing fields; a
/// packet without Raw is serialized from its fields). MACs and VLAN tags come from <see cref="Packet.Link"/>;
/// without one, the host side's MAC is the interface's from the caller's map, else a fixed locally administered
/// address derived from the interface name, and the far side's is derived likewise.
/// </para>
/// </summary>
public sealed class PcapngWriter : IDisposable
{
    private const int SnapLength = 262_144;
    private readonly Stream stream;
    private readonly bool leaveOpen;
    private readonly IReadOnlyDictionary<string, MacAddress> interfaceMacs;
    private readonly Dictionary<string, int> interfaceIds = new(StringComparer.Ordinal);
    private byte[] block = new byte[2048];

    public PcapngWriter(Stream stream, IReadOnlyDictionary<string, MacAddress>? interfaceMacs = null, bool leaveOpen = false)
    {
        this.stream = stream;
        this.leaveOpen = leaveOpen;
        this.interfaceMacs = interfaceMacs ?? new Dictionary<string, MacAddress>();
        WriteSectionHeader();
    }

    /// <summary>Writes every packet to a new file, each on its own <see cref="Packet.Interface"/> (or <paramref name="defaultInterface"/>).</summary>
    public static void WriteFile(string path, IEnumerable<Packet> packets, IReadOnlyDictionary<string, MacAddress>? interfaceMacs = null, string defaultInterface = "eth0")
    {
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        using var writer = new PcapngWriter(file, interfaceMacs);
        foreach (var packet in packets)
            writer.Write(packet, packet.Interface ?? defaultInterface);
    }

    /// <summary>Writes a packet on its own interface; throws when it names none.</summary>
    public void Write(Packet packet) =>
        Write(packet, packet.Interface ?? throw new ArgumentException($"packet {packet.Number} names no interface", nameof(packet)));

    public void Write(Packet packet, string interfaceName) => Write(packet, interfaceName, packet.Direction);

    /// <summary>Writes a packet with an explicit direction flag (e.g. <see cref="PacketDirection.Outbound"/> for what the engine sends).</summary>
    public void Write(Packet packet, string interfaceName, PacketDirection direction)
    {
        packet = packet.Direction == direction ? packet : packet with { Direction = direction };
        int id = InterfaceId(interfaceName);
        var network = packet.Raw.IsEmpty ? PacketBuilder.Serialize(packet) : packet.Raw.Span;
        var link = packet.Link ?? SyntheticLink(packet, interfaceName);
        int vlans = link.VlanIds.IsDefaultOrEmpty ? 0 : link.VlanIds.Length;
        int frameLength = 14 + 4 * vlans + network.Length;
        int padded = (frameLength + 3) & ~3;
        bool hasFlags = packet.Direction != PacketDirection.Unknown;
        int total = 28 + padded + (hasFlags ? 12 : 0) + 4;
        var b = Block(total);
        Header(b, 6, total);
        BinaryPrimitives.WriteInt32LittleEndian(b[8..], id);
        ulong ns = (ulong)Math.Max(0, packet.Time.Nanoseconds);
        BinaryPrimitives.WriteUInt32LittleEndian(b[12..], (uint)(ns >> 32));
        BinaryPrimitives.WriteUInt32LittleEndian(b[16..], (uint)ns);
        BinaryPrimitives.WriteInt32LittleEndian(b[20..], frameLength);
        BinaryPrimitives.WriteInt32LittleEndian(b[24..], frameLength);
        var frame = b.Slice(28, frameLength);
        link.Destination.WriteBytes(frame);
        link.Source.WriteBytes(frame[6..]);
        int offset = 12;
        for (int i = 0; i < vlans; i++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(frame[offset..], 0x8100);
            BinaryPrimitives.WriteUInt16BigEndian(frame[(offset + 2)..], (ushort)(link.VlanIds[i] & 0x0FFF));
            offset += 4;
        }
        var family = packet.Ip?.Family ?? (network.Length > 0 && network[0] >> 4 == 6 ? Family.IPv6 : Family.IPv4);
        BinaryPrimitives.WriteUInt16BigEndian(frame[offset..], family == Family.IPv6 ? (ushort)0x86DD : (ushort)0x0800);
        network.CopyTo(frame[(offset + 2)..]);
        if (hasFlags)
        {
            // epb_flags (code 2, 4 bytes: direction in bits 0-1), then opt_endofopt (the zeroed 4 bytes after it).
            int options = 28 + padded;
            BinaryPrimitives.WriteUInt16LittleEndian(b[options..], 2);
            BinaryPrimitives.WriteUInt16LittleEndian(b[(options + 2)..], 4);
            BinaryPrimitives.WriteUInt32LittleEndian(b[(options + 4)..], packet.Direction == PacketDirection.Inbound ? 1u : 2u);
        }
        BinaryPrimitives.WriteInt32LittleEndian(b[(total - 4)..], total);
        stream.Write(b);
    }

    /// <summary>The fixed locally administered MAC Harness gives an interface name (or its far side) when none is known.</summary>
    public static MacAddress SyntheticMac(string interfaceName, bool farSide)
    {
        uint hash = 2166136261;
        foreach (char c in interfaceName) hash = (hash ^ c) * 16777619;
        return new MacAddress((0x02UL << 40) | (farSide ? 1UL << 32 : 0) | hash); // 02:00:… host side, 02:01:… far side
    }

    private LinkHeader SyntheticLink(Packet packet, string interfaceName)
    {
        var host = interfaceMacs.TryGetValue(interfaceName, out var mac) ? mac : SyntheticMac(interfaceName, farSide: false);
        var far = SyntheticMac(interfaceName, farSide: true);
        return packet.Direction == PacketDirection.Outbound
            ? new LinkHeader(host, far, [], 0)
            : new LinkHeader(far, host, [], 0);
    }

    private int InterfaceId(string name)
    {
        if (interfaceIds.TryGetValue(name, out int id)) return id;
        id = interfaceIds.Count;
        interfaceIds.Add(name, id);
        var nameBytes = Encoding.UTF8.GetBytes(name);
        int nameOption = 4 + ((nameBytes.Length + 3) & ~3);
        int total = 16 + nameOption + 8 + 4 + 4;
        var b = Block(total);
        Header(b, 1, total);
        BinaryPrimitives.WriteUInt16LittleEndian(b[8..], (ushort)LinkType.Ethernet);
        BinaryPrimitives.WriteInt32LittleEndian(b[12..], SnapLength);
        int o = 16;
        BinaryPrimitives.WriteUInt16LittleEndian(b[o..], 2);
        BinaryPrimitives.WriteUInt16LittleEndian(b[(o + 2)..], (ushort)nameBytes.Length);
        nameBytes.CopyTo(b[(o + 4)..]);
        o += nameOption;
        BinaryPrimitives.WriteUInt16LittleEndian(b[o..], 9);
        BinaryPrimitives.WriteUInt16LittleEndian(b[(o + 2)..], 1);
        b[o + 4] = 9; // if_tsresol: 10^-9 s
        BinaryPrimitives.WriteInt32LittleEndian(b[(total - 4)..], total);
        stream.Write(b);
        return id;
    }

    private void WriteSectionHeader()
    {
        const int total = 28;
        var b = Block(total);
        Header(b, 0x0A0D0D0A, total);
        BinaryPrimitives.WriteUInt32LittleEndian(b[8..], 0x1A2B3C4D);
        BinaryPrimitives.WriteUInt16LittleEndian(b[12..], 1);
        BinaryPrimitives.WriteUInt16LittleEndian(b[14..], 0);
        BinaryPrimitives.WriteInt64LittleEndian(b[16..], -1);
        BinaryPrimitives.WriteInt32LittleEndian(b[24..], total);
        stream.Write(b);
    }

    /// <summary>A zeroed scratch block of <paramref name="length"/> bytes.</summary>
    private Span<byte> Block(int length)
    {
        if (block.Length < length) block = new byte[Math.Max(length, block.Length * 2)];
        var span = block.AsSpan(0, length);
        span.Clear();
        return span;
    }

    private static void Header(Span<byte> b, uint type, int total)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(b, type);
        BinaryPrimitives.WriteInt32LittleEndian(b[4..], total);
    }

    public void Dispose()
    {
        stream.Flush();
        if (!leaveOpen) stream.Dispose();
    }
}
