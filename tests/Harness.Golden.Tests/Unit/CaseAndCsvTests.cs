using Harness.Golden.Cases;
using Harness.Golden.Csv;

namespace Harness.Golden.Tests;

public class CaseAndCsvTests
{
    private static TempDir CaseFolder(string manifest)
    {
        var dir = new TempDir();
        dir.File("web/rules.v4", "*filter\nCOMMIT\n");
        dir.File("web/host.yaml", "interfaces: []\n");
        dir.File("web/flows.yaml", "flows: []\n");
        dir.File("web/case.yaml", manifest);
        return dir;
    }

    [Fact]
    public void Manifest_resolves_paths_against_the_case_folder()
    {
        using var dir = CaseFolder("description: web server\nrules: [rules.v4]\nhost: host.yaml\nflows: flows.yaml\nseed: 7\noptions:\n  in: lan0\n");
        var c = CaseLoader.Load(Path.Combine(dir.Path, "web"));
        Assert.Equal("web", c.Name);
        Assert.Equal([Path.Combine(dir.Path, "web", "rules.v4")], c.Rules.ToArray());
        Assert.Equal(Path.Combine(dir.Path, "web", "flows.yaml"), c.Flows);
        Assert.Null(c.Pcap);
        Assert.Equal(7, c.Seed);
        Assert.Equal("lan0", c.DefaultInterface);
        Assert.Equal("web server", c.Description);
    }

    [Theory]
    [InlineData("rules: [rules.v4, missing.sh]\nhost: host.yaml\nflows: flows.yaml\n", 1, 19, "rules file 'missing.sh' not found")]
    [InlineData("rules: rules.v4\nhost: host.yaml\nflows: flows.yaml\npcap: rules.v4\n", 1, 1, "exactly one of 'pcap'")]
    [InlineData("rules: rules.v4\nhost: host.yaml\nflows: flows.yaml\nspeed: 3\n", 4, 1, "unknown key 'speed' in the case")]
    [InlineData("host: host.yaml\nflows: flows.yaml\n", 1, 1, "a case needs 'rules'")]
    [InlineData("rules: rules.v4\nflows: flows.yaml\n", 1, 1, "a case needs 'host'")]
    [InlineData("rules: rules.v4\nhost: host.yaml\nflows: flows.yaml\nseed: many\n", 4, 7, "expected an integer for seed")]
    public void Manifest_errors_are_one_line_with_position(string manifest, int line, int column, string expected)
    {
        using var dir = CaseFolder(manifest);
        var e = Assert.Throws<CaseFormatException>(() => CaseLoader.Load(Path.Combine(dir.Path, "web")));
        Assert.Equal((line, column), (e.Line, e.Column));
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Discover_finds_case_folders_sorted_and_accepts_a_single_case()
    {
        using var dir = new TempDir();
        dir.File("b/case.yaml", "");
        dir.File("a/case.yaml", "");
        dir.File("flows/x.yaml", "");
        Assert.Equal(["a", "b"], CaseLoader.Discover([dir.Path]).Select(Path.GetFileName));
        Assert.Equal(["b"], CaseLoader.Discover([Path.Combine(dir.Path, "b")]).Select(Path.GetFileName));
        Assert.Throws<CaseFormatException>(() => CaseLoader.Discover([Path.Combine(dir.Path, "zzz")]));
    }

    private static GoldenRow Row(string packet, string verdict = "ACCEPT", string log = "", string path = "PREROUTING:nat:PREROUTING") =>
        GoldenRow.Of(packet, "1700000000.000000000", "lan0", "", "tcp", "10.1.0.2", "40000", "10.1.0.1", "22",
            verdict, "filter:INPUT:1", "NEW", "SYN_SENT", "", path, log, "");

    [Fact]
    public void Csv_round_trips_quotes_commas_and_uses_lf_without_bom()
    {
        var rows = new[] { Row("1", log: "IN=lan0 OUT= SRC=10.1.0.2 \"x\", y"), Row("1r", "REJECT") };
        var bytes = GoldenCsv.ToBytes(rows);
        Assert.NotEqual(0xEF, bytes[0]);
        Assert.DoesNotContain((byte)'\r', bytes);
        var text = GoldenCsv.ToText(rows);
        Assert.StartsWith("packet,time,in,out,proto,src,sport,dst,dport,verdict,rule,ct,ct_tcp,nat,path,log,reason\n", text);
        Assert.EndsWith("\n", text);
        Assert.Equal(rows, GoldenCsv.Parse(text, "g.csv").ToArray());
    }

    [Fact]
    public void Csv_with_a_wrong_header_is_refused_on_line_one()
    {
        var e = Assert.Throws<CaseFormatException>(() => GoldenCsv.Parse("packet,time,verdict\n1,2,ACCEPT\n", "golden/x.csv"));
        Assert.Equal(1, e.Line);
        Assert.StartsWith("golden/x.csv:1:1: error: wrong golden header: expected 'packet,time,in,", e.Message);
        Assert.Throws<CaseFormatException>(() => GoldenCsv.Parse("", "golden/x.csv"));
    }

    [Fact]
    public void A_golden_that_is_not_utf8_is_refused_with_the_offset_of_the_first_bad_byte()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "g.csv");
        var good = System.Text.Encoding.UTF8.GetBytes(GoldenCsv.ToText([Row("1")]));
        File.WriteAllBytes(path, [.. good, 0xC3, 0x28, (byte)'\n']);
        var e = Assert.Throws<CaseFormatException>(() => GoldenCsv.ReadFile(path));
        Assert.EndsWith($"golden is not UTF-8 text (invalid byte at offset {good.Length})", e.Message);
        // Valid text (with a byte-order mark) reads back as written.
        File.WriteAllBytes(path, [0xEF, 0xBB, 0xBF, .. good]);
        Assert.Equal("1", Assert.Single(GoldenCsv.ReadFile(path)).Packet);
    }

    [Fact]
    public void Csv_row_with_missing_fields_is_refused_with_its_line()
    {
        var text = GoldenCsv.ToText([Row("1")]) + "2,3\n";
        var e = Assert.Throws<CaseFormatException>(() => GoldenCsv.Parse(text, "g.csv"));
        Assert.Equal(3, e.Line);
    }

    [Fact]
    public void Diff_names_packet_column_expected_actual_and_new_path()
    {
        var expected = new[] { Row("1"), Row("2"), Row("3") };
        var actual = new[] { Row("1"), Row("2", "DROP", path: "PREROUTING:raw:PREROUTING;INPUT:filter:INPUT:2"), Row("4") };
        var diffs = GoldenDiff.Compare(expected, actual);
        Assert.Equal(4, diffs.Length);
        Assert.Equal(new CellDifference("2", "verdict", "ACCEPT", "DROP", "PREROUTING:raw:PREROUTING;INPUT:filter:INPUT:2"), diffs[0]);
        Assert.Equal("path", diffs[1].Column);
        Assert.Equal(("3", CellDifference.MissingRow), (diffs[2].Packet, diffs[2].Actual));
        Assert.Equal(("4", CellDifference.ExtraRow), (diffs[3].Packet, diffs[3].Expected));
        var extra = GoldenDiff.Compare(expected, [Row("1"), Row("2"), Row("3"), Row("4")]);
        Assert.Equal(("4", CellDifference.ExtraRow), (extra.Single().Packet, extra.Single().Expected));
        Assert.Empty(GoldenDiff.Compare(expected, expected));
    }

    [Fact]
    public void Diff_places_rows_only_the_golden_has_after_their_predecessor_for_a_much_longer_golden()
    {
        // A golden of a longer capture (the capture was cut): 100,000 missing rows, in golden order after the last
        // row the run still has, and a golden-only row first when the golden starts with one.
        var expected = Enumerable.Range(0, 100_001).Select(i => Row(i.ToString(System.Globalization.CultureInfo.InvariantCulture))).ToArray();
        var actual = new[] { Row("2"), Row("1") };
        var diffs = GoldenDiff.Compare(expected, actual);
        Assert.Equal(100_001 - 2, diffs.Length);
        Assert.Equal("0", diffs[0].Packet);
        Assert.Equal(["0", "3", "4"], diffs.Take(3).Select(d => d.Packet));
        Assert.Equal("100000", diffs[^1].Packet);
        Assert.All(diffs, d => Assert.Equal(CellDifference.MissingRow, d.Actual));
        Assert.Equal(Enumerable.Range(3, 99_998).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), diffs.Skip(1).Select(d => d.Packet));
    }
}
