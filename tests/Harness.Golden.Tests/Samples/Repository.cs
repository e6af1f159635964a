namespace Harness.Golden.Tests;

/// <summary>Where the repository's sample cases and goldens are (found from the test assembly's folder).</summary>
public static class Repository
{
    public static string Root { get; } = FindRoot();

    public static string Captures => Path.Combine(Root, "captures");
    public static string Golden => Path.Combine(Root, "golden");

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Harness.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Harness.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>Copies a folder tree (a case) into <paramref name="destination"/>.</summary>
    public static void CopyTree(string source, string destination)
    {
        Directory.CreateDirectory(destination);
        foreach (var file in Directory.EnumerateFiles(source))
            File.Copy(file, Path.Combine(destination, Path.GetFileName(file)));
        foreach (var dir in Directory.EnumerateDirectories(source))
            CopyTree(dir, Path.Combine(destination, Path.GetFileName(dir)));
    }
}
