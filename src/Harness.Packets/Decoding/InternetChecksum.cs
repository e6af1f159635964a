using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.Intrinsics;
using Harness.Net;

namespace Harness.Packets;

/// <summary>The RFC 1071 ones'-complement checksum used by IPv4, TCP, UDP, ICMP and ICMPv6, and SCTP's CRC32c.</summary>
public static class InternetChecksum
{
    /// <summary>Adds <paramref name="data"/> to a running 32-bit sum of 16-bit big-endian words (odd tail padded with zero).</summary>
    /// <remarks>
    /// Sums little-endian words (16 bytes at a time with vectors) and swaps the folded result: the ones'-complement sum
    /// does not depend on byte order (RFC 1071 section 2(B)).
    /// </remarks>
    public static uint Add(uint sum, ReadOnlySpan<byte> data)
    {
        ulong acc = 0;
        int i = 0;
        if (Vector128.IsHardwareAccelerated)
        {
            // uint lanes hold at most 4096 * 2 * 65535 < 2^32 before they are emptied into acc.
            while (data.Length - i >= 16)
            {
                var lanes = Vector128<uint>.Zero;
                int end = Math.Min(data.Length - 15, i + 16 * 4096);
                for (; i < end; i += 16)
                {
                    var words = Vector128.Create<byte>(data.Slice(i, 16)).AsUInt16();
                    var (low, high) = Vector128.Widen(words);
                    lanes += low + high;
                }
                acc += (ulong)lanes.GetElement(0) + lanes.GetElement(1) + lanes.GetElement(2) + lanes.GetElement(3);
            }
        }
        for (; i + 8 <= data.Length; i += 8)
        {
            ulong w = BinaryPrimitives.ReadUInt64LittleEndian(data[i..]);
            acc += (w & 0xFFFF) + ((w >> 16) & 0xFFFF) + ((w >> 32) & 0xFFFF) + (w >> 48);
        }
        for (; i + 2 <= data.Length; i += 2) acc += BinaryPrimitives.ReadUInt16LittleEndian(data[i..]);
        if (i < data.Length) acc += data[i];
        while ((acc >> 16) != 0) acc = (acc & 0xFFFF) + (acc >> 16);
        ulong total = (ulong)sum + BinaryPrimitives.ReverseEndianness((ushort)acc);
        while ((total >> 32) != 0) total = (total & 0xFFFF_FFFF) + (total >> 32);
        return (uint)total;
    }

    /// <summary>Folds a running sum to 16 bits and complements it: the value to store in a checksum field.</summary>
    public static ushort Finish(uint sum)
    {
        while ((sum >> 16) != 0) sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)~sum;
    }

    /// <summary>The checksum of a block of bytes (an IPv4 header or an ICMPv4 message).</summary>
    public static ushort Compute(ReadOnlySpan<byte> data) => Finish(Add(0, data));

    /// <summary>The pseudo-header sum for TCP/UDP/ICMPv6 over IPv4 or IPv6 (RFC 793 / RFC 8200 section 8.1).</summary>
    public static uint PseudoHeader(Address source, Address destination, byte protocol, int upperLayerLength)
    {
        ulong sum = AddressWords(source) + AddressWords(destination) + protocol
            + (uint)(upperLayerLength & 0xFFFF) + (uint)(upperLayerLength >> 16);
        while ((sum >> 32) != 0) sum = (sum & 0xFFFF_FFFF) + (sum >> 32);
        return (uint)sum;
    }

    /// <summary>The sum of an address's 16-bit words (2 for IPv4, 8 for IPv6).</summary>
    private static ulong AddressWords(Address address)
    {
        if (address.Family == Family.IPv4)
        {
            uint v = (uint)address.Value;
            return (v >> 16) + (v & 0xFFFF);
        }
        ulong high = (ulong)(address.Value >> 64), low = (ulong)address.Value;
        return (high >> 48) + ((high >> 32) & 0xFFFF) + ((high >> 16) & 0xFFFF) + (high & 0xFFFF)
            + (low >> 48) + ((low >> 32) & 0xFFFF) + ((low >> 16) & 0xFFFF) + (low & 0xFFFF);
    }

    /// <summary>The transport checksum (TCP, UDP, ICMPv6; ICMPv4 when <paramref name="withPseudoHeader"/> is false) of a whole segment whose checksum field is zeroed or included.</summary>
    public static ushort Transport(Address source, Address destination, byte protocol, ReadOnlySpan<byte> segment, bool withPseudoHeader = true)
    {
        uint sum = withPseudoHeader ? PseudoHeader(source, destination, protocol, segment.Length) : 0;
        return Finish(Add(sum, segment));
    }

    /// <summary>SCTP's CRC32c over a packet whose checksum field (bytes 8-11) is taken as zero, as stored (little-endian value).</summary>
    public static uint SctpCrc32c(ReadOnlySpan<byte> packet)
    {
        uint crc = 0xFFFF_FFFF;
        for (int i = 0; i < packet.Length; i++)
            crc = BitOperations.Crc32C(crc, i is >= 8 and < 12 ? (byte)0 : packet[i]);
        return ~crc;
    }
}
