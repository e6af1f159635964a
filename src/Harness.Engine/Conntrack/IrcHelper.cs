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
/// at most 8 per master (a ninth drops the oldest).
/// </summary>
internal static class IrcHelper
{
    private const long ExpectTimeoutSeconds = 300;
    private const int MaxExpected = 8;
    private static readonly string[] Protocols = ["SEND ", "CHAT ", "MOVE ", "TSEND ", "SCHAT "];

    public static Packet Inspect(ConntrackTable table, CtPacket ct, Packet packet)
    {
        Scan(table, ct, packet);
        return packet;
    }

    private static void Scan(ConntrackTable table, CtPacket ct, Packet packet)
    {
        var e = ct.Entry!;
        if (ct.Direction != CtDirection.Original || ct.State != CtState.Established) return;
        if (packet.Transport is not TcpHeader th || packet.Ip is not { Family: Family.IPv4 }) return;
        var segment = packet.TransportBytes();
        if (th.HeaderLength >= segment.Length) return;
        var data = segment[th.HeaderLength..];
        int end = data.Length, i = 0;
        while (i < end - 10 && data[i] is (byte)' ' or (byte)'\r' or (byte)'\n') i++;
        if (i < end - 10)
        {
            if (!StartsWith(data[i..], "PRIVMSG ", ignoreCase: true)) return;
            i += 8;
        }
        while (i < end - 26)
        {
            if (data[i] != ' ' || data[i + 1] != ':') { i++; continue; }
            i += 2;
            if (!StartsWith(data[i..], "\u0001DCC ", ignoreCase: false)) return;
            i += 5;
            foreach (var proto in Protocols)
            {
                if (!StartsWith(data[i..], proto, ignoreCase: false)) continue;
                i += proto.Length;
                if (!TryParseDcc(data, i, out uint ip, out ushort port)) continue;
                var client = e.Original.Source;
                if (Address.V4(ip) != client)
                {
                    table.AddWarning($"irc helper: forged DCC command from {client}: {Address.V4(ip)}:{port} (no expectation)");
                    continue;
                }
                var reply = e.Reply;
                if ((e.Status & (CtStatus.SrcNat | CtStatus.DstNat)) != 0)
                    table.AddWarning($"irc helper: connection {e.Original} is NATed; the DCC payload is not rewritten (nf_nat_irc is not modelled)");
                table.AddExpectation(new Expectation(e, e.Zone, Family.IPv4, IpProtocol.Tcp, Address.V4(0), reply.Destination, port,
                    new Timestamp(ct.Time.Nanoseconds + ExpectTimeoutSeconds * 1_000_000_000L), "irc", SourcePrefixLength: 0), MaxExpected);
                return;
            }
        }
    }

    /// <summary>"NAME ADDRESS PORT…" from <paramref name="at"/>: the file name ends at the first blank; a line end must follow somewhere.</summary>
    private static bool TryParseDcc(ReadOnlySpan<byte> data, int at, out uint ip, out ushort port)
    {
        ip = 0;
        port = 0;
        int i = at;
        while (true)
        {
            if (i >= data.Length) return false;
            bool blank = data[i++] == ' ';
            if (blank) break;
            if (i > data.Length - 12) return false;
        }
        if (data[i..].IndexOf((byte)'\n') < 0) return false;
        ip = (uint)ParseDecimal(data, ref i);
        while (i < data.Length && data[i] == ' ')
        {
            if (i >= data.Length - 1) return false;
            i++;
        }
        port = (ushort)ParseDecimal(data, ref i);
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
