using Harness.Net;
using Harness.Engine.Conntrack;
using Harness.Packets;
using static Harness.Engine.Tests.Conntrack.CtPackets;

namespace Harness.Engine.Tests.Conntrack;

/// <summary>The FTP helper: PORT/EPRT/227/229 lines create expectations; the data connection is RELATED and EXPECTED.</summary>
public class FtpHelperTests
{
    private const string C = "10.0.0.5", S = "192.0.2.21";
    private const TcpFlags Syn = TcpFlags.Syn, Ack = TcpFlags.Ack, SynAck = TcpFlags.Syn | TcpFlags.Ack, PshAck = TcpFlags.Psh | TcpFlags.Ack;
    private static readonly CtTemplate Ftp = CtTemplate.Default.WithHelper("ftp");

    private sealed class Session
    {
        public ConntrackTable Table { get; } = CtPackets.Table();
        public uint ClientSeq = 1001, ServerSeq = 5001;
        public double Time;

        public CtPacket Send(Packet p, CtTemplate? template = null)
        {
            var ct = Table.Process(p, Hook.Prerouting, template ?? Ftp);
            Table.Confirm(ct, p);
            return ct;
        }

        public CtPacket ClientSays(string line)
        {
            var ct = Send(Tcp(Time += 0.01, C, 40000, S, 21, PshAck, ClientSeq, ServerSeq, line));
            ClientSeq += (uint)line.Length;
            return ct;
        }

        public CtPacket ServerSays(string line)
        {
            var ct = Send(Tcp(Time += 0.01, S, 21, C, 40000, PshAck, ServerSeq, ClientSeq, line));
            ServerSeq += (uint)line.Length;
            return ct;
        }

        public static Session LoggedIn()
        {
            var s = new Session();
            s.Send(Tcp(0, C, 40000, S, 21, Syn, 1000, 0));
            s.Send(Tcp(0.001, S, 21, C, 40000, SynAck, 5000, 1001));
            s.Send(Tcp(0.002, C, 40000, S, 21, Ack, 1001, 5001));
            s.ServerSays("220 ready\r\n");
            s.ClientSays("USER anonymous\r\n");
            s.ServerSays("331 password\r\n");
            s.ClientSays("PASS x\r\n");
            s.ServerSays("230 ok\r\n");
            return s;
        }
    }

    [Fact]
    public void PORT_makes_the_servers_data_connection_RELATED()
    {
        var s = Session.LoggedIn();
        s.ClientSays("PORT 10,0,0,5,195,80\r\n"); // 195*256+80 = 50000
        var x = Assert.Single(s.Table.Expectations);
        Assert.Equal((S, C, (ushort)50000), (x.Source.ToString(), x.Destination.ToString(), x.DestinationPort));
        // The format conntrack -L expect printed for the same PORT on Linux 6.18 (addresses of this test).
        Assert.Equal(
            $"299 proto=6 src={S} dst={C} sport=0 dport=50000 mask-src=255.255.255.255 mask-dst=255.255.255.255 sport=0 dport=65535 master-src={C} master-dst={S} sport=40000 dport=21 class=0 helper=ftp",
            Assert.Single(ConntrackListFormatter.ExpectationLines(s.Table, T(s.Time + 0.5))));
        Assert.EndsWith("helper=ftp use=1", ConntrackListFormatter.Lines(s.Table, T(s.Time)).Single(l => l.Contains("dport=21 ", StringComparison.Ordinal)));

        var data = s.Send(Tcp(1, S, 20, C, 50000, Syn, 7000, 0), CtTemplate.Default);
        Assert.Equal(CtState.Related, data.State);
        Assert.True((data.Entry!.Status & CtStatus.Expected) != 0);
        Assert.Equal("ftp", data.Entry.Master!.Helper);
        Assert.Empty(s.Table.Expectations); // used up
        var synAck = s.Send(Tcp(1.01, C, 50000, S, 20, SynAck, 9000, 7001), CtTemplate.Default);
        Assert.Equal(CtState.Established, synAck.State);
    }

    [Fact]
    public void PASV_227_and_EPSV_229_expect_the_clients_data_connection()
    {
        var s = Session.LoggedIn();
        s.ClientSays("PASV\r\n");
        s.ServerSays("227 Entering Passive Mode (192,0,2,21,39,16).\r\n"); // 39*256+16 = 10000
        var x = Assert.Single(s.Table.Expectations);
        Assert.Equal((C, S, (ushort)10000), (x.Source.ToString(), x.Destination.ToString(), x.DestinationPort));
        Assert.Equal(CtState.Related, s.Send(Tcp(2, C, 51000, S, 10000, Syn, 1, 0), CtTemplate.Default).State);

        s.ClientSays("EPSV\r\n");
        s.ServerSays("229 Entering Extended Passive Mode (|||6446|)\r\n");
        Assert.Equal(6446, Assert.Single(s.Table.Expectations).DestinationPort);
    }

    [Fact]
    public void EPRT_is_understood()
    {
        var s = Session.LoggedIn();
        s.ClientSays("EPRT |1|10.0.0.5|6275|\r\n");
        Assert.Equal(6275, Assert.Single(s.Table.Expectations).DestinationPort);
    }

    [Fact]
    public void A_PORT_naming_another_host_is_not_expected()
    {
        var s = Session.LoggedIn();
        s.ClientSays("PORT 10,0,0,99,195,80\r\n");
        Assert.Empty(s.Table.Expectations);
    }

    [Fact]
    public void Without_the_helper_the_data_connection_is_NEW()
    {
        var s = Session.LoggedIn();
        var plain = new ConntrackTable(ConntrackSettings.Default);
        foreach (var e in s.Table.Expectations) Assert.Fail("unexpected " + e);
        var data = plain.Process(Tcp(1, S, 20, C, 50000, Syn, 7000, 0), Hook.Prerouting);
        Assert.Equal(CtState.New, data.State);
    }

    [Fact]
    public void The_first_line_of_a_direction_is_not_parsed_as_in_the_kernel()
    {
        var s = new Session();
        s.Send(Tcp(0, C, 40000, S, 21, Syn, 1000, 0));
        s.Send(Tcp(0.001, S, 21, C, 40000, SynAck, 5000, 1001));
        s.Send(Tcp(0.002, C, 40000, S, 21, Ack, 1001, 5001));
        s.ClientSays("PORT 10,0,0,5,195,80\r\n");
        Assert.Empty(s.Table.Expectations);
    }

    [Fact]
    public void Unsupported_helpers_are_refused_by_name()
    {
        var ex = Assert.Throws<ArgumentException>(() => CtTemplate.Default.WithHelper("sip"));
        Assert.Contains("\"sip\"", ex.Message);
        Assert.False(CtTemplate.IsSupportedHelper("snmp_trap"));
        Assert.True(CtTemplate.IsSupportedHelper("ftp"));
    }
}
