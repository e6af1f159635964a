using System.Collections.Immutable;
using Harness.Rules;
using Harness.Hosts.Loading;
using YamlDotNet.RepresentationModel;

namespace Harness.Golden.Cases;

/// <summary>Finds case folders and reads their <c>case.yaml</c> (format in README, "Cases and goldens").</summary>
public static class CaseLoader
{
    public const string ManifestFileName = "case.yaml";

    /// <summary>
    /// The case folders under each root: a root holding case.yaml is itself a case; otherwise every direct subfolder
    /// holding one is. Sorted by name (ordinal) so runs are stable. A root that does not exist is a <see cref="CaseFormatException"/>.
    /// </summary>
    public static ImmutableArray<string> Discover(IEnumerable<string> roots)
    {
        var found = new List<string>();
        foreach (var root in roots)
        {
            if (!System.IO.Directory.Exists(root)) throw new CaseFormatException(root, null, null, "no such case directory");
            if (File.Exists(Path.Combine(root, ManifestFileName)))
            {
                found.Add(Path.GetFullPath(root));
                continue;
            }
            found.AddRange(System.IO.Directory.EnumerateDirectories(root)
                .Where(d => File.Exists(Path.Combine(d, ManifestFileName)))
                .Select(Path.GetFullPath));
        }
        return found.Distinct(StringComparer.Ordinal)
            .OrderBy(d => Path.GetFileName(d), StringComparer.Ordinal)
            .ThenBy(d => d, StringComparer.Ordinal)
            .ToImmutableArray();
    }

    /// <summary>
    /// A path as messages show it: relative to the current directory when it lies below it (so reports do not
    /// depend on where the repository was cloned), else absolute.
    /// </summary>
    public static string Display(string fullPath)
    {
        var relative = Path.GetRelativePath(Environment.CurrentDirectory, fullPath);
        return relative.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(relative) ? fullPath : relative;
    }

    /// <summary>Reads <c>DIR/case.yaml</c>; every named file must exist.</summary>
    public static CaseManifest Load(string caseDirectory)
    {
        var dir = Path.GetFullPath(caseDirectory);
        var manifestPath = Path.Combine(dir, ManifestFileName);
        if (!File.Exists(manifestPath)) throw new CaseFormatException(Display(manifestPath), null, null, "no such case manifest");
        return Parse(File.ReadAllText(manifestPath), manifestPath);
    }

    /// <summary>Parses manifest text; relative paths resolve against the folder of <paramref name="manifestPath"/>.</summary>
    public static CaseManifest Parse(string text, string manifestPath)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(manifestPath))!;
        var tree = YamlTree.Parse(manifestPath, text, (f, l, c, d) => new CaseFormatException(f, l, c, d));
        if (tree.Root is null) throw new CaseFormatException(manifestPath, null, null, "empty case manifest (expected rules:, host: and pcap: or flows:)");
        var root = tree.Mapping(tree.Root, "the case");
        var k = tree.Keys(root, "the case", "description", "rules", "rules6", "host", "pcap", "flows", "seed", "options");

        string PathOf(YamlNode node, string what, bool directoryAllowed = false)
        {
            var rel = tree.Scalar(node, what);
            if (rel.Length == 0) throw tree.Error(node, $"empty path for {what}");
            var full = Path.GetFullPath(Path.Combine(dir, rel));
            if (File.Exists(full) || (directoryAllowed && System.IO.Directory.Exists(full))) return Display(full);
            throw tree.Error(node, $"{what} file '{rel}' not found");
        }

        ImmutableArray<string> PathList(string key) => k.TryGetValue(key, out var node)
            ? tree.ScalarList(node, key).Select(p => PathOf(p.Node, key)).ToImmutableArray()
            : [];

        var rules = PathList("rules");
        var rules6 = PathList("rules6");
        if (rules.IsEmpty && rules6.IsEmpty) throw tree.Error(root, "a case needs 'rules' (IPv4) or 'rules6' (IPv6)");
        var host = PathOf(tree.Required(k, root, "host", "a case"), "host", directoryAllowed: true);
        string? pcap = k.TryGetValue("pcap", out var pcapNode) ? PathOf(pcapNode, "pcap") : null;
        string? flows = k.TryGetValue("flows", out var flowsNode) ? PathOf(flowsNode, "flows") : null;
        if (pcap is null == flows is null)
            throw tree.Error(root, "a case needs exactly one of 'pcap' (a capture) and 'flows' (a flow description)");
        int seed = k.TryGetValue("seed", out var seedNode) ? (int)tree.Integer(seedNode, "seed", int.MinValue, int.MaxValue) : 0;

        string? defaultInterface = null, ipsets = null;
        IptablesBackend? backend = null;
        if (k.TryGetValue("options", out var optNode))
        {
            var options = tree.Mapping(optNode, "options");
            var o = tree.Keys(options, "options", "in", "ipsets", "iptables");
            if (o.TryGetValue("in", out var inNode)) defaultInterface = tree.Scalar(inNode, "in");
            if (o.TryGetValue("ipsets", out var setNode)) ipsets = PathOf(setNode, "ipsets");
            if (o.TryGetValue("iptables", out var backendNode))
            {
                backend = tree.Scalar(backendNode, "iptables") switch
                {
                    "nft" => IptablesBackend.Nft,
                    "legacy" => IptablesBackend.Legacy,
                    var other => throw tree.Error(backendNode, $"iptables: '{other}' is neither 'nft' nor 'legacy'"),
                };
            }
        }

        return new CaseManifest
        {
            Name = Path.GetFileName(dir),
            Directory = dir,
            ManifestPath = Display(Path.GetFullPath(manifestPath)),
            Description = k.TryGetValue("description", out var d) ? tree.Scalar(d, "description") : null,
            Rules = rules,
            Rules6 = rules6,
            Host = host,
            Pcap = pcap,
            Flows = flows,
            Seed = seed,
            DefaultInterface = defaultInterface,
            IpSets = ipsets,
            Backend = backend,
        };
    }
}
