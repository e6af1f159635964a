using System.Collections.Immutable;
using System.Text.RegularExpressions;
using Harness.Golden.Cases;
using Harness.Golden.Csv;
using Harness.Hosts;

namespace Harness.Golden.Check;

/// <summary>Produces a case's rows (the engine by default; the kernel oracle, or a test double, otherwise).</summary>
public delegate IEnumerable<GoldenRow> CaseReplayer(CaseManifest manifest);

/// <summary>
/// <c>harness check</c> as a library call: finds the cases, replays each, compares with its golden, optionally
/// rewrites goldens, writes JUnit. A case that cannot run is reported as bad input and the others still run.
/// </summary>
public static class CheckRunner
{
    public static CheckReport Run(CheckOptions options, CaseReplayer replayer, Action<CaseResult>? onCase = null)
    {
        var goldenDir = options.ResolveGoldenDirectory();
        var results = ImmutableArray.CreateBuilder<CaseResult>();
        ImmutableArray<string> dirs;
        try
        {
            dirs = CaseLoader.Discover(options.Roots);
        }
        catch (InputFormatException e)
        {
            var r = new CaseResult { Name = string.Join(" ", options.Roots), Status = CaseStatus.BadInput, GoldenPath = goldenDir, Error = e.Message };
            onCase?.Invoke(r);
            return Finish(options, new CheckReport([r]));
        }
        var filter = options.Filter is null ? null : GlobToRegex(options.Filter);
        foreach (var dir in dirs)
        {
            var name = Path.GetFileName(dir);
            if (filter is not null && !filter.IsMatch(name)) continue;
            var result = RunCase(dir, Path.Combine(goldenDir, name + ".csv"), options.Update, replayer, options.IgnoredColumns);
            results.Add(result);
            onCase?.Invoke(result);
        }
        return Finish(options, new CheckReport(results.ToImmutable()));
    }

    private static CheckReport Finish(CheckOptions options, CheckReport report)
    {
        if (options.JUnitPath is { } junit) JUnitWriter.WriteFile(junit, report);
        return report;
    }

    /// <summary>
    /// Runs one case folder against one golden path. The golden is read row by row in step with the replay and, with
    /// <paramref name="update"/>, the run's rows go to a temporary file renamed over the golden only when it changed:
    /// neither side is held whole, so a capture of millions of packets checks in bounded memory.
    /// </summary>
    public static CaseResult RunCase(string caseDirectory, string goldenPath, bool update, CaseReplayer replayer, IReadOnlyCollection<string>? ignoredColumns = null)
    {
        var name = Path.GetFileName(Path.GetFullPath(caseDirectory));
        try
        {
            var manifest = CaseLoader.Load(caseDirectory);
            // The golden's encoding and header first: a golden with a wrong header is bad input even when the replay would work.
            var expected = File.Exists(goldenPath) ? GoldenCsv.OpenRows(goldenPath) : null;
            using var output = update ? GoldenCsv.BeginAtomicWrite(goldenPath) : null;
            var actual = replayer(manifest);
            if (output is not null) actual = WrittenAsRead(actual, output);
            var result = new CaseResult { Name = name, Status = CaseStatus.Pass, GoldenPath = goldenPath };
            if (expected is null)
            {
                result = result with { Rows = actual.Count() };
                if (!update) return result with { Status = CaseStatus.NoGolden };
                output!.Commit();
                return result with { Status = CaseStatus.Created };
            }
            var (diffs, rows) = GoldenDiff.CompareInOrder(expected, goldenPath, actual, ignoredColumns ?? []);
            result = result with { Rows = rows };
            if (diffs.IsEmpty) return result;
            if (!update) return result with { Status = CaseStatus.Fail, Differences = diffs };
            output!.Commit();
            return result with { Status = CaseStatus.Updated, Differences = diffs };
        }
        catch (InputFormatException e)
        {
            return Bad(name, goldenPath, e.Message);
        }
        catch (CaseInputException e)
        {
            return Bad(name, goldenPath, e.Message);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A failure inside a library is still reported for this case only; the other cases run.
            var message = e.Message;
            int nl = message.IndexOfAny(['\r', '\n']);
            return Bad(name, goldenPath, $"error: {e.GetType().Name}: {(nl < 0 ? message : message[..nl])}");
        }
    }

    private static IEnumerable<GoldenRow> WrittenAsRead(IEnumerable<GoldenRow> rows, AtomicGoldenWriter output)
    {
        foreach (var row in rows)
        {
            output.Write(row);
            yield return row;
        }
    }

    private static CaseResult Bad(string name, string goldenPath, string message) =>
        new() { Name = name, Status = CaseStatus.BadInput, GoldenPath = goldenPath, Error = message };

    /// <summary>A glob with * and ? matched against the whole case name.</summary>
    public static Regex GlobToRegex(string glob) =>
        new("^" + Regex.Escape(glob).Replace(@"\*", ".*", StringComparison.Ordinal).Replace(@"\?", ".", StringComparison.Ordinal) + "$",
            RegexOptions.CultureInvariant);
}

/// <summary>A case input another library refused (ruleset diagnostics, a capture that is not a capture, …): one line.</summary>
public sealed class CaseInputException(string message, Exception? inner = null) : Exception(message, inner);
