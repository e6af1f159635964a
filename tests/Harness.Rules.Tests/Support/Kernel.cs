using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Harness.Rules.Tests.Support;

/// <summary>
/// Runs the real iptables in a throwaway network namespace ("hx-rules-PID-N"), deleted on dispose. Never touches
/// the host's own namespace.
/// </summary>
public sealed class KernelNamespace : IDisposable
{
    private static int _counter;

    public string Name { get; }

    private KernelNamespace(string name) => Name = name;

    /// <summary>True when this machine can run the kernel tests: root, ip, and the given iptables binaries.</summary>
    public static bool Available(out string why, params string[] binaries)
    {
        if (!OperatingSystem.IsLinux()) { why = "SKIPPED: not Linux"; return false; }
        if (Environment.GetEnvironmentVariable("HARNESS_NO_KERNEL") is { Length: > 0 })
        {
            why = "SKIPPED: HARNESS_NO_KERNEL is set";
            return false;
        }
        var id = Run("id", ["-u"], null);
        if (id.ExitCode != 0 || id.Stdout.Trim() != "0") { why = "SKIPPED: not root (network namespaces need root)"; return false; }
        foreach (var binary in binaries.Prepend("ip"))
        {
            if (!OnPath(binary)) { why = $"SKIPPED: '{binary}' not found on PATH"; return false; }
        }
        why = "";
        return true;
    }

    private static bool OnPath(string binary) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").Split(':')
            .Append("/usr/sbin").Append("/sbin")
            .Any(dir => File.Exists(Path.Combine(dir, binary)));

    public static KernelNamespace Create()
    {
        var name = string.Create(CultureInfo.InvariantCulture,
            $"hx-rules-{Environment.ProcessId}-{Interlocked.Increment(ref _counter)}");
        var result = Run("ip", ["netns", "add", name], null);
        if (result.ExitCode != 0) throw new InvalidOperationException($"ip netns add {name} failed: {result.Stderr}");
        return new KernelNamespace(name);
    }

    /// <summary>
    /// Runs a program inside the namespace; <paramref name="stdin"/> is written to its standard input. Legacy iptables
    /// commands get "-w": their lock is one file for every namespace, and tests run in parallel.
    /// </summary>
    public ProcessResult Exec(string program, IEnumerable<string> args, string? stdin = null) =>
        Run("ip", ["netns", "exec", Name, program, .. TakesLock(program) ? ["-w", "60"] : Array.Empty<string>(), .. args], stdin);

    private static bool TakesLock(string program) =>
        program is "iptables-legacy" or "ip6tables-legacy" or "iptables-legacy-restore" or "ip6tables-legacy-restore";

    public void Dispose() => Run("ip", ["netns", "del", Name], null);

    public static ProcessResult Run(string program, IEnumerable<string> args, string? stdin)
    {
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["LC_ALL"] = "C";
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null) process.StandardInput.Write(stdin);
        process.StandardInput.Close();
        process.WaitForExit();
        return new ProcessResult(process.ExitCode, stdout.Result, stderr.Result);
    }
}

public sealed record ProcessResult(int ExitCode, string Stdout, string Stderr);
