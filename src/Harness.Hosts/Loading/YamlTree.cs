using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Harness.Hosts.Loading;

/// <summary>
/// Reads a small hand-written YAML document into YamlDotNet's node tree and offers typed, position-aware accessors:
/// every error names the file, line and column of the offending node. Unknown keys are errors.
/// </summary>
public sealed class YamlTree
{
    private readonly Func<string, int?, int?, string, Exception> _error;

    private YamlTree(string file, YamlNode? root, Func<string, int?, int?, string, Exception> error)
    {
        File = file;
        Root = root;
        _error = error;
    }

    public string File { get; }

    /// <summary>The document's root node, null for an empty document.</summary>
    public YamlNode? Root { get; }

    /// <summary>Parses <paramref name="text"/>; syntax errors become <paramref name="error"/>(file, line, column, detail).</summary>
    public static YamlTree Parse(string file, string text, Func<string, int?, int?, string, Exception> error)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            throw error(file, (int)e.Start.Line, (int)e.Start.Column, "invalid YAML: " + FirstLine(e.Message));
        }
        if (stream.Documents.Count > 1)
        {
            var second = stream.Documents[1].RootNode;
            throw error(file, (int)second.Start.Line, (int)second.Start.Column, "expected one YAML document, found several");
        }
        return new YamlTree(file, stream.Documents.Count == 0 ? null : stream.Documents[0].RootNode, error);
    }

    public Exception Error(YamlNode? node, string detail) =>
        node is null ? _error(File, null, null, detail) : _error(File, (int)node.Start.Line, (int)node.Start.Column, detail);

    public YamlMappingNode Mapping(YamlNode? node, string what) =>
        node as YamlMappingNode ?? throw Error(node, $"expected a mapping (key: value lines) for {what}");

    public YamlSequenceNode Sequence(YamlNode node, string what) =>
        node as YamlSequenceNode ?? throw Error(node, $"expected a list for {what}");

    public string Scalar(YamlNode node, string what) =>
        node is YamlScalarNode { Value: { } v } ? v : throw Error(node, $"expected a single value for {what}");

    /// <summary>A list of scalars; a single scalar counts as a list of one.</summary>
    public IReadOnlyList<(string Value, YamlNode Node)> ScalarList(YamlNode node, string what) => node switch
    {
        YamlScalarNode s => string.IsNullOrEmpty(s.Value) ? [] : [(s.Value!, (YamlNode)s)],
        YamlSequenceNode seq => seq.Children.Select(c => (Scalar(c, what), c)).ToList(),
        _ => throw Error(node, $"expected a value or a list of values for {what}"),
    };

    public long Integer(YamlNode node, string what, long min = long.MinValue, long max = long.MaxValue)
    {
        var text = Scalar(node, what);
        long value;
        bool ok = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? long.TryParse(text.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value)
            : long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);
        if (!ok) throw Error(node, $"expected an integer for {what}, found '{text}'");
        if (value < min || value > max)
            throw Error(node, string.Create(CultureInfo.InvariantCulture, $"{what} must be between {min} and {max}, found {value}"));
        return value;
    }

    public bool Boolean(YamlNode node, string what)
    {
        var text = Scalar(node, what);
        return text switch
        {
            "true" or "yes" or "on" => true,
            "false" or "no" or "off" => false,
            _ => throw Error(node, $"expected true or false for {what}, found '{text}'"),
        };
    }

    /// <summary>The entries of a mapping by key, refusing keys outside <paramref name="allowed"/> and duplicates.</summary>
    public IReadOnlyDictionary<string, YamlNode> Keys(YamlMappingNode map, string what, params string[] allowed)
    {
        var result = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
        foreach (var (keyNode, value) in map.Children)
        {
            var key = Scalar(keyNode, "a key");
            if (!allowed.Contains(key, StringComparer.Ordinal))
                throw Error(keyNode, $"unknown key '{key}' in {what} (expected one of: {string.Join(", ", allowed)})");
            if (!result.TryAdd(key, value)) throw Error(keyNode, $"duplicate key '{key}' in {what}");
        }
        return result;
    }

    public YamlNode Required(IReadOnlyDictionary<string, YamlNode> keys, YamlNode owner, string key, string what) =>
        keys.TryGetValue(key, out var node) ? node : throw Error(owner, $"{what} needs '{key}'");

    private static string FirstLine(string message)
    {
        var text = message;
        int close = text.IndexOf("): ", StringComparison.Ordinal);
        if (text.StartsWith("(Line:", StringComparison.Ordinal) && close > 0) text = text[(close + 3)..];
        int nl = text.IndexOf('\n');
        return nl < 0 ? text : text[..nl];
    }
}
