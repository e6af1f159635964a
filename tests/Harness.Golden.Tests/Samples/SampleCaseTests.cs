using Harness.Cli;
using Harness.Golden.Check;
using Harness.Golden.Csv;
using Harness.Golden.Replay;
using Xunit.Abstractions;

namespace Harness.Golden.Tests;

/// <summary>The repository's own sample cases, run through the engine and compared with their goldens.</summary>
public class SampleCaseTests(ITestOutputHelper output)
{
    private static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = HarnessCli.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void Check_over_captures_and_golden_is_green()
    {
        var report = CheckRunner.Run(new CheckOptions { Roots = [Repository.Captures], GoldenDirectory = Repository.Golden }, CaseReplay.Engine);
        output.WriteLine(CheckText.Report(report));
        Assert.True(report.Cases.Length >= 5, "the repository ships sample cases");
        Assert.All(report.Cases, c => Assert.Equal(CaseStatus.Pass, c.Status));
        Assert.Equal(ExitCodes.Ok, report.ExitCode);
    }

    [Fact]
    public void Every_sample_case_has_a_golden_and_every_golden_a_case()
    {
        var cases = Directory.GetDirectories(Repository.Captures).Where(d => File.Exists(Path.Combine(d, "case.yaml"))).Select(Path.GetFileName).Order(StringComparer.Ordinal);
        var goldens = Directory.GetFiles(Repository.Golden, "*.csv").Select(Path.GetFileNameWithoutExtension).Order(StringComparer.Ordinal);
        Assert.Equal(cases, goldens);
    }

    /// <summary>
    /// Changes one rule of the firewall case (ping: ACCEPT becomes DROP) in a temporary copy: check fails with exit 1
    /// and names exactly the ping packets; --update rewrites only those rows; check then passes.
    /// </summary>
    [Fact]
    public void Changing_one_rule_fails_on_exactly_the_affected_packets_and_update_rewrites_only_them()
    {
        using var dir = new TempDir();
        var caseDir = Path.Combine(dir.Path, "captures", "firewall");
        var goldenDir = Path.Combine(dir.Path, "golden");
        Repository.CopyTree(Path.Combine(Repository.Captures, "firewall"), caseDir);
        Directory.CreateDirectory(goldenDir);
        var goldenPath = Path.Combine(goldenDir, "firewall.csv");
        File.Copy(Path.Combine(Repository.Golden, "firewall.csv"), goldenPath);
        var before = GoldenCsv.ReadFile(goldenPath);

        var rules = Path.Combine(caseDir, "rules.v4");
        const string pingRule = "-A INPUT -p icmp -m icmp --icmp-type 8 -j ACCEPT";
        var text = File.ReadAllText(rules);
        Assert.Contains(pingRule, text);
        File.WriteAllText(rules, text.Replace(pingRule, "-A INPUT -p icmp -m icmp --icmp-type 8 -j DROP", StringComparison.Ordinal));

        // The echo requests and the host's echo replies: every row of the ping flow.
        var expectedPackets = before.Where(r => r[4] == "icmp" && r[8] is "8/0" or "0/0").Select(r => r.Packet).ToList();
        Assert.Equal(4, expectedPackets.Count);

        var (code, stdout, _) = Cli("check", Path.Combine(dir.Path, "captures"), "--golden", goldenDir);
        output.WriteLine(stdout);
        Assert.Equal(ExitCodes.Differences, code);
        var report = CheckRunner.Run(new CheckOptions { Roots = [Path.Combine(dir.Path, "captures")], GoldenDirectory = goldenDir }, CaseReplay.Engine);
        Assert.Equal(expectedPackets, report.Cases.Single().ChangedPackets.ToArray());
        foreach (var p in expectedPackets) Assert.Contains($"  packet {p}\n", stdout);
        Assert.Contains("verdict: expected ACCEPT, actual DROP", stdout);
        Assert.Contains("new path: INPUT:filter:INPUT;INPUT:filter:INPUT:6", stdout);

        var (updateCode, updateOut, _) = Cli("check", Path.Combine(dir.Path, "captures"), "--golden", goldenDir, "--update");
        Assert.Equal(ExitCodes.Ok, updateCode);
        Assert.Contains($"rows changed ({string.Join(", ", expectedPackets)})", updateOut);
        var after = GoldenCsv.ReadFile(goldenPath);
        Assert.Equal(before.Length, after.Length);
        for (int i = 0; i < before.Length; i++)
        {
            if (expectedPackets.Contains(before[i].Packet)) Assert.NotEqual(before[i], after[i]);
            else Assert.Equal(before[i], after[i]);
        }
        Assert.Equal(ExitCodes.Ok, Cli("check", Path.Combine(dir.Path, "captures"), "--golden", goldenDir).Code);
    }

    [Fact]
    public void Two_runs_write_byte_identical_goldens_and_junit()
    {
        using var dir = new TempDir();
        var files = new List<(byte[] Junit, Dictionary<string, byte[]> Goldens, string Stdout)>();
        for (int run = 0; run < 2; run++)
        {
            // Same paths both times (they appear in the JUnit text); the first run's files are read, then removed.
            var golden = Path.Combine(dir.Path, "golden");
            var junit = Path.Combine(dir.Path, "junit.xml");
            if (Directory.Exists(golden)) Directory.Delete(golden, recursive: true);
            var (code, stdout, _) = Cli("check", Repository.Captures, "--golden", golden, "--update", "--junit", junit);
            Assert.Equal(ExitCodes.Ok, code);
            Assert.Contains($"{Directory.GetDirectories(Repository.Captures).Count(d => File.Exists(Path.Combine(d, "case.yaml")))} created", stdout);
            files.Add((File.ReadAllBytes(junit), Directory.GetFiles(golden).ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes), stdout));
        }
        Assert.Equal(files[0].Junit, files[1].Junit);
        Assert.Equal(files[0].Goldens.Keys.Order(), files[1].Goldens.Keys.Order());
        foreach (var (name, bytes) in files[0].Goldens) Assert.Equal(bytes, files[1].Goldens[name]);
        JUnitSchema.AssertValid(System.Xml.Linq.XDocument.Parse(System.Text.Encoding.UTF8.GetString(files[0].Junit)));
    }

    [Fact]
    public void Replay_command_writes_the_same_rows_as_the_golden()
    {
        var c = Path.Combine(Repository.Captures, "router");
        var (code, stdout, stderr) = Cli("replay", "--rules", Path.Combine(c, "rules.v4"), "--host", Path.Combine(c, "host.yaml"), "--flows", Path.Combine(c, "flows.yaml"), "--seed", "1");
        Assert.True(code == 0, stderr);
        Assert.Equal(File.ReadAllText(Path.Combine(Repository.Golden, "router.csv")), stdout);
    }

    [Fact]
    public void Bad_inputs_are_one_line_each_with_exit_2_and_the_other_cases_still_run()
    {
        using var dir = new TempDir();
        var captures = Path.Combine(dir.Path, "captures");
        var golden = Path.Combine(dir.Path, "golden");
        Repository.CopyTree(Path.Combine(Repository.Captures, "router"), Path.Combine(captures, "a-good"));
        File.Copy(Path.Combine(Repository.Golden, "router.csv"), Path.Combine(Directory.CreateDirectory(golden).FullName, "a-good.csv"));
        // A capture that is not a capture.
        Repository.CopyTree(Path.Combine(Repository.Captures, "router"), Path.Combine(captures, "b-notcapture"));
        dir.File("captures/b-notcapture/traffic.pcap", "this is not a capture file at all\n");
        dir.File("captures/b-notcapture/case.yaml", "rules: rules.v4\nhost: host.yaml\npcap: traffic.pcap\n");
        // A manifest naming a missing file.
        Repository.CopyTree(Path.Combine(Repository.Captures, "router"), Path.Combine(captures, "c-missing"));
        dir.File("captures/c-missing/case.yaml", "rules: [rules.v4, extra.sh]\nhost: host.yaml\nflows: flows.yaml\n");
        // A golden with a wrong header.
        Repository.CopyTree(Path.Combine(Repository.Captures, "router"), Path.Combine(captures, "d-header"));
        dir.File("golden/d-header.csv", "packet;verdict\n1;ACCEPT\n");

        var (code, stdout, _) = Cli("check", captures, "--golden", golden);
        output.WriteLine(stdout);
        Assert.Equal(ExitCodes.BadInput, code);
        var lines = stdout.Split('\n');
        Assert.Contains(lines, l => l.StartsWith("PASS      a-good: ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("BAD INPUT b-notcapture: ", StringComparison.Ordinal) && l.Contains("traffic.pcap", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("BAD INPUT c-missing: ", StringComparison.Ordinal) && l.Contains("case.yaml:1:19: error: rules file 'extra.sh' not found", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("BAD INPUT d-header: ", StringComparison.Ordinal) && l.Contains("wrong golden header", StringComparison.Ordinal));
        Assert.Contains("BAD INPUT: 4 cases, 1 passed, 3 bad input", stdout);
    }
}
