using Harness.Net;
using Harness.Packets;

namespace Harness.Engine.Conntrack;

/// <summary>Window tracking state of one direction (the kernel's ip_ct_tcp_state).</summary>
internal struct TcpWindowState
{
    public uint End;      // highest seq + len seen from this sender
    public uint MaxEnd;   // highest ack + window the receiver allowed
    public uint MaxWin;   // largest window seen (0 = nothing seen yet)
    public uint MaxAck;   // highest ack this sender sent
    public byte Scale;    // window scale
    public TcpSideFlags Flags;
}

[Flags]
internal enum TcpSideFlags : byte
{
    None = 0,
    WindowScale = 0x01,
    SackPerm = 0x02,
    CloseInit = 0x04,
    BeLiberal = 0x08,
    DataUnacknowledged = 0x10,
    MaxAckSet = 0x20,
}

[Flags]
internal enum TcpTrackFlags : byte
{
    None = 0,
    WindowScale = 0x01,
    SackPerm = 0x02,
    SimultaneousOpen = 0x40,
    ExpectChallengeAck = 0x80,
}

/// <summary>The last segment conntrack looked at (the kernel's last_* fields), for its special cases.</summary>
internal struct TcpLastPacket
{
    public TcpFlagClass Index;
    public CtDirection Dir;
    public uint Seq, Ack, End;
    public ushort Win;
    public byte WScale;
    public TcpTrackFlags Flags;
}

/// <summary>The result of a protocol tracker for one packet.</summary>
internal enum TrackVerdict
{
    Accept,
    Invalid,
    /// <summary>Delete the entry and look the packet up again (a SYN reopening a closed connection).</summary>
    Repeat,
}

/// <summary>
/// TCP tracking (nf_conntrack_proto_tcp): validity checks, the state table with its special cases, window
/// tracking (tcp_in_window) with be_liberal, per-state timeouts.
/// </summary>
internal static class TcpTracker
{
    private const uint MaxAckWinConst = 66000;

    /// <summary>Valid flag combinations once PSH, ECE and CWR are masked off (the kernel's tcp_valid_flags).</summary>
    private static readonly TcpFlags[] ValidCombinations =
    [
        TcpFlags.Syn, TcpFlags.Syn | TcpFlags.Urg, TcpFlags.Syn | TcpFlags.Ack, TcpFlags.Rst, TcpFlags.Rst | TcpFlags.Ack,
        TcpFlags.Fin | TcpFlags.Ack, TcpFlags.Fin | TcpFlags.Ack | TcpFlags.Urg, TcpFlags.Ack, TcpFlags.Ack | TcpFlags.Urg,
    ];

    /// <summary><see cref="ValidCombinations"/> as a lookup by flag byte.</summary>
    private static readonly bool[] IsValidCombination = BuildValidTable();

    private static bool[] BuildValidTable()
    {
        var table = new bool[256];
        foreach (var f in ValidCombinations) table[(int)f] = true;
        return table;
    }

    /// <summary>tcp_error: malformed segments are INVALID before any lookup. Null when fine.</summary>
    public static string? Error(TcpHeader th, Packet packet, Harness.Engine.Hook hook, ConntrackSettings settings)
    {
        if (th.HeaderLength < 20) return "tcp: truncated packet";
        if (settings.Checksum && hook == Harness.Engine.Hook.Prerouting && !th.ChecksumValid) return "tcp: bad checksum";
        var f = th.Flags & ~(TcpFlags.Ece | TcpFlags.Cwr | TcpFlags.Psh);
        if (!IsValidCombination[(int)f]) return "tcp: invalid tcp flag combination";
        return null;
    }

    /// <summary>tcp_new: can this segment create an entry? Initialises the window state. Null when it can.</summary>
    public static string? New(ConnEntry ct, TcpHeader th, int payload, ConntrackSettings settings)
    {
        var cell = TcpStateTable.Lookup(CtDirection.Original, TcpStateTable.ClassOf(th.Flags), TcpConntrackState.None);
        if (cell.Kind != TcpCellKind.State) return "tcp: invalid new (" + cell.Reason + ")";
        ct.TcpOriginal = default;
        ct.TcpReplyDir = default;
        ct.TcpTrack = TcpTrackFlags.None;
        ct.TcpRetrans = 0;
        ct.TcpLast = default;
        uint end = SeqPlusLen(th, payload);
        ct.TcpOriginal.End = end;
        ct.TcpOriginal.MaxWin = th.Window == 0 ? 1u : th.Window;
        if (cell.State == TcpConntrackState.SynSent)
        {
            ct.TcpOriginal.MaxEnd = end;
            ParseOptions(th, ref ct.TcpOriginal);
        }
        else
        {
            if (!settings.TcpLoose) return "tcp: not a SYN and nf_conntrack_tcp_loose is off";
            // Picked up mid-stream: history lost; assume SACK and be liberal until both sides were seen.
            ct.TcpOriginal.MaxEnd = end + ct.TcpOriginal.MaxWin;
            ct.TcpOriginal.Flags = TcpSideFlags.SackPerm | TcpSideFlags.BeLiberal;
            ct.TcpReplyDir.Flags = TcpSideFlags.SackPerm | TcpSideFlags.BeLiberal;
        }
        ct.TcpLast.Index = TcpFlagClass.None;
        return null;
    }

    /// <summary>nf_conntrack_tcp_packet for an entry (new or existing). Sets the state and the timeout.</summary>
    public static (TrackVerdict Verdict, string? Reason, bool Kill) Packet(
        ConnEntry ct, CtDirection dir, TcpHeader th, int payload, ConntrackSettings settings, Harness.Net.Timestamp now)
    {
        var old = ct.TcpState;
        var index = TcpStateTable.ClassOf(th.Flags);
        var cell = TcpStateTable.Lookup(dir, index, old);
        var newState = cell.State;
        bool skipWindow = false;
        ref var last = ref ct.TcpLast;

        if (cell.Kind == TcpCellKind.State && newState == TcpConntrackState.SynSent && old >= TcpConntrackState.TimeWait)
        {
            // Reopening a closed or aborted connection: delete the entry and start again.
            bool closeInit = ((ct.TcpOriginal.Flags | ct.TcpReplyDir.Flags) & TcpSideFlags.CloseInit) != 0;
            if (closeInit || (last.Dir == dir && last.Index == TcpFlagClass.Rst))
                return (TrackVerdict.Repeat, null, false);
            cell = new TcpCell(TcpCellKind.Ignore, TcpConntrackState.None, "SYN on a closed connection that was not closed by FIN/RST of this side");
        }

        if (cell.Kind == TcpCellKind.Ignore)
        {
            if (index == TcpFlagClass.SynAck && last.Index == TcpFlagClass.Syn && last.Dir != dir && th.Acknowledgment == last.End)
            {
                // The SYN/ACK answers a SYN we ignored: both ends are in sync, we are not. Resync from the noted SYN.
                old = TcpConntrackState.SynSent;
                newState = TcpConntrackState.SynRecv;
                ref var s = ref Side(ct, last.Dir);
                s.End = last.End;
                s.MaxEnd = last.End;
                s.MaxWin = last.Win == 0 ? 1u : last.Win;
                s.Scale = last.WScale;
                last.Flags &= ~TcpTrackFlags.ExpectChallengeAck;
                s.Flags = (TcpSideFlags)(byte)(last.Flags & (TcpTrackFlags.WindowScale | TcpTrackFlags.SackPerm));
                ref var other = ref Side(ct, dir);
                ResetSide(ref other);
            }
            else
            {
                last.Index = index;
                last.Dir = dir;
                last.Seq = th.Sequence;
                last.End = SeqPlusLen(th, payload);
                last.Win = th.Window;
                if (index == TcpFlagClass.Syn && dir == CtDirection.Original)
                {
                    var seen = default(TcpWindowState);
                    ParseOptions(th, ref seen);
                    last.Flags = TcpTrackFlags.None;
                    last.WScale = 0;
                    if ((seen.Flags & TcpSideFlags.WindowScale) != 0) { last.Flags |= TcpTrackFlags.WindowScale; last.WScale = seen.Scale; }
                    if ((seen.Flags & TcpSideFlags.SackPerm) != 0) last.Flags |= TcpTrackFlags.SackPerm;
                    if (old == TcpConntrackState.LastAck) last.Flags |= TcpTrackFlags.ExpectChallengeAck;
                }
                if (old == TcpConntrackState.SynSent && index == TcpFlagClass.Ack && dir == CtDirection.Reply)
                    last.Ack = th.Acknowledgment;
                return (TrackVerdict.Accept, null, false); // ignored: passes, state and timeout unchanged
            }
        }
        else if (cell.Kind == TcpCellKind.Invalid)
        {
            return (TrackVerdict.Invalid, $"tcp: {CtNames.Of(old)} {dir.ToString().ToLowerInvariant()} {index.ToString().ToUpperInvariant()}: {cell.Reason}", false);
        }
        else if (newState == TcpConntrackState.TimeWait)
        {
            if (old == TcpConntrackState.LastAck && index == TcpFlagClass.Ack && last.Dir != dir && last.Index == TcpFlagClass.Syn
                && (last.Flags & TcpTrackFlags.ExpectChallengeAck) != 0)
            {
                last.Flags &= ~TcpTrackFlags.ExpectChallengeAck;
                return (TrackVerdict.Accept, null, false); // a challenge ACK, not the last ACK: state unchanged
            }
        }
        else if (newState == TcpConntrackState.SynSent2)
        {
            last.Flags |= TcpTrackFlags.SimultaneousOpen;
        }
        else if (newState == TcpConntrackState.SynRecv)
        {
            if (dir == CtDirection.Reply && index == TcpFlagClass.Ack && (last.Flags & TcpTrackFlags.SimultaneousOpen) != 0)
                newState = TcpConntrackState.Established;
        }
        else if (newState == TcpConntrackState.Close && index == TcpFlagClass.Rst)
        {
            var rst = CheckRst(ct, dir, th, old, settings, ref newState);
            if (rst == RstCheck.Invalid) return (TrackVerdict.Invalid, "tcp: invalid rst (sequence before the acknowledged data)", false);
            skipWindow = rst == RstCheck.SkipWindow;
        }

        if (!skipWindow)
        {
            var (window, why) = InWindow(ct, dir, index, th, payload, settings);
            if (window == WindowResult.Ignore) return (TrackVerdict.Accept, null, false);
            if (window == WindowResult.Invalid)
            {
                HandleInvalid(ct, dir, index, settings, now);
                return (TrackVerdict.Invalid, "tcp: " + why, false);
            }
        }

        last.Index = index;
        last.Dir = dir;
        ct.TcpState = newState;
        if (old != newState && newState == TcpConntrackState.FinWait) Side(ct, dir).Flags |= TcpSideFlags.CloseInit;

        long timeout = Timeout(ct, newState, index, settings);
        if (!ct.SeenReply)
        {
            // A RST as the only answer: no connection was ever established, delete the entry at once.
            if ((th.Flags & TcpFlags.Rst) != 0) return (TrackVerdict.Accept, null, true);
            // A retransmitted SYN does not extend the entry's life.
            if (index == TcpFlagClass.Syn && old == TcpConntrackState.SynSent) return (TrackVerdict.Accept, null, false);
            // Picked up mid-stream and not answered yet: no five-day timeout.
            if (newState == TcpConntrackState.Established && timeout > settings.TcpTimeoutUnacknowledged)
                timeout = settings.TcpTimeoutUnacknowledged;
        }
        else if (!ct.IsAssured && old is TcpConntrackState.SynRecv or TcpConntrackState.Established
                 && newState == TcpConntrackState.Established)
        {
            ct.Status |= CtStatus.Assured;
        }
        ct.Expires = new Harness.Net.Timestamp(now.Nanoseconds + ConntrackSettings.Seconds(timeout).Nanoseconds);
        return (TrackVerdict.Accept, null, false);
    }

    private static long Timeout(ConnEntry ct, TcpConntrackState state, TcpFlagClass index, ConntrackSettings s)
    {
        long t = s.TcpTimeouts[(int)state];
        if (ct.TcpRetrans >= s.TcpMaxRetrans && t > s.TcpTimeoutMaxRetrans) return s.TcpTimeoutMaxRetrans;
        if (index == TcpFlagClass.Rst) return s.TcpTimeouts[(int)TcpConntrackState.Close];
        if (((ct.TcpOriginal.Flags | ct.TcpReplyDir.Flags) & TcpSideFlags.DataUnacknowledged) != 0 && t > s.TcpTimeoutUnacknowledged)
            return s.TcpTimeoutUnacknowledged;
        if (ct.TcpLast.Win == 0 && t > s.TcpTimeoutMaxRetrans) return s.TcpTimeoutMaxRetrans;
        return t;
    }

    private enum RstCheck { Window, SkipWindow, Invalid }

    /// <summary>The kernel's checks on a RST that would close the connection.</summary>
    private static RstCheck CheckRst(ConnEntry ct, CtDirection dir, TcpHeader th, TcpConntrackState old, ConntrackSettings settings, ref TcpConntrackState newState)
    {
        ref var last = ref ct.TcpLast;
        // Closing states: the tuple may have been reused already; skip the checks.
        if (CanEarlyDrop(ct.TcpState)) return RstCheck.SkipWindow;
        ref var peer = ref Side(ct, Other(dir));
        if ((peer.Flags & TcpSideFlags.MaxAckSet) != 0 && last.Index != TcpFlagClass.Syn)
        {
            uint seq = th.Sequence;
            bool established = ct.TcpState == TcpConntrackState.Established && ct.IsAssured;
            if (seq == 0 && !established) { /* most likely answers a SYN we let through */ }
            else
            {
                if (Before(seq, peer.MaxAck) && !settings.TcpIgnoreInvalidRst) return RstCheck.Invalid;
                if (established && seq != peer.MaxAck
                    && !(last.Index == TcpFlagClass.Ack && last.Dir == dir && seq == last.End))
                    newState = old; // the RST does not match exactly: keep the state to allow a challenge ACK
            }
        }
        if (((ct.SeenReply && last.Index == TcpFlagClass.Syn) || (!ct.IsAssured && last.Index == TcpFlagClass.Ack))
            && th.Acknowledgment == last.End)
            return RstCheck.SkipWindow; // RST answering a SYN/ACK we let through: delete without window checks
        if (old == TcpConntrackState.SynSent && last.Index == TcpFlagClass.Ack && last.Dir == CtDirection.Reply && th.Sequence == last.Ack)
            return RstCheck.SkipWindow; // RST answering a challenge ACK
        return RstCheck.Window;
    }

    /// <summary>States in which the kernel lets an entry be early-dropped or a RST skip its checks.</summary>
    public static bool CanEarlyDrop(TcpConntrackState s) =>
        s is TcpConntrackState.FinWait or TcpConntrackState.LastAck or TcpConntrackState.TimeWait
            or TcpConntrackState.Close or TcpConntrackState.CloseWait;

    private enum WindowResult { Accept, Ignore, Invalid }

    /// <summary>tcp_in_window: is the segment inside the windows both ends advertised? Updates them when it is.</summary>
    private static (WindowResult, string?) InWindow(ConnEntry ct, CtDirection dir, TcpFlagClass index, TcpHeader th, int payload, ConntrackSettings settings)
    {
        ref var sender = ref Side(ct, dir);
        ref var receiver = ref Side(ct, Other(dir));
        uint seq = th.Sequence, ack = th.Acknowledgment, sack = ack;
        uint win = th.Window;
        uint end = SeqPlusLen(th, payload);
        bool syn = (th.Flags & TcpFlags.Syn) != 0, hasAck = (th.Flags & TcpFlags.Ack) != 0, rst = (th.Flags & TcpFlags.Rst) != 0;

        if ((receiver.Flags & TcpSideFlags.SackPerm) != 0) sack = HighestSack(th, sack);
        if (ct.SeqAdj is { } adj)
        {
            // a NAT helper resized the other direction's payload: its acknowledgments are taken back to the sender's numbers
            uint receiverOffset = (uint)adj.Offset(Other(dir), ack - 1);
            ack -= receiverOffset;
            sack -= receiverOffset;
        }

        if (sender.MaxWin == 0)
        {
            if (syn)
            {
                InitSender(ref sender, ref receiver, th, end, win, dir);
                if (!hasAck) return (WindowResult.Accept, null); // simultaneous open
            }
            else
            {
                // Mid-stream: take what the packet tells.
                sender.End = end;
                uint swin = win << sender.Scale;
                sender.MaxWin = swin == 0 ? 1 : swin;
                sender.MaxEnd = end + sender.MaxWin;
                if (receiver.MaxWin == 0) { receiver.End = sack; receiver.MaxEnd = sack; }
                else if (sack == receiver.End + 1) receiver.End++; // likely a keepalive reply
            }
        }
        else if (syn && After(end, sender.End) && ct.TcpState is TcpConntrackState.SynSent or TcpConntrackState.SynRecv)
        {
            // A SYN (or SYN/ACK) reinitialised with newer sequence numbers.
            InitSender(ref sender, ref receiver, th, end, win, dir);
            if (dir == CtDirection.Reply && !hasAck) return (WindowResult.Accept, null);
        }

        if (!hasAck) ack = sack = receiver.End;
        else if (rst && hasAck && ack == 0) ack = sack = receiver.End; // broken stacks: RST+ACK with ack 0

        if (rst && seq == 0 && ct.TcpState == TcpConntrackState.SynSent) seq = end = sender.End; // RST answering a SYN

        bool seqOk = Before(seq, sender.MaxEnd + 1);
        if (!seqOk)
        {
            uint overshot = end - sender.MaxEnd + 1;
            bool ackOk = After(sack, receiver.End - MaxAckWindow(sender) - 1);
            bool inRecv = receiver.MaxWin != 0 && After(end, sender.End - receiver.MaxWin - 1);
            if (inRecv && ackOk && overshot <= receiver.MaxWin && Before(sack, receiver.End + 1))
            {
                sender.End = end;
                sender.Flags |= TcpSideFlags.DataUnacknowledged;
                return Liberal(sender, settings, WindowResult.Ignore, $"{overshot} bytes more than expected");
            }
            return Liberal(sender, settings, WindowResult.Invalid, $"SEQ is over upper bound {sender.MaxEnd + 1} (over the window of the receiver)");
        }
        if (!Before(sack, receiver.End + 1))
            return Liberal(sender, settings, WindowResult.Invalid, $"ACK is over upper bound {receiver.End + 1} (ACKed data not seen yet)");
        bool inWindow = receiver.MaxWin == 0 || After(end, sender.End - receiver.MaxWin - 1);
        if (!inWindow)
            return Liberal(sender, settings, WindowResult.Ignore, $"SEQ is under lower bound {sender.End - receiver.MaxWin - 1} (already ACKed data retransmitted)");
        if (!After(sack, receiver.End - MaxAckWindow(sender) - 1))
            return Liberal(sender, settings, WindowResult.Ignore, $"ignored ACK under lower bound {receiver.End - MaxAckWindow(sender) - 1} (possible overly delayed)");

        if (!syn) win <<= sender.Scale;
        uint swin2 = win + (sack - ack);
        if (sender.MaxWin < swin2) sender.MaxWin = swin2;
        if (After(end, sender.End))
        {
            sender.End = end;
            sender.Flags |= TcpSideFlags.DataUnacknowledged;
        }
        if (hasAck)
        {
            if ((sender.Flags & TcpSideFlags.MaxAckSet) == 0) { sender.MaxAck = ack; sender.Flags |= TcpSideFlags.MaxAckSet; }
            else if (After(ack, sender.MaxAck)) sender.MaxAck = ack;
        }
        if (receiver.MaxWin != 0 && After(end, sender.MaxEnd)) receiver.MaxWin += end - sender.MaxEnd;
        if (After(sack + win, receiver.MaxEnd - 1))
        {
            receiver.MaxEnd = sack + win;
            if (win == 0) receiver.MaxEnd++;
        }
        if (ack == receiver.End) receiver.Flags &= ~TcpSideFlags.DataUnacknowledged;

        if (index == TcpFlagClass.Ack)
        {
            ref var last = ref ct.TcpLast;
            if (last.Dir == dir && last.Seq == seq && last.Ack == ack && last.End == end && last.Win == th.Window)
                ct.TcpRetrans++;
            else
            {
                last.Dir = dir; last.Seq = seq; last.Ack = ack; last.End = end; last.Win = th.Window;
                ct.TcpRetrans = 0;
            }
        }
        return (WindowResult.Accept, null);
    }

    /// <summary>With be_liberal (sysctl or picked-up connection) an out-of-window segment is accepted as it is.</summary>
    private static (WindowResult, string?) Liberal(TcpWindowState sender, ConntrackSettings settings, WindowResult result, string why) =>
        (sender.Flags & TcpSideFlags.BeLiberal) != 0 || settings.TcpBeLiberal ? (WindowResult.Accept, null) : (result, why);

    /// <summary>nf_tcp_handle_invalid: an out-of-window FIN/RST answering the other side's FIN/RST shortens an assured entry's life.</summary>
    private static void HandleInvalid(ConnEntry ct, CtDirection dir, TcpFlagClass index, ConntrackSettings s, Harness.Net.Timestamp now)
    {
        if (!ct.IsAssured || index is not (TcpFlagClass.Rst or TcpFlagClass.Fin)) return;
        ref var last = ref ct.TcpLast;
        if (last.Dir != dir && last.Index is TcpFlagClass.Fin or TcpFlagClass.Rst)
        {
            long left = ct.Expires.Nanoseconds - now.Nanoseconds;
            if (left < ConntrackSettings.Seconds(120).Nanoseconds) return;
            var unack = ConntrackSettings.Seconds(s.TcpTimeoutUnacknowledged).Nanoseconds;
            if (left > unack) ct.Expires = new Harness.Net.Timestamp(now.Nanoseconds + unack);
        }
        else
        {
            last.Index = index;
            last.Dir = dir;
        }
    }

    private static void InitSender(ref TcpWindowState sender, ref TcpWindowState receiver, TcpHeader th, uint end, uint win, CtDirection dir)
    {
        sender.End = end;
        sender.MaxEnd = end;
        sender.MaxWin = win == 0 ? 1 : win;
        ParseOptions(th, ref sender);
        // Window scaling only applies when both sides offered it.
        if (dir == CtDirection.Reply && !((sender.Flags & TcpSideFlags.WindowScale) != 0 && (receiver.Flags & TcpSideFlags.WindowScale) != 0))
        {
            sender.Scale = 0;
            receiver.Scale = 0;
        }
    }

    private static void ResetSide(ref TcpWindowState s)
    {
        s.End = 0; s.MaxEnd = 0; s.MaxWin = 0; s.MaxAck = 0; s.Scale = 0;
        s.Flags &= TcpSideFlags.BeLiberal;
    }

    /// <summary>tcp_options: window scale and SACK-permitted from the option bytes.</summary>
    private static void ParseOptions(TcpHeader th, ref TcpWindowState state)
    {
        var o = th.Options.Span;
        if (o.Length == 0) return;
        state.Scale = 0;
        state.Flags &= TcpSideFlags.BeLiberal;
        int i = 0;
        while (i < o.Length)
        {
            byte kind = o[i];
            if (kind == 0) return;
            if (kind == 1) { i++; continue; }
            if (i + 1 >= o.Length) return;
            int size = o[i + 1];
            if (size < 2 || size > o.Length - i) return;
            if (kind == 4 && size == 2) state.Flags |= TcpSideFlags.SackPerm;
            else if (kind == 3 && size == 3)
            {
                state.Scale = Math.Min(o[i + 2], (byte)14);
                state.Flags |= TcpSideFlags.WindowScale;
            }
            i += size;
        }
    }

    /// <summary>tcp_sack: the highest right edge of the SACK blocks, or <paramref name="sack"/>.</summary>
    private static uint HighestSack(TcpHeader th, uint sack)
    {
        var o = th.Options.Span;
        if (o.Length == 12 && o[0] == 1 && o[1] == 1 && o[2] == 8 && o[3] == 10) return sack; // timestamps only
        int i = 0;
        while (i < o.Length)
        {
            byte kind = o[i];
            if (kind == 0) return sack;
            if (kind == 1) { i++; continue; }
            if (i + 1 >= o.Length) return sack;
            int size = o[i + 1];
            if (size < 2 || size > o.Length - i) return sack;
            if (kind == 5 && size >= 10 && (size - 2) % 8 == 0)
            {
                for (int b = i + 2; b < i + size; b += 8)
                {
                    uint right = (uint)(o[b + 4] << 24 | o[b + 5] << 16 | o[b + 6] << 8 | o[b + 7]);
                    if (After(right, sack)) sack = right;
                }
                return sack;
            }
            i += size;
        }
        return sack;
    }

    private static uint MaxAckWindow(TcpWindowState s) => s.MaxWin > MaxAckWinConst ? s.MaxWin : MaxAckWinConst;

    internal static uint SeqPlusLen(TcpHeader th, int payload) =>
        th.Sequence + (uint)payload + ((th.Flags & TcpFlags.Syn) != 0 ? 1u : 0u) + ((th.Flags & TcpFlags.Fin) != 0 ? 1u : 0u);

    private static ref TcpWindowState Side(ConnEntry ct, CtDirection d) =>
        ref d == CtDirection.Original ? ref ct.TcpOriginal : ref ct.TcpReplyDir;

    private static CtDirection Other(CtDirection d) => d == CtDirection.Original ? CtDirection.Reply : CtDirection.Original;

    internal static bool Before(uint a, uint b) => (int)(a - b) < 0;

    internal static bool After(uint a, uint b) => Before(b, a);
}
