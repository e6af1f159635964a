using System.CommandLine;
using Harness.Golden.Check;
using Harness.Golden.Csv;
using Harness.Golden.Replay;

namespace Harness.Cli;

/// <summary><c>harness replay</c>: one replay, outcomes as golden-format CSV (stdout by default).</summary>
public static class ReplayCommand
{
    public static Command Create(CliConsole console)
    {
        var common = new ReplayOptions();
        var output = new Option<string>("--out", "-o") { Description = "Write the CSV here instead of stdout", HelpName = "FILE.csv" };
        var egress = new Option<string>("--egress-pcap") { Description = "Also write the packets that left the host (forwarded or sent) as pcapng", HelpName = "FILE" };
        var command = new Command("replay", "Replay traffic through a ruleset on a host and write one CSV row per packet. " + HarnessCli.ExitCodeHelp);
        common.AddTo(command);
        command.Options.Add(output);
        command.Options.Add(egress);
        command.SetAction(p =>
        {
            var manifest = common.Manifest(p);
            var outcomes = Progress.Run(console, "replaying", onPacket => CaseReplay.Run(manifest, onPacket));
            var rows = OutcomeProjection.Project(outcomes);
            if (p.GetValue(output) is { } file) GoldenCsv.WriteFileAtomically(file, rows);
            else console.Out.Write(GoldenCsv.ToText(rows));
            if (p.GetValue(egress) is { } pcap) CaseReplay.WriteEgress(pcap, outcomes);
            return ExitCodes.Ok;
        });
        return command;
    }
}
