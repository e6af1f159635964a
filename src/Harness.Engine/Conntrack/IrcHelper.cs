using System.Globalization;
using System.Text;
using Harness.Net;
using Harness.Packets;

namespace Harness.Engine.Conntrack;

/// <summary>
/// The IRC conntrack helper (nf_conntrack_irc), IPv4/TCP, for connections given "-j CT --helper irc". It reads only
/// the client's packets (original direction) once traffic went both ways. A packet must start (after blanks and line
/// ends) with "PRIVMSG " (any case) and the first " :" in it must be followed by "\1DCC "; then one of SEND, CHAT, MOVE,
/// TSEND, SCHAT, a word (the file name), a decimal IPv4 address and a port, with a line end somewhere after it. The
/// address must be the client's own (the source of the connection; another one counts as forged). The helper then
/// expects a TCP connection from anywhere to the client's address and that port: RELATED. One DCC per packet; 300 s;
/// at most 8 per master (a ninth drops the oldest). When the connection is NATed, nf_nat_irc writes the NATed address
/// (decimal) and port in place of the announced ones, the packet's length changes (<see cref="SeqAdjust"/>), and the
/// DCC connection follows the master's NAT (<see cref="NatHelper.FollowMaster"/>); the address may then be the
/// client's own or its NATed one.
/// </summary>
internal static class IrcHelper
{
    private const long ExpectTimeoutSeconds = 300;
    private const int MaxExpected = 8;

    /// <summary>What nf_ct_helper_log says when help() (nf_ct_expect_related) or nf_nat_irc (nf_nat_exp_find_port) drops the packet.</summary>
    internal const string CannotExpect = "nf_ct_irc: dropping packet: cannot add expectation", AllPortsInUse = "nf_ct_irc: dropping packet: all ports in use";
    private static readonly string[] Protocols = ["SEND ", "CHAT ", "MOVE ", "TSEND ", "SCHAT "];

    /// <summary>Reads one client packet at confirm; gives it back, its DCC address and port rewritten by nf_nat_irc when the connection is NATed.</summary>
    public static Packet Inspect(ConntrackTable table, CtPacket ct, Packet packet)
    {
        var e = ct.Entry!;
        if (ct.Direction != CtDirection.Original || ct.State != CtState.Established) return packet;
        if (packet.Transport is not TcpHeader th || packet.Ip is not { Family: Family.IPv4 }) return packet;
        var segment = packet.TransportBytes();
        if (th.HeaderLength >= segment.Length) return packet;
        var data = segment[th.HeaderLength..];
        int end = data.Length, i = 0;
        while (i < end - 10 && data[i] is (byte)' ' or (byte)'\r' or (byte)'\n') i++;
        if (i < end - 10)
        {
            if (!StartsWith(data[i..], "PRIVMSG ", ignoreCase: true)) return packet;
            i += 8;
        }
        while (i < end - 26)
        {
            if (data[i] != ' ' || data[i + 1] != ':') { i++; continue; }
            i += 2;
            if (!StartsWith(data[i..], "\u0001DCC ", ignoreCase: false)) return packet;
            i += 5;
            foreach (var proto in Protocols)
            {
                if (!StartsWith(data[i..], proto, ignoreCase: false)) continue;
                i += proto.Length;
                if (!TryParseDcc(data, i, out uint ip, out ushort port, out int begin, out int stop)) continue;
                var client = e.Original.Source;
                var reply = e.Reply;
                // the address may be the client's own or its NATed one (where the server's packets go)
                if ((Address.V4(ip) != client && Address.V4(ip) != reply.Destination) || port == 0)
                {
                    table.AddWarning($"irc helper: forged DCC command from {client}: {Address.V4(ip)}:{port} (no expectation)");
                    continue;
                }
                var expires = new Timestamp(ct.Time.Nanoseconds + ExpectTimeoutSeconds * 1_000_000_000L);
                if ((e.Status & (CtStatus.SrcNat | CtStatus.DstNat)) == 0)
                {
                    if (!table.AddExpectation(new Expectation(e, e.Zone, Family.IPv4, IpProtocol.Tcp, Address.V4(0), reply.Destination, port,
                        expires, "irc", SourcePrefixLength: 0), ct.Time, MaxExpected))
                        ct.DropReason = CannotExpect;
                    return packet;
                }
                // nf_nat_irc: expected at the NATed address, at the announced port or the next free one; the connection
                // follows the master's NAT back to the announced port, and the DCC announces the NATed address and port
                var follow = new NatFollow(CtDirection.Reply, port);
                Expectation Make(ushort p) => new(e, e.Zone, Family.IPv4, IpProtocol.Tcp, Address.V4(0), reply.Destination, p,
                    expires, "irc", SourcePrefixLength: 0, Follow: follow);
                ushort chosen = NatHelper.FindPort(table, port, Make, ct.Time, MaxExpected);
                if (chosen == 0)
                {
                    ct.DropReason = AllPortsInUse;
                    return packet;
                }
                var text = string.Create(CultureInfo.InvariantCulture, $"{(uint)reply.Destination.Value} {chosen}");
                return NatHelper.MangleTcp(e, ct.Direction, packet, begin, stop - begin, text);
            }
        }
        return packet;
    }

    /// <summary>"NAME ADDRESS PORT…" from <paramref name="at"/>: the file name ends at the first blank; a line end must follow somewhere.</summary>
    private static bool TryParseDcc(ReadOnlySpan<byte> data, int at, out uint ip, out ushort port, out int begin, out int stop)
    {
        ip = 0;
        port = 0;
        begin = stop = 0;
        int i = at;
        while (true)
        {
            if (i >= data.Length) return false;
            bool blank = data[i++] == ' ';
            if (blank) break;
            if (i > data.Length - 12) return false;
        }
        if (data[i..].IndexOf((byte)'\n') < 0) return false;
        begin = i;
        ip = (uint)ParseDecimal(data, ref i);
        while (i < data.Length && data[i] == ' ')
        {
            if (i >= data.Length - 1) return false;
            i++;
        }
        port = (ushort)ParseDecimal(data, ref i);
        stop = i;
        return true;
    }

    /// <summary>Decimal digits from <paramref name="i"/> (none: 0), wrapping as an unsigned long does.</summary>
    private static ulong ParseDecimal(ReadOnlySpan<byte> data, ref int i)
    {
        ulong v = 0;
        while (i < data.Length && data[i] >= '0' && data[i] <= '9') v = unchecked(v * 10 + (ulong)(data[i++] - '0'));
        return v;
    }

    private static bool StartsWith(ReadOnlySpan<byte> data, string text, bool ignoreCase)
    {
        if (data.Length < text.Length) return false;
        var head = Encoding.ASCII.GetString(data[..text.Length]);
        return string.Equals(head, text, ignoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal);
    }
}
