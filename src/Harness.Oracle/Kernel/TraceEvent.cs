using Harness.Oracle.Native;

namespace Harness.Oracle.Kernel;

/// <summary>What kind of step an nftables trace event reports.</summary>
public enum TraceKind
{
    /// <summary>A base chain's policy decided (end of the chain reached).</summary>
    Policy = 1,

    /// <summary>The end of a user chain was reached: back to the caller.</summary>
    Return = 2,

    /// <summary>A rule matched (its verdict may be "continue").</summary>
    Rule = 3,
}

/// <summary>The nftables verdict codes a trace event carries.</summary>
public static class Verdicts
{
    public const int Drop = 0;
    public const int Accept = 1;
    public const int Stolen = 2;
    public const int Queue = 3;
    public const int Continue = -1;
    public const int Break = -2;
    public const int Jump = -3;
    public const int Goto = -4;
    public const int Return = -5;

    public static bool IsTerminal(int code) => code is Drop or Accept or Stolen or Queue;
}

/// <summary>One nftables trace event (what "nft monitor trace" prints as one line), decoded from netlink.</summary>
public sealed record TraceEvent(
    uint Id,
    byte TableFamily,
    string Table,
    string Chain,
    TraceKind Kind,
    ulong? RuleHandle,
    int? Verdict,
    string? JumpTarget,
    int? Policy,
    byte[] Network,
    byte[] Transport,
    int? InInterface,
    int? OutInterface,
    uint Mark,
    byte PacketFamily)
{
    public const byte NfProtoInet = 1;
    public const byte NfProtoIpv4 = 2;
    public const byte NfProtoIpv6 = 10;

    private const int SubsystemNftables = 10;
    private const int MessageTrace = 17;

    /// <summary>The event, or null when the message is not a trace event.</summary>
    internal static TraceEvent? FromMessage(NetlinkMessage message)
    {
        if (message.Subsystem != SubsystemNftables || message.Message != MessageTrace) return null;
        var a = message.Attributes;
        var verdict = a.Nested(5);
        return new TraceEvent(
            Id: a.U32BigEndian(6) ?? 0,
            TableFamily: message.Family,
            Table: a.String(1) ?? "",
            Chain: a.String(2) ?? "",
            Kind: (TraceKind)(a.U32BigEndian(4) ?? 0),
            RuleHandle: a.U64BigEndian(3),
            Verdict: verdict?.U32BigEndian(1) is uint v ? unchecked((int)v) : null,
            JumpTarget: verdict?.String(2),
            Policy: a.U32BigEndian(16) is uint p ? unchecked((int)p) : null,
            Network: a.Bytes(8)?.ToArray() ?? [],
            Transport: a.Bytes(9)?.ToArray() ?? [],
            InInterface: a.U32BigEndian(10) is uint i ? (int)i : null,
            OutInterface: a.U32BigEndian(12) is uint o ? (int)o : null,
            Mark: a.U32BigEndian(14) ?? 0,
            PacketFamily: (byte)(a.U32BigEndian(15) ?? 0));
    }

    /// <summary>The IP protocol of the traced packet (IPv4 header byte 9, IPv6 next header), or 0.</summary>
    public byte IpProtocol => Network.Length >= 20 && Network[0] >> 4 == 4 ? Network[9]
        : Network.Length >= 40 && Network[0] >> 4 == 6 ? Network[6] : (byte)0;

    /// <summary>The IPv4 identification of the traced packet, or null for IPv6.</summary>
    public ushort? Ipv4Id => Network.Length >= 20 && Network[0] >> 4 == 4 ? (ushort)(Network[4] << 8 | Network[5]) : null;
}
