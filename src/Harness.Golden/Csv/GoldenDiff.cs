using System.Collections.Immutable;
using System.Globalization;
using Harness.Golden.Cases;

namespace Harness.Golden.Csv;

/// <summary>One difference between a golden and a run: a changed cell, or a row only one side has.</summary>
public sealed record CellDifference(string Packet, string Column, string Expected, string Actual, string NewPath)
{
    public const string MissingRow = "(missing row)";
    public const string ExtraRow = "(extra row)";
}

/// <summary>Compares expected (golden) rows with actual rows, keyed by the "packet" column, in a stable order.</summary>
public static class GoldenDiff
{
    public static ImmutableArray<CellDifference> Compare(IReadOnlyList<GoldenRow> expected, IReadOnlyList<GoldenRow> actual) =>
        Compare(expected, actual, []);

    /// <summary>As <see cref="Compare(IReadOnlyList{GoldenRow}, IReadOnlyList{GoldenRow})"/>, skipping the named columns.</summary>
    public static ImmutableArray<CellDifference> Compare(IReadOnlyList<GoldenRow> expected, IReadOnlyList<GoldenRow> actual, IReadOnlyCollection<string> ignoredColumns)
    {
        var result = ImmutableArray.CreateBuilder<CellDifference>();
        var actualByKey = Index(actual);
        var expectedByKey = Index(expected);
        foreach (var key in Keys(expected, actual))
        {
            var e = expectedByKey.GetValueOrDefault(key);
            var a = actualByKey.GetValueOrDefault(key);
            if (e is null)
            {
                result.Add(new CellDifference(key, "*", CellDifference.ExtraRow, Summary(a!), a!.Path));
                continue;
            }
            if (a is null)
            {
                result.Add(new CellDifference(key, "*", Summary(e), CellDifference.MissingRow, ""));
                continue;
            }
            AddCellDifferences(result, e, a, ignoredColumns);
        }
        return result.ToImmutable();
    }

    /// <summary>
    /// Compares a golden read row by row with a run's rows as they are made, holding neither: both are in packet order
    /// (a packet's own row, then the rows of the packets it made: "12", "12r", "12r2"), so one pass pairs the rows of a
    /// key and names the rows only one side has, in packet order. A golden row out of that order (hand-edited) is bad
    /// input naming its line. Also gives how many rows the run made.
    /// </summary>
    public static (ImmutableArray<CellDifference> Differences, int ActualRows) CompareInOrder(
        IEnumerable<(GoldenRow Row, long Line)> expected, string goldenFile, IEnumerable<GoldenRow> actual, IReadOnlyCollection<string> ignoredColumns)
    {
        var result = ImmutableArray.CreateBuilder<CellDifference>();
        int actualRows = 0;
        using var golden = expected.GetEnumerator();
        using var run = actual.GetEnumerator();
        (long, int) goldenKey = (-1, 0), runKey = (-1, 0);
        bool NextGolden()
        {
            if (!golden.MoveNext()) return false;
            var (row, line) = golden.Current;
            var key = RowKey.Parse(row.Packet)
                ?? throw new CaseFormatException(goldenFile, (int)line, 1, $"packet '{row.Packet}' is not a packet number (N, Nr or NrK)");
            if (key.CompareTo(goldenKey) <= 0)
                throw new CaseFormatException(goldenFile, (int)line, 1,
                    $"golden rows out of packet order: '{row.Packet}' after '{RowKey.Text(goldenKey)}' (rerun with --update to rewrite it)");
            goldenKey = key;
            return true;
        }
        bool NextRun()
        {
            if (!run.MoveNext()) return false;
            actualRows++;
            var key = RowKey.Parse(run.Current.Packet) ?? throw new InvalidOperationException($"the run made a row with key '{run.Current.Packet}'");
            if (key.CompareTo(runKey) <= 0) throw new InvalidOperationException($"the run's rows are out of packet order at '{run.Current.Packet}'");
            runKey = key;
            return true;
        }
        bool haveGolden = NextGolden(), haveRun = NextRun();
        while (haveGolden || haveRun)
        {
            int order = !haveGolden ? 1 : !haveRun ? -1 : goldenKey.CompareTo(runKey);
            if (order < 0)
            {
                var e = golden.Current.Row;
                result.Add(new CellDifference(e.Packet, "*", Summary(e), CellDifference.MissingRow, ""));
                haveGolden = NextGolden();
            }
            else if (order > 0)
            {
                var a = run.Current;
                result.Add(new CellDifference(a.Packet, "*", CellDifference.ExtraRow, Summary(a), a.Path));
                haveRun = NextRun();
            }
            else
            {
                AddCellDifferences(result, golden.Current.Row, run.Current, ignoredColumns);
                haveGolden = NextGolden();
                haveRun = NextRun();
            }
        }
        return (result.ToImmutable(), actualRows);
    }

    private static void AddCellDifferences(ImmutableArray<CellDifference>.Builder result, GoldenRow e, GoldenRow a, IReadOnlyCollection<string> ignoredColumns)
    {
        for (int c = 1; c < GoldenRow.Columns.Length; c++)
        {
            if (ignoredColumns.Contains(GoldenRow.Columns[c])) continue;
            if (!string.Equals(e[c], a[c], StringComparison.Ordinal))
                result.Add(new CellDifference(e.Packet, GoldenRow.Columns[c], e[c], a[c], a.Path));
        }
    }

    /// <summary>A row key as (packet number, generated row: 0 for the packet's own, K for "rK", 1 for "r").</summary>
    private static class RowKey
    {
        public static (long Packet, int Generated)? Parse(string key)
        {
            int r = key.IndexOf('r', StringComparison.Ordinal);
            var number = r < 0 ? key : key[..r];
            if (number.Length == 0 || !number.All(char.IsAsciiDigit) || !long.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out long packet)) return null;
            if (r < 0) return (packet, 0);
            var generated = key[(r + 1)..];
            if (generated.Length == 0) return (packet, 1);
            if (!generated.All(char.IsAsciiDigit) || !int.TryParse(generated, NumberStyles.None, CultureInfo.InvariantCulture, out int k) || k < 2) return null;
            return (packet, k);
        }

        public static string Text((long Packet, int Generated) key) => key.Generated switch
        {
            0 => key.Packet.ToString(CultureInfo.InvariantCulture),
            1 => key.Packet.ToString(CultureInfo.InvariantCulture) + "r",
            _ => string.Create(CultureInfo.InvariantCulture, $"{key.Packet}r{key.Generated}"),
        };
    }

    /// <summary>The packets (row keys) that differ, in order.</summary>
    public static ImmutableArray<string> ChangedPackets(IEnumerable<CellDifference> diffs) =>
        diffs.Select(d => d.Packet).Distinct(StringComparer.Ordinal).ToImmutableArray();

    private static Dictionary<string, GoldenRow> Index(IReadOnlyList<GoldenRow> rows)
    {
        var d = new Dictionary<string, GoldenRow>(StringComparer.Ordinal);
        foreach (var r in rows) d.TryAdd(r.Packet, r);
        return d;
    }

    /// <summary>
    /// Keys in the actual order, with expected-only keys placed right after their predecessor in the golden (itself
    /// possibly expected-only), the golden's first key first. Linear: a golden of a longer capture has many such keys.
    /// </summary>
    private static List<string> Keys(IReadOnlyList<GoldenRow> expected, IReadOnlyList<GoldenRow> actual)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var actualKeys = actual.Select(r => r.Packet).Where(seen.Add).ToList();
        // Each expected-only key hangs after its predecessor; a later one with the same predecessor goes first.
        var after = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var atStart = new List<string>();
        string? previous = null;
        foreach (var key in expected.Select(r => r.Packet))
        {
            if (seen.Add(key))
            {
                if (previous is null) atStart.Insert(0, key);
                else
                {
                    if (!after.TryGetValue(previous, out var hanging)) after[previous] = hanging = [];
                    hanging.Insert(0, key);
                }
            }
            previous = key;
        }
        var order = new List<string>(seen.Count);
        var pending = new Stack<string>();
        foreach (var root in atStart.Concat(actualKeys))
        {
            pending.Push(root);
            while (pending.TryPop(out var key))
            {
                order.Add(key);
                if (!after.TryGetValue(key, out var hanging)) continue;
                for (int i = hanging.Count - 1; i >= 0; i--) pending.Push(hanging[i]);
            }
        }
        return order;
    }

    private static string Summary(GoldenRow r) =>
        $"{r[4]} {r[5]}:{r[6]} -> {r[7]}:{r[8]} {r[9]} {r[10]}".Replace(": ", " ", StringComparison.Ordinal);
}
