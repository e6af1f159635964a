using Harness.Rules.Printing;
using Harness.Rules.Tests.Loading;
using Harness.Rules.Tests.Support;
using Xunit.Abstractions;
using static Harness.Rules.Tests.Support.Loads;

namespace Harness.Rules.Tests.Kernel;

/// <summary>The dump cases of the unit tests, confirmed against the real iptables-restore (legacy).</summary>
public class DumpKernelTests(ITestOutputHelper output)
{
    /// <summary>Documents iptables-restore accepts: the kernel's iptables-save must print what SavePrinter prints.</summary>
    public static readonly string[] Accepted =
    [
        Lines("*filter", ":INPUT DROP [12:345]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":zz - [0:0]", ":LOGDROP - [0:0]",
            "-A INPUT -s 10.0.0.1 -j ACCEPT", "-A INPUT -j LOGDROP", "-A LOGDROP -j DROP", "COMMIT"),
        Lines("*filter", "-N FOO", "-A FOO -j ACCEPT", "-I INPUT -j FOO", "-I INPUT -j DROP", "-D INPUT 1", "-P OUTPUT DROP", "-E FOO BAR", "COMMIT"),
        Lines("*filter", ":INPUT ACCEPT [5:600]", "[7:800] -A INPUT -j ACCEPT", "-A INPUT -c 1 2 -j DROP", "COMMIT"),
        Lines("*nat", ":U - [0:0]", "-A U -j DNAT --to-destination 10.0.0.1", "COMMIT"),
        Lines("*filter", ":INPUT ACCEPT", "# comment", "", "-A INPUT   -p tcp   --dport 22  -j ACCEPT  ", "COMMIT"),
        Lines("*mangle", ":PREROUTING ACCEPT [0:0]", "COMMIT", "*raw", ":OUTPUT ACCEPT [0:0]", "COMMIT"),
        Lines("*filter", ":A - [0:0]", ":B - [0:0]", "-A A -j B", "-A B -j A", "COMMIT"),
        Lines("*nat", ":PREROUTING DROP [x:0]", "[a:b] -A POSTROUTING -j MASQUERADE", "COMMIT"),
        Lines("*filter", ":INPUT DROP [0:0]", "COMMIT", "*filter", ":FORWARD DROP [0:0]", "-A INPUT -j ACCEPT", "COMMIT"),
    ];

    [Fact]
    public void Dump_refusals_of_the_unit_tests_are_refusals_of_iptables_restore()
    {
        if (!KernelNamespace.Available(out var why, "iptables-legacy-restore", "iptables-legacy-save")) { output.WriteLine(why); return; }
        using var ns = KernelNamespace.Create();
        var failures = new List<string>();
        int cases = 0;
        foreach (var row in DumpReaderTests.Refusals)
        {
            var input = (string)row[0];
            cases++;
            Assert.Equal(0, ns.Exec("iptables-legacy-restore", [], SaveText.ResetDocument()).ExitCode);
            var restore = ns.Exec("iptables-legacy-restore", [], input);
            var ours = Text(input);
            output.WriteLine($"{Escape(input)}\n  kernel: rc={restore.ExitCode} {restore.Stderr.Split('\n')[0]}\n  ours:   {ours.Errors().Split('\n')[0]}");
            if (restore.ExitCode == 0) failures.Add($"iptables-restore accepts {Escape(input)}; ours: {ours.Errors()}");
            if (ours.Success) failures.Add($"ours accepts {Escape(input)}");
        }
        output.WriteLine($"refusal cases: {cases}, mismatches: {failures.Count}");
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void Accepted_dumps_print_as_iptables_save_prints_them()
    {
        if (!KernelNamespace.Available(out var why, "iptables-legacy-restore", "iptables-legacy-save")) { output.WriteLine(why); return; }
        using var ns = KernelNamespace.Create();
        var failures = new List<string>();
        foreach (var input in Accepted)
        {
            Assert.Equal(0, ns.Exec("iptables-legacy-restore", [], SaveText.ResetDocument()).ExitCode);
            var restore = ns.Exec("iptables-legacy-restore", [], input);
            var ours = Text(input);
            if (restore.ExitCode != 0 || !ours.Success)
            {
                failures.Add($"{Escape(input)}: kernel rc={restore.ExitCode} {restore.Stderr.Trim()}; ours: {ours.Errors()}");
                continue;
            }
            var kernelBlocks = SaveText.Blocks(ns.Exec("iptables-legacy-save", []).Stdout);
            foreach (var (table, block) in SaveText.Blocks(SavePrinter.Print(ours.Ruleset)))
            {
                var difference = SaveText.FirstDifference(block, kernelBlocks.GetValueOrDefault(table) ?? []);
                if (difference is not null) failures.Add($"{Escape(input)} *{table}: {difference}");
            }
        }
        output.WriteLine($"accepted dumps: {Accepted.Length}, mismatches: {failures.Count}");
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    private static string Escape(string s) => s.Replace("\r", "\\r").Replace("\n", "\\n");
}
