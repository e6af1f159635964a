using System.CommandLine;
using Harness.Golden.Check;
using Harness.Golden.Replay;
using Spectre.Console;

namespace Harness.Cli;

/// <summary><c>harness check</c>: every case against its golden, a summary table, diffs, JUnit, --update.</summary>
public static class CheckCommand
{
    public static Command Create(CliConsole console)
    {
        var dirs = new Argument<string[]>("DIR")
        {
            Description = "Case folders (holding case.yaml) or folders of case folders",
            Arity = ArgumentArity.ZeroOrMore,
            DefaultValueFactory = _ => ["captures"],
        };
        var golden = new Option<string>("--golden") { Description = "Folder of golden CSVs (default: 'golden' beside the first DIR)", HelpName = "DIR" };
        var update = new Option<bool>("--update") { Description = "Rewrite differing or missing goldens atomically and print what changed" };
        var junit = new Option<string>("--junit") { Description = "Write JUnit XML for CI servers", HelpName = "FILE" };
        var filter = new Option<string>("--filter") { Description = "Only cases whose name matches this glob (* and ?)", HelpName = "GLOB" };
        var oracle = new Option<bool>("--oracle") { Description = "Let the real kernel (network namespaces, root) replay the cases instead of the engine; log and reason are not compared" };
        var command = new Command("check",
            "Run every case (captures/<case>/case.yaml) and compare with its golden (golden/<case>.csv). A case with no golden " +
            "is reported, not created, unless --update. Bad input in one case is reported and the other cases still run. " + HarnessCli.ExitCodeHelp);
        command.Arguments.Add(dirs);
        command.Options.Add(golden);
        command.Options.Add(update);
        command.Options.Add(junit);
        command.Options.Add(filter);
        command.Options.Add(oracle);
        command.SetAction(p =>
        {
            bool useKernel = p.GetValue(oracle);
            if (useKernel && p.GetValue(update))
                throw new FormatException("--oracle cannot be combined with --update (write goldens from the kernel with 'harness oracle --golden-from-kernel')");
            var options = new CheckOptions
            {
                Roots = p.GetValue(dirs) ?? ["captures"],
                GoldenDirectory = p.GetValue(golden),
                Update = p.GetValue(update),
                JUnitPath = p.GetValue(junit),
                Filter = p.GetValue(filter),
                IgnoredColumns = useKernel ? Harness.Oracle.OracleComparison.IgnoredColumns : [],
            };
            var replayer = useKernel ? Harness.Oracle.KernelOracle.Replayer() : CaseReplay.Engine;
            var report = CheckRunner.Run(options, replayer, c => PrintCase(console, c));
            PrintSummary(console, report);
            return report.ExitCode;
        });
        return command;
    }

    private static void PrintCase(CliConsole console, CaseResult c)
    {
        var line = $"{CheckText.StatusWord(c.Status),-10}{c.Name}: {CheckText.Headline(c)}";
        console.Out.WriteLine(line);
        if (c.Status is CaseStatus.Fail or CaseStatus.Updated) console.Out.Write(CheckText.Differences(c));
    }

    private static void PrintSummary(CliConsole console, CheckReport report)
    {
        var table = new Table().Border(TableBorder.Simple);
        table.AddColumn("case");
        table.AddColumn("status");
        table.AddColumn(new TableColumn("rows").RightAligned());
        table.AddColumn(new TableColumn("differences").RightAligned());
        foreach (var c in report.Cases)
        {
            var colour = c.Status switch
            {
                CaseStatus.Pass => "green",
                CaseStatus.Updated or CaseStatus.Created => "yellow",
                _ => "red",
            };
            table.AddRow(
                Markup.Escape(c.Name),
                $"[{colour}]{Markup.Escape(CheckText.StatusWord(c.Status))}[/]",
                c.Rows.ToString(System.Globalization.CultureInfo.InvariantCulture),
                c.ChangedPackets.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        console.Ansi.Write(table);
        var summary = CheckText.Summary(report);
        var summaryColour = report.ExitCode == ExitCodes.Ok ? "green" : "red";
        console.Ansi.MarkupLine($"[bold {summaryColour}]{Markup.Escape(summary)}[/]");
    }
}
