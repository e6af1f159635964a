using System.Collections.Immutable;
using System.Xml.Linq;
using Harness.Golden.Cases;
using Harness.Golden.Check;
using Harness.Golden.Csv;

namespace Harness.Golden.Tests;

/// <summary>check/update/JUnit with a replayer that returns fixed rows, so these run without the engine.</summary>
public class CheckRunnerTests
{
    private static GoldenRow Row(string packet, string verdict) =>
        GoldenRow.Of(packet, "1.000000000", "lan0", "", "udp", "10.1.0.2", "5000", "10.1.0.1", "53", verdict, "filter:INPUT:policy", "NEW", "", "", "PREROUTING:raw:PREROUTING", "", "");

    private sealed class Fixture : IDisposable
    {
        public readonly TempDir Dir = new();
        public Dictionary<string, ImmutableArray<GoldenRow>> Rows { get; } = new();

        public string Captures => Path.Combine(Dir.Path, "captures");
        public string Golden => Path.Combine(Dir.Path, "golden");

        public void Case(string name, string? manifest = null)
        {
            Dir.File($"captures/{name}/r.rules", "*filter\nCOMMIT\n");
            Dir.File($"captures/{name}/host.yaml", "interfaces: []\n");
            Dir.File($"captures/{name}/f.yaml", "flows: []\n");
            Dir.File($"captures/{name}/case.yaml", manifest ?? "rules: r.rules\nhost: host.yaml\nflows: f.yaml\n");
        }

        public IEnumerable<GoldenRow> Replay(CaseManifest m) => Rows[m.Name];

        public CheckReport Check(bool update = false, string? junit = null, string? filter = null) =>
            CheckRunner.Run(new CheckOptions { Roots = [Captures], GoldenDirectory = Golden, Update = update, JUnitPath = junit, Filter = filter }, Replay);

        public void Dispose() => Dir.Dispose();
    }

    [Fact]
    public void Passing_failing_missing_golden_and_bad_input_are_each_reported_and_all_run()
    {
        using var f = new Fixture();
        f.Case("a-pass");
        f.Case("b-fail");
        f.Case("c-nogolden");
        f.Case("d-bad", "rules: r.rules\nhost: nothere.yaml\nflows: f.yaml\n");
        f.Case("e-badheader");
        f.Rows["a-pass"] = [Row("1", "ACCEPT")];
        f.Rows["b-fail"] = [Row("1", "ACCEPT"), Row("2", "DROP")];
        f.Rows["c-nogolden"] = [Row("1", "ACCEPT")];
        f.Rows["e-badheader"] = [Row("1", "ACCEPT")];
        GoldenCsv.WriteFileAtomically(Path.Combine(f.Golden, "a-pass.csv"), [Row("1", "ACCEPT")]);
        GoldenCsv.WriteFileAtomically(Path.Combine(f.Golden, "b-fail.csv"), [Row("1", "ACCEPT"), Row("2", "ACCEPT")]);
        f.Dir.File("golden/e-badheader.csv", "packet,verdict\n1,ACCEPT\n");

        var report = f.Check();
        Assert.Equal(["a-pass", "b-fail", "c-nogolden", "d-bad", "e-badheader"], report.Cases.Select(c => c.Name));
        Assert.Equal([CaseStatus.Pass, CaseStatus.Fail, CaseStatus.NoGolden, CaseStatus.BadInput, CaseStatus.BadInput], report.Cases.Select(c => c.Status));
        Assert.Equal(ExitCodes.BadInput, report.ExitCode);
        var fail = report.Cases[1];
        Assert.Equal(["2"], fail.ChangedPackets.ToArray());
        Assert.Equal(("verdict", "ACCEPT", "DROP"), (fail.Differences[0].Column, fail.Differences[0].Expected, fail.Differences[0].Actual));
        Assert.Contains("host file 'nothere.yaml' not found", report.Cases[3].Error);
        Assert.Contains("wrong golden header", report.Cases[4].Error);
        Assert.False(File.Exists(Path.Combine(f.Golden, "c-nogolden.csv")), "a missing golden must not be created without --update");
        var text = CheckText.Report(report);
        Assert.Contains("  packet 2\n    verdict: expected ACCEPT, actual DROP\n    new path: PREROUTING:raw:PREROUTING\n", text);
        Assert.EndsWith("BAD INPUT: 5 cases, 1 passed, 1 failed, 1 without golden, 2 bad input\n", text);
    }

    [Fact]
    public void Exit_code_is_1_for_differences_and_0_after_update()
    {
        using var f = new Fixture();
        f.Case("only");
        f.Rows["only"] = [Row("1", "ACCEPT"), Row("2", "DROP"), Row("3", "ACCEPT")];
        var golden = Path.Combine(f.Golden, "only.csv");
        GoldenCsv.WriteFileAtomically(golden, [Row("1", "ACCEPT"), Row("2", "ACCEPT"), Row("3", "ACCEPT")]);
        Assert.Equal(ExitCodes.Differences, f.Check().ExitCode);

        var updated = f.Check(update: true);
        Assert.Equal(CaseStatus.Updated, updated.Cases.Single().Status);
        Assert.Equal(ExitCodes.Ok, updated.ExitCode);
        Assert.Contains("only.csv: 1 rows changed (2)", CheckText.Headline(updated.Cases.Single()));
        Assert.Equal(f.Rows["only"].ToArray(), GoldenCsv.ReadFile(golden).ToArray());
        Assert.Empty(Directory.GetFiles(f.Golden, ".*tmp*"));
        Assert.Equal(ExitCodes.Ok, f.Check().ExitCode);
    }

    [Fact]
    public void Update_creates_missing_goldens_and_filter_selects_cases()
    {
        using var f = new Fixture();
        f.Case("web-1");
        f.Case("db-1");
        f.Rows["web-1"] = [Row("1", "ACCEPT")];
        f.Rows["db-1"] = [Row("1", "DROP")];
        var report = f.Check(update: true, filter: "web-*");
        Assert.Equal(["web-1"], report.Cases.Select(c => c.Name));
        Assert.Equal(CaseStatus.Created, report.Cases[0].Status);
        Assert.True(File.Exists(Path.Combine(f.Golden, "web-1.csv")));
        Assert.False(File.Exists(Path.Combine(f.Golden, "db-1.csv")));
    }

    [Fact]
    public void Junit_is_identical_across_runs_and_has_the_structure_ci_servers_read()
    {
        using var f = new Fixture();
        f.Case("a");
        f.Case("b");
        f.Case("c", "rules: r.rules\nhost: host.yaml\n");
        f.Rows["a"] = [Row("1", "ACCEPT")];
        f.Rows["b"] = [Row("1", "DROP")];
        GoldenCsv.WriteFileAtomically(Path.Combine(f.Golden, "a.csv"), [Row("1", "ACCEPT")]);
        GoldenCsv.WriteFileAtomically(Path.Combine(f.Golden, "b.csv"), [Row("1", "ACCEPT")]);
        var j1 = Path.Combine(f.Dir.Path, "out1", "junit.xml");
        var j2 = Path.Combine(f.Dir.Path, "out2", "junit.xml");
        f.Check(junit: j1);
        f.Check(junit: j2);
        Assert.Equal(File.ReadAllBytes(j1), File.ReadAllBytes(j2));

        JUnitSchema.AssertValid(XDocument.Load(j1));
        var suite = XDocument.Load(j1).Root!.Element("testsuite")!;
        Assert.Equal(("3", "1", "1"), (suite.Attribute("tests")!.Value, suite.Attribute("failures")!.Value, suite.Attribute("errors")!.Value));
        var cases = suite.Elements("testcase").ToList();
        Assert.Equal(["a", "b", "c"], cases.Select(c => c.Attribute("name")!.Value));
        Assert.Empty(cases[0].Elements());
        Assert.Equal("golden-mismatch", cases[1].Element("failure")!.Attribute("type")!.Value);
        Assert.Contains("verdict: expected ACCEPT, actual DROP", cases[1].Element("failure")!.Value);
        Assert.Equal("bad-input", cases[2].Element("error")!.Attribute("type")!.Value);
    }

    [Fact]
    public void Default_golden_folder_is_beside_the_captures_folder_also_for_a_single_case()
    {
        using var f = new Fixture();
        f.Case("one");
        var expected = Path.Combine(f.Dir.Path, "golden");
        Assert.Equal(expected, new CheckOptions { Roots = [f.Captures] }.ResolveGoldenDirectory());
        Assert.Equal(expected, new CheckOptions { Roots = [Path.Combine(f.Captures, "one")] }.ResolveGoldenDirectory());
        Assert.Equal(Path.Combine(f.Dir.Path, "g2"), new CheckOptions { Roots = [f.Captures], GoldenDirectory = Path.Combine(f.Dir.Path, "g2") }.ResolveGoldenDirectory());
    }

    [Fact]
    public void Missing_case_root_is_bad_input()
    {
        using var f = new Fixture();
        var report = CheckRunner.Run(new CheckOptions { Roots = [Path.Combine(f.Dir.Path, "none")], GoldenDirectory = f.Golden }, f.Replay);
        Assert.Equal(ExitCodes.BadInput, report.ExitCode);
        Assert.Contains("no such case directory", report.Cases.Single().Error);
    }
}
