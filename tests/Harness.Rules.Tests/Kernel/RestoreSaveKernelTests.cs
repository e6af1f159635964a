using System.Text;
using Harness.Net;
using Harness.Rules.Loading;
using Harness.Rules.Printing;
using Harness.Rules.Tests.Support;
using Xunit.Abstractions;

namespace Harness.Rules.Tests.Kernel;

/// <summary>
/// Every real ruleset through the real iptables-restore + iptables-save (legacy x_tables, the kernel's own checks) in
/// one throwaway namespace, compared table by table and rule by rule with what SavePrinter prints for our model.
/// </summary>
public class RestoreSaveKernelTests(ITestOutputHelper output)
{
    /// <summary>
    /// Files the kernel refuses for a reason the ruleset text alone cannot show (objects that must already exist in the
    /// kernel): Harness loads them, and says why here.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> KnownKernelOnlyRefusals = new Dictionary<string, string>
    {
        ["kubernetes/kube-proxy_TestOverallIPTablesRules.iptables-restore"] =
            "-m nfacct --nfacct-name needs the accounting object to exist in the kernel (nfacct add …)",
        ["net-network/configs_serverfault/759927.txt"] =
            "-m set --match-set whitelist needs the ipset to exist in the kernel (pass an ipset restore file)",
    };

    [Fact]
    public void Real_rulesets_print_as_iptables_save_prints_them()
    {
        if (!RealData.Available(out var why)) { output.WriteLine(why); return; }
        // The referee is iptables-legacy (the kernel's x_tables checks); HARNESS_IPTABLES_FLAVOUR=nft compares with
        // iptables-nft instead, to see where the two flavours differ.
        var flavour = Environment.GetEnvironmentVariable("HARNESS_IPTABLES_FLAVOUR") is "nft" ? "nft" : "legacy";
        output.WriteLine($"flavour: {flavour}");
        if (!KernelNamespace.Available(out why, $"iptables-{flavour}-restore", $"iptables-{flavour}-save",
                $"ip6tables-{flavour}-restore", $"ip6tables-{flavour}-save"))
        {
            output.WriteLine(why);
            return;
        }
        var rulesetsDir = Path.Combine(RealData.Root!, "rulesets");
        int compared = 0, identical = 0, refusedByBoth = 0, knownKernelOnly = 0;
        var different = new List<string>();
        var refusedOnlyByKernel = new List<string>();
        var refusedOnlyByUs = new List<string>();
        using var ns = KernelNamespace.Create();
        foreach (var (path, family) in RealData.Rulesets())
        {
            var relative = Path.GetRelativePath(rulesetsDir, path);
            var prefix = (family == Family.IPv6 ? "ip6tables-" : "iptables-") + flavour;
            var reset = ns.Exec(prefix + "-restore", [], SaveText.ResetDocument());
            Assert.True(reset.ExitCode == 0, reset.Stderr);
            var restore = ns.Exec(prefix + "-restore", [path]);
            var ours = RulesetLoader.LoadFiles([path], family);
            if (restore.ExitCode != 0)
            {
                if (!ours.Success) refusedByBoth++;
                else if (KnownKernelOnlyRefusals.ContainsKey(relative.Replace('\\', '/'))) knownKernelOnly++;
                else refusedOnlyByKernel.Add($"{relative}: kernel: {FirstLine(restore.Stderr)}");
                continue;
            }
            if (!ours.Success)
            {
                refusedOnlyByUs.Add($"{relative}: ours: {ours.Diagnostics[0]}");
                continue;
            }
            var save = ns.Exec(prefix + "-save", []);
            Assert.True(save.ExitCode == 0, save.Stderr);
            var kernelBlocks = SaveText.Blocks(save.Stdout);
            var ourBlocks = SaveText.Blocks(SavePrinter.Print(ours.Ruleset));
            compared++;
            string? difference = null;
            foreach (var (table, block) in ourBlocks)
            {
                var kernelBlock = kernelBlocks.GetValueOrDefault(table) ?? [];
                difference = SaveText.FirstDifference(block, kernelBlock);
                if (difference is not null) { difference = $"{relative} (*{table}): {difference}"; break; }
            }
            if (difference is null) identical++;
            else different.Add(difference);
        }
        var report = new StringBuilder();
        report.AppendLine($"files compared: {compared}, identical: {identical}, different: {different.Count}");
        report.AppendLine($"refused by both the kernel and Harness: {refusedByBoth}; refused by the kernel only, known: {knownKernelOnly}");
        report.AppendLine($"refused by the kernel only (unexpected): {refusedOnlyByKernel.Count}; refused by Harness only: {refusedOnlyByUs.Count}");
        foreach (var d in different.Take(60)) report.AppendLine("DIFFERENT " + d);
        foreach (var d in refusedOnlyByKernel.Take(60)) report.AppendLine("KERNEL-ONLY " + d);
        foreach (var d in refusedOnlyByUs.Take(60)) report.AppendLine("HARNESS-ONLY " + d);
        output.WriteLine(report.ToString());
        Assert.True(different.Count == 0 && refusedOnlyByKernel.Count == 0 && refusedOnlyByUs.Count == 0, report.ToString());
    }

    [Fact]
    public void Table_and_chain_order_match_iptables_nft_save()
    {
        if (!KernelNamespace.Available(out var why, "iptables-nft-restore", "iptables-nft-save")) { output.WriteLine(why); return; }
        var document = Loads.Lines(
            "*security", ":INPUT ACCEPT [0:0]", "COMMIT",
            "*nat", ":zeta - [0:0]", ":Alpha - [0:0]", ":_x - [0:0]", ":1a - [0:0]", "-A OUTPUT -j zeta", "COMMIT",
            "*raw", ":OUTPUT DROP [0:0]", "COMMIT",
            "*filter", ":b - [0:0]", ":a - [0:0]", "-A a -j b", "-A INPUT -j a", "COMMIT",
            "*mangle", ":INPUT ACCEPT [0:0]", "COMMIT");
        using var ns = KernelNamespace.Create();
        var restore = ns.Exec("iptables-nft-restore", [], document);
        Assert.True(restore.ExitCode == 0, restore.Stderr);
        var save = ns.Exec("iptables-nft-save", []);
        var ours = Loads.Text(document);
        Assert.True(ours.Success, ours.Errors());
        Assert.Equal(SaveText.WithoutComments(save.Stdout), SaveText.WithoutComments(SavePrinter.Print(ours.Ruleset)));
    }

    private static string FirstLine(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault()?.Trim() ?? "";
}
