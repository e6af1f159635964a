using System.CommandLine;

namespace Harness.Cli;

/// <summary><c>harness bench</c>: the engine's replay benchmark (bench/Harness.Bench's ReplayBench).</summary>
public static class BenchCommand
{
    public static Command Create(CliConsole console)
    {
        var packets = new Argument<long>("PACKETS") { Description = "Packets in the generated capture", DefaultValueFactory = _ => 1_000_000, Arity = ArgumentArity.ZeroOrOne };
        var linear = new Option<bool>("--linear") { Description = "Also measure the kube-proxy ruleset with the linear rule walk" };
        var command = new Command("bench",
            "Replay a generated capture through (a) a 50-rule stateful firewall and (b) a kube-proxy ruleset with 5,000 services, " +
            "and print packets per second next to the bare read+decode rate. Prints to the terminal. " + HarnessCli.ExitCodeHelp);
        command.Arguments.Add(packets);
        command.Options.Add(linear);
        command.SetAction(p =>
        {
            var args = new List<string> { "replay-bench", p.GetValue(packets).ToString(System.Globalization.CultureInfo.InvariantCulture) };
            if (p.GetValue(linear)) args.Add("--linear");
            return Harness.Bench.ReplayBench.Run([.. args]);
        });
        return command;
    }
}
