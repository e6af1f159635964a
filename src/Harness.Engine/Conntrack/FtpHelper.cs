using System.Globalization;
using System.Text;
using Harness.Net;
using Harness.Packets;

namespace Harness.Engine.Conntrack;

/// <summary>Per-connection state of the FTP helper: where each direction's next line starts.</summary>
internal sealed class FtpState
{
    public readonly List<uint>[] SeqAfterNewline = [[], []];
}

/// <summary>
/// The FTP conntrack helper (nf_conntrack_ftp), for connections given "-j CT --helper ftp": on established control
/// packets it reads PORT / EPRT (client) and 227 / 229 (server) lines and expects the data connection, which is then
/// RELATED. As in the kernel, a line is only read when it starts right after a newline seen earlier in that direction.
/// When the control connection is NATed, nf_nat_ftp rewrites the command to the NATed address and port (the packet's
/// length changes, and with it the sequence numbers of the later packets: <see cref="SeqAdjust"/>), and the data
/// connection follows the master's NAT (<see cref="NatHelper.FollowMaster"/>).
/// </summary>
internal static class FtpHelper
{
    private const int RememberedNewlines = 2;
    private const long ExpectTimeoutSeconds = 300;

    /// <summary>What nf_ct_helper_log says when help() (nf_ct_expect_related) or nf_nat_ftp (nf_nat_exp_find_port) drops the packet.</summary>
    internal const string CannotExpect = "nf_ct_ftp: dropping packet: cannot add expectation", AllPortsInUse = "nf_ct_ftp: dropping packet: all ports in use";

    /// <summary>Reads one packet of the control connection at confirm; gives it back, its payload rewritten by nf_nat_ftp when the connection is NATed.</summary>
    public static Packet Inspect(ConntrackTable table, CtPacket ct, Packet packet)
    {
        var e = ct.Entry!;
        if (packet.Transport is not TcpHeader th || packet.Ip is not { } ip) return packet;
        if (ct.State != CtState.Established) return packet; // until traffic went both ways, the helper does not look
        int offset = ip.HeaderLength + th.HeaderLength;
        int length = packet.PayloadLength;
        if (length <= 0 || packet.Raw.Length < offset + length) return packet;
        var data = packet.Raw.Span.Slice(offset, length);
        e.Ftp ??= new FtpState();
        int dir = (int)ct.Direction;
        bool endsInNewline = data[^1] == (byte)'\n';
        uint nextSeq = th.Sequence + (uint)length;
        var result = packet;
        if (e.Ftp.SeqAfterNewline[dir].Contains(th.Sequence))
            result = ExpectFromLine(table, ct, e, Encoding.ASCII.GetString(data), packet);
        // (the sequence numbers the helper remembers are the sender's, before any adjustment)
        if (endsInNewline) RememberNewline(e.Ftp.SeqAfterNewline[dir], nextSeq);
        return result;
    }

    private enum Command { Port, Eprt, Pasv, Epsv }

    private static void RememberNewline(List<uint> seqs, uint seq)
    {
        if (seqs.Contains(seq)) return;
        if (seqs.Count < RememberedNewlines) { seqs.Add(seq); return; }
        int oldest = TcpTracker.Before(seqs[0], seqs[1]) ? 0 : 1;
        if (TcpTracker.After(seq, seqs[oldest])) seqs[oldest] = seq;
    }

    private static Packet ExpectFromLine(ConntrackTable table, CtPacket ct, ConnEntry e, string line, Packet packet)
    {
        var dir = ct.Direction;
        var sender = e.TupleOf(dir).Source;
        Address? address = sender;
        ushort port;
        int at, length; // where the address/port text is in the payload, and how long
        Command command;
        if (dir == CtDirection.Original)
        {
            at = 5;
            if (StartsWith(line, "PORT ")) { command = Command.Port; if (!TryRfc959(line[5..], sender.Family, out address, out port, out length)) return packet; }
            else if (StartsWith(line, "EPRT ")) { command = Command.Eprt; if (!TryEprt(line[5..], out address, out port, out length)) return packet; }
            else return packet;
        }
        else
        {
            if (StartsWith(line, "227 "))
            {
                command = Command.Pasv;
                var rest = line[4..];
                int open = rest.IndexOf('(');
                int start = open >= 0 ? open + 1 : rest.IndexOfAny("0123456789".ToCharArray());
                if (start < 0 || !TryRfc959(rest[start..], sender.Family, out address, out port, out length)) return packet;
                at = 4 + start;
            }
            else if (StartsWith(line, "229 "))
            {
                command = Command.Epsv;
                int open = line.IndexOf('(');
                if (open < 0 || !TryEpsv(line[(open + 1)..], out port, out length)) return packet;
                at = open + 1;
            }
            else return packet;
        }
        if (address is not { } a || a.Family != sender.Family) return packet;
        if (a != sender) return packet; // the kernel records no expectation for an address other than the sender's
        var otherDir = dir == CtDirection.Original ? CtDirection.Reply : CtDirection.Original;
        var other = e.TupleOf(otherDir);
        var expires = new Timestamp(packet.Time.Nanoseconds + ExpectTimeoutSeconds * 1_000_000_000L);
        if ((e.Status & (CtStatus.SrcNat | CtStatus.DstNat)) == 0)
        {
            // help(): an expectation it cannot add (another master's pending one has the same tuple) drops the packet
            if (!table.AddExpectation(new Expectation(e, e.Zone, sender.Family, IpProtocol.Tcp, other.Source, other.Destination, port, expires, "ftp"), packet.Time))
                ct.DropReason = CannotExpect;
            return packet;
        }
        // nf_nat_ftp: the data connection will come to where this packet goes (the other direction's destination, the
        // NATed address); it is expected at the announced port or the next free one, follows the master's NAT back to
        // the announced port, and the payload announces the NATed address and port instead.
        var follow = new NatFollow(otherDir, port);
        Expectation Make(ushort p) => new(e, e.Zone, sender.Family, IpProtocol.Tcp, other.Source, other.Destination, p, expires, "ftp", Follow: follow);
        ushort chosen = NatHelper.FindPort(table, port, Make, packet.Time);
        if (chosen == 0)
        {
            ct.DropReason = AllPortsInUse;
            return packet;
        }
        return NatHelper.MangleTcp(e, dir, packet, at, length, Format(command, other.Destination, chosen));
    }

    /// <summary>What nf_nat_ftp writes in place of the address/port text.</summary>
    private static string Format(Command command, Address address, ushort port) => command switch
    {
        Command.Port or Command.Pasv => string.Create(CultureInfo.InvariantCulture,
            $"{string.Join(',', address.ToBytes().ToArray())},{port >> 8},{port & 0xFF}"),
        Command.Eprt => address.Family == Family.IPv4
            ? string.Create(CultureInfo.InvariantCulture, $"|1|{address}|{port}|")
            : string.Create(CultureInfo.InvariantCulture, $"|2|{FullIpv6(address)}|{port}|"),
        _ => string.Create(CultureInfo.InvariantCulture, $"|||{port}|"),
    };

    /// <summary>An IPv6 address with all eight groups of four digits (the kernel's %pI6).</summary>
    private static string FullIpv6(Address a)
    {
        var b = a.ToBytes().ToArray();
        return string.Join(':', Enumerable.Range(0, 8).Select(i => (b[2 * i] << 8 | b[2 * i + 1]).ToString("x4", CultureInfo.InvariantCulture)));
    }

    private static bool StartsWith(string s, string prefix) => s.StartsWith(prefix, StringComparison.OrdinalIgnoreCase);

    /// <summary>"h1,h2,h3,h4,p1,p2".</summary>
    private static bool TryRfc959(string s, Family family, out Address? address, out ushort port, out int length)
    {
        address = null;
        port = 0;
        length = 0;
        var nums = new List<int>();
        int i = 0;
        while (nums.Count < 6)
        {
            int start = i;
            while (i < s.Length && char.IsAsciiDigit(s[i])) i++;
            if (i == start || i - start > 3) return false;
            int v = int.Parse(s.AsSpan(start, i - start), CultureInfo.InvariantCulture);
            if (v > 255) return false;
            nums.Add(v);
            if (nums.Count < 6)
            {
                if (i >= s.Length || s[i] != ',') return false;
                i++;
            }
        }
        if (family != Family.IPv4) return false;
        address = Address.V4((uint)(nums[0] << 24 | nums[1] << 16 | nums[2] << 8 | nums[3]));
        port = (ushort)(nums[4] << 8 | nums[5]);
        length = i;
        return true;
    }

    /// <summary>"|1|132.235.1.2|6275|" or "|2|addr6|port|" (any delimiter).</summary>
    private static bool TryEprt(string s, out Address? address, out ushort port, out int length)
    {
        address = null;
        port = 0;
        length = 0;
        if (s.Length < 1) return false;
        char d = s[0];
        if (d < 33 || d > 126) return false;
        var parts = s[1..].Split(d);
        if (parts.Length < 4) return false;
        if (!Address.TryParse(parts[1], out var a)) return false;
        if ((parts[0] == "1" && a.Family != Family.IPv4) || (parts[0] == "2" && a.Family != Family.IPv6) || parts[0] is not ("1" or "2")) return false;
        if (!ushort.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out port)) return false;
        address = a;
        length = 4 + parts[0].Length + parts[1].Length + parts[2].Length; // up to and with the closing delimiter
        return true;
    }

    /// <summary>"|||6446|)".</summary>
    private static bool TryEpsv(string s, out ushort port, out int length)
    {
        port = 0;
        length = 0;
        if (s.Length < 5) return false;
        char d = s[0];
        if (s[1] != d || s[2] != d) return false;
        int end = s.IndexOf(d, 3);
        length = end + 1;
        return end > 3 && ushort.TryParse(s.AsSpan(3, end - 3), NumberStyles.None, CultureInfo.InvariantCulture, out port);
    }
}
