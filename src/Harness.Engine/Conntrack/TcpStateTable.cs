using System.Globalization;
using System.Text;

namespace Harness.Engine.Conntrack;

/// <summary>The class a TCP segment's flags fall in, for the state table (checked in this order: RST, SYN(+ACK), FIN, ACK).</summary>
public enum TcpFlagClass
{
    Syn = 0,
    SynAck = 1,
    Fin = 2,
    Ack = 3,
    Rst = 4,
    None = 5,
}

/// <summary>What a cell of the TCP state table says: go to a state, ignore the segment (let it pass, keep the state), or call it INVALID.</summary>
public enum TcpCellKind
{
    State,
    Ignore,
    Invalid,
}

/// <summary>One cell: the outcome and the reason for it.</summary>
public readonly record struct TcpCell(TcpCellKind Kind, TcpConntrackState State, string Reason)
{
    public override string ToString() => Kind switch
    {
        TcpCellKind.Ignore => "IGNORE",
        TcpCellKind.Invalid => "INVALID",
        _ => CtNames.Of(State),
    };
}

/// <summary>
/// The TCP conntrack state machine as a table indexed [direction][flag class][old state], with a reason on every
/// cell — the same transitions as the kernel's tcp_conntracks (nf_conntrack_proto_tcp.c, 6.x), written out here
/// in our own words. The special cases the kernel handles in code (reopen from TIME_WAIT/CLOSE, the ignored
/// SYN/ACK resync, challenge ACKs, simultaneous open, RST checks) live in <see cref="TcpTracker"/>.
/// </summary>
public static class TcpStateTable
{
    private static TcpCell S(TcpConntrackState s, string why) => new(TcpCellKind.State, s, why);
    private static TcpCell Ig(string why) => new(TcpCellKind.Ignore, TcpConntrackState.None, why);
    private static TcpCell Iv(string why) => new(TcpCellKind.Invalid, TcpConntrackState.None, why);

    private const TcpConntrackState NO = TcpConntrackState.None, SS = TcpConntrackState.SynSent, SR = TcpConntrackState.SynRecv,
        ES = TcpConntrackState.Established, FW = TcpConntrackState.FinWait, CW = TcpConntrackState.CloseWait,
        LA = TcpConntrackState.LastAck, TW = TcpConntrackState.TimeWait, CL = TcpConntrackState.Close, S2 = TcpConntrackState.SynSent2;

    // Columns, in the kernel's state order: NONE, SYN_SENT, SYN_RECV, ESTABLISHED, FIN_WAIT, CLOSE_WAIT, LAST_ACK, TIME_WAIT, CLOSE, SYN_SENT2.
    private static readonly TcpCell[][][] Cells =
    [
        [ // ORIGINAL direction (client to server)
            [ // SYN
                S(SS, "a SYN opens a new connection"),
                S(SS, "the client retransmits its SYN"),
                Ig("a SYN while the handshake is under way: conntrack may be out of sync, let the server answer"),
                Ig("a SYN on an established connection: maybe a new one we are out of sync with; the server will RST or SYN/ACK"),
                Ig("a SYN while closing: let the server decide"),
                Ig("a SYN while closing: let the server decide"),
                Ig("a SYN while closing: let the server decide (may trigger a challenge ACK)"),
                S(SS, "a SYN after TIME_WAIT reopens the connection (RFC 1122)"),
                S(SS, "a SYN after a RST reopens the connection"),
                S(S2, "a late retransmitted SYN during simultaneous open"),
            ],
            [ // SYN/ACK
                Iv("a SYN/ACK cannot start a connection"),
                Iv("the side that sent the SYN cannot also send the SYN/ACK"),
                S(SR, "a late retransmitted SYN/ACK in a simultaneous open"),
                Iv("a SYN/ACK from the client on an established connection"),
                Iv("a SYN/ACK from the client while closing"),
                Iv("a SYN/ACK from the client while closing"),
                Iv("a SYN/ACK from the client while closing"),
                Iv("a SYN/ACK from the client after the close"),
                Iv("a SYN/ACK from the client after a RST"),
                S(SR, "the client answers the server's SYN in a simultaneous open"),
            ],
            [ // FIN
                Iv("a FIN cannot start a connection"),
                Iv("the client may not close before the server answered the SYN"),
                S(FW, "the client starts closing"),
                S(FW, "the client starts closing"),
                S(LA, "FIN seen in both directions (or a retransmitted FIN): waiting for the last ACK"),
                S(LA, "the client closes its half too: waiting for the last ACK"),
                S(LA, "a retransmitted FIN: stay"),
                S(TW, "a late FIN: stay in TIME_WAIT"),
                S(CL, "a FIN after a RST: stay closed"),
                Iv("a FIN in the middle of a simultaneous open"),
            ],
            [ // ACK
                S(ES, "an ACK with no entry: pick the connection up mid-stream (only with nf_conntrack_tcp_loose)"),
                Iv("the client cannot ACK before the server's SYN/ACK"),
                S(ES, "the client's ACK completes the handshake"),
                S(ES, "data on an established connection"),
                S(CW, "the FIN was answered by an ACK"),
                S(CW, "more ACKs while half closed"),
                S(TW, "the last ACK: the connection is closed"),
                S(TW, "a retransmitted last ACK: stay"),
                S(CL, "an ACK after a RST: stay closed"),
                Iv("the client cannot ACK before an answer in a simultaneous open"),
            ],
            [ // RST
                Iv("a RST cannot start a connection"),
                S(CL, "the client aborts"), S(CL, "the client aborts"), S(CL, "the client aborts"), S(CL, "the client aborts"),
                S(CL, "the client aborts"), S(CL, "the client aborts"), S(CL, "a RST after the close"), S(CL, "a retransmitted RST"),
                S(CL, "the client aborts the simultaneous open"),
            ],
            [ // no SYN/FIN/ACK/RST
                Iv("a segment without SYN, FIN, ACK or RST"), Iv("a segment without SYN, FIN, ACK or RST"),
                Iv("a segment without SYN, FIN, ACK or RST"), Iv("a segment without SYN, FIN, ACK or RST"),
                Iv("a segment without SYN, FIN, ACK or RST"), Iv("a segment without SYN, FIN, ACK or RST"),
                Iv("a segment without SYN, FIN, ACK or RST"), Iv("a segment without SYN, FIN, ACK or RST"),
                Iv("a segment without SYN, FIN, ACK or RST"), Iv("a segment without SYN, FIN, ACK or RST"),
            ],
        ],
        [ // REPLY direction (server to client)
            [ // SYN
                Iv("never reached: a reply needs an entry"),
                S(S2, "the server sends its own SYN: simultaneous open"),
                Iv("the server may not send a bare SYN after its SYN/ACK"),
                Iv("a bare SYN from the server on an established connection"),
                Iv("a bare SYN from the server while closing"),
                Iv("a bare SYN from the server while closing"),
                Iv("a bare SYN from the server while closing"),
                S(SS, "a SYN from the server after TIME_WAIT reopens the connection with roles switched"),
                Iv("a bare SYN from the server after a RST"),
                S(S2, "the server retransmits its simultaneous-open SYN"),
            ],
            [ // SYN/ACK
                Iv("never reached: a reply needs an entry"),
                S(SR, "the server answers the SYN: the normal open"),
                Ig("a retransmitted SYN/ACK"),
                Ig("a late retransmitted SYN/ACK"),
                Ig("a SYN/ACK that may answer an ignored SYN"),
                Ig("a SYN/ACK that may answer an ignored SYN"),
                Ig("a SYN/ACK that may answer an ignored SYN"),
                Ig("a SYN/ACK that may answer an ignored SYN"),
                Ig("a SYN/ACK that may answer an ignored SYN"),
                S(SR, "the server answers in a simultaneous open"),
            ],
            [ // FIN
                Iv("never reached: a reply needs an entry"),
                Iv("the server may not close before it answered the SYN"),
                S(FW, "the server starts closing"),
                S(FW, "the server starts closing"),
                S(LA, "FIN seen in both directions: waiting for the last ACK"),
                S(LA, "the server closes its half too: waiting for the last ACK"),
                S(LA, "a retransmitted FIN: stay"),
                S(TW, "a late FIN: stay in TIME_WAIT"),
                S(CL, "a FIN after a RST: stay closed"),
                Iv("a FIN in the middle of a simultaneous open"),
            ],
            [ // ACK
                Iv("never reached: a reply needs an entry"),
                Ig("an ACK answering a SYN: maybe a half-open connection (or a challenge ACK)"),
                S(SR, "an ACK that may answer a late resent SYN: stay"),
                S(ES, "data on an established connection"),
                S(CW, "the FIN was answered by an ACK"),
                S(CW, "more ACKs while half closed"),
                S(TW, "the last ACK: the connection is closed"),
                S(TW, "a retransmitted last ACK: stay"),
                S(CL, "an ACK after a RST: stay closed"),
                Ig("an ACK during a simultaneous open"),
            ],
            [ // RST
                Iv("never reached: a reply needs an entry"),
                S(CL, "the server refuses the connection"), S(CL, "the server aborts"), S(CL, "the server aborts"),
                S(CL, "the server aborts"), S(CL, "the server aborts"), S(CL, "the server aborts"),
                S(CL, "a RST after the close"), S(CL, "a retransmitted RST"), S(CL, "the server aborts the simultaneous open"),
            ],
            [ // no SYN/FIN/ACK/RST
                Iv("a segment without SYN, FIN, ACK or RST"), Iv("a segment without SYN, FIN, ACK or RST"),
                Iv("a segment without SYN, FIN, ACK or RST"), Iv("a segment without SYN, FIN, ACK or RST"),
                Iv("a segment without SYN, FIN, ACK or RST"), Iv("a segment without SYN, FIN, ACK or RST"),
                Iv("a segment without SYN, FIN, ACK or RST"), Iv("a segment without SYN, FIN, ACK or RST"),
                Iv("a segment without SYN, FIN, ACK or RST"), Iv("a segment without SYN, FIN, ACK or RST"),
            ],
        ],
    ];

    /// <summary>The cell for a segment of class <paramref name="flags"/> in <paramref name="direction"/> when the entry is in <paramref name="old"/>.</summary>
    public static TcpCell Lookup(CtDirection direction, TcpFlagClass flags, TcpConntrackState old) =>
        Cells[(int)direction][(int)flags][(int)old];

    /// <summary>Reduces a segment's flags to its class: RST first, then SYN (with or without ACK), then FIN, then ACK.</summary>
    public static TcpFlagClass ClassOf(Harness.Net.TcpFlags f)
    {
        if ((f & Harness.Net.TcpFlags.Rst) != 0) return TcpFlagClass.Rst;
        if ((f & Harness.Net.TcpFlags.Syn) != 0)
            return (f & Harness.Net.TcpFlags.Ack) != 0 ? TcpFlagClass.SynAck : TcpFlagClass.Syn;
        if ((f & Harness.Net.TcpFlags.Fin) != 0) return TcpFlagClass.Fin;
        if ((f & Harness.Net.TcpFlags.Ack) != 0) return TcpFlagClass.Ack;
        return TcpFlagClass.None;
    }

    /// <summary>
    /// The whole table as reviewable text: one line per cell, "DIR CLASS OLD -> NEW  # reason". The golden copy is
    /// tests/Harness.Engine.Tests/Conntrack/tcp-state-table.txt.
    /// </summary>
    public static string Dump()
    {
        var sb = new StringBuilder();
        foreach (var dir in Enum.GetValues<CtDirection>())
            foreach (var cls in Enum.GetValues<TcpFlagClass>())
                foreach (var old in Enum.GetValues<TcpConntrackState>())
                {
                    var cell = Lookup(dir, cls, old);
                    sb.Append(string.Create(CultureInfo.InvariantCulture,
                        $"{dir.ToString().ToUpperInvariant(),-8} {cls.ToString().ToUpperInvariant(),-6} {CtNames.Of(old),-11} -> {cell,-11} # {cell.Reason}"));
                    sb.Append('\n');
                }
        return sb.ToString();
    }
}
