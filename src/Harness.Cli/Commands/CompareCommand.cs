using System.CommandLine;
using Harness.Golden.Check;
using Harness.Golden.Replay;
using Spectre.Console;

namespace Harness.Cli;

/// <summary><c>harness compare</c>: the same traffic through two rulesets; the flows whose treatment changed.</summary>
public static class CompareCommand
{
    public static Command Create(CliConsole console)
    {
        var common = new ReplayOptions();
        common.Rules.Description = "Give exactly two: --rules OLD --rules NEW (iptables-save dumps or iptables scripts)";
        var command = new Command("compare",
            "Replay the same traffic through an old and a new ruleset and list the flows whose verdict, rewrite, egress or " +
            "deciding rule changed, with counts. Exit 1 when any flow changed. " + HarnessCli.ExitCodeHelp);
        common.AddTo(command);
        command.SetAction(p =>
        {
            var rules = p.GetValue(common.Rules) ?? [];
            if (rules.Length != 2) throw new FormatException($"compare needs exactly two --rules (OLD then NEW), got {rules.Length}");
            var oldCase = common.Manifest(p, [rules[0]]);
            var newCase = common.Manifest(p, [rules[1]]);
            var oldRun = Progress.Run(console, "old ruleset", onPacket => CaseReplay.Run(oldCase, onPacket));
            var newRun = Progress.Run(console, "new ruleset", onPacket => CaseReplay.Run(newCase, onPacket));
            var report = RulesetComparison.Compare(oldRun, newRun);
            if (report.Changes.Length > 0)
            {
                var table = new Table().Border(TableBorder.Simple);
                foreach (var h in new[] { "flow", "change", "packets", "old", "new" }) table.AddColumn(h);
                foreach (var c in report.Changes)
                {
                    table.AddRow(
                        Markup.Escape(c.Flow),
                        Markup.Escape(c.Kind),
                        $"{c.ChangedPackets}/{c.Packets}",
                        Markup.Escape($"{c.OldVerdict} {c.OldRule} {c.OldNat}".Trim()),
                        Markup.Escape($"{c.NewVerdict} {c.NewRule} {c.NewNat}".Trim()));
                }
                console.Ansi.Write(table);
            }
            console.Out.WriteLine(report.Summary);
            return report.Changes.IsEmpty ? ExitCodes.Ok : ExitCodes.Differences;
        });
        return command;
    }
}
