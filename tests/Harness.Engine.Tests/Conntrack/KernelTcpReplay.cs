using System.Globalization;
using Harness.Engine.Conntrack;
using Harness.Hosts;
using Harness.Net;
using Harness.Packets;
using Harness.Engine.Tests.Support;
using static Harness.Engine.Tests.Conntrack.CtPackets;

namespace Harness.Engine.Tests.Conntrack;

/// <summary>
/// Crafted TCP sequences injected (AF_PACKET) into a forwarding namespace running the real conntrack, with the state
/// each packet got (counters of --ctstate rules at mangle PREROUTING, read after every packet) and the entry's TCP
/// state (conntrack -L) compared packet by packet with the model's.
/// </summary>
public partial class KernelChecks
{
    private const string Cl = "198.51.100.7", Sv = "192.0.2.10";
    private const TcpFlags Rst = TcpFlags.Rst, RstAck = TcpFlags.Rst | TcpFlags.Ack;

    private static readonly Dictionary<string, (string Sysctl, Packet[] Packets)> Sequences = BuildSequences()
        .ToDictionary(x => x.Name, x => (x.Sysctl, x.Packets));

    public static IEnumerable<object[]> TcpSequences() => Sequences.Keys.Select(k => new object[] { k });

    private static IEnumerable<(string Name, string Sysctl, Packet[] Packets)> BuildSequences()
    {
        yield return ("handshake, data, out-of-window data, ACK of unsent data, in-window RST", "", new[]
        {
            Tcp(0, Cl, 40000, Sv, 80, Syn, 1000, 0), Tcp(0, Sv, 80, Cl, 40000, SynAck, 5000, 1001),
            Tcp(0, Cl, 40000, Sv, 80, Ack, 1001, 5001), Tcp(0, Cl, 40000, Sv, 80, PshAck, 1001, 5001, "hello"),
            Tcp(0, Sv, 80, Cl, 40000, Ack, 5001, 1006), Tcp(0, Cl, 40000, Sv, 80, PshAck, 1006 + 10_000_000, 5001, "x"),
            Tcp(0, Sv, 80, Cl, 40000, Ack, 5001, 1006 + 500_000), Tcp(0, Cl, 40000, Sv, 80, Rst, 1006, 0),
        });
        yield return ("ACK before the SYN/ACK, then the SYN/ACK", "", new[]
        {
            Tcp(0, Cl, 40000, Sv, 80, Syn, 1000, 0), Tcp(0, Cl, 40000, Sv, 80, Ack, 1001, 1),
            Tcp(0, Sv, 80, Cl, 40000, SynAck, 5000, 1001), Tcp(0, Cl, 40000, Sv, 80, Ack, 1001, 5001),
        });
        yield return ("mid-stream pickup with loose on", "", new[]
        {
            Tcp(0, Cl, 40000, Sv, 80, PshAck, 777777, 888888, "data"), Tcp(0, Sv, 80, Cl, 40000, Ack, 888888, 777781),
            Tcp(0, Cl, 40000, Sv, 80, PshAck, 777781, 888888, "more"),
        });
        yield return ("mid-stream with loose off", "net.netfilter.nf_conntrack_tcp_loose=0", new[]
        {
            Tcp(0, Cl, 40000, Sv, 80, PshAck, 777777, 888888, "data"), Tcp(0, Sv, 80, Cl, 40000, Ack, 888888, 777781),
        });
        yield return ("out-of-window data with be_liberal on", "net.netfilter.nf_conntrack_tcp_be_liberal=1", new[]
        {
            Tcp(0, Cl, 40000, Sv, 80, Syn, 1000, 0), Tcp(0, Sv, 80, Cl, 40000, SynAck, 5000, 1001),
            Tcp(0, Cl, 40000, Sv, 80, Ack, 1001, 5001), Tcp(0, Cl, 40000, Sv, 80, PshAck, 1001 + 10_000_000, 5001, "x"),
        });
        yield return ("full close, then a SYN reopens from TIME_WAIT", "", new[]
        {
            Tcp(0, Cl, 40000, Sv, 80, Syn, 1000, 0), Tcp(0, Sv, 80, Cl, 40000, SynAck, 5000, 1001),
            Tcp(0, Cl, 40000, Sv, 80, Ack, 1001, 5001), Tcp(0, Cl, 40000, Sv, 80, Fin, 1001, 5001),
            Tcp(0, Sv, 80, Cl, 40000, Ack, 5001, 1002), Tcp(0, Sv, 80, Cl, 40000, Fin, 5001, 1002),
            Tcp(0, Cl, 40000, Sv, 80, Ack, 1002, 5002), Tcp(0, Cl, 40000, Sv, 80, Syn, 90000, 0),
        });
        yield return ("RST answering the SYN", "", new[]
        {
            Tcp(0, Cl, 40000, Sv, 80, Syn, 1000, 0), Tcp(0, Sv, 80, Cl, 40000, RstAck, 0, 1001),
            Tcp(0, Cl, 40000, Sv, 80, Syn, 2000, 0),
        });
        yield return ("SYN on an established connection, RST with an old sequence", "", new[]
        {
            Tcp(0, Cl, 40000, Sv, 80, Syn, 1000, 0), Tcp(0, Sv, 80, Cl, 40000, SynAck, 5000, 1001),
            Tcp(0, Cl, 40000, Sv, 80, Ack, 1001, 5001), Tcp(0, Cl, 40000, Sv, 80, PshAck, 1001, 5001, "hello"),
            Tcp(0, Sv, 80, Cl, 40000, Ack, 5001, 1006), Tcp(0, Cl, 40000, Sv, 80, Syn, 123456, 0),
            Tcp(0, Cl, 40000, Sv, 80, Rst, 900, 0),
        });
        yield return ("RST with a sequence before the acknowledged data", "", new[]
        {
            Tcp(0, Cl, 40000, Sv, 80, Syn, 1000, 0), Tcp(0, Sv, 80, Cl, 40000, SynAck, 5000, 1001),
            Tcp(0, Cl, 40000, Sv, 80, Ack, 1001, 5001), Tcp(0, Cl, 40000, Sv, 80, PshAck, 1001, 5001, "hello"),
            Tcp(0, Sv, 80, Cl, 40000, Ack, 5001, 1006), Tcp(0, Cl, 40000, Sv, 80, Rst, 900, 0),
            Tcp(0, Cl, 40000, Sv, 80, Rst, 1006, 0),
        });
        byte[] wscale7 = [2, 4, 5, 180, 1, 3, 3, 7]; // MSS 1460, NOP, window scale 7
        yield return ("window scaling on both sides lets data far beyond the unscaled window through", "", new[]
        {
            Tcp(0, Cl, 40000, Sv, 80, Syn, 1000, 0, options: wscale7), Tcp(0, Sv, 80, Cl, 40000, SynAck, 5000, 1001, options: wscale7),
            Tcp(0, Cl, 40000, Sv, 80, Ack, 1001, 5001), Tcp(0, Sv, 80, Cl, 40000, Ack, 5001, 1001),
            Tcp(0, Cl, 40000, Sv, 80, PshAck, 1001 + 1_000_000, 5001, "x"),
        });
        yield return ("window scaling offered by one side only is not used", "", new[]
        {
            Tcp(0, Cl, 40000, Sv, 80, Syn, 1000, 0, options: wscale7), Tcp(0, Sv, 80, Cl, 40000, SynAck, 5000, 1001),
            Tcp(0, Cl, 40000, Sv, 80, Ack, 1001, 5001), Tcp(0, Sv, 80, Cl, 40000, Ack, 5001, 1001),
            Tcp(0, Cl, 40000, Sv, 80, PshAck, 1001 + 1_000_000, 5001, "x"),
        });
        const uint a = 0x11111111, b = 0x22222222;
        byte[] none = [], data = [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, (byte)'h', (byte)'i', 0, 0];
        yield return ("sctp: association set up, data, shutdown", "", new[]
        {
            Sctp(0, Cl, 5000, Sv, 3868, 0, (1, 0, InitValue(a))), Sctp(0, Sv, 3868, Cl, 5000, a, (2, 0, InitValue(b))),
            Sctp(0, Cl, 5000, Sv, 3868, b, (10, 0, [1, 2, 3, 4])), Sctp(0, Sv, 3868, Cl, 5000, a, (11, 0, none)),
            Sctp(0, Cl, 5000, Sv, 3868, b, (0, 3, data)), Sctp(0, Sv, 3868, Cl, 5000, a, (0, 3, data)),
            Sctp(0, Cl, 5000, Sv, 3868, b, (7, 0, [0, 0, 0, 1])), Sctp(0, Sv, 3868, Cl, 5000, a, (8, 0, none)),
            Sctp(0, Cl, 5000, Sv, 3868, b, (14, 0, none)),
        });
        yield return ("sctp: wrong verification tag, data without association, abort", "", new[]
        {
            Sctp(0, Cl, 5001, Sv, 3868, 0, (0, 3, data)),
            Sctp(0, Cl, 5000, Sv, 3868, 0, (1, 0, InitValue(a))), Sctp(0, Sv, 3868, Cl, 5000, a, (2, 0, InitValue(b))),
            Sctp(0, Cl, 5000, Sv, 3868, 0x33333333, (10, 0, [1, 2, 3, 4])), Sctp(0, Cl, 5000, Sv, 3868, b, (10, 0, [1, 2, 3, 4])),
            Sctp(0, Sv, 3868, Cl, 5000, a, (11, 0, none)), Sctp(0, Cl, 5000, Sv, 3868, 0x33333333, (0, 3, data)),
            Sctp(0, Sv, 3868, Cl, 5000, a, (6, 0, none)),
        });
        yield return ("simultaneous open", "", new[]
        {
            Tcp(0, Cl, 40000, Sv, 80, Syn, 1000, 0), Tcp(0, Sv, 80, Cl, 40000, Syn, 5000, 0),
            Tcp(0, Cl, 40000, Sv, 80, SynAck, 1000, 5001), Tcp(0, Sv, 80, Cl, 40000, Ack, 5001, 1001),
        });
        yield return ("invalid flags and a SYN/ACK without a SYN", "", new[]
        {
            Tcp(0, Sv, 80, Cl, 40000, SynAck, 5000, 1001), Tcp(0, Cl, 40000, Sv, 80, TcpFlags.Syn | TcpFlags.Fin, 1, 0),
            Tcp(0, Cl, 40000, Sv, 80, TcpFlags.Fin, 1, 0),
        });
    }

    [Theory]
    [MemberData(nameof(TcpSequences))]
    public void Kernel_agrees_with_the_TCP_and_SCTP_trackers_packet_by_packet(string name)
    {
        var (sysctl, packets) = Sequences[name];
        var proto = packets[0].Transport is SctpHeader ? "sctp" : "tcp";
        if (!KernelShell.Available(out var why, "ip", "iptables", "conntrack", "python3")) { output.WriteLine(why); return; }
        output.WriteLine(name);
        var frames = Path.Combine(Path.GetTempPath(), $"hx-h5-{Environment.ProcessId}-{Interlocked.Increment(ref counter)}.hex");
        File.WriteAllLines(frames, packets.Select(Frame));
        string kernel;
        try { kernel = RunScript(TcpReplayScript.Replace("@FRAMES@", frames).Replace("@SYSCTL@", sysctl).Replace("@PROTO@", proto)); }
        finally { File.Delete(frames); }
        var kernelLines = kernel.Split('\n').Where(l => l.StartsWith("packet ", StringComparison.Ordinal)).ToList();
        Assert.Equal(packets.Length, kernelLines.Count);

        var sysctls = Sysctls.Defaults;
        if (sysctl.Length > 0) sysctls = sysctls.With(sysctl.Split('=')[0], sysctl.Split('=')[1]);
        var table = new ConntrackTable(ConntrackSettings.FromSysctls(sysctls));
        var modelLines = new List<string>();
        for (int i = 0; i < packets.Length; i++)
        {
            var p = packets[i] with { Time = T(i * 0.05) };
            var ct = table.Process(p, Hook.Prerouting);
            if (ct.Entry is not null)
            {
                if (table.NeedsNat(ct, NatManipType.Destination)) table.SetupNullBinding(ct, NatManipType.Destination);
                if (table.NeedsNat(ct, NatManipType.Source)) table.SetupNullBinding(ct, NatManipType.Source);
            }
            table.Confirm(ct, p);
            // The kernel lists a moment after the packet: a few jiffies off the full timeout.
            var first = ConntrackListFormatter.Lines(table, new Timestamp(p.Time.Nanoseconds + 20_000_000))
                .FirstOrDefault(l => l.StartsWith(proto, StringComparison.Ordinal));
            var fields = first?.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            modelLines.Add(string.Create(CultureInfo.InvariantCulture,
                $"packet {i + 1} {CtNames.Of(ct.State)} {(fields is null ? "- -" : fields[3] + " " + fields[2])}"));
        }
        // States must be equal; the remaining seconds may lag by a second or two on a loaded machine.
        for (int i = 0; i < packets.Length; i++)
        {
            var k = kernelLines[i].Split(' ');
            var m = modelLines[i].Split(' ');
            Assert.True(string.Join(' ', k[..^1]) == string.Join(' ', m[..^1]), $"kernel: {kernelLines[i]}\nmodel:  {modelLines[i]}");
            if (k[^1] != "-")
            {
                long kt = long.Parse(k[^1], CultureInfo.InvariantCulture), mt = long.Parse(m[^1], CultureInfo.InvariantCulture);
                Assert.True(kt <= mt && kt >= mt - 2, $"kernel: {kernelLines[i]}\nmodel:  {modelLines[i]}");
            }
        }
    }

    /// <summary>An Ethernet frame from the injector (02:00:00:00:00:a0) to the firewall (02:00:00:00:00:f0), as hex.</summary>
    private static string Frame(Packet p) =>
        "02000000" + "00f0" + "02000000" + "00a0" + "0800" + Convert.ToHexString(p.Raw.Span);

    private const string TcpReplayScript = Cleanup + """

        X=$P-a; F=$P-f; Y=$P-b
        ip netns add $X; ip netns add $F; ip netns add $Y
        ip link add x0 netns $X type veth peer name fx netns $F
        ip link add fy netns $F type veth peer name y0 netns $Y
        ip netns exec $X sh -c 'ip link set lo up; ip link set x0 address 02:00:00:00:00:a0; ip link set x0 up'
        ip netns exec $Y sh -c 'ip link set lo up; ip link set y0 up'
        ip netns exec $F sh -c '
        ip link set lo up; ip link set fx address 02:00:00:00:00:f0; ip link set fx up; ip link set fy up
        ip addr add 198.51.100.1/24 dev fx; ip addr add 192.0.2.1/24 dev fy
        sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.fx.rp_filter=0 net.ipv4.conf.default.rp_filter=0
        [ -n "@SYSCTL@" ] && sysctl -qw "@SYSCTL@"
        ip neigh replace 192.0.2.10 lladdr 02:00:00:00:00:0b dev fy nud permanent
        ip neigh replace 198.51.100.7 lladdr 02:00:00:00:00:a0 dev fx nud permanent
        for s in NEW ESTABLISHED RELATED INVALID UNTRACKED; do iptables -t mangle -A PREROUTING -m conntrack --ctstate $s; done'
        ip netns exec $X python3 - $F @FRAMES@ <<'PY'
        import socket, subprocess, sys, time
        F = sys.argv[1]
        names = ["NEW", "ESTABLISHED", "RELATED", "INVALID", "UNTRACKED"]
        def counters():
            out = subprocess.run(["ip", "netns", "exec", F, "iptables", "-t", "mangle", "-L", "PREROUTING", "-v", "-n", "-x"],
                                 capture_output=True, text=True).stdout.splitlines()[2:]
            return [int(l.split()[0]) for l in out]
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind(("x0", 0))
        prev = counters()
        for i, line in enumerate(open(sys.argv[2]).read().split()):
            s.send(bytes.fromhex(line))
            deadline = time.time() + 3
            cur = counters()
            while sum(cur) == sum(prev) and time.time() < deadline:
                time.sleep(0.005)
                cur = counters()
            time.sleep(0.02)
            seen = [n for n, a, b in zip(names, prev, cur) if b > a]
            prev = cur
            ct = subprocess.run(["ip", "netns", "exec", F, "conntrack", "-L", "-p", "@PROTO@"], capture_output=True, text=True).stdout.split("\n")
            ct = [l for l in ct if l.startswith("@PROTO@")]
            print("packet", i + 1, ",".join(seen) or "NONE", (ct[0].split()[3] + " " + ct[0].split()[2]) if ct else "- -")
        PY
        """;
}
