using Harness.Net;
using Harness.Packets;

namespace Harness.Engine.Conntrack;

/// <summary>
/// Sequence adjustment of a connection whose payload a NAT helper resized (nf_conntrack_seqadj): per direction, the
/// sequence number of the last resized packet and the total size change before and after it. The confirm step shifts
/// every later packet's sequence number by its own direction's offset and its acknowledgment (and SACK blocks) back by
/// the other direction's; TCP window tracking, which sees packets before that, takes the other direction's offset off
/// the acknowledgment (tcp_in_window), so it works in the sender's numbers throughout.
/// </summary>
internal sealed class SeqAdjust
{
    private struct Way
    {
        public uint CorrectionPos;
        public int OffsetBefore, OffsetAfter;
    }

    private readonly Way[] ways = new Way[2];

    /// <summary>nf_ct_seqadj_set: the packet of <paramref name="dir"/> starting at <paramref name="seq"/> grew by <paramref name="delta"/>.</summary>
    public void Set(CtDirection dir, uint seq, int delta)
    {
        if (delta == 0) return;
        ref var w = ref ways[(int)dir];
        // A retransmission of an older resized packet changes nothing (only a newer position moves the offsets).
        if (w.OffsetBefore == w.OffsetAfter || TcpTracker.Before(w.CorrectionPos, seq))
        {
            w.CorrectionPos = seq;
            w.OffsetBefore = w.OffsetAfter;
            w.OffsetAfter += delta;
        }
    }

    /// <summary>nf_ct_seq_offset: the offset that applies to a sequence number of <paramref name="dir"/>.</summary>
    public int Offset(CtDirection dir, uint seq)
    {
        var w = ways[(int)dir];
        return TcpTracker.After(seq, w.CorrectionPos) ? w.OffsetAfter : w.OffsetBefore;
    }

    /// <summary>The offset the acknowledgment of a packet of the other direction is shifted back by (its own comparison, as nf_ct_seq_adjust makes it).</summary>
    private int AckOffset(CtDirection otherDir, uint ack)
    {
        var w = ways[(int)otherDir];
        return TcpTracker.After(ack - (uint)w.OffsetBefore, w.CorrectionPos) ? w.OffsetAfter : w.OffsetBefore;
    }

    /// <summary>
    /// nf_ct_seq_adjust: the packet with its sequence number, acknowledgment (when ACK is set) and SACK blocks moved,
    /// the TCP checksum updated incrementally; the packet itself when nothing changes.
    /// </summary>
    public Packet Adjust(Packet packet, CtDirection dir)
    {
        if (packet.Transport is not TcpHeader th || packet.Ip is not { } ip || packet.Raw.Length < ip.HeaderLength + 20) return packet;
        var other = dir == CtDirection.Original ? CtDirection.Reply : CtDirection.Original;
        uint seq = th.Sequence + (uint)Offset(dir, th.Sequence);
        bool hasAck = (th.Flags & TcpFlags.Ack) != 0;
        uint ack = hasAck ? th.Acknowledgment - (uint)AckOffset(other, th.Acknowledgment) : th.Acknowledgment;
        bool sackMoves = hasAck && ways[(int)other].OffsetAfter != 0 && !th.Options.IsEmpty;
        if (seq == th.Sequence && ack == th.Acknowledgment && !sackMoves) return packet;
        var buf = packet.Raw.ToArray();
        int l4 = ip.HeaderLength;
        Replace32(buf, l4 + 4, l4 + 16, seq);
        Replace32(buf, l4 + 8, l4 + 16, ack);
        if (sackMoves) AdjustSack(buf, l4, th.HeaderLength, other);
        return PacketDecoder.Redecode(packet, buf);
    }

    /// <summary>nf_ct_sack_adjust: every SACK block's edges moved back like the acknowledgment.</summary>
    private void AdjustSack(byte[] buf, int l4, int headerLength, CtDirection other)
    {
        int i = l4 + 20, end = Math.Min(buf.Length, l4 + headerLength);
        while (i < end)
        {
            byte kind = buf[i];
            if (kind == 0) break;
            if (kind == 1) { i++; continue; }
            if (i + 1 >= end) break;
            int len = buf[i + 1];
            if (len < 2 || i + len > end) break;
            if (kind == 5 && len >= 10 && (len - 2) % 8 == 0)
                for (int b = i + 2; b + 8 <= i + len; b += 4)
                {
                    uint edge = Read32(buf, b);
                    Replace32(buf, b, l4 + 16, edge - (uint)AckOffset(other, edge));
                }
            i += len;
        }
    }

    private static uint Read32(byte[] b, int at) => (uint)(b[at] << 24 | b[at + 1] << 16 | b[at + 2] << 8 | b[at + 3]);

    /// <summary>Writes a 32-bit field and updates the checksum at <paramref name="checkAt"/> for it (inet_proto_csum_replace4).</summary>
    private static void Replace32(byte[] b, int at, int checkAt, uint value)
    {
        uint old = Read32(b, at);
        if (old == value) return;
        uint sum = (ushort)~(b[checkAt] << 8 | b[checkAt + 1]);
        sum += (uint)(ushort)~(old >> 16) + (uint)(ushort)~(old & 0xFFFF) + (value >> 16) + (value & 0xFFFF);
        while (sum >> 16 != 0) sum = (sum & 0xFFFF) + (sum >> 16);
        ushort check = (ushort)~sum;
        b[checkAt] = (byte)(check >> 8);
        b[checkAt + 1] = (byte)check;
        b[at] = (byte)(value >> 24);
        b[at + 1] = (byte)(value >> 16);
        b[at + 2] = (byte)(value >> 8);
        b[at + 3] = (byte)value;
    }
}
