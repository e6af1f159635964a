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
/// nf_nat_amanda, for an IPv4 master with NAT: each expectation is added at the announced port or, while another master
/// has that one (-EBUSY), at another port found as nf_nat_exp_find_port does (<see cref="NatHelper.FindPort"/>: the
/// kernel draws up to 128 random ports above the announced one, the model takes them in order; none free: the packet is
/// dropped, "all ports in use", unless a later keyword's expectation succeeds: the kernel keeps the last keyword's verdict); the announced digits are replaced by
/// that port in decimal (UDP and IP lengths and checksums follow; a zero UDP checksum stays zero), and the TCP connection
/// follows the master's NAT back to the announced port (<see cref="NatHelper.FollowMaster"/>, expectation direction
/// original). The keywords after a rewrite are looked for at the line's old offsets in the rewritten payload, as the
/// kernel does.
/// </summary>
internal static class AmandaHelper
{
    private const long ExpectTimeoutSeconds = 180, MasterTimeoutSeconds = 300;
    private const int MaxExpected = 4; // measured (the source's amanda_exp_policy says 3)
    private static readonly byte[] Connect = "CONNECT "u8.ToArray();
    private static readonly byte[][] Keywords = ["DATA "u8.ToArray(), "MESG "u8.ToArray(), "INDEX "u8.ToArray()];

    /// <summary>Why the packet is dropped when nf_ct_expect_related refuses an expectation (the kernel logs nothing).</summary>
    internal const string CannotExpect = "nf_ct_amanda: dropping packet: cannot add expectation";

    /// <summary>nf_nat_amanda's nf_ct_helper_log when no port from the announced one up to 65535 is free.</summary>
    internal const string AllPortsInUse = "nf_ct_amanda: dropping packet: all ports in use";

    /// <summary>Reads one packet at confirm; gives it back, its ports rewritten by nf_nat_amanda when the master is NATed.</summary>
    public static Packet Inspect(ConntrackTable table, CtPacket ct, Packet packet)
    {
        var e = ct.Entry!;
        if (ct.Direction == CtDirection.Original || packet.Transport is not UdpHeader) return packet;
        table.SetExpiry(e, new Timestamp(ct.Time.Nanoseconds + MasterTimeoutSeconds * 1_000_000_000L));
        byte[] data = packet.TransportBytes()[8..].ToArray();
        if (data.Length == 0) return packet;
        int at = data.AsSpan().IndexOf(Connect);
        if (at < 0) return packet;
        int start = at + Connect.Length;
        int nl = data.AsSpan(start).IndexOf((byte)'\n');
        if (nl < 0) return packet;
        int stop = start + nl;
        var o = e.Original;
        bool nat = o.Family == Family.IPv4 && (e.Status & (CtStatus.SrcNat | CtStatus.DstNat)) != 0;
        var expires = new Timestamp(ct.Time.Nanoseconds + ExpectTimeoutSeconds * 1_000_000_000L);
        foreach (var keyword in Keywords)
        {
            int end = Math.Min(stop, data.Length); // after a longer or shorter rewrite the old offsets still apply
            if (start >= end) break;
            int found = data.AsSpan(start, end - start).IndexOf(keyword);
            if (found < 0) continue;
            int off = start + found + keyword.Length;
            int len = Math.Min(5, end - off);
            ulong value = 0;
            int digits = 0;
            while (digits < len && data[off + digits] is >= (byte)'0' and <= (byte)'9') value = value * 10 + (ulong)(data[off + digits++] - '0');
            ushort port = (ushort)value;
            if (port == 0) break;
            if (!nat)
            {
                if (!table.AddExpectation(new Expectation(e, e.Zone, o.Family, IpProtocol.Tcp, o.Source, o.Destination, port, expires, "amanda"), ct.Time, MaxExpected))
                    ct.DropReason = CannotExpect;
                continue;
            }
            var follow = new NatFollow(CtDirection.Original, port);
            ushort chosen = NatHelper.FindPort(table, port, p => new Expectation(e, e.Zone, Family.IPv4, IpProtocol.Tcp, o.Source, o.Destination,
                p, expires, "amanda", Follow: follow), ct.Time, MaxExpected);
            if (chosen == 0)
            {
                ct.DropReason = AllPortsInUse;
                continue;
            }
            ct.DropReason = null; // the kernel keeps the verdict of the last nf_nat_amanda call
            var text = System.Text.Encoding.ASCII.GetBytes(chosen.ToString(System.Globalization.CultureInfo.InvariantCulture));
            data = [.. data.AsSpan(0, off), .. text, .. data.AsSpan(off + digits)];
            packet = MangleUdp(packet, data);
        }
        return packet;
    }

    /// <summary>
    /// nf_nat_mangle_udp_packet: the packet with <paramref name="payload"/> as its UDP payload; the IP total length and
    /// header checksum and the UDP length follow; the UDP checksum is computed afresh (0 becomes 0xFFFF), a zero one stays.
    /// </summary>
    private static Packet MangleUdp(Packet packet, byte[] payload)
    {
        var ip = packet.Ip!;
        var old = packet.Raw.Span;
        int udpAt = ip.HeaderLength;
        var buf = new byte[udpAt + 8 + payload.Length];
        old[..(udpAt + 8)].CopyTo(buf);
        payload.CopyTo(buf, udpAt + 8);
        Write16(buf, 2, (ushort)buf.Length);
        Write16(buf, 10, 0);
        Write16(buf, 10, InternetChecksum.Compute(buf.AsSpan(0, udpAt)));
        Write16(buf, udpAt + 4, (ushort)(buf.Length - udpAt));
        if (old[udpAt + 6] != 0 || old[udpAt + 7] != 0)
        {
            Write16(buf, udpAt + 6, 0);
            ushort sum = InternetChecksum.Transport(ip.Source, ip.Destination, IpProtocol.Udp, buf.AsSpan(udpAt));
            Write16(buf, udpAt + 6, sum == 0 ? (ushort)0xFFFF : sum);
        }
        return PacketDecoder.Redecode(packet, buf);
    }

    private static void Write16(byte[] b, int at, ushort v)
    {
        b[at] = (byte)(v >> 8);
        b[at + 1] = (byte)v;
    }
}
