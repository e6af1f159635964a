using Harness.Net;
using Harness.Packets;

namespace Harness.Engine.Conntrack;

/// <summary>
/// The Amanda conntrack helper (nf_conntrack_amanda), UDP, IPv4 and IPv6, for connections given "-j CT --helper amanda"
/// (the backup server's requests to the client's amandad, UDP 10080). It reads only the client's packets (reply
/// direction). Each one first sets the master's timeout to 300 s (replies may be slow). Then, in its payload, the first
/// "CONNECT " and the first line end after it delimit a line; in that line the first "DATA ", "MESG " and "INDEX " (in
/// that order, wherever they are) are each followed by up to 5 characters of decimal port (cut at the line end; the
/// value is taken modulo 65536). Each non-zero port makes the helper expect a TCP connection from the server's address
/// (any port) to the client's address at that port: RELATED, 180 s, at most 4 per master (a fifth replaces the oldest;
/// the helper's policy says 3, but Linux 6.18 keeps 4: measured in Conntrack/HelperMoreTests).
/// A keyword followed by no digits (port 0) ends the search: the keywords after it are not read. An expectation another
/// master already has drops the packet (the others are still added).
/// nf_nat_amanda (an IPv4 master with NAT) is not modelled: such a packet is refused (<see cref="NotSupportedException"/>).
/// </summary>
internal static class AmandaHelper
{
    private const long ExpectTimeoutSeconds = 180, MasterTimeoutSeconds = 300;
    private const int MaxExpected = 4; // measured (the source's amanda_exp_policy says 3)
    private static readonly byte[] Connect = "CONNECT "u8.ToArray();
    private static readonly byte[][] Keywords = ["DATA "u8.ToArray(), "MESG "u8.ToArray(), "INDEX "u8.ToArray()];

    /// <summary>Why the packet is dropped when nf_ct_expect_related refuses an expectation (the kernel logs nothing).</summary>
    internal const string CannotExpect = "nf_ct_amanda: dropping packet: cannot add expectation";

    public static void Inspect(ConntrackTable table, CtPacket ct, Packet packet)
    {
        var e = ct.Entry!;
        if (ct.Direction == CtDirection.Original || packet.Transport is not UdpHeader) return;
        table.SetExpiry(e, new Timestamp(ct.Time.Nanoseconds + MasterTimeoutSeconds * 1_000_000_000L));
        var data = packet.TransportBytes()[8..];
        if (data.Length == 0) return;
        int at = data.IndexOf(Connect);
        if (at < 0) return;
        int start = at + Connect.Length;
        int nl = data[start..].IndexOf((byte)'\n');
        if (nl < 0) return;
        int stop = start + nl;
        var line = data[start..stop];
        foreach (var keyword in Keywords)
        {
            int found = line.IndexOf(keyword);
            if (found < 0) continue;
            int off = start + found + keyword.Length;
            int len = Math.Min(5, stop - off);
            ulong value = 0;
            for (int i = off; i < off + len && data[i] is >= (byte)'0' and <= (byte)'9'; i++) value = value * 10 + (ulong)(data[i] - '0');
            ushort port = (ushort)value;
            if (port == 0) break;
            if (e.Original.Family == Family.IPv4 && (e.Status & (CtStatus.SrcNat | CtStatus.DstNat)) != 0)
                throw new NotSupportedException(
                    $"conntrack helper amanda: connection {e.Original} is NATed and announces port {port}; nf_nat_amanda (the rewrite of the announced ports and the NAT of the data connections) is not modelled: remove the \"-j CT --helper amanda\" rule or the NAT for this connection");
            var o = e.Original;
            if (!table.AddExpectation(new Expectation(e, e.Zone, o.Family, IpProtocol.Tcp, o.Source, o.Destination, port,
                new Timestamp(ct.Time.Nanoseconds + ExpectTimeoutSeconds * 1_000_000_000L), "amanda"), ct.Time, MaxExpected))
                ct.DropReason = CannotExpect;
        }
    }
}
