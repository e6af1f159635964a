using System.Buffers.Binary;
using Harness.Net;

namespace Harness.Packets;

/// <summary>
/// The fragmentable part of one IP fragment, as reassembly sees it: where its data goes (<see cref="Offset"/> in bytes),
/// whether more follow, the data itself (as far as the capture holds it) and its length on the wire.
/// <see cref="HeaderLength"/> is what precedes the data: the IPv4 header with options, or the IPv6 unfragmentable part
/// plus the 8-byte fragment header. For IPv6, <see cref="NextHeaderAt"/> is the byte that names the fragment header
/// (6 in the fixed header, or the next-header byte of the extension header in front) and <see cref="NextHeader"/> the
/// fragment header's own next header.
/// </summary>
public readonly record struct FragmentPiece(
    int Offset,
    bool More,
    ReadOnlyMemory<byte> Data,
    int DataLength,
    int HeaderLength,
    int NextHeaderAt,
    byte NextHeader);

/// <summary>
/// Byte work for IP fragment reassembly (the model's nf_defrag_ipv4 / nf_defrag_ipv6): cutting a fragment into header and
/// data, gluing a complete datagram back together, and counting the fragments a datagram leaves as.
/// </summary>
public static class Reassembly
{
    /// <summary>True when the kernel's defrag would gather the packet: IPv4 MF or a fragment offset; IPv6 any fragment header.</summary>
    public static bool IsFragment(Packet packet) => packet.Ip is { } ip && packet.DecodeError is null
        && (ip.Family == Family.IPv4 ? ip.IsFragment : ip.IsFragment || ip.ExtensionHeaders.Contains(IpProtocol.Ipv6Frag));

    /// <summary>The piece a fragment contributes, or null when no fragment header can be found in its bytes.</summary>
    public static FragmentPiece? Piece(Packet fragment)
    {
        var ip = fragment.Ip;
        var raw = fragment.Raw;
        if (ip is null || raw.IsEmpty) return null;
        if (ip.Family == Family.IPv4)
        {
            int dataLength = ip.TotalLength - ip.HeaderLength;
            var data = raw.Length > ip.HeaderLength ? raw[ip.HeaderLength..Math.Min(raw.Length, ip.TotalLength)] : ReadOnlyMemory<byte>.Empty;
            return new FragmentPiece(ip.FragmentOffset, ip.MoreFragments, data, dataLength, ip.HeaderLength, 0, ip.Protocol);
        }

        // IPv6: walk the extension headers in front of the fragment header, as find_prev_fhdr does.
        var span = raw.Span;
        if (span.Length < 40) return null;
        int total = 40 + BinaryPrimitives.ReadUInt16BigEndian(span[4..]);
        byte next = span[6];
        int nextAt = 6;
        int offset = 40;
        while (next != IpProtocol.Ipv6Frag)
        {
            if (next is not (IpProtocol.HopByHop or IpProtocol.Ipv6Route or IpProtocol.Ipv6Opts or IpProtocol.Ah)) return null;
            if (offset + 8 > span.Length) return null;
            int length = next == IpProtocol.Ah ? (span[offset + 1] + 2) * 4 : (span[offset + 1] + 1) * 8;
            nextAt = offset;
            next = span[offset];
            offset += length;
        }
        if (offset + 8 > span.Length || offset + 8 > total) return null;
        ushort field = BinaryPrimitives.ReadUInt16BigEndian(span[(offset + 2)..]);
        int start = offset + 8;
        var bytes = raw.Length > start ? raw[start..Math.Min(raw.Length, total)] : ReadOnlyMemory<byte>.Empty;
        return new FragmentPiece(field & 0xFFF8, (field & 1) != 0, bytes, total - start, start, nextAt, span[offset]);
    }

    /// <summary>
    /// The reassembled datagram: the header of the first fragment (IPv4: total length, fragment field = DF when
    /// <paramref name="dontFragment"/> else 0, checksum recomputed; IPv6: fragment header removed, payload length set)
    /// followed by <paramref name="data"/>, the known leading bytes of the <paramref name="length"/> data bytes (less
    /// when a fragment was cut by the capture's snapshot length: the packet is then decoded as cut short). Number,
    /// time, interface and link are those of <paramref name="completing"/>, the fragment that completed it.
    /// </summary>
    public static Packet Assemble(Packet first, FragmentPiece firstPiece, Packet completing, ReadOnlySpan<byte> data, int length, bool dontFragment)
    {
        var ip = first.Ip ?? throw new ArgumentException("the first fragment has no IP header", nameof(first));
        var head = first.Raw.Span;
        byte[] bytes;
        int wire;
        if (ip.Family == Family.IPv4)
        {
            int hl = firstPiece.HeaderLength;
            wire = hl + length;
            bytes = new byte[hl + data.Length];
            head[..hl].CopyTo(bytes);
            data.CopyTo(bytes.AsSpan(hl));
            BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(2), (ushort)wire);
            BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(6), (ushort)(dontFragment ? 0x4000 : 0));
            bytes[10] = bytes[11] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(10), InternetChecksum.Compute(bytes.AsSpan(0, hl)));
        }
        else
        {
            int unfragmentable = firstPiece.HeaderLength - 8;
            wire = unfragmentable + length;
            bytes = new byte[unfragmentable + data.Length];
            head[..unfragmentable].CopyTo(bytes);
            data.CopyTo(bytes.AsSpan(unfragmentable));
            bytes[firstPiece.NextHeaderAt] = firstPiece.NextHeader;
            BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(4), (ushort)(wire - 40));
        }
        return PacketDecoder.Decode(bytes, completing.Number, completing.Time, completing.Interface, completing.Direction, completing.Link, wire);
    }

    /// <summary>
    /// How many fragments <paramref name="datagram"/> leaves as through a link of <paramref name="mtu"/> when it was
    /// reassembled from fragments of at most <paramref name="maxFragmentSize"/> bytes (the kernel's frag_max_size),
    /// whose data lengths in offset order were <paramref name="pieces"/>. As ip_do_fragment / ip6_fragment do: an IPv4
    /// datagram reassembled is always fragmented again, an IPv6 one when it is longer than the MTU or the largest
    /// fragment; the size used is the smaller of the MTU and the largest fragment. When every piece fits in it (and all
    /// but the last hold a multiple of 8 bytes) the datagram leaves in the pieces it came in (the fast path over the
    /// reassembled skb's fragment list); otherwise it is cut anew, each fragment but the last with a multiple of 8 data
    /// bytes, an IPv6 fragment repeating the unfragmentable part (fixed header, hop-by-hop, routing) plus an 8-byte
    /// fragment header. 1 when it leaves whole.
    /// </summary>
    public static int FragmentCount(Packet datagram, int mtu, int maxFragmentSize, IReadOnlyList<int>? pieces = null)
    {
        var ip = datagram.Ip ?? throw new ArgumentException("the datagram has no IP header", nameof(datagram));
        int total = ip.TotalLength;
        bool v4 = ip.Family == Family.IPv4;
        int size = maxFragmentSize > 0 && maxFragmentSize < mtu ? maxFragmentSize : mtu;
        bool needs = v4
            ? total > mtu || maxFragmentSize > 0
            : total > mtu || (maxFragmentSize > 0 && total > maxFragmentSize);
        if (!needs) return 1;
        int header = v4 ? ip.HeaderLength : UnfragmentableLength(datagram.Raw.Span);
        int room = size - header - (v4 ? 0 : 8);
        if (pieces is { Count: > 0 } && pieces.Sum() == total - header)
        {
            bool fits = true;
            for (int i = 0; i < pieces.Count && fits; i++)
                fits = pieces[i] <= room && (i == pieces.Count - 1 || (pieces[i] & 7) == 0);
            if (fits) return pieces.Count;
        }
        int data = total - header;
        if (data <= room) return 1;
        int perFragment = room & ~7;
        if (perFragment <= 0) return 0;
        return (data + perFragment - 1) / perFragment;
    }

    /// <summary>The IPv6 header plus the hop-by-hop and routing headers that follow it (what every fragment repeats).</summary>
    private static int UnfragmentableLength(ReadOnlySpan<byte> raw)
    {
        if (raw.Length < 40) return 40;
        byte next = raw[6];
        int offset = 40;
        while (next is IpProtocol.HopByHop or IpProtocol.Ipv6Route && offset + 8 <= raw.Length)
        {
            next = raw[offset];
            offset += (raw[offset + 1] + 1) * 8;
        }
        return offset;
    }
}
