using Harness.Net;
using Harness.Engine.Conntrack;
using Harness.Packets;
using static Harness.Engine.Tests.Conntrack.CtPackets;

namespace Harness.Engine.Tests.Conntrack;

/// <summary>The `conntrack -L` lines, in the format conntrack-tools 1.4.7 printed in a namespace on kernel 6.18.</summary>
public class ConntrackListFormatterTests
{
    private static void Pass(ConntrackTable t, Packet p)
    {
        var ct = t.Process(p, Hook.Prerouting);
        t.Confirm(ct, p);
    }

    [Fact]
    public void Lines_look_like_conntrack_L()
    {
        var t = Table();
        Pass(t, Udp(0, "127.0.0.1", 49897, "127.0.0.1", 9999));
        Pass(t, Tcp(0, "10.0.0.5", 53886, "10.0.0.2", 8080, TcpFlags.Syn, 1, 0));
        Pass(t, Tcp(0, "10.0.0.2", 8080, "10.0.0.5", 53886, TcpFlags.Syn | TcpFlags.Ack, 9, 2));
        Pass(t, Tcp(0, "10.0.0.5", 53886, "10.0.0.2", 8080, TcpFlags.Ack, 2, 10));
        Pass(t, Echo(0, "10.0.0.5", "10.0.0.2", request: true, id: 42));
        var lines = ConntrackListFormatter.Lines(t, T(0.5)).ToList();
        Assert.Equal(
        [
            "udp      17 29 src=127.0.0.1 dst=127.0.0.1 sport=49897 dport=9999 [UNREPLIED] src=127.0.0.1 dst=127.0.0.1 sport=9999 dport=49897 mark=0 use=1",
            "tcp      6 431999 ESTABLISHED src=10.0.0.5 dst=10.0.0.2 sport=53886 dport=8080 src=10.0.0.2 dst=10.0.0.5 sport=8080 dport=53886 [ASSURED] mark=0 use=1",
            "icmp     1 29 src=10.0.0.5 dst=10.0.0.2 type=8 code=0 id=42 [UNREPLIED] src=10.0.0.2 dst=10.0.0.5 type=0 code=0 id=42 mark=0 use=1",
        ], lines);
        Assert.Equal(string.Join("", lines.Select(l => l + "\n")), ConntrackListFormatter.Format(t, T(0.5)));
        Assert.DoesNotContain(ConntrackListFormatter.Lines(t, T(1000)), l => l.StartsWith("udp", StringComparison.Ordinal));
    }

    [Fact]
    public void Zone_helper_and_mark_print_in_the_kernels_order()
    {
        var t = Table();
        var syn = Tcp(0, "127.0.0.1", 45860, "127.0.0.1", 21, TcpFlags.Syn, 1, 0);
        var ct = t.Process(syn, Hook.Output, new CtTemplate(Zone: 3).WithHelper("ftp"));
        ct.Entry!.Mark = 7;
        t.Confirm(ct, syn);
        Assert.Equal(
            "tcp      6 119 SYN_SENT src=127.0.0.1 dst=127.0.0.1 sport=45860 dport=21 [UNREPLIED] src=127.0.0.1 dst=127.0.0.1 sport=21 dport=45860 mark=7 zone=3 helper=ftp use=1",
            Assert.Single(ConntrackListFormatter.Lines(t, T(0.5))));
    }
}
