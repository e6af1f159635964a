using System.Collections.Immutable;
using System.Text;
using Harness.Hosts.Loading;
using Harness.Net;

namespace Harness.Hosts;

/// <summary>
/// Loads a <see cref="Host"/> from hand-written YAML (docs/host.md) or from a folder of iproute2/sysctl dumps taken
/// on a real machine. Every problem is a <see cref="HostFormatException"/> naming the file (and line:column where the
/// format has them).
/// </summary>
public static class HostLoader
{
    /// <summary>The dump files <see cref="LoadDirectory"/> reads, and the commands that make them.</summary>
    public static readonly IReadOnlyList<(string File, string Command)> DumpFiles =
    [
        ("ip-addr.json", "ip -j addr"),
        ("ip-route.json", "ip -j route show table all"),
        ("ip-rule.json", "ip -j rule"),
        ("sysctl.txt", "sysctl -a"),
        ("ip-maddr.json", "ip -j maddr"),
    ];

    /// <summary>Optional extra file: IPv6 policy rules ("ip -6 -j rule"); without it IPv6 has the default rules.</summary>
    public const string Ipv6RuleFile = "ip-rule6.json";

    /// <summary>A directory of dumps, or a YAML file.</summary>
    public static Host Load(string path)
    {
        if (Directory.Exists(path)) return LoadDirectory(path);
        return LoadYaml(path);
    }

    public static Host LoadYaml(string path) => ParseYaml(ReadText(path), path);

    /// <summary>Parses host YAML text; <paramref name="file"/> names it in errors.</summary>
    public static Host ParseYaml(string text, string file = "<host>") => HostYamlReader.Read(file, text);

    /// <summary>
    /// A folder holding ip-addr.json, ip-route.json, ip-rule.json (and optionally ip-rule6.json), sysctl.txt and
    /// ip-maddr.json; any missing file means the kernel's defaults (only lo; the kernel's own routes for the addresses;
    /// the default rules; default sysctls; only the multicast groups the kernel joins by itself). ip-maddr.json entries
    /// for interfaces ip-addr.json does not list (a bridge port left out of it) are skipped.
    /// </summary>
    public static Host LoadDirectory(string dir)
    {
        if (!Directory.Exists(dir)) throw new HostFormatException(dir, null, null, "no such host directory");
        var known = DumpFiles.Select(f => f.File).Append(Ipv6RuleFile).ToHashSet(StringComparer.Ordinal);
        if (!Directory.EnumerateFiles(dir).Any(f => known.Contains(Path.GetFileName(f))))
            throw new HostFormatException(dir, null, null,
                "host directory holds none of " + string.Join(", ", known.Order(StringComparer.Ordinal)) + " (see 'harness replay --help' for the commands that make them)");

        string? Optional(string name) => File.Exists(Path.Combine(dir, name)) ? ReadText(Path.Combine(dir, name)) : null;

        var addrPath = Path.Combine(dir, "ip-addr.json");
        var interfaces = Optional("ip-addr.json") is { } addrText ? IpJsonReader.ReadAddresses(addrPath, addrText) : [];
        if (!interfaces.Any(i => i.IsLoopback)) interfaces = interfaces.Insert(0, KernelDefaults.Loopback);
        if (Optional("ip-maddr.json") is { } maddrText)
        {
            var groups = IpJsonReader.ReadMulticast(Path.Combine(dir, "ip-maddr.json"), maddrText);
            interfaces = interfaces.Select(i => groups.TryGetValue(i.Name, out var g) ? i with { MulticastGroups = g } : i).ToImmutableArray();
        }

        var routePath = Path.Combine(dir, "ip-route.json");
        var routes = Optional("ip-route.json") is { } routeText
            ? IpJsonReader.ReadRoutes(routePath, routeText)
            : KernelDefaults.RoutesFor(interfaces).ToImmutableArray();
        foreach (var r in routes)
        {
            if (r.Device is { } d && !interfaces.Any(i => i.Name == d))
                throw new HostFormatException(routePath, null, null, $"route to {r.Destination} uses device '{d}', which ip-addr.json does not list");
        }

        var rules4 = Optional("ip-rule.json") is { } ruleText
            ? IpJsonReader.ReadRules(Path.Combine(dir, "ip-rule.json"), ruleText, Family.IPv4)
            : KernelDefaults.Rules(Family.IPv4);
        var rules6 = Optional(Ipv6RuleFile) is { } rule6Text
            ? IpJsonReader.ReadRules(Path.Combine(dir, Ipv6RuleFile), rule6Text, Family.IPv6)
            : KernelDefaults.Rules(Family.IPv6);
        var rules = rules4.Concat(rules6).OrderBy(r => r.Family).ThenBy(r => r.Priority).ToImmutableArray();

        var sysctls = Optional("sysctl.txt") is { } sysText ? SysctlReader.Read(Path.Combine(dir, "sysctl.txt"), sysText) : Sysctls.Defaults;
        return new Host(interfaces, routes, rules, sysctls);
    }

    private static string ReadText(string path)
    {
        if (!File.Exists(path)) throw new HostFormatException(path, null, null, Directory.Exists(path) ? "is a directory" : "no such file");
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (IOException e)
        {
            throw new HostFormatException(path, null, null, "cannot read: " + e.Message);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new HostFormatException(path, null, null, "cannot read: " + e.Message);
        }
        int nul = Array.IndexOf(bytes, (byte)0);
        if (nul >= 0) throw new HostFormatException(path, null, null, $"binary data (NUL byte at offset {nul}); expected text");
        try
        {
            return new UTF8Encoding(false, true).GetString(bytes).TrimStart('\uFEFF');
        }
        catch (DecoderFallbackException e)
        {
            throw new HostFormatException(path, null, null, $"not UTF-8 text (invalid byte at offset {e.Index})");
        }
    }
}
