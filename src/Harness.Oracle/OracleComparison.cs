using System.Collections.Immutable;
using Harness.Engine;
using Harness.Golden.Csv;

namespace Harness.Oracle;

/// <summary>
/// Compares outcomes column by column through the golden projection. The kernel cannot show two columns: "log"
/// (LOG lines go to a kernel log that network namespaces other than the host's do not get) and "reason" (the stack's
/// own drops carry no reason in a trace), so both sides have them blanked before comparing.
/// </summary>
public static class OracleComparison
{
    public static readonly ImmutableArray<string> IgnoredColumns = ["log", "reason"];

    /// <summary>Differences between expected rows (a golden, or the engine's) and the kernel's rows.</summary>
    public static ImmutableArray<CellDifference> Compare(IReadOnlyList<GoldenRow> expected, IReadOnlyList<GoldenRow> kernel) =>
        GoldenDiff.Compare(Comparable(expected), Comparable(kernel));

    public static ImmutableArray<CellDifference> Compare(IEnumerable<Outcome> engine, IEnumerable<Outcome> kernel) =>
        Compare(OutcomeProjection.Project(engine), OutcomeProjection.Project(kernel));

    /// <summary>The rows with the columns the kernel cannot show emptied.</summary>
    public static ImmutableArray<GoldenRow> Comparable(IEnumerable<GoldenRow> rows)
    {
        var ignored = IgnoredColumns.Select(c => GoldenRow.Columns.IndexOf(c)).ToHashSet();
        return rows.Select(r => new GoldenRow(r.Fields.Select((f, i) => ignored.Contains(i) ? "" : f).ToImmutableArray())).ToImmutableArray();
    }

    /// <summary>One line per difference: packet, column, expected, kernel.</summary>
    public static string Describe(IEnumerable<CellDifference> differences) =>
        string.Join('\n', differences.Select(d => $"packet {d.Packet} {d.Column}: expected '{d.Expected}', kernel '{d.Actual}'"));
}
