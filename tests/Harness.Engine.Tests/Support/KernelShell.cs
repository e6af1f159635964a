using System.Diagnostics;

namespace Harness.Engine.Tests.Support;

/// <summary>
/// Runs the shell scripts of the kernel checks (as root, in throwaway namespaces the scripts create and delete), and
/// says why a check must be skipped where that is impossible.
/// </summary>
internal static class KernelShell
{
    /// <summary>True on Linux as root with every tool on PATH; otherwise false and why ("SKIPPED: …", for the test output).</summary>
    public static bool Available(out string why, params string[] tools)
    {
        why = "";
        if (!OperatingSystem.IsLinux()) { why = "SKIPPED: kernel checks need Linux"; return false; }
        if (Script("id -u").Trim() != "0") { why = "SKIPPED: kernel checks need root (network namespaces)"; return false; }
        foreach (var tool in tools)
            if (Script("command -v \"$1\"", tool).Trim().Length == 0) { why = $"SKIPPED: {tool} is not on PATH"; return false; }
        return true;
    }

    /// <summary>
    /// <c>sh -c SCRIPT sh ARGS…</c> (so the script sees ARGS as $1, $2, …): its standard output, then its standard
    /// error; "TIMEOUT" first when it ran longer than 90 s (then it is killed); "" when sh cannot be started.
    /// </summary>
    public static string Script(string script, params string[] args)
    {
        var psi = new ProcessStartInfo("sh") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add("sh");
        foreach (var a in args) psi.ArgumentList.Add(a);
        try
        {
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(90_000)) { p.Kill(entireProcessTree: true); return "TIMEOUT\n" + stdout.Result; }
            return stdout.Result + stderr.Result;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "";
        }
    }
}
