using System.Collections.Immutable;

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
            for (int c = 1; c < GoldenRow.Columns.Length; c++)
            {
                if (ignoredColumns.Contains(GoldenRow.Columns[c])) continue;
                if (!string.Equals(e[c], a[c], StringComparison.Ordinal))
                    result.Add(new CellDifference(key, GoldenRow.Columns[c], e[c], a[c], a.Path));
            }
        }
        return result.ToImmutable();
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
