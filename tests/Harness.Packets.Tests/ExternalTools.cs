using System.Diagnostics;

namespace Harness.Packets.Tests;

/// <summary>Runs tcpdump / tshark for cross-checks, and finds the shared real captures; tests skip (with a printed reason) when absent.</summary>
internal static class ExternalTools
{
    public static string? Find(string tool)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, tool);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    public static bool Available(string tool, out string why)
    {
        why = Find(tool) is null ? $"SKIPPED: {tool} is not on PATH" : "";
        return why.Length == 0;
    }

    /// <summary>Runs a tool, returns (exit code, stdout, stderr).</summary>
    public static (int Exit, string Out, string Err) Run(string tool, params string[] arguments)
    {
        var info = new ProcessStartInfo(Find(tool) ?? tool)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in arguments) info.ArgumentList.Add(a);
        info.Environment["LC_ALL"] = "C";
        info.Environment["TZ"] = "UTC";
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>The shared real-capture folder (../shared/realdata/pcaps from the repository), or null with the reason.</summary>
    public static string? RealPcaps(out string why)
    {
        var dir = AppContext.BaseDirectory;
        while (dir is not null)
        {
            var candidate = Path.Combine(dir, "..", "shared", "realdata", "pcaps");
            if (Directory.Exists(candidate)) { why = ""; return Path.GetFullPath(candidate); }
            dir = Path.GetDirectoryName(dir);
        }
        why = "SKIPPED: ../shared/realdata/pcaps not found above " + AppContext.BaseDirectory;
        return null;
    }

    public static IEnumerable<string> RealCaptureFiles(string root) =>
        Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".pcap", StringComparison.Ordinal) || f.EndsWith(".pcapng", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal);
}
