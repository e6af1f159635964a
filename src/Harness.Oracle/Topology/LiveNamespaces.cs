using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Harness.Oracle.Native;

namespace Harness.Oracle.Topology;

/// <summary>
/// Every namespace this process created and has not deleted yet, so that they are deleted on normal exit, on Ctrl-C
/// and on SIGTERM too; plus a sweep of namespaces left by oracle processes that no longer exist.
/// </summary>
public static partial class LiveNamespaces
{
    /// <summary>Every namespace the oracle creates starts with this.</summary>
    public const string Prefix = "hx-or-";

    private static readonly ConcurrentDictionary<string, byte> Names = new(StringComparer.Ordinal);
    private static int _hooked;
    private static System.Runtime.InteropServices.PosixSignalRegistration? _sigterm;

    internal static void Add(string name)
    {
        HookProcessExit();
        Names[name] = 0;
    }

    internal static void Delete(string name)
    {
        if (!Names.TryRemove(name, out _)) return;
        DeleteNamespace(name);
    }

    /// <summary>Deletes every namespace this process still has (idempotent).</summary>
    public static void DeleteAll()
    {
        foreach (var name in Names.Keys.ToList()) Delete(name);
    }

    /// <summary>Names of the oracle's namespaces that currently exist (this process's and any other's).</summary>
    public static IReadOnlyList<string> Existing()
    {
        if (!Directory.Exists("/var/run/netns")) return [];
        return Directory.GetFiles("/var/run/netns")
            .Select(Path.GetFileName)
            .OfType<string>()
            .Where(n => n.StartsWith(Prefix, StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>Deletes namespaces left behind by oracle processes that are gone (killed with SIGKILL, say).</summary>
    public static int SweepOrphans()
    {
        int deleted = 0;
        foreach (var name in Existing())
        {
            var m = OwnerPid().Match(name);
            if (!m.Success) continue;
            int pid = int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            if (pid == Environment.ProcessId || Directory.Exists($"/proc/{pid}")) continue;
            DeleteNamespace(name);
            deleted++;
        }
        return deleted;
    }

    private static void DeleteNamespace(string name)
    {
        try { Command.Run("ip", ["netns", "del", name], timeoutMs: 15_000); }
        catch (OracleException) { /* nothing more can be done at exit; the next run's sweep deletes it */ }
    }

    private static void HookProcessExit()
    {
        if (Interlocked.Exchange(ref _hooked, 1) == 1) return;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => DeleteAll();
        Console.CancelKeyPress += (_, _) => DeleteAll();
        _sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, _ => DeleteAll());
    }

    [GeneratedRegex(@"^hx-or-(\d+)-")]
    private static partial Regex OwnerPid();
}
