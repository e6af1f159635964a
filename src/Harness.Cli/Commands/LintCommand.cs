using System.CommandLine;
using System.Globalization;
using Harness.Golden.Check;
using Harness.Rules.Loading;

namespace Harness.Cli;

/// <summary><c>harness lint</c>: load rule files and report every diagnostic, like a compiler.</summary>
public static class LintCommand
{
    public static Command Create(CliConsole console)
    {
        var files = FmtCommand.FilesArgument();
        var family = FmtCommand.FamilyOption();
        var command = new Command("lint",
            "Load rule files and report every diagnostic (file:line:column: error: …) on stdout. " + HarnessCli.ExitCodeHelp);
        command.Arguments.Add(files);
        command.Options.Add(family);
        command.SetAction(p =>
        {
            var paths = p.GetValue(files)!;
            var result = RulesetLoader.LoadFiles(paths, FmtCommand.ParseFamily(p.GetValue(family)));
            foreach (var d in result.Diagnostics) console.Out.WriteLine(d.ToString());
            var tables = result.Ruleset.Tables;
            int chains = tables.Sum(t => t.Chains.Length);
            int rules = tables.Sum(t => t.Chains.Sum(c => c.Rules.Length));
            console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{paths.Length} files, {tables.Length} tables, {chains} chains, {rules} rules: {(result.Success ? "no problems" : $"{result.Diagnostics.Length} errors")}"));
            return result.Success ? ExitCodes.Ok : ExitCodes.BadInput;
        });
        return command;
    }
}
