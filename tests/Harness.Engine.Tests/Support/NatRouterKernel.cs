using System.Collections.Immutable;
using Harness.Hosts;
using Harness.Net;
using Harness.Packets;
using Xunit.Abstractions;

namespace Harness.Engine.Tests.Support;

/// <summary>
/// The kernel side of the NAT-helper checks: KernelShell's silent-peers forwarder with the server side on
/// FAR.0/24 (172.16.100 unless given: f1 FAR.1, the server FAR.2 behind s0; the client 10.1.0.2 behind c0), the case's rules
/// in f, Ethernet frames sent from c0 or s0, "conntrack -L expect" listed where the frames say, what arrives at c0 and s0
/// captured with tcpdump. Namespaces hx-PREFIX-PID-N, always deleted.
/// </summary>
public static class NatRouterKernel
{
    /// <summary>
    /// Runs <paramref name="frames"/> (see <see cref="Frame"/>) through f with <paramref name="rules"/>; the output's
    /// lines: "RXC HEX"/"RXS HEX" (IP packets arriving at the client / server), "CNT N" (FORWARD's counters in order),
    /// "EXP LINE" … "EXPEND" (each listing), then conntrack -L. Null, with the reason written, when the tools are missing.
    /// </summary>
    public static string[]? Run(ITestOutputHelper output, string prefix, string rules, IEnumerable<string> frames, string far = "172.16.100") =>
        KernelShell.Run(output, prefix, "FAR=" + far + "\n" + Script,
            new Dictionary<string, string> { ["rules"] = rules, ["frames"] = string.Join("\n", frames) + "\n" },
            "ip", "iptables-restore", "iptables", "conntrack", "python3", "tcpdump");

    /// <summary>The router f as the engine's host: lo, f0 10.1.0.1/24, f1 <paramref name="routerOut"/>/24, forwarding on.</summary>
    public static Host RouterHost(string routerOut) => new(
        [
            new HostInterface("lo", 1, new MacAddress(0), [new InterfaceAddress(Address.Parse("127.0.0.1"), 8)], IsLoopback: true, Mtu: 65536),
            new HostInterface("f0", 2, MacAddress.Parse("02:00:00:00:ff:00"), [new InterfaceAddress(Address.Parse("10.1.0.1"), 24)]),
            new HostInterface("f1", 3, MacAddress.Parse("02:00:00:00:ff:01"), [new InterfaceAddress(Address.Parse(routerOut), 24)]),
        ],
        [],
        ImmutableArray<RoutingRule>.Empty,
        Sysctls.Defaults.With("net.ipv4.ip_forward", "1"));

    /// <summary>"c HEX" (an Ethernet frame from c0 to f0 carrying <paramref name="packet"/>), "s HEX" (from s0 to f1), or "EXPECT" for null.</summary>
    public static string Frame(char side, Packet? packet)
    {
        if (packet is null) return "EXPECT";
        var (src, dst) = side == 'c' ? ("02000000cc01", "02000000ff00") : ("020000005501", "02000000ff01");
        return $"{side} {dst}{src}0800{Convert.ToHexString(packet.Raw.Span)}";
    }

    /// <summary>The conntrack -L lines (tcp and udp), timeouts masked, sorted.</summary>
    public static List<string> Conntrack(string[] lines) =>
        lines.Where(l => l.StartsWith("tcp ", StringComparison.Ordinal) || l.StartsWith("udp ", StringComparison.Ordinal))
            .Select(KernelShell.MaskTimeout).Order(StringComparer.Ordinal).ToList();

    /// <summary>The "conntrack -L expect" lines of every listing in order, timeouts masked.</summary>
    public static List<string> Expectations(string[] lines) => KernelShell.Field(lines, "EXP ").Select(KernelShell.MaskTimeout).ToList();

    /// <summary>The listings, each sorted (the kernel prints hash order) and closed by "--".</summary>
    public static List<string> ExpectationBlocks(string[] lines)
    {
        var result = new List<string>();
        var block = new List<string>();
        foreach (var l in lines)
        {
            if (l.StartsWith("EXPEND", StringComparison.Ordinal))
            {
                result.AddRange(block.Order(StringComparer.Ordinal));
                result.Add("--");
                block.Clear();
            }
            else if (l.StartsWith("EXP ", StringComparison.Ordinal)) block.Add(KernelShell.MaskTimeout(l[4..].Trim()));
        }
        return result;
    }


    private const string Script = $$"""
        P=$1; D=$2
        {{KernelShell.SilentPeersForwarder}}
        ip netns exec $P-f iptables-restore < $D/rules
        ip netns exec $P-c tcpdump -i c0 -Q in -U -w $D/c.pcap >/dev/null 2>&1 & T1=$!
        ip netns exec $P-s tcpdump -i s0 -Q in -U -w $D/s.pcap >/dev/null 2>&1 & T2=$!
        sleep 1.5
        ip netns exec $P-c python3 -c '
        import ctypes, os, socket, subprocess, sys, time
        P, D = sys.argv[1], sys.argv[2]
        c = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); c.bind(("c0", 0))
        fd = os.open("/run/netns/" + P + "-s", os.O_RDONLY)
        if ctypes.CDLL(None, use_errno=True).setns(fd, 0x40000000) != 0: raise OSError(ctypes.get_errno(), "setns")
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind(("s0", 0))
        for line in open(D + "/frames"):
            side, _, frame = line.strip().partition(" ")
            if side == "EXPECT":
                out = subprocess.run(["ip", "netns", "exec", P + "-f", "conntrack", "-L", "expect"], capture_output=True, text=True).stdout
                for l in out.splitlines(): print("EXP " + l, flush=True)
                print("EXPEND", flush=True)
                continue
            (c if side == "c" else s).send(bytes.fromhex(frame))
            time.sleep(0.05)
        ' $P $D
        sleep 1
        kill -INT $T1 $T2; wait $T1 $T2 || true
        python3 -c '
        import struct, sys
        for tag, name in (("RXC", "c"), ("RXS", "s")):
            data = open(sys.argv[1] + "/" + name + ".pcap", "rb").read()
            i = 24
            while i + 16 <= len(data):
                incl = struct.unpack("<I", data[i + 8:i + 12])[0]
                frame = data[i + 16:i + 16 + incl]; i += 16 + incl
                if frame[12:14] == b"\x08\x00": print(tag, frame[14:14 + int.from_bytes(frame[16:18], "big")].hex().upper())
        ' $D
        ip netns exec $P-f iptables -L FORWARD -v -n -x | awk 'NR>2 {print "CNT " $1}'
        ip netns exec $P-f conntrack -L 2>/dev/null
        """;
}
