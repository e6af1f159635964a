using System.Text;
using Harness.Net;
using Harness.Packets;
using Harness.Rules;

namespace Harness.Engine.Conntrack;

/// <summary>
/// How an expected connection takes its master's NAT (set by nf_nat_tftp, nf_nat_ftp, nf_nat_irc): the expectation's
/// direction and the port the helped peer really announced (the expectation's own port may be a NATed one).
/// </summary>
public sealed record NatFollow(CtDirection Direction, ushort SavedPort);

/// <summary>The shared pieces of the NAT helpers (nf_nat_helper.c): following the master, and resizing a TCP payload.</summary>
internal static class NatHelper
{
    /// <summary>
    /// nf_nat_follow_master, run when the expected connection's first packet creates it: its source becomes the address
    /// the master sends to in the other direction than the expectation's, its destination the address that direction
    /// comes from, with the saved port. Both NAT halves are then set up: the nat chains are not walked for it.
    /// </summary>
    public static void FollowMaster(ConntrackTable table, ConnEntry fresh, ConnEntry master, NatFollow follow)
    {
        var masterTuple = master.TupleOf(follow.Direction == CtDirection.Original ? CtDirection.Reply : CtDirection.Original);
        var src = masterTuple.Destination;
        Nat.Setup(table, fresh, NatManipType.Source, new NatRange(src, src, null, null));
        var dst = masterTuple.Source;
        Nat.Setup(table, fresh, NatManipType.Destination, new NatRange(dst, dst, follow.SavedPort, follow.SavedPort));
    }

    /// <summary>
    /// nf_nat_exp_find_port: adds the expectation (<paramref name="make"/>) at <paramref name="wanted"/>, or, while that
    /// clashes with another pending one (-EBUSY), at other ports of wanted … 65534, at most min(65535 − wanted, 128)
    /// more tries; returns the port it was added at, 0 when every try clashed (the NAT helper then drops the packet).
    /// The kernel draws those other ports at random (so it may miss a free one, or try one twice); the model takes them
    /// in order from wanted + 1, wrapping back to wanted after 65534: the same drop whenever none is free, and for
    /// wanted = 65535 (no other try) whenever that one is taken.
    /// </summary>
    public static ushort FindPort(ConntrackTable table, ushort wanted, Func<ushort, Expectation> make, Timestamp now, int maxExpected = 1)
    {
        const int MaxAttempts = 128;
        int range = ushort.MaxValue - wanted;
        int attemptsLeft = Math.Min(range, MaxAttempts);
        int port = wanted;
        while (true)
        {
            if (table.AddExpectation(make((ushort)port), now, maxExpected)) return (ushort)port;
            if (--attemptsLeft < 0) return 0;
            port = port + 1 > wanted + range - 1 ? wanted : port + 1;
        }
    }

    /// <summary>
    /// __nf_nat_mangle_tcp_packet: replaces <paramref name="matchLength"/> bytes at <paramref name="matchOffset"/> of the
    /// TCP payload by <paramref name="replacement"/>; the IP total length and header checksum, and the TCP checksum
    /// (computed afresh, as the kernel leaves it to the device), follow. A size change is recorded for sequence
    /// adjustment of the later packets of <paramref name="dir"/> (the mangled packet keeps its numbers).
    /// </summary>
    public static Packet MangleTcp(ConnEntry e, CtDirection dir, Packet packet, int matchOffset, int matchLength, string replacement)
    {
        var ip = packet.Ip!;
        var th = (TcpHeader)packet.Transport!;
        var old = packet.Raw.Span;
        int dataOffset = ip.HeaderLength + th.HeaderLength;
        int at = dataOffset + matchOffset;
        var rep = Encoding.ASCII.GetBytes(replacement);
        var buf = new byte[old.Length - matchLength + rep.Length];
        old[..at].CopyTo(buf);
        rep.CopyTo(buf, at);
        old[(at + matchLength)..].CopyTo(buf.AsSpan(at + rep.Length));
        int segment = buf.Length - ip.HeaderLength;
        if (ip.Family == Family.IPv4)
        {
            Write16(buf, 2, (ushort)buf.Length);
            Write16(buf, 10, 0);
            Write16(buf, 10, InternetChecksum.Compute(buf.AsSpan(0, ip.HeaderLength)));
        }
        else
        {
            Write16(buf, 4, (ushort)(buf.Length - 40));
        }
        int check = ip.HeaderLength + 16;
        Write16(buf, check, 0);
        Write16(buf, check, InternetChecksum.Transport(ip.Source, ip.Destination, IpProtocol.Tcp, buf.AsSpan(ip.HeaderLength, segment)));
        int delta = rep.Length - matchLength;
        if (delta != 0)
        {
            e.SeqAdj ??= new SeqAdjust();
            e.SeqAdj.Set(dir, th.Sequence, delta);
        }
        return PacketDecoder.Redecode(packet, buf);
    }

    private static void Write16(byte[] b, int at, ushort v)
    {
        b[at] = (byte)(v >> 8);
        b[at + 1] = (byte)v;
    }
}
