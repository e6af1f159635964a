using Harness.Golden.Cases;
using Harness.Golden.Check;
using Harness.Golden.Csv;

namespace Harness.Golden.Tests;

/// <summary>
/// check reads the golden row by row in step with the replay (neither side held whole): the order it reports
/// differences in, what it does with a golden out of packet order, and --update's temporary file.
/// </summary>
public class CheckStreamingTests
{
    private static GoldenRow Row(string packet, string verdict = "ACCEPT") =>
        GoldenRow.Of(packet, "1.000000000", "lan0", "", "udp", "10.1.0.2", "5000", "10.1.0.1", "53", verdict, "filter:INPUT:policy", "NEW", "", "", "PREROUTING:raw:PREROUTING", "", "");

    private static string CaseDir(TempDir dir)
    {
        dir.File("captures/one/r.rules", "*filter\nCOMMIT\n");
        dir.File("captures/one/host.yaml", "interfaces: []\n");
        dir.File("captures/one/f.yaml", "flows: []\n");
        dir.File("captures/one/case.yaml", "rules: r.rules\nhost: host.yaml\nflows: f.yaml\n");
        return Path.Combine(dir.Path, "captures", "one");
    }

    [Fact]
    public void Rows_only_one_side_has_are_reported_in_packet_order_with_generated_rows_after_their_packet()
    {
        using var dir = new TempDir();
        var golden = Path.Combine(dir.Path, "golden", "one.csv");
        GoldenCsv.WriteFileAtomically(golden, [Row("1"), Row("3"), Row("3r"), Row("3r2"), Row("10")]);

        var result = CheckRunner.RunCase(CaseDir(dir), golden, update: false, _ => [Row("1"), Row("2"), Row("3"), Row("3r2", "DROP"), Row("9"), Row("10")]);

        Assert.Equal(CaseStatus.Fail, result.Status);
        Assert.Equal(6, result.Rows);
        Assert.Equal(
            [("2", CellDifference.ExtraRow), ("3r", CellDifference.MissingRow), ("3r2", "DROP"), ("9", CellDifference.ExtraRow)],
            result.Differences.Select(d => (d.Packet, d.Expected == CellDifference.ExtraRow ? d.Expected : d.Actual)));
    }

    [Fact]
    public void A_golden_out_of_packet_order_is_bad_input_naming_its_line()
    {
        using var dir = new TempDir();
        var golden = Path.Combine(dir.Path, "golden", "one.csv");
        GoldenCsv.WriteFileAtomically(golden, [Row("1"), Row("5"), Row("4")]);
        var result = CheckRunner.RunCase(CaseDir(dir), golden, update: false, _ => [Row("1"), Row("4"), Row("5")]);
        Assert.Equal(CaseStatus.BadInput, result.Status);
        Assert.Equal($"{golden}:4:1: error: golden rows out of packet order: '4' after '5' (rerun with --update to rewrite it)", result.Error);

        GoldenCsv.WriteFileAtomically(golden, [Row("1"), Row("x7")]);
        var bad = CheckRunner.RunCase(CaseDir(dir), golden, update: false, _ => [Row("1")]);
        Assert.Equal($"{golden}:3:1: error: packet 'x7' is not a packet number (N, Nr or NrK)", bad.Error);
    }

    [Fact]
    public void Update_replaces_the_golden_only_when_it_changed_and_never_leaves_a_partial_file()
    {
        using var dir = new TempDir();
        var caseDir = CaseDir(dir);
        var golden = Path.Combine(dir.Path, "golden", "one.csv");
        GoldenCsv.WriteFileAtomically(golden, [Row("1"), Row("2")]);
        var before = File.ReadAllBytes(golden);
        File.SetLastWriteTimeUtc(golden, new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc));

        var same = CheckRunner.RunCase(caseDir, golden, update: true, _ => [Row("1"), Row("2")]);
        Assert.Equal(CaseStatus.Pass, same.Status);
        Assert.Equal(new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc), File.GetLastWriteTimeUtc(golden));

        // A replay that fails half way: bad input, the golden as it was, no temporary file beside it.
        static IEnumerable<GoldenRow> Failing()
        {
            yield return Row("1", "DROP");
            throw new InvalidDataException("capture cut short at byte 4,096");
        }
        var failed = CheckRunner.RunCase(caseDir, golden, update: true, _ => Failing());
        Assert.Equal(CaseStatus.BadInput, failed.Status);
        Assert.Equal("error: InvalidDataException: capture cut short at byte 4,096", failed.Error);
        Assert.Equal(before, File.ReadAllBytes(golden));
        Assert.Equal(["one.csv"], Directory.GetFiles(Path.GetDirectoryName(golden)!).Select(Path.GetFileName));

        var updated = CheckRunner.RunCase(caseDir, golden, update: true, _ => [Row("1"), Row("2", "DROP"), Row("2r")]);
        Assert.Equal(CaseStatus.Updated, updated.Status);
        Assert.Equal(GoldenCsv.ToText([Row("1"), Row("2", "DROP"), Row("2r")]), File.ReadAllText(golden));
        Assert.Equal(["one.csv"], Directory.GetFiles(Path.GetDirectoryName(golden)!).Select(Path.GetFileName));
    }

    [Fact]
    public void A_golden_that_is_not_utf8_is_refused_with_the_offset_of_its_first_bad_byte_past_the_first_block()
    {
        using var dir = new TempDir();
        var golden = Path.Combine(dir.Path, "golden", "one.csv");
        // Two megabytes of valid rows, a two-byte character cut by the 1 MB block boundary, then one invalid byte.
        var text = GoldenCsv.ToText(Enumerable.Range(1, 14_000).Select(i => Row(i.ToString(System.Globalization.CultureInfo.InvariantCulture))));
        var bytes = System.Text.Encoding.UTF8.GetBytes(text).ToList();
        bytes.InsertRange((1 << 20) - 1, "é"u8.ToArray());
        bytes.Insert(bytes.Count - 3, 0xFF);
        Directory.CreateDirectory(Path.GetDirectoryName(golden)!);
        File.WriteAllBytes(golden, [.. bytes]);
        var result = CheckRunner.RunCase(CaseDir(dir), golden, update: false, _ => [Row("1")]);
        Assert.Equal($"{golden}: error: golden is not UTF-8 text (invalid byte at offset {bytes.Count - 4})", result.Error);
    }
}
