using System.Diagnostics;
using Xunit.Abstractions;

namespace Harness.Engine.Tests.Support;

/// <summary>
/// Runs the shell scripts of the kernel checks (as root, in throwaway namespaces the scripts create and delete), and
/// says why a check must be skipped where that is impossible.
/// </summary>
internal static partial class KernelShell
{
    /// <summary>True on Linux as root with every tool on PATH; otherwise false and why ("SKIPPED: …", for the test output).</summary>
    public static bool Available(out string why, params string[] tools)
    {
        why = "";
        if (!OperatingSystem.IsLinux()) { why = "SKIPPED: kernel checks need Linux"; return false; }
        if (Script("id -u").Trim() != "0") { why = "SKIPPED: kernel checks need root (network namespaces)"; return false; }
        foreach (var tool in tools)
            if (Script("command -v \"$1\"", tool).Trim().Length == 0) { why = $"SKIPPED: {tool} is not on PATH"; return false; }
        return true;
    }

    private static int _runs;

    /// <summary>
    /// A kernel check's run: SCRIPT as <c>sh -c SCRIPT sh PREFIX DIR</c>, PREFIX a namespace prefix of this process and
    /// call ("hx-TAG-PID-N"), DIR a temporary folder holding <paramref name="files"/> (name → text), deleted afterwards.
    /// The output goes to the test's log and comes back as lines; null, with why in the log, when
    /// <paramref name="tools"/> (or root, or Linux) are missing.
    /// </summary>
    public static string[]? Run(ITestOutputHelper output, string tag, string script, IReadOnlyDictionary<string, string>? files, params string[] tools)
    {
        if (!Available(out var why, tools))
        {
            output.WriteLine(why);
            return null;
        }
        var prefix = $"hx-{tag}-{Environment.ProcessId}-{Interlocked.Increment(ref _runs)}";
        var dir = Directory.CreateTempSubdirectory($"hx-{tag}-");
        try
        {
            foreach (var (name, text) in files ?? new Dictionary<string, string>()) File.WriteAllText(Path.Combine(dir.FullName, name), text);
            var result = Script(script, prefix, dir.FullName);
            output.WriteLine(result);
            return result.Split('\n');
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>The text after <paramref name="tag"/> of every output line starting with it.</summary>
    public static List<string> Field(string[] lines, string tag) =>
        lines.Where(l => l.StartsWith(tag, StringComparison.Ordinal)).Select(l => l[tag.Length..].Trim()).ToList();

    /// <summary>The numbers of the lines tagged <paramref name="tag"/> ("CNT N": a rule's packet counter), in order.</summary>
    public static List<ulong> Counters(string[] lines, string tag = "CNT ") =>
        Field(lines, tag).Select(l => ulong.Parse(l, System.Globalization.CultureInfo.InvariantCulture)).ToList();

    /// <summary>A conntrack -L (or -L expect) line with its timeout (seconds left) replaced by "T".</summary>
    public static string MaskTimeout(string line) => TimeoutField().Replace(line, "$1T ");

    [System.Text.RegularExpressions.GeneratedRegex(@"^((?:\w+ +\d+ )?)\d+ ")]
    private static partial System.Text.RegularExpressions.Regex TimeoutField();

    /// <summary>
    /// <c>sh -c SCRIPT sh ARGS…</c> (so the script sees ARGS as $1, $2, …): its standard output, then its standard
    /// error; "TIMEOUT" first when it ran longer than 90 s (then it is killed); "" when sh cannot be started.
    /// </summary>
    public static string Script(string script, params string[] args)
    {
        var psi = new ProcessStartInfo("sh") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add("sh");
        foreach (var a in args) psi.ArgumentList.Add(a);
        try
        {
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(90_000)) { p.Kill(entireProcessTree: true); return "TIMEOUT\n" + stdout.Result; }
            return stdout.Result + stderr.Result;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "";
        }
    }

    /// <summary>
    /// The start of a client–firewall–server check (the script's $P is the namespace prefix): namespaces $P-c, $P-f,
    /// $P-s, always deleted at exit; c0 (02:00:00:00:cc:01) ↔ f0 (02:00:00:00:ff:00) and f1 (02:00:00:00:ff:01) ↔ s0
    /// (02:00:00:00:55:01); c0 up without IPv6 (it only sends frames). The firewall and server are set up by the check.
    /// </summary>
    public const string ThreeNamespaces = """
        trap 'for n in c f s; do ip netns del $P-$n 2>/dev/null; done; true' EXIT
        set -e
        for n in c f s; do ip netns add $P-$n; done
        ip link add c0 netns $P-c address 02:00:00:00:cc:01 type veth peer name f0 netns $P-f address 02:00:00:00:ff:00
        ip link add f1 netns $P-f address 02:00:00:00:ff:01 type veth peer name s0 netns $P-s address 02:00:00:00:55:01
        ip netns exec $P-c sh -c 'sysctl -qw net.ipv6.conf.all.disable_ipv6=1; ip link set c0 up'
        """;

    /// <summary>
    /// Two peers (the script's $1 is the namespace prefix, $2 the work folder): $P-c (c0 02:00:00:00:cc:01, 10.9.0.1/24)
    /// ↔ $P-s (s0 02:00:00:00:55:01, 10.9.0.2/24), both with the subnet's broadcast configured (`brd +`, which the
    /// broadcast helpers netbios-ns and snmp look at), IPv6 off, deleted at exit.
    /// </summary>
    public const string TwoPeers = """
        P=$1; D=$2
        trap 'set +e; for n in c s; do ip netns del $P-$n 2>/dev/null; done; true' EXIT
        set -e
        for n in c s; do ip netns add $P-$n; done
        ip link add c0 netns $P-c address 02:00:00:00:cc:01 type veth peer name s0 netns $P-s address 02:00:00:00:55:01
        ip netns exec $P-c sh -c 'sysctl -qw net.ipv6.conf.all.disable_ipv6=1; ip addr add 10.9.0.1/24 brd + dev c0; ip link set c0 up; ip link set lo up'
        ip netns exec $P-s sh -c 'sysctl -qw net.ipv6.conf.all.disable_ipv6=1; ip addr add 10.9.0.2/24 brd + dev s0; ip link set s0 up; ip link set lo up'

        """;

    /// <summary>
    /// Sends the frames of $D/frames (one hex frame per line) from c0 in $P-c by AF_PACKET, <paramref name="delay"/>
    /// seconds apart; a line "SLEEP" waits 3 seconds.
    /// </summary>
    public static string SendFrames(string delay) => $$"""
        ip netns exec $P-c python3 -c '
        import socket, sys, time
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind(("c0", 0))
        for line in open(sys.argv[1]):
            if line.strip() == "SLEEP":
                time.sleep(3)
            elif line.strip():
                s.send(bytes.fromhex(line.strip()))
                time.sleep({{delay}})
        ' $D/frames
        """;

    /// <summary>
    /// An IPv4 forwarder between two silent peers (the script's $P is the namespace prefix): $P-c, $P-f, $P-s, always
    /// deleted at exit (with the processes $T1 and $T2, if the script starts them); c0 ↔ f0 (10.1.0.1/24 on f0), f1
    /// ($FAR.1/24, $FAR 10.2.0 unless set) ↔ s0; offloads off everywhere, IPv6 off, static neighbours 10.1.0.2 (c0) and
    /// $FAR.2 (s0) in f; no addresses on the peers, which only send and capture frames.
    /// </summary>
    public const string SilentPeersForwarder = """
        trap 'set +e; kill ${T1:-} ${T2:-} 2>/dev/null; for n in c f s; do ip netns del $P-$n 2>/dev/null; done; true' EXIT
        set -e
        FAR=${FAR:-10.2.0}
        for n in c f s; do ip netns add $P-$n; done
        ip link add c0 netns $P-c address 02:00:00:00:cc:01 type veth peer name f0 netns $P-f address 02:00:00:00:ff:00
        ip link add f1 netns $P-f address 02:00:00:00:ff:01 type veth peer name s0 netns $P-s address 02:00:00:00:55:01
        for n in c s; do ip netns exec $P-$n sh -c 'sysctl -qw net.ipv6.conf.all.disable_ipv6=1; for i in c0 s0; do ip link set $i up 2>/dev/null && ethtool -K $i tx off tso off gso off gro off >/dev/null 2>&1; done; true'; done
        ip netns exec $P-f sh -c '
          sysctl -qw net.ipv6.conf.all.disable_ipv6=1; sysctl -qw net.ipv4.ip_forward=1
          ip link set lo up; ip link set f0 up; ip link set f1 up
          for i in f0 f1; do ethtool -K $i tx off tso off gso off gro off >/dev/null 2>&1 || true; done
          ip addr add 10.1.0.1/24 dev f0; ip addr add '$FAR'.1/24 dev f1
          ip neigh replace 10.1.0.2 lladdr 02:00:00:00:cc:01 dev f0 nud permanent
          ip neigh replace '$FAR'.2 lladdr 02:00:00:00:55:01 dev f1 nud permanent'
        """;
}
