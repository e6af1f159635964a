using System.Collections.Immutable;
using Harness.Golden.Csv;

namespace Harness.Golden.Check;

/// <summary>What <c>harness check</c> does: the case roots, where goldens live, and the switches.</summary>
public sealed record CheckOptions
{
    /// <summary>Case folders, or folders of case folders (default: captures).</summary>
    public required IReadOnlyList<string> Roots { get; init; }

    /// <summary>Folder of golden CSVs; null means "golden" beside the first root.</summary>
    public string? GoldenDirectory { get; init; }

    /// <summary>Rewrite differing or missing goldens (atomically) instead of failing.</summary>
    public bool Update { get; init; }

    /// <summary>Glob (* and ?) on case names; null runs every case.</summary>
    public string? Filter { get; init; }

    /// <summary>Columns left out of the comparison (the kernel oracle cannot see log and reason).</summary>
    public IReadOnlyCollection<string> IgnoredColumns { get; init; } = [];

    /// <summary>Where to write JUnit XML, or null.</summary>
    public string? JUnitPath { get; init; }

    /// <summary>The golden folder in use.</summary>
    public string ResolveGoldenDirectory()
    {
        if (GoldenDirectory is not null) return Cases.CaseLoader.Display(Path.GetFullPath(GoldenDirectory));
        // captures/ → golden/ beside it; a single case folder captures/web → the same golden/.
        var root = Path.GetFullPath(Roots.Count > 0 ? Roots[0] : "captures").TrimEnd(Path.DirectorySeparatorChar);
        if (File.Exists(Path.Combine(root, Cases.CaseLoader.ManifestFileName))) root = Path.GetDirectoryName(root) ?? root;
        return Cases.CaseLoader.Display(Path.Combine(Path.GetDirectoryName(root) ?? ".", "golden"));
    }
}

public enum CaseStatus
{
    /// <summary>Every row equals the golden.</summary>
    Pass,

    /// <summary>Rows differ from the golden.</summary>
    Fail,

    /// <summary>No golden file yet (and no --update).</summary>
    NoGolden,

    /// <summary>With --update: the golden was rewritten.</summary>
    Updated,

    /// <summary>With --update: the golden did not exist and was written.</summary>
    Created,

    /// <summary>The case could not run: a missing file, a bad golden header, a file that is not a capture, …</summary>
    BadInput,
}

/// <summary>The result of one case.</summary>
public sealed record CaseResult
{
    public required string Name { get; init; }
    public required CaseStatus Status { get; init; }
    public required string GoldenPath { get; init; }

    /// <summary>Rows the run produced (0 when it could not run).</summary>
    public int Rows { get; init; }

    public ImmutableArray<CellDifference> Differences { get; init; } = [];

    /// <summary>For <see cref="CaseStatus.BadInput"/>: the one-line message.</summary>
    public string? Error { get; init; }

    public ImmutableArray<string> ChangedPackets => GoldenDiff.ChangedPackets(Differences);
}

/// <summary>Every case's result, in run order; <see cref="ExitCode"/> is 2 for bad input, 1 for differences, else 0.</summary>
public sealed record CheckReport(ImmutableArray<CaseResult> Cases)
{
    public int Count(CaseStatus s) => Cases.Count(c => c.Status == s);

    public int ExitCode =>
        Cases.Any(c => c.Status == CaseStatus.BadInput) ? ExitCodes.BadInput
        : Cases.Any(c => c.Status is CaseStatus.Fail or CaseStatus.NoGolden) ? ExitCodes.Differences
        : ExitCodes.Ok;
}

/// <summary>The exit codes every harness command uses.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    public const int Differences = 1;
    public const int BadInput = 2;
}
