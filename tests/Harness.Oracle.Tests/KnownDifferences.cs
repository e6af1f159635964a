using Harness.Golden.Csv;
using Harness.Oracle.Fuzz;

namespace Harness.Oracle.Tests;

/// <summary>
/// The disagreements known-differences.md (repository root) explains, recognised by their shape: one category per
/// section there. A disagreement of any other shape is unexplained.
/// </summary>
internal static class KnownDifferences
{
    /// <summary>True when every difference of the run has a category.</summary>
    public static bool Explains(FuzzRun run)
    {
        if (run.EngineError is not null) return false;
        return run.Differences.All(d => Category(d) is not null);
    }

    public static string? Category(CellDifference d)
    {
        bool generated = d.Packet.Contains('r', StringComparison.Ordinal);
        if (d.Expected == CellDifference.ExtraRow && d.Actual.Contains(":5/1 ", StringComparison.Ordinal))
            return "icmp-redirect";
        if (generated && d.Column == "nat" && d.Expected.EndsWith("(and the quoted packet)", StringComparison.Ordinal) && d.Actual.Length == 0)
            return "icmp-error-nat-quoted-only";
        return null;
    }
}
