using System.CommandLine;
using Harness.Golden.Check;
using Harness.Packets;

namespace Harness.Cli;

/// <summary><c>harness gen</c>: a flow description to a pcapng capture (the packet library's generator).</summary>
public static class GenCommand
{
    public static Command Create(CliConsole console)
    {
        var flows = new Argument<string>("FLOWS") { Description = "Flow description (YAML, docs/flows.md)" };
        var output = new Option<string>("--output", "-o") { Description = "The pcapng file to write", Required = true, HelpName = "FILE.pcapng" };
        var seed = new Option<int>("--seed") { Description = "Seed for ports and sequence numbers the description leaves open", DefaultValueFactory = _ => 0 };
        var command = new Command("gen", "Generate a pcapng capture from a flow description; the same description and seed give the same bytes. " + HarnessCli.ExitCodeHelp);
        command.Arguments.Add(flows);
        command.Options.Add(output);
        command.Options.Add(seed);
        command.SetAction(p =>
        {
            var path = p.GetValue(flows)!;
            if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such flow description");
            var spec = FlowGenerator.Load(path);
            var target = p.GetValue(output)!;
            var temp = target + ".tmp";
            FlowGenerator.WritePcapng(spec, p.GetValue(seed), temp);
            File.Move(temp, target, overwrite: true);
            console.Out.WriteLine($"{target}: {FlowGenerator.Generate(spec, p.GetValue(seed)).Count()} packets from {spec.Flows.Length} flows");
            return ExitCodes.Ok;
        });
        return command;
    }
}
