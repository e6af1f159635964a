using System.Diagnostics;
using System.Text.RegularExpressions;
using Harness.Engine.Conntrack;
using Harness.Net;
using Harness.Packets;
using Harness.Rules;
using Xunit.Abstractions;
using Harness.Engine.Tests.Support;
using static Harness.Engine.Tests.Conntrack.CtPackets;

namespace Harness.Engine.Tests.Conntrack;

/// <summary>
/// The issue-5 scenarios replayed through the real kernel in throwaway network namespaces (named hx-h5-PID-N, always
/// deleted), with real sockets, and compared with what the model says. Skipped, with the reason printed, when not root
/// or when ip / iptables / conntrack / python3 are missing. nf_conntrack_max cannot be set inside a namespace, so the
/// table-full scenario is checked at the model level only.
/// </summary>
public partial class KernelChecks(ITestOutputHelper output)
{
    private static int counter;

    private const TcpFlags Syn = TcpFlags.Syn, Ack = TcpFlags.Ack, SynAck = TcpFlags.Syn | TcpFlags.Ack,
        Fin = TcpFlags.Fin | TcpFlags.Ack, PshAck = TcpFlags.Psh | TcpFlags.Ack;

    [Fact]
    public void Kernel_DNAT_and_MASQUERADE_session_ends_in_the_entry_the_model_builds()
    {
        if (!KernelShell.Available(out var why, "ip", "iptables", "conntrack", "python3")) { output.WriteLine(why); return; }
        var kernel = RunScript(DnatMasqueradeScript);
        Assert.Contains("peer 10.0.0.1:40000", kernel); // the server saw the masqueraded client
        Assert.Contains("forward NEW 1", kernel);
        Assert.Contains("forward INVALID 0", kernel);
        var kernelLine = Assert.Single(kernel.Split('\n'), l => l.StartsWith("tcp ", StringComparison.Ordinal));

        var f1 = Router.Interface("f1", "10.0.0.1/24");
        var fw = new Router(Table())
        {
            Dnat = p => p.Ip!.Destination == A("198.51.100.1") && Ports(p).Dst == 80 ? Router.To("10.0.0.2", 8080) : null,
            Snat = p => p.Ip!.Destination == A("10.0.0.2")
                ? NatTargets.Masquerade(new NatRange(null, null, null, null), f1, Family.IPv4, p.Ip.Destination) : null,
        };
        const string c = "198.51.100.7", pub = "198.51.100.1", srv = "10.0.0.2", lan = "10.0.0.1";
        foreach (var p in new[]
        {
            Tcp(0.000, c, 40000, pub, 80, Syn, 100, 0),
            Tcp(0.001, srv, 8080, lan, 40000, SynAck, 900, 101),
            Tcp(0.002, c, 40000, pub, 80, Ack, 101, 901),
            Tcp(0.003, c, 40000, pub, 80, PshAck, 101, 901, "GET / HTTP/1.0\r\n\r\n"),
            Tcp(0.004, srv, 8080, lan, 40000, PshAck, 901, 119, "HTTP/1.0 200 OK\r\n\r\n"),
            Tcp(0.005, srv, 8080, lan, 40000, Fin, 920, 119),
            Tcp(0.006, c, 40000, pub, 80, Fin, 119, 921),
            Tcp(0.007, srv, 8080, lan, 40000, Ack, 921, 120),
        })
            fw.Forward(p);
        var modelLine = Assert.Single(ConntrackListFormatter.Lines(fw.Table, T(1)));
        Assert.Equal(MaskTimeout(kernelLine), MaskTimeout(modelLine));
    }

    [Fact]
    public void Kernel_SNAT_of_two_clients_on_one_port_keeps_the_first_and_moves_the_second()
    {
        if (!KernelShell.Available(out var why, "ip", "iptables", "conntrack", "python3")) { output.WriteLine(why); return; }
        var kernel = RunScript(TwoClientsScript);
        var ports = PortOf().Matches(kernel).ToDictionary(m => m.Groups[1].Value, m => int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(40000, ports["10.0.0.5"]);
        Assert.NotEqual(40000, ports["10.0.0.6"]);
        Assert.InRange(ports["10.0.0.6"], 1024, 65535); // the model's rule too (ScenarioTests); the exact port is random in the kernel
    }

    [Fact]
    public void Kernel_ICMP_port_unreachable_for_a_masqueraded_flow_is_RELATED_and_reaches_the_client()
    {
        if (!KernelShell.Available(out var why, "ip", "iptables", "conntrack", "python3")) { output.WriteLine(why); return; }
        var kernel = RunScript(IcmpRelatedScript);
        Assert.Contains("ECONNREFUSED", kernel); // the quoted header was un-NATed back to the client's socket
        Assert.Contains("related 1", kernel);
        Assert.Contains("invalid 0", kernel);
        Assert.Contains("[UNREPLIED]", kernel); // an ICMP error is not a reply, in the model too
    }

    [Fact]
    public void Kernel_expired_UDP_flow_comes_back_NEW()
    {
        if (!KernelShell.Available(out var why, "ip", "iptables", "conntrack", "python3")) { output.WriteLine(why); return; }
        var kernel = RunScript(UdpExpiryScript);
        Assert.Contains("NEW 2", kernel);
        Assert.Contains("ESTABLISHED 2", kernel);

        var settings = ConntrackSettings.FromSysctls(Harness.Hosts.Sysctls.Defaults.With("net.netfilter.nf_conntrack_udp_timeout", "1"));
        var table = new ConntrackTable(settings);
        var states = new List<CtState>();
        foreach (var p in new[]
        {
            Udp(0, "127.0.0.1", 5000, "127.0.0.1", 9), Udp(0.01, "127.0.0.1", 9, "127.0.0.1", 5000),
            Udp(0.02, "127.0.0.1", 5000, "127.0.0.1", 9), Udp(1.6, "127.0.0.1", 5000, "127.0.0.1", 9),
        })
        {
            var ct = table.Process(p, Hook.Output);
            table.Confirm(ct, p);
            states.Add(ct.State);
        }
        Assert.Equal([CtState.New, CtState.Established, CtState.Established, CtState.New], states);
    }

    private static string MaskTimeout(string line) => TimeoutField().Replace(line, "$1 T ");

    [GeneratedRegex(@"^(\w+ +\d+) \d+ ")]
    private static partial Regex TimeoutField();

    [GeneratedRegex(@"src=(10\.0\.0\.\d) dst=192\.0\.2\.53 sport=40000 dport=53 \[UNREPLIED\] src=192\.0\.2\.53 dst=203\.0\.113\.1 sport=53 dport=(\d+)")]
    private static partial Regex PortOf();

    // ---- running the kernel ----

    private string RunScript(string script)
    {
        var prefix = $"hx-h5-{Environment.ProcessId}-{Interlocked.Increment(ref counter)}";
        var text = KernelShell.Script(script, prefix);
        output.WriteLine(text);
        return text;
    }

    // Each script gets the namespace prefix as $1 and deletes every namespace it made, whatever happens.
    private const string Cleanup = """
        P=$1
        cleanup() { for n in $P-c $P-f $P-s $P-a $P-b; do ip netns del $n 2>/dev/null; done; rm -f /tmp/$P.ready; true; }
        trap cleanup EXIT
        """;

    private const string DnatMasqueradeScript = Cleanup + """

        C=$P-c; F=$P-f; S=$P-s
        ip netns add $C; ip netns add $F; ip netns add $S
        ip link add c0 netns $C type veth peer name f0 netns $F
        ip link add f1 netns $F type veth peer name s1 netns $S
        ip netns exec $C sh -c 'ip link set lo up; ip link set c0 up; ip addr add 198.51.100.7/24 dev c0; ip route add default via 198.51.100.1'
        ip netns exec $S sh -c 'ip link set lo up; ip link set s1 up; ip addr add 10.0.0.2/24 dev s1'
        ip netns exec $F sh -c '
        ip link set lo up; ip link set f0 up; ip link set f1 up
        ip addr add 198.51.100.1/24 dev f0; ip addr add 10.0.0.1/24 dev f1
        sysctl -qw net.ipv4.ip_forward=1
        iptables -t nat -A PREROUTING -d 198.51.100.1 -p tcp --dport 80 -j DNAT --to-destination 10.0.0.2:8080
        iptables -t nat -A POSTROUTING -o f1 -j MASQUERADE
        iptables -A FORWARD -m conntrack --ctstate NEW
        iptables -A FORWARD -m conntrack --ctstate ESTABLISHED
        iptables -A FORWARD -m conntrack --ctstate INVALID'
        ip netns exec $S python3 -c '
        import socket, sys
        l=socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l.bind(("10.0.0.2",8080)); l.listen(); l.settimeout(5)
        open("/tmp/"+sys.argv[1]+".ready","w").close()
        a,peer=l.accept(); a.recv(100); a.send(b"HTTP/1.0 200 OK\r\n\r\n"); a.shutdown(socket.SHUT_WR); a.recv(100); a.close()
        print("peer %s:%d" % peer)' $P &
        SRV=$!
        for i in $(seq 50); do [ -e /tmp/$P.ready ] && break; sleep 0.1; done
        ip netns exec $C python3 -c '
        import socket
        c=socket.socket(); c.bind(("198.51.100.7",40000)); c.settimeout(5); c.connect(("198.51.100.1",80)); c.send(b"GET / HTTP/1.0\r\n\r\n")
        while c.recv(100): pass
        c.close()'
        wait $SRV
        sleep 0.2
        ip netns exec $F iptables -L FORWARD -v -n -x | tail -3 | awk '{print "forward", $NF, $1}'
        ip netns exec $F conntrack -L 2>/dev/null
        """;

    private const string TwoClientsScript = Cleanup + """

        ip netns add $P-a
        ip netns exec $P-a sh -c '
        ip link set lo up; ip link add v0 type veth peer name v1; ip link set v0 up; ip link set v1 up
        ip addr add 10.0.0.5/24 dev v0; ip addr add 10.0.0.6/24 dev v0
        ip route add 192.0.2.0/24 dev v0; ip neigh replace 192.0.2.53 lladdr 02:00:00:00:00:09 dev v0 nud permanent
        iptables -t nat -A POSTROUTING -o v0 -p udp -d 192.0.2.53 -j SNAT --to-source 203.0.113.1
        python3 -c "
        import socket
        for src in (\"10.0.0.5\", \"10.0.0.6\"):
            s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind((src,40000)); s.sendto(b\"x\",(\"192.0.2.53\",53))
        "
        conntrack -L -p udp 2>/dev/null'
        """;

    private const string IcmpRelatedScript = Cleanup + """

        A=$P-a; B=$P-b
        ip netns add $A; ip netns add $B
        ip link add a0 netns $A type veth peer name b0 netns $B
        ip netns exec $B sh -c 'ip link set lo up; ip link set b0 up; ip addr add 192.0.2.53/24 dev b0'
        ip netns exec $A sh -c '
        ip link set lo up; ip link set a0 up; ip addr add 192.0.2.1/24 dev a0; ip addr add 10.0.0.5/32 dev lo
        iptables -t nat -A POSTROUTING -o a0 -s 10.0.0.5 -j MASQUERADE
        iptables -A INPUT -p icmp -m conntrack --ctstate RELATED --ctdir REPLY
        iptables -A INPUT -p icmp -m conntrack --ctstate INVALID
        python3 -c "
        import socket
        s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind((\"10.0.0.5\",5353)); s.connect((\"192.0.2.53\",53)); s.send(b\"query\"); s.settimeout(2)
        try:
            s.recv(100); print(\"no error\")
        except ConnectionRefusedError:
            print(\"ECONNREFUSED\")
        "
        iptables -L INPUT -v -n -x | tail -2 | awk "{print \$1}" | sed "1s/^/related /;2s/^/invalid /"
        conntrack -L 2>/dev/null'
        """;

    private const string UdpExpiryScript = Cleanup + """

        ip netns add $P-a
        ip netns exec $P-a sh -c '
        ip link set lo up; sysctl -qw net.netfilter.nf_conntrack_udp_timeout=1
        iptables -A OUTPUT -m conntrack --ctstate NEW
        iptables -A OUTPUT -m conntrack --ctstate ESTABLISHED
        python3 -c "
        import socket, time
        s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind((\"127.0.0.1\",5000))
        r=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); r.bind((\"127.0.0.1\",9))
        s.sendto(b\"x\",(\"127.0.0.1\",9)); d,a=r.recvfrom(10); r.sendto(b\"y\",a); s.recv(10)
        s.sendto(b\"x\",(\"127.0.0.1\",9)); r.recvfrom(10)
        time.sleep(1.5)
        s.sendto(b\"x\",(\"127.0.0.1\",9)); r.recvfrom(10)
        "
        iptables -L OUTPUT -v -n -x | tail -2 | awk "{print \$NF, \$1}"'
        """;
}
