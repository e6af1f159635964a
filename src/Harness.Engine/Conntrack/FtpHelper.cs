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
/// </summary>
internal static class FtpHelper
{
    private const int RememberedNewlines = 2;
    private const long ExpectTimeoutSeconds = 300;

    public static void Inspect(ConntrackTable table, CtPacket ct, Packet packet)
    {
        var e = ct.Entry!;
        if (packet.Transport is not TcpHeader th || packet.Ip is not { } ip) return;
        if (ct.State != CtState.Established) return; // until traffic went both ways, the helper does not look
        int offset = ip.HeaderLength + th.HeaderLength;
        int length = packet.PayloadLength;
        if (length <= 0 || packet.Raw.Length < offset + length) return;
        var data = packet.Raw.Span.Slice(offset, length);
        e.Ftp ??= new FtpState();
        int dir = (int)ct.Direction;
        bool endsInNewline = data[^1] == (byte)'\n';
        uint nextSeq = th.Sequence + (uint)length;
        if (e.Ftp.SeqAfterNewline[dir].Contains(th.Sequence))
            ExpectFromLine(table, ct, e, Encoding.ASCII.GetString(data), packet.Time);
        if (endsInNewline) RememberNewline(e.Ftp.SeqAfterNewline[dir], nextSeq);
    }

    private static void RememberNewline(List<uint> seqs, uint seq)
    {
        if (seqs.Contains(seq)) return;
        if (seqs.Count < RememberedNewlines) { seqs.Add(seq); return; }
        int oldest = TcpTracker.Before(seqs[0], seqs[1]) ? 0 : 1;
        if (TcpTracker.After(seq, seqs[oldest])) seqs[oldest] = seq;
    }

    private static void ExpectFromLine(ConntrackTable table, CtPacket ct, ConnEntry e, string line, Timestamp now)
    {
        var dir = ct.Direction;
        var sender = e.TupleOf(dir).Source;
        Address? address = sender;
        ushort port;
        if (dir == CtDirection.Original)
        {
            if (StartsWith(line, "PORT ")) { if (!TryRfc959(line[5..], sender.Family, out address, out port)) return; }
            else if (StartsWith(line, "EPRT ")) { if (!TryEprt(line[5..], out address, out port)) return; }
            else return;
        }
        else
        {
            if (StartsWith(line, "227 "))
            {
                var rest = line[4..];
                int open = rest.IndexOf('(');
                int start = open >= 0 ? open + 1 : rest.IndexOfAny("0123456789".ToCharArray());
                if (start < 0 || !TryRfc959(rest[start..], sender.Family, out address, out port)) return;
            }
            else if (StartsWith(line, "229 "))
            {
                int open = line.IndexOf('(');
                if (open < 0 || !TryEpsv(line[(open + 1)..], out port)) return;
            }
            else return;
        }
        if (address is not { } a || a.Family != sender.Family) return;
        if (a != sender) return; // the kernel records no expectation for an address other than the sender's
        var other = e.TupleOf(dir == CtDirection.Original ? CtDirection.Reply : CtDirection.Original);
        if ((e.Status & (CtStatus.SrcNat | CtStatus.DstNat)) != 0)
            table.AddWarning($"ftp helper: connection {e.Original} is NATed; the PORT/PASV payload is not rewritten (nf_nat_ftp is not modelled)");
        table.AddExpectation(new Expectation(e, e.Zone, sender.Family, IpProtocol.Tcp, other.Source, other.Destination, port,
            new Timestamp(now.Nanoseconds + ExpectTimeoutSeconds * 1_000_000_000L), "ftp"));
    }

    private static bool StartsWith(string s, string prefix) => s.StartsWith(prefix, StringComparison.OrdinalIgnoreCase);

    /// <summary>"h1,h2,h3,h4,p1,p2".</summary>
    private static bool TryRfc959(string s, Family family, out Address? address, out ushort port)
    {
        address = null;
        port = 0;
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
        return true;
    }

    /// <summary>"|1|132.235.1.2|6275|" or "|2|addr6|port|" (any delimiter).</summary>
    private static bool TryEprt(string s, out Address? address, out ushort port)
    {
        address = null;
        port = 0;
        if (s.Length < 1) return false;
        char d = s[0];
        if (d < 33 || d > 126) return false;
        var parts = s[1..].Split(d);
        if (parts.Length < 4) return false;
        if (!Address.TryParse(parts[1], out var a)) return false;
        if ((parts[0] == "1" && a.Family != Family.IPv4) || (parts[0] == "2" && a.Family != Family.IPv6) || parts[0] is not ("1" or "2")) return false;
        if (!ushort.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out port)) return false;
        address = a;
        return true;
    }

    /// <summary>"|||6446|)".</summary>
    private static bool TryEpsv(string s, out ushort port)
    {
        port = 0;
        if (s.Length < 5) return false;
        char d = s[0];
        if (s[1] != d || s[2] != d) return false;
        int end = s.IndexOf(d, 3);
        return end > 3 && ushort.TryParse(s.AsSpan(3, end - 3), NumberStyles.None, CultureInfo.InvariantCulture, out port);
    }
}
