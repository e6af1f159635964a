using System.Buffers.Binary;
using Harness.Engine.Walk;
using Harness.Packets;

namespace Harness.Engine.Matches;

/// <summary>
/// Fields read straight from the bytes after the IP header, for a packet whose transport header is short
/// (<see cref="Packet.TransportError"/>, no decoded <see cref="Packet.Transport"/>): nft's payload expressions (what
/// iptables-nft makes of -m tcp / -m udp ports and flags) and xt matches that want only the ports read just the bytes
/// they need.
/// </summary>
internal static class TransportFields
{
    /// <summary>True when the packet reached netfilter with a transport header shorter than its fixed part.</summary>
    public static bool IsShort(PacketState state) => state.Packet.Transport is null && state.Packet.TransportError is not null;

    /// <summary>The 16-bit big-endian field at <paramref name="offset"/>, or null when the packet ends before it.</summary>
    public static ushort? U16(PacketState state, int offset)
    {
        var bytes = state.Packet.TransportBytes();
        return bytes.Length >= offset + 2 ? BinaryPrimitives.ReadUInt16BigEndian(bytes[offset..]) : null;
    }

    /// <summary>The byte at <paramref name="offset"/>, or null when the packet ends before it.</summary>
    public static byte? U8(PacketState state, int offset)
    {
        var bytes = state.Packet.TransportBytes();
        return bytes.Length > offset ? bytes[offset] : null;
    }

    /// <summary>The outcome reason of a match that sets hotdrop on a short or inconsistent header.</summary>
    public static string HotDropReason(string match, PacketState state) =>
        match + ": " + (state.Packet.TransportError ?? "transport header missing") + ": the match drops the packet";
}
