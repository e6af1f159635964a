using Harness.Net;
using Harness.Packets;

namespace Harness.Engine.Conntrack;

/// <summary>The kernel's SCTP conntrack states (enum sctp_conntrack), in its order.</summary>
public enum SctpConntrackState : byte
{
    None = 0,
    Closed = 1,
    CookieWait = 2,
    CookieEchoed = 3,
    Established = 4,
    ShutdownSent = 5,
    ShutdownRecd = 6,
    ShutdownAckSent = 7,
    HeartbeatSent = 8,
}

/// <summary>Per-connection SCTP tracking state: verification tags and INIT bookkeeping per direction.</summary>
internal sealed class SctpState
{
    public readonly uint[] Vtag = new uint[2];
    public readonly bool[] Init = new bool[2];
    public bool HeartbeatVtagFailed;
    public CtDirection LastDir;
}

/// <summary>
/// SCTP tracking (nf_conntrack_proto_sctp): chunk sanity checks, verification tags (RFC 4960 8.5), the state table
/// indexed [direction][chunk][old state] (same transitions as the kernel's sctp_conntracks, 6.x), timeouts per state.
/// </summary>
internal static class SctpTracker
{
    private const byte Data = 0, InitChunk = 1, InitAck = 2, Heartbeat = 4, HeartbeatAck = 5, Abort = 6, Shutdown = 7,
        ShutdownAck = 8, Error = 9, CookieEcho = 10, CookieAck = 11, ShutdownComplete = 14;

    private const SctpConntrackState NO = SctpConntrackState.None, CL = SctpConntrackState.Closed, CW = SctpConntrackState.CookieWait,
        CE = SctpConntrackState.CookieEchoed, ES = SctpConntrackState.Established, SS = SctpConntrackState.ShutdownSent,
        SR = SctpConntrackState.ShutdownRecd, SA = SctpConntrackState.ShutdownAckSent, HS = SctpConntrackState.HeartbeatSent;

    /// <summary>Marks a cell that makes the packet INVALID.</summary>
    private const SctpConntrackState IV = (SctpConntrackState)255;

    // Rows: INIT, INIT_ACK, ABORT, SHUTDOWN, SHUTDOWN_ACK, ERROR, COOKIE_ECHO, COOKIE_ACK, SHUTDOWN_COMPLETE, HEARTBEAT, HEARTBEAT_ACK.
    // Columns: NONE, CLOSED, COOKIE_WAIT, COOKIE_ECHOED, ESTABLISHED, SHUTDOWN_SENT, SHUTDOWN_RECD, SHUTDOWN_ACK_SENT, HEARTBEAT_SENT.
    private static readonly SctpConntrackState[,,] Table = new SctpConntrackState[2, 11, 9]
    {
        { // ORIGINAL
            { CL, CL, CW, CE, ES, CL, CL, SA, CW }, // INIT: opens (CLOSED until the INIT_ACK answers); ignored once under way
            { CL, CL, CW, CE, ES, SS, SR, SA, CL }, // INIT_ACK from the initiator: no progress
            { CL, CL, CL, CL, CL, CL, CL, CL, CL }, // ABORT closes from anywhere
            { CL, CL, CW, CE, SS, SS, SR, SA, CL }, // SHUTDOWN: only an established association starts shutting down
            { SA, CL, CW, CE, ES, SA, SA, SA, SA }, // SHUTDOWN_ACK answers a SHUTDOWN (or is an out-of-the-blue one)
            { CL, CL, CW, CE, ES, SS, SR, SA, CL }, // ERROR: no state change (a stale cookie cannot come this way)
            { CL, CL, CE, CE, ES, SS, SR, SA, CL }, // COOKIE_ECHO after the INIT_ACK
            { CL, CL, CW, ES, ES, SS, SR, SA, CL }, // COOKIE_ACK (cannot really come this way)
            { CL, CL, CW, CE, ES, SS, SR, CL, CL }, // SHUTDOWN_COMPLETE ends the shutdown
            { HS, CL, CW, CE, ES, SS, SR, SA, HS }, // HEARTBEAT of a flow we did not see start (multi-homing)
            { CL, CL, CW, CE, ES, SS, SR, SA, HS }, // HEARTBEAT_ACK
        },
        { // REPLY
            { IV, CL, CW, CE, ES, SS, SR, SA, IV }, // INIT from the responder
            { IV, CW, CW, CE, ES, SS, SR, SA, IV }, // INIT_ACK answers the INIT: COOKIE_WAIT
            { IV, CL, CL, CL, CL, CL, CL, CL, IV }, // ABORT closes
            { IV, CL, CW, CE, SR, SS, SR, SA, IV }, // SHUTDOWN from the responder
            { IV, CL, CW, CE, ES, SA, SA, SA, IV }, // SHUTDOWN_ACK answers the initiator's SHUTDOWN
            { IV, CL, CW, CL, ES, SS, SR, SA, IV }, // ERROR answering a COOKIE_ECHO (stale cookie) closes
            { IV, CL, CE, CE, ES, SS, SR, SA, IV }, // COOKIE_ECHO cannot come this way
            { IV, CL, CW, ES, ES, SS, SR, SA, IV }, // COOKIE_ACK: established
            { IV, CL, CW, CE, ES, SS, SR, CL, IV }, // SHUTDOWN_COMPLETE ends the shutdown
            { IV, CL, CW, CE, ES, SS, SR, SA, HS }, // HEARTBEAT
            { IV, CL, CW, CE, ES, SS, SR, SA, ES }, // HEARTBEAT_ACK answering a heartbeat: the secondary path is established
        },
    };

    private static int RowOf(byte chunk) => chunk switch
    {
        InitChunk => 0, InitAck => 1, Abort => 2, Shutdown => 3, ShutdownAck => 4, Error => 5, CookieEcho => 6,
        CookieAck => 7, ShutdownComplete => 8, Heartbeat => 9, HeartbeatAck => 10, _ => -1,
    };

    private static SctpConntrackState Next(CtDirection dir, SctpConntrackState cur, byte chunk)
    {
        int row = RowOf(chunk);
        return row < 0 ? cur : Table[(int)dir, row, (int)cur]; // DATA, SACK, …: no state change
    }

    private readonly record struct Chunk(byte Type, byte Flags, int Offset);

    /// <summary>The chunks of the packet, or null when a chunk is malformed (do_basic_checks).</summary>
    private static List<Chunk>? Chunks(ReadOnlySpan<byte> sctp)
    {
        var list = new List<Chunk>();
        bool single = false;
        int off = 12;
        while (off + 4 <= sctp.Length)
        {
            byte type = sctp[off];
            int len = sctp[off + 2] << 8 | sctp[off + 3];
            if (type is InitChunk or InitAck or ShutdownComplete) single = true;
            if (((type is CookieAck or CookieEcho || single) && list.Count != 0) || len == 0) return null;
            list.Add(new Chunk(type, sctp[off + 1], off));
            off += (len + 3) & ~3;
        }
        return list.Count == 0 ? null : list;
    }

    private static uint U32(ReadOnlySpan<byte> b, int at) => (uint)(b[at] << 24 | b[at + 1] << 16 | b[at + 2] << 8 | b[at + 3]);

    /// <summary>nf_conntrack_sctp_packet: checks, verification tags, state, timeout.</summary>
    public static (TrackVerdict, string?) Packet(ConnEntry ct, CtDirection dir, bool isNew, Packet packet, Hook hook,
        ConntrackSettings settings, Timestamp now)
    {
        var ip = packet.Ip!;
        var raw = packet.Raw.Span;
        if (raw.Length < ip.HeaderLength + 12) return (TrackVerdict.Invalid, "sctp: short packet");
        if (hook == Hook.Prerouting && settings.Checksum && !packet.Transport!.ChecksumValid) return (TrackVerdict.Invalid, "sctp: bad CRC");
        var sctp = raw[ip.HeaderLength..Math.Min(raw.Length, ip.TotalLength)];
        uint vtag = U32(sctp, 4);
        var chunks = Chunks(sctp);
        if (chunks is null) return (TrackVerdict.Invalid, "sctp: malformed chunks");
        bool Has(byte t) => chunks.Any(c => c.Type == t);

        if (isNew)
        {
            if (Has(Abort) || Has(ShutdownComplete) || Has(CookieAck)) return (TrackVerdict.Invalid, "sctp: out-of-the-blue packet cannot open");
            ct.Sctp = new SctpState();
            foreach (var c in chunks)
            {
                var s = Next(CtDirection.Original, SctpConntrackState.None, c.Type);
                if (s is SctpConntrackState.None or IV) return (TrackVerdict.Invalid, "sctp: invalid new");
                if (c.Type == InitChunk)
                {
                    if (vtag != 0 || c.Offset + 8 > sctp.Length) return (TrackVerdict.Invalid, "sctp: INIT with a verification tag");
                    ct.Sctp.Vtag[(int)CtDirection.Reply] = U32(sctp, c.Offset + 4);
                }
                else if (c.Type == Heartbeat) ct.Sctp.Vtag[(int)CtDirection.Original] = vtag;
                else if (c.Type == ShutdownAck) ct.Sctp.Vtag[(int)CtDirection.Reply] = vtag;
            }
            ct.SctpState = SctpConntrackState.None;
        }
        var st = ct.Sctp!;
        int d = (int)dir, o = 1 - d;

        if (!Has(InitChunk) && !Has(ShutdownComplete) && !Has(CookieEcho) && !Has(Abort) && !Has(ShutdownAck)
            && !Has(Heartbeat) && !Has(HeartbeatAck) && vtag != st.Vtag[d])
            return (TrackVerdict.Invalid, "sctp: verification tag check failed");

        var oldState = SctpConntrackState.None;
        var newState = SctpConntrackState.None;
        bool ignore = false;
        foreach (var c in chunks)
        {
            bool t = (c.Flags & 1) != 0;
            switch (c.Type)
            {
                case InitChunk when vtag != 0:
                    return (TrackVerdict.Invalid, "sctp: INIT with a verification tag");
                case Abort or ShutdownComplete when (!t && vtag != st.Vtag[d]) || (t && vtag != st.Vtag[o]):
                    return (TrackVerdict.Invalid, "sctp: ABORT/SHUTDOWN_COMPLETE with a wrong verification tag");
                case CookieEcho when vtag != st.Vtag[d]:
                    return (TrackVerdict.Invalid, "sctp: COOKIE_ECHO with a wrong verification tag");
                case CookieAck:
                    st.Init[d] = st.Init[o] = false;
                    break;
                case Heartbeat or HeartbeatAck:
                    if (st.Vtag[d] == 0) st.Vtag[d] = vtag;
                    else if (vtag != st.Vtag[d])
                    {
                        if (Has(Data) || ignore) return (TrackVerdict.Invalid, "sctp: heartbeat with a wrong verification tag");
                        if (c.Type == Heartbeat)
                        {
                            st.HeartbeatVtagFailed = true;
                            st.LastDir = dir;
                            ignore = true;
                            continue;
                        }
                        if (!st.HeartbeatVtagFailed || st.LastDir == dir) return (TrackVerdict.Invalid, "sctp: heartbeat ack with a wrong verification tag");
                        st.HeartbeatVtagFailed = false;
                        st.Vtag[d] = vtag;
                        st.Vtag[o] = 0;
                    }
                    else if (st.HeartbeatVtagFailed) st.HeartbeatVtagFailed = false;
                    break;
            }

            oldState = ct.SctpState;
            newState = Next(dir, oldState, c.Type);
            if (newState == IV) return (TrackVerdict.Invalid, $"sctp: chunk {c.Type} invalid in {oldState} ({dir})");

            if (c.Type == InitChunk)
            {
                if (c.Offset + 8 > sctp.Length) return (TrackVerdict.Invalid, "sctp: short INIT");
                if (st.Init[d] && st.Init[o]) st.Init[o] = false;
                st.Init[d] = true;
                st.Vtag[o] = U32(sctp, c.Offset + 4);
                if (newState == SctpConntrackState.Closed && oldState == SctpConntrackState.Closed && ct.IsConfirmed) ignore = true;
            }
            else if (c.Type == InitAck)
            {
                if (c.Offset + 8 > sctp.Length) return (TrackVerdict.Invalid, "sctp: short INIT_ACK");
                uint initTag = U32(sctp, c.Offset + 4);
                uint known = st.Vtag[o];
                if (!st.Init[o] && known != 0 && known != initTag) return (TrackVerdict.Invalid, "sctp: INIT_ACK with an unexpected tag");
                if (st.Init[d] && st.Init[o] && known != initTag) return (TrackVerdict.Invalid, "sctp: INIT collision");
                st.Vtag[o] = initTag;
            }

            ct.SctpState = newState;
            if (oldState != newState && newState == SctpConntrackState.Established) ct.Status |= CtStatus.Assured;
        }

        if (ignore) return (TrackVerdict.Accept, null);
        long timeout = settings.SctpTimeouts[(int)newState];
        ct.Expires = new Timestamp(now.Nanoseconds + ConntrackSettings.Seconds(timeout).Nanoseconds);
        return (TrackVerdict.Accept, null);
    }

    /// <summary>The name conntrack -L prints for the state.</summary>
    public static string NameOf(SctpConntrackState s) => s switch
    {
        SctpConntrackState.None => "NONE",
        SctpConntrackState.Closed => "CLOSED",
        SctpConntrackState.CookieWait => "COOKIE_WAIT",
        SctpConntrackState.CookieEchoed => "COOKIE_ECHOED",
        SctpConntrackState.Established => "ESTABLISHED",
        SctpConntrackState.ShutdownSent => "SHUTDOWN_SENT",
        SctpConntrackState.ShutdownRecd => "SHUTDOWN_RECD",
        SctpConntrackState.ShutdownAckSent => "SHUTDOWN_ACK_SENT",
        _ => "HEARTBEAT_SENT",
    };
}
