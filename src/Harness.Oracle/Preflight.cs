using Harness.Oracle.Native;

namespace Harness.Oracle;

/// <summary>Whether this machine can run the kernel oracle: root, and the tools it drives.</summary>
public static class Preflight
{
    /// <summary>The programs the oracle runs (iproute2, iptables-nft, nftables, conntrack-tools, sysctl).</summary>
    public static readonly IReadOnlyList<string> RequiredTools =
        ["ip", "iptables-restore", "ip6tables-restore", "iptables-save", "nft", "conntrack", "sysctl", "ethtool"];

    /// <summary>Null when the oracle can run; otherwise one line saying why not.</summary>
    public static string? WhyNotAvailable() =>
        OperatingSystem.IsLinux() ? WhyNotAvailable(GetEuid(), Command.OnPath) : "the kernel oracle needs Linux (network namespaces)";

    /// <summary>The check itself, with the effective user id and the PATH lookup given (for tests).</summary>
    internal static string? WhyNotAvailable(uint euid, Func<string, bool> onPath)
    {
        if (euid != 0) return "the kernel oracle needs root (it creates network namespaces)";
        var missing = RequiredTools.Where(t => !onPath(t)).ToList();
        if (missing.Count > 0)
            return $"the kernel oracle needs {string.Join(", ", missing)} on PATH (apt-get install iproute2 iptables nftables conntrack procps ethtool)";
        if (!Directory.Exists("/proc/self/ns")) return "the kernel oracle needs network namespace support (/proc/self/ns missing)";
        return null;
    }

    /// <summary>True when the oracle can run; <paramref name="why"/> says why not otherwise.</summary>
    public static bool KernelAvailable(out string why)
    {
        why = WhyNotAvailable() ?? "";
        return why.Length == 0;
    }

    /// <summary>Throws <see cref="OracleException"/> with the one-line reason when the oracle cannot run.</summary>
    public static void Require()
    {
        var why = WhyNotAvailable();
        if (why is not null) throw new OracleException(why);
    }

    private static uint GetEuid() => geteuid();

    [System.Runtime.InteropServices.DllImport("libc")]
    private static extern uint geteuid();
}
