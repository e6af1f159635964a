using System.CommandLine;
using Harness.Golden.Check;
using Harness.Net;
using Harness.Rules.Loading;
using Harness.Rules.Printing;

namespace Harness.Cli;

/// <summary><c>harness fmt</c>: the canonical iptables-save text of rule files.</summary>
public static class FmtCommand
{
    public static Option<string> FamilyOption() => new("--family")
    {
        Description = "4 or 6 (default: from the files: ip6tables commands or IPv6 addresses make it 6)",
        HelpName = "4|6",
    };

    public static Family? ParseFamily(string? text) => text switch
    {
        null => null,
        "4" or "ipv4" => Family.IPv4,
        "6" or "ipv6" => Family.IPv6,
        _ => throw new FormatException($"--family must be 4 or 6, not '{text}'"),
    };

    public static Argument<string[]> FilesArgument() => new("FILE")
    {
        Description = "Rule files (iptables-save dumps or iptables command scripts), loaded in order as on one machine",
        Arity = ArgumentArity.OneOrMore,
    };

    public static Command Create(CliConsole console)
    {
        var files = FilesArgument();
        var family = FamilyOption();
        var command = new Command("fmt",
            "Print the canonical iptables-save text of rule files (what iptables-save prints after loading them). " +
            "Diagnostics go to stderr. " + HarnessCli.ExitCodeHelp);
        command.Arguments.Add(files);
        command.Options.Add(family);
        command.SetAction(p =>
        {
            var result = RulesetLoader.LoadFiles(p.GetValue(files)!, ParseFamily(p.GetValue(family)));
            if (!result.Success)
            {
                foreach (var d in result.Diagnostics) console.Error.WriteLine(d.ToString());
                return ExitCodes.BadInput;
            }
            console.Out.Write(SavePrinter.Print(result.Ruleset));
            return ExitCodes.Ok;
        });
        return command;
    }
}
