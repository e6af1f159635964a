using Harness.Net;
using Harness.Engine.Conntrack;
using Harness.Packets;
using static Harness.Engine.Tests.Conntrack.CtPackets;

namespace Harness.Engine.Tests.Conntrack;

/// <summary>TCP tracking packet by packet: states, INVALID marking, loose pickup, window tracking, RST, reopen, timeouts.</summary>
public class TcpTrackerTests
{
    private const string C = "10.0.0.5", S = "192.0.2.10";
    private const TcpFlags Syn = TcpFlags.Syn, Ack = TcpFlags.Ack, SynAck = TcpFlags.Syn | TcpFlags.Ack,
        Fin = TcpFlags.Fin | TcpFlags.Ack, Rst = TcpFlags.Rst, PshAck = TcpFlags.Psh | TcpFlags.Ack;

    /// <summary>Processes an arriving packet and confirms it (as if every hook accepted it).</summary>
    private static CtPacket Pass(ConntrackTable table, Packet p)
    {
        var ct = table.Process(p, Hook.Prerouting);
        table.Confirm(ct, p);
        return ct;
    }

    private static (ConntrackTable Table, ConnEntry Entry) Handshake(ConntrackSettings? settings = null)
    {
        var table = Table(settings);
        Pass(table, Tcp(0, C, 40000, S, 80, Syn, 1000, 0));
        Pass(table, Tcp(0.01, S, 80, C, 40000, SynAck, 5000, 1001));
        var ct = Pass(table, Tcp(0.02, C, 40000, S, 80, Ack, 1001, 5001));
        return (table, ct.Entry!);
    }

    [Fact]
    public void Three_way_handshake_walks_SYN_SENT_SYN_RECV_ESTABLISHED_and_assures()
    {
        var table = Table();
        var syn = Pass(table, Tcp(0, C, 40000, S, 80, Syn, 1000, 0));
        Assert.Equal((CtState.New, CtDirection.Original, TcpConntrackState.None, TcpConntrackState.SynSent),
            (syn.State, syn.Direction, syn.TcpStateBefore, syn.TcpStateAfter));
        Assert.Equal(120, syn.Entry!.SecondsLeft(T(0)));

        var synAck = Pass(table, Tcp(0.01, S, 80, C, 40000, SynAck, 5000, 1001));
        Assert.Equal((CtState.Established, CtDirection.Reply, TcpConntrackState.SynSent, TcpConntrackState.SynRecv),
            (synAck.State, synAck.Direction, synAck.TcpStateBefore, synAck.TcpStateAfter));
        Assert.Same(syn.Entry, synAck.Entry);
        Assert.True(synAck.Entry!.SeenReply);
        Assert.False(synAck.Entry.IsAssured);
        Assert.Equal(60, synAck.Entry.SecondsLeft(T(0.01)));

        var ack = Pass(table, Tcp(0.02, C, 40000, S, 80, Ack, 1001, 5001));
        Assert.Equal((CtState.Established, TcpConntrackState.SynRecv, TcpConntrackState.Established),
            (ack.State, ack.TcpStateBefore, ack.TcpStateAfter));
        Assert.True(ack.Entry!.IsAssured);
        Assert.Equal(432000, ack.Entry.SecondsLeft(T(0.02)));
    }

    [Fact]
    public void Full_close_walks_FIN_WAIT_CLOSE_WAIT_LAST_ACK_TIME_WAIT()
    {
        var (table, e) = Handshake();
        var states = new List<TcpConntrackState>();
        foreach (var p in new[]
        {
            Tcp(1, C, 40000, S, 80, Fin, 1001, 5001),
            Tcp(1.01, S, 80, C, 40000, Ack, 5001, 1002),
            Tcp(1.02, S, 80, C, 40000, Fin, 5001, 1002),
            Tcp(1.03, C, 40000, S, 80, Ack, 1002, 5002),
        })
        {
            var ct = Pass(table, p);
            Assert.Equal(CtState.Established, ct.State);
            states.Add(ct.TcpStateAfter);
        }
        Assert.Equal([TcpConntrackState.FinWait, TcpConntrackState.CloseWait, TcpConntrackState.LastAck, TcpConntrackState.TimeWait], states);
        Assert.Equal(120, e.SecondsLeft(T(1.03)));
    }

    [Fact]
    public void ACK_before_any_SYN_ACK_is_INVALID_and_leaves_SYN_SENT()
    {
        var table = Table();
        var syn = Pass(table, Tcp(0, C, 40000, S, 80, Syn, 1000, 0));
        var ack = Pass(table, Tcp(0.01, C, 40000, S, 80, Ack, 1001, 1));
        Assert.Equal(CtState.Invalid, ack.State);
        Assert.Null(ack.Entry);
        Assert.Contains("SYN_SENT", ack.InvalidReason);
        Assert.Equal(TcpConntrackState.SynSent, syn.Entry!.TcpState);
    }

    [Fact]
    public void SYN_ACK_with_no_entry_is_INVALID_and_creates_nothing()
    {
        var table = Table();
        var ct = Pass(table, Tcp(0, S, 80, C, 40000, SynAck, 5000, 1001));
        Assert.Equal(CtState.Invalid, ct.State);
        Assert.Empty(table.Entries);
    }

    [Fact]
    public void Mid_stream_ACK_is_picked_up_when_loose_and_INVALID_when_not()
    {
        var loose = Table();
        var ct = Pass(loose, Tcp(0, C, 40000, S, 80, PshAck, 777777, 888888, "data"));
        Assert.Equal((CtState.New, TcpConntrackState.Established), (ct.State, ct.TcpStateAfter));
        Assert.Equal(300, ct.Entry!.SecondsLeft(T(0))); // not the five-day timeout until a reply is seen
        var reply = Pass(loose, Tcp(0.1, S, 80, C, 40000, Ack, 888888, 777781));
        Assert.Equal(CtState.Established, reply.State);
        var next = Pass(loose, Tcp(0.2, C, 40000, S, 80, PshAck, 777781, 888888, "more"));
        Assert.True(next.Entry!.IsAssured);

        var strict = Table(ConntrackSettings.Default with { TcpLoose = false });
        var refused = Pass(strict, Tcp(0, C, 40000, S, 80, PshAck, 777777, 888888, "data"));
        Assert.Equal(CtState.Invalid, refused.State);
        Assert.Empty(strict.Entries);
    }

    [Fact]
    public void Invalid_flag_combinations_and_bad_checksums_are_INVALID()
    {
        var table = Table();
        Assert.Equal(CtState.Invalid, Pass(table, Tcp(0, C, 1, S, 80, TcpFlags.Syn | TcpFlags.Fin, 1, 0)).State);
        Assert.Equal(CtState.Invalid, Pass(table, Tcp(0, C, 1, S, 80, TcpFlags.None, 1, 0)).State);
        var bad = Tcp(0, C, 2, S, 80, Syn, 1, 0);
        bad = bad with { Transport = ((TcpHeader)bad.Transport!) with { ChecksumValid = false } };
        var arriving = Pass(table, bad);
        Assert.Equal("tcp: bad checksum", arriving.InvalidReason);
        // Locally generated packets are not checksum-checked.
        Assert.Equal(CtState.New, table.Process(bad, Hook.Output).State);
    }

    [Fact]
    public void Out_of_window_data_is_INVALID_unless_be_liberal()
    {
        var (table, e) = Handshake();
        var far = Tcp(1, C, 40000, S, 80, PshAck, 1001 + 10_000_000, 5001, "x");
        var ct = Pass(table, far);
        Assert.Equal(CtState.Invalid, ct.State);
        Assert.Contains("SEQ is over upper bound", ct.InvalidReason);
        Assert.Equal(TcpConntrackState.Established, e.TcpState);

        var (liberal, _) = Handshake(ConntrackSettings.Default with { TcpBeLiberal = true });
        Assert.Equal(CtState.Established, Pass(liberal, Tcp(1, C, 40000, S, 80, PshAck, 1001 + 10_000_000, 5001, "x")).State);
    }

    [Fact]
    public void ACK_of_data_never_sent_is_INVALID()
    {
        var (table, _) = Handshake();
        var ct = Pass(table, Tcp(1, S, 80, C, 40000, Ack, 5001, 1001 + 500_000));
        Assert.Equal(CtState.Invalid, ct.State);
        Assert.Contains("ACK is over upper bound", ct.InvalidReason);
    }

    [Fact]
    public void RST_answering_a_SYN_deletes_the_entry_at_once()
    {
        var table = Table();
        Pass(table, Tcp(0, C, 40000, S, 80, Syn, 1000, 0));
        var rst = Pass(table, Tcp(0.01, S, 80, C, 40000, TcpFlags.Rst | TcpFlags.Ack, 0, 1001));
        Assert.Equal((CtState.Established, CtDirection.Reply, TcpConntrackState.Close), (rst.State, rst.Direction, rst.TcpStateAfter));
        Assert.True(rst.Killed);
        Assert.Empty(table.Entries);
        Assert.Equal(CtState.New, Pass(table, Tcp(1, C, 40000, S, 80, Syn, 2000, 0)).State);
    }

    [Fact]
    public void In_window_RST_closes_an_established_connection_for_ten_seconds()
    {
        var (table, e) = Handshake();
        var rst = Pass(table, Tcp(1, C, 40000, S, 80, Rst, 1001, 0));
        Assert.Equal(TcpConntrackState.Close, rst.TcpStateAfter);
        Assert.Equal(10, e.SecondsLeft(T(1)));
    }

    [Fact]
    public void RST_with_a_sequence_before_the_acknowledged_data_is_INVALID()
    {
        var (table, e) = Handshake();
        Pass(table, Tcp(1, C, 40000, S, 80, PshAck, 1001, 5001, "hello"));
        Pass(table, Tcp(1.1, S, 80, C, 40000, Ack, 5001, 1006));
        var rst = Pass(table, Tcp(2, C, 40000, S, 80, Rst, 900, 0));
        Assert.Equal(CtState.Invalid, rst.State);
        Assert.Contains("invalid rst", rst.InvalidReason);
        Assert.Equal(TcpConntrackState.Established, e.TcpState);
    }

    [Fact]
    public void SYN_in_TIME_WAIT_reopens_as_a_new_connection()
    {
        var (table, old) = Handshake();
        Pass(table, Tcp(1, C, 40000, S, 80, Fin, 1001, 5001));
        Pass(table, Tcp(1.01, S, 80, C, 40000, Fin, 5001, 1002));
        Pass(table, Tcp(1.02, C, 40000, S, 80, Ack, 1002, 5002));
        Assert.Equal(TcpConntrackState.TimeWait, old.TcpState);
        var syn = Pass(table, Tcp(5, C, 40000, S, 80, Syn, 90000, 0));
        Assert.Equal((CtState.New, TcpConntrackState.SynSent), (syn.State, syn.TcpStateAfter));
        Assert.NotSame(old, syn.Entry);
        Assert.Single(table.Entries);
    }

    [Fact]
    public void SYN_on_an_established_connection_is_ignored_not_invalid()
    {
        var (table, e) = Handshake();
        var syn = Pass(table, Tcp(1, C, 40000, S, 80, Syn, 123456, 0));
        Assert.Equal(CtState.Established, syn.State);
        Assert.Equal(TcpConntrackState.Established, e.TcpState);
    }

    [Fact]
    public void Retransmitted_SYN_does_not_extend_the_timeout()
    {
        var table = Table();
        var first = Pass(table, Tcp(0, C, 40000, S, 80, Syn, 1000, 0));
        var again = Pass(table, Tcp(60, C, 40000, S, 80, Syn, 1000, 0));
        Assert.Equal(CtState.New, again.State);
        Assert.Equal(first.Entry!.Created.Nanoseconds + 120_000_000_000L, first.Entry.Expires.Nanoseconds);
    }

    [Fact]
    public void Simultaneous_open_goes_through_SYN_SENT2()
    {
        var table = Table();
        Pass(table, Tcp(0, C, 40000, S, 80, Syn, 1000, 0));
        var crossing = Pass(table, Tcp(0.01, S, 80, C, 40000, Syn, 5000, 0));
        Assert.Equal(TcpConntrackState.SynSent2, crossing.TcpStateAfter);
        var synAck = Pass(table, Tcp(0.02, C, 40000, S, 80, SynAck, 1000, 5001));
        Assert.Equal(TcpConntrackState.SynRecv, synAck.TcpStateAfter);
        var ack = Pass(table, Tcp(0.03, S, 80, C, 40000, Ack, 5001, 1001));
        Assert.Equal(TcpConntrackState.Established, ack.TcpStateAfter);
    }

    [Fact]
    public void Established_timeout_comes_from_the_sysctl_and_expiry_makes_the_next_packet_new()
    {
        var settings = ConntrackSettings.FromSysctls(Harness.Hosts.Sysctls.Defaults
            .With("net.netfilter.nf_conntrack_tcp_timeout_established", "100"));
        var (table, e) = Handshake(settings);
        Assert.Equal(100, e.SecondsLeft(T(0.02)));
        var late = Pass(table, Tcp(100.02, C, 40000, S, 80, PshAck, 1001, 5001, "x"));
        Assert.Equal(CtState.New, late.State); // picked up again (loose), the old entry expired exactly at 100.02
        Assert.NotSame(e, late.Entry);
    }
}
