using System.CommandLine;
using Harness.Golden.Check;

namespace Harness.Cli;

/// <summary>
/// Builds the command tree and runs it. Exit codes for every command: 0 ok, 1 differences found, 2 bad input
/// (including a command line that does not parse).
/// </summary>
public static class HarnessCli
{
    public const string ExitCodeHelp = "Exit codes: 0 ok, 1 differences found, 2 bad input.";

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var console = new CliConsole(stdout, stderr);
        var root = Build(console);
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors) stderr.WriteLine("harness: " + e.Message);
            stderr.WriteLine("Run 'harness --help' or 'harness COMMAND --help' for usage.");
            return ExitCodes.BadInput;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (CliErrors.IsBadInput(e))
        {
            stderr.WriteLine(CliErrors.OneLine(e));
            return ExitCodes.BadInput;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A bug, not the user's input: still one line, no stack trace (HARNESS_DEBUG=1 shows it).
            stderr.WriteLine($"harness: internal error: {e.GetType().Name}: {e.Message.Split('\n')[0]}");
            if (Environment.GetEnvironmentVariable("HARNESS_DEBUG") == "1") stderr.WriteLine(e.ToString());
            return ExitCodes.BadInput;
        }
    }

    public static RootCommand Build(CliConsole console)
    {
        var root = new RootCommand(
            "Harness: test iptables rulesets like code. Replays traffic through a deterministic model of netfilter and " +
            "compares every packet's path, verdict, rewrite and conntrack state with golden files. " + ExitCodeHelp);
        root.Subcommands.Add(ReplayCommand.Create(console));
        root.Subcommands.Add(CheckCommand.Create(console));
        root.Subcommands.Add(TraceCommand.Create(console));
        root.Subcommands.Add(CompareCommand.Create(console));
        root.Subcommands.Add(FmtCommand.Create(console));
        root.Subcommands.Add(LintCommand.Create(console));
        root.Subcommands.Add(GenCommand.Create(console));
        root.Subcommands.Add(BenchCommand.Create(console));
        root.Subcommands.Add(OracleCommand.Create(console));
        return root;
    }
}
