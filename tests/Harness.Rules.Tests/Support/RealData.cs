namespace Harness.Rules.Tests.Support;

/// <summary>
/// Finds the third-party test data (../shared/realdata from the repository, or $HARNESS_REALDATA). Tests that need
/// it print why and return when it is absent.
/// </summary>
public static class RealData
{
    public static string? Root { get; } = Find();

    private static string? Find()
    {
        if (Environment.GetEnvironmentVariable("HARNESS_NO_REALDATA") is { Length: > 0 }) return null;
        var env = Environment.GetEnvironmentVariable("HARNESS_REALDATA");
        if (!string.IsNullOrEmpty(env) && Directory.Exists(env)) return env;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "shared", "realdata");
            if (Directory.Exists(candidate)) return candidate;
            candidate = Path.Combine(dir.FullName, "..", "shared", "realdata");
            if (Directory.Exists(candidate) && File.Exists(Path.Combine(dir.FullName, "Harness.sln"))) return Path.GetFullPath(candidate);
        }
        return null;
    }

    public static bool Available(out string why)
    {
        why = Root is null
            ? "SKIPPED: ../shared/realdata not found or HARNESS_NO_REALDATA set (set HARNESS_REALDATA to its path to run this test)"
            : "";
        return Root is not null;
    }

    /// <summary>The rulesets of rulesets/MANIFEST.tsv: path relative to rulesets/, and family.</summary>
    public static IReadOnlyList<(string Path, Harness.Net.Family Family)> Rulesets()
    {
        var dir = Path.Combine(Root!, "rulesets");
        return [.. File.ReadLines(Path.Combine(dir, "MANIFEST.tsv")).Skip(1)
            .Select(l => l.Split('\t'))
            .Where(f => f.Length >= 2)
            .Select(f => (Path.Combine(dir, f[0]), f[1] == "ipv6" ? Harness.Net.Family.IPv6 : Harness.Net.Family.IPv4))];
    }
}
