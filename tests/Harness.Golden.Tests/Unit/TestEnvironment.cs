using System.Diagnostics;

namespace Harness.Golden.Tests;

/// <summary>Temporary folders and the checks that decide whether kernel-backed tests can run here.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "hx-golden-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string relative, string text)
    {
        var full = System.IO.Path.Combine(Path, relative);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        System.IO.File.WriteAllText(full, text);
        return full;
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

public static class Kernel
{
    /// <summary>True when this process is root and the given programs are on PATH; otherwise why not.</summary>
    public static bool Available(out string why, params string[] programs)
    {
        if (!OperatingSystem.IsLinux()) { why = "SKIPPED: not Linux"; return false; }
        var (code, uid, _) = Run("id", "-u");
        if (code != 0 || uid.Trim() != "0") { why = "SKIPPED: needs root (id -u is " + uid.Trim() + ")"; return false; }
        foreach (var p in programs)
        {
            if (!OnPath(p)) { why = $"SKIPPED: '{p}' is not on PATH"; return false; }
        }
        why = "";
        return true;
    }

    public static bool OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Any(d => System.IO.File.Exists(System.IO.Path.Combine(d, program)));

    public static (int Code, string Stdout, string Stderr) Run(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        try
        {
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            p.WaitForExit();
            return (p.ExitCode, stdout.Result, stderr.Result);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (127, "", e.Message);
        }
    }

    /// <summary>Runs a command inside a namespace and fails the test when it fails.</summary>
    public static string InNamespace(string ns, params string[] command)
    {
        var (code, stdout, stderr) = Run("ip", ["netns", "exec", ns, .. command]);
        if (code != 0) throw new InvalidOperationException($"'{string.Join(" ", command)}' in {ns} failed ({code}): {stderr}");
        return stdout;
    }
}
