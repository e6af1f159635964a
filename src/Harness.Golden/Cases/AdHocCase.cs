using System.Collections.Immutable;

namespace Harness.Golden.Cases;

/// <summary>A case assembled from command-line options (replay, trace, compare) rather than a case.yaml.</summary>
public static class AdHocCase
{
    public static CaseManifest Create(
        IReadOnlyList<string> rules, IReadOnlyList<string> rules6, string host, string? pcap, string? flows,
        int seed = 0, string? defaultInterface = null, string? ipsets = null, bool trafficRequired = true)
    {
        if (rules.Count == 0 && rules6.Count == 0) throw Error("--rules", "give at least one ruleset with --rules (IPv4) or --rules6 (IPv6)");
        if (pcap is not null && flows is not null) throw Error("--pcap", "give either --pcap or --flows, not both");
        if (trafficRequired && pcap is null && flows is null) throw Error("--pcap", "give the traffic with --pcap FILE or --flows FILE");
        return new CaseManifest
        {
            Name = "replay",
            Directory = Path.GetFullPath("."),
            ManifestPath = "(command line)",
            Rules = rules.Select(r => Existing("--rules", r)).ToImmutableArray(),
            Rules6 = rules6.Select(r => Existing("--rules6", r)).ToImmutableArray(),
            Host = Existing("--host", host, directoryAllowed: true),
            Pcap = pcap is null ? null : Existing("--pcap", pcap),
            Flows = flows is null ? null : Existing("--flows", flows),
            Seed = seed,
            DefaultInterface = defaultInterface,
            IpSets = ipsets is null ? null : Existing("--ipsets", ipsets),
        };
    }

    private static string Existing(string option, string path, bool directoryAllowed = false)
    {
        if (File.Exists(path) || (directoryAllowed && System.IO.Directory.Exists(path))) return CaseLoader.Display(Path.GetFullPath(path));
        throw new CaseFormatException(path, null, null, $"{option} file not found");
    }

    private static CaseFormatException Error(string option, string detail) => new("harness", null, null, detail);
}
