using System.Diagnostics;
using Harness.Oracle;
using Harness.Oracle.Fuzz;
using Harness.Oracle.Topology;
using Xunit.Abstractions;

namespace Harness.Oracle.Tests;

/// <summary>A run leaves nothing behind and never touches the host's own namespace.</summary>
[Collection("kernel")]
public class CleanupTests(ITestOutputHelper output)
{
    /// <summary>Counters the kernel changes by itself (entropy, inode and pid counters, the host's conntrack count).</summary>
    private static readonly string[] VolatilePrefixes =
    [
        "kernel.random.", "fs.dentry-state", "fs.inode-nr", "fs.inode-state", "fs.file-nr", "kernel.ns_last_pid",
        "net.netfilter.nf_conntrack_count", "kernel.pty.nr", "fs.quota.", "kernel.tainted", "fs.aio-nr",
    ];

    [Fact]
    public void A_run_leaves_no_namespace_veth_process_or_rule_and_the_host_sysctls_unchanged()
    {
        if (!Kernel.Available(output)) return;
        var iptablesBefore = Run("iptables-save");
        var ip6tablesBefore = Run("ip6tables-save");
        var nftBefore = Run("nft", "list", "ruleset");
        var linksBefore = Links();
        var sysctlA = Sysctls();
        Thread.Sleep(200);
        var sysctlB = Sysctls();
        var moving = sysctlA.Keys.Where(k => sysctlB.GetValueOrDefault(k) != sysctlA[k]).ToHashSet();

        using (var fuzzer = new DifferentialFuzzer())
        {
            var sample = FsCheck.Fluent.Gen.Sample(FuzzGenerators.Case(), 3, new FsCheck.Rnd(11UL), 30);
            foreach (var c in sample) fuzzer.RunCase(c);
            Assert.Contains(LiveNamespaces.Existing(), Mine);
        }

        Assert.DoesNotContain(LiveNamespaces.Existing(), Mine);
        Assert.Equal(iptablesBefore, Run("iptables-save"));
        Assert.Equal(ip6tablesBefore, Run("ip6tables-save"));
        Assert.Equal(nftBefore, Run("nft", "list", "ruleset"));
        Assert.Equal(linksBefore, Links());
        Assert.Empty(ChildProcesses());
        var after = Sysctls();
        var changed = sysctlA.Keys
            .Where(k => !moving.Contains(k) && !VolatilePrefixes.Any(p => k.StartsWith(p, StringComparison.Ordinal)))
            .Where(k => after.GetValueOrDefault(k) != sysctlA[k])
            .ToList();
        Assert.True(changed.Count == 0, "host sysctls changed: " + string.Join(", ", changed));
    }

    private static bool Mine(string ns) => ns.StartsWith($"{LiveNamespaces.Prefix}{Environment.ProcessId}-", StringComparison.Ordinal);

    private static List<string> Links() =>
        Run("ip", "-o", "link", "show").Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(':')[1].Trim()).Order(StringComparer.Ordinal).ToList();

    private static Dictionary<string, string> Sysctls()
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in Run("sysctl", "-a").Split('\n'))
        {
            var eq = line.IndexOf(" = ", StringComparison.Ordinal);
            if (eq > 0) d[line[..eq]] = line[(eq + 3)..];
        }
        return d;
    }

    private static List<int> ChildProcesses()
    {
        var mine = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var children = new List<int>();
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (fields[1] == mine && fields[0] != "Z") children.Add(pid);
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return children;
    }

    private static string Run(string program, params string[] args)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var text = p.StandardOutput.ReadToEnd();
        p.StandardError.ReadToEnd();
        p.WaitForExit();
        // iptables-save prints the time it ran: not part of the ruleset.
        return string.Join('\n', text.Split('\n').Where(l => !l.StartsWith("# ", StringComparison.Ordinal)));
    }
}
