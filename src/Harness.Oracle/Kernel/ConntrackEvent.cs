using Harness.Engine;
using Harness.Net;
using Harness.Oracle.Native;

namespace Harness.Oracle.Kernel;

public enum ConntrackEventKind
{
    New,
    Update,
    Destroy,
}

/// <summary>One conntrack event (what "conntrack -E" prints as one line), decoded from netlink.</summary>
public sealed record ConntrackEvent(ConntrackEventKind Kind, uint Id, CtTuple? Original, CtTuple? Reply, string? TcpState, uint Status, uint Mark)
{
    public const uint StatusSeenReply = 1 << 1;
    public const uint StatusAssured = 1 << 2;
    public const uint StatusSrcNat = 1 << 4;
    public const uint StatusDstNat = 1 << 5;

    private const int SubsystemConntrack = 1;
    private const int MessageNew = 0;
    private const int MessageDelete = 2;
    private const ushort FlagCreate = 0x400;

    /// <summary>The kernel's TCP conntrack states, by number (enum tcp_conntrack).</summary>
    public static readonly IReadOnlyList<string> TcpStates =
        ["NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"];

    internal static ConntrackEvent? FromMessage(NetlinkMessage message)
    {
        if (message.Subsystem != SubsystemConntrack) return null;
        var kind = message.Message switch
        {
            MessageNew when (message.Flags & FlagCreate) != 0 => ConntrackEventKind.New,
            MessageNew => ConntrackEventKind.Update,
            MessageDelete => ConntrackEventKind.Destroy,
            _ => (ConntrackEventKind?)null,
        };
        if (kind is null) return null;
        var a = message.Attributes;
        string? tcpState = a.Nested(4)?.Nested(1)?.U8(1) is byte s && s < TcpStates.Count ? TcpStates[s] : null;
        return new ConntrackEvent(kind.Value, a.U32BigEndian(12) ?? 0, Tuple(a.Nested(1)), Tuple(a.Nested(2)), tcpState,
            a.U32BigEndian(3) ?? 0, a.U32BigEndian(8) ?? 0);
    }

    private static CtTuple? Tuple(NetlinkAttributes? tuple)
    {
        if (tuple is null) return null;
        var ip = tuple.Nested(1);
        var proto = tuple.Nested(2);
        if (ip is null || proto is null) return null;
        Address? src = AddressOf(ip, 1, 4) ?? AddressOf(ip, 3, 16);
        Address? dst = AddressOf(ip, 2, 4) ?? AddressOf(ip, 4, 16);
        if (src is null || dst is null) return null;
        byte protocol = proto.U8(1) ?? 0;
        ushort sport, dport;
        if (proto.Has(4) || proto.Has(7))
        {
            sport = proto.U16BigEndian(4) ?? proto.U16BigEndian(7) ?? 0;
            byte type = proto.U8(5) ?? proto.U8(8) ?? 0;
            byte code = proto.U8(6) ?? proto.U8(9) ?? 0;
            dport = (ushort)(type << 8 | code);
        }
        else
        {
            sport = proto.U16BigEndian(2) ?? 0;
            dport = proto.U16BigEndian(3) ?? 0;
        }
        return new CtTuple(src.Value.Family, protocol, src.Value, dst.Value, sport, dport);
    }

    private static Address? AddressOf(NetlinkAttributes ip, int type, int length) =>
        ip.Bytes(type) is { } b && b.Length == length ? Address.FromBytes(b.Span) : null;
}
