using System.CommandLine;
using Harness.Golden.Cases;
using Harness.Golden.Check;
using Harness.Golden.Csv;
using Harness.Oracle;

namespace Harness.Cli;

/// <summary><c>harness oracle</c>: run cases through the real kernel (network namespaces) and compare with their goldens.</summary>
public static class OracleCommand
{
    public static Command Create(CliConsole console)
    {
        var cases = new Argument<string[]>("CASE") { Description = "Case folders (or folders of case folders)", Arity = ArgumentArity.OneOrMore };
        var golden = new Option<string>("--golden") { Description = "Folder of golden CSVs (default: 'golden' beside the first CASE's parent)", HelpName = "DIR" };
        var fromKernel = new Option<bool>("--golden-from-kernel") { Description = "Write each case's golden from what the kernel did (log and reason stay empty)" };
        var noPace = new Option<bool>("--no-pace") { Description = "Inject packets as fast as the kernel answers instead of at the capture's timestamps" };
        var command = new Command("oracle",
            "Replay cases through the real Linux kernel in throwaway network namespaces (needs root, iptables, nft, conntrack) and " +
            "compare its outcomes with the goldens, log and reason columns excepted. " + HarnessCli.ExitCodeHelp);
        command.Arguments.Add(cases);
        command.Options.Add(golden);
        command.Options.Add(fromKernel);
        command.Options.Add(noPace);
        command.SetAction(p =>
        {
            var roots = p.GetValue(cases)!;
            var goldenDir = new CheckOptions { Roots = roots, GoldenDirectory = p.GetValue(golden) }.ResolveGoldenDirectory();
            var options = OracleOptions.Default with { Pace = !p.GetValue(noPace) };
            int exit = ExitCodes.Ok;
            foreach (var dir in CaseLoader.Discover(roots))
            {
                var manifest = CaseLoader.Load(dir);
                var goldenPath = Path.Combine(goldenDir, manifest.Name + ".csv");
                if (p.GetValue(fromKernel))
                {
                    var written = KernelOracle.WriteGoldenFromKernel(manifest, goldenPath, options);
                    console.Out.WriteLine($"WRITTEN   {manifest.Name}: {goldenPath} ({written.KernelRows.Length} rows from the kernel)");
                    continue;
                }
                var result = KernelOracle.Check(manifest, goldenPath, options);
                foreach (var note in result.Notes) console.Out.WriteLine($"  note: {note}");
                if (result.Agrees)
                {
                    console.Out.WriteLine($"AGREES    {manifest.Name}: the kernel gives the golden's {result.KernelRows.Length} rows");
                    continue;
                }
                exit = ExitCodes.Differences;
                var asCase = new CaseResult { Name = manifest.Name, Status = CaseStatus.Fail, GoldenPath = goldenPath, Rows = result.KernelRows.Length, Differences = result.Differences };
                console.Out.WriteLine($"DISAGREES {manifest.Name}: {CheckText.Headline(asCase)}");
                console.Out.Write(CheckText.Differences(asCase));
            }
            return exit;
        });
        return command;
    }
}
